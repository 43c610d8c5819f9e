"""The index ledger: what one source (an index, a served wheelhouse, a find-links folder) offered for the
projects a run's cells installed.

For each project: the versions the source lists (the newest MAX_VERSIONS), and for each version a cell
installed, each of its files with its sha256 (from the index's PEP 503/691 page where it gives one,
else from the file: a folder's file hashed here, or the hash pip's report gave for the file it
installed), its upload time where the index gives one (PEP 691), and whether it is yanked. Indexes are
asked as a search asks them (harness.plan.releases: the host's CA bundle and proxies, credentials never
shown); an index that does not answer is an entry with its error, never a failed cell.

A ledger is a plain dict (JSON on disk, harness.results.store keeps it once per run and source):

    {"ledger_version": 1, "run_id": …, "source": "<label>", "kind": "index"|"served"|"folder",
     "asked_at": …, "projects": {"torch": {"versions": [...], "listed": N, "files": {"2.13.0": [
         {"name", "sha256", "hash_from": "page"|"file"|"install", "upload_time", "yanked"}]}, "error": …}}}
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from harness.errors import IndexUnreachable
from harness.files import file_sha256
from harness.plan import releases
from harness.plan.offers import name_and_version, spelled

LEDGER_VERSION = 1
MAX_VERSIONS = 500  # per source and project: the newest; nightly indexes list thousands
MAX_FILES = 100  # per installed version: torch lists a wheel per platform and Python, far fewer than this


@dataclass(frozen=True, kw_only=True)
class Source:
    """One place a cell's installer looks: an index URL (also a served wheelhouse's) or a folder."""

    label: str  # how results name it: the URL without credentials, or the folder as the matrix names it
    kind: str  # "index", "served" or "folder"
    url: str | None = None  # asked for "index" and "served"
    folder: str | None = None  # listed for "folder"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def entry(project: str, listed: Iterable[releases.Listed], installed: Iterable[str], *,
          hash_of: Callable[[str], str | None] | None = None, known: Mapping[str, str] | None = None,
          hash_from: str = "page") -> dict[str, Any]:
    """One project's entry from the files a source lists: every version (the newest MAX_VERSIONS), and
    the files of the `installed` versions with their hashes (the page's; else `hash_of(name)`, a
    folder's file hashed; else `known`, what the install reported for the file it took)."""
    project = canonicalize_name(project)
    listed = list(listed)
    # One file name read per spelling of name and version (torch lists thousands of files, of a few
    # hundred versions); a spelling counts once one of its files reads (the others may not: each file
    # of an installed version is read on its own below).
    keys = [spelled(item.name) for item in listed]
    reads: dict[tuple[str, str, str], tuple[str, Version]] = {}
    for item, key in zip(listed, keys):
        if key is not None and key not in reads:
            read = name_and_version(item.name)
            if read is not None:
                reads[key] = read
    versions = sorted({version for name, version in reads.values() if name == project})
    wanted = {Version(v) for v in installed if _valid(v)}
    files: dict[str, list[dict[str, Any]]] = {}
    for item, key in zip(listed, keys):
        read = reads.get(key) if key is not None else None
        if read is None or read[0] != project or read[1] not in wanted:
            continue
        read = name_and_version(item.name)
        if read is None:
            continue
        version = read[1]
        sha, how = item.sha256, hash_from
        if not sha and hash_of is not None:
            sha, how = hash_of(item.name), "file"
        if not sha and known:
            sha, how = known.get(item.name), "install"
        shown = files.setdefault(str(version), [])
        if len(shown) < MAX_FILES:
            shown.append({"name": item.name, "sha256": sha, "hash_from": how if sha else None,
                          "upload_time": item.upload_time, "yanked": item.yanked, "url": item.url})
    return {"versions": [str(v) for v in versions[-MAX_VERSIONS:]], "listed": len(versions), "files": files,
            "error": None}


def _valid(text: str) -> bool:
    try:
        Version(text)
    except ValueError:
        return False
    return True


def ask(source: Source, projects: Mapping[str, Iterable[str]], *, known: Mapping[str, str] | None = None,
        fetch: releases.Fetch | None = None, environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        listing: Callable[[str, str], list[releases.Listed]] | None = None) -> dict[str, dict[str, Any]]:
    """What `source` offers of each project (name → the installed versions): name → entry. `known`
    maps a file name to the sha256 the install reported for it. `listing(url, project)` gives an index's
    files for a project (default: releases.ask_index with `fetch`)."""
    out: dict[str, dict[str, Any]] = {}
    if source.kind == "folder":
        folder = Path(source.folder or "")
        listed = releases.list_folder(folder)
        for project, versions in projects.items():
            out[canonicalize_name(project)] = entry(
                project, listed, versions, hash_of=lambda name: _hash_in(folder, name), known=known)
        return out
    if listing is None:
        fetch = fetch or releases._fetch(os.environ if environ is None else environ)

        def listing(url: str, project: str) -> list[releases.Listed]:
            return releases.ask_index(url, project, fetch=fetch, sleep=sleep or time.sleep)

    for project, versions in projects.items():
        try:
            listed = listing(source.url or "", project)
        except IndexUnreachable as exc:
            out[canonicalize_name(project)] = {"versions": [], "listed": 0, "files": {}, "error": str(exc)}
            continue
        out[canonicalize_name(project)] = entry(project, listed, versions, known=known)
    return out


def _hash_in(folder: Path, name: str) -> str | None:
    path = folder / name
    try:
        return file_sha256(path) if path.is_file() else None
    except OSError:
        return None
