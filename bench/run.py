"""The benchmark: the same real cells run the ways that matter, in one go; prints wall times and ratios
and writes them to bench/RESULTS.md with the machine they ran on.

    nox -s bench                 # or: python bench/run.py [--repeat N] [--rows all|speed|checks] [--pip]

(a) naive: the loop people run by hand (bench/naive.sh): per cell a fresh container, a fresh venv,
    `pip install --no-cache-dir`, the imports;
(s) skilled: the loop a skilled person writes (bench/skilled.sh): per cell a fresh container, uv with its
    cache and the venv on one named volume (hardlinks), the same imports; cold (the volume removed
    first) and warm;
(b) harness, caches cold: the shared download caches emptied first (`clean --caches`), all cells run;
(c) harness again with --force: the same cells really run, with warm caches;
(d) harness with nothing changed: every result reused (containers started are counted);
(e) (b) and (c) again with --jobs 2; and (e') --jobs 1 against --jobs 2 on six warm cells (bench/jobs.toml:
    these three and three more package sets), where the target applies: three cells on two workers
    end no sooner than the longest one or the other two one after the other;
(g) emulated arm64: naive, skilled and harness (cold and warm) on two numpy cells of the bookworm
    arm64 image under QEMU (bench/arm64.toml), as CI on an x86 machine runs a Jetson matrix;
(f) the checks' cost: (c) against the same cells import-only (`checks = []`), both warm: the built-in
    checks (torch, torchao, torchtune on the CPU) run in the probe's interpreter after the imports; each way
    three times, interleaved, the median kept. `--rows checks` runs only this comparison (written to
    bench/RESULTS-checks.md); `--rows speed` leaves it out.
The loops only import, so the harness rows (b)-(e) and (g) run the cells import-only as well (`checks =
[]`), the harness's planning, image checks, records and tables included. Harness rows use the uv cells of
bench/chain.toml (the harness's fast path); `--pip` adds the same rows for its pip cells. Every harness
run's records (verdict, evidence, hint, versions installed) are compared with those of (b), the first
sequential run. With --repeat N, rows (s), (b)-(e) and (g) run N times: each row shows the median and the
spread, and every ratio is taken per repetition (its median and spread shown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "bench" / "chain.toml"
WHEELHOUSE = ROOT / ".wheelhouse" / "smoke"
LABEL_RUN = "edge-wheel-harness.run"

TARGETS = (  # (row, against, at most, what it says)
    ("harness warm", "skilled loop warm", 1.10, "harness warm ÷ skilled loop warm"),
    ("harness cold", "skilled loop cold", 1.20, "harness cold ÷ skilled loop cold"),
    ("harness warm, six cells, --jobs 2", "harness warm, six cells", 0.60, "--jobs 2 ÷ --jobs 1 on six warm cells"),
    ("harness warm, --jobs 2", "harness warm", None, "--jobs 2 ÷ --jobs 1 on the three warm cells (no target: "
                                                     "see the README)"),
    ("harness arm64 warm", "skilled loop arm64 warm", 1.15, "emulated arm64: harness warm ÷ skilled loop warm"),
    ("harness arm64 cold", "skilled loop arm64 cold", 1.15, "emulated arm64: harness cold ÷ skilled loop cold"),
    ("harness cold", "naive loop", 1.05, "harness cold ÷ naive"),
    ("harness warm", "naive loop", 0.35, "harness warm ÷ naive"),
    ("harness arm64 warm", "naive loop arm64", 1.0, "emulated arm64: harness warm ÷ naive"),
)
UNCHANGED_MAX = 1.0  # seconds: an unchanged re-run
ARM64 = ROOT / "bench" / "arm64.toml"
JOBS = ROOT / "bench" / "jobs.toml"
ARM64_IMAGE = "edge-wheel-harness/debian-bookworm:arm64"
SKILLED_VOLUME = "edge-wheel-harness-bench-skilled"
CHECKS_TARGET = ("harness warm, with checks", "harness warm, imports only", 1.25,
                 "built-in checks ÷ imports only on warm cells")


def imports_only_matrix(folder: Path) -> Path:
    """bench/chain.toml with `checks = []` in every package set (import-only), named bench-imports; its
    wheelhouse named by absolute path, since the copy lives elsewhere."""
    text = MATRIX.read_text().replace('name = "bench"', 'name = "bench-imports"')
    text = text.replace('"../.wheelhouse/smoke"', json.dumps(str(WHEELHOUSE)))
    text = re.sub(r"(?m)^(modules = .*)$", r"\1\nchecks = []", text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chain-imports.toml"
    path.write_text(text)
    return path


CHECKS_ROUNDS = 3  # each way, interleaved: the median is kept (a shared machine's load moves single runs)


def probe_seconds(results: Path, folder: str) -> float:
    """The probe phases of the stored uv cells, summed: every import, and the built-in checks when they ran."""
    total = 0.0
    for path in (results / folder).glob("*__uv.json"):
        total += float((json.loads(path.read_text()).get("timings") or {}).get("probe") or 0.0)
    return total


def checks_rows(results: Path, log) -> tuple[list[tuple[str, float, int, str]], list[str]]:
    """(f): the uv cells warm with their built-in checks, and the same cells import-only: each way run once
    to warm the caches, then CHECKS_ROUNDS times, interleaved; the median wall time is the row's, and the
    probe phases' seconds are shown beside it. Each cell's verdict must be the same both ways."""
    only = ["--only", "*__uv", "--results", str(results), "--progress", "lines", "--force"]
    imports = imports_only_matrix(results / "matrices")
    ways = (("harness warm, imports only", imports, "bench-imports", "checks = []: imports only"),
            ("harness warm, with checks", MATRIX, "bench",
             "the built-in checks of torch, torchao and torchtune on the CPU, after the imports"))
    problems: list[str] = []
    walls: dict[str, list[float]] = {name: [] for name, *_ in ways}
    probes: dict[str, list[float]] = {name: [] for name, *_ in ways}
    seen: dict[str, dict[str, str]] = {}
    for _, matrix, _, _ in ways:
        subprocess.run(harness("run", str(matrix), *only), capture_output=True, cwd=ROOT)  # warms the caches
    for round_ in range(1, CHECKS_ROUNDS + 1):
        for name, matrix, folder, _ in ways:
            log(f"  {name} ({round_}/{CHECKS_ROUNDS}) …")
            seconds, done = timed(harness("run", str(matrix), *only))
            if done.returncode not in (0, 1):
                problems.append(f"{name}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            seen[name] = {k.split("__")[2]: v for k, v in verdicts(results, "uv", folder).items()}
            walls[name].append(seconds)
            probes[name].append(probe_seconds(results, folder))
            log(f"    {seconds:.1f} s (probes {probes[name][-1]:.1f} s), {seen[name]}")
    out = []
    for name, _, _, note in ways:
        probe = statistics.median(probes[name])
        runs = ", ".join(f"{w:.1f}" for w in walls[name])
        out.append((name, statistics.median(walls[name]), len(seen[name]),
                    f"{note}; median of {CHECKS_ROUNDS} interleaved runs ({runs} s); probes {probe:.1f} s"))
    if len(set(map(str, seen.values()))) > 1:
        problems.append(f"verdicts differ with and without checks: {seen}")
    return out, problems


def harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)
    return time.monotonic() - start, done


def verdicts(results: Path, installer: str, matrix: str = "bench") -> dict[str, str]:
    """The stored verdict of each of the installer's cells."""
    return {cell_id: record["verdict"] for cell_id, record in records(results, installer, matrix).items()}


