"""What a cell's run becomes in its record: the cell as declared (no credentials, no host paths), what
the installer installed and its sizes, the download caches, the timings."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from harness import checks, redact
from harness.backends.base import Execution, Prepared
from harness.files import write_text_atomic
from harness.model import Cell, CellResult, Verdict
from harness.run.options import now
from harness.verdicts import events as _events


@dataclass(kw_only=True)
class Attempt:
    """What one cell's run has gathered so far, stage by stage (harness.run.runner); `result` makes it
    the cell's record."""

    cell: Cell  # as this run runs it (options.effective)
    started: str
    began: float  # time.monotonic() at the start
    prepared: Prepared = field(default_factory=Prepared)
    prediction: Mapping[str, Any] | None = None
    keyed: dict[str, Any] | None = None
    execution: Execution | None = None
    parsed: _events.CellEvents | None = None
    notes: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    hint: str | None = None
    cause: Mapping[str, Any] | None = None  # what the classifier recognised (verdicts.classify.Cause.to_json)


def result(attempt: Attempt, verdict: Verdict, *, matrix: str, run_id: str, backend: str, host: dict[str, Any],
           log_dir: Path | None, cache: str | None) -> CellResult:
    """The result record: expectation met or not, secrets masked, the log written beside it."""
    cell, parsed, execution = attempt.cell, attempt.parsed, attempt.execution
    expected = verdict.value == cell.expect or verdict is Verdict.SKIPPED
    notes = list(attempt.notes)
    if verdict.value == cell.expect and cell.expect != "pass":
        notes.insert(0, f"known-bad, as expected ({cell.expect})" + (f": {cell.expect_why}" if cell.expect_why else ""))
    known = redact.secrets(cell.index)
    log_name = None
    if log_dir is not None and execution is not None:
        log_name = f"{cell.id}.log"
        write_text_atomic(log_dir / log_name, redact.text(execution.log, known))
    install = redact.data(install_record(cell, parsed), known) if parsed else None
    return CellResult(
        matrix=matrix,
        cell_id=cell.id,
        run_id=run_id,
        backend=backend,
        verdict=verdict,
        started_at=attempt.started,
        finished_at=now(),
        cell=describe(cell),
        timings=timings_from(attempt.prepared, execution, parsed, time.monotonic() - attempt.began),
        probe=redact.data(parsed.probe, known) if parsed else {},
        phases=redact.data(tuple(parsed.phases), known) if parsed else (),
        host=host,
        notes=tuple(redact.text(n, known) for n in notes),
        evidence=tuple(redact.text(e, known) for e in attempt.evidence),
        hint=redact.text(attempt.hint, known) if attempt.hint else None,
        cause=redact.data(dict(attempt.cause), known) if attempt.cause else None,
        log=log_name,
        expected=expected,
        exit_code=execution.exit_code if execution else None,
        install=install,
        torch_guard=redact.data(dict(parsed.torch_states), known) if parsed else {},
        prediction=redact.data(dict(attempt.prediction), known) if attempt.prediction else None,
        cache=attempt.keyed,
        caches=caches_record(cache, parsed, install),
        build=dict(parsed.build) if parsed and parsed.build else None,
        image=image_record(attempt.prepared),
        checks=redact.data(tuple(parsed.checks), known) if parsed else (),
    )


def image_record(prepared: Prepared) -> dict[str, Any] | None:
    """The image the cell ran on: its id, size and layers, and the builds this run made of it (each
    measured once: only the first cell of an image records them); None where nothing is known of it."""
    if prepared.size is None and not prepared.builds:  # the host backend: no image
        return None
    return {"id": prepared.identity or None, "size": prepared.size,
            "layers": [dict(layer) for layer in prepared.layers], "builds": [b.to_json() for b in prepared.builds]}


def describe(cell: Cell) -> dict[str, Any]:
    """The cell as recorded in its result (Cell.to_json): URLs without credentials, and host folders
    relative to the working directory (or by name alone), so a result says nothing of this machine."""
    cwd = Path.cwd()

    def shown(path: str) -> str:
        p = Path(path)
        return str(p.relative_to(cwd)) if p.is_relative_to(cwd) else p.name

    described = cell.to_json()
    index = described["index"]
    index.update(index_url=redact.url(index["index_url"]) if index["index_url"] else None,
                 extra_index_urls=[redact.url(u) for u in index["extra_index_urls"]],
                 find_links=[shown(d) for d in index["find_links"]], serve=[shown(d) for d in index["serve"]])
    packages = described["packages"]
    if packages.get("checks"):
        packages["checks"] = [c if checks.is_builtin(c) else checks.UserCheck.of(c).shown(cwd)
                              for c in packages["checks"]]
    return described


def install_record(cell: Cell, parsed: _events.CellEvents) -> dict[str, Any] | None:
    """pip's install report, each item with its size: as pip printed it when it downloaded the file
    (or took it from its cache), or measured on the host for a file from a find-links folder."""
    if parsed.install is None:
        return None
    fetched = _events.downloads(parsed.output.get("install", ""))
    items = []
    for item in parsed.install.get("items", []):
        item = dict(item)
        size = fetched.get(item.get("file") or "")
        if size is None and str(item.get("url", "")).startswith("file:"):
            name = unquote(item["file"])  # a file: URL's name is percent-encoded: torch-2.13.0%2Bcpu-…
            local = next((Path(d) / name for d in cell.index.find_links if (Path(d) / name).is_file()), None)
            size = {"bytes": local.stat().st_size, "how": "local"} if local else None
        item["size"] = size
        items.append(item)
    downloaded = sum(i["size"]["bytes"] for i in items if i["size"] and i["size"]["how"] == "downloaded")
    return {**parsed.install, "items": items, "downloaded_bytes": downloaded}


def caches_record(cache: str | None, parsed: _events.CellEvents | None,
                  install: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The download caches the cell had: shared (which) or cold, warm or cold, and what the install
    took from them against what it downloaded."""
    if parsed is None or parsed.cache is None:
        return None
    out: dict[str, Any] = {"shared": cache if parsed.cache.get("shared") else None, "state": parsed.cache.get("state")}
    if install:
        items = list(install.get("items") or [])
        if install.get("installer") == "uv":
            prepared = install.get("prepared")
            if isinstance(prepared, int):
                out.update(downloaded=prepared, from_cache=max(0, len(items) - prepared))
        else:
            hows = [(i.get("size") or {}).get("how") for i in items]
            out.update(downloaded=hows.count("downloaded"), from_cache=hows.count("cached"),
                       local=hows.count("local"), downloaded_bytes=install.get("downloaded_bytes"))
    return out


def timings_from(prepared: Prepared, execution: Execution | None,
                 parsed: _events.CellEvents | None, total: float) -> dict[str, Any]:
    timings: dict[str, Any] = {"image": round(prepared.seconds, 3), "image_build": prepared.built,
                               "total": round(total, 3)}
    if execution is not None:
        timings["container_start"] = round(execution.timings.get("container_start", 0.0), 3)
    if parsed is not None:
        for phase in parsed.phases:
            if "seconds" in phase:
                timings[phase["phase"]] = round(phase["seconds"], 3)
        if parsed.install_split:  # the install phase, split where pip starts installing files
            timings["install_split"] = {k: round(v, 3) for k, v in parsed.install_split.items()}
        timings["imports"] = {s["module"]: round(s.get("seconds") or 0.0, 3) for s in parsed.probe.get("imports", [])}
    return timings
