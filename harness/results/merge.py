"""Result folders from several machines (or shards of a run) as one result set, each cell's host kept.

The same cell from two different machines stays two rows (the host in the row): a team's table for
an Orin Nano, an AGX Orin and a Xavier is one table. The same cell twice from one machine (two shards
that overlapped, a folder named twice) is an error: which record would be the truth? A store reader
and writer only: nothing here knows about containers.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ReportError, one_line
from harness.files import write_json_atomic
from harness.model import is_safe_file_name
from harness.results import store

DEFAULT_ENGINE = "unix:///var/run/docker.sock"


def host_of(record: Mapping[str, Any]) -> str:
    """The machine that ran a cell: the engine's host name (with the engine's address when it is not
    the machine's default socket: two engines on one machine are two hosts), else the host backend's."""
    host = record.get("host") if isinstance(record.get("host"), Mapping) else {}
    name = str(host.get("engine_name") or host.get("hostname") or "unknown host")
    address = host.get("engine_host")
    return f"{name} ({address})" if address and address != DEFAULT_ENGINE else name


def merge(sources: Sequence[Path]) -> list[dict]:
    """Every record of every source (a results root, a results/<matrix> folder, or a JSON file of
    results), with `merged` = {"source", "host", "hosts"}; ReportError for a cell two sources hold from
    the same host."""
    found: dict[tuple[str, str, str], Path] = {}
    records: list[dict] = []
    for source in sources:
        for record in store.read_results(Path(source)):
            key = (str(record.get("matrix")), str(record["cell_id"]), host_of(record))
            if key in found:
                raise ReportError(
                    f"{key[1]} of matrix {key[0]} ran on {key[2]} in both {found[key]} and {source}: shards of one "
                    "machine must not overlap",
                    hint="keep one of the two folders (or re-run one shard with the same --shard I/N as before)")
            found[key] = Path(source)
            records.append({**record, "merged": {"source": str(source), "host": key[2]}})
    hosts: dict[tuple[str, str], set[str]] = {}
    for record in records:
        hosts.setdefault((str(record.get("matrix")), str(record["cell_id"])), set()).add(record["merged"]["host"])
    for record in records:
        record["merged"]["hosts"] = len(hosts[(str(record.get("matrix")), str(record["cell_id"]))])
    records.sort(key=lambda r: (str(r.get("matrix")), str(r["cell_id"]), r["merged"]["host"]))
    return records


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")[:40] or "host"


def _host_names(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each host's part of a file name: its slug, cut to make room for a short hash of the host where two
    hosts share a slug (two engines whose addresses differ past the 40th character), so neither overwrites
    the other's record."""
    by_slug: dict[str, set[str]] = {}
    for record in records:
        by_slug.setdefault(_slug(record["merged"]["host"]), set()).add(record["merged"]["host"])
    return {host: slug if len(hosts) == 1 else f"{slug[:31]}-{hashlib.sha256(host.encode()).hexdigest()[:8]}"
            for slug, hosts in by_slug.items() for host in hosts}


def _file_name(record: Mapping[str, Any], field: str) -> str:
    """A record's matrix or cell id, which become a folder and file names under the merged root: a
    record (from another machine, a downloaded artifact) that would write elsewhere is refused."""
    value = record.get(field)
    if not is_safe_file_name(value):
        source = record.get("merged", {}).get("source")
        raise ReportError(f"{source}: a record's {field} {one_line(repr(value))[:120]} is not a file name (letters, "
                          "digits, '.', '_', '-', at most 200, not beginning with '.'): it would be written outside "
                          "the merged results", hint="merge only results folders the harness wrote")
    return value


def write(records: Sequence[Mapping[str, Any]], root: Path) -> dict[str, Path]:
    """The merged records under `root/<matrix>/` (a cell from several hosts as `<cell-id>@<host>.json`),
    each cell's log beside it where its source kept one; the folder of each matrix."""
    folders: dict[str, Path] = {}
    for record in records:  # every name checked before anything is written
        _file_name(record, "matrix"), _file_name(record, "cell_id")
    hosts = _host_names(records)
    for record in records:
        matrix = _file_name(record, "matrix")
        folder = folders.setdefault(matrix, Path(root) / matrix)
        merged = record["merged"]
        name = _file_name(record, "cell_id") + (f"@{hosts[merged['host']]}" if merged["hosts"] > 1 else "")
        out = dict(record)
        log = record.get("log")
        log = log if is_safe_file_name(log) else None  # a log is a file beside its record, never a path
        source = Path(merged["source"])
        found = next((p / log for p in (source, source / matrix) if log and (p / log).is_file()), None)
        if found is not None:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, folder / f"{name}.log")
            out["log"] = f"{name}.log"
        else:
            out["log"] = None
        write_json_atomic(folder / f"{name}.json", out)
    return folders
