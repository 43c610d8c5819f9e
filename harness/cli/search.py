"""`bisect` and `solve`: answers built from cells, each step a cell stored with the matrix's results."""

from __future__ import annotations

import argparse
import dataclasses

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.answers import bisection, known, solve, steps
from harness.backends.choose import choose_backend
from harness.cli.args import load_all, results_dir, run_options, the_cell
from harness.errors import HarnessError
from harness.files import write_json_atomic
from harness.model import Matrix, Verdict
from harness.pins import exact_version
from harness.plan import releases
from harness.plan.target import Target
from harness.reports import publish
from harness.results import store
from harness.run.prefetch import prefetch

DEFAULT_CHAIN = ("torch", "torchao", "torchtune")


def search_setup(args: argparse.Namespace, m: Matrix, base):
    """What a search (bisect, solve) runs its steps with: the backend and the stepper (options, budget,
    results folder)."""
    backend = choose_backend(args.backend)
    facts = backend.host_facts()
    options = run_options(args, backend, facts)
    prefetch([base])
    live = None if args.progress == "auto" else args.progress == "live"
    stepper = steps.Stepper(m, backend, options, results_dir=results_dir(args, m), retries=args.retries,
                            budget=steps.Budget(cells=args.max_cells, seconds=args.max_time), live=live)
    print(f"Run {options.run_id} on the {backend.name} backend; GPU access: {options.gpu}; steps are stored in "
          f"{results_dir(args, m)}")
    return stepper


def answered(answer, args: argparse.Namespace, m: Matrix) -> int:
    """A search's end: the matrix's tables (its steps are in them), the answer, its JSON, its exit code."""
    publish.matrix_tables(m, results_dir(args, m), args.doc)
    print()
    for line in answer.lines():
        print(line)
    if args.json:
        write_json_atomic(args.json, answer.to_json())
    return answer.exit_code


def cmd_bisect(args: argparse.Namespace) -> int:
    [m] = load_all([args.matrix])
    cell = the_cell(m, args.cell)
    base = dataclasses.replace(cell, installer=args.installer or cell.installer)
    question = bisection.Question(base=base, package=canonicalize_name(args.package),
                                  good=bisection.version(args.good, "good version"),
                                  bad=bisection.version(args.bad, "bad version"),
                                  bad_verdicts=frozenset(Verdict(v) for v in args.bad_verdict))
    offer = releases.offered(base.index, question.package, Target.of(base))
    bisection.check(question, offer)  # bad input is said before a backend or a cell starts
    stepper = search_setup(args, m, base)
    return answered(bisection.bisect(question, offer, stepper, matrix=m), args, m)


def cmd_solve(args: argparse.Namespace) -> int:
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
    modules = tuple(args.modules) or solve.modules_for(m, [r.name for r in parsed])
    installer = args.installer or next((c.installer for c in m.cells if c.image.name == image
                                        and c.index.name == index), "pip")
    base = steps.base_for(m, image=image, index=index, installer=installer,
                          packages=solve.package_set(m, requirements, modules))
    target = Target.of(base)
    offers = {canonicalize_name(r.name): releases.offered(base.index, r.name, target)
              for r in parsed if exact_version(r) is None}
    stepper = search_setup(args, m, base)
    directory = results_dir(args, m)
    records = store.load_results(directory) if directory.is_dir() else []
    learned = known.learned(records, image=image, index=index)
    if learned:
        print(f"Known from {len(records)} stored result(s) of {image} / {index}: {len(learned)} fact(s)")
        for fact in learned:
            print(f"  {fact.text()}")
    return answered(solve.solve(base, [str(r) for r in parsed], offers, stepper, known=learned, matrix=m), args, m)
