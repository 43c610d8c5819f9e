"""A declared table's findings, written out: what worked and what didn't, row by row, each approach's
verdict, its build times, image size and run time against the table's first row (the plan's "Original"),
and the evidence of each failure. Rendered from the same stored records as the table (harness.reports
.columns), so a plan document needs no hand edits; a renderer: no I/O, nothing about containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.model import INFRASTRUCTURE, Cell, TableSpec, Verdict
from harness.reports import columns, table

Records = columns.Records
EVIDENCE_IN_FINDINGS = 220
SAME = 0.1  # within 10 % a time is "about the same", within 1 % a size is "the same"
SECTIONS = (
    ("worked", "What worked"),
    ("loss", "What worked, with a loss"),
    ("failed", "What didn't"),
    ("not-judged", "Not judged here"),
)


@dataclass(frozen=True, kw_only=True)
class Measured:
    """What a row's records say, in numbers: the latest of each build kind, the image size, the run."""

    cold: float | None
    cached: float | None
    size: int | None
    run: float | None
    installs: bool  # the cell installed something when it started (a run-time install)

    @classmethod
    def of(cls, records: Records) -> Measured:
        latest = records[-1]
        built = columns.builds(records)
        installed = any(p.get("phase") == "install" and p.get("status") in ("ok", "failed")
                        for p in latest.get("phases") or ())
        return cls(cold=(built.get("cold") or [None])[-1], cached=(built.get("cached") or [None])[-1],
                   size=columns.image_size(latest), run=columns.run_seconds(latest), installs=installed)


def faster(value: float | None, base: float | None) -> str | None:
    """`6× faster than`, `1.4× slower than`, `about as fast as`; None when either is unknown."""
    if value is None or base is None or value <= 0 or base <= 0:
        return None
    ratio = base / value
    if abs(ratio - 1) < SAME:
        return "about as fast as"
    if ratio > 1:
        return f"{ratio:.0f}× faster than" if ratio >= 2 else f"{ratio:.1f}× faster than"
    slower = 1 / ratio
    return f"{slower:.0f}× slower than" if slower >= 2 else f"{slower:.1f}× slower than"


def smaller(value: int | None, base: int | None) -> str | None:
    """`38 % smaller than`, `12 % larger than`, `the same size as`; None when either is unknown."""
    if value is None or base is None or base <= 0:
        return None
    change = (base - value) / base * 100
    if abs(change) < 1:
        return "the same size as"
    return f"{abs(change):.0f} % {'smaller' if change > 0 else 'larger'} than"


def _seconds(value: float | None) -> str:
    return table.format_seconds(value)


def measures(measured: Measured, base: Measured | None, base_name: str) -> list[str]:
    """The row's numbers, each against the baseline's where both are known."""
    parts = []
    if measured.size is not None:
        text = f"image {table.format_bytes(measured.size)}"
        against = smaller(measured.size, base.size) if base else None
        if against:
            text += f", {against} {base_name}'s"
        if measured.installs:
            text += " (the packages are installed when the container starts, not in it)"
        parts.append(text)
    for kind, value, other in (("cold", measured.cold, base.cold if base else None),
                               ("cached", measured.cached, base.cached if base else None)):
        if value is None:
            continue
        against = faster(value, other)
        parts.append(f"{kind} build {_seconds(value)}" + (f", {against} {base_name}'s {_seconds(other)}"
                                                          if against else ""))
    if measured.cold is None and measured.cached is None:
        parts.append("no build measured (the image was there)" if measured.size is not None else "no image")
    if measured.run is not None:
        against = faster(measured.run, base.run if base else None)
        parts.append(f"run {_seconds(measured.run)}" + (f", {against} {base_name}'s {_seconds(base.run)}"
                                                        if against and base else "")
                     + (" (install included)" if measured.installs else ""))
    return parts


