"""Results on disk and the Markdown tables made from them.

Host side only. Every write is atomic (a temp file in the same folder, then `os.replace`), so a killed run
never leaves half a JSON record or half a document behind. Nothing here knows about Docker.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tabulate import tabulate

from harness.model import INFRASTRUCTURE, SCHEMA_VERSION, CellResult, Verdict
from harness.plan import JUDGED, disagreement

DASH = "—"
NOTES_MAX = 160
EVIDENCE_MAX = 140
HINT_MAX = 200
HEADERS = ("Cell / approach", "Build", "Install", "Run", "Versions", "CUDA", "Verdict", "Evidence", "Hint", "Plan",
           "Notes")
VERSION_PACKAGES = ("torch", "torchao", "torchtune")


class ReportError(Exception):
    """A results folder or a document the report code cannot use as it stands."""


# --- atomic writes -----------------------------------------------------------------------------------


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8, line endings as given) to `path` so readers see the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict) -> None:
    # Serialise first: a value json cannot encode fails before any file exists.
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


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


def load_results(results_dir: Path) -> list[dict]:
    """Every result record in `results_dir`, sorted by cell id; other JSON files are skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"{results_dir}: no such results folder; run the matrix first")
    results = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReportError(
                f"{path}: not valid JSON ({exc}); delete it or re-run that cell to write it again"
            ) from exc
        if not isinstance(data, dict) or "cell_id" not in data:
            continue
        version = data.get("schema_version")
        if _major(version) == 1 and "outcome" in data:  # written before verdicts had evidence and hints
            data = {**data, "verdict": data["outcome"], "evidence": [], "hint": None}
            data.pop("outcome")
        elif version is None or _major(version) != SCHEMA_VERSION:
            raise ReportError(
                f"{path}: schema_version {version!r}, this harness reads version {SCHEMA_VERSION}; "
                "re-run that cell with this harness, or move the file out of the results folder"
            )
        results.append(data)
    results.sort(key=lambda r: str(r["cell_id"]))
    return results


# --- table cells -------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def format_seconds(value: Any) -> str:
    """`12.3 s` below two minutes, `2 min 05 s` from there on, `—` when unknown."""
    seconds = _number(value)
    if seconds is None:
        return DASH
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def _timings(result: Mapping[str, Any]) -> Mapping[str, Any]:
    timings = result.get("timings")
    return timings if isinstance(timings, Mapping) else {}


def _probe(result: Mapping[str, Any]) -> Mapping[str, Any]:
    probe = result.get("probe")
    return probe if isinstance(probe, Mapping) else {}


def _sum(values: Iterable[Any]) -> float | None:
    numbers = [n for n in map(_number, values) if n is not None]
    return sum(numbers) if numbers else None


def run_seconds(result: Mapping[str, Any]) -> float | None:
    """Time spent running the probe: `timings.probe` (summed if it is a mapping), else the imports."""
    timings = _timings(result)
    probe = timings.get("probe")
    if isinstance(probe, Mapping):
        return _sum(probe.values())
    if _number(probe) is not None:
        return _number(probe)
    imports = timings.get("imports")
    return _sum(imports.values()) if isinstance(imports, Mapping) else None


