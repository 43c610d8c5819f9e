"""The command line: `wheel-harness run|plan|bisect|solve|validate|table|report|diff|merge|images|doctor|clean`.

Also `python -m harness`.

Library code raises HarnessError; only this module turns errors into an `ERROR …` line, a hint and
an exit code: 0 all cells passed (or could not run on this host at all), 1 a cell failed,
2 bad input (matrix, arguments), 3 the engine, an image build, an index or the results disk failed us, 130 interrupted.
`bisect` and `solve` exit 0 with an answer and 1 when there is none in the range or the budget.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import threading
from pathlib import Path

from harness import __version__
from harness.backends.choose import BACKENDS, choose_backend
from harness.errors import HarnessError, MatrixError
from harness.files import write_json_atomic
from harness.matrix import reader as matrix_mod
from harness.model import INSTALLERS, CellResult, Matrix, Verdict
from harness.reports import columns, documents, jobsummary, junit, table
from harness.results import store

MATRICES = Path("matrices")


def default_matrix(facts=None, log=print) -> Path:
    """The matrix for this host when none is named: it says which and why."""
    from harness.backends import hostfacts

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
    """The results folder's README and each `--doc`: the standard table, and the tables the matrix
    declares. A `--doc` gets the tables whose markers it has; one with none of this matrix's markers
    gets the standard table added (and is created when missing). The README gets every table."""
    ids = {c.id for c in m.cells}
    stored = store.load_results(directory)
    results = [r for r in stored if r.get("cell_id") in ids or is_step_of(r, m)]
    if len(results) < len(stored):
        print(f"Left out of the table: {len(stored) - len(results)} stored result(s) for cells no longer in {m.source}")
    if not results:  # never replace a table (maybe a committed one) by an empty one
        print(f"No stored results for {m.name} in {directory}: tables left as they are (run the matrix first)")
        return results
    rendered = table.render_table(results)
    timeline = store.load_timeline(directory)
    declared = [(spec, columns.render(spec, m.cells, timeline)) for spec in m.tables]
    readme = directory / "README.md"
    for doc in [readme, *docs]:
        named = [spec for spec, _ in declared if documents.has_block(doc, m.name, spec.name)]
        changed = False
        if doc == readme or not named or documents.has_block(doc, m.name):
            changed |= documents.regenerate(doc, m.name, rendered)
        for spec, text in declared:
            if doc == readme or spec in named:
                changed |= documents.regenerate(doc, m.name, text, name=spec.name, title=spec.title or spec.name)
        print(f"{'Updated' if changed else 'Unchanged'}: {doc}")
    return results


def write_junit(path: Path | None, records: list[dict]) -> None:
    if path is not None and records:
        junit.write(path, records)
        print(f"Wrote JUnit XML: {path}")


def job_summary(m: Matrix, results: list[dict], run_id: str | None = None) -> None:
    """Under GitHub Actions, append this matrix's summary, unexpected cells and table to the job page."""
    if results:
        text = jobsummary.render(m.name, results, table.render_table(results), run_id=run_id)
        written = jobsummary.append(os.environ, text)
        if written:
            print(f"Appended the job summary: {written}")


def cmd_merge(args: argparse.Namespace) -> int:
    """Results from several machines or shards as one result set and one table per matrix."""
    from harness.results import merge

    records = merge.merge(args.sources)
    folders = merge.write(records, Path(args.results))
    for name, folder in folders.items():
        mine = store.load_results(folder)
        rendered = table.render_table(mine)
        for doc in [folder / "README.md", *args.doc]:
            changed = documents.regenerate(doc, name, rendered)
            print(f"{'Updated' if changed else 'Unchanged'}: {doc}")
        hosts = sorted({r["merged"]["host"] for r in mine if isinstance(r.get("merged"), dict)})
        print(f"{name}: {table.summary_line(mine)}; from {len(args.sources)} source(s), {len(hosts)} machine(s): "
              + ", ".join(hosts))
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            written = jobsummary.append(os.environ, jobsummary.render(name, mine, rendered))
            if written:
                print(f"Appended the job summary: {written}")
    write_junit(args.junit, records)
    return 0


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
    from harness.backends import dockerfile

    broken = 0
    for img in m.images:
        if img.dockerfile:
            problem = dockerfile.check_dockerfile(Path(img.dockerfile))
            if problem:
                print(f"{path}: images.{img.name}.dockerfile: BuildKit cannot parse it: {problem}", file=sys.stderr)
                broken += 1
    return broken


