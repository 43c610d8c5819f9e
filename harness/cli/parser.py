"""The argument parser: every command, its options, and the values they take.

Options several commands share (the results folder, documents, how cells run) are declared once, in
parent parsers. Each command names the function that runs it (COMMANDS), imported only when it runs,
so `--help` stays light.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from harness import __version__, resources
from harness.backends.choose import BACKENDS
from harness.matrix import reader
from harness.model import INSTALLERS, Verdict
from harness.run import schedule

DESCRIPTION = "Which base image x architecture x wheel index x pins really works, measured."

# command → (module, function)
COMMANDS = {
    "run": ("harness.cli.run", "cmd_run"),
    "plan": ("harness.cli.run", "cmd_plan"),
    "validate": ("harness.cli.run", "cmd_validate"),
    "bisect": ("harness.cli.search", "cmd_bisect"),
    "solve": ("harness.cli.search", "cmd_solve"),
    "table": ("harness.cli.results", "cmd_table"),
    "report": ("harness.cli.results", "cmd_report"),
    "diff": ("harness.cli.results", "cmd_diff"),
    "merge": ("harness.cli.results", "cmd_merge"),
    "lock": ("harness.cli.lock", "cmd_lock"),
    "images": ("harness.cli.host", "cmd_images"),
    "doctor": ("harness.cli.host", "cmd_doctor"),
    "clean": ("harness.cli.host", "cmd_clean"),
    "init": ("harness.cli.author", "cmd_init"),
    "schema": ("harness.cli.author", "cmd_schema"),
}


def _shared() -> dict[str, argparse.ArgumentParser]:
    """The parent parsers: the results root, documents, and how cells run (run, bisect, solve)."""
    results = argparse.ArgumentParser(add_help=False)
    results.add_argument("--results", default="results", help="results root (default: results)")
    docs = argparse.ArgumentParser(add_help=False)
    docs.add_argument("--doc", action="append", type=Path, default=[],
                      help="another Markdown document whose table to regenerate (repeatable)")
    cells = argparse.ArgumentParser(add_help=False)
    cells.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="where cells run (auto: Docker when an engine answers, else host venvs)")
    cells.add_argument("--timeout", type=float, help="per-cell timeout in seconds (overrides the matrix)")
    cells.add_argument("--memory", type=size_value, metavar="SIZE",
                       help="memory limit of a cell that sets none, e.g. 6G (default: this machine's memory "
                            "less what it keeps for itself, divided by --jobs); no swap")
    cells.add_argument("--processes", type=processes_value, metavar="N",
                       help="processes and threads a cell that sets none may have at once (default "
                            f"{schedule.DEFAULT_PROCESSES}); a cell that reaches it is stopped and says so")
    cells.add_argument("--jobs", type=jobs_value, default=1, metavar="N|auto",
                       help="cells at once (auto: 75%% of the cores, capped by memory; default 1; a search runs "
                            "several only where it can: bisect's two ends)")
    cells.add_argument("--progress", choices=("auto", "live", "lines"), default="auto",
                       help="a live table on a terminal, plain lines elsewhere (auto), or as named")
    return {"results": results, "docs": docs, "cells": cells}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wheel-harness", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    shared = _shared()
    for add in (_running, _searching, _results, _host, _authoring):
        add(sub, shared)
    return p


def _running(sub: argparse._SubParsersAction, shared: dict[str, argparse.ArgumentParser]) -> None:
    """run, plan, validate: the cells, predicted, or only checked."""
    results, docs, cells = shared["results"], shared["docs"], shared["cells"]
    run = sub.add_parser("run", parents=[results, docs, cells], help="run matrix cells and record results")
    run.add_argument("matrices", nargs="*", type=Path,
                     help="matrix files (default: the matrix for this host, see `doctor`)")
    run.add_argument("--only", action="append", default=[], metavar="PATTERN",
                     help="run only cells whose id matches this shell pattern (repeatable)")
    run.add_argument("--python", metavar="PATH",
                     help="the host backend over this interpreter's environment (a venv or conda env holding "
                          "torch); default: the interpreter running the harness")
    run.add_argument("--keep", action="store_true", help="keep each cell's container for debugging")
    run.add_argument("--no-plan", action="store_true",
                     help="do not predict cells with uv (their results then store no prediction, and cells "
                          "with unpinned requirements are never reused)")
    run.add_argument("--force", action="append", nargs="?", const="*", default=[], metavar="PATTERN",
                     help="run cells again even when their inputs did not change (all, or those whose id "
                          "matches PATTERN; repeatable)")
    run.add_argument("--cold", action="store_true",
                     help="give cells empty download caches (measures a cold install; the shared caches "
                          "are left as they are)")
    run.add_argument("--shard", type=shard_value, metavar="I/N",
                     help="run only shard I of N (every cell is in exactly one shard; stable when cells are "
                          "added elsewhere)")
    run.add_argument("--shard-timings", metavar="RESULTS",
                     help="balance the shards by the cells' times in this results root (every shard must be "
                          "given the same one, e.g. the last merged results)")
    run.add_argument("--junit", type=Path, metavar="FILE", help="also write this run's results as JUnit XML")

    pln = sub.add_parser("plan", parents=[results],
                         help="predict every cell's install with uv, without containers, in seconds "
                              "(plan.json goes to RESULTS/<matrix>/)")
    pln.add_argument("matrices", nargs="*", type=Path)
    pln.add_argument("--only", action="append", default=[], metavar="PATTERN")

    val = sub.add_parser("validate", help="check matrix files without running anything")
    val.add_argument("files", nargs="+", type=Path)
    val.add_argument("--dockerfiles", action="store_true",
                     help="also have BuildKit parse every Dockerfile the matrices name (needs a docker client)")


def search_options(cmd: argparse.ArgumentParser, max_cells: int | None) -> None:
    """The options bisect and solve share: installer, how many cells and how long, retries, the answer as JSON."""
    cmd.add_argument("--installer", choices=INSTALLERS, help="install each step with this installer "
                     "(default: the cell's, or the matrix's for the image and index)")
    cmd.add_argument("--max-cells", type=count_value, default=max_cells, metavar="N",
                     help="run at most N cells (reused results cost nothing)"
                          + (f"; default {max_cells}" if max_cells else "; default: no limit"))
    cmd.add_argument("--max-time", type=seconds_value, metavar="SECONDS",
                     help="start no cell after this many seconds of searching (a running cell is not cut short)")
    cmd.add_argument("--retries", type=int, default=2, metavar="N",
                     help="run a step again up to N times when it ends with an infrastructure verdict "
                          "(default 2)")
    cmd.add_argument("--json", type=Path, metavar="FILE", help="also write the answer as JSON to FILE")


def _searching(sub: argparse._SubParsersAction, shared: dict[str, argparse.ArgumentParser]) -> None:
    """bisect and solve: answers found by running cells."""
    results, docs, cells = shared["results"], shared["docs"], shared["cells"]
    bis = sub.add_parser("bisect", parents=[results, docs, cells],
                         help="find the release of a package that first broke a cell (or fixed it)")
    bis.add_argument("matrix", type=Path, help="the matrix file that declares the cell")
    bis.add_argument("cell", help="the cell's id (or a pattern matching exactly one cell)")
    bis.add_argument("package", help="the distribution to bisect, e.g. torchao")
    bis.add_argument("good", help="a version with which the cell works")
    bis.add_argument("bad", help="a version with which it does not (older than GOOD: find the first release "
                                 "that fixed it)")
    bis.add_argument("--bad", dest="bad_verdict", action="append", default=[], metavar="VERDICT",
                     choices=[v.value for v in Verdict if not v.is_infrastructure and v not in (Verdict.PASS,
                                                                                                Verdict.SKIPPED)],
                     help="count only this verdict as bad (repeatable; default: any verdict other than the good "
                          "end's, a better one counting as good)")
    search_options(bis, None)

    sol = sub.add_parser("solve", parents=[results, docs, cells],
                         help="find the newest set of pins that works best on an image and index")
    sol.add_argument("matrix", type=Path, help="the matrix file that declares the image and index variant")
    sol.add_argument("requirements", nargs="*", metavar="REQUIREMENT",
                     help="PEP 508 requirements, in chain order (default: torch torchao torchtune); an exact pin "
                          "is kept as written, a range limits the releases tried")
    sol.add_argument("--image", help="the image (default: the matrix's only one)")
    sol.add_argument("--index", help="the index variant (default: the matrix's only one)")
    sol.add_argument("--modules", nargs="+", default=[], metavar="MODULE",
                     help="modules the probe imports (default: those of a package set of the matrix naming the "
                          "same packages, else the packages' names)")
    search_options(sol, 12)


def _results(sub: argparse._SubParsersAction, shared: dict[str, argparse.ArgumentParser]) -> None:
    """table, report, diff, lock, merge: what stored results become."""
    results, docs = shared["results"], shared["docs"]
    tab = sub.add_parser("table", parents=[results, docs], help="regenerate results tables from stored results")
    tab.add_argument("matrices", nargs="*", type=Path)
    tab.add_argument("--junit", type=Path, metavar="FILE", help="also write the stored results as JUnit XML")

    rep = sub.add_parser("report", parents=[results],
                         help="one self-contained HTML page: verdict grid, time and download charts, history")
    rep.add_argument("matrices", nargs="*", type=Path,
                     help="matrix files (default: every matrix folder with results under --results)")
    rep.add_argument("--output", "-o", type=Path, help="the HTML file (default: RESULTS/<matrix>/report.html)")
    rep.add_argument("--site", type=Path, metavar="DIR",
                     help="write a static site of every matrix under --results instead (for GitHub Pages): an index, "
                          "a page per matrix, a permalink per cell (MATRIX/#cell-ID), the records and tables")

    dif = sub.add_parser("diff", help="compare two result folders (or files): exit 1 on a regression")
    dif.add_argument("old", type=Path,
                     help="the earlier results: a results/<matrix> folder, a results root, or a JSON file")
    dif.add_argument("new", type=Path, help="the later results")
    dif.add_argument("--min-seconds", type=float, default=5.0,
                     help="a time change below this many seconds is noise (default 5)")
    dif.add_argument("--min-ratio", type=float, default=0.25,
                     help="a time change below this share of the old time is noise (default 0.25)")
    dif.add_argument("--fail-on", action="append", choices=("drift", "replaced"), default=[],
                     help="also exit 1 when the indexes drifted (drift: a version or file no longer offered, a "
                          "file replaced, a new release not yet tested; replaced: a file replaced under the same "
                          "name) (repeatable)")
    dif.add_argument("--output", type=Path, help="also write the Markdown to this file (e.g. a PR comment)")
    dif.add_argument("--markdown", action="store_true",
                     help="print Markdown (what diff always prints: for a PR comment or >> $GITHUB_STEP_SUMMARY)")

    lck = sub.add_parser("lock", parents=[results],
                         help="what a stored cell installed, with hashes: pylock.<name>.toml (PEP 751) and "
                              "requirements.<name>.txt, and with --wheelhouse the files themselves")
    lck.add_argument("cell", nargs="?", help="the cell's id (or a pattern matching exactly one stored cell)")
    lck.add_argument("--solve", type=Path, metavar="ANSWER",
                     help="lock the best set of this answer of `solve --json` instead of a named cell")
    lck.add_argument("--output", "-o", type=Path, default=Path("locks"),
                     help="the folder the lock and the requirements file go to (default: locks)")
    lck.add_argument("--name", help="the lock's name: pylock.NAME.toml (default: the cell id)")
    lck.add_argument("--wheelhouse", type=Path, metavar="DIR",
                     help="also copy the exact files here (from the folder they came from, pip's shared cache, "
                          "else their URL), each checked against its hash; the lock then names them here")
    lck.add_argument("--pip-cache", type=Path, metavar="DIR",
                     help="a pip cache folder to take files from (default: the host backend's shared cache)")

    mrg = sub.add_parser("merge", parents=[docs],
                         help="results from several machines or shards as one result set and table")
    mrg.add_argument("sources", nargs="+", type=Path,
                     help="results roots, results/<matrix> folders or JSON files of results (one per machine or shard)")
    mrg.add_argument("--results", required=True, help="the merged results root to write (e.g. merged/results)")
    mrg.add_argument("--matrix", action="append", type=Path, default=[], metavar="FILE",
                     help="a matrix file of the merged results: its declared tables are regenerated too "
                          "(repeatable; without it, each matrix gets the standard table)")
    mrg.add_argument("--junit", type=Path, help="also write the merged cells as JUnit XML")


def _host(sub: argparse._SubParsersAction, shared: dict[str, argparse.ArgumentParser]) -> None:
    """images, doctor, clean: this host and its engine."""
    img = sub.add_parser("images", help="build (or list) the local base images a matrix needs")
    img.add_argument("action", choices=("build", "list"))
    img.add_argument("matrices", nargs="*", type=Path)
    img.add_argument("--force", action="store_true", help="rebuild images that exist")
    img.add_argument("--workdir", default=".cache/images", help="where root filesystem tarballs are made")

    doc = sub.add_parser("doctor", help="describe this host: Jetson/JetPack, CUDA, GPUs, engine, emulation")
    doc.add_argument("--json", action="store_true", help="machine-readable output")
    doc.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="describe this host as a run with this backend sees it (default: auto, as run)")
    doc.add_argument("--python", metavar="PATH", help="as run's --python (the host backend over that environment)")

    cln = sub.add_parser("clean", help="remove containers left behind by runs (e.g. after --keep)")
    cln.add_argument("--run-id", help="only this run's containers")
    cln.add_argument("--caches", action="store_true",
                     help="also empty the shared download caches (pip's and uv's) cells of this backend use")
    cln.add_argument("--backend", choices=("docker", "host"), default="docker",
                     help="whose leftovers and caches (default: docker)")
    cln.add_argument("--older-than", type=duration_value, metavar="AGE",
                     help="only containers created more than AGE ago (90, 30m, 6h, 2d): on a shared runner a "
                          "younger one may belong to a run still going on")
    cln.add_argument("--caches-over", type=size_value, metavar="SIZE",
                     help="remove shared cache volumes, oldest first, until they hold at most SIZE (e.g. 40G)")
    cln.add_argument("--images", action="store_true",
                     help="also remove images the harness built that no matrix names (the matrices given, "
                          "else every file in ./matrices and the shipped ones)")
    cln.add_argument("matrices", nargs="*", type=Path, help="with --images: the matrices whose images stay")


def _authoring(sub: argparse._SubParsersAction, shared: dict[str, argparse.ArgumentParser]) -> None:
    """init and schema: for people writing their own matrix."""
    ini = sub.add_parser("init", help="write a starting matrix for your stack, matrices/NAME.toml, from this host, "
                                      "a requirements file and/or solve's answer (never overwrites)")
    ini.add_argument("name", nargs="?",
                     help="the matrix's name (default: asked on a terminal, else this folder's name)")
    ini.add_argument("--requirements", "-r", type=Path, metavar="FILE",
                     help="package sets from this requirements file: as written, and unpinned (default: "
                          "./requirements.txt when there)")
    ini.add_argument("--solve", type=Path, metavar="FILE", help="a package set from the pins `solve --json FILE` found")
    ini.add_argument("--base", choices=[p.stem for p in resources.shipped_matrices()],
                     help="the shipped matrix whose images and index variants to start from (default: the one for "
                          "this host, as doctor says)")
    ini.add_argument("--image", action="append", default=[], metavar="NAME",
                     help="an image of that matrix to keep (repeatable; default: those of this host's architecture)")
    ini.add_argument("--no-input", action="store_true",
                     help="ask nothing, even on a terminal (every answer has a flag)")

    sch = sub.add_parser("schema", help="the JSON Schema of the matrix format, for editors (taplo, Even Better TOML)")
    sch.add_argument("--output", "-o", type=Path, metavar="FILE", help="write it to FILE (default: print it)")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The arguments; `solve`'s requirements may also follow its options (argparse stops a `*`
    positional at the first option)."""
    cli = parser()
    args, extra = cli.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "solve" and not any(e.startswith("-") for e in extra):
        args.requirements = [*args.requirements, *extra]
    elif extra:
        cli.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


# --- option values -------------------------------------------------------------------------------------


def duration_value(text: str) -> float:
    """"90", "30m", "6h", "2d" → seconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90, 30m, 6h or 2d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def jobs_value(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return count_value(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or 'auto'") from None


def shard_value(text: str) -> tuple[int, int]:
    try:
        return schedule.parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cells") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} cells: give 1 or more")
    return value


def seconds_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} seconds: give more than 0")
    return value


def processes_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of processes") from None
    if not reader.MIN_PROCESSES <= value <= reader.MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"{value} processes: give between {reader.MIN_PROCESSES} and "
                                         f"{reader.MAX_PROCESSES}")
    return value


def size_value(text: str) -> int:
    value = reader.parse_size(text)
    if value is None or value < reader.MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size of at least "
                                         f"{reader.MIN_MEMORY >> 20} MiB, like 6G or 512M")
    return value
