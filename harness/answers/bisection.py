"""`bisect`: the first release of a package that broke a cell (or that fixed it), among the releases
the cell's index variant offers for its target.

The cell gets one verdict with an older version of the package and another with a newer one (the
other pins fixed). Each step pins a release in between and runs it as an ordinary cell
(harness.answers.steps: stored and cached, ruled out by plan when it cannot install, infrastructure verdicts
run again) until two neighbouring releases differ. Releases with no wheel for the target are skipped
and named (harness.plan.releases). "Bad" is a verdict other than the good end's — a better one (pass
where the good end is degraded) counts as good — or, with `--bad`, one of the verdicts named. When
the good version is the newer one, the same search finds the first release that fixed it.

The answer quotes what changed between the last good and the first bad result: the verdict, the
installed versions, the evidence and the hint ("torchtune 0.6.1 imports int4_weight_only from
torchao.quantization, which torchao 0.17.0 does not provide").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.answers import steps
from harness.errors import HarnessError
from harness.model import Cell, CellResult, Matrix, Verdict
from harness.plan import releases
from harness.verdicts.checks import name_of

BETTER = (Verdict.PASS, Verdict.DEGRADED)  # best first: a verdict before the good end's counts as good
SHOWN = 4  # evidence lines quoted per side of the difference
TOOLING = frozenset({"pip", "setuptools", "wheel", "uv"})  # the venv's installer, not the packages measured


def version(text: str, what: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise HarnessError(f"{what} {text!r} is not a version (PEP 440), like 0.16.0") from None


@dataclass(frozen=True, kw_only=True)
class Question:
    base: Cell  # the cell whose package set is varied
    package: str  # the distribution to bisect (canonical name)
    good: Version
    bad: Version
    bad_verdicts: frozenset[Verdict] = frozenset()  # named with --bad; empty: anything but the good end's

    @property
    def fixing(self) -> bool:
        """The good version is the newer: find the first release that fixed it."""
        return self.good > self.bad

    def is_bad(self, verdict: Verdict, good_end: Verdict) -> bool:
        if self.bad_verdicts:
            return verdict in self.bad_verdicts
        if verdict is good_end:
            return False
        if good_end in BETTER and verdict in BETTER:
            return BETTER.index(verdict) > BETTER.index(good_end)
        return True

    def in_new_state(self, verdict: Verdict, good_end: Verdict) -> bool:
        """Whether a release is on the new side of the change: bad (looking for what broke it), or good
        again (looking for what fixed it, GOOD newer than BAD)."""
        bad = self.is_bad(verdict, good_end)
        return not bad if self.fixing else bad

    def bad_text(self, good_end: Verdict | None) -> str:
        if self.bad_verdicts:
            return " or ".join(sorted(v.value for v in self.bad_verdicts))
        return f"anything but {good_end.value}" + (" (or better)" if good_end is Verdict.DEGRADED else "") \
            if good_end else "a verdict other than the good end's"


def pinned(base: Cell, package: str, at: Version) -> tuple[str, ...]:
    """The base cell's requirements with `package` pinned to `at` (its extras and marker kept)."""
    out, found = [], False
    for text in base.packages.requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == package:
            found = True
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            text = f"{req.name}{extras}=={at}" + (f"; {req.marker}" if req.marker else "")
        out.append(text)
    if not found:
        raise HarnessError(f"package set {base.packages.name!r} does not require {package}",
                           hint="its requirements: " + ", ".join(base.packages.requirements)
                                + "; bisect one of them, or add it to the set")
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Answer:
    question: Question
    first: Version | None = None  # the first release in the new state: first bad (or first fixed)
    last: Version | None = None  # the release before it: last good (or last bad)
    tried: tuple[tuple[Version, steps.Step], ...] = ()  # in the order they were decided
    skipped: tuple[tuple[Version, str], ...] = ()  # releases in the range not tried, with why
    changed: tuple[str, ...] = ()  # what differs between the two results
    because: str | None = None  # the first bad result's finding, in the classifier's words
    none: str | None = None  # why there is no answer
    narrowed: tuple[Version, ...] = ()  # where no exact answer: the releases the first one is among
    counts: Mapping[str, int] = field(default_factory=dict)
    cost: str = ""
    run_id: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.first is not None and not self.none else 1

    def step_of(self, at: Version | None) -> steps.Step | None:
        return next((s for v, s in self.tried if v == at), None)

    def lines(self) -> list[str]:
        q = self.question
        name = q.package
        out = []
        good_end = self.step_of(q.good)
        good_verdict = good_end.verdict if good_end else None
        if self.first is not None and not self.none:
            first, last = self.step_of(self.first), self.step_of(self.last)
            if q.fixing:
                out.append(f"First release that fixed it: {name} {self.first} ({first.verdict.value}); "
                           f"last bad: {name} {self.last} ({last.verdict.value})")
            else:
                out.append(f"First bad release: {name} {self.first} ({first.verdict.value}); "
                           f"last good: {name} {self.last} ({last.verdict.value})")
            if self.because:
                out.append(f"  because: {self.because}")
        else:
            out.append(f"No answer: {self.none}")
            if self.narrowed:
                out.append(f"  the first {'fixed' if q.fixing else 'bad'} release is one of: "
                           + ", ".join(f"{name} {v}" for v in self.narrowed))
        out.append(f"  (bad: {q.bad_text(good_verdict)}; other pins as in {q.base.packages.name}: "
                   + ", ".join(r for r in q.base.packages.requirements if canonicalize_name(Requirement(r).name)
                               != name) + ")")
        if self.changed:
            before, after = (self.last, self.first)
            out.append(f"What changed from {name} {before} to {after}:")
            out += [f"  {line}" for line in self.changed]
        if self.skipped:
            out.append("Releases in the range not tried:")
            out += [f"  {name} {v}: {why}" for v, why in self.skipped]
        out.append("Steps:")
        for v, step in sorted(self.tried, key=lambda pair: pair[0]):
            out.append(f"  {name} {v}: {step.outcome()} — {step.cell.id}")
        out.append(f"Cells: {self.cost}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"package": self.question.package, "good": str(self.question.good), "bad": str(self.question.bad),
                "fixing": self.question.fixing, "first": str(self.first) if self.first else None,
                "last": str(self.last) if self.last else None, "because": self.because,
                "changed": list(self.changed), "none": self.none, "narrowed": [str(v) for v in self.narrowed],
                "skipped": {str(v): why for v, why in self.skipped}, "counts": dict(self.counts),
                "run_id": self.run_id,
                "steps": {str(v): {"cell_id": s.cell.id, "outcome": s.outcome(),
                                   "verdict": s.result.verdict.value if s.result is not None else None}
                          for v, s in self.tried}}


