"""Two sets of stored results compared (harness.results.store): what broke, what was fixed, which cells came and
went, which versions changed, which times moved beyond the noise, and how the indexes drifted (what
their ledgers say they offer: harness.reports.drift). A renderer: Markdown for a PR comment or a job
summary; `wheel-harness diff` exits 1 when there is a regression (or, with --fail-on, drift), so CI can
gate on it.

A regression is a cell that met its expectation before (its verdict was the one it expects, and the
run judged it: not skipped, not an infrastructure verdict) and now gets a verdict it does not expect.
A cell that now has an infrastructure verdict (an outage, a timeout) was not judged this time: it is
listed, never a regression. A fix is the other way round. A failed check is a finding like any other:
its cell's verdict (`check-failed`) makes the regression; each check whose outcome changed is listed too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from harness.model import INFRASTRUCTURE_VALUES, Verdict
from harness.reports import drift as drift_mod
from harness.reports import table

TIMED = ("total", "image", "install", "probe")  # the phases whose time changes are reported
MIN_SECONDS = 5.0  # a time change is noise unless it is at least this many seconds …
MIN_RATIO = 0.25  # … and at least this share of the old time

Key = tuple[str, str]  # (matrix, cell id)


@dataclass(frozen=True, kw_only=True)
class CellChange:
    key: Key
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    detail: str = ""

    @property
    def name(self) -> str:
        record = self.new or self.old or {}
        cell = record.get("cell") if isinstance(record.get("cell"), Mapping) else {}
        approach = f"{cell['approach']}: " if cell.get("approach") else ""
        return f"{approach}`{self.key[1]}`"


@dataclass(frozen=True, kw_only=True)
class Diff:
    regressions: tuple[CellChange, ...] = ()
    fixes: tuple[CellChange, ...] = ()
    unjudged: tuple[CellChange, ...] = ()  # now an infrastructure verdict: not judged this time
    verdicts: tuple[CellChange, ...] = ()  # other verdict changes (e.g. expected before and after)
    new_cells: tuple[CellChange, ...] = ()
    vanished: tuple[CellChange, ...] = ()
    versions: tuple[CellChange, ...] = ()
    checks: tuple[CellChange, ...] = ()  # checks whose outcome changed, came or went
    times: tuple[CellChange, ...] = ()
    thresholds: tuple[float, float] = field(default=(MIN_SECONDS, MIN_RATIO))
    drift: tuple[drift_mod.Drift, ...] = ()  # how the indexes changed between the two (worst first)
    drift_compared: bool | None = None  # both sides had index ledgers (False: one side had; None: neither)

    def gate(self, fail_on: Sequence[str] = ()) -> bool:
        """True when the gate passes: no regression, and none of the drift `fail_on` names ("drift": any,
        "replaced": a file replaced under the same name)."""
        kinds = {d.kind for d in self.drift}
        return bool(self) and not ("drift" in fail_on and kinds) and not ("replaced" in fail_on and
                                                                            "replaced" in kinds)

    def __bool__(self) -> bool:
        """True when there is no regression (the gate passes)."""
        return not self.regressions


def _key(record: Mapping[str, Any]) -> Key:
    return (str(record.get("matrix") or ""), str(record["cell_id"]))


def _expect(record: Mapping[str, Any]) -> str:
    cell = record.get("cell")
    return str(cell.get("expect", "pass")) if isinstance(cell, Mapping) else "pass"


def met(record: Mapping[str, Any]) -> bool:
    """The record's verdict is the one its cell expects (a skipped cell counts, as `run` counts it)."""
    verdict = str(record.get("verdict"))
    return bool(record.get("expected", verdict == _expect(record) or verdict == Verdict.SKIPPED.value))


def judged(record: Mapping[str, Any]) -> bool:
    """The run judged the combination: neither skipped nor an infrastructure verdict."""
    verdict = str(record.get("verdict"))
    return verdict != Verdict.SKIPPED.value and verdict not in INFRASTRUCTURE_VALUES


def _verdict(record: Mapping[str, Any]) -> str:
    verdict = str(record.get("verdict"))
    return verdict if met(record) else f"{verdict} (expected {_expect(record)})"


def _first_evidence(record: Mapping[str, Any]) -> str:
    return table.evidence_text(record).replace("\\|", "|")  # as written: _cell escapes it for the table


def distribution_versions(record: Mapping[str, Any]) -> dict[str, str]:
    probe = record.get("probe") if isinstance(record.get("probe"), Mapping) else {}
    dists = probe.get("distributions") if isinstance(probe.get("distributions"), Mapping) else {}
    out = {}
    for name, info in dists.items():
        version = info.get("version") if isinstance(info, Mapping) else info
        if version:
            out[canonicalize_name(str(name))] = str(version)
    return out


