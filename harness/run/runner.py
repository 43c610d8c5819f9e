"""One cell → one CellResult, and a matrix → results on disk.

A failing cell is data: every way a cell can end (image missing, engine error, timeout, failed
install, failed import, crashed interpreter) becomes a CellResult with an verdict and notes.
Only KeyboardInterrupt escapes, after the backend has removed the cell's container.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as _dt
import fnmatch
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging import tags as packaging_tags
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness import incell, installers, redact
from harness.backends.base import (
    LABEL_CELL,
    LABEL_RUN,
    Backend,
    CannotRunHere,
    EngineFailure,
    Execution,
    ImageUnavailable,
    Job,
    Mount,
    Prepared,
)
from harness.errors import HarnessError, ResultsUnwritable
from harness.files import write_text_atomic
from harness.model import Cell, CellResult, Matrix, Verdict
from harness.plan import prediction
from harness.plan.offers import project_of, read_file
from harness.results import store
from harness.run import cache as result_cache
from harness.run import progress, schedule
from harness.run.serve import WheelhouseServer
from harness.verdicts import classify
from harness.verdicts import events as _events

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
    jobs: int = 1  # cells at once
    memory: int | None = None  # a cell's memory limit when neither it nor its matrix sets one (None: none)
    shared_caches: bool = True  # lend cells their platform's shared download cache (False: cold caches)
    reuse: bool = True  # reuse a stored result whose inputs did not change (the result cache)
    force: tuple[str, ...] = ()  # cell id patterns run again even when their inputs did not change
    plan: bool = True  # predict cells with uv: stored beside results, and the key of unpinned cells
    cache_namespace: str = ""  # a prefix for the shared caches' names (tests keep theirs apart)


def effective(cell: Cell, options: RunOptions) -> Cell:
    """The cell as this run runs it: the run's timeout, and its memory limit unless the cell sets one."""
    return dataclasses.replace(cell, timeout=options.timeout or cell.timeout,
                               memory=cell.memory if cell.memory is not None else options.memory)


def cache_name(cell: Cell, namespace: str = "") -> str:
    """The shared download cache of the cell's platform and Python: `linux-amd64-py3.11`."""
    return f"{namespace}{cell.image.arch.platform.replace('/', '-')}-py{prediction.target(cell).python}"


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
    """The cell's pip options, and the read-only mounts its find-links folders need. A backend whose
    cells cannot reach this machine's loopback (a remote engine) gets served wheelhouses copied in as
    find-links folders instead of their URLs."""
    index = cell.index
    if index.serve and not backend.reaches_host_loopback:
        index = dataclasses.replace(index, find_links=(*index.serve, *index.find_links), serve=())
    mounts = [Mount(host=d, cell=backend.cell_path(d, f"links-{i}")) for i, d in enumerate(index.find_links)]
    urls = served_urls(cell, served or {}) if index.serve else []
    return installers.pip_install_args(index, served=urls, links=[m.cell for m in mounts]), mounts


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def on_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def job_uses_host_network(cell: Cell, backend: Backend) -> bool:
    """Only where an index on this machine's loopback must be reached: a served wheelhouse (when the
    engine can reach it) or an index URL on 127.0.0.1/localhost."""
    return (bool(cell.index.serve) and backend.reaches_host_loopback) or any(on_loopback(u) for u in cell.index.urls)


def sources(cell: Cell, pip_args: list[str]) -> dict[str, Any]:
    """The indexes and find-links folders the cell's pip consults, as the driver checks them."""
    urls = [pip_args[i + 1] for i, a in enumerate(pip_args[:-1]) if a in ("--index-url", "--extra-index-url")]
    links = [pip_args[i + 1] for i, a in enumerate(pip_args[:-1]) if a == "--find-links"]
    return {"default": "--no-index" not in pip_args and "--index-url" not in pip_args,
            "indexes": [{"label": redact.url(u), "url": u} for u in urls],
            "find_links": links}


