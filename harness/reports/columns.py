"""Tables a matrix declares (`[tables.NAME]`): the rows the user chose (approach names or cell-id
patterns, in their order) and the columns they chose, under their own headers. A renderer of the
store's records, like harness.reports.table, whose cell formatters it shares; nothing about containers.

Each value a column can show is declared in model.TABLE_COLUMNS (header and definition; the docs'
matrix reference lists them); this module says how each is computed from a cell's records.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tabulate import tabulate

from harness.model import Cell, TableSpec, Verdict
from harness.reports import table

Records = Sequence[Mapping[str, Any]]  # one cell's records over the stored runs, oldest first, latest last
NOT_RUN = "not run yet"
NOT_HERE = "not run here"  # a row of the table's `elsewhere`: an approach no cell of the matrix runs
PHASES_RUN = ("container_start", "uv-bootstrap", "pip-upgrade", "install", "probe", "check-install",
              "checks")  # what the `run` column adds up


def select(spec: TableSpec, cells: Sequence[Cell]) -> list[Cell]:
    """The table's rows: for each entry, the cell of that approach name, else the cells whose id matches
    it as a shell pattern, in matrix order; each cell once. No entries: every cell."""
    return [row for row in rows(spec, cells) if isinstance(row, Cell)]


def _matching(entry: str, cells: Sequence[Cell]) -> list[Cell]:
    named = [c for c in cells if c.approach == entry]
    return named or [c for c in cells if fnmatch.fnmatchcase(c.id, entry)]


def _latest(records: Records) -> Mapping[str, Any] | None:
    return records[-1] if records else None


def builds(records: Records) -> dict[str, list[float]]:
    """The image's builds over the stored runs: kind (`cold`, `cached`) → seconds, oldest first. A record
    lists its builds (`image.builds`); an older one says only its image phase's kind and seconds."""
    seen: dict[str, list[float]] = {}
    for record in records:
        listed = (record.get("image") or {}).get("builds")
        if listed is None:
            timings = record.get("timings") or {}
            listed = [{"how": timings.get("image_build"), "seconds": timings.get("image")}]
        for build in listed:
            how, seconds = build.get("how"), build.get("seconds")
            if how in ("cold", "cached") and isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                seen.setdefault(how, []).append(float(seconds))
    return seen


def build_text(records: Records) -> str:
    """`cold 95.2 s, cached 1.3 s`: the image's builds over the stored runs, by kind; a kind measured
    more than once shows its range (`cached 0.3 s–0.6 s (2 builds)`)."""
    seen = builds(records)
    if not seen:
        if not records:
            return table.DASH
        if records[-1].get("verdict") == Verdict.IMAGE_UNAVAILABLE.value:
            return "no image"  # the notes say why
        return "no image (host backend)" if records[-1].get("backend") == "host" else "image present"
    parts = []
    for how in ("cold", "cached"):
        values = seen.get(how)
        if not values:
            continue
        low, high = table.format_seconds(min(values)), table.format_seconds(max(values))
        parts.append(f"{how} {low}" if low == high else f"{how} {low}–{high} ({len(values)} builds)")
    return ", ".join(parts)


def image_size(record: Mapping[str, Any]) -> int | None:
    """The bytes of the image the cell ran on, as the engine reported them."""
    size = (record.get("image") or {}).get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def run_seconds(record: Mapping[str, Any]) -> float | None:
    """Start plus install plus imports and checks: the container's start, the install phase (uv's
    bootstrap, a pip upgrade), the probe, and the user's checks with their install."""
    timings = record.get("timings") or {}
    seconds = [timings.get(p) for p in PHASES_RUN]
    numbers = [float(s) for s in seconds if isinstance(s, (int, float)) and not isinstance(s, bool)]
    return sum(numbers) if numbers else None


def summary_text(record: Mapping[str, Any]) -> str:
    """The verdict in a few words: `pass`, or `**degraded** (as expected): <hint>` (the notes have a
    column of their own)."""
    verdict = str(record.get("verdict") or "unknown")
    expect = (record.get("cell") or {}).get("expect", "pass")
    text = verdict if verdict == Verdict.PASS.value else f"**{verdict}**"
    if verdict != Verdict.PASS.value:
        met = record.get("expected", verdict == expect)  # older records say nothing: the declared expectation
        text += " (as expected)" if met else f" (expected {expect})"
        why = table.hint_text(record) or table.evidence_text(record)
        text += f": {why}" if why else ""
    return text


