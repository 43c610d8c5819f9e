"""The Markdown results table and the one-line summary, rendered from stored result records
(harness.results.store); a renderer: no I/O, nothing about containers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.utils import canonicalize_name
from tabulate import tabulate

from harness import units
from harness.model import INFRASTRUCTURE, Verdict
from harness.pins import project_names
from harness.verdicts import checks as checked
from harness.verdicts.checks import name_of as check_name
from harness.verdicts.classify import compared_with_plan, disagreement

DASH = "—"
NOTES_MAX = 160
EVIDENCE_SHOWN = 140
HINT_MAX = 200
HEADERS = ("Cell / approach", "Build", "Install", "Run", "Versions", "CUDA", "Verdict", "Evidence", "Hint", "Plan",
           "Notes")
CHECKS_HEADER = "Checks"  # after Verdict, where any result has checks
CHECKS_SHOWN = 2  # checks named in the column when they broke
VERSION_PACKAGES = ("torch", "torchao", "torchtune")


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
    return list(dict.fromkeys([*VERSION_PACKAGES, *project_names(requirements)]))


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


def check_records(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    checks = result.get("checks")
    return [c for c in checks if isinstance(c, Mapping)] if isinstance(checks, (list, tuple)) else []


def checks_text(result: Mapping[str, Any]) -> str:
    """`3/3`: the checks that passed of those that applied; which broke, and how many could not apply."""
    records = check_records(result)
    if not records:
        return DASH
    passed, count = checked.counted(records)
    applied = [r for r in records if r.get("outcome") != "not-applicable"]
    text = f"{passed}/{count}"
    broke = [f"{check_name(r)} {r.get('outcome')}" for r in applied if r.get("outcome") != "passed"]
    if broke:
        more = len(broke) - CHECKS_SHOWN
        text += ": " + ", ".join(broke[:CHECKS_SHOWN]) + (f" (+{more})" if more > 0 else "")
    if len(applied) < len(records):
        text += f" ({len(records) - len(applied)} n/a)"
    return _escape(text)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _lines_text(value: Any, limit: int, first_only: bool = False) -> str:
    lines = [value] if isinstance(value, str) else list(value or [])
    lines = [" ".join(str(n).split()) for n in lines if str(n).strip()]
    text = (lines[0] if lines else "") if first_only else "; ".join(lines)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return _escape(text)


def reuse_text(result: Mapping[str, Any]) -> str | None:
    """`reused: measured 2026-11-26 20:01 (run …)` for a result a later run reused from the cache."""
    reused = result.get("reused")
    if not isinstance(reused, Mapping):
        return None
    when = str(result.get("finished_at") or "?").replace("T", " ")[:16]
    return f"reused: measured {when} UTC (run {result.get('run_id')})"


def caches_text(result: Mapping[str, Any]) -> str | None:
    """`warm cache` / `cold cache`, with what the install took from it."""
    caches = result.get("caches")
    if not isinstance(caches, Mapping) or not caches.get("state"):
        return None
    text = f"{caches['state']} cache"
    if isinstance(caches.get("from_cache"), int) and isinstance(caches.get("downloaded"), int):
        text += f" ({caches['from_cache']} from cache, {caches['downloaded']} downloaded)"
    return text


def notes_text(result: Mapping[str, Any]) -> str:
    lines = [reuse_text(result), caches_text(result)]
    notes = result.get("notes")
    lines += [notes] if isinstance(notes, str) else list(notes or [])
    return _lines_text([line for line in lines if line], NOTES_MAX)


def evidence_text(result: Mapping[str, Any]) -> str:
    """The first line of evidence, short (the JSON keeps every line in full)."""
    return _lines_text(result.get("evidence"), EVIDENCE_SHOWN, first_only=True)


def hint_text(result: Mapping[str, Any]) -> str:
    return _lines_text(result.get("hint"), HINT_MAX)


def format_bytes(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return units.format_bytes(number)


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
    if not compared_with_plan(result):
        return "not compared"  # the run could not judge the install (an outage, a skip), or uv could not
    differs = disagreement(prediction, result)
    return _escape(f"**{differs}**") if differs else "agrees"


def approach_name(result: Mapping[str, Any]) -> str | None:
    """The human name the matrix gave the cell (`approach = "Jetson wheels"`), if any."""
    cell = result.get("cell")
    name = cell.get("approach") if isinstance(cell, Mapping) else None
    return str(name) if name else None


def cell_text(result: Mapping[str, Any]) -> str:
    """`` `cell-id` ``, after the cell's approach name when it has one; with the machine that ran it
    when merged results hold the same cell from several machines."""
    text = f"`{_escape(str(result.get('cell_id', '?')))}`"
    merged = result.get("merged")
    if isinstance(merged, Mapping) and int(merged.get("hosts") or 1) > 1:
        text += f" on {_escape(str(merged.get('host')))}"
    approach = approach_name(result)
    return f"{_escape(approach)} ({text})" if approach else text


def table_row(result: Mapping[str, Any], checks: bool = False) -> list[str]:
    """One row; with `checks`, the Checks column after the verdict."""
    timings = _timings(result)
    row = [
        cell_text(result),
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
    if checks:
        row.insert(HEADERS.index("Verdict") + 1, checks_text(result))
    return row


def render_table(results: list[dict]) -> str:
    """A GitHub Markdown table, one row per result, in the order given; no trailing newline. The Checks
    column is there when a result has checks."""
    checks = any(check_records(r) for r in results)
    rows = [table_row(r, checks) for r in results]
    headers = list(HEADERS)
    if checks:
        headers.insert(HEADERS.index("Verdict") + 1, CHECKS_HEADER)
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _verdict_order(verdict: str) -> tuple[int, str]:
    order = [o.value for o in Verdict]
    return (order.index(verdict), verdict) if verdict in order else (len(order), verdict)


def summary_line(results: list[dict], run_id: str | None = None) -> str:
    """E.g. `3 cells: 2 pass, 1 import-failed; 1 ran, 2 reused; slowest: <cell_id> (45.2 s)`: with a
    run id, how many cells that run ran and how many it reused from the result cache."""
    count = len(results)
    line = f"{count} cell" + ("" if count == 1 else "s")
    if not results:
        return line
    counts = Counter(str(r.get("verdict") or "unknown") for r in results)
    line += ": " + ", ".join(f"{counts[o]} {o}" for o in sorted(counts, key=_verdict_order))
    infrastructure = sum(n for v, n in counts.items() if v in {i.value for i in INFRASTRUCTURE})
    if infrastructure:
        line += f" ({infrastructure} not a finding about the packages: infrastructure)"
    if run_id is not None:
        reused = sum(1 for r in results if isinstance(r.get("reused"), Mapping) and r["reused"].get("by_run") == run_id)
        line += f"; {count - reused} ran, {reused} reused"
    totals = [(_number(_timings(r).get("total")), str(r.get("cell_id"))) for r in results]
    timed = [(t, cell) for t, cell in totals if t is not None]
    if timed:
        total, slowest = min(timed, key=lambda pair: (-pair[0], pair[1]))
        line += f"; slowest: {slowest} ({format_seconds(total)})"
    return line