def records(results: Path, installer: str, matrix: str = "bench") -> dict[str, dict]:
    """The stored record of each of the installer's cells."""
    out = {}
    for path in sorted((results / matrix).glob("*.json")):
        data = json.loads(path.read_text())
        if "cell_id" in data and data["cell_id"].endswith("__uv") == (installer == "uv"):
            out[data["cell_id"]] = data
    return out


def essence(record: dict) -> dict:
    """What a faster run must not change: the verdict, its evidence and hint, what was installed."""
    items = ((record.get("install") or {}).get("items")) or []
    return {"verdict": record.get("verdict"), "evidence": record.get("evidence"), "hint": record.get("hint"),
            "installed": sorted(f"{i.get('name')}=={i.get('version')}" for i in items),
            "imports": sorted(s.get("module", "") + ("" if s.get("ok", True) else " failed")
                              for s in ((record.get("probe") or {}).get("imports") or []))}


def same_records(reference: dict[str, dict], seen: dict[str, dict]) -> list[str]:
    """The cells whose essence differs from the reference run's, field by field."""
    out = []
    for cell_id in sorted(set(reference) | set(seen)):
        want, got = essence(reference.get(cell_id, {})), essence(seen.get(cell_id, {}))
        out += [f"{cell_id.split('__')[2]}: {key} {got[key]!r} != {want[key]!r}" for key in want
                if want[key] != got[key]]
    return out


