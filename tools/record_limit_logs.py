"""Record the logs of cells that hit their limits, from real runs, for a person to review.

    python tools/record_limit_logs.py [OUT_DIR]      (default: tests/data/logs/; needs a Docker engine)

Runs, on the local bookworm amd64 image: a local sdist whose setup.py forks without end, in a cell
allowed 64 processes (process-limit.install.log), and one whose setup.py fills 1 GiB, in a cell
allowed 256 MiB (oom.install.log). tests/test_verdicts.py judges them and never writes them: review
`git diff tests/data/logs/` before committing a refresh.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_containment import FORK_BOMB, sdist_matrix  # noqa: E402  (tests/ holds the fixtures)

from harness.backends.choose import choose_backend  # noqa: E402
from harness.matrix import reader  # noqa: E402
from harness.run import runner  # noqa: E402
from harness.run.options import RunOptions, new_run_id  # noqa: E402

HOG = "DATA = [bytearray(64 << 20) for _ in range(16)]\n"  # 1 GiB, in the build
CELLS = {  # log name → (package, what its setup.py runs first, the include's limit)
    "process-limit.install.log": ("forker", FORK_BOMB, "processes = 64"),
    "oom.install.log": ("hog", HOG, 'memory = "256M"'),
}


def main(out: Path) -> int:
    backend = choose_backend("docker")
    for log_name, (package, setup_extra, limit) in CELLS.items():
        with tempfile.TemporaryDirectory(prefix="ewh-record-") as tmp:
            include = f'[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "local"\npackages = "p"\n{limit}\n'
            m = reader.load(sdist_matrix(Path(tmp), package, setup_extra, include=include))
            results = Path(tmp) / "results"
            [result] = runner.run_cells(m, list(m.cells), backend, RunOptions(run_id=new_run_id(), shared_caches=False),
                                        results_dir=results, log=lambda _: None)
            (out / log_name).write_text((results / result.log).read_text())
            print(f"{log_name}: {result.verdict.value}: {result.evidence[0] if result.evidence else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "logs"))
