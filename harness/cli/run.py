"""`run`, `plan` and `validate`: run a matrix's cells, predict them, or check the files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import installers
from harness.backends import dockerfile, hostfacts
from harness.cli.args import chosen_backend, default_matrix, load_all, results_dir, run_options
from harness.errors import HarnessError
from harness.files import write_json_atomic
from harness.matrix import reader
from harness.model import Matrix
from harness.plan import prediction
from harness.reports import console, plans, publish
from harness.results import store
from harness.run import progress, runner, schedule
from harness.run.prefetch import prefetch


def cmd_run(args: argparse.Namespace) -> int:
    for value in list(args.force):  # `--force matrices/x.toml`: a bare --force followed by a matrix file
        if value.endswith(".toml") and Path(value).is_file():
            args.force[args.force.index(value)] = "*"
            args.matrices.append(Path(value))
    backend = chosen_backend(args)
    facts = backend.host_facts()
    matrices = load_all(args.matrices or [default_matrix(facts)])
    options = run_options(args, backend, facts, keep=args.keep, shared_caches=not args.cold, force=tuple(args.force),
                          plan=not args.no_plan)
    print(f"Run {options.run_id} on the {backend.name} backend; GPU access: {options.gpu}; {options.jobs} cell(s) "
          "at once" + ("; cold caches" if args.cold else ""))
    for problem in hostfacts.problems(facts):
        print(f"note: {problem}")
    failed = 0
    records: list[dict] = []
    for m in matrices:
        cells = reader.select(m.cells, args.only)
        if not cells:
            raise HarnessError(f"{m.source}: no cell matches {' '.join(args.only)}",
                               hint=f"cell ids look like {m.cells[0].id}")
        if args.shard:
            cells = shard_cells(m, cells, args)
            if not cells:
                continue
        prefetch(cells)
        directory = results_dir(args, m)
        reporter = progress.reporter(len(cells), jobs=options.jobs, live=None if args.progress == "auto"
                                     else args.progress == "live", estimates=stored_estimates(directory, cells))
        try:
            results = runner.run_cells(m, cells, backend, options, results_dir=directory, reporter=reporter)
        except KeyboardInterrupt:
            if any(directory.glob("*.json")):  # keep the table true to the cells that finished
                publish.matrix_tables(m, directory, args.doc)
            raise
        publish.matrix_tables(m, directory, args.doc)
        for line in console.findings(results, options.run_id):
            print(line)
        failed += sum(1 for r in results if not r.expected)
        this_run = [r.to_json() for r in results]
        publish.job_summary(m.name, this_run, options.run_id)
        records += this_run
    publish.write_junit(args.junit, records)
    publish.step_outputs(records)
    return 1 if failed else 0


def shard_cells(m: Matrix, cells: list, args: argparse.Namespace) -> list:
    """This shard's slice of the selected cells, said in one line."""
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
    found = {}
    for cell in cells:
        record = store.latest(directory, cell.id)
        if record:
            found[cell.id] = schedule.estimate(cell, record)
    return found


def cmd_plan(args: argparse.Namespace) -> int:
    uv = installers.uv_binary()
    for m in load_all(args.matrices or [default_matrix()]):
        cells = reader.select(m.cells, args.only)
        predictions = []
        for cell in cells:
            predictions.append(prediction.predict(cell, uv=uv).to_json())
            print(f"[{len(predictions)}/{len(cells)}] {cell.id}: {predictions[-1]['outcome']} "
                  f"({predictions[-1]['seconds']:.1f} s)")
        print(plans.render(cells, predictions))
        directory = results_dir(args, m)
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / "plan.json", {"matrix": m.name, "cells": predictions})
        print(f"Wrote {directory / 'plan.json'}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        problems = reader.validate(path)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            bad += 1
        else:
            m = reader.load(path)
            broken = check_recipes(m, path) if args.dockerfiles else 0
            bad += bool(broken)
            if not broken:
                print(f"{path}: ok, {len(m.cells)} cells")
    return 2 if bad else 0


def check_recipes(m: Matrix, path: Path) -> int:
    """Have BuildKit parse each Dockerfile the matrix names (nothing is pulled or built)."""
    broken = 0
    for img in m.images:
        if img.dockerfile:
            problem = dockerfile.check_dockerfile(Path(img.dockerfile))
            if problem:
                print(f"{path}: images.{img.name}.dockerfile: BuildKit cannot parse it: {problem}", file=sys.stderr)
                broken += 1
    return broken