def containers_created(since: float, until: float) -> int:
    """Containers the harness created between two times, from the engine's own event log."""
    import docker

    client = docker.from_env()
    events = client.events(since=int(since), until=int(until) + 1, decode=True,
                           filters={"type": "container", "event": "create", "label": LABEL_RUN})
    return sum(1 for _ in events)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    engine = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB memory, "
            f"Docker engine {engine}, Python {platform.python_version()}")


Row = tuple  # (name, seconds, cells, note)


def loop_rows(script: str, label: str, image: str, cell_set: str, log, *, volume: bool) -> tuple[Row, ...]:
    """A hand-written loop's rows: the naive one once; the skilled one cold (its volume removed first)
    and warm. Each cell's exit is in the note: a loop's failing import is a cell, not a failure."""
    def once(name: str) -> Row:
        cmd = ["bash", str(ROOT / "bench" / script), str(WHEELHOUSE), image]
        cmd += [SKILLED_VOLUME + "-" + cell_set, cell_set] if volume else [cell_set]
        log(f"  {name} …")
        seconds, done = timed(cmd, env=dict(os.environ, PYTHON=sys.executable))  # uv: the harness's own
        exits = [line.split()[1] for line in done.stdout.splitlines() if " exit=" in line]
        log(f"    {seconds:.1f} s, {', '.join(exits)}")
        return name, seconds, len(exits), ", ".join(exits)

    if not volume:
        return (once(label),)
    subprocess.run(["docker", "volume", "rm", "-f", SKILLED_VOLUME + "-" + cell_set], capture_output=True)
    return once(f"{label} cold"), once(f"{label} warm")


