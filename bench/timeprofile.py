"""Where a harness run's time goes: the benchmark's three uv cells (import-only, as the loops), run cold,
warm and unchanged, sequentially; writes bench/PROFILE.md.

    python bench/timeprofile.py [--out bench/PROFILE.md]        (after `nox -s bench` built the image)

Per run: the wall time against what the cells' own phases took inside their containers (their records'
timings); the rest is the harness's (start-up, reading the matrix, `plan`, image checks, prefetch,
judging, records, tables), and an unchanged re-run is nothing but that fixed cost. Per cell: container
start, venv, uv's bootstrap, install, the probe and its imports, and what lies outside those phases
(the driver's own start, reading what was installed, sharing bytecode, removing the venv).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import run as bench  # noqa: E402  (bench/run.py: the matrix and the helpers the benchmark uses)

PHASES = ("container_start", "venv", "uv-bootstrap", "install", "probe")


def timed_run(matrix: Path, results: Path, *extra: str, cold: bool = False) -> float:
    if cold:
        subprocess.run(bench.harness("clean", "--caches"), capture_output=True, cwd=ROOT, check=True)
    argv = bench.harness("run", str(matrix), "--results", str(results), "--progress", "lines", "--only", "*__uv",
                         *extra)
    seconds, done = bench.timed(argv)
    if done.returncode not in (0, 1):
        raise SystemExit(f"the run failed (exit {done.returncode}): {done.stderr[-600:]}")
    return seconds


def cell_rows(results: Path) -> tuple[list[str], float]:
    rows, in_cells = [], 0.0
    for cell_id, record in bench.records(results, "uv", "bench-imports").items():
        t = record.get("timings") or {}
        imports = sum((t.get("imports") or {}).values())
        inside = sum(float(t.get(p) or 0) for p in PHASES)
        total = float(t.get("total") or 0)
        in_cells += total
        rows.append(f"| {cell_id.split('__')[2]} | " + " | ".join(f"{float(t.get(p) or 0):.2f}" for p in PHASES)
                    + f" | {imports:.2f} | {total:.2f} | {total - inside:.2f} |")
    return rows, in_cells


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "PROFILE.md")
    parser.add_argument("--results", type=Path, default=ROOT / ".cache" / "bench-profile")
    args = parser.parse_args(argv)
    matrix = bench.imports_only_matrix(args.results / "matrices")
    start_up, _ = bench.timed(bench.harness("--version"))
    lines = ["# Where the time goes", "",
             f"Made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/timeprofile.py` on: "
             f"{bench.machine()}. The benchmark's three uv cells, import-only, run one after the other.", "",
             f"The harness's start-up alone (`wheel-harness --version`): {start_up:.2f} s.", ""]
    for label, extra, cold in (("cold (shared caches emptied first)", ("--force",), True),
                               ("warm (--force)", ("--force",), False),
                               ("unchanged (every result reused)", (), False)):
        wall = timed_run(matrix, args.results, *extra, cold=cold)
        rows, in_cells = cell_rows(args.results)
        if not extra:
            lines += [f"## {label}: {wall:.2f} s", "", "No cell ran: this is the fixed cost of a run (start-up, "
                      "reading the matrix, the image check, the cache keys, writing the table).", ""]
            continue
        lines += [f"## {label}: {wall:.1f} s", "",
                  f"The cells' own totals (container start to the end of the cell, from their records): "
                  f"{in_cells:.1f} s; the harness around them: {wall - in_cells:.1f} s.", "",
                  "| cell | " + " | ".join(PHASES) + " | imports | total | outside the phases |",
                  "|---" * (len(PHASES) + 5) + "|", *rows, ""]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
