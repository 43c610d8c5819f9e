"""`wheel-harness report`: one self-contained HTML page from stored results (harness.results.store).

What a person sees at a glance: a verdict grid (rows: image and architecture; columns: package set ×
index variant, × installer where uv ran too), coloured per verdict, each cell's evidence on hover and
in full on click; where the minutes go (per-phase time per cell, the install split into download and
install); what was downloaded; and, when earlier runs are stored, how each cell's verdict and time
changed. Charts are plotly's, with plotly.js written into the page: the file opens from disk or from a
CI artifact with no network. A renderer: it knows nothing of containers.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from harness import __version__
from harness.model import INFRASTRUCTURE_VALUES, Verdict
from harness.reports import table

# One colour per verdict: green works, amber works with less, reds broke, greys could not judge.
COLOURS: Mapping[str, str] = {
    "pass": "#2e9e44",
    "degraded": "#e0a526",
    "check-failed": "#e2611f",
    "no-cuda": "#ef8a2c",
    "cuda-mismatch": "#e8702a",
    "torch-replaced": "#9b59b6",
    "import-failed": "#d63b3b",
    "crashed": "#a31f34",
    "no-distribution": "#c0392b",
    "conflict": "#c0392b",
    "source-build-failed": "#b03a2e",
    "install-failed": "#b03a2e",
    "hash-mismatch": "#7b241c",
    "venv-failed": "#b03a2e",
    "index-unreachable": "#7f8c9a",
    "timeout": "#7f8c9a",
    "engine-error": "#7f8c9a",
    "image-unavailable": "#7f8c9a",
    "interrupted": "#7f8c9a",
    "skipped": "#c8ced6",
}
UNKNOWN_COLOUR = "#95a5a6"

# The phases of a cell's time, in the order they happen, as the chart stacks them.
PHASES = (
    ("image", "image (check or build)"),
    ("container_start", "container start"),
    ("venv", "venv"),
    ("pip-upgrade", "pip upgrade"),
    ("uv-bootstrap", "uv bootstrap"),
    ("install.resolve_download", "install: resolve + download"),
    ("install.install_files", "install: install files"),
    ("install", "install (not split)"),
    ("imports", "imports"),
    ("probe.rest", "probe: CUDA checks, built-in checks and start-up"),
    ("check-install", "your checks: install"),
    ("checks", "your checks"),
)
PHASE_COLOURS = ("#6c7a89", "#95a5a6", "#a3c4dc", "#d7bde2", "#c39bd3", "#2e86c1", "#85c1e9", "#5dade2",
                 "#f5b041", "#f8c471", "#a9dfbf", "#52be80")
SIZE_KINDS = (("downloaded", "downloaded", "#2e86c1"), ("cached", "pip's cache", "#85c1e9"),
              ("local", "local wheelhouse", "#a9cce3"))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _axis(record: Mapping[str, Any], key: str) -> str:
    value = _mapping(record.get("cell")).get(key)
    return str(_mapping(value).get("name", "?")) if isinstance(value, Mapping) else str(value or "?")


def label(record: Mapping[str, Any]) -> str:
    """How a chart names a cell: its approach name, else its id."""
    return table.approach_name(record) or str(record.get("cell_id"))


def row_of(record: Mapping[str, Any]) -> str:
    image = _mapping(_mapping(record.get("cell")).get("image"))
    platform = str(image.get("platform") or "")
    return f"{_axis(record, 'image')} ({platform.removeprefix('linux/')})" if platform else _axis(record, "image")


def column_of(record: Mapping[str, Any]) -> str:
    installer = str(_mapping(record.get("cell")).get("installer") or "pip")
    column = f"{_axis(record, 'packages')} × {_axis(record, 'index')}"
    return column + ("" if installer == "pip" else f" × {installer}")


def phase_seconds(record: Mapping[str, Any]) -> dict[str, float]:
    """Seconds per chart phase: the install split where pip's output allowed it, imports apart from the
    rest of the probe."""
    timings = _mapping(record.get("timings"))
    out: dict[str, float] = {}
    for key in ("image", "container_start", "venv", "pip-upgrade", "uv-bootstrap"):
        if (s := _number(timings.get(key))) is not None:
            out[key] = s
    split = _mapping(timings.get("install_split"))
    parts = {k: _number(split.get(k)) for k in ("resolve_download", "install_files")}
    if all(v is not None for v in parts.values()):
        out["install.resolve_download"] = parts["resolve_download"] or 0.0
        out["install.install_files"] = parts["install_files"] or 0.0
    elif (s := _number(timings.get("install"))) is not None:
        out["install"] = s
    imports = sum(n for n in map(_number, _mapping(timings.get("imports")).values()) if n is not None)
    probe = table.run_seconds(record)
    if imports:
        out["imports"] = imports
    if probe is not None and probe > imports:
        out["probe.rest"] = probe - imports
    for key in ("check-install", "checks"):
        if (s := _number(timings.get(key))) is not None:
            out[key] = s
    return out


def download_sizes(record: Mapping[str, Any]) -> dict[str, int]:
    """Bytes the install fetched, by how: downloaded, from pip's cache, from a local wheelhouse."""
    out = {kind: 0 for kind, _, _ in SIZE_KINDS}
    for item in _mapping(record.get("install")).get("items") or []:
        size = _mapping(_mapping(item).get("size"))
        if size.get("how") in out and isinstance(size.get("bytes"), int):
            out[size["how"]] += size["bytes"]
    return out


