"""Record the smoke matrix's results from a real run, for the tests of the plan table and its findings.

    python tools/record_plan_results.py [RESULTS_DIR] [OUT_DIR]     (defaults: results/smoke/, tests/data/plan/)

Run `wheel-harness run matrices/smoke.toml` first (on a machine that runs the build recipes: the record
of each one measures its builds). Copies every record of RESULTS_DIR, the latest and the history's, read
with the store's own reader, into OUT_DIR in the store's layout, trimmed to what a result says about the
cell: the host facts, the installer's report (download URLs), the prediction, the cache key and the
log's name are left out. tests/test_findings.py reads them and never writes them: review
`git diff tests/data/plan/` before committing a refresh.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.files import write_json_atomic  # noqa: E402
from harness.results import store  # noqa: E402

LEFT_OUT = {"host": {}, "install": None, "prediction": None, "cache": None, "log": None}


def main(results: Path, out: Path) -> None:
    latest = {r["cell_id"]: r for r in store.load_results(results)}
    if not latest:
        raise SystemExit(f"no results in {results}: run the smoke matrix first")
    if out.exists():
        shutil.rmtree(out)
    for record in store.load_history(results):
        write_json_atomic(out / store.HISTORY / record["run_id"] / f"{record['cell_id']}.json", trimmed(record))
    for cell_id, record in latest.items():
        write_json_atomic(out / f"{cell_id}.json", trimmed(record))
    print(f"{len(latest)} results (and their history) written to {out}: review the diff before committing")


def trimmed(record: dict) -> dict:
    return {**record, **LEFT_OUT}


if __name__ == "__main__":
    defaults = [ROOT / "results" / "smoke", ROOT / "tests" / "data" / "plan"]
    given = [Path(a) for a in sys.argv[1:3]]
    main(*(given + defaults[len(given):]))
