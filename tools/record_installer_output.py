"""Record pip's and uv's own output for the cases the classifier and `plan` are tested on.

    python tools/record_installer_output.py [CASE ...]      (default: every case)

Each case (tests/installer_output.py) runs the real pip or uv offline, against fixture indexes served
on loopback, and its output is written to tests/data/logs/<case>.txt. Review the diff before
committing: tests read these files and never write them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from installer_output import CASES  # noqa: E402  (tests/ holds the cases)

LOGS = ROOT / "tests" / "data" / "logs"


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; the cases are: {', '.join(CASES)}", file=sys.stderr)
        return 2
    for name in argv or list(CASES):
        with tempfile.TemporaryDirectory(prefix="ewh-record-") as tmp:
            output = CASES[name](Path(tmp))
        (LOGS / f"{name}.txt").write_text(output, encoding="utf-8")
        print(f"wrote {LOGS.relative_to(ROOT) / (name + '.txt')} ({len(output.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