def run_options(args: argparse.Namespace, backend, facts, **kw):
    """The options cells of a run (or of a search's steps) run with: GPU access and mounts for this
    host, how many at once, each cell's timeout and memory limit."""
    from harness.backends.base import Mount
    from harness.run import runner, schedule

    gpu = backend.gpu_access(facts)
    # paths on the engine's machine (a Jetson's release file): its facts said they are there
    mounts = tuple(Mount(host=p, cell=p, engine_side=True) for p in gpu.get("mounts", ()))
    jobs = schedule.auto_jobs() if args.jobs == "auto" else args.jobs
    return runner.RunOptions(run_id=runner.new_run_id(), timeout=args.timeout, gpu=gpu["mode"], extra_mounts=mounts,
                             host_facts=facts.to_json(), jobs=jobs,
                             memory=args.memory if args.memory else schedule.default_cell_memory(jobs), **kw)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.backends import hostfacts
    from harness.run import progress, runner

    for value in list(args.force):  # `--force matrices/x.toml`: a bare --force followed by a matrix file
        if value.endswith(".toml") and Path(value).is_file():
            args.force[args.force.index(value)] = "*"
            args.matrices.append(Path(value))
    backend = chosen_backend(args)
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
    records: list[dict] = []
    for m in matrices:
        cells = matrix_mod.select(m.cells, args.only)
        if not cells:
            raise HarnessError(f"{m.source}: no cell matches {' '.join(args.only)}",
                               hint=f"cell ids look like {m.cells[0].id}")
        if args.shard:
            cells = shard_cells(m, cells, args)
            if not cells:
                continue
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
        this_run = [r.to_json() for r in results]
        job_summary(m, this_run, options.run_id)
        records += this_run
    write_junit(args.junit, records)
    return 1 if failed else 0


def chosen_backend(args: argparse.Namespace, log=print):
    """The backend `--backend` (and `--python`, which means the host backend) asks for."""
    python = getattr(args, "python", None)
    if python:
        if args.backend == "docker":
            raise HarnessError("--python names the interpreter whose environment host cells run over; it does not "
                               "apply to the docker backend", hint="drop --python, or use --backend host")
        found = shutil.which(python)
        if not found:
            raise HarnessError(f"--python {python}: no such interpreter",
                               hint="name a python executable, e.g. ~/venvs/torch/bin/python")
        return choose_backend("host", log=log, python=found)
    return choose_backend(args.backend, log=log)


def shard_cells(m: Matrix, cells: list, args: argparse.Namespace) -> list:
    """This shard's slice of the selected cells, said in one line."""
    from harness.run import schedule

    index, count = args.shard
    timings = stored_estimates(Path(args.shard_timings) / m.name, cells) if args.shard_timings else None
    if args.shard_timings and len(timings or {}) < len(cells):
        print(f"note: --shard-timings has no earlier result for {len(cells) - len(timings or {})} cell(s) of "
              f"{m.name}; they count as {schedule.NATIVE_GUESS:g} s")
    mine = schedule.shard(cells, index, count, timings)
    how = f"balanced by the timings in {args.shard_timings}" if timings else "by a hash of each cell id"
    print(f"Shard {index}/{count} of {m.name}: {len(mine)} of {len(cells)} cells ({how})")
    return mine


def stored_estimates(directory: Path, cells) -> dict[str, float]:
    """How long each cell took the last time it ran (for the ETA)."""
    from harness.run import schedule

    found = {}
    for cell in cells:
        record = store.latest(directory, cell.id)
        if record:
            found[cell.id] = schedule.estimate(cell, record)
    return found


def summarize(results: list[CellResult], run_id: str | None = None) -> int:
    """What a person must read first: the unexpected cells, then the expected known-bad ones, where the
    plan and the run differ, and the summary line. Returns the number of unexpected cells."""
    from harness.verdicts.classify import disagreement

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
    from harness.plan import releases
    from harness.run import runner

    return releases.target_for(*runner.target(base))


def search_setup(args: argparse.Namespace, m: Matrix, base):
    """What a search (bisect, solve) runs its steps with: the backend and the stepper (options, budget,
    results folder)."""
    from harness.answers import steps
    from harness.run import runner

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

    from harness.answers import bisection
    from harness.plan import releases

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

    from harness.answers import known, solve, steps
    from harness.model import PackageSet
    from harness.plan import releases

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
    learned = known.learned(records, image=image, index=index)
    if learned:
        print(f"Known from {len(records)} stored result(s) of {image} / {index}: {len(learned)} fact(s)")
        for fact in learned:
            print(f"  {fact.text()}")
    solution = solve.solve(base, [str(r) for r in parsed], offers, stepper, known=learned, matrix=m)
    regenerate_tables(m, directory, args.doc)
    print()
    for line in solution.lines():
        print(line)
    if args.json:
        write_json_atomic(args.json, solution.to_json())
    return solution.exit_code