def _figure_html(figure: go.Figure, height: int) -> Markup:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 60, "b": 50}, template="plotly_white",
                         legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "traceorder": "normal"},
                         font={"family": "sans-serif", "size": 12})
    html = figure.to_html(full_html=False, include_plotlyjs=False, default_height=f"{height}px",
                          config={"displaylogo": False, "responsive": True})
    return Markup(html)  # plotly's own markup (JSON data it escapes itself)


def phase_chart(records: Sequence[Mapping[str, Any]]) -> Markup:
    names = [label(r) for r in records]
    seconds = [phase_seconds(r) for r in records]
    figure = go.Figure()
    for (key, title), colour in zip(PHASES, PHASE_COLOURS):
        values = [s.get(key, 0.0) for s in seconds]
        if not any(values):
            continue
        figure.add_trace(go.Bar(name=title, y=names, x=values, orientation="h", marker_color=colour,
                                hovertemplate=f"%{{y}}<br>{title}: %{{x:.1f}} s<extra></extra>"))
    figure.update_layout(barmode="stack", xaxis_title="seconds", yaxis={"autorange": "reversed"})
    return _figure_html(figure, 120 + 34 * len(records))


def size_chart(records: Sequence[Mapping[str, Any]]) -> Markup | None:
    sizes = [download_sizes(r) for r in records]
    if not any(any(s.values()) for s in sizes):
        return None
    names = [label(r) for r in records]
    figure = go.Figure()
    for kind, title, colour in SIZE_KINDS:
        values = [s[kind] / 1e6 for s in sizes]
        if any(values):
            figure.add_trace(go.Bar(name=title, y=names, x=values, orientation="h", marker_color=colour,
                                    hovertemplate=f"%{{y}}<br>{title}: %{{x:.1f}} MB<extra></extra>"))
    figure.update_layout(barmode="stack", xaxis_title="MB", yaxis={"autorange": "reversed"})
    return _figure_html(figure, 120 + 34 * len(records))


