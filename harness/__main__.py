"""The command line: `wheel-harness run|plan|bisect|solve|validate|table|images|doctor|clean`.

Also `python -m harness`.

Library code raises HarnessError; only this module turns errors into an `ERROR …` line, a hint and
an exit code: 0 all cells passed (or could not run on this host at all), 1 a cell failed,
2 bad input (matrix, arguments), 3 the engine, an image build or an index failed us, 130 interrupted.
`bisect` and `solve` exit 0 with an answer and 1 when there is none in the range or the budget.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from . import __version__, documents, store, table
from . import matrix as matrix_mod
from .atomic import write_json_atomic
from .backends import BACKENDS, choose_backend
from .errors import HarnessError, MatrixError
from .model import INSTALLERS, CellResult, Matrix, Verdict

MATRICES = Path("matrices")


def default_matrix(facts=None, log=print) -> Path:
    """The matrix for this host when none is named: it says which and why."""
    from . import hostfacts

    name, why = hostfacts.default_matrix(facts or hostfacts.detect())
    path = MATRICES / name
    log(f"No matrix named: using {path} ({why}).")
    return path


def results_dir(args: argparse.Namespace, m: Matrix) -> Path:
    return Path(args.results) / m.name


def load_all(paths: list[Path]) -> list[Matrix]:
    problems = []
    loaded = []
    for path in paths:
        try:
            loaded.append(matrix_mod.load(path))
        except MatrixError as exc:
            problems.extend(exc.problems)
    if problems:
        raise MatrixError(problems)
    return loaded


def is_step_of(record: dict, m: Matrix) -> bool:
    """A search's step (bisect, solve) on an image and index variant this matrix declares."""
    cell = record.get("cell") or {}
    return bool((cell.get("packages") or {}).get("made_by")
                and (cell.get("image") or {}).get("name") in {i.name for i in m.images}
                and (cell.get("index") or {}).get("name") in {i.name for i in m.indexes})


def regenerate_tables(m: Matrix, directory: Path, docs: list[Path]) -> list[dict]:
    ids = {c.id for c in m.cells}
    stored = store.load_results(directory)
    results = [r for r in stored if r.get("cell_id") in ids or is_step_of(r, m)]
    if len(results) < len(stored):
        print(f"Left out of the table: {len(stored) - len(results)} stored result(s) for cells no longer in {m.source}")
    if not results:  # never replace a table (maybe a committed one) by an empty one
        print(f"No stored results for {m.name} in {directory}: tables left as they are (run the matrix first)")
        return results
    rendered = table.render_table(results)
    for doc in [directory / "README.md", *docs]:
        changed = documents.regenerate(doc, m.name, rendered)
        print(f"{'Updated' if changed else 'Unchanged'}: {doc}")
    return results


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        problems = matrix_mod.validate(path)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            bad += 1
        else:
            m = matrix_mod.load(path)
            broken = check_recipes(m, path) if args.dockerfiles else 0
            bad += bool(broken)
            if not broken:
                print(f"{path}: ok, {len(m.cells)} cells")
    return 2 if bad else 0


def check_recipes(m: Matrix, path: Path) -> int:
    """Have BuildKit parse each Dockerfile the matrix names (nothing is pulled or built)."""
    from . import build

    broken = 0
    for img in m.images:
        if img.dockerfile:
            problem = build.check_dockerfile(Path(img.dockerfile))
            if problem:
                print(f"{path}: images.{img.name}.dockerfile: BuildKit cannot parse it: {problem}", file=sys.stderr)
                broken += 1
    return broken


def run_options(args: argparse.Namespace, backend, facts, **kw):
    """The options cells of a run (or of a search's steps) run with: GPU access and mounts for this
    host, how many at once, each cell's timeout and memory limit."""
    from . import runner, schedule
    from .backend import Mount

    gpu = backend.gpu_access(facts)
    mounts = tuple(Mount(host=p, cell=p) for p in gpu.get("mounts", ()) if Path(p).exists())
    jobs = schedule.auto_jobs() if args.jobs == "auto" else args.jobs
    return runner.RunOptions(run_id=runner.new_run_id(), timeout=args.timeout, gpu=gpu["mode"], extra_mounts=mounts,
                             host_facts=facts.to_json(), jobs=jobs,
                             memory=args.memory if args.memory else schedule.default_cell_memory(jobs), **kw)


