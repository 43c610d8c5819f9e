"""Record the real cells of tests/real_cells.py, for the classifier's tests to read.

    python tools/record_real_cells.py [PACKAGE_SET ...]     (default: every set that runs)

Needs a Docker engine with the local bookworm amd64 image (`wheel-harness images build`) and pip's
default index (through the host's proxy and CA bundle, as any cell). Each cell's log is written to
tests/data/logs/real-<package set>.log with the registry's host names replaced and pip's progress bars
left out (real_cells.scrubbed); its verdict and hint are printed. Review the diff before committing:
tests read these files and never write them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import real_cells  # noqa: E402  (tests/ holds the cases)

from harness.backends.choose import choose_backend  # noqa: E402
from harness.matrix import reader  # noqa: E402
from harness.plan.releases import default_index_url  # noqa: E402
from harness.run import runner  # noqa: E402

LOGS = ROOT / "tests" / "data" / "logs"


def main(argv: list[str]) -> int:
    runs = [name for name in real_cells.SETS if name not in real_cells.NOT_RUN]
    unknown = [name for name in argv if name not in runs]
    if unknown:
        print(f"unknown package set(s): {', '.join(unknown)}; the sets are: {', '.join(runs)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ewh-record-") as tmp:
        work = Path(tmp)
        m = reader.load(real_cells.write_matrix(work / "real.toml"))
        cells = [c for c in m.cells if c.packages.name in (argv or runs)]
        options = runner.RunOptions(run_id=runner.new_run_id(), reuse=False, shared_caches=False, jobs=2)
        results = runner.run_cells(m, cells, choose_backend("docker"), options, results_dir=work / "results")
        index = default_index_url()
        for result in results:
            name = result.cell["packages"]["name"]
            log = real_cells.scrubbed((work / "results" / str(result.log)).read_text(), index)
            left = real_cells.hosts_in([log])
            if left:
                print(f"{name}: not written, hosts left in the log: {', '.join(sorted(left))}", file=sys.stderr)
                continue
            target = LOGS / f"real-{name}.log"
            target.write_text(log, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)} ({len(log.splitlines())} lines): {result.verdict.value}\n"
                  f"  hint: {result.hint}\n  cause: {result.cause}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