def version_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`torch 2.13.0 → 2.13.1`, `+numpy 2.4.6`, `-triton 3.2.0`: chain packages first, then by name."""
    before, after = distribution_versions(old), distribution_versions(new)
    if not before or not after:  # a cell that installed nothing on one side: its verdict says it all
        return []
    first = table.VERSION_PACKAGES
    names = sorted(set(before) | set(after), key=lambda n: (n not in first, first.index(n) if n in first else 0, n))
    out = []
    for name in names:
        if name not in before:
            out.append(f"+{name} {after[name]}")
        elif name not in after:
            out.append(f"-{name} {before[name]}")
        elif before[name] != after[name]:
            out.append(f"{name} {before[name]} → {after[name]}")
    return out


def check_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`torchao [cpu] passed → failed`, `+checks/quantize.py passed`, `-torch [cuda:0] passed`."""
    before = {table.check_name(c): str(c.get("outcome")) for c in table.check_records(old)}
    after = {table.check_name(c): str(c.get("outcome")) for c in table.check_records(new)}
    out = []
    for name in list(dict.fromkeys([*before, *after])):
        if name not in before:
            out.append(f"+{name} {after[name]}")
        elif name not in after:
            out.append(f"-{name} {before[name]}")
        elif before[name] != after[name]:
            out.append(f"{name} {before[name]} → {after[name]}")
    return out


def _seconds(record: Mapping[str, Any], phase: str) -> float | None:
    timings = record.get("timings") if isinstance(record.get("timings"), Mapping) else {}
    if phase == "probe":
        return table.run_seconds(record)
    value = timings.get(phase)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def time_changes(old: Mapping[str, Any], new: Mapping[str, Any], min_seconds: float = MIN_SECONDS,
                 min_ratio: float = MIN_RATIO) -> list[str]:
    """`install 31.9 s → 62.0 s (+94%)` for each timed phase that moved by both thresholds."""
    out = []
    for phase in TIMED:
        a, b = _seconds(old, phase), _seconds(new, phase)
        if a is None or b is None:
            continue
        delta = b - a
        if abs(delta) >= min_seconds and (a == 0 or abs(delta) / a >= min_ratio):
            share = f" ({delta / a:+.0%})" if a else ""
            out.append(f"{phase} {table.format_seconds(a)} → {table.format_seconds(b)}{share}")
    return out