def _installed(result: CellResult) -> dict[str, str]:
    dists = (result.probe or {}).get("distributions") or {}
    found = {canonicalize_name(k): str(v.get("version")) for k, v in dists.items() if isinstance(v, Mapping)}
    if not found:  # the install failed before the probe: what the installer reported
        items = (result.install or {}).get("items") or []
        found = {canonicalize_name(str(i.get("name"))): str(i.get("version")) for i in items if isinstance(i, Mapping)}
    return found


def changes(before: CellResult, after: CellResult) -> list[str]:
    """What differs between two results, in lines: the verdict, the installed versions, the evidence
    that appeared and that went, and the new hint."""
    out = [f"verdict: {before.verdict.value} → {after.verdict.value}"]
    was, now = _installed(before), _installed(after)
    moved = [f"{n} {was.get(n, 'not installed')} → {now.get(n, 'not installed')}"
             for n in sorted((set(was) | set(now)) - TOOLING) if was.get(n) != now.get(n)]
    if moved:
        out.append("installed: " + ", ".join(moved))
    checks_were = {name_of(c): c.get("outcome") for c in before.checks}
    checks_now = {name_of(c): c.get("outcome") for c in after.checks}
    turned = [f"{n} {checks_were.get(n, 'not run')} → {checks_now.get(n, 'not run')}"
              for n in dict.fromkeys([*checks_were, *checks_now]) if checks_were.get(n) != checks_now.get(n)]
    if turned:
        out.append("checks: " + ", ".join(turned))
    appeared = [e for e in after.evidence if e not in before.evidence]
    went = [e for e in before.evidence if e not in after.evidence]
    out += [f"now: {e}" for e in appeared[:SHOWN]] + ([f"now: … and {len(appeared) - SHOWN} more line(s)"]
                                                       if len(appeared) > SHOWN else [])
    out += [f"no longer: {e}" for e in went[:SHOWN]] + ([f"no longer: … and {len(went) - SHOWN} more line(s)"]
                                                         if len(went) > SHOWN else [])
    if after.hint and after.hint != before.hint:
        out.append(f"hint: {after.hint}")
    return out


def finding(hint: str | None) -> str | None:
    """The finding a hint states, without its advice: the part before its first ': '."""
    return hint.split(": ", 1)[0] if hint else None


def check(question: Question, offer: releases.Offered) -> None:
    """Bad input, before any cell runs: the set does not require the package, an end is not a release
    that installs on the target, or both ends are the same."""
    q = question
    name = q.package
    pinned(q.base, name, q.good)
    for end in (q.good, q.bad):
        release = offer.get(end)
        why = release.why_not(offer.target, prereleases=True) if release else "not a release it lists"
        if why:
            usable = [str(v) for v in offer.usable(prereleases=True)]
            raise HarnessError(f"{name} {end} cannot be bisected on {q.base.image.name} with index variant "
                               f"{q.base.index.name}: {why}",
                               hint=f"releases of {name} that install on this target: "
                                    + (", ".join(usable[-12:]) or "none") + f" (asked: {', '.join(offer.sources)})")
    if q.good == q.bad:
        raise HarnessError(f"the good and the bad version are both {q.good}", hint="name two different releases")


