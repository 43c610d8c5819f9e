"""Markdown documents with generated blocks: a table (or a declared table's findings) between two marker
comments is replaced in place, and everything outside the markers is kept byte for byte."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ReportError
from harness.files import write_text_atomic


def _which(matrix: str, name: str | None) -> str:
    return f"matrix={matrix}" + (f" name={name}" if name else "")


def begin_marker(matrix: str, name: str | None = None, kind: str = "table") -> str:
    """The begin marker of the matrix's standard table, or of the table it declares as `name` (or, with
    kind `findings`, of that table's findings)."""
    return f"<!-- wheel-harness:begin {kind} {_which(matrix, name)} -->"


def end_marker(matrix: str, name: str | None = None, kind: str = "table") -> str:
    return f"<!-- wheel-harness:end {kind} {_which(matrix, name)} -->"


def _block(matrix: str, table: str, name: str | None = None, kind: str = "table") -> str:
    return f"{begin_marker(matrix, name, kind)}\n{table}\n{end_marker(matrix, name, kind)}\n"


def has_block(doc: Path, matrix: str, name: str | None = None, kind: str = "table") -> bool:
    """Whether `doc` exists and has the begin marker of this block."""
    doc = Path(doc)
    if not doc.is_file():
        return False
    marker = begin_marker(matrix, name, kind)
    return any(line.strip() == marker for line in doc.read_text(encoding="utf-8").splitlines())


def _new_document(matrix: str, table: str, title: str | None, name: str | None = None, kind: str = "table") -> str:
    return (
        f"# {title or f'Results: {matrix}'}\n"
        "\n"
        "The table below is generated: `wheel-harness table` regenerates it from the JSON results in this "
        "folder, replacing only the lines between its two marker comments. Text outside the markers is "
        "kept as written, so notes and conclusions belong there.\n"
        "\n" + _block(matrix, table, name, kind)
    )


def _find_markers(doc: Path, lines: list[str], matrix: str, name: str | None,
                  kind: str = "table") -> tuple[int, int] | None:
    """Indexes of the begin and end marker lines, None when there are none; ReportError when broken."""
    begin, end = begin_marker(matrix, name, kind), end_marker(matrix, name, kind)
    begins = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    for found, marker in ((begins, begin), (ends, end)):
        if len(found) > 1:
            raise ReportError(
                f"{doc}:{found[1] + 1}: duplicate marker {marker!r} (first on line {found[0] + 1}); "
                "remove one block so each matrix has exactly one"
            )
    if begins and not ends:
        raise ReportError(f"{doc}:{begins[0] + 1}: {begin!r} has no matching {end!r}; add the end marker")
    if ends and not begins:
        raise ReportError(f"{doc}:{ends[0] + 1}: {end!r} has no matching {begin!r}; add the begin marker")
    if not begins:
        return None
    if ends[0] < begins[0]:
        raise ReportError(
            f"{doc}:{ends[0] + 1}: {end!r} comes before its begin marker on line {begins[0] + 1}"
        )
    return begins[0], ends[0]


def regenerate(doc: Path, matrix: str, table: str, *, title: str | None = None, name: str | None = None,
               kind: str = "table") -> bool:
    """Put `table` between this matrix's markers in `doc` (those of its declared table `name`, if given;
    of that table's findings with kind `findings`); True when the file changed.

    Creates the document when missing and appends a marker block when it has none. Text outside the
    markers is kept byte for byte, and an unchanged document is not rewritten.
    """
    doc = Path(doc)
    table = table.strip("\n")
    if not doc.exists():
        write_text_atomic(doc, _new_document(matrix, table, title, name, kind))
        return True
    with doc.open(encoding="utf-8", newline="") as fh:
        old = fh.read()
    lines = old.splitlines(keepends=True)
    found = _find_markers(doc, lines, matrix, name, kind)
    if found is None:
        prefix = old
        if prefix and not prefix.endswith("\n"):
            prefix += "\n"
        if prefix and not prefix.endswith("\n\n"):
            prefix += "\n"
        if title:
            prefix += f"## {title}\n\n"
        new = prefix + _block(matrix, table, name, kind)
    else:
        start, stop = found
        newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
        body = newline.join(table.split("\n")) + newline
        new = "".join(lines[: start + 1]) + body + "".join(lines[stop:])
    if new == old:
        return False
    write_text_atomic(doc, new)
    return True