def cmd_run(args: argparse.Namespace) -> int:
    from . import hostfacts, progress, runner

    for value in list(args.force):  # `--force matrices/x.toml`: a bare --force followed by a matrix file
        if value.endswith(".toml") and Path(value).is_file():
            args.force[args.force.index(value)] = "*"
            args.matrices.append(Path(value))
    backend = choose_backend(args.backend)
    facts = backend.host_facts()
    matrices = load_all(args.matrices or [default_matrix(facts)])
    options = run_options(args, backend, facts, keep=args.keep, shared_caches=not args.cold, force=tuple(args.force),
                          plan=not args.no_plan)
    jobs = options.jobs
    print(f"Run {options.run_id} on the {backend.name} backend; GPU access: {options.gpu}; {jobs} cell(s) at once"
          + ("; cold caches" if args.cold else ""))
    for problem in hostfacts.problems(facts):
        print(f"note: {problem}")
    failed = 0
    for m in matrices:
        cells = matrix_mod.select(m.cells, args.only)
        if not cells:
            raise HarnessError(f"{m.source}: no cell matches {' '.join(args.only)}",
                               hint=f"cell ids look like {m.cells[0].id}")
        runner.prefetch(cells)
        directory = results_dir(args, m)
        reporter = progress.reporter(len(cells), jobs=jobs, live=None if args.progress == "auto"
                                     else args.progress == "live", estimates=stored_estimates(directory, cells))
        try:
            results = runner.run_cells(m, cells, backend, options, results_dir=directory, reporter=reporter)
        except KeyboardInterrupt:
            if any(directory.glob("*.json")):  # keep the table true to the cells that finished
                regenerate_tables(m, directory, args.doc)
            raise
        regenerate_tables(m, directory, args.doc)
        failed += summarize(results, options.run_id)
    return 1 if failed else 0


def stored_estimates(directory: Path, cells) -> dict[str, float]:
    """How long each cell took the last time it ran (for the ETA)."""
    from . import schedule

    found = {}
    for cell in cells:
        record = store.latest(directory, cell.id)
        if record:
            found[cell.id] = schedule.estimate(cell, record)
    return found


def summarize(results: list[CellResult], run_id: str | None = None) -> int:
    """What a person must read first: the unexpected cells, then the expected known-bad ones, where the
    plan and the run differ, and the summary line. Returns the number of unexpected cells."""
    from .verdicts import disagreement

    unexpected = [r for r in results if not r.expected]
    # Findings about the packages first; then cells this run could not judge (outages, limits).
    for r in sorted(unexpected, key=lambda r: r.verdict.is_infrastructure):
        wanted = r.cell["expect"]
        kind = "UNEXPECTED (infrastructure, not a finding)" if r.verdict.is_infrastructure else "UNEXPECTED"
        print(f"{kind} {r.cell_id}: {r.verdict.value} (expected {wanted})"
              + (f" — {r.evidence[0]}" if r.evidence else ""))
        if r.hint:
            print(f"    hint: {r.hint}")
    for r in results:
        if r.expected and r.verdict is not Verdict.PASS and r.verdict is not Verdict.SKIPPED:
            print(f"as expected {r.cell_id}: {r.verdict.value}"
                  + (f" — {r.cell['expect_why']}" if r.cell.get("expect_why") else ""))
    for r in results:
        differs = disagreement(r.prediction, r.to_json()) if r.prediction else None
        if differs:
            print(f"plan differs {r.cell_id}: {differs}")
    print(table.summary_line([r.to_json() for r in results], run_id=run_id))
    return len(unexpected)


DEFAULT_CHAIN = ("torch", "torchao", "torchtune")


def search_target(base):
    """The target a search asks the index about: the one `plan` resolves the base cell for."""
    from . import releases, runner

    return releases.target_for(*runner.target(base))


def search_setup(args: argparse.Namespace, m: Matrix, base):
    """What a search (bisect, solve) runs its steps with: the backend and the stepper (options, budget,
    results folder)."""
    from . import runner, steps

    backend = choose_backend(args.backend)
    facts = backend.host_facts()
    options = run_options(args, backend, facts)
    runner.prefetch([base])
    live = None if args.progress == "auto" else args.progress == "live"
    stepper = steps.Stepper(m, backend, options, results_dir=results_dir(args, m), retries=args.retries,
                            budget=steps.Budget(cells=args.max_cells, seconds=args.max_time), live=live)
    print(f"Run {options.run_id} on the {backend.name} backend; GPU access: {options.gpu}; steps are stored in "
          f"{results_dir(args, m)}")
    return stepper


def the_cell(m: Matrix, pattern: str):
    found = matrix_mod.select(m.cells, [pattern])
    if len(found) != 1:
        shown = ", ".join(c.id for c in (found or m.cells)[:8])
        raise HarnessError(f"{m.source}: {len(found)} cells match {pattern!r}",
                           hint=f"name exactly one: {shown}" + (" …" if len(found or m.cells) > 8 else ""))
    return found[0]


