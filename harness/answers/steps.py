"""The steps of a search (`bisect`, `solve`): a pin set → an ordinary cell, run (or reused from the
result cache) through the runner and stored under results/<matrix>/ like any other cell.

A step's package set is named after its pins (`torch-2.13.0_torchao-0.16.0_torchtune-0.6.1`), so
bisect, solve and later runs find the same cell for the same pins and reuse its result; where the
matrix itself declares a cell with exactly those pins, modules and installer, that cell is the step.
Before a step's container starts, `plan` predicts it (the runner's prediction step): a pin set uv
cannot install on the target is not run. A step that ends with an infrastructure verdict is run again
(up to `retries` more times): an outage says nothing about the packages. A budget (cells run,
seconds) bounds how many containers a search starts; a reused result costs nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.backends.base import Backend
from harness.errors import HarnessError
from harness.model import Cell, CellResult, Matrix, PackageSet, Verdict
from harness.pins import exact_version
from harness.run import progress, runner
from harness.run.options import RunOptions

CANNOT_INSTALL = ("no-distribution", "conflict")  # plan outcomes that rule a pin set out before it runs
NAME_MAX = 90
OPERATORS = {"==": "", "===": "", ">=": "ge", "<=": "le", "!=": "ne", "~=": "compat", ">": "gt", "<": "lt"}


def requirement_name(text: str) -> str:
    return canonicalize_name(Requirement(text).name)


def ordered(requirements: Sequence[str]) -> tuple[str, ...]:
    """Requirements in one order (by distribution name), so the same pins make the same cell and key."""
    return tuple(sorted(requirements, key=lambda r: (requirement_name(r), r)))


def _safe(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def set_name(requirements: Sequence[str]) -> str:
    """A package-set name made from the pins: `torch-2.13.0_torchao-0.16.0_torchtune-0.6.1` (a bare
    requirement is its name; a range, extras or a marker add a short hash of the whole set)."""
    parts, whole = [], True
    for text in ordered(requirements):
        req = Requirement(text)
        specs = list(req.specifier)
        plain = not (req.extras or req.marker or req.url)
        pinned = exact_version(req)
        if plain and pinned is not None:
            parts.append(f"{canonicalize_name(req.name)}-{_safe(pinned)}")
        elif plain and not specs:
            parts.append(str(canonicalize_name(req.name)))
        else:
            whole = False
            parts.append(canonicalize_name(req.name) + "".join(f"-{OPERATORS.get(s.operator, 'x')}{_safe(s.version)}"
                                                               for s in specs))
    name = "_".join(parts)
    if not whole or len(name) > NAME_MAX:
        digest = hashlib.sha256("\n".join(ordered(requirements)).encode()).hexdigest()[:8]
        name = f"{name[:NAME_MAX - 9].rstrip('_-.')}-{digest}"
    return name


def step_cell(base: Cell, requirements: Sequence[str], *, made_by: str, matrix: Matrix | None = None) -> Cell:
    """The cell that measures `requirements` where `base` runs (its image, index variant, installer,
    modules, limits): the matrix's own cell when it declares exactly this one, else a step cell."""
    pins = ordered(requirements)
    for declared in (matrix.cells if matrix else ()):
        if (declared.image == base.image and declared.index == base.index and declared.installer == base.installer
                and sorted(declared.packages.requirements) == sorted(pins)
                and declared.packages.modules == base.packages.modules
                and declared.packages.checks == base.packages.checks):
            return declared
    packages = dataclasses.replace(base.packages, name=set_name(pins), requirements=pins, made_by=made_by)
    return dataclasses.replace(base, packages=packages, expect="pass", expect_why=None)


@dataclass(frozen=True, kw_only=True)
class Budget:
    cells: int | None = None  # cells run (containers started); reused results cost nothing
    seconds: float | None = None  # wall time of the search; a running cell is not cut short


@dataclass(frozen=True, kw_only=True)
class Step:
    """One pin set of a search and what became of it."""

    cell: Cell
    result: CellResult | None = None  # the judged result, or the last attempt's when none judged it
    prediction: Mapping[str, Any] | None = None
    pruned: str | None = None  # why plan ruled it out before its container started (it cannot install here)
    unrun: str | None = None  # why it did not run: the budget was spent
    ran: int = 0  # containers started for it (0: reused, or not run)
    unjudged: tuple[str, ...] = ()  # the verdicts of attempts that said nothing about the packages

    @property
    def judged(self) -> bool:
        """The step has a verdict about the packages (not an outage, a limit, or a skipped cell)."""
        return self.result is not None and not (self.result.verdict.is_infrastructure
                                                or self.result.verdict is Verdict.SKIPPED)

    @property
    def verdict(self) -> Verdict | None:
        return self.result.verdict if self.judged and self.result is not None else None

    @property
    def reused(self) -> bool:
        return self.result is not None and self.ran == 0

    def outcome(self) -> str:
        """`pass (ran 12.3 s)`, `import-failed (reused)`, `not run: …`, for a person."""
        if self.pruned or self.unrun:
            return f"not run: {self.pruned or self.unrun}"
        if self.result is None:
            return "not run"
        how = "reused" if self.reused else f"ran {self.result.timings.get('total', 0):.1f} s"
        tries = f", after {', '.join(self.unjudged)}" if self.unjudged and self.judged else ""
        return f"{self.result.verdict.value} ({how}{tries})"


