"""The result store: one cell's record written as `results/<matrix>/<cell-id>.json`, and every record
of a folder read back (older schema versions migrated). Results are written and read here only; the
renderers (harness.table, harness.documents …) read what this returns and know nothing of containers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import write_json_atomic
from .errors import ReportError
from .model import SCHEMA_VERSION, CellResult


def write_result(results_dir: Path, result: CellResult) -> Path:
    """Write one cell's record to `results_dir/<cell_id>.json`; `results_dir` is `results/<matrix>`."""
    path = Path(results_dir) / f"{result.cell_id}.json"
    write_json_atomic(path, result.to_json())
    return path


# --- loading -----------------------------------------------------------------------------------------


def _major(version: Any) -> int | None:
    try:
        return int(str(version).split(".", 1)[0])
    except ValueError:
        return None


def read_record(path: Path) -> dict | None:
    """One result record, migrated to this schema; None for a JSON file that is not a result record.
    ReportError for a file that cannot be used (not JSON, another schema)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(
            f"{path}: not valid JSON ({exc}); delete it or re-run that cell to write it again"
        ) from exc
    if not isinstance(data, dict) or "cell_id" not in data:
        return None
    version = data.get("schema_version")
    if _major(version) == 1 and "outcome" in data:  # written before verdicts had evidence and hints
        data = {**data, "verdict": data["outcome"], "evidence": [], "hint": None}
        data.pop("outcome")
    elif version is None or _major(version) != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: schema_version {version!r}, this harness reads version {SCHEMA_VERSION}; "
            "re-run that cell with this harness, or move the file out of the results folder"
        )
    return data


def load_results(results_dir: Path) -> list[dict]:
    """Every result record in `results_dir`, sorted by cell id; other JSON files are skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"{results_dir}: no such results folder; run the matrix first")
    results = [r for r in map(read_record, sorted(results_dir.glob("*.json"))) if r is not None]
    results.sort(key=lambda r: str(r["cell_id"]))
    return results


def latest(results_dir: Path, cell_id: str) -> dict | None:
    """The stored record of one cell, or None when there is none this harness can use (a record it
    cannot read is simply not reused: the cell runs again and replaces it)."""
    path = Path(results_dir) / f"{cell_id}.json"
    if not path.is_file():
        return None
    try:
        record = read_record(path)
    except ReportError:
        return None
    return record if record and record.get("cell_id") == cell_id else None