def run_rows(installer: str, matrix: Path, folder: str, results: Path, log, *, prefix: str = "harness",
             full: bool = True) -> tuple[list[Row], dict, list[str]]:
    """(row, seconds, cells, note) for one installer's harness rows on a matrix; the reference records
    (the cold run's); problems (exits, records that differ from the reference, containers started)."""
    only = ["--only", "*__uv"] if installer == "uv" else ["--only", "*chain-2.13", "--only", "*ao0.18"]
    base = ["run", str(matrix), "--results", str(results), "--progress", "lines", *only]
    rows, problems = [], []
    name = prefix if installer == "uv" else f"{prefix} (pip cells)"
    shutil.rmtree(results / folder, ignore_errors=True)  # every repetition starts from no stored results

    def step(label: str, *extra: str, clean: bool = False) -> tuple[float, dict]:
        if clean:
            subprocess.run(harness("clean", "--caches"), capture_output=True, cwd=ROOT, check=True)
        log(f"  {label} …")
        seconds, done = timed(harness(*base, *extra))
        if done.returncode not in (0, 1):
            problems.append(f"{label}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            log(f"    failed: {done.stderr.strip()[-600:]}")
        got = records(results, installer, folder)
        log(f"    {seconds:.1f} s, { {k.split('__')[2]: r['verdict'] for k, r in got.items()} }")
        return seconds, got

    cold, reference = step(f"{name} cold", "--force", clean=True)
    rows.append((f"{name} cold", cold, len(reference), "shared caches emptied first; later cells find "
                                                       "what earlier ones downloaded"))
    warm, got = step(f"{name} warm", "--force")
    rows.append((f"{name} warm", warm, len(got), "--force: every cell really runs, caches warm"))
    seen = [("warm", got)]
    if full:
        start = time.time()
        unchanged, got = step(f"{name} unchanged")
        created = containers_created(start, time.time())
        rows.append((f"{name} unchanged", unchanged, len(got), f"nothing changed: {created} containers started"))
        if created:
            problems.append(f"{name} unchanged started {created} containers")
        cold2, got = step(f"{name} cold, --jobs 2", "--force", "--jobs", "2", clean=True)
        rows.append((f"{name} cold, --jobs 2", cold2, len(got), "as cold, two cells at once"))
        seen.append(("cold --jobs 2", got))
        warm2, got = step(f"{name} warm, --jobs 2", "--force", "--jobs", "2")
        rows.append((f"{name} warm, --jobs 2", warm2, len(got), "as warm, two cells at once"))
        seen.append(("warm --jobs 2", got))
    for label, got in seen:
        problems += [f"{name} {label}: {d}" for d in same_records(reference, got)]
    return rows, reference, problems


def jobs_rows(results: Path, log) -> tuple[list[Row], list[str]]:
    """(e') --jobs on six warm cells (bench/jobs.toml): one run to warm their caches, then --jobs 1 and
    --jobs 2, both --force; the --jobs 2 records must be the --jobs 1 records."""
    base = ["run", str(JOBS), "--results", str(results), "--progress", "lines", "--force"]
    rows: list[Row] = []
    problems: list[str] = []
    seen: dict[str, dict] = {}
    subprocess.run(harness(*base, "--jobs", "2"), capture_output=True, cwd=ROOT)  # warms the new cells' caches
    for name, jobs in (("harness warm, six cells", "1"), ("harness warm, six cells, --jobs 2", "2")):
        log(f"  {name} …")
        seconds, done = timed(harness(*base, "--jobs", jobs))
        if done.returncode not in (0, 1):
            problems.append(f"{name}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
        seen[name] = records(results, "uv", "bench-jobs")
        log(f"    {seconds:.1f} s, { {k.split('__')[2]: r['verdict'] for k, r in seen[name].items()} }")
        rows.append((name, seconds, len(seen[name]), f"bench/jobs.toml, --force, --jobs {jobs}"))
    reference, got = seen.values()
    problems += [f"six cells --jobs 2: {d}" for d in same_records(reference, got)]
    return rows, problems


def repetition(args: argparse.Namespace, log) -> tuple[list[Row], dict, list[str]]:
    """One repetition of the rows that repeat: skilled loop, harness, emulated arm64."""
    rows: list[Row] = []
    problems: list[str] = []
    rows += loop_rows("skilled.sh", "skilled loop", "edge-wheel-harness/debian-bookworm:amd64", "chain", log,
                      volume=True)
    imports = imports_only_matrix(args.results / "matrices")
    more, reference, found = run_rows("uv", imports, "bench-imports", args.results, log)
    rows += more
    problems += found
    more, found = jobs_rows(args.results, log)
    rows += more
    problems += found
    if args.pip:
        more, _, found = run_rows("pip", imports, "bench-imports", args.results, log)
        rows += more
        problems += found
    if args.arm64:
        rows += loop_rows("skilled.sh", "skilled loop arm64", ARM64_IMAGE, "arm64", log, volume=True)
        more, _, found = run_rows("uv", ARM64, "bench-arm64", args.results, log, prefix="harness arm64", full=False)
        rows += more
        problems += found
    return rows, reference, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip", action="store_true", help="also run the harness rows with the pip cells")
    parser.add_argument("--out", type=Path,
                        help="default: bench/RESULTS.md (bench/RESULTS-checks.md with --rows checks)")
    parser.add_argument("--results", type=Path, default=ROOT / ".cache" / "bench-results")
    parser.add_argument("--rows", choices=("all", "speed", "checks"), default="all",
                        help="every row; all but (f), the checks' cost; or only (f)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the skilled, harness and arm64 rows N times: medians and spread (default 1)")
    parser.add_argument("--no-arm64", dest="arm64", action="store_false",
                        help="leave out the emulated arm64 rows (g)")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / "bench" / ("RESULTS-checks.md" if args.rows == "checks" else "RESULTS.md")
    log = lambda text: print(text, flush=True)  # noqa: E731

    if not any(WHEELHOUSE.glob("torch-2.13.0*.whl")):
        log("filling the wheelhouse (pip download torch==2.13.0) …")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(WHEELHOUSE), "torch==2.13.0"],
                       check=True, capture_output=True)
    for matrix in (MATRIX, ARM64) if args.arm64 else (MATRIX,):
        subprocess.run(harness("images", "build", str(matrix)), check=True, capture_output=True, cwd=ROOT)
    for folder in ("bench", "bench-imports", "bench-arm64", "bench-jobs"):
        shutil.rmtree(args.results / folder, ignore_errors=True)  # every row starts from no stored results
    args.results.mkdir(parents=True, exist_ok=True)
    if args.rows == "checks":
        log("(f) built-in checks against imports only, warm …")
        rows, problems = checks_rows(args.results, log)
        return report(args, [rows], (), problems, {}, only_checks=True)

    log("(a) naive loop …")
    once = list(loop_rows("naive.sh", "naive loop", "edge-wheel-harness/debian-bookworm:amd64", "chain", log,
                          volume=False))
    if args.arm64:
        once += loop_rows("naive.sh", "naive loop arm64", ARM64_IMAGE, "arm64", log, volume=False)
    problems: list[str] = []
    runs, reference = [], {}
    for n in range(1, args.repeat + 1):
        log(f"repetition {n}/{args.repeat}: skilled loop, harness, arm64 …")
        rows, ref, found = repetition(args, log)
        runs.append(once + rows)
        reference = reference or ref
        problems += found
    if args.rows == "all":
        log("(f) built-in checks against imports only, warm …")
        more, found = checks_rows(args.results, log)
        runs = [run + more for run in runs]
        problems += found
    return report(args, runs, TARGETS, problems, reference)


