"""The benchmark: the same three real torch -> torchao -> torchtune cells, run the ways that matter, in
one go; prints wall times and ratios and writes them to bench/RESULTS.md with the machine they ran on.

    nox -s bench                 # or: python bench/run.py [--pip] [--out bench/RESULTS.md]

(a) naive: the loop people run by hand (bench/naive.sh): per cell a fresh container, a fresh venv,
    `pip install --no-cache-dir`, the imports;
(b) harness, caches cold: the shared download caches emptied first (`clean --caches`), all cells run;
(c) harness again with --force: the same cells really run, with warm caches;
(d) harness with nothing changed: every result reused (containers started are counted);
(e) (b) and (c) again with --jobs 2;
(f) the checks' cost: (c) against the same cells import-only (`checks = []`), both warm: the built-in
    checks (torch, torchao, torchtune on the CPU) run in the probe's interpreter after the imports; each way
    three times, interleaved, the median kept.
    `--rows checks` runs only this comparison (written to bench/RESULTS-checks.md).
Harness rows use the uv cells of bench/chain.toml (uv with its cache and the venv on one volume,
hardlinked: the harness's fast path); `--pip` adds the same rows for its pip cells. Every harness
run's verdicts are compared with those of (b), the first sequential run.
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
    ("harness cold", "naive loop", 1.05, "harness cold ÷ naive"),
    ("harness warm", "naive loop", 0.35, "harness warm ÷ naive"),
    ("harness warm, --jobs 2", "harness warm", 0.70, "--jobs 2 ÷ --jobs 1 on warm cells"),
)
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
    out = {}
    for path in sorted((results / matrix).glob("*.json")):
        data = json.loads(path.read_text())
        if "cell_id" in data and data["cell_id"].endswith("__uv") == (installer == "uv"):
            out[data["cell_id"]] = data["verdict"]
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


def run_rows(installer: str, results: Path, log) -> tuple[list[tuple[str, float, int, str]], dict, list[str]]:
    """(row name, seconds, cells, note) for one installer's harness rows; the reference verdicts; problems."""
    only = ["--only", "*__uv"] if installer == "uv" else ["--only", "*chain-2.13", "--only", "*ao0.18"]
    base = ["run", str(MATRIX), "--results", str(results), "--progress", "lines", *only]
    rows, problems = [], []
    name = "harness" if installer == "uv" else "harness (pip cells)"

    def step(label: str, *extra: str, clean: bool = False) -> tuple[float, dict]:
        if clean:
            subprocess.run(harness("clean", "--caches"), capture_output=True, cwd=ROOT, check=True)
        log(f"  {label} …")
        seconds, done = timed(harness(*base, *extra))
        if done.returncode not in (0, 1):
            problems.append(f"{label}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            log(f"    failed: {done.stderr.strip()[-600:]}")
        got = verdicts(results, installer)
        log(f"    {seconds:.1f} s, {got}")
        return seconds, got

    cold, reference = step(f"{name} cold", "--force", clean=True)
    rows.append((f"{name} cold", cold, len(reference), "shared caches emptied first; later cells find "
                                                       "what earlier ones downloaded"))
    warm, got = step(f"{name} warm", "--force")
    rows.append((f"{name} warm", warm, len(got), "--force: every cell really runs, caches warm"))
    checks = [("warm", got)]
    start = time.time()
    unchanged, got = step(f"{name} unchanged")
    created = containers_created(start, time.time())
    rows.append((f"{name} unchanged", unchanged, len(got), f"nothing changed: {created} containers started"))
    checks.append(("unchanged", got))
    if created:
        problems.append(f"{name} unchanged started {created} containers")
    cold2, got = step(f"{name} cold, --jobs 2", "--force", "--jobs", "2", clean=True)
    rows.append((f"{name} cold, --jobs 2", cold2, len(got), "as cold, two cells at once"))
    checks.append(("cold --jobs 2", got))
    warm2, got = step(f"{name} warm, --jobs 2", "--force", "--jobs", "2")
    rows.append((f"{name} warm, --jobs 2", warm2, len(got), "as warm, two cells at once"))
    checks.append(("warm --jobs 2", got))
    for label, seen in checks:
        if seen != reference:
            problems.append(f"{name} {label}: verdicts {seen} differ from the first sequential run {reference}")
    return rows, reference, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip", action="store_true", help="also run the harness rows with the pip cells")
    parser.add_argument("--out", type=Path,
                        help="default: bench/RESULTS.md (bench/RESULTS-checks.md with --rows checks)")
    parser.add_argument("--results", type=Path, default=ROOT / ".cache" / "bench-results")
    parser.add_argument("--rows", choices=("all", "checks"), default="all",
                        help="every row, or only (f): the built-in checks against imports only, warm")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / "bench" / ("RESULTS-checks.md" if args.rows == "checks" else "RESULTS.md")
    log = lambda text: print(text, flush=True)  # noqa: E731

    if not any(WHEELHOUSE.glob("torch-2.13.0*.whl")):
        log("filling the wheelhouse (pip download torch==2.13.0) …")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(WHEELHOUSE), "torch==2.13.0"],
                       check=True, capture_output=True)
    subprocess.run(harness("images", "build", str(MATRIX)), check=True, capture_output=True, cwd=ROOT)
    shutil.rmtree(args.results / "bench", ignore_errors=True)  # every row starts from no stored results
    shutil.rmtree(args.results / "bench-imports", ignore_errors=True)
    args.results.mkdir(parents=True, exist_ok=True)
    if args.rows == "checks":
        log("(f) built-in checks against imports only, warm …")
        rows, problems = checks_rows(args.results, log)
        return report(args, rows, [], problems, {}, only_checks=True)

    log("(a) naive loop …")
    naive_seconds, done = timed(["bash", str(ROOT / "bench" / "naive.sh"), str(WHEELHOUSE)])
    log(done.stdout.strip())
    naive_exits = [line.split()[1] for line in done.stdout.splitlines() if " exit=" in line]
    rows = [("naive loop", naive_seconds, len(naive_exits), "fresh container + venv, pip --no-cache-dir, "
                                                            "import; " + ", ".join(naive_exits))]
    problems: list[str] = []
    log("harness rows (uv cells) …")
    more, reference, found = run_rows("uv", args.results, log)
    rows += more
    problems += found
    if args.pip:
        log("harness rows (pip cells) …")
        more, _, found = run_rows("pip", args.results, log)
        rows += more
        problems += found

    log("(f) built-in checks against imports only, warm …")
    more, found = checks_rows(args.results, log)
    rows += more
    problems += found
    return report(args, rows, TARGETS, problems, reference)


