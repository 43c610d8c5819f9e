"""One cell → one CellResult, and a matrix → results on disk.

A failing cell is data: every way a cell can end (image missing, engine error, timeout, failed
install, failed import, crashed interpreter) becomes a CellResult with an verdict and notes.
Only KeyboardInterrupt escapes, after the backend has removed the cell's container.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import events as _events
from . import installers, plan, redact, verdicts
from .atomic import write_text_atomic
from .backend import (
    LABEL_CELL,
    LABEL_RUN,
    Backend,
    CannotRunHere,
    EngineFailure,
    Execution,
    ImageUnavailable,
    Job,
    Mount,
)
from .errors import HarnessError
from .model import Cell, CellResult, Matrix, Verdict
from .serve import WheelhouseServer
from .store import write_result

HERE = Path(__file__).resolve().parent
CA_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
CELL_WORKDIR = "ewh-work"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    run_id: str
    keep: bool = False
    timeout: float | None = None  # overrides the matrix's per-cell timeout
    environ: Mapping[str, str] | None = None  # the host environment to forward CA bundle/proxies from
    gpu: str = "none"  # how cells get the GPU on this host (see hostfacts.gpu_access)
    extra_mounts: tuple[Mount, ...] = ()  # host files every cell sees read-only (e.g. /etc/nv_tegra_release)
    host_facts: Mapping[str, Any] | None = None  # recorded in every result (hostfacts.detect)


def forwarded_environment(environ: Mapping[str, str], backend: Backend) -> tuple[list[Mount], dict[str, str]]:
    """The host's CA bundle (mounted read-only) and proxy settings, as the cell must see them.

    Behind a corporate proxy pip inside a cell needs the same CA bundle and proxy variables as the
    host; each CA file is mounted once and every variable that named it points at the mount.
    """
    mounts: list[Mount] = []
    env: dict[str, str] = {}
    placed: dict[str, str] = {}
    for var in CA_VARIABLES:
        path = environ.get(var)
        if not path or not os.path.isfile(path):
            continue
        if path not in placed:
            slot = f"ca-{len(placed)}.pem"
            placed[path] = backend.cell_path(path, slot)
            mounts.append(Mount(host=path, cell=placed[path]))
        env[var] = placed[path]
    for var in PROXY_VARIABLES:
        for name in (var, var.lower()):
            if environ.get(name):
                env[name] = environ[name]
    return mounts, env


def served_urls(cell: Cell, served: Mapping[str, str]) -> list[str]:
    """The URLs of the wheelhouses this cell's index variant has the harness serve."""
    missing = [d for d in cell.index.serve if d not in served]
    if missing:
        raise HarnessError(f"wheelhouse {missing[0]} of index variant {cell.index.name!r} is not being served",
                           hint="run cells through run_cells(), which serves them for the run")
    return [served[d] for d in cell.index.serve]


def pip_options(cell: Cell, backend: Backend, served: Mapping[str, str] | None = None) -> tuple[list[str], list[Mount]]:
    """The cell's pip options, and the read-only mounts its find-links folders need."""
    mounts = [Mount(host=d, cell=backend.cell_path(d, f"links-{i}")) for i, d in enumerate(cell.index.find_links)]
    args = installers.pip_install_args(cell.index, served=served_urls(cell, served or {}),
                                       links=[m.cell for m in mounts])
    return args, mounts


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def on_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def sources(cell: Cell, pip_args: list[str]) -> dict[str, Any]:
    """The indexes and find-links folders the cell's pip consults, as the driver checks them."""
    urls = [pip_args[i + 1] for i, a in enumerate(pip_args[:-1]) if a in ("--index-url", "--extra-index-url")]
    links = [pip_args[i + 1] for i, a in enumerate(pip_args[:-1]) if a == "--find-links"]
    return {"default": "--no-index" not in pip_args and "--index-url" not in pip_args,
            "indexes": [{"label": redact.url(u), "url": u} for u in urls],
            "find_links": links}


