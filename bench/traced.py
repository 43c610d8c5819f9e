"""`python bench/traced.py OUT.json harness-args…`: the harness CLI, run in this process as
`python -m harness` runs it, with a wall-clock total kept for each step of a run; the totals are
written to OUT.json for bench/timeprofile.py.

Each step is a function of the harness wrapped here (nothing in the harness changes): the time spent
inside it, summed over its calls (steps that run on the cells' threads are summed over the cells).
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time

BEGAN = time.perf_counter()  # the interpreter has started; the harness is not imported yet

import harness.cli.args as cli_args  # noqa: E402
import harness.cli.main as cli_main  # noqa: E402
import harness.cli.run as cli_run  # noqa: E402
import harness.results.store as store  # noqa: E402
import harness.run.ledger as run_ledger  # noqa: E402
import harness.run.runner as runner  # noqa: E402

IMPORTED = time.perf_counter()
TOTALS: dict[str, float] = {}
CALLS: dict[str, int] = {}
LOCK = threading.Lock()


def timed(step: str, owner: object, name: str) -> None:
    """Wrap `owner.name` so that its wall time adds to `step`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with LOCK:
                TOTALS[step] = TOTALS.get(step, 0.0) + time.perf_counter() - began
                CALLS[step] = CALLS.get(step, 0) + 1

    setattr(owner, name, wrapper)


STEPS = (  # (step, module or class, function): where each part of a run happens
    ("engine and host facts", cli_run, "run_options"),
    ("reading the matrix", cli_run, "load_all"),
    ("prefetch (wheelhouse)", cli_run, "prefetch"),
    ("the whole of run_cells", runner, "run_cells"),
    ("cell: image check", runner.ImageGate, "prepare"),
    ("cell: key and reuse", runner, "key_or_reuse"),
    ("cell: plan (prediction)", runner, "predict_meanwhile"),
    ("cell: judging the log", runner, "judge"),
    ("cell: the record built", runner.record, "result"),
    ("cell: whole (run_cell)", runner, "run_cell"),
    ("results written", store, "write_result"),
    ("index ledger (beside the cells)", run_ledger.RunLedger, "attach"),
    ("tables and README regenerated", cli_run.publish, "matrix_tables"),
    ("findings, summary, JUnit, outputs", cli_run.console, "findings"),
    ("findings, summary, JUnit, outputs", cli_run.publish, "job_summary"),
    ("findings, summary, JUnit, outputs", cli_run.publish, "write_junit"),
    ("findings, summary, JUnit, outputs", cli_run.publish, "step_outputs"),
)


def main(argv: list[str]) -> int:
    out, rest = argv[0], argv[1:]
    for step, owner, name in STEPS:
        timed(step, owner, name)
    chosen = cli_args.chosen_backend

    def backend_timed(args):
        backend = chosen(args)
        for step, name in (("cell: container (create to removal)", "execute"), ("engine tidy", "tidy"),
                           ("engine and host facts", "host_facts"), ("engine and host facts", "facts")):
            timed(step, backend, name)
        return backend

    cli_run.chosen_backend = backend_timed
    timed("engine and host facts", cli_run, "chosen_backend")
    code = 1
    try:
        code = cli_main.main(rest)
    finally:
        ended = time.perf_counter()
        with open(out, "w") as fh:
            json.dump({"imports": IMPORTED - BEGAN, "wall": ended - BEGAN, "totals": TOTALS, "calls": CALLS},
                      fh, indent=2)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