def report(args: argparse.Namespace, rows: list[tuple[str, float, int, str]], targets: tuple, problems: list[str],
           reference: dict[str, str], only_checks: bool = False) -> int:
    """The rows and the ratios against their targets, printed and written to --out."""
    by_name = {name: seconds for name, seconds, _, _ in rows}
    ratios = []
    for row, against, limit, what in (*targets, CHECKS_TARGET):
        ratio = by_name[row] / by_name[against]
        ratios.append((what, ratio, limit, ratio <= limit))
    if not only_checks:
        unchanged = by_name["harness unchanged"]
        ratios.append(("unchanged re-run wall (s)", unchanged, 2.0, unchanged <= 2.0))

    lines = [
        "# Benchmark: the harness against the loop people run by hand",
        "",
        f"Run {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} with `nox -s bench"
        f"{' -- --pip' if args.pip else ''}{' -- --rows checks' if only_checks else ''}`"
        f" on: {machine()}.",
        "",
        "The same three real cells each time (bench/chain.toml: torch 2.13.0 CPU + torchao + torchtune on "
        "Debian bookworm amd64). Wall times of whole commands, the harness's planning, image checks and "
        "result writing included.",
        "",
        "| run | wall | cells | per cell | notes |",
        "|---|---|---|---|---|",
    ]
    for name, seconds, cells, note in rows:
        lines.append(f"| {name} | {seconds:.1f} s | {cells} | {seconds / max(cells, 1):.1f} s | {note} |")
    lines += ["", "| ratio | measured | target | met |", "|---|---|---|---|"]
    for what, value, limit, ok in ratios:
        lines.append(f"| {what} | {value:.2f} | ≤ {limit:.2f} | {'yes' if ok else '**no**'} |")
    if reference:
        shown = ", ".join(f"{cell_id.split('__')[2]}: {verdict}" for cell_id, verdict in reference.items())
        same = "identical to the first sequential run" if not problems else "; ".join(problems)
        lines += ["", f"Verdicts of every harness run: {same} ({shown})."]
    elif problems:
        lines += ["", "Problems: " + "; ".join(problems)]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print("\n" + text)
    return 0 if not problems and all(ok for *_, ok in ratios) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