def make_job(cell: Cell, backend: Backend, options: RunOptions, served: Mapping[str, str] | None = None) -> Job:
    environ = os.environ if options.environ is None else options.environ
    pip_args, link_mounts = pip_options(cell, backend, served)
    ca_mounts, env = forwarded_environment(environ, backend)
    # The cell's pip sees only the cell's index variant, not the host's pip configuration.
    env["PIP_CONFIG_FILE"] = os.devnull
    installer = installers.get(cell.installer)
    env = installer.environment(env)
    spec = {
        "workdir": CELL_WORKDIR,
        "system_site_packages": cell.image.ships_torch,
        "requirements": list(cell.packages.requirements),
        "pip_args": pip_args,
        "modules": list(cell.packages.modules),
        "env": env,
        "unset": list(installers.INDEX_VARIABLES),
        "installer": cell.installer,
        "uv_args": installer.install_args(pip_args),
        # What the driver asks, after a failed install, to tell an outage from a missing wheel.
        "sources": sources(cell, pip_args),
        "retry": {"attempts": cell.retry.attempts, "backoff": cell.retry.backoff},
    }
    files = {
        "cell.py": (HERE / "cell.py").read_bytes(),
        "probe.py": (HERE / "probe.py").read_bytes(),
        "spec.json": json.dumps(spec, indent=2).encode(),
    }
    return Job(
        image=cell.image,
        files=files,
        mounts=tuple(link_mounts + ca_mounts) + options.extra_mounts,
        argv=("cell.py", "spec.json"),
        timeout=options.timeout or cell.timeout,
        labels={LABEL_RUN: options.run_id, LABEL_CELL: cell.id},
        keep=options.keep,
        gpu=options.gpu,
        host_network=bool(cell.index.serve) or any(on_loopback(u) for u in cell.index.urls),
    )


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


def timings_from(prepare: tuple[float, str | None], execution: Execution | None,
                 parsed: _events.CellEvents | None, total: float) -> dict[str, Any]:
    timings: dict[str, Any] = {"image": round(prepare[0], 3), "image_build": prepare[1], "total": round(total, 3)}
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


class CellInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while a cell ran, after its container was removed: carries the cell's
    `interrupted` result, so the run can record it before it stops."""

    def __init__(self, result: CellResult) -> None:
        super().__init__(result.cell_id)
        self.result = result


def run_cell(cell: Cell, backend: Backend, options: RunOptions, *, matrix: str, host: dict[str, Any],
             log_dir: Path | None = None, served: Mapping[str, str] | None = None,
             prediction: Mapping[str, Any] | None = None) -> CellResult:
    """One cell → its result. Every way a cell ends is a result; Ctrl-C raises CellInterrupted."""
    started, t0 = now(), time.monotonic()
    execution: Execution | None = None
    parsed: _events.CellEvents | None = None
    prepare: tuple[float, str | None] = (0.0, None)
    notes: list[str] = []
    evidence: list[str] = []
    hint: str | None = None

    def finish(verdict: Verdict) -> CellResult:
        """The result record: expectation met or not, secrets masked, the log written beside it."""
        expected = verdict.value == cell.expect or verdict is Verdict.SKIPPED
        shown_notes = list(notes)
        if expected and cell.expect != "pass":
            shown_notes.insert(0, f"known-bad, as expected ({cell.expect})"
                               + (f": {cell.expect_why}" if cell.expect_why else ""))
        known = redact.secrets(cell.index)
        log_name = None
        if log_dir is not None and execution is not None:
            log_name = f"{cell.id}.log"
            write_text_atomic(log_dir / log_name, redact.text(execution.log, known))
        return CellResult(
            matrix=matrix,
            cell_id=cell.id,
            run_id=options.run_id,
            backend=backend.name,
            verdict=verdict,
            started_at=started,
            finished_at=now(),
            cell=describe(cell),
            timings=timings_from(prepare, execution, parsed, time.monotonic() - t0),
            probe=redact.data(parsed.probe, known) if parsed else {},
            phases=redact.data(tuple(parsed.phases), known) if parsed else (),
            host=host,
            notes=tuple(redact.text(n, known) for n in shown_notes),
            evidence=tuple(redact.text(e, known) for e in evidence),
            hint=redact.text(hint, known) if hint else None,
            log=log_name,
            expected=expected,
            exit_code=execution.exit_code if execution else None,
            install=redact.data(install_record(cell, parsed), known) if parsed else None,
            torch_guard=redact.data(dict(parsed.torch_states), known) if parsed else {},
            prediction=redact.data(dict(prediction), known) if prediction else None,
        )

    try:
        prepare = backend.prepare(cell.image)
        execution = backend.execute(make_job(cell, backend, options, served))
        parsed = _events.parse(execution.log)
        judged = verdicts.judge(cell, execution, parsed, options.gpu)
        verdict, evidence, notes, hint = judged.verdict, list(judged.evidence), list(judged.notes), judged.hint
        if execution.kept:
            notes.append(f"kept for debugging: {execution.kept}")
    except ImageUnavailable as exc:
        verdict = Verdict.SKIPPED if isinstance(exc, CannotRunHere) else Verdict.IMAGE_UNAVAILABLE
        evidence, hint = [str(exc)], exc.hint or verdicts.HINTS[verdict]
    except EngineFailure as exc:
        verdict, evidence, hint = Verdict.ENGINE_ERROR, [str(exc)], verdicts.HINTS[Verdict.ENGINE_ERROR]
    except KeyboardInterrupt:  # the backend has removed the cell's container on its way out
        evidence = [f"the run was interrupted after {time.monotonic() - t0:.1f} s of this cell"]
        hint = verdicts.HINTS[Verdict.INTERRUPTED]
        raise CellInterrupted(finish(Verdict.INTERRUPTED)) from None
    return finish(verdict)


def prefetch(cells: list[Cell], *, run: Callable[..., Any] = subprocess.run,
             log: Callable[[str], None] = print) -> None:
    """Fill wheelhouse variants with `pip download` on the host (using the host's pip configuration)."""
    seen = set()
    for idx in (c.index for c in cells):
        if not idx.prefetch or idx.name in seen:
            continue
        seen.add(idx.name)
        target = Path(idx.wheelhouse)
        target.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
               "--dest", str(target), *idx.prefetch]
        log(f"Prefetching {', '.join(idx.prefetch)} into wheelhouse {idx.name!r}")
        done = run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise HarnessError(f"prefetch for index variant {idx.name!r} failed:\n{tail}",
                               hint="check the requirement and the host's pip configuration, "
                                    "or fill the wheelhouse directory by hand")