class Stepper:
    """Runs a search's steps as ordinary cells of `matrix`, counting what they cost."""

    def __init__(self, matrix: Matrix, backend: Backend, options: RunOptions, *, results_dir: Path,
                 log: Callable[[str], None] = print, retries: int = 2, budget: Budget = Budget(),
                 live: bool | None = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.matrix, self.backend, self.options = matrix, backend, options
        self.results_dir, self.log, self.retries, self.budget = Path(results_dir), log, retries, budget
        self.live, self.clock = live, clock
        self.began = clock()
        predict = runner.predictor(options, log)
        if predict is None:
            raise HarnessError("a search needs `plan` (uv) to predict each step before its container starts",
                               hint="install uv (a dependency of the harness) and do not pass --no-plan")
        self._predict = predict
        self.predictions: dict[str, Mapping[str, Any] | None] = {}
        self.ran = self.reused = self.retried = self.pruned = 0

    def predict(self, cell: Cell) -> Mapping[str, Any] | None:
        if cell.id not in self.predictions:
            self.predictions[cell.id] = self._predict(cell)
        return self.predictions[cell.id]

    def spent(self) -> str | None:
        """Why the budget allows no more cells, or None."""
        if self.budget.cells is not None and self.ran >= self.budget.cells:
            return f"the budget of {self.budget.cells} cell(s) is spent"
        if self.budget.seconds is not None and self.clock() - self.began >= self.budget.seconds:
            return f"the budget of {self.budget.seconds:g} s is spent"
        return None

    def counts(self) -> dict[str, int]:
        return {"ran": self.ran, "reused": self.reused, "retried": self.retried, "pruned": self.pruned}

    def counts_text(self) -> str:
        return (f"{self.ran} cell(s) run, {self.reused} reused from earlier results, {self.retried} retried after "
                f"an infrastructure verdict, {self.pruned} ruled out by plan before a container started; "
                f"{self.clock() - self.began:.0f} s")

    def run(self, cells: Sequence[Cell]) -> list[Step]:
        """Each cell's step: predicted, then run (together, up to the run's jobs) unless plan rules it
        out or the budget is spent; infrastructure verdicts are run again up to `retries` times."""
        steps: dict[str, Step] = {}
        todo: list[Cell] = []
        for cell in dict((c.id, c) for c in cells).values():
            prediction = self.predict(cell)
            outcome = (prediction or {}).get("outcome")
            if outcome in CANNOT_INSTALL:
                said = (prediction or {}).get("evidence") or []
                steps[cell.id] = Step(cell=cell, prediction=prediction,
                                      pruned=f"plan: uv cannot install it here ({outcome})"
                                             + (f": {said[0]}" if said else ""))
                self.pruned += 1
                self.log(f"  {cell.id}: ruled out by plan ({outcome})")
            else:
                steps[cell.id] = Step(cell=cell, prediction=prediction)
                todo.append(cell)
        while todo:
            spent = self.spent()
            if spent:
                for cell in todo:
                    steps[cell.id] = dataclasses.replace(steps[cell.id], unrun=spent)
                break
            left = None if self.budget.cells is None else self.budget.cells - self.ran
            batch = todo if left is None or left >= len(todo) else todo[:1]  # one by one near the end
            for result in self._run(batch):
                step = steps[result.cell_id]
                ran = not (result.reused and result.reused.get("by_run") == self.options.run_id)
                self.ran += ran
                self.reused += not ran
                unjudged = step.unjudged
                if result.verdict.is_infrastructure:
                    unjudged += (result.verdict.value,)
                steps[result.cell_id] = dataclasses.replace(step, result=result, ran=step.ran + ran, unjudged=unjudged)
            done = {c.id for c in batch}
            retry = [c for c in batch if steps[c.id].result is not None and steps[c.id].result.verdict.is_infrastructure
                     and len(steps[c.id].unjudged) <= self.retries]
            for cell in retry:
                self.retried += 1
                self.log(f"  {cell.id}: {steps[cell.id].result.verdict.value} says nothing about the packages: "
                         f"running it again (retry {len(steps[cell.id].unjudged)} of {self.retries})")
            todo = retry + [c for c in todo if c.id not in done]
        return [steps[c.id] for c in dict((c.id, c) for c in cells).values()]

    def _run(self, cells: list[Cell]) -> list[CellResult]:
        reporter = progress.reporter(len(cells), log=self.log, live=self.live, jobs=self.options.jobs)
        predictions = {c.id: self.predictions[c.id] for c in cells if self.predictions.get(c.id)}
        return runner.run_cells(self.matrix, cells, self.backend, self.options, results_dir=self.results_dir,
                                log=self.log, predictions=predictions, reporter=reporter)


def base_for(matrix: Matrix, *, image: str, index: str, installer: str, packages: PackageSet) -> Cell:
    """A cell of `matrix` for `image` and `index` to build steps on (its limits, retries and timeout),
    with `packages` and `installer`; the index variant is filled for the image."""
    from harness.matrix import templates

    images = {i.name: i for i in matrix.images}
    indexes = {i.name: i for i in matrix.indexes}
    for kind, name, declared in (("image", image, images), ("index variant", index, indexes)):
        if name not in declared:
            raise HarnessError(f"{matrix.source}: no {kind} {name!r}",
                               hint=f"the matrix declares: {', '.join(declared) or 'none'}")
    like = next((c for c in matrix.cells if c.image.name == image and c.index.name == index), None)
    like = like or next((c for c in matrix.cells if c.image.name == image), None)
    filled = templates.fill(indexes[index], images[image])
    if like is None:
        return Cell(image=images[image], index=filled, packages=packages, timeout=matrix.timeout, installer=installer)
    return dataclasses.replace(like, index=filled, packages=packages, installer=installer, expect="pass",
                               expect_why=None)