def shown_names(requirements: list[str]) -> list[str]:
    """The distributions whose versions a table shows: torch, torchao, torchtune, and any asked for by name."""
    names = []
    for text in requirements:
        try:
            names.append(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue
    return list(dict.fromkeys([*VERSION_PACKAGES, *names]))


def _required_names(result: Mapping[str, Any]) -> list[str]:
    """The distributions the cell asked for by name (so a numpy-only cell shows numpy's version)."""
    cell = result.get("cell")
    packages = cell.get("packages") if isinstance(cell, Mapping) else None
    return shown_names(list((packages or {}).get("requirements", []) if isinstance(packages, Mapping) else []))


def versions_text(result: Mapping[str, Any]) -> str:
    dists = _probe(result).get("distributions")
    if not isinstance(dists, Mapping):
        return DASH
    by_name = {canonicalize_name(str(k)): v for k, v in dists.items()}
    parts = []
    for name in _required_names(result):
        info = by_name.get(name)
        version = info.get("version") if isinstance(info, Mapping) else info
        if version:
            parts.append(f"{name} {version}")
    return ", ".join(parts) or DASH


def _capability(value: Any) -> str | None:
    if isinstance(value, (list, tuple)) and value:
        return ".".join(str(v) for v in value)
    return str(value) if value else None


def cuda_text(result: Mapping[str, Any]) -> str:
    torch = _probe(result).get("torch")
    if not isinstance(torch, Mapping):
        return DASH
    cuda = torch.get("cuda_version")
    if not cuda:
        return "no (CPU build)"
    if not torch.get("cuda_available"):
        return f"no (CUDA {cuda} build, no GPU)"
    text = f"yes {cuda}"
    devices = torch.get("devices") or []
    if devices and isinstance(devices[0], Mapping):
        name = devices[0].get("name")
        capability = _capability(devices[0].get("capability"))
        if name:
            text += f", {name}"
            if capability:
                text += f" ({capability})"
        elif capability:
            text += f", sm {capability}"
    return text


def verdict_text(result: Mapping[str, Any]) -> str:
    verdict = str(result.get("verdict") or "unknown")
    return verdict if verdict == Verdict.PASS.value else f"**{verdict}**"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _lines_text(value: Any, limit: int, first_only: bool = False) -> str:
    lines = [value] if isinstance(value, str) else list(value or [])
    lines = [" ".join(str(n).split()) for n in lines if str(n).strip()]
    text = (lines[0] if lines else "") if first_only else "; ".join(lines)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return _escape(text)


def notes_text(result: Mapping[str, Any]) -> str:
    return _lines_text(result.get("notes"), NOTES_MAX)


def evidence_text(result: Mapping[str, Any]) -> str:
    """The first line of evidence, short (the JSON keeps every line in full)."""
    return _lines_text(result.get("evidence"), EVIDENCE_MAX, first_only=True)


def hint_text(result: Mapping[str, Any]) -> str:
    return _lines_text(result.get("hint"), HINT_MAX)


def format_bytes(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{int(number)} B"


def install_text(result: Mapping[str, Any]) -> str:
    """Seconds pip took, and how much it downloaded when it downloaded anything."""
    text = format_seconds(_timings(result).get("install"))
    install = result.get("install")
    downloaded = install.get("downloaded_bytes") if isinstance(install, Mapping) else None
    if _number(downloaded):
        text += f" ({format_bytes(downloaded)} down)"
    return text


def plan_text(result: Mapping[str, Any]) -> str:
    """`agrees`, or where uv's prediction (stored with the result) and the real run differ."""
    prediction = result.get("prediction")
    if not isinstance(prediction, Mapping):
        return DASH
    if str(result.get("verdict")) not in JUDGED or prediction.get("outcome") == "unknown":
        return "not compared"  # the run could not judge the install (an outage, a skip), or uv could not
    differs = disagreement(prediction, result)
    return _escape(f"**{differs}**") if differs else "agrees"


def table_row(result: Mapping[str, Any]) -> list[str]:
    timings = _timings(result)
    return [
        f"`{_escape(str(result.get('cell_id', '?')))}`",
        format_seconds(timings.get("image")) + (f" ({timings['image_build']})" if timings.get("image_build") else ""),
        install_text(result),
        format_seconds(run_seconds(result)),
        versions_text(result),
        cuda_text(result),
        verdict_text(result),
        evidence_text(result),
        hint_text(result),
        plan_text(result),
        notes_text(result),
    ]


def render_table(results: list[dict]) -> str:
    """A GitHub Markdown table, one row per result, in the order given; no trailing newline."""
    rows = [table_row(r) for r in results]
    return tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True)


def _verdict_order(verdict: str) -> tuple[int, str]:
    order = [o.value for o in Verdict]
    return (order.index(verdict), verdict) if verdict in order else (len(order), verdict)


def summary_line(results: list[dict]) -> str:
    """E.g. `3 cells: 2 pass, 1 import-failed; slowest: <cell_id> (45.2 s)`."""
    count = len(results)
    line = f"{count} cell" + ("" if count == 1 else "s")
    if not results:
        return line
    counts = Counter(str(r.get("verdict") or "unknown") for r in results)
    line += ": " + ", ".join(f"{counts[o]} {o}" for o in sorted(counts, key=_verdict_order))
    infrastructure = sum(n for v, n in counts.items() if v in {i.value for i in INFRASTRUCTURE})
    if infrastructure:
        line += f" ({infrastructure} not a finding about the packages: infrastructure)"
    totals = [(_number(_timings(r).get("total")), str(r.get("cell_id"))) for r in results]
    timed = [(t, cell) for t, cell in totals if t is not None]
    if timed:
        total, slowest = min(timed, key=lambda pair: (-pair[0], pair[1]))
        line += f"; slowest: {slowest} ({format_seconds(total)})"
    return line


# --- documents ---------------------------------------------------------------------------------------


def begin_marker(matrix: str) -> str:
    return f"<!-- wheel-harness:begin table matrix={matrix} -->"


def end_marker(matrix: str) -> str:
    return f"<!-- wheel-harness:end table matrix={matrix} -->"


def _block(matrix: str, table: str) -> str:
    return f"{begin_marker(matrix)}\n{table}\n{end_marker(matrix)}\n"


def _new_document(matrix: str, table: str, title: str | None) -> str:
    return (
        f"# {title or f'Results: {matrix}'}\n"
        "\n"
        "The table below is generated: `wheel-harness table` regenerates it from the JSON results in this "
        "folder, replacing only the lines between its two marker comments. Text outside the markers is "
        "kept as written, so notes and conclusions belong there.\n"
        "\n" + _block(matrix, table)
    )


def _find_markers(doc: Path, lines: list[str], matrix: str) -> tuple[int, int] | None:
    """Indexes of the begin and end marker lines, None when there are none; ReportError when broken."""
    begin, end = begin_marker(matrix), end_marker(matrix)
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


def regenerate(doc: Path, matrix: str, table: str, *, title: str | None = None) -> bool:
    """Put `table` between this matrix's markers in `doc`; True when the file changed.

    Creates the document when missing and appends a marker block when it has none. Text outside the
    markers is kept byte for byte, and an unchanged document is not rewritten.
    """
    doc = Path(doc)
    table = table.strip("\n")
    if not doc.exists():
        write_text_atomic(doc, _new_document(matrix, table, title))
        return True
    with doc.open(encoding="utf-8", newline="") as fh:
        old = fh.read()
    lines = old.splitlines(keepends=True)
    found = _find_markers(doc, lines, matrix)
    if found is None:
        prefix = old
        if prefix and not prefix.endswith("\n"):
            prefix += "\n"
        if prefix and not prefix.endswith("\n\n"):
            prefix += "\n"
        if title:
            prefix += f"## {title}\n\n"
        new = prefix + _block(matrix, table)
    else:
        start, stop = found
        newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
        body = newline.join(table.split("\n")) + newline
        new = "".join(lines[: start + 1]) + body + "".join(lines[stop:])
    if new == old:
        return False
    write_text_atomic(doc, new)
    return True