def compare(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], *,
            min_seconds: float = MIN_SECONDS, min_ratio: float = MIN_RATIO,
            ledgers: tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]] | None = None) -> Diff:
    """What changed from the `old` records to the `new` ones, cell by cell (matched by matrix and id);
    with `ledgers` (the old records' and the new ones'), how the indexes drifted."""
    before = {_key(r): r for r in old}
    after = {_key(r): r for r in new}
    found: dict[str, list[CellChange]] = {k: [] for k in ("regressions", "fixes", "unjudged", "verdicts", "versions",
                                                          "checks", "times")}
    for key in sorted(set(before) & set(after)):
        a, b = before[key], after[key]
        change = CellChange(key=key, old=a, new=b, detail=_first_evidence(b))
        if met(a) and judged(a) and not met(b) and judged(b):
            found["regressions"].append(change)
        elif not met(b) and not judged(b) and (a.get("verdict") != b.get("verdict")):
            found["unjudged"].append(change)
        elif not met(a) and judged(a) and met(b) and judged(b):
            found["fixes"].append(CellChange(key=key, old=a, new=b, detail=_first_evidence(a)))
        elif a.get("verdict") != b.get("verdict"):
            found["verdicts"].append(change)
        versions = version_changes(a, b)
        if versions:
            found["versions"].append(CellChange(key=key, old=a, new=b, detail=", ".join(versions)))
        checks = check_changes(a, b)
        if checks:
            found["checks"].append(CellChange(key=key, old=a, new=b, detail=", ".join(checks)))
        times = time_changes(a, b, min_seconds, min_ratio)
        if times:
            found["times"].append(CellChange(key=key, old=a, new=b, detail="; ".join(times)))
    return Diff(
        **{k: tuple(v) for k, v in found.items()},
        new_cells=tuple(CellChange(key=k, old=None, new=after[k]) for k in sorted(set(after) - set(before))),
        vanished=tuple(CellChange(key=k, old=before[k], new=None) for k in sorted(set(before) - set(after))),
        thresholds=(min_seconds, min_ratio),
        drift=tuple(drift_mod.compare(ledgers[0], ledgers[1], drift_mod.tested_by(new))) if ledgers else (),
        drift_compared=None if not (ledgers and (ledgers[0] or ledgers[1])) else bool(ledgers[0] and ledgers[1]),
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def headline(diff: Diff) -> str:
    parts = [_plural(len(diff.regressions), "regression"), _plural(len(diff.fixes), "fix", "fixes"),
             _plural(len(diff.unjudged), "cell") + " not judged this time",
             _plural(len(diff.new_cells), "new cell"), _plural(len(diff.vanished), "vanished cell"),
             _plural(len(diff.versions), "cell") + " with version changes",
             *([_plural(len(diff.checks), "cell") + " with check changes"] if diff.checks else []),
             _plural(len(diff.times), "cell") + " with time changes"]
    if diff.regressions:
        parts[0] = f"**{parts[0]}**"
    if diff.drift_compared:
        n = drift_mod.counts(diff.drift)
        replaced = _plural(n["replaced"], "replaced file")
        parts += [f"**{replaced}**" if n["replaced"] else replaced, _plural(n["vanished"], "vanished offer"),
                  _plural(n["new-release"], "new release") + " not yet tested"]
    return ", ".join(parts)


def render_markdown(diff: Diff, old_name: str, new_name: str) -> str:
    """The diff as Markdown: a headline, then one table per kind of change that has any."""
    seconds, ratio = diff.thresholds
    lines = [f"## wheel-harness diff: {old_name} → {new_name}", "", headline(diff), ""]

    def section(title: str, changes: Sequence[CellChange], headers: tuple[str, ...], row) -> None:
        if not changes:
            return
        lines.extend([f"### {title}", "", "| " + " | ".join(headers) + " |",
                      "|" + "|".join("---" for _ in headers) + "|"])
        lines.extend("| " + " | ".join(_cell(c) for c in row(ch)) + " |" for ch in changes)
        lines.append("")

    def verdicts(ch: CellChange) -> tuple[str, ...]:
        return (ch.name, _verdict(ch.old or {}), _verdict(ch.new or {}), ch.detail)

    section("Regressions", diff.regressions, ("Cell", "Before", "Now", "Evidence now"), verdicts)
    section("Fixes", diff.fixes, ("Cell", "Before", "Now", "Evidence before"), verdicts)
    section("Not judged this time (infrastructure)", diff.unjudged, ("Cell", "Before", "Now", "Evidence now"),
            verdicts)
    section("Other verdict changes", diff.verdicts, ("Cell", "Before", "Now", "Evidence now"), verdicts)
    section("New cells", diff.new_cells, ("Cell", "Verdict"), lambda ch: (ch.name, _verdict(ch.new or {})))
    section("Vanished cells", diff.vanished, ("Cell", "Last verdict"), lambda ch: (ch.name, _verdict(ch.old or {})))
    section("Version changes", diff.versions, ("Cell", "Changes"), lambda ch: (ch.name, ch.detail))
    section("Check changes", diff.checks, ("Cell", "Changes"), lambda ch: (ch.name, ch.detail))
    section(f"Time changes (beyond {seconds:g} s and {ratio:.0%})", diff.times, ("Cell", "Changes"),
            lambda ch: (ch.name, ch.detail))
    lines += drift_markdown(diff)
    return "\n".join(lines).rstrip("\n") + "\n"


DRIFT_TITLES = {
    "replaced": "Replaced files: same name, another hash (a supply-chain red flag: find out who changed it)",
    "vanished": "No longer offered",
    "new-release": "New releases, not yet tested",
}


def drift_markdown(diff: Diff) -> list[str]:
    """The index drift as Markdown: one list per kind, the replaced files first and loud."""
    if diff.drift_compared is None:
        return []
    if not diff.drift_compared:
        return ["### Index drift", "", "Not compared: only one side's results have an index ledger (results "
                "written before the harness kept ledgers have none).", ""]
    if not diff.drift:
        return ["### Index drift", "", "The sources offer what they offered before.", ""]
    out = ["### Index drift", ""]
    for kind in drift_mod.KINDS:
        mine = [d for d in diff.drift if d.kind == kind]
        if mine:
            out += [f"#### {DRIFT_TITLES[kind]}", ""]
            out += [f"- {'**' if kind == 'replaced' else ''}{_cell(d.text())}{'**' if kind == 'replaced' else ''}"
                    for d in mine]
            out.append("")
    return out
