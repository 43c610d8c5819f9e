"""The GitHub Actions job summary: under Actions, `GITHUB_STEP_SUMMARY` names a Markdown file that the
job's page shows; a run appends its summary line, the cells that did not get their expected verdict
(with their evidence and hint) and the results table. A renderer of the store's records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.model import INFRASTRUCTURE_VALUES, Verdict
from harness.reports import table

VARIABLE = "GITHUB_STEP_SUMMARY"
OUTPUTS = "GITHUB_OUTPUT"  # the file a step's outputs are appended to, as name=value lines
FENCE = "```"


def _unexpected(record: Mapping[str, Any]) -> list[str]:
    cell = record.get("cell") if isinstance(record.get("cell"), Mapping) else {}
    verdict = str(record.get("verdict"))
    kind = " (infrastructure: this run could not judge it)" if verdict in INFRASTRUCTURE_VALUES else ""
    name = f"{cell['approach']}: " if cell.get("approach") else ""
    lines = [f"- {name}`{record.get('cell_id')}`: **{verdict}**, expected {cell.get('expect', 'pass')}{kind}"
             + (f"; checks {table.checks_text(record)}" if table.check_records(record) else "")]
    evidence = [str(e).replace(FENCE, "'''") for e in record.get("evidence") or []]
    if evidence:
        lines += ["", f"  {FENCE}text", *(f"  {line}" for line in evidence), f"  {FENCE}", ""]
    if record.get("hint"):
        lines.append(f"  hint: {record['hint']}")
    return lines


def render(matrix: str, results: Sequence[Mapping[str, Any]], rendered_table: str, *, run_id: str | None = None) -> str:
    """The Markdown a run appends for one matrix: findings first, infrastructure after, then the table.
    With the run's id, the summary line says how many cells it ran and how many it reused."""
    unexpected = sorted((r for r in results if not r.get("expected", True)),
                        key=lambda r: (str(r.get("verdict")) in INFRASTRUCTURE_VALUES, str(r.get("cell_id"))))
    lines = [f"### wheel-harness: {matrix}", "", table.summary_line(list(results), run_id=run_id), ""]
    if unexpected:
        lines += [f"#### {len(unexpected)} cell(s) without their expected verdict", ""]
        for record in unexpected:
            lines += _unexpected(record)
        lines.append("")
    else:
        lines += ["Every cell got its expected verdict.", ""]
    lines += [rendered_table, ""]
    return "\n".join(lines) + "\n"


def append(environ: Mapping[str, str], text: str) -> Path | None:
    """Append `text` to the file `GITHUB_STEP_SUMMARY` names; None (nothing written) outside Actions."""
    target = environ.get(VARIABLE)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
    return path


def outputs(results: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A run's step outputs: `cells`, `unexpected`, one count per verdict (zeros too, so a workflow can
    name any) and `counts`, the non-zero ones as JSON (for fromJSON)."""
    counts = {v.value: 0 for v in Verdict}
    for record in results:
        counts[str(record.get("verdict"))] = counts.get(str(record.get("verdict")), 0) + 1
    found = {"cells": str(len(results)), "unexpected": str(sum(1 for r in results if not r.get("expected", True))),
             "counts": json.dumps({k: n for k, n in counts.items() if n}, sort_keys=True)}
    return {**found, **{k: str(n) for k, n in counts.items()}}


def set_outputs(environ: Mapping[str, str], values: Mapping[str, str]) -> Path | None:
    """Append `values` to the file `GITHUB_OUTPUT` names; None (nothing written) outside Actions."""
    target = environ.get(OUTPUTS)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(f"{k}={v}\n" for k, v in values.items())
    return path
