"""`plan`'s table: each cell's predicted install (uv's resolution for its target), as the console shows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from harness.model import Cell
from harness.reports import table


def render(cells: Sequence[Cell], predictions: Sequence[Mapping[str, Any]]) -> str:
    """One row per cell: its id, target, predicted outcome, the versions it names, the first evidence
    (or what the prediction assumed). `predictions` are Prediction.to_json() records, in the cells' order."""
    rows = []
    for cell, pred in zip(cells, predictions):
        versions = pred.get("versions") or {}
        shown = ", ".join(f"{n} {versions[n]}" for n in table.shown_names(list(cell.packages.requirements))
                          if n in versions) or table.DASH
        rows.append([cell.id, f"{pred.get('platform')}, Python {pred.get('python')}", pred.get("outcome"), shown,
                     (list(pred.get("evidence") or ()) or list(pred.get("assumed") or ()) or [""])[0]])
    return tabulate(rows, headers=("Cell", "Target", "Prediction", "Versions", "Evidence"), tablefmt="github",
                    disable_numparse=True)
