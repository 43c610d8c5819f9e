"""Publishing stored results: the results folder's README and each `--doc` (the standard table and the
tables a matrix declares), JUnit XML, and the GitHub job summary. One step, used by every command that
stores or reads results (run, table, merge, bisect, solve); nothing here knows how the records were made.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.model import Matrix, TableSpec
from harness.reports import columns, documents, findings, jobsummary, junit, table
from harness.results import store

Log = Callable[[str], None]


def is_step_of(record: Mapping[str, Any], m: Matrix) -> bool:
    """A search's step (bisect, solve) on an image and index variant this matrix declares."""
    cell = record.get("cell") or {}
    return bool((cell.get("packages") or {}).get("made_by")
                and (cell.get("image") or {}).get("name") in {i.name for i in m.images}
                and (cell.get("index") or {}).get("name") in {i.name for i in m.indexes})


def matrix_records(m: Matrix, directory: Path, log: Log = print) -> list[dict]:
    """The stored records of the matrix's cells (and its search steps); those of cells no longer in the
    matrix are left out, and said."""
    ids = {c.id for c in m.cells}
    stored = store.load_results(directory)
    records = [r for r in stored if r.get("cell_id") in ids or is_step_of(r, m)]
    if len(records) < len(stored):
        log(f"Left out of the table: {len(stored) - len(records)} stored result(s) for cells no longer in {m.source}")
    return records


def tables(name: str, directory: Path, records: Sequence[Mapping[str, Any]], docs: Sequence[Path] = (), *,
           declared: Sequence[tuple[TableSpec, str]] = (), found: Sequence[tuple[TableSpec, str]] = (),
           log: Log = print) -> None:
    """The results folder's README and each doc: the standard table, and the declared tables (spec, text)
    and their findings (spec, text). A doc gets the declared tables and findings whose markers it has; one
    with none of the tables' gets the standard table (and is created when missing). The README gets every
    table and every findings block."""
    rendered = table.render_table(list(records))
    readme = directory / "README.md"
    for doc in [readme, *docs]:
        named = [spec for spec, _ in declared if documents.has_block(doc, name, spec.name)]
        changed = False
        if doc == readme or not named or documents.has_block(doc, name):
            changed |= documents.regenerate(doc, name, rendered)
        for spec, text in declared:
            if doc == readme or spec in named:
                changed |= documents.regenerate(doc, name, text, name=spec.name, title=spec.title or spec.name)
        for spec, text in found:
            if doc == readme or documents.has_block(doc, name, spec.name, kind="findings"):
                changed |= documents.regenerate(doc, name, text, name=spec.name, kind="findings",
                                                title=f"What worked / what didn't: {spec.title or spec.name}")
        log(f"{'Updated' if changed else 'Unchanged'}: {doc}")


def matrix_tables(m: Matrix, directory: Path, docs: Sequence[Path] = (), log: Log = print) -> list[dict]:
    """Every table of a matrix regenerated from its stored records (never replaced by an empty one:
    without records the documents are left as they are); returns the records."""
    records = matrix_records(m, directory, log)
    if not records:
        log(f"No stored results for {m.name} in {directory}: tables left as they are (run the matrix first)")
        return records
    timeline = store.load_timeline(directory)
    declared = [(spec, columns.render(spec, m.cells, timeline)) for spec in m.tables]
    found = [(spec, findings.render(spec, m.cells, timeline)) for spec in m.tables]
    tables(m.name, directory, records, docs, declared=declared, found=found, log=log)
    return records


def write_junit(path: Path | None, records: Sequence[Mapping[str, Any]], log: Log = print) -> None:
    if path is not None and records:
        junit.write(path, list(records))
        log(f"Wrote JUnit XML: {path}")


def job_summary(name: str, records: Sequence[Mapping[str, Any]], run_id: str | None = None, *,
                environ: Mapping[str, str] | None = None, log: Log = print) -> None:
    """Under GitHub Actions, append this matrix's summary, unexpected cells and table to the job page."""
    if not records:
        return
    text = jobsummary.render(name, list(records), table.render_table(list(records)), run_id=run_id)
    written = jobsummary.append(os.environ if environ is None else environ, text)
    if written:
        log(f"Appended the job summary: {written}")


def step_outputs(records: Sequence[Mapping[str, Any]], *, environ: Mapping[str, str] | None = None,
                 log: Log = print) -> None:
    """Under GitHub Actions, the run's verdict counts as the step's outputs (the action's outputs)."""
    written = jobsummary.set_outputs(os.environ if environ is None else environ, jobsummary.outputs(records))
    if written:
        log(f"Set the step outputs (cells, unexpected, counts): {written}")
