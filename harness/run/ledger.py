"""A run's index ledger: after each cell, what each of its index variant's sources offered for the
projects it installed (harness.plan.ledger), asked once per run, source and project, stored once per
run and source (harness.results.store), and named from the cell's result.

Asking never fails a cell: a source that does not answer is an entry with its error, and anything else
that goes wrong is a note on the result. While a cell runs, its sources are asked for the projects its
requirements name and those its last record says it installed (`prefetch`), so that asking after it
ends waits on no page it could have had already. A run asks PAGES_AT_ONCE pages at a time: a cell
installs dozens of projects, an index answers each in a fraction of a second, and a burst of new
connections is what networks throttle (here, connections past about eight at once waited 5 s).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from harness import redact
from harness.errors import HarnessError
from harness.model import Cell, CellResult
from harness.pins import project_names
from harness.plan import ledger as ask
from harness.plan import releases
from harness.results import store

PAGES_AT_ONCE = 4  # index pages a run's ledger asks at the same time


def shown(path: str) -> str:
    """A host folder as results name it (relative to the working directory, else by name)."""
    p, cwd = Path(path), Path.cwd()
    return str(p.relative_to(cwd)) if p.is_relative_to(cwd) else p.name


def sources(cell: Cell, served: Mapping[str, str]) -> list[ask.Source]:
    """The places the cell's installer looked: served wheelhouses (asked at this run's URL, named by
    folder), find-links folders, and the index URLs (pip's default index unless the variant has its
    own or none)."""
    index = cell.index
    out = [ask.Source(label=f"{shown(d)} (served)", kind="served", url=served[d])
           for d in index.serve if d in served]
    out += [ask.Source(label=f"{shown(d)} (folder)", kind="folder", folder=d) for d in index.find_links]
    urls = [index.index_url] if index.index_url else ([] if index.no_index or index.serve else [None])
    for url in [*urls, *index.extra_index_urls]:
        if url is None:
            try:
                url = releases.default_index_url()
            except HarnessError:
                continue
        out.append(ask.Source(label=redact.url(url), kind="index", url=url))
    return out


def installed_before(record: Mapping[str, Any] | None) -> list[str]:
    """The projects a cell's stored record says it installed (none for no record or an unreadable one)."""
    install = record.get("install") if isinstance(record, Mapping) else None
    items = install.get("items") if isinstance(install, Mapping) else None
    return [canonicalize_name(str(item["name"])) for item in items or ()
            if isinstance(item, Mapping) and item.get("name")]


def installed(result: CellResult) -> tuple[dict[str, set[str]], dict[str, str]]:
    """(project → the versions the cell installed, file name → the sha256 its install reported)."""
    projects: dict[str, set[str]] = {}
    hashes: dict[str, str] = {}
    for item in (result.install or {}).get("items") or ():
        if item.get("name") and item.get("version"):
            projects.setdefault(canonicalize_name(str(item["name"])), set()).add(str(item["version"]))
        if item.get("file") and item.get("sha256"):
            hashes[str(item["file"])] = str(item["sha256"])
    return projects, hashes


