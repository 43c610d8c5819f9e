"""The result store: one cell's record written as `results/<matrix>/<cell-id>.json`, and every record
of a folder read back (older schema versions migrated). Results are written and read here only; the
renderers (harness.reports: table, documents, junit, html, diff …) read what this returns and know
nothing of containers.

Layout of a matrix's folder:

    <cell-id>.json                 the latest record of each cell (what tables, caches and diffs read)
    <cell-id>.log                  that record's log
    history/<run-id>/<cell-id>.json  the records later runs replaced, one folder per run, the newest
                                   HISTORY_RUNS runs kept (run ids begin with the UTC time they started,
                                   so their names sort oldest first)
    ledger/<run-id>/<source>.json  what each source offered in that run (harness.plan.ledger), once per
                                   run and source; records name theirs. Kept while a stored record
                                   (latest or history) belongs to that run

A folder holds one matrix; `read_results` also reads a single JSON file holding records (one record,
or `{"results": [record, …]}`), so several folders' records can be read the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.files import write_json_atomic
from harness.model import SCHEMA_VERSION, CellResult, is_safe_file_name

HISTORY = "history"
LEDGER = "ledger"
HISTORY_RUNS = 20  # runs whose replaced records are kept; older ones are deleted when a run writes
LOCK = ".run.lock"  # held by the run writing a folder (filelock: released by the OS if the run dies)
OWNER = ".run.json"  # who holds it: run id, pid, since when (for the message a second run gets)


@contextlib.contextmanager
def writing(results_dir: Path, run_id: str) -> Iterator[None]:
    """Hold a results folder for one run: a second run on the same folder stops at once with a
    message naming the run that holds it, instead of interleaving its records with the first's."""
    from filelock import FileLock, Timeout

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(results_dir / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            owner = json.loads((results_dir / OWNER).read_text(encoding="utf-8"))
            who = f"run {owner.get('run_id')} (pid {owner.get('pid')}, since {owner.get('since')})"
        except (OSError, ValueError):
            who = "another run"
        raise ReportError(f"{results_dir} is being written by {who}",
                          hint="wait for it to finish, or give this run another --results folder") from None
    try:
        try:
            write_json_atomic(results_dir / OWNER, {"run_id": run_id, "pid": os.getpid(),
                                                    "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        except OSError:
            pass  # who holds it is only for the message; a full disk is said when a result cannot be written
        yield
    finally:
        (results_dir / OWNER).unlink(missing_ok=True)
        lock.release()


def write_result(results_dir: Path, result: CellResult, *, keep_runs: int = HISTORY_RUNS) -> Path:
    """Write one cell's record to `results_dir/<cell_id>.json`; `results_dir` is `results/<matrix>`.

    The record it replaces, when an earlier run wrote it, moves to `history/<its run id>/`, and only the
    newest `keep_runs` run folders stay there.
    """
    results_dir = Path(results_dir)
    path = results_dir / f"{result.cell_id}.json"
    archived = _archive(path, result.run_id)
    try:
        write_json_atomic(path, result.to_json())
    except BaseException:
        if archived is not None:
            archived.replace(path)  # the new record could not be written (a full disk): the old one stays
        raise
    if archived is not None:
        prune_history(results_dir, keep_runs)
        prune_ledgers(results_dir)
    return path


def _archive(path: Path, run_id: str) -> Path | None:
    """Move the record at `path` into the history, unless it is this run's own (or unreadable);
    where it went."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None  # not a record anyone can read back: the new one simply replaces it
    old_run = old.get("run_id") if isinstance(old, dict) else None
    if not is_safe_file_name(old_run) or old_run == run_id:  # a run id that is no folder name is not followed
        return None
    target = path.parent / HISTORY / old_run / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)  # same filesystem: atomic, and the latest record is rewritten right after
    return target


def prune_history(results_dir: Path, keep_runs: int = HISTORY_RUNS) -> list[str]:
    """Delete all but the newest `keep_runs` run folders of the history; returns the run ids deleted."""
    runs = history_runs(results_dir)
    gone = runs[: max(0, len(runs) - keep_runs)]
    for run_id in gone:
        shutil.rmtree(Path(results_dir) / HISTORY / run_id)
    return gone


def prune_ledgers(results_dir: Path) -> list[str]:
    """Delete the ledgers of runs no stored record (latest or history) belongs to; the run ids deleted."""
    folder = Path(results_dir) / LEDGER
    if not folder.is_dir():
        return []
    kept = set(history_runs(results_dir))
    for path in Path(results_dir).glob("*.json"):
        try:
            kept.add(str(json.loads(path.read_text(encoding="utf-8")).get("run_id")))
        except (OSError, ValueError, AttributeError):
            continue
    gone = [p.name for p in folder.iterdir() if p.is_dir() and p.name not in kept]
    for run_id in gone:
        shutil.rmtree(folder / run_id, ignore_errors=True)
    return gone


def ledger_file(label: str) -> str:
    """The file name of a source's ledger: its label made safe, and a hash of the label (two labels that
    make the same safe text still get two files)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-._")[:60] or "source"
    return f"{safe}-{hashlib.sha256(label.encode()).hexdigest()[:10]}.json"


def write_ledger(results_dir: Path, ledger: dict[str, Any]) -> str:
    """Write one run's ledger of one source; returns its path relative to `results_dir` (what records name)."""
    relative = f"{LEDGER}/{ledger['run_id']}/{ledger_file(str(ledger['source']))}"
    write_json_atomic(Path(results_dir) / relative, ledger)
    return relative


def _ledger_roots(path: Path, record: dict) -> list[Path]:
    """Where a record's ledger references may lead from: its matrix folder, found from the path the records
    were read from (a matrix folder, a results root, a history run, a JSON file beside a folder)."""
    path = Path(path)
    base = path if path.is_dir() else path.parent
    roots = [base, base / str(record.get("matrix") or "")]
    if base.parent.name == HISTORY:
        roots.append(base.parent.parent)
    return roots


def read_ledgers(path: Path, records: Iterable[dict]) -> list[dict]:
    """The ledgers the records name (each once), read from beside them; a missing or unreadable one is
    left out (its drift is then not compared)."""
    found: dict[str, dict] = {}
    for record in records:
        refs = (record.get("ledger") or {}).get("sources") if isinstance(record.get("ledger"), dict) else None
        for ref in refs or ():
            relative = str((ref or {}).get("file") or "")
            parts = relative.split("/")
            if len(parts) != 3 or parts[0] != LEDGER or not all(map(is_safe_file_name, parts[1:])):
                continue  # a reference that is no ledger file of a results folder is not followed
            for root in _ledger_roots(path, record):
                target = root / relative
                key = str(target.resolve())
                if key in found:
                    break
                try:
                    data = json.loads(target.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(data, dict) and isinstance(data.get("projects"), dict):
                    found[key] = data
                break
    return list(found.values())


def ledger_runs(results_dir: Path) -> dict[str, list[dict]]:
    """Every stored ledger of a matrix folder by run id, oldest run first."""
    folder = Path(results_dir) / LEDGER
    out: dict[str, list[dict]] = {}
    for run in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else ():
        for path in sorted(run.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("projects"), dict):
                out.setdefault(run.name, []).append(data)
    return out


def history_runs(results_dir: Path) -> list[str]:
    """The run ids with records in the history, oldest first."""
    folder = Path(results_dir) / HISTORY
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


# --- loading -----------------------------------------------------------------------------------------


def _major(version: Any) -> int | None:
    try:
        return int(str(version).split(".", 1)[0])
    except ValueError:
        return None


def migrate(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A record as this harness reads it: older schema versions migrated, unknown ones refused."""
    version = data.get("schema_version")
    if _major(version) == 1 and "outcome" in data:  # written before verdicts had evidence and hints
        data = {**data, "verdict": data["outcome"], "evidence": [], "hint": None}
        data.pop("outcome")
    elif version is None or _major(version) != SCHEMA_VERSION:
        raise ReportError(
            f"{where}: schema_version {version!r}, this harness reads version {SCHEMA_VERSION}; "
            "re-run that cell with this harness, or move the file out of the results folder"
        )
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(
            f"{path}: not valid JSON ({exc}); delete it or re-run that cell to write it again"
        ) from exc


def read_record(path: Path) -> dict | None:
    """One result record, migrated to this schema; None for a JSON file that is not a result record.
    ReportError for a file that cannot be used (not JSON, another schema)."""
    data = _read_json(path)
    if not isinstance(data, dict) or "cell_id" not in data:
        return None
    return migrate(data, str(path))


def _records(paths: Iterable[Path]) -> list[dict]:
    return [r for r in map(read_record, paths) if r is not None]


def load_results(results_dir: Path) -> list[dict]:
    """Every latest result record in `results_dir`, sorted by cell id; other JSON files are skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"{results_dir}: no such results folder; run the matrix first")
    results = _records(sorted(results_dir.glob("*.json")))
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


def load_history(results_dir: Path) -> list[dict]:
    """The records earlier runs wrote and later runs replaced, oldest run first (none: [])."""
    folder = Path(results_dir) / HISTORY
    records = _records(p for run in history_runs(results_dir) for p in sorted((folder / run).glob("*.json")))
    records.sort(key=lambda r: (str(r.get("started_at") or ""), str(r.get("run_id")), str(r["cell_id"])))
    return records


def load_timeline(results_dir: Path) -> dict[str, list[dict]]:
    """Each cell's records over the stored runs, oldest first, the latest record last."""
    timeline: dict[str, list[dict]] = {}
    for record in [*load_history(results_dir), *load_results(results_dir)]:
        timeline.setdefault(str(record["cell_id"]), []).append(record)
    return timeline


def matrix_folders(root: Path) -> list[Path]:
    """The folders of a results root (`results/`) that hold result records, one per matrix."""
    root = Path(root)
    return [d for d in sorted(root.iterdir()) if d.is_dir() and d.name != HISTORY and _records_in(d)] \
        if root.is_dir() else []


def _records_in(folder: Path) -> bool:
    return any(read_record(p) is not None for p in sorted(folder.glob("*.json")))


def read_results(path: Path) -> list[dict]:
    """The latest records of a results folder (`results/<matrix>`), of every matrix folder in a results
    root (`results/`), or of one JSON file (a record, or `{"results": [record, …]}`), sorted by matrix
    and cell id. ReportError when there is none: an empty source must never read as "nothing changed"."""
    path = Path(path)
    if path.is_dir():
        records = load_results(path) or [r for d in matrix_folders(path) for r in load_results(d)]
        if not records:
            raise ReportError(f"{path}: no result records here or in its matrix folders",
                              hint="name a results/<matrix> folder, a results root, or a JSON file of results")
        records.sort(key=lambda r: (str(r.get("matrix")), str(r["cell_id"])))
        return records
    if not path.is_file():
        raise ReportError(f"{path}: no such results folder or file; name a results/<matrix> folder or a "
                          "JSON file of results")
    data = _read_json(path)
    if isinstance(data, dict) and "cell_id" in data:
        items: list[Any] = [data]
    elif isinstance(data, dict) and isinstance(data.get("results"), list):
        items = data["results"]
    else:
        raise ReportError(f"{path}: neither a result record nor {{\"results\": [...]}}; name a results folder "
                          "or a file of results")
    records = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "cell_id" not in item:
            raise ReportError(f"{path}: results[{i}] is not a result record (no cell_id)")
        records.append(migrate(item, f"{path}: results[{i}]"))
    records.sort(key=lambda r: (str(r.get("matrix")), str(r["cell_id"])))
    return records