def section(record: Mapping[str, Any]) -> str:
    verdict = str(record.get("verdict") or "")
    if verdict == Verdict.PASS.value:
        return "worked"
    if verdict == Verdict.DEGRADED.value:
        return "loss"
    if verdict == Verdict.SKIPPED.value or verdict in {v.value for v in INFRASTRUCTURE}:
        return "not-judged"
    return "failed"


def _verdict(record: Mapping[str, Any]) -> str:
    verdict = str(record.get("verdict") or "unknown")
    expect = (record.get("cell") or {}).get("expect", "pass")
    if verdict == Verdict.PASS.value and expect == verdict:
        return verdict
    met = record.get("expected", verdict == expect)
    return f"{verdict}, as expected" if met else f"{verdict}, expected {expect}"


def _evidence(record: Mapping[str, Any]) -> str | None:
    lines = [" ".join(str(e).split()) for e in record.get("evidence") or () if str(e).strip()]
    if not lines:
        return None
    text = lines[0]
    if len(text) > EVIDENCE_IN_FINDINGS:  # its head and its tail: a long error says what failed last
        text = text[:EVIDENCE_IN_FINDINGS * 3 // 5].rstrip() + " … " + text[-(EVIDENCE_IN_FINDINGS * 2 // 5):].lstrip()
    return text.replace("`", "'")


def bullet(cell: Cell, records: Records, base: Measured | None, base_name: str,
           said: dict[tuple[str, str | None], str] | None = None) -> tuple[str, str]:
    """(section, Markdown list item) for a row with a stored result. `said` maps a (hint, evidence) pair
    already written out to the row that said it: a row with the same ones refers to it."""
    latest = records[-1]
    name = cell.approach or cell.id
    text = f"- **{name}** ({_verdict(latest)}): " + "; ".join(
        measures(Measured.of(records), None if name == base_name else base, base_name)) + "."
    if latest.get("verdict") != Verdict.PASS.value:
        why, evidence = " ".join(str(latest.get("hint") or "").split()), _evidence(latest)
        said = {} if said is None else said
        if (why, evidence) in said:
            return section(latest), text + f" Why: as for **{said[(why, evidence)]}**."
        said[(why, evidence)] = name
        if why:
            text += f" Why: {why}" + ("" if why.endswith(".") else ".")
        if evidence:
            text += f" Evidence: `{evidence}`"
    return section(latest), text


def render(spec: TableSpec, cells: Sequence[Cell], timeline: Mapping[str, Records]) -> str:
    """The findings of the declared table `spec` as Markdown: sections of list items, in the table's row
    order, each row's numbers against the first row's (the baseline)."""
    rows = columns.rows(spec, cells)
    first = next((r for r in rows if isinstance(r, Cell)), None)
    base_name = (first.approach or first.id) if first else ""
    base_records = timeline.get(first.id) if first else None
    base = Measured.of(base_records) if base_records else None
    grouped: dict[str, list[str]] = {key: [] for key, _ in SECTIONS}
    said: dict[tuple[str, str | None], str] = {}
    for row in rows:
        if isinstance(row, tuple):
            grouped["not-judged"].append(f"- **{row[0]}**: {columns.NOT_HERE}: {row[1]}")
            continue
        records = timeline.get(row.id) or ()
        if not records:
            grouped["not-judged"].append(f"- **{row.approach or row.id}**: {columns.NOT_RUN}.")
            continue
        key, text = bullet(row, records, base, base_name, said)
        grouped[key].append(text)
    intro = (f"Each approach against **{base_name}** (the first row). Build times: `cold` with no layer cache, "
             "`cached` from BuildKit's warm cache after a change to the recipe's source below its dependency "
             "layers; run: the container's start, any install, and the imports." if base else
             "No stored result for the table's first row yet: nothing to compare with.")
    out = [intro]
    for key, title in SECTIONS:
        if grouped[key]:
            out += ["", f"**{title}**", "", *grouped[key]]
    return "\n".join(out)
