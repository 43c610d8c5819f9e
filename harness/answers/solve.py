"""`solve`: the newest set of pins of a chain (torch, torchao, torchtune by default; any packages named)
that gets the best verdict on an image and index variant — `pass`, else `degraded` with the fewest
losses. A set whose checks fail (`check-failed`) is not a working set, whatever its imports did: the
search prefers a set whose checks pass.

The search, newest first:

1. the releases the index variant offers for the target, within each requirement's specifier
   (harness.plan.releases): a release with no wheel for the target is skipped and named; an exact pin is
   taken as written;
2. `plan` rules out every release that cannot install on the target with the other requirements as
   given — before a single container starts;
3. pin sets in order, newest first, the last package named counting most: for the default chain the
   newest torchtune, then for it the newest torchao, then the newest torch — the chain is solved from
   the package you use down to the platform (pin what the device fixes, e.g. `torch==2.13.0`). A set
   is ruled out without a container when a known fact (harness.answers.known: stored results of this image
   and index variant, and every cell this search runs) says a pair in it fails, or that it loses at
   least as much as the best set found; or when plan says it cannot install. Otherwise it runs as an
   ordinary cell (harness.answers.steps);
4. the search stops at the first set that passes, when every set is decided, or when the budget
   (cells, seconds) is spent.

The answer is a pin set, why each newer set was rejected (its verdict and finding, or the fact or
plan that ruled it out), and a ready `[packages.…]` block for the matrix.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from harness.answers import known as facts_mod
from harness.answers import steps
from harness.answers.bisection import finding
from harness.checks import default_checks
from harness.errors import HarnessError
from harness.model import DEFAULT_CHECK_TIMEOUT, Cell, CellResult, Matrix, PackageSet, Verdict
from harness.pins import exact_version
from harness.plan import releases
from harness.verdicts.classify import degradations

SHOWN_REJECTED = 20
PLAN_WORKERS = 4


def declared_for(m: Matrix, names: Sequence[str]) -> PackageSet | None:
    """The package set of the matrix that names exactly these packages, if there is one."""
    wanted = sorted(canonicalize_name(n) for n in names)
    for packages in m.package_sets:
        if sorted(canonicalize_name(Requirement(r).name) for r in packages.requirements) == wanted:
            return packages
    return None


def modules_for(m: Matrix, names: Sequence[str]) -> tuple[str, ...]:
    """The modules a solve's cells import: those of a package set of the matrix that names exactly these
    packages, else the packages' own names as modules."""
    declared = declared_for(m, names)
    return declared.modules if declared else tuple(canonicalize_name(n).replace("-", "_") for n in names)


def package_set(m: Matrix, requirements: Sequence[str], modules: Sequence[str]) -> PackageSet:
    """The set a solve's cells are made from: with the checks of the matrix's package set that names
    exactly these packages, else the built-in checks of the packages (so a set whose checks fail is
    not taken for a working one)."""
    names = [Requirement(r).name for r in requirements]
    declared = declared_for(m, names)
    if declared is not None:
        return PackageSet(name="solve", requirements=tuple(requirements), modules=tuple(modules),
                          checks=declared.checks, check_requires=declared.check_requires,
                          check_timeout=declared.check_timeout)
    return PackageSet(name="solve", requirements=tuple(requirements), modules=tuple(modules),
                      checks=default_checks(requirements, modules))


def pin_text(req: Requirement, version: Version | str) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}=={version}" + (f"; {req.marker}" if req.marker else "")


def losses(result: CellResult) -> int:
    """How much a degraded result lost: the messages that say function was lost."""
    probe = result.probe or {}
    return max(1, len(degradations(probe.get("imports") or (), probe)))


