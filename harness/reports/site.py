"""A static site of a results root, for GitHub Pages: one page per matrix (its HTML report, history
included), a permalink per cell (`MATRIX/#cell-ID` opens the cell; `MATRIX/cells/ID.json` is its
record), each matrix's table as Markdown, and an index of the matrices. A renderer of the store."""

from __future__ import annotations

import html as _html
import json
from pathlib import Path

from harness.files import write_text_atomic
from harness.reports import html, table
from harness.results import store


def build(results: Path, out: Path) -> list[str]:
    """Write the site of every matrix folder under `results` into `out`; the matrices' names."""
    folders = store.matrix_folders(Path(results))
    rows = []
    for folder in folders:
        records = store.load_results(folder)
        page = Path(out) / folder.name
        write_text_atomic(page / "index.html", html.render(folder.name, records, store.load_timeline(folder)))
        for record in records:
            write_text_atomic(page / "cells" / f"{record['cell_id']}.json", json.dumps(record, indent=2) + "\n")
        if (folder / "README.md").is_file():
            write_text_atomic(page / "table.md", (folder / "README.md").read_text(encoding="utf-8"))
        name = _html.escape(folder.name)
        rows.append(f'<li><a href="{name}/">{name}</a>: {_html.escape(table.summary_line(records))} '
                    f'(<a href="{name}/table.md">table</a>)</li>')
    write_text_atomic(Path(out) / "index.html", INDEX.format(rows="\n".join(rows) or "<li>no results yet</li>"))
    return [f.name for f in folders]


INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wheel-harness results</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto">
<h1>wheel-harness results</h1>
<p>One page per matrix: the verdict grid (a cell's permalink is <code>MATRIX/#cell-ID</code>), where the
minutes go, and the history of the stored runs.</p>
<ul>
{rows}
</ul>
</body></html>
"""