def cmd_plan(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness import installers
    from harness.plan import prediction

    uv = installers.uv_binary()
    for m in load_all(args.matrices or [default_matrix()]):
        cells = matrix_mod.select(m.cells, args.only)
        predictions = []
        for cell in cells:
            predictions.append(prediction.predict(cell, uv=uv))
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
    records: list[dict] = []
    for m in load_all(args.matrices or [default_matrix()]):
        results = regenerate_tables(m, results_dir(args, m), args.doc)
        print(table.summary_line(results))
        records += results
    write_junit(args.junit, records)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """One page per matrix: those named (their cells' records), or with none named every matrix folder
    under --results that holds records (a merged results root in CI)."""
    from harness.errors import ReportError
    from harness.files import write_text_atomic
    from harness.reports import html

    if args.matrices:
        sources = []
        for m in load_all(args.matrices):
            ids = {c.id for c in m.cells}
            directory = results_dir(args, m)
            sources.append((m.name, directory, [r for r in store.load_results(directory) if r.get("cell_id") in ids],
                            f"run the matrix first: wheel-harness run {m.source}"))
    else:
        folders = store.matrix_folders(Path(args.results))
        if not folders:
            raise ReportError(f"{args.results}: no matrix folder with stored results",
                              hint="run a matrix first, or name one: wheel-harness report matrices/smoke.toml")
        sources = [(d.name, d, store.load_results(d), "") for d in folders]
    if args.output and len(sources) > 1:
        raise HarnessError(f"--output names one file, but there are {len(sources)} matrices",
                           hint="leave out --output (each report goes to RESULTS/<matrix>/report.html), "
                                "or name one matrix")
    for name, directory, records, hint in sources:
        if not records:
            raise ReportError(f"{directory}: no stored results for the cells of {name}", hint=hint)
        matrix_name = str(records[0].get("matrix") or name)
        out = Path(args.output) if args.output else directory / "report.html"
        write_text_atomic(out, html.render(matrix_name, records, store.load_timeline(directory)))
        print(f"Wrote {out} ({len(records)} cells, {len(store.history_runs(directory))} earlier run(s) stored)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.files import write_text_atomic
    from harness.reports import diff as diff_mod

    old, new = store.read_results(args.old), store.read_results(args.new)
    found = diff_mod.compare(old, new, min_seconds=args.min_seconds, min_ratio=args.min_ratio)
    text = diff_mod.render_markdown(found, str(args.old), str(args.new))
    print(text, end="")
    if args.output:
        write_text_atomic(Path(args.output), text)
    return 0 if found else 1


def cmd_images(args: argparse.Namespace) -> int:
    from harness.backends import dockerfile, images
    from harness.model import local_image_ref

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
            print(f"{img.tag}: built in {dockerfile.build_dockerfile(img):.1f} s")
        except dockerfile.BuildError as exc:
            print(f"ERROR {img.tag}: {exc}\n  hint: {exc.hint}", file=sys.stderr)
            failures += 1
    return images.ImageBuildError.exit_code if failures else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from harness.backends import hostfacts

    backend = chosen_backend(args, log=lambda _: None)  # the backend a run with the same flags would use
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
    """Leftover containers, shared caches and unused images: by hand, or on a long-lived CI runner."""
    backend = choose_backend(args.backend)
    removed = backend.clean(args.run_id, older_than=args.older_than)
    for line in removed:
        print(f"removed {line}")
    age = f" older than {args.older_than:g} s" if args.older_than is not None else ""
    print(f"{len(removed)} leftover container(s){age} removed")
    if args.caches:
        cleared = backend.clear_caches()
        for line in cleared:
            print(f"removed cache {line}")
        print(f"{len(cleared)} shared download cache(s) emptied ({backend.name} backend)")
    elif args.caches_over is not None:
        if backend.name != "docker":
            raise HarnessError("--caches-over trims the engine's cache volumes",
                               hint="use --caches on the host backend")
        for line in backend.trim_caches(args.caches_over):
            print(line)
    if args.images:
        if backend.name != "docker":
            raise HarnessError("--images removes images from a container engine", hint="use --backend docker")
        keep = {img.tag for m in load_all(images_matrices(args.matrices)) for img in m.images}
        gone = backend.remove_images(keep)
        for tag in gone:
            print(f"removed image {tag}" if not tag.startswith("kept ") else tag)
        print(f"{sum(1 for t in gone if not t.startswith('kept '))} image(s) no matrix names removed")
    return 0


def images_matrices(named: list[Path]) -> list[Path]:
    """The matrices whose images `clean --images` keeps: those named, else every file in matrices/."""
    return list(named) or sorted(MATRICES.glob("*.toml"))


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
    from harness.run import schedule

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
    run.add_argument("--python", metavar="PATH",
                     help="the host backend over this interpreter's environment (a venv or conda env holding "
                          "torch); default: the interpreter running the harness")
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
    run.add_argument("--shard", type=shard_value, metavar="I/N",
                     help="run only shard I of N (every cell is in exactly one shard; stable when cells are "
                          "added elsewhere)")
    run.add_argument("--shard-timings", metavar="RESULTS",
                     help="balance the shards by the cells' times in this results root (every shard must be "
                          "given the same one, e.g. the last merged results)")
    run.add_argument("--progress", choices=("auto", "live", "lines"), default="auto",
                     help="a live table on a terminal, plain lines elsewhere (auto), or as named")
    run.add_argument("--junit", type=Path, metavar="FILE", help="also write this run's results as JUnit XML")

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
    tab.add_argument("--junit", type=Path, metavar="FILE", help="also write the stored results as JUnit XML")
    tab.set_defaults(func=cmd_table)

    rep = sub.add_parser("report", help="one self-contained HTML page: verdict grid, time and download charts, "
                                        "history")
    rep.add_argument("matrices", nargs="*", type=Path,
                     help="matrix files (default: every matrix folder with results under --results)")
    rep.add_argument("--results", default="results")
    rep.add_argument("--output", "-o", type=Path, help="the HTML file (default: RESULTS/<matrix>/report.html)")
    rep.set_defaults(func=cmd_report)

    dif = sub.add_parser("diff", help="compare two result folders (or files): exit 1 on a regression")
    dif.add_argument("old", type=Path,
                     help="the earlier results: a results/<matrix> folder, a results root, or a JSON file")
    dif.add_argument("new", type=Path, help="the later results")
    dif.add_argument("--min-seconds", type=float, default=5.0,
                     help="a time change below this many seconds is noise (default 5)")
    dif.add_argument("--min-ratio", type=float, default=0.25,
                     help="a time change below this share of the old time is noise (default 0.25)")
    dif.add_argument("--output", type=Path, help="also write the Markdown to this file (e.g. a PR comment)")
    dif.add_argument("--markdown", action="store_true",
                     help="print Markdown (what diff always prints: for a PR comment or >> $GITHUB_STEP_SUMMARY)")
    dif.set_defaults(func=cmd_diff)

    img = sub.add_parser("images", help="build (or list) the local base images a matrix needs")
    img.add_argument("action", choices=("build", "list"))
    img.add_argument("matrices", nargs="*", type=Path)
    img.add_argument("--force", action="store_true", help="rebuild images that exist")
    img.add_argument("--workdir", default=".cache/images", help="where root filesystem tarballs are made")
    img.set_defaults(func=cmd_images)

    doc = sub.add_parser("doctor", help="describe this host: Jetson/JetPack, CUDA, GPUs, engine, emulation")
    doc.add_argument("--json", action="store_true", help="machine-readable output")
    doc.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="describe this host as a run with this backend sees it (default: auto, as run)")
    doc.add_argument("--python", metavar="PATH", help="as run's --python (the host backend over that environment)")
    doc.set_defaults(func=cmd_doctor)

    mrg = sub.add_parser("merge", help="results from several machines or shards as one result set and table")
    mrg.add_argument("sources", nargs="+", type=Path,
                     help="results roots, results/<matrix> folders or JSON files of results (one per machine or shard)")
    mrg.add_argument("--results", required=True, help="the merged results root to write (e.g. merged/results)")
    mrg.add_argument("--doc", action="append", type=Path, default=[],
                     help="another Markdown document whose table to regenerate (repeatable)")
    mrg.add_argument("--junit", type=Path, help="also write the merged cells as JUnit XML")
    mrg.set_defaults(func=cmd_merge)

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
                          "else every file in matrices/)")
    cln.add_argument("matrices", nargs="*", type=Path, help="with --images: the matrices whose images stay")
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