def rank(result: CellResult) -> tuple[int, int] | None:
    """(0, 0) for pass, (1, losses) for degraded, None for a set that does not work."""
    if result.verdict is Verdict.PASS:
        return (0, 0)
    if result.verdict is Verdict.DEGRADED:
        return (1, losses(result))
    return None


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One pin set and what the search made of it."""

    pins: tuple[str, ...]  # as named, in the order named
    versions: Mapping[str, str]  # distribution → version pinned
    step: steps.Step | None = None  # None: ruled out by a fact, before any cell
    rejected: str | None = None  # why it is not the answer (None for the answer, or a working set)

    def label(self) -> str:
        return ", ".join(f"{n} {v}" for n, v in self.versions.items())


@dataclass(frozen=True, kw_only=True)
class Solution:
    names: tuple[str, ...]
    base: Cell
    best: Decision | None = None
    decided: tuple[Decision, ...] = ()
    skipped: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # name → (version, why)
    candidates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name → versions kept, newest first
    untried: int = 0  # sets never decided (the search stopped first)
    stopped: str | None = None  # why the search stopped before deciding every set, if it did
    counts: Mapping[str, int] = field(default_factory=dict)
    cost: str = ""
    run_id: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.best is not None else 1

    @property
    def best_result(self) -> CellResult | None:
        return self.best.step.result if self.best and self.best.step else None

    def lines(self) -> list[str]:
        out = []
        result = self.best_result
        if self.best is None or result is None:
            out.append("No working set: " + (self.stopped or "no pin set passes or is degraded on this target"))
        else:
            verdict = result.verdict.value
            extra = f" with {losses(result)} loss(es): {finding(result.hint)}" if verdict == "degraded" else ""
            out.append(f"Newest working set: {self.best.label()} — {verdict}{extra}")
            if result.verdict is not Verdict.PASS:
                out.append("  no set passes " + (f"among those decided ({self.stopped}; {self.untried} set(s) "
                                                  "not tried, one of them may pass)" if self.stopped
                                                  else "on this target: every set was decided"))
        at = self.decided.index(self.best) if self.best in self.decided else len(self.decided)
        newer = [d for d in self.decided[:at] if d.rejected]
        if newer:
            out.append("Newer sets, and why each was rejected:")
            out += [f"  {d.label()}: {d.rejected}" for d in newer[:SHOWN_REJECTED]]
            if len(newer) > SHOWN_REJECTED:
                out.append(f"  … and {len(newer) - SHOWN_REJECTED} more")
        older = self.decided[at + 1:]
        if older:
            out.append("Older sets tried while looking for a pass:")
            out += [f"  {d.label()}: {d.rejected or self._outcome(d)}" for d in older[:SHOWN_REJECTED]]
            if len(older) > SHOWN_REJECTED:
                out.append(f"  … and {len(older) - SHOWN_REJECTED} more")
        for name, gone in self.skipped.items():
            for version, why in gone:
                out.append(f"Skipped {name} {version}: {why}")
        if self.best is not None and self.best.step:
            out.append("For the matrix:")
            out += ["  " + line if line else "" for line in self.block().splitlines()]
        out.append(f"Cells: {self.cost}")
        return out

    @staticmethod
    def _outcome(d: Decision) -> str:
        return d.step.outcome() if d.step else "—"

    def block(self) -> str:
        """The answer as TOML for a matrix: the package set (named as its cell was, so a run of the
        matrix finds the stored result; with the checks it ran where they are not the default, a file of
        the user's by its absolute path), and an include expecting its verdict when it is not pass."""
        cell = self.best.step.cell if self.best and self.best.step else None
        result = self.best_result
        if cell is None or result is None:
            return ""
        name = cell.packages.name
        lines = [f"[packages.{json.dumps(name)}]",
                 f"requirements = [{', '.join(json.dumps(r) for r in cell.packages.requirements)}]",
                 f"modules = [{', '.join(json.dumps(m) for m in cell.packages.modules)}]"]
        packages = cell.packages
        if packages.checks != default_checks(packages.requirements, packages.modules):  # the checks it ran
            lines.append(f"checks = [{', '.join(json.dumps(c) for c in packages.checks)}]")
        if packages.check_requires:
            lines.append(f"check_requires = [{', '.join(json.dumps(r) for r in packages.check_requires)}]")
        if packages.check_timeout != DEFAULT_CHECK_TIMEOUT:
            lines.append(f"check_timeout = {packages.check_timeout:g}")
        if result.verdict is not Verdict.PASS:
            lines += ["", "[[matrix.include]]", f"image = {json.dumps(cell.image.name)}",
                      f"index = {json.dumps(cell.index.name)}", f"packages = {json.dumps(name)}"]
            if cell.installer != "pip":
                lines.append(f"installer = {json.dumps(cell.installer)}")
            lines.append(f"expect = {json.dumps(result.verdict.value)}")
            if result.hint:
                lines.append(f"why = {json.dumps(finding(result.hint))}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        result = self.best_result
        return {"names": list(self.names), "best": list(self.best.pins) if self.best else None,
                "verdict": result.verdict.value if result is not None else None,
                "cell_id": self.best.step.cell.id if self.best and self.best.step else None,
                "decided": [{"pins": list(d.pins), "rejected": d.rejected,
                             "cell_id": d.step.cell.id if d.step else None} for d in self.decided],
                "skipped": {n: dict(v) for n, v in self.skipped.items()}, "untried": self.untried,
                "stopped": self.stopped, "counts": dict(self.counts), "run_id": self.run_id, "block": self.block()}


@dataclass(kw_only=True)
class Candidates:
    """Stage 1's answer: each package's releases to try (newest first; an exact pin is its one version),
    and those skipped, with why."""

    names: tuple[str, ...]  # canonical names, in chain order
    by_name: dict[str, Requirement]
    kept: dict[str, list[str]]
    skipped: dict[str, tuple[tuple[str, str], ...]]

    def pins(self, versions: Mapping[str, str]) -> tuple[str, ...]:
        """The requirements of one set: an exact pin kept as written, anything else pinned to its version."""
        return tuple(str(req) if exact_version(req) else pin_text(req, versions[name])
                     for name, req in self.by_name.items())


def candidates(base: Cell, requirements: Sequence[str], offers: Mapping[str, releases.Offered]) -> Candidates:
    """1. The releases of each package that install on the target (releases.judge), newest first."""
    reqs = [Requirement(r) for r in requirements]
    names = tuple(canonicalize_name(r.name) for r in reqs)
    if len(set(names)) != len(names):
        raise HarnessError("a package is named twice: " + ", ".join(requirements), hint="name each package once")
    found = Candidates(names=names, by_name=dict(zip(names, reqs)), kept={}, skipped={})
    for name, req in found.by_name.items():
        pinned = exact_version(req)
        if pinned is not None:
            found.kept[name] = [pinned]
            continue
        offer = offers[name]
        allow = bool(req.specifier.prereleases)
        usable = offer.usable(specifier=req.specifier, prereleases=allow)
        found.skipped[name] = tuple((str(v), why) for v, why in offer.skipped(specifier=req.specifier,
                                                                              prereleases=allow))
        found.kept[name] = [str(v) for v in reversed(usable)]
        if not found.kept[name]:
            raise HarnessError(f"no release of {name} matching {req.specifier or 'any version'} installs on "
                               f"{base.image.name} with index variant {base.index.name} ({offer.target})",
                               hint=f"asked: {', '.join(offer.sources)}; loosen the requirement or choose another "
                                    "index variant or image")
    return found


def rule_out_by_plan(found: Candidates, stepper: steps.Stepper, cell: Callable[[Sequence[str]], Cell],
                     log: Callable[[str], None] = print) -> str | None:
    """2. plan rules out each release that cannot install with the others as required, before any cell;
    why the search cannot start (a package left with no release), or None."""
    names, by_name = found.names, found.by_name
    asks = [(name, version) for name in names if len(found.kept[name]) > 1 for version in found.kept[name]]
    if not asks:
        return None

    def release_cell(name: str, version: str) -> Cell:
        return cell([pin_text(by_name[n], version) if n == name else str(by_name[n]) for n in names])

    log(f"Asking plan about {len(asks)} release(s) before any cell runs …")
    with concurrent.futures.ThreadPoolExecutor(max_workers=PLAN_WORKERS) as pool:
        predictions = list(pool.map(lambda a: stepper.predict(release_cell(*a)), asks))
    for (name, version), prediction in zip(asks, predictions):
        outcome = (prediction or {}).get("outcome")
        if outcome in steps.CANNOT_INSTALL:
            said = (prediction or {}).get("evidence") or []
            why = f"plan: cannot install here with {', '.join(str(by_name[n]) for n in names if n != name)} " \
                  f"({outcome})" + (f": {said[0]}" if said else "")
            found.kept[name].remove(version)
            found.skipped[name] = (*found.skipped.get(name, ()), (version, why))
            stepper.pruned += 1
            log(f"  ruled out {name} {version}: {why}")
    return next((f"no release of {n} can install here with the others" for n in names if not found.kept[n]), None)


@dataclass(kw_only=True)
class Search:
    """Stage 3's state: the sets decided so far, the best, and what stopped the search."""

    known: list[facts_mod.Fact]
    decided: list[Decision] = field(default_factory=list)
    best: Decision | None = None
    best_rank: tuple[int, int] | None = None
    stopped: str | None = None
    untried: int = 0

    def ruled_out(self, versions: Mapping[str, str]) -> tuple[str, str] | None:
        """(rejection, why) when known facts rule a set out without a cell: it fails with a known pair, or
        it cannot lose less than the best found (a known loss at least as large)."""
        fails = next((f for f in self.known if f.verdict is not Verdict.DEGRADED and f.holds_for(versions)), None)
        if fails:
            return f"known: {fails.text()}", f"known: {fails.why}"
        if self.best_rank is not None and self.best is not None:
            loses = [f for f in self.known if f.verdict is Verdict.DEGRADED and f.holds_for(versions)]
            if loses and max(f.losses for f in loses) >= self.best_rank[1]:
                worst = max(loses, key=lambda f: f.losses)
                return (f"cannot beat {self.best.label()} (degraded, {self.best_rank[1]} loss(es)): "
                        f"known: {worst.text()}", f"cannot beat the best found: {worst.why}")
        return None

    def judge(self, pins: tuple[str, ...], versions: dict[str, str], step: steps.Step, label: str) -> None:
        """A set's cell has a verdict: it becomes the best (the earlier best then rejected), or rejected."""
        result = step.result
        self.known += [f for f in facts_mod.from_record(result.to_json()) if f not in self.known]
        got = rank(result)
        reason = finding(result.hint) or (result.evidence[0] if result.evidence else "")
        if got is None:
            self.decided.append(Decision(pins=pins, versions=versions, step=step,
                                         rejected=f"{result.verdict.value}: {reason} ({step.cell.id})"))
        elif self.best_rank is None or got < self.best_rank:
            best = self.best
            if best is not None and self.best_rank is not None:  # the earlier best is newer but worse
                older = "passes" if got == (0, 0) else f"loses less ({got[1]})"
                self.decided[self.decided.index(best)] = Decision(
                    pins=best.pins, versions=best.versions, step=best.step,
                    rejected=f"degraded with {self.best_rank[1]} loss(es): {finding(best.step.result.hint)}; "
                             f"{label} {older} ({best.step.cell.id})")
            self.best, self.best_rank = Decision(pins=pins, versions=versions, step=step), got
            self.decided.append(self.best)
        else:
            self.decided.append(Decision(pins=pins, versions=versions, step=step,
                                         rejected=f"degraded with {got[1]} loss(es), no fewer than "
                                                  f"{self.best.label()}: {reason} ({step.cell.id})"))


def search(found: Candidates, stepper: steps.Stepper, cell: Callable[[Sequence[str]], Cell],
           known: Sequence[facts_mod.Fact] = (), log: Callable[[str], None] = print) -> Search:
    """3. Pin sets, newest first, the last package named counting most, until one passes, the budget is
    spent, or none is left."""
    names = found.names
    order = list(reversed(names))
    total = math.prod(len(found.kept[n]) for n in names)
    state = Search(known=list(known))
    for n, combo in enumerate(itertools.product(*(found.kept[name] for name in order)), start=1):
        versions = {name: combo[order.index(name)] for name in names}
        pins = found.pins(versions)
        label = ", ".join(f"{k} {v}" for k, v in versions.items())
        out = state.ruled_out(versions)
        if out:
            state.decided.append(Decision(pins=pins, versions=versions, rejected=out[0]))
            log(f"solve [{n}/{total}] {label}: ruled out, {out[1]}")
            continue
        spent = stepper.spent()
        if spent:
            state.stopped, state.untried = spent, total - n + 1
            return state
        log(f"solve [{n}/{total}] {label} …")
        [step] = stepper.run([cell(pins)])
        if step.unrun:
            state.stopped, state.untried = step.unrun, total - n + 1
            return state
        if step.pruned:
            state.decided.append(Decision(pins=pins, versions=versions, step=step, rejected=step.pruned))
            log(f"solve [{n}/{total}] {label}: {step.pruned}")
            continue
        if not step.judged:
            state.decided.append(Decision(pins=pins, versions=versions, step=step,
                                          rejected=f"could not be judged ({', '.join(step.unjudged) or 'no verdict'})"))
            continue
        state.judge(pins, versions, step, label)
        log(f"solve [{n}/{total}] {label}: {step.outcome()}")
        if state.best_rank == (0, 0):
            state.untried = total - n
            return state
    return state


def solve(base: Cell, requirements: Sequence[str], offers: Mapping[str, releases.Offered], stepper: steps.Stepper,
          *, known: Sequence[facts_mod.Fact] = (), matrix: Matrix | None = None,
          log: Callable[[str], None] = print) -> Solution:
    """The newest pin set with the best verdict (see the module's docstring): candidates, ruled out by
    plan, then searched."""
    found = candidates(base, requirements, offers)
    names = found.names
    log(f"Solving {', '.join(requirements)} on {base.image.name} / {base.index.name} ({base.installer}): "
        + ", ".join(f"{n}: {len(found.kept[n])} release(s)" for n in names))

    def cell(pins: Sequence[str]) -> Cell:
        return steps.step_cell(base, pins, made_by="solve", matrix=matrix)

    cannot = rule_out_by_plan(found, stepper, cell, log)
    if cannot:
        return Solution(names=names, base=base, skipped=found.skipped,
                        candidates={n: tuple(found.kept[n]) for n in names}, stopped=cannot,
                        counts=stepper.counts(), cost=stepper.counts_text(), run_id=stepper.options.run_id)
    skipped = {n: v for n, v in found.skipped.items() if v}
    state = search(found, stepper, cell, known, log)
    return Solution(names=names, base=base, best=state.best, decided=tuple(state.decided), skipped=skipped,
                    candidates={n: tuple(found.kept[n]) for n in names}, untried=state.untried,
                    stopped=state.stopped, counts=stepper.counts(), cost=stepper.counts_text(),
                    run_id=stepper.options.run_id)
