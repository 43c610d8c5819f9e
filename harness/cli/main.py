"""The command line: `wheel-harness run|plan|bisect|solve|validate|table|report|diff|merge|lock|images|doctor|
clean|init|schema` (also `python -m harness`).

Library code raises HarnessError; only here do errors become an `ERROR …` line, a hint and an exit
code: 0 all cells passed (or could not run on this host at all), 1 a cell failed, 2 bad input (matrix,
arguments), 3 the engine, an image build, an index or the results disk failed us, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). `bisect` and `solve` exit 0 with an answer and 1 when there is none
in the range or the budget.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading

from harness.cli.parser import COMMANDS, parse
from harness.errors import HarnessError, Terminated, interrupt_exit_code


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    module, function = COMMANDS[args.command]
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return getattr(importlib.import_module(module), function)(args)
    except HarnessError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # the interrupt family (harness.errors), or a bare Ctrl-C
        code = interrupt_exit_code(exc)
        print(f"{'Terminated' if code == 143 else 'Interrupted'}: the running cells' containers were removed; "
              "finished cells are in the results.", file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