def cmd_bisect(args: argparse.Namespace) -> int:
    import dataclasses

    from packaging.utils import canonicalize_name

    from . import bisection, releases

    [m] = load_all([args.matrix])
    cell = the_cell(m, args.cell)
    base = dataclasses.replace(cell, installer=args.installer or cell.installer)
    question = bisection.Question(base=base, package=canonicalize_name(args.package),
                                  good=bisection.version(args.good, "good version"),
                                  bad=bisection.version(args.bad, "bad version"),
                                  bad_verdicts=frozenset(Verdict(v) for v in args.bad_verdict))
    offer = releases.offered(base.index, question.package, search_target(base))
    bisection.check(question, offer)  # bad input is said before a backend or a cell starts
    stepper = search_setup(args, m, base)
    answer = bisection.bisect(question, offer, stepper, matrix=m)
    regenerate_tables(m, results_dir(args, m), args.doc)
    print()
    for line in answer.lines():
        print(line)
    if args.json:
        write_json_atomic(args.json, answer.to_json())
    return answer.exit_code


def solve_modules(m: Matrix, names: list[str]) -> tuple[str, ...]:
    """The modules a solve's cells import: those of a package set of the matrix that names exactly these
    packages, else the packages' own names as modules."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    wanted = sorted(canonicalize_name(n) for n in names)
    for packages in m.package_sets:
        if sorted(canonicalize_name(Requirement(r).name) for r in packages.requirements) == wanted:
            return packages.modules
    return tuple(canonicalize_name(n).replace("-", "_") for n in names)


def cmd_solve(args: argparse.Namespace) -> int:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from . import facts, releases, solve, steps
    from .model import PackageSet

    [m] = load_all([args.matrix])
    requirements = args.requirements or list(DEFAULT_CHAIN)
    try:
        parsed = [Requirement(r) for r in requirements]
    except InvalidRequirement as exc:
        raise HarnessError(f"not a PEP 508 requirement: {exc}", hint="write requirements like torchao>=0.15") from None
    image = args.image or (m.images[0].name if len(m.images) == 1 else None)
    index = args.index or (m.indexes[0].name if len(m.indexes) == 1 else None)
    if image is None or index is None:
        what = "--image" if image is None else "--index"
        names = [i.name for i in (m.images if image is None else m.indexes)]
        raise HarnessError(f"{m.source} declares several: name one with {what}", hint="one of " + ", ".join(names))
    modules = tuple(args.modules) or solve_modules(m, [r.name for r in parsed])
    installer = args.installer or next((c.installer for c in m.cells if c.image.name == image
                                        and c.index.name == index), "pip")
    base = steps.base_for(m, image=image, index=index, installer=installer,
                          packages=PackageSet(name="solve", requirements=tuple(requirements), modules=modules))
    target = search_target(base)
    offers = {canonicalize_name(r.name): releases.offered(base.index, r.name, target)
              for r in parsed if solve.exact(r) is None}
    stepper = search_setup(args, m, base)
    directory = results_dir(args, m)
    records = store.load_results(directory) if directory.is_dir() else []
    known = facts.learned(records, image=image, index=index)
    if known:
        print(f"Known from {len(records)} stored result(s) of {image} / {index}: {len(known)} fact(s)")
        for fact in known:
            print(f"  {fact.text()}")
    solution = solve.solve(base, [str(r) for r in parsed], offers, stepper, known=known, matrix=m)
    regenerate_tables(m, directory, args.doc)
    print()
    for line in solution.lines():
        print(line)
    if args.json:
        write_json_atomic(args.json, solution.to_json())
    return solution.exit_code


def cmd_plan(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from . import installers, plan

    uv = installers.uv_binary()
    for m in load_all(args.matrices or [default_matrix()]):
        cells = matrix_mod.select(m.cells, args.only)
        predictions = []
        for cell in cells:
            predictions.append(plan.predict(cell, uv=uv))
            print(f"[{len(predictions)}/{len(cells)}] {cell.id}: {predictions[-1].outcome} "
                  f"({predictions[-1].seconds:.1f} s)")
        rows = []
        for cell, pred in zip(cells, predictions):
            shown = ", ".join(f"{n} {pred.versions[n]}" for n in table.shown_names(list(cell.packages.requirements))
                              if n in pred.versions) or table.DASH
            rows.append([cell.id, f"{pred.target.platform}, Python {pred.target.python}", pred.outcome, shown,
                         (pred.evidence or pred.target.assumed or ("",))[0]])
        print(tabulate(rows, headers=("Cell", "Target", "Prediction", "Versions", "Evidence"), tablefmt="github",
                       disable_numparse=True))
        directory = results_dir(args, m)
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / "plan.json", {"matrix": m.name, "cells": [p.to_json() for p in predictions]})
        print(f"Wrote {directory / 'plan.json'}")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    for m in load_all(args.matrices or [default_matrix()]):
        results = regenerate_tables(m, results_dir(args, m), args.doc)
        print(table.summary_line(results))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from . import build, images
    from .model import local_image_ref

    matrices = load_all(args.matrices or [default_matrix()])
    wanted = images.needed_local_images([img for m in matrices for img in m.images])
    recipes = list(dict.fromkeys(img for m in matrices for img in m.images if img.dockerfile))
    if args.action == "list":
        for recipe, arch in wanted:
            print(local_image_ref(recipe, arch))
        for img in recipes:
            print(img.tag)
        return 0
    engine = choose_backend("docker")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for recipe, arch in wanted:
        ref = local_image_ref(recipe, arch)
        if not engine.can_run(arch):
            print(f"SKIPPED {ref}: this host cannot run {arch.platform} (no QEMU binfmt emulation registered)")
            continue
        try:
            done = images.build_local(recipe, arch, engine, workdir=workdir, force=args.force)
        except images.ImageBuildError as exc:
            print(f"ERROR {ref}: {exc}", file=sys.stderr)
            failures += 1
            continue
        print(f"{done.ref}: {f'built in {done.seconds:.1f} s' if done.built else done.reason}")
    for img in recipes:
        if engine.has_image(img.tag) and not args.force:
            print(f"{img.tag}: exists")
            continue
        try:
            print(f"{img.tag}: built in {build.build_dockerfile(img):.1f} s")
        except build.BuildError as exc:
            print(f"ERROR {img.tag}: {exc}\n  hint: {exc.hint}", file=sys.stderr)
            failures += 1
    return images.ImageBuildError.exit_code if failures else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from . import hostfacts

    backend = choose_backend("auto", log=lambda _: None)  # the backend a run would use
    facts = backend.host_facts()
    access = backend.gpu_access(facts)
    if args.json:
        name, why = hostfacts.default_matrix(facts)
        print(json.dumps({**facts.to_json(), "backend": backend.name, "gpu_access": access,
                          "default_matrix": {"file": str(MATRICES / name), "why": why},
                          "problems": hostfacts.problems(facts)}, indent=2, sort_keys=True))
    else:
        print(hostfacts.render(facts, access))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    backend = choose_backend(args.backend)
    removed = backend.clean(args.run_id)
    for line in removed:
        print(f"removed {line}")
    print(f"{len(removed)} leftover container(s) removed")
    if args.caches:
        cleared = backend.clear_caches()
        for line in cleared:
            print(f"removed cache {line}")
        print(f"{len(cleared)} shared download cache(s) emptied ({backend.name} backend)")
    return 0


def jobs_value(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cells or 'auto'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} cells at once: give 1 or more, or 'auto'")
    return value


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


def size_value(text: str) -> int:
    value = matrix_mod.parse_size(text)
    if value is None or value < matrix_mod.MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size of at least "
                                         f"{matrix_mod.MIN_MEMORY >> 20} MiB, like 6G or 512M")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wheel-harness", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run matrix cells and record results")
    run.add_argument("matrices", nargs="*", type=Path,
                     help="matrix files (default: the matrix for this host, see `doctor`)")
    run.add_argument("--only", action="append", default=[], metavar="PATTERN",
                     help="run only cells whose id matches this shell pattern (repeatable)")
    run.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="where cells run (auto: Docker when an engine answers, else host venvs)")
    run.add_argument("--keep", action="store_true", help="keep each cell's container for debugging")
    run.add_argument("--timeout", type=float, help="per-cell timeout in seconds (overrides the matrix)")
    run.add_argument("--results", default="results", help="results root (default: results)")
    run.add_argument("--doc", action="append", type=Path, default=[],
                     help="another Markdown document whose table to regenerate (repeatable)")
    run.add_argument("--no-plan", action="store_true",
                     help="do not predict cells with uv (their results then store no prediction, and cells "
                          "with unpinned requirements are never reused)")
    run.add_argument("--jobs", type=jobs_value, default=1, metavar="N|auto",
                     help="cells at once (auto: 75%% of the cores, capped by memory; default 1)")
    run.add_argument("--memory", type=size_value, metavar="SIZE",
                     help="memory limit of a cell that sets none, e.g. 6G (default: this machine's memory "
                          "divided by --jobs); no swap")
    run.add_argument("--force", action="append", nargs="?", const="*", default=[], metavar="PATTERN",
                     help="run cells again even when their inputs did not change (all, or those whose id "
                          "matches PATTERN; repeatable)")
    run.add_argument("--cold", action="store_true",
                     help="give cells empty download caches (measures a cold install; the shared caches "
                          "are left as they are)")
    run.add_argument("--progress", choices=("auto", "live", "lines"), default="auto",
                     help="a live table on a terminal, plain lines elsewhere (auto), or as named")

    pln = sub.add_parser("plan", help="predict every cell's install with uv, without containers, in seconds")
    pln.add_argument("matrices", nargs="*", type=Path)
    pln.add_argument("--only", action="append", default=[], metavar="PATTERN")
    pln.add_argument("--results", default="results", help="plan.json goes to RESULTS/<matrix>/")
    pln.set_defaults(func=cmd_plan)
    run.set_defaults(func=cmd_run)

    def search_options(cmd: argparse.ArgumentParser, max_cells: int | None) -> None:
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
        cmd.add_argument("--backend", choices=BACKENDS, default="auto")
        cmd.add_argument("--results", default="results", help="results root (default: results)")
        cmd.add_argument("--doc", action="append", type=Path, default=[],
                         help="another Markdown document whose table to regenerate (repeatable)")
        cmd.add_argument("--timeout", type=float, help="per-cell timeout in seconds (overrides the matrix)")
        cmd.add_argument("--memory", type=size_value, metavar="SIZE", help="memory limit of each cell, e.g. 6G")
        cmd.add_argument("--jobs", type=jobs_value, default=1, metavar="N|auto",
                         help="cells at once where a search runs several (bisect: both ends; default 1)")
        cmd.add_argument("--progress", choices=("auto", "live", "lines"), default="auto")
        cmd.add_argument("--json", type=Path, metavar="FILE", help="also write the answer as JSON to FILE")

    bis = sub.add_parser("bisect", help="find the release of a package that first broke a cell (or fixed it)")
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
    bis.set_defaults(func=cmd_bisect)

    sol = sub.add_parser("solve", help="find the newest set of pins that works best on an image and index")
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
    sol.set_defaults(func=cmd_solve)

    val = sub.add_parser("validate", help="check matrix files without running anything")
    val.add_argument("files", nargs="+", type=Path)
    val.add_argument("--dockerfiles", action="store_true",
                     help="also have BuildKit parse every Dockerfile the matrices name (needs a docker client)")
    val.set_defaults(func=cmd_validate)

    tab = sub.add_parser("table", help="regenerate results tables from stored results")
    tab.add_argument("matrices", nargs="*", type=Path)
    tab.add_argument("--results", default="results")
    tab.add_argument("--doc", action="append", type=Path, default=[])
    tab.set_defaults(func=cmd_table)

    img = sub.add_parser("images", help="build (or list) the local base images a matrix needs")
    img.add_argument("action", choices=("build", "list"))
    img.add_argument("matrices", nargs="*", type=Path)
    img.add_argument("--force", action="store_true", help="rebuild images that exist")
    img.add_argument("--workdir", default=".cache/images", help="where root filesystem tarballs are made")
    img.set_defaults(func=cmd_images)

    doc = sub.add_parser("doctor", help="describe this host: Jetson/JetPack, CUDA, GPUs, engine, emulation")
    doc.add_argument("--json", action="store_true", help="machine-readable output")
    doc.set_defaults(func=cmd_doctor)

    cln = sub.add_parser("clean", help="remove containers left behind by runs (e.g. after --keep)")
    cln.add_argument("--run-id", help="only this run's containers")
    cln.add_argument("--caches", action="store_true",
                     help="also empty the shared download caches (pip's and uv's) cells of this backend use")
    cln.add_argument("--backend", choices=("docker", "host"), default="docker",
                     help="whose leftovers and caches (default: docker)")
    cln.set_defaults(func=cmd_clean)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped like Ctrl-C (every running cell removed and recorded), exit 143."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


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


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except HarnessError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        chain, seen = [], exc
        while seen is not None:  # Ctrl-C in a parallel run arrives wrapped by the runner
            chain.append(seen)
            seen = seen.__context__
        what = "Terminated" if any(isinstance(e, Terminated) for e in chain) else "Interrupted"
        print(f"{what}: the running cells' containers were removed; finished cells are in the results.",
              file=sys.stderr)
        return 143 if what == "Terminated" else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