def expected_text(record: Mapping[str, Any]) -> str:
    expect = (record.get("cell") or {}).get("expect", "pass")
    return "yes" if record.get("expected", record.get("verdict") == expect) else f"no (expected {expect})"


def _of_latest(render: Callable[[Mapping[str, Any]], str]) -> Callable[[Cell, Records], str]:
    def column(cell: Cell, records: Records) -> str:
        record = _latest(records)
        return render(record) if record is not None else table.DASH
    return column


COLUMNS: Mapping[str, Callable[[Cell, Records], str]] = {
    "approach": lambda cell, _: (cell.approach or cell.id).replace("|", "\\|"),
    "cell": lambda cell, _: f"`{cell.id}`",
    "image": lambda cell, _: f"{cell.image.name} ({cell.image.arch.platform})",
    "index": lambda cell, _: cell.index.name,
    "packages": lambda cell, _: cell.packages.name,
    "installer": lambda cell, _: cell.installer,
    "build": lambda _, records: build_text(records),
    "size": _of_latest(lambda r: table.format_bytes(image_size(r))),
    "install": _of_latest(table.install_text),
    "run": _of_latest(lambda r: table.format_seconds(run_seconds(r))),
    "imports": _of_latest(lambda r: table.format_seconds(table.run_seconds(r))),
    "total": _of_latest(lambda r: table.format_seconds((r.get("timings") or {}).get("total"))),
    "downloaded": _of_latest(lambda r: table.format_bytes((r.get("install") or {}).get("downloaded_bytes"))),
    "versions": _of_latest(table.versions_text),
    "cuda": _of_latest(table.cuda_text),
    "verdict": _of_latest(table.verdict_text),
    "checks": _of_latest(table.checks_text),
    "expected": _of_latest(expected_text),
    "evidence": _of_latest(table.evidence_text),
    "hint": _of_latest(table.hint_text),
    "notes": _of_latest(table.notes_text),
    "summary": _of_latest(summary_text),
    "plan": _of_latest(table.plan_text),
}


def rows(spec: TableSpec, cells: Sequence[Cell]) -> list[Cell | tuple[str, str]]:
    """The table's rows in order: a cell, or (approach, why) for an approach of `elsewhere` (where the
    table's `cells` names it; at the end when it names none)."""
    if not spec.cells:
        return [*cells, *spec.elsewhere]
    away = dict(spec.elsewhere)
    out: list[Cell | tuple[str, str]] = []
    seen: set[str] = set()
    for entry in spec.cells:
        if entry in away:
            out.append((entry, away[entry]))
            continue
        for cell in _matching(entry, cells):
            if cell.id not in seen:
                seen.add(cell.id)
                out.append(cell)
    return out


def not_here_text(why: str) -> str:
    return f"**{NOT_HERE}**: {why}".replace("|", "\\|")


def render(spec: TableSpec, cells: Sequence[Cell], timeline: Mapping[str, Records]) -> str:
    """The declared table as GitHub Markdown; `timeline` maps a cell id to its records, oldest first.
    A chosen cell without a stored result is a row that says so, and so is an approach run elsewhere."""
    out = []
    for row in rows(spec, cells):
        if isinstance(row, tuple):
            name, why = row
            out.append([name.replace("|", "\\|") if c.value == "approach" else
                        not_here_text(why) if c.value in ("summary", "verdict", "notes") else table.DASH
                        for c in spec.columns])
            continue
        records = timeline.get(row.id) or ()
        texts = [COLUMNS[c.value](row, records) for c in spec.columns]
        if not records:
            texts = [NOT_RUN if c.value in ("summary", "verdict", "notes") else text
                     for c, text in zip(spec.columns, texts)]
        out.append(texts)
    return tabulate(out, headers=[c.header for c in spec.columns], tablefmt="github", disable_numparse=True)