def run_cells(matrix: Matrix, cells: list[Cell], backend: Backend, options: RunOptions, *,
              results_dir: Path, log: Callable[[str], None] = print,
              predictions: Mapping[str, Mapping[str, Any]] | None = None) -> list[CellResult]:
    results_dir.mkdir(parents=True, exist_ok=True)
    host = {**backend.facts(), **({"platform": dict(options.host_facts)} if options.host_facts else {})}
    out: list[CellResult] = []
    with contextlib.ExitStack() as stack:  # wheelhouses the harness serves live as long as the run
        served: dict[str, str] = {}
        for directory in dict.fromkeys(d for c in cells for d in c.index.serve):
            served[directory] = stack.enter_context(WheelhouseServer(directory)).url
            log(f"Serving wheelhouse {Path(directory).name} at {served[directory]}")
        for n, cell in enumerate(cells, 1):
            log(f"[{n}/{len(cells)}] {cell.id} ({backend.name}) …")
            try:
                result = run_cell(cell, backend, options, matrix=matrix.name, host=host, log_dir=results_dir,
                                  served=served, prediction=(predictions or {}).get(cell.id))
            except CellInterrupted as stopped:
                write_result(results_dir, stopped.result)  # the table shows where the run stopped
                raise
            write_result(results_dir, result)
            first = (result.evidence or result.notes or ("",))[0]
            note = f" — {first}" if first else ""
            log(f"[{n}/{len(cells)}] {cell.id}: {result.verdict.value} in {result.timings['total']:.1f} s{note}")
            out.append(result)
    return out


def predict(cells: list[Cell], log: Callable[[str], None] = print) -> dict[str, dict] | None:
    """The prediction step: `plan`'s prediction for each cell, to store beside its real result;
    None (said once) where uv is missing."""
    try:
        uv = installers.uv_binary()
    except HarnessError as exc:
        log(f"note: no plan stored with the results: {exc}")
        return None
    log(f"Planning {len(cells)} cell(s) with uv (no containers) …")
    return {c.id: plan.predict(c, uv=uv).to_json() for c in cells}