def spread(values: list[float], fmt: str) -> str:
    """The median, and the lowest and highest when there are several."""
    middle = format(statistics.median(values), fmt)
    return middle if len(set(values)) == 1 else f"{middle} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def report(args: argparse.Namespace, runs: list[list[Row]], targets: tuple, problems: list[str],
           reference: dict, only_checks: bool = False) -> int:
    """The rows (median and spread over the repetitions) and the ratios against their targets, each
    ratio taken within a repetition; printed and written to --out. Exit 1 on a problem or a missed target."""
    names = list(dict.fromkeys(name for run in runs for name, *_ in run))
    by_run = [{name: (seconds, cells, note) for name, seconds, cells, note in run} for run in runs]
    ratios = []
    for row, against, limit, what in (*targets, CHECKS_TARGET):
        values = [r[row][0] / r[against][0] for r in by_run if row in r and against in r]
        if values:
            ratios.append((what, values, limit, limit is None or statistics.median(values) <= limit))
    unchanged = [r["harness unchanged"][0] for r in by_run if "harness unchanged" in r]
    if unchanged:
        ratios.append(("unchanged re-run wall (s)", unchanged, UNCHANGED_MAX,
                       statistics.median(unchanged) <= UNCHANGED_MAX))

    repeat = f" -- --repeat {len(runs)}" if len(runs) > 1 else ""
    lines = [
        "# Benchmark: the harness against the loops people write by hand",
        "",
        f"Run {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} with `nox -s bench{repeat}"
        f"{' -- --pip' if args.pip else ''}{' -- --rows checks' if only_checks else ''}`"
        f" on: {machine()}.",
        "",
        "The same three real cells (bench/chain.toml: torch 2.13.0 CPU + torchao + torchtune on Debian bookworm "
        "amd64), those three and three more package sets for the --jobs rows on six cells (bench/jobs.toml), "
        "and two emulated arm64 numpy cells (bench/arm64.toml). Wall times of whole commands, the "
        "harness's planning, image checks, records and tables included."
        + (f" Rows that repeat show the median of {len(runs)} repetitions and (lowest–highest); the naive "
           "loop ran once." if len(runs) > 1 else ""),
        "",
        "| run | wall | cells | per cell | notes |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        seen = [r[name] for r in by_run if name in r]
        walls = [s for s, _, _ in seen]
        cells, note = seen[-1][1], seen[-1][2]
        lines.append(f"| {name} | {spread(walls, '.1f')} s | {cells} | "
                     f"{statistics.median(walls) / max(cells, 1):.1f} s | {note} |")
    lines += ["", "| ratio | measured | target | met |", "|---|---|---|---|"]
    for what, values, limit, ok in ratios:
        if limit is None:
            lines.append(f"| {what} | {spread(values, '.2f')} | — | — |")
            continue
        met = ("yes, every run" if max(values) <= limit else "median only") if ok else "**no**"
        lines.append(f"| {what} | {spread(values, '.2f')} | ≤ {limit:.2f} | {met} |")
    if reference:
        shown = ", ".join(f"{cell_id.split('__')[2]}: {r['verdict']}" for cell_id, r in reference.items())
        same = ("identical to the first sequential run's (verdict, evidence, hint, versions installed, imports)"
                if not problems else "; ".join(problems))
        lines += ["", f"Records of every harness run: {same} ({shown})."]
    elif problems:
        lines += ["", "Problems: " + "; ".join(problems)]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print("\n" + text)
    return 0 if not problems and all(ok for *_, ok in ratios) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
