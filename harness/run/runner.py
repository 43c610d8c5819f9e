"""One cell → one CellResult, and a matrix → results on disk.

A failing cell is data: every way a cell can end (image missing, engine error, timeout, failed
install, failed import, crashed interpreter) becomes a CellResult with a verdict and notes.
Only KeyboardInterrupt escapes, after the backend has removed the cell's container.

A cell goes through named stages (each testable alone): its image made ready, its key made and a
stored result reused where its inputs did not change (`key_or_reuse`), its job run by the backend,
its log judged (`judge`), its record built (harness.run.record).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import installers
from harness.backends.base import Backend, CannotRunHere, EngineFailure, ImageUnavailable, Prepared
from harness.errors import CellInterrupted, HarnessError, ResultsUnwritable
from harness.model import Cell, CellResult, GpuMode, Matrix, Verdict
from harness.plan import prediction
from harness.results import store
from harness.run import cache as result_cache
from harness.run import progress, record, schedule
from harness.run.job import cache_name, job_uses_host_network, make_job
from harness.run.ledger import RunLedger
from harness.run.options import RunOptions, effective, forced, now
from harness.run.record import Attempt
from harness.run.serve import WheelhouseServer
from harness.verdicts import classify
from harness.verdicts import events as _events

Predict = Callable[[Cell], Mapping[str, Any] | None]


def run_cell(cell: Cell, backend: Backend, options: RunOptions, *, matrix: str, host: dict[str, Any],
             log_dir: Path | None = None, served: Mapping[str, str] | None = None,
             prediction: Mapping[str, Any] | None = None, predict: Predict | None = None,
             stored: Mapping[str, Any] | None = None, prepare: Callable[[Any], Prepared] | None = None,
             cancel: threading.Event | None = None, output: Callable[[str], None] | None = None,
             names: Sequence[str] = (), meanwhile: Callable[[Cell], None] | None = None) -> CellResult:
    """One cell → its result. Every way a cell ends is a result; Ctrl-C raises CellInterrupted.
    `names` are the projects the matrix names (close names for a requirement that names no project).

    With `stored` (the cell's last record) and `options.reuse`, a cell whose inputs did not change
    (harness.run.cache) is not run: its stored result stands for this run, marked as reused.
    `predict` makes the prediction when none is given (unpinned cells need it for their key).
    `meanwhile` is told the cell (with the effective options) as it is about to really run.
    """
    cell = effective(cell, options)
    attempt = Attempt(cell=cell, started=now(), began=time.monotonic(), prediction=prediction)

    def finish(verdict: Verdict) -> CellResult:
        return record.result(attempt, verdict, matrix=matrix, run_id=options.run_id, backend=backend.name,
                             host=host, log_dir=log_dir,
                             cache=cache_name(cell, options.cache_namespace) if options.shared_caches else None)

    try:
        attempt.prepared = (prepare or backend.prepare)(cell.image)
        reused = key_or_reuse(attempt, options, predict=predict, stored=stored)
        if reused is not None:
            return reused
        later = predict_meanwhile(attempt, predict)
        attempt.notes += network_notes(cell, backend)
        if cancel is not None and cancel.is_set():
            raise KeyboardInterrupt
        if meanwhile is not None:
            meanwhile(cell)
        attempt.execution = backend.execute(make_job(cell, backend, options, served), cancel=cancel, output=output)
        if later is not None:
            attempt.prediction = later.result()
        verdict = judge(attempt, options.gpu, names)
    except ImageUnavailable as exc:
        verdict = Verdict.SKIPPED if isinstance(exc, CannotRunHere) else Verdict.IMAGE_UNAVAILABLE
        attempt.evidence, attempt.hint = [str(exc)], exc.hint or classify.HINTS[verdict]
    except EngineFailure as exc:
        verdict = Verdict.ENGINE_ERROR
        attempt.evidence, attempt.hint = [str(exc)], classify.HINTS[Verdict.ENGINE_ERROR]
    except KeyboardInterrupt:  # the backend has removed the cell's container on its way out
        attempt.evidence = [f"the run was interrupted after {time.monotonic() - attempt.began:.1f} s of this cell"]
        attempt.hint = classify.HINTS[Verdict.INTERRUPTED]
        raise CellInterrupted(finish(Verdict.INTERRUPTED)) from None
    return finish(verdict)


def key_or_reuse(attempt: Attempt, options: RunOptions, *, predict: Predict | None = None,
                 stored: Mapping[str, Any] | None = None) -> CellResult | None:
    """The cell's key (harness.run.cache) on the attempt; the stored result when it may stand for this
    run (same key, a finding, reuse allowed), marked as reused; None when the cell must run."""
    cell = attempt.cell
    if attempt.prediction is None and predict is not None and not result_cache.all_pinned(cell):
        attempt.prediction = predict(cell)  # the key of an unpinned cell is its resolution
    parts = result_cache.key_parts(cell, image_identity=attempt.prepared.identity, prediction=attempt.prediction,
                                   gpu=options.gpu, host=options.host_facts)
    if parts is None:
        attempt.keyed = {"why": "not keyed: its requirements are not all exact pins and no plan resolved them"}
        return None
    attempt.keyed = {"key": result_cache.key(parts), "parts": parts}
    if options.reuse and stored is not None:
        ok, why = result_cache.reusable(stored, parts)
        if ok:
            reused = dict(stored)
            reused["reused"] = {"by_run": options.run_id, "at": now(), "why": why}
            return CellResult.from_json(reused)
        attempt.notes.append(f"run again: {why}")
    return None


def predict_meanwhile(attempt: Attempt, predict: Predict | None) -> concurrent.futures.Future[Any] | None:
    """The prediction of a cell that has none yet, made in the background while the cell runs (only for
    its record)."""
    if attempt.prediction is not None or predict is None:
        return None
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan")
    later = pool.submit(predict, attempt.cell)
    pool.shutdown(wait=False)
    return later


def network_notes(cell: Cell, backend: Backend) -> list[str]:
    """What the cell's network is, where it is not the engine's default."""
    notes = []
    if job_uses_host_network(cell, backend):
        notes.append("ran on the host's network: an index on this machine's loopback must be reachable "
                     "(a bridge network cannot reach it)")
    if cell.packages.lock is not None:
        notes.append(f"replayed the lock {cell.packages.lock.path} from its wheelhouse alone, hash-checked, with no "
                     "network" + ("" if backend.name == "docker" else " (this backend cannot take the network away)"))
    if cell.index.serve and not backend.reaches_host_loopback:
        notes.append("served wheelhouse copied into the cell as a find-links folder: the engine cannot "
                     "reach this machine's loopback")
    return notes


def judge(attempt: Attempt, gpu: GpuMode, names: Sequence[str] = ()) -> Verdict:
    """The cell's log parsed and judged (harness.verdicts): the verdict, with its evidence, hint and
    notes put on the attempt."""
    execution = attempt.execution
    assert execution is not None
    attempt.parsed = _events.parse(execution.log)
    judged = classify.judge(attempt.cell, execution, attempt.parsed, gpu, names=names)
    attempt.evidence, attempt.hint = list(judged.evidence), judged.hint
    attempt.cause = judged.cause.to_json() if judged.cause else None
    attempt.notes += list(judged.notes) + list(execution.notes)
    if execution.kept:
        attempt.notes.append(f"kept for debugging: {execution.kept}")
    return judged.verdict


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
                return dataclasses.replace(ready, seconds=0.0, built=None, builds=())  # made ready by an earlier cell
            try:
                self.ready[image.tag] = self.backend.prepare(image)
            except (ImageUnavailable, EngineFailure) as exc:
                self.ready[image.tag] = exc
                raise
            return self.ready[image.tag]  # type: ignore[return-value]


def run_cells(matrix: Matrix, cells: list[Cell], backend: Backend, options: RunOptions, *,
              results_dir: Path, log: Callable[[str], None] = print,
              predictions: Mapping[str, Mapping[str, Any]] | None = None,
              reporter: progress.Reporter | None = None) -> list[CellResult]:
    """Every cell's result, written to `results_dir` as each one ends, in the cells' order.

    `options.jobs` cells run at once (longest first, by earlier results); a cell whose inputs did not
    change is reused (unless forced); each image is made ready once. Ctrl-C stops every running cell,
    records them as interrupted beside the finished ones, and raises RunInterrupted.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    host = {**backend.facts(), **({"platform": dict(options.host_facts)} if options.host_facts else {})}
    stored = {c.id: store.latest(results_dir, c.id) for c in cells}
    estimates = {c.id: schedule.estimate(c, stored[c.id]) for c in cells}
    reporter = reporter or progress.Lines(len(cells), log=log, jobs=options.jobs,
                                          estimates={k: v for k, v in estimates.items() if stored[k]})
    gate = ImageGate(backend)
    names = classify.matrix_names(matrix.package_sets)  # close names for a requirement that names no project
    with contextlib.ExitStack() as stack:  # the folder is this run's, and served wheelhouses live as long as it
        stack.enter_context(store.writing(results_dir, options.run_id))
        # the run's predictions share one snapshot of what the indexes list (removed at the run's end)
        snapshot = tempfile.mkdtemp(prefix="ewh-plan-snapshot-")
        stack.callback(shutil.rmtree, snapshot, ignore_errors=True)
        predict = predictor(options, reporter.note, snapshot=snapshot) if predictions is None else (lambda c: None)
        served: dict[str, str] = {}
        for directory in dict.fromkeys(d for c in cells for d in c.index.serve):
            served[directory] = stack.enter_context(WheelhouseServer(directory)).url
            reporter.note(f"Serving wheelhouse {Path(directory).name} at {served[directory]}")
        ledger = RunLedger(results_dir, options.run_id, served=served, environ=options.environ)
        ledgers = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ledger")
        # leaving early (Ctrl-C, a full disk): what waits to be attached is dropped, its record kept as written
        stack.callback(ledgers.shutdown, wait=True, cancel_futures=True)
        attaching: dict[int, concurrent.futures.Future[CellResult]] = {}

        def work(i: int, cancel: threading.Event) -> CellResult:
            cell = cells[i]
            reporter.started(cell.id, i + 1)
            try:
                result = run_cell(cell, backend, options, matrix=matrix.name, host=host, log_dir=results_dir,
                                  served=served, prediction=(predictions or {}).get(cell.id), predict=predict,
                                  stored=None if forced(cell, options.force) else stored[cell.id],
                                  prepare=gate.prepare, cancel=cancel, names=names,
                                  meanwhile=lambda effective: ledger.prefetch(effective, stored[cell.id]),
                                  output=lambda text: reporter.output(cell.id, text))
            except CellInterrupted as stopped:
                save(stopped.result)  # the table shows where the run stopped
                reporter.done(cell.id, f"[{i + 1}/{len(cells)}] {cell.id}: interrupted")
                raise
            except OSError as exc:  # the cell's log could not be written
                raise unwritable(cell.id, exc) from None
            save(result)
            reporter.done(cell.id, done_line(result, i + 1, len(cells), options.run_id))
            if not result.reused:  # what its index offered, kept once per run and source: off the
                # cell's path, so a page still on its way holds up no next cell (the run waits at its end)
                attaching[i] = ledgers.submit(attach, cell, result)
            return result

        def attach(cell: Cell, result: CellResult) -> CellResult:
            attached = ledger.attach(cell, result)
            if attached is not result:
                save(attached)  # the same record, now naming its ledger
            return attached

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
            results = schedule.run(len(cells), work, jobs=options.jobs, priority=schedule.order(cells, estimates))
            return [attaching[i].result() if i in attaching else result for i, result in enumerate(results)]
        finally:
            backend.tidy(options.run_id)  # what the engine could not remove while it was gone
            left = list(getattr(backend, "unremoved", ()))
            if left:
                reporter.note(f"{len(left)} container(s) of this run could not be removed (the engine did not "
                              f"answer): the next run removes them, or `wheel-harness clean --run-id "
                              f"{options.run_id}` once the engine is back")
            reporter.close()


def done_line(result: CellResult, n: int, total: int, run_id: str) -> str:
    if result.reused and result.reused.get("by_run") == run_id:
        return (f"[{n}/{total}] {result.cell_id}: {result.verdict.value}, reused (inputs unchanged since "
                f"{result.finished_at})")
    first = (result.evidence or result.notes or ("",))[0]
    note = f" — {first}" if first else ""
    return f"[{n}/{total}] {result.cell_id}: {result.verdict.value} in {result.timings['total']:.1f} s{note}"


def predictor(options: RunOptions, note: Callable[[str], None], *, snapshot: str | None = None) -> Predict | None:
    """The prediction step: `plan`'s prediction of a cell, to store beside its real result and to key
    an unpinned cell; None (said once) where predictions are off or uv is missing. The predictions of
    one run share `snapshot` (prediction.predict): each index page is asked once a run."""
    if not options.plan:
        return None
    try:
        uv = installers.uv_binary()
    except HarnessError as exc:
        note(f"note: no plan stored with the results: {exc}")
        return None

    def predict(cell: Cell) -> dict[str, Any]:
        return prediction.predict(cell, uv=uv, environ=options.environ, snapshot=snapshot).to_json()

    return predict