class RunLedger:
    """The ledgers of one run, filled as cells end (cells may end at the same time)."""

    def __init__(self, results_dir: Path, run_id: str, *, served: Mapping[str, str] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.results_dir, self.run_id = Path(results_dir), run_id
        self.served, self.environ = dict(served or {}), environ
        self.lock = threading.Lock()
        self.ledgers: dict[str, dict[str, Any]] = {}  # source label → its ledger
        self.files: dict[str, str] = {}  # source label → its file, relative to the results folder
        self.listings = Listings(releases._fetch(os.environ if environ is None else environ))

    def prefetch(self, cell: Cell, before: Mapping[str, Any] | None = None) -> None:
        """Ask the cell's index sources, in the background, for the projects its requirements name and
        those its last record (`before`) says it installed: the pages are kept for `attach`, which asks
        after the cell for what it did install."""
        names = list(dict.fromkeys([*project_names(cell.packages.requirements), *installed_before(before)]))
        try:
            urls = [s.url for s in sources(cell, self.served) if s.kind != "folder" and s.url]
        except (OSError, ValueError, HarnessError):
            return
        self._ask_ahead(urls, names)

    def _ask_ahead(self, urls: list[str], names: list[str]) -> None:
        """Ask for these pages in the background, PAGES_AT_ONCE threads at a time (Listings keeps the
        answers, and an ask of a page on its way waits for it)."""
        pairs = [(url, name) for url in urls for name in names]
        if not pairs:
            return
        todo: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        for pair in pairs:
            todo.put(pair)
        # daemon threads: a page still on its way when the run ends (an index that does not answer,
        # a project the cell no longer installs) never holds the harness's exit up
        for _ in range(min(PAGES_AT_ONCE, len(pairs))):
            threading.Thread(target=self._prefetch, args=(todo,), name="ledger-prefetch", daemon=True).start()

    def _prefetch(self, todo: queue.SimpleQueue[tuple[str, str]]) -> None:
        while True:
            try:
                url, name = todo.get_nowait()
            except queue.Empty:
                return
            try:
                self.listings.listing(url, name)
            except Exception:  # noqa: BLE001 — only a head start: attach asks again and says what failed
                pass

    def attach(self, cell: Cell, result: CellResult) -> CellResult:
        """The result with its ledger reference; the sources asked for what they had not been asked yet."""
        projects, hashes = installed(result)
        if not projects:
            return result
        try:
            asked = sources(cell, self.served)
            self._ask_ahead([s.url for s in asked if s.kind != "folder" and s.url], list(projects))
            refs = [self._add(source, projects, hashes) for source in asked]
        except (OSError, ValueError, HarnessError) as exc:
            note = f"the index ledger could not be kept: {type(exc).__name__}: {exc}"
            return dataclasses.replace(result, notes=(*result.notes, note))
        return dataclasses.replace(result, ledger={"run_id": self.run_id, "projects": sorted(projects),
                                                   "sources": refs})

    def _add(self, source: ask.Source, projects: Mapping[str, set[str]], hashes: Mapping[str, str]) -> dict[str, str]:
        with self.lock:
            ledger = self.ledgers.setdefault(source.label, {
                "ledger_version": ask.LEDGER_VERSION, "run_id": self.run_id, "source": source.label,
                "kind": source.kind, "asked_at": ask.now(), "projects": {}})
            known = ledger["projects"]
            wanted = {p: v for p, v in projects.items()
                      if p not in known or not set(v) <= set(known[p].get("asked_versions") or ())}
            if wanted:
                asked = ask.ask(source, {p: v | set(known.get(p, {}).get("asked_versions") or ())
                                         for p, v in wanted.items()}, known=hashes, listing=self.listings.listing)
                for project, found in asked.items():
                    found["asked_versions"] = sorted(wanted[project] | set(known.get(project, {})
                                                                           .get("asked_versions") or ()))
                    known[project] = found
                self.files[source.label] = store.write_ledger(self.results_dir, ledger)
            return {"source": source.label, "file": self.files[source.label]}


class Listings:
    """What an index lists for a project, asked once a run while it answers: asked again while the first
    ask is on its way, it waits for that answer. A failure is not kept (the next ask tries again). At
    most `at_once` pages are on their way at a time, however many cells ask."""

    def __init__(self, fetch: releases.Fetch, at_once: int = PAGES_AT_ONCE) -> None:
        self._fetch = fetch
        self._slots = threading.BoundedSemaphore(max(1, at_once))
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], concurrent.futures.Future[list[releases.Listed]]] = {}

    def listing(self, url: str, project: str) -> list[releases.Listed]:
        key = (url, canonicalize_name(project))
        with self._lock:
            answer, mine = self._answers.get(key), False
            if answer is None:
                answer, mine = concurrent.futures.Future(), True
                self._answers[key] = answer
        if not mine:
            return answer.result()
        try:
            with self._slots:
                answer.set_result(releases.ask_index(url, project, fetch=self._fetch))
        except BaseException as exc:
            with self._lock:
                del self._answers[key]
            answer.set_exception(exc)
            raise
        return answer.result()