def run_order(timeline: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The run ids of the stored records, oldest first (by the earliest cell each run started)."""
    first: dict[str, str] = {}
    for records in timeline.values():
        for r in records:
            run_id, started = str(r.get("run_id")), str(r.get("started_at") or "")
            first[run_id] = min(first.get(run_id, started), started)
    return sorted(first, key=lambda run_id: (first[run_id], run_id))


def history_chart(timeline: Mapping[str, Sequence[Mapping[str, Any]]]) -> Markup | None:
    """Each cell's total time run by run, each point coloured by that run's verdict."""
    series = {cid: runs for cid, runs in timeline.items() if len(runs) > 1}
    if not series:
        return None
    order = run_order(timeline)
    names = {run_id: f"{n}: {run_id}" for n, run_id in enumerate(order, 1)}
    figure = go.Figure()
    for _, runs in sorted(series.items()):
        verdicts = [str(r.get("verdict")) for r in runs]
        figure.add_trace(go.Scatter(
            name=label(runs[-1]), x=[names[str(r.get("run_id"))] for r in runs],
            y=[_number(_mapping(r.get("timings")).get("total")) for r in runs], mode="lines+markers",
            marker={"size": 11, "color": [COLOURS.get(v, UNKNOWN_COLOUR) for v in verdicts],
                    "line": {"width": 1, "color": "#333"}},
            text=verdicts, hovertemplate="%{fullData.name}<br>run %{x}<br>%{text}, total %{y:.1f} s<extra></extra>"))
    figure.update_layout(xaxis={"title": "run", "type": "category", "categoryorder": "array",
                                "categoryarray": list(names.values())}, yaxis_title="total seconds")
    return _figure_html(figure, 420)


def grid(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rows = list(dict.fromkeys(row_of(r) for r in records))
    columns = list(dict.fromkeys(column_of(r) for r in records))
    cells = {(row_of(r), column_of(r)): r for r in records}
    return {"rows": rows, "columns": columns, "cells": cells}


def cell_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the grid shows of one cell: its colour, its verdict, and the evidence to hover and open."""
    verdict = str(record.get("verdict") or "unknown")
    cell = _mapping(record.get("cell"))
    expect = str(cell.get("expect", "pass"))
    expected = bool(record.get("expected", verdict == expect))
    evidence = [str(e) for e in record.get("evidence") or []]
    checks = table.check_records(record)
    hover = "\n".join([f"{record.get('cell_id')}: {verdict}" + ("" if expected else f" (expected {expect})"),
                       *([f"checks: {table.checks_text(record)}"] if checks else []),
                       *evidence[:6], *([f"hint: {record['hint']}"] if record.get("hint") else [])])
    return {
        "id": str(record.get("cell_id")),
        "approach": table.approach_name(record),
        "verdict": verdict,
        "colour": COLOURS.get(verdict, UNKNOWN_COLOUR),
        "dark": verdict not in ("skipped", "degraded"),
        "expected": expected,
        "expect": expect,
        "infrastructure": verdict in INFRASTRUCTURE_VALUES,
        "hover": hover,
        "evidence": evidence,
        "hint": record.get("hint"),
        "notes": [str(n) for n in record.get("notes") or []],
        "versions": table.versions_text(record),
        "cuda": table.cuda_text(record),
        "checks": table.checks_text(record) if checks else None,
        "check_rows": [check_view(c) for c in checks],
        "total": table.format_seconds(_mapping(record.get("timings")).get("total")),
        "install": table.install_text(record),
        "measured_in": str(record.get("run_id")),
        "reused_by": str(_mapping(record.get("reused")).get("by_run") or "") or None,
    }


def check_view(check: Mapping[str, Any]) -> dict[str, Any]:
    """One check in a cell's detail: its name, outcome and time, and what broke or could not apply."""
    error = _mapping(check.get("error"))
    said = [f"{error.get('part') + ': ' if error.get('part') else ''}{error.get('last_line') or ''}"] if error else []
    said += [f"{p.get('part')} not run: {p.get('reason')}" for p in check.get("parts") or ()
             if isinstance(p, Mapping) and p.get("outcome") == "not-applicable"]
    if check.get("reason"):
        said.append(str(check["reason"]))
    return {"name": table.check_name(check), "outcome": str(check.get("outcome")),
            "seconds": table.format_seconds(check.get("seconds")), "said": said}


def history_rows(timeline: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any] | None:
    """Verdicts over the stored runs: one row per cell, one column per run, oldest first."""
    if not any(len(runs) > 1 for runs in timeline.values()):
        return None
    runs = run_order(timeline)
    rows = []
    for cid, records in sorted(timeline.items()):
        by_run = {str(r.get("run_id")): r for r in records}
        marks = []
        for run_id in runs:
            r = by_run.get(run_id)
            if r is None:
                marks.append(None)
                continue
            verdict = str(r.get("verdict"))
            total = table.format_seconds(_mapping(r.get("timings")).get("total"))
            marks.append({"verdict": verdict, "colour": COLOURS.get(verdict, UNKNOWN_COLOUR), "total": total,
                          "title": f"{run_id}: {verdict}, {total}"})
        changed = len({m["verdict"] for m in marks if m}) > 1
        rows.append({"id": cid, "label": label(records[-1]), "marks": marks, "changed": changed})
    return {"runs": runs, "rows": rows}


TEMPLATE = "report.html.j2"  # beside this module (package data)


def drift_rows(found: Sequence[tuple[str, str, Sequence[Any]]] | None) -> list[dict[str, Any]] | None:
    """Index drift over the stored runs (harness.reports.drift.over_runs): one row per change, the run
    it appeared in; None when fewer than two runs kept a ledger."""
    if not found:
        return None
    return [{"run": later, "since": earlier, "kind": d.kind, "text": d.text(), "loud": d.kind == "replaced"}
            for earlier, later, items in found for d in items]


def render(matrix: str, records: Sequence[Mapping[str, Any]],
           timeline: Mapping[str, Sequence[Mapping[str, Any]]] | None = None, *, generated: str | None = None,
           drift: Sequence[tuple[str, str, Sequence[Any]]] | None = None) -> str:
    """The whole page for one matrix: `records` are the latest results, `timeline` each cell's records
    over the stored runs (oldest first), for the history; `drift` how the indexes changed from run to run."""
    timeline = {cid: runs for cid, runs in (timeline or {}).items()
                if cid in {str(r.get("cell_id")) for r in records}}
    layout = grid(records)
    present = list(dict.fromkeys(str(r.get("verdict")) for r in records))
    order = [v.value for v in Verdict]
    legend = [(v, COLOURS.get(v, UNKNOWN_COLOUR)) for v in sorted(present, key=lambda v: order.index(v)
                                                                   if v in order else len(order))]
    history = history_rows(timeline)
    env = Environment(loader=PackageLoader("harness.reports", "."), autoescape=True)
    page = env.get_template(TEMPLATE)
    return page.render(
        matrix=matrix,
        plotly_js=Markup(get_plotlyjs()),
        runs=sorted({str(r.get("run_id")) for r in records}),
        backends=sorted({str(r.get("backend")) for r in records}),
        generated=generated or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        version=__version__,
        summary=table.summary_line(list(records)),
        grid=layout,
        views={key: cell_view(r) for key, r in layout["cells"].items()},
        legend=legend,
        phase_chart=phase_chart(records),
        size_chart=size_chart(records),
        history=history,
        history_chart=history_chart(timeline) if history else None,
        drift=drift_rows(drift),
        drift_runs=len(drift or ()) + 1 if drift else 0,
    )