def make_job(cell: Cell, backend: Backend, options: RunOptions, served: Mapping[str, str] | None = None) -> Job:
    cell = effective(cell, options)
    cache = cache_name(cell, options.cache_namespace) if options.shared_caches else None
    environ = os.environ if options.environ is None else options.environ
    pip_args, link_mounts = pip_options(cell, backend, served)
    ca_mounts, env = forwarded_environment(environ, backend)
    # The cell's pip sees only the cell's index variant, not the host's pip configuration.
    env["PIP_CONFIG_FILE"] = os.devnull
    installer = installers.get(cell.installer)
    env = installer.environment(env)
    spec = {
        "workdir": CELL_WORKDIR,
        # the host backend's "image" is the environment the person runs in: seen as an image's packages are
        "system_site_packages": cell.image.ships_torch or backend.inherits_environment,
        "inherit_environment": backend.inherits_environment,
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
        "cache": {"dir": backend.cache_dir(cache)} if cache else None,
        "venv_name": re.sub(r"[^A-Za-z0-9._-]", "_", f"{options.run_id}-{cell.id}"),
        "keep": options.keep,
    }
    files = {
        **{name: Path(path).read_bytes() for name, path in incell.FILES.items()},
        "spec.json": json.dumps(spec, indent=2).encode(),
    }
    return Job(
        image=cell.image,
        files=files,
        mounts=tuple(link_mounts + ca_mounts) + options.extra_mounts,
        argv=("cell.py", "spec.json"),
        timeout=cell.timeout,
        labels={LABEL_RUN: options.run_id, LABEL_CELL: cell.id},
        keep=options.keep,
        gpu=options.gpu,
        host_network=job_uses_host_network(cell, backend),
        memory=cell.memory,
        cache=cache,
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


class CellInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while a cell ran, after its container was removed: carries the cell's
    `interrupted` result, so the run can record it before it stops."""

    def __init__(self, result: CellResult) -> None:
        super().__init__(result.cell_id)
        self.result = result


Predict = Callable[[Cell], Mapping[str, Any] | None]


def run_cell(cell: Cell, backend: Backend, options: RunOptions, *, matrix: str, host: dict[str, Any],
             log_dir: Path | None = None, served: Mapping[str, str] | None = None,
             prediction: Mapping[str, Any] | None = None, predict: Predict | None = None,
             stored: Mapping[str, Any] | None = None, prepare: Callable[[Any], Prepared] | None = None,
             cancel: threading.Event | None = None, output: Callable[[str], None] | None = None,
             names: Sequence[str] = ()) -> CellResult:
    """One cell → its result. Every way a cell ends is a result; Ctrl-C raises CellInterrupted.
    `names` are the projects the matrix names (close names for a requirement that names no project).

    With `stored` (the cell's last record) and `options.reuse`, a cell whose inputs did not change
    (harness.cache) is not run: its stored result stands for this run, marked as reused.
    `predict` makes the prediction when none is given (unpinned cells need it for their key).
    """
    cell = effective(cell, options)
    started, t0 = now(), time.monotonic()
    execution: Execution | None = None
    parsed: _events.CellEvents | None = None
    prepared = Prepared()
    notes: list[str] = []
    evidence: list[str] = []
    hint: str | None = None
    cause: classify.Cause | None = None
    keyed: dict[str, Any] | None = None

    def finish(verdict: Verdict) -> CellResult:
        """The result record: expectation met or not, secrets masked, the log written beside it."""
        expected = verdict.value == cell.expect or verdict is Verdict.SKIPPED
        shown_notes = list(notes)
        if verdict.value == cell.expect and cell.expect != "pass":
            shown_notes.insert(0, f"known-bad, as expected ({cell.expect})"
                               + (f": {cell.expect_why}" if cell.expect_why else ""))
        known = redact.secrets(cell.index)
        log_name = None
        if log_dir is not None and execution is not None:
            log_name = f"{cell.id}.log"
            write_text_atomic(log_dir / log_name, redact.text(execution.log, known))
        install = redact.data(install_record(cell, parsed), known) if parsed else None
        return CellResult(
            matrix=matrix,
            cell_id=cell.id,
            run_id=options.run_id,
            backend=backend.name,
            verdict=verdict,
            started_at=started,
            finished_at=now(),
            cell=describe(cell),
            timings=timings_from(prepared, execution, parsed, time.monotonic() - t0),
            probe=redact.data(parsed.probe, known) if parsed else {},
            phases=redact.data(tuple(parsed.phases), known) if parsed else (),
            host=host,
            notes=tuple(redact.text(n, known) for n in shown_notes),
            evidence=tuple(redact.text(e, known) for e in evidence),
            hint=redact.text(hint, known) if hint else None,
            cause=redact.data(cause.to_json(), known) if cause else None,
            log=log_name,
            expected=expected,
            exit_code=execution.exit_code if execution else None,
            install=install,
            torch_guard=redact.data(dict(parsed.torch_states), known) if parsed else {},
            prediction=redact.data(dict(prediction), known) if prediction else None,
            cache=keyed,
            caches=caches_record(cache_name(cell, options.cache_namespace) if options.shared_caches else None,
                                 parsed, install),
        )

    try:
        prepared = (prepare or backend.prepare)(cell.image)
        if prediction is None and predict is not None and not result_cache.all_pinned(cell):
            prediction = predict(cell)  # the key of an unpinned cell is its resolution
        parts = result_cache.key_parts(cell, image_identity=prepared.identity, prediction=prediction,
                                       gpu=options.gpu, host=options.host_facts)
        if parts is None:
            keyed = {"why": "not keyed: its requirements are not all exact pins and no plan resolved them"}
        else:
            keyed = {"key": result_cache.key(parts), "parts": parts}
            if options.reuse and stored is not None:
                ok, why = result_cache.reusable(stored, parts)
                if ok:
                    record = dict(stored)
                    record["reused"] = {"by_run": options.run_id, "at": now(), "why": why}
                    return CellResult.from_json(record)
                notes.append(f"run again: {why}")
        later = None
        if prediction is None and predict is not None:  # only for the record: made while the cell runs
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan")
            later = pool.submit(predict, cell)
            pool.shutdown(wait=False)
        if job_uses_host_network(cell, backend):
            notes.append("ran on the host's network: an index on this machine's loopback must be reachable "
                         "(a bridge network cannot reach it)")
        if cell.index.serve and not backend.reaches_host_loopback:
            notes.append("served wheelhouse copied into the cell as a find-links folder: the engine cannot "
                         "reach this machine's loopback")
        if cancel is not None and cancel.is_set():
            raise KeyboardInterrupt
        execution = backend.execute(make_job(cell, backend, options, served), cancel=cancel, output=output)
        if later is not None:
            prediction = later.result()
        parsed = _events.parse(execution.log)
        judged = classify.judge(cell, execution, parsed, options.gpu, names=names)
        verdict, evidence, hint, cause = judged.verdict, list(judged.evidence), judged.hint, judged.cause
        notes += list(judged.notes)
        if execution.kept:
            notes.append(f"kept for debugging: {execution.kept}")
    except ImageUnavailable as exc:
        verdict = Verdict.SKIPPED if isinstance(exc, CannotRunHere) else Verdict.IMAGE_UNAVAILABLE
        evidence, hint = [str(exc)], exc.hint or classify.HINTS[verdict]
    except EngineFailure as exc:
        verdict, evidence, hint = Verdict.ENGINE_ERROR, [str(exc)], classify.HINTS[Verdict.ENGINE_ERROR]
    except KeyboardInterrupt:  # the backend has removed the cell's container on its way out
        evidence = [f"the run was interrupted after {time.monotonic() - t0:.1f} s of this cell"]
        hint = classify.HINTS[Verdict.INTERRUPTED]
        raise CellInterrupted(finish(Verdict.INTERRUPTED)) from None
    return finish(verdict)


class ImageGate:
    """Each image made ready once per run, however many cells ask for it at the same time: the first
    cell builds it (and records the build), the others wait for it and find it there."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self.locks: dict[str, threading.Lock] = {}
        self.ready: dict[str, Prepared | BaseException] = {}

    def prepare(self, image: Any) -> Prepared:
        with self.lock:
            lock = self.locks.setdefault(image.tag, threading.Lock())
        with lock:
            if image.tag in self.ready:
                ready = self.ready[image.tag]
                if isinstance(ready, BaseException):
                    raise ready
                return dataclasses.replace(ready, seconds=0.0, built=None)  # made ready by an earlier cell
            try:
                self.ready[image.tag] = self.backend.prepare(image)
            except (ImageUnavailable, EngineFailure) as exc:
                self.ready[image.tag] = exc
                raise
            return self.ready[image.tag]  # type: ignore[return-value]


def in_wheelhouse(requirement: str, folder: Path) -> bool:
    """Whether `requirement` is an exact pin (`name==version`, no marker, no URL) whose wheel for this
    host's Python is already in `folder`; anything looser is left to pip, which may find a newer one."""
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return False
    specs = list(req.specifier)
    if req.marker or req.url or len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return False
    name, host = canonicalize_name(req.name), set(packaging_tags.sys_tags())
    for path in folder.glob("*.whl"):
        wheel = read_file(path.name)
        if (wheel is not None and project_of(path.name) == name
                and req.specifier.contains(wheel.version, prereleases=True) and host & wheel.tags):
            return True
    return False


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
        wanted = [r for r in idx.prefetch if not in_wheelhouse(r, target)]
        if not wanted:
            continue  # every pin's wheel for this host is there: pip would fetch nothing (and take seconds)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
               "--dest", str(target), *wanted]
        log(f"Prefetching {', '.join(wanted)} into wheelhouse {idx.name!r}")
        done = run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise HarnessError(f"prefetch for index variant {idx.name!r} failed:\n{tail}",
                               hint="check the requirement and the host's pip configuration, "
                                    "or fill the wheelhouse directory by hand")


def forced(cell: Cell, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(cell.id, p) for p in patterns)


def run_cells(matrix: Matrix, cells: list[Cell], backend: Backend, options: RunOptions, *,
              results_dir: Path, log: Callable[[str], None] = print,
              predictions: Mapping[str, Mapping[str, Any]] | None = None,
              reporter: progress.Reporter | None = None) -> list[CellResult]:
    """Every cell's result, written to `results_dir` as each one ends, in the cells' order.

    `options.jobs` cells run at once (longest first, by earlier results); a cell whose inputs did not
    change is reused (unless forced); each image is made ready once. Ctrl-C stops every running cell,
    records them as interrupted beside the finished ones, and raises KeyboardInterrupt.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    host = {**backend.facts(), **({"platform": dict(options.host_facts)} if options.host_facts else {})}
    stored = {c.id: store.latest(results_dir, c.id) for c in cells}
    estimates = {c.id: schedule.estimate(c, stored[c.id]) for c in cells}
    reporter = reporter or progress.Lines(len(cells), log=log, jobs=options.jobs,
                                          estimates={k: v for k, v in estimates.items() if stored[k]})
    predict = predictor(options, reporter.note) if predictions is None else (lambda c: None)
    gate = ImageGate(backend)
    names = classify.matrix_names(matrix.package_sets)  # close names for a requirement that names no project
    with contextlib.ExitStack() as stack:  # the folder is this run's, and served wheelhouses live as long as it
        stack.enter_context(store.writing(results_dir, options.run_id))
        served: dict[str, str] = {}
        for directory in dict.fromkeys(d for c in cells for d in c.index.serve):
            served[directory] = stack.enter_context(WheelhouseServer(directory)).url
            reporter.note(f"Serving wheelhouse {Path(directory).name} at {served[directory]}")

        def work(i: int, cancel: threading.Event) -> CellResult:
            cell = cells[i]
            reporter.started(cell.id, i + 1)
            try:
                result = run_cell(cell, backend, options, matrix=matrix.name, host=host, log_dir=results_dir,
                                  served=served, prediction=(predictions or {}).get(cell.id), predict=predict,
                                  stored=None if forced(cell, options.force) else stored[cell.id],
                                  prepare=gate.prepare, cancel=cancel, names=names,
                                  output=lambda text: reporter.output(cell.id, text))
            except CellInterrupted as stopped:
                save(stopped.result)  # the table shows where the run stopped
                reporter.done(cell.id, f"[{i + 1}/{len(cells)}] {cell.id}: interrupted")
                raise
            except OSError as exc:  # the cell's log could not be written
                raise unwritable(cell.id, exc) from None
            save(result)
            reporter.done(cell.id, done_line(result, i + 1, len(cells), options.run_id))
            return result

        def save(result: CellResult) -> None:
            try:
                store.write_result(results_dir, result)
            except OSError as exc:
                raise unwritable(result.cell_id, exc) from None

        def unwritable(cell_id: str, exc: OSError) -> ResultsUnwritable:
            return ResultsUnwritable(f"{results_dir}: cannot write the result of {cell_id}: {exc.strerror or exc}",
                               hint="free space there (or give --results a folder on another disk) and run again; "
                                    "results already written are whole, and no further cell was started")

        for line in backend.tidy(options.run_id):
            reporter.note(f"removed a leftover of an earlier run: {line}")
        try:
            return schedule.run(len(cells), work, jobs=options.jobs,
                                priority=schedule.order(cells, estimates))
        except schedule.RunInterrupted as stopped:
            raise RunStopped([stopped.done[i] for i in sorted(stopped.done)]) from None
        finally:
            backend.tidy(options.run_id)  # what the engine could not remove while it was gone
            left = list(getattr(backend, "unremoved", ()))
            if left:
                reporter.note(f"{len(left)} container(s) of this run could not be removed (the engine did not "
                              f"answer): the next run removes them, or `wheel-harness clean --run-id "
                              f"{options.run_id}` once the engine is back")
            reporter.close()


class RunStopped(KeyboardInterrupt):
    """Ctrl-C stopped a run of cells: `results` holds the finished and the interrupted ones."""

    def __init__(self, results: list[CellResult]) -> None:
        super().__init__("interrupted")
        self.results = results


def done_line(result: CellResult, n: int, total: int, run_id: str) -> str:
    if result.reused and result.reused.get("by_run") == run_id:
        return (f"[{n}/{total}] {result.cell_id}: {result.verdict.value}, reused (inputs unchanged since "
                f"{result.finished_at})")
    first = (result.evidence or result.notes or ("",))[0]
    note = f" — {first}" if first else ""
    return f"[{n}/{total}] {result.cell_id}: {result.verdict.value} in {result.timings['total']:.1f} s{note}"


def target(cell: Cell) -> tuple[str, str]:
    """The target the prediction step resolves a cell for: its Python version and uv's platform name
    (`x86_64-manylinux_2_36`) — what a search asks an index about (harness.releases)."""
    goal = prediction.target(cell)
    return goal.python, goal.platform


def predictor(options: RunOptions, note: Callable[[str], None]) -> Predict | None:
    """The prediction step: `plan`'s prediction of a cell, to store beside its real result and to key
    an unpinned cell; None (said once) where predictions are off or uv is missing."""
    if not options.plan:
        return None
    try:
        uv = installers.uv_binary()
    except HarnessError as exc:
        note(f"note: no plan stored with the results: {exc}")
        return None

    def predict(cell: Cell) -> dict[str, Any]:
        return prediction.predict(cell, uv=uv, environ=options.environ).to_json()

    return predict