def ends(question: Question, stepper: steps.Stepper, cell: Callable[[Version], Cell],
         log: Callable[[str], None] = print) -> tuple[dict[Version, steps.Step], str | None]:
    """Both ends measured (side by side where --jobs allows); why bisecting cannot go on, or None: an
    end that could not be judged, a good end that counts as bad, a bad end that does not."""
    q, name = question, question.package
    tried: dict[Version, steps.Step] = {}
    log(f"Measuring both ends: {name} {q.good} (good) and {q.bad} (bad)")
    for v, step in zip((q.good, q.bad), stepper.run([cell(q.good), cell(q.bad)])):
        tried[v] = step
        log(f"  {name} {v}: {step.outcome()}")
    good_end, bad_end = tried[q.good], tried[q.bad]
    for v, step in ((q.good, good_end), (q.bad, bad_end)):
        if not step.judged:
            said = step.pruned or step.unrun or ", ".join(step.unjudged) or "no verdict"
            return tried, f"{name} {v} could not be judged ({said}): its verdict decides what bad means"
    if q.is_bad(good_end.verdict, good_end.verdict):
        return tried, f"the good end {name} {q.good} is {good_end.verdict.value}, which counts as bad"
    if not q.is_bad(bad_end.verdict, good_end.verdict):
        return tried, (f"the bad end {name} {q.bad} is {bad_end.verdict.value}, which does not count as bad "
                       f"({q.bad_text(good_end.verdict)}): nothing to bisect")
    return tried, None


def bisect(question: Question, offer: releases.Offered, stepper: steps.Stepper, *, matrix: Matrix | None = None,
           log: Callable[[str], None] = print) -> Answer:
    """Find the first release in the new state (bad, or fixed) between the two ends: the ends measured,
    then the range halved until the change sits between two neighbouring releases."""
    check(question, offer)
    q = question
    name = q.package
    old, new = sorted((q.good, q.bad))
    pre = old.is_prerelease or new.is_prerelease
    # between the ends by version order: a specifier `>OLD,<NEW` would leave out OLD's post-releases and NEW's
    # pre-releases (PEP 440), neither tried nor said
    candidates = [v for v in offer.usable(prereleases=pre) if old < v < new]
    skipped = {v: why for v, why in offer.skipped(prereleases=pre) if old < v < new}
    log(f"Bisecting {name} between {old} and {new} on {q.base.image.name} / {q.base.index.name} "
        f"({q.base.installer}): {len(candidates)} release(s) in between install on {offer.target}"
        + (f", {len(skipped)} skipped" if skipped else ""))
    for v, why in skipped.items():
        log(f"  skipped {name} {v}: {why}")

    def cell(at: Version) -> Cell:
        return steps.step_cell(q.base, pinned(q.base, name, at), made_by="bisect", matrix=matrix)

    tried, cannot = ends(q, stepper, cell, log)

    def answer(**kw: Any) -> Answer:
        return Answer(question=q, tried=tuple(tried.items()), skipped=tuple(sorted(skipped.items())),
                      counts=stepper.counts(), cost=stepper.counts_text(), run_id=stepper.options.run_id, **kw)

    if cannot:
        return answer(none=cannot)
    good_verdict = tried[q.good].verdict
    lo, hi = old, new
    unjudged: dict[Version, str] = {}
    while True:
        inner = [v for v in candidates if lo < v < hi and v not in skipped and v not in unjudged]
        if not inner:
            break
        spent = stepper.spent()
        if spent:
            left = [v for v in candidates if lo < v < hi]
            return answer(none=f"{spent} with {len(left)} release(s) left between {name} {lo} and {hi}",
                          narrowed=tuple([*left, hi]), last=lo)
        at = inner[(len(inner) - 1) // 2]
        log(f"Step: {name} {at} ({len(inner)} release(s) left between {lo} and {hi})")
        [step] = stepper.run([cell(at)])
        tried[at] = step
        log(f"  {name} {at}: {step.outcome()}")
        if step.unrun:
            left = [v for v in candidates if lo < v < hi]
            return answer(none=f"{step.unrun} with {len(left)} release(s) left between {name} {lo} and {hi}",
                          narrowed=tuple([*left, hi]), last=lo)
        if step.pruned:
            skipped[at] = step.pruned
        elif not step.judged:
            unjudged[at] = f"could not be judged ({', '.join(step.unjudged)})"
        elif q.in_new_state(step.verdict, good_verdict):
            hi = at
        else:
            lo = at
    for v, why in unjudged.items():
        skipped[v] = why
    open_between = [v for v in unjudged if lo < v < hi]
    if open_between:
        return answer(none=f"{len(open_between)} release(s) between {name} {lo} and {hi} could not be judged",
                      narrowed=tuple([*sorted(open_between), hi]), last=lo)
    before, after = tried[lo].result, tried[hi].result
    because = finding(after.hint) if not q.fixing else (f"fixes: {finding(before.hint)}" if before.hint else None)
    return answer(first=hi, last=lo, changed=tuple(changes(before, after)), because=because)
