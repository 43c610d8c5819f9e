"""Where a harness run's time goes: the benchmark's three uv cells (import-only, as the loops), run cold,
warm and unchanged, sequentially; writes bench/PROFILE.md.

    python bench/timeprofile.py [--out bench/PROFILE.md]        (after `nox -s bench` built the image)

Each run goes through bench/traced.py: the harness CLI as `python -m harness` runs it, with the wall time
of each step of a run summed (start-up, engine and host facts, reading the matrix, the wheelhouse
prefetch, image checks, cache keys, the cells' containers, judging, records, results written, the index
ledger, tables and README, findings). Per cell, from its record: container start, venv, uv's bootstrap,
install, the probe and its imports, and what lies outside those phases (the driver's own start, reading
what was installed, sharing bytecode, removing the venv); and what the engine adds around the driver
(creating and removing the container, reading its log).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import run as bench  # noqa: E402  (bench/run.py: the matrix and the helpers the benchmark uses)

PHASES = ("container_start", "venv", "uv-bootstrap", "install", "probe")
RUN_STEPS = (  # (label, traced step): the parts of a run on its main thread, in order
    ("engine and host facts (the engine asked, the host read)", "engine and host facts"),
    ("reading the matrix", "reading the matrix"),
    ("wheelhouse prefetch (checked, nothing to fetch)", "prefetch (wheelhouse)"),
    ("engine tidy (leftovers of earlier runs)", "engine tidy"),
    ("tables and README regenerated", "tables and README regenerated"),
    ("findings, job summary, JUnit, step outputs", "findings, summary, JUnit, outputs"),
)
CELL_STEPS = (  # (label, traced step): summed over the cells
    ("image check (made ready once a run)", "cell: image check"),
    ("cache key (and reuse)", "cell: key and reuse"),
    ("plan (prediction; pinned cells need none)", "cell: plan (prediction)"),
    ("container: created, run, log read, removed", "cell: container (create to removal)"),
    ("judging the log", "cell: judging the log"),
    ("the record built", "cell: the record built"),
    ("results written", "results written"),
)


def timed_run(matrix: Path, results: Path, traced: Path, *extra: str, cold: bool = False) -> tuple[float, dict]:
    if cold:
        subprocess.run(bench.harness("clean", "--caches"), capture_output=True, cwd=ROOT, check=True)
    argv = [sys.executable, str(ROOT / "bench" / "traced.py"), str(traced), "run", str(matrix), "--results",
            str(results), "--progress", "lines", "--only", "*__uv", *extra]
    seconds, done = bench.timed(argv)
    if done.returncode not in (0, 1):
        raise SystemExit(f"the run failed (exit {done.returncode}): {done.stderr[-600:]}")
    return seconds, json.loads(traced.read_text())


def cell_rows(results: Path) -> tuple[list[str], float]:
    """The per-cell table's rows, and the phases' seconds summed over the cells."""
    rows, phases = [], 0.0
    for cell_id, record in bench.records(results, "uv", "bench-imports").items():
        t = record.get("timings") or {}
        imports = sum((t.get("imports") or {}).values())
        inside = sum(float(t.get(p) or 0) for p in PHASES)
        total = float(t.get("total") or 0)
        phases += inside
        rows.append(f"| {cell_id.split('__')[2]} | " + " | ".join(f"{float(t.get(p) or 0):.2f}" for p in PHASES)
                    + f" | {imports:.2f} | {float(t.get('probe') or 0) - imports:.2f} | {total - inside:.2f} "
                      f"| {total:.2f} |")
    return rows, phases


def run_table(wall: float, start_up: float, trace: dict, phases: float) -> list[str]:
    """The run's steps: those on its main thread, then the cells' (summed), then what is in none."""
    totals = trace.get("totals") or {}
    calls = trace.get("calls") or {}
    cells = totals.get("the whole of run_cells", 0.0)
    container = totals.get("cell: container (create to removal)", 0.0)
    lines = ["| step | seconds | calls |", "|---|---|---|",
             f"| Python start-up (interpreter; `python -c pass`) | {start_up:.2f} | 1 |",
             f"| the harness's modules imported | {trace.get('imports', 0.0):.2f} | 1 |"]
    lines += [f"| {label} | {totals.get(step, 0.0):.2f} | {calls.get(step, 0)} |" for label, step in RUN_STEPS]
    lines += [f"| **cells** (run_cells: from the first cell's start to the last one's record) | {cells:.2f} | 1 |"]
    lines += [f"| · {label} | {totals.get(step, 0.0):.2f} | {calls.get(step, 0)} |" for label, step in CELL_STEPS]
    if container:
        lines += [f"| · · of which the cells' phases (container start, venv, install, probe: the records) "
                  f"| {phases:.2f} | |",
                  f"| · · of which the rest (container created and removed, the driver's start, bytecode shared, "
                  f"venv removed, log read) | {container - phases:.2f} | |"]
    ledger = totals.get("index ledger (beside the cells)", 0.0)
    lines += [f"| · index ledger, beside the cells (off their path; the run waits for it at its end) | {ledger:.2f} "
              f"| {calls.get('index ledger (beside the cells)', 0)} |"]
    named = start_up + trace.get("imports", 0.0) + cells + sum(totals.get(step, 0.0) for _, step in RUN_STEPS)
    lines += [f"| in none of the steps above (argument parsing, the run's own lines, exit) | {wall - named:.2f} | |",
              f"| **the whole command** | **{wall:.2f}** | |"]
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "PROFILE.md")
    parser.add_argument("--results", type=Path, default=ROOT / ".cache" / "bench-profile")
    args = parser.parse_args(argv)
    matrix = bench.imports_only_matrix(args.results / "matrices")
    traced = args.results / "traced.json"
    start_up, _ = bench.timed([sys.executable, "-c", "pass"])
    version, _ = bench.timed(bench.harness("--version"))
    lines = ["# Where the time goes", "",
             f"Made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/timeprofile.py` on: "
             f"{bench.machine()}. The benchmark's three uv cells, import-only, run one after the other; each run "
             "through bench/traced.py (the harness CLI with each step's wall time summed).", "",
             f"Python's own start-up: {start_up:.2f} s; the harness's (`wheel-harness --version`): {version:.2f} s.",
             ""]
    for label, extra, cold in (("cold (shared caches emptied first)", ("--force",), True),
                               ("warm (--force)", ("--force",), False),
                               ("unchanged (every result reused)", (), False)):
        wall, trace = timed_run(matrix, args.results, traced, *extra, cold=cold)
        rows, phases = cell_rows(args.results)
        lines += [f"## {label}: {wall:.2f} s", ""]
        lines += run_table(wall, start_up, trace, phases) + [""]
        if not extra:
            lines += ["No cell ran: this is the fixed cost of a run (start-up, reading the matrix, the image "
                      "check, the cache keys, writing the table).", ""]
            continue
        lines += ["Per cell, from its record (seconds; its total runs from the image check to the record):", "",
                  "| cell | " + " | ".join(PHASES) + " | imports | probe beyond imports | outside the phases "
                  "| total |", "|---" * (len(PHASES) + 5) + "|", *rows, ""]
    lines += ["\"probe beyond imports\": the probe interpreter's start, reading the installed distributions, "
              "torch's facts, and — where an import said a library failed to load — the loader step (a fresh "
              "interpreter that imports torch and loads each such library, to keep the loader's own words). "
              "\"outside the phases\": the driver's start, reading what was installed, sharing bytecode with the "
              "cache, removing the venv.", ""]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
