"""Index drift: what the sources offer now against what they offered before, from two sets of index
ledgers (harness.plan.ledger, kept by harness.results.store).

Three kinds, worst first:

- `replaced`: a file whose sha256 changed under the same name. Indexes do not do this; a replaced
  artifact is a supply-chain red flag, and a lock of the old file no longer installs.
- `vanished`: a version (or one file of a version) the source no longer offers ("torch 2.9.0 is no
  longer offered by …"): an unpinned cell quietly gets another one, a pinned one stops installing.
- `new-release`: a version newer than any the source offered before, of a project the cells install,
  that no cell of the newer results installed (not yet tested).

Pure functions over ledgers; `over_runs` compares each stored run with the one before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

KINDS = ("replaced", "vanished", "new-release")

Entries = dict[str, dict[str, Mapping[str, Any]]]  # source label → project → its entry


@dataclass(frozen=True, kw_only=True)
class Drift:
    kind: str  # one of KINDS
    source: str
    project: str
    version: str
    file: str | None = None
    old: str | None = None  # the sha256 before (replaced)
    new: str | None = None  # the sha256 now (replaced)

    def text(self) -> str:
        if self.kind == "replaced":
            return (f"{self.file} ({self.project} {self.version}) was replaced on {self.source}: sha256 "
                    f"{self.old} before, {self.new} now")
        if self.kind == "vanished" and self.file:
            return f"{self.file} ({self.project} {self.version}) is no longer offered by {self.source}"
        if self.kind == "vanished":
            return f"{self.project} {self.version} is no longer offered by {self.source}"
        return f"{self.project} {self.version} is newly offered by {self.source} (not yet tested)"


def entries(ledgers: Iterable[Mapping[str, Any]]) -> Entries:
    """Each source's projects, the most recently asked entry of each (records of several runs may
    stand side by side in one results folder)."""
    chosen: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = {}
    for ledger in ledgers:
        source, asked = str(ledger.get("source")), str(ledger.get("asked_at") or "")
        for project, entry in (ledger.get("projects") or {}).items():
            if not isinstance(entry, Mapping) or entry.get("error"):
                continue  # a source that did not answer says nothing about what it offers
            key = (source, str(project))
            if key not in chosen or chosen[key][0] <= asked:
                chosen[key] = (asked, entry)
    out: Entries = {}
    for (source, project), (_, entry) in sorted(chosen.items()):
        out.setdefault(source, {})[project] = entry
    return out


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _files(entry: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """File name → (its version, its entry) for the files an entry recorded."""
    return {str(f.get("name")): (str(version), f) for version, files in (entry.get("files") or {}).items()
            for f in files if isinstance(f, Mapping) and f.get("name")}


def compare(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]],
            tested: Iterable[tuple[str, str]] = ()) -> list[Drift]:
    """The drift from the `old` ledgers to the `new` ones, for each source and project both asked;
    `tested` are the (project, version) pairs the newer results installed. Worst kind first."""
    before, after = entries(old), entries(new)
    tried = {(p, str(_version(v) or v)) for p, v in tested}
    found: list[Drift] = []
    for source in sorted(set(before) & set(after)):
        for project in sorted(set(before[source]) & set(after[source])):
            found += _project(source, project, before[source][project], after[source][project], tried)
    return sorted(found, key=lambda d: (KINDS.index(d.kind), d.source, d.project, d.version, d.file or ""))


def _project(source: str, project: str, a: Mapping[str, Any], b: Mapping[str, Any],
             tried: set[tuple[str, str]]) -> list[Drift]:
    out = []
    had = {v: _version(v) for v in a.get("versions") or ()}
    has = {v: _version(v) for v in b.get("versions") or ()}
    oldest_kept = min((v for v in has.values() if v is not None), default=None)
    cut = int(b.get("listed") or 0) > len(has)  # the newer ledger kept only the newest versions
    for text, version in had.items():
        if text in has or (cut and version is not None and oldest_kept is not None and version < oldest_kept):
            continue
        out.append(Drift(kind="vanished", source=source, project=project, version=text))
    newest = max((v for v in had.values() if v is not None), default=None)
    for text, version in has.items():
        if text in had or version is None or (newest is not None and version <= newest):
            continue
        if (project, str(version)) not in tried:
            out.append(Drift(kind="new-release", source=source, project=project, version=text))
    then, now = _files(a), _files(b)
    for name, (version, f) in then.items():
        if name in now:
            sha_then, sha_now = f.get("sha256"), now[name][1].get("sha256")
            if sha_then and sha_now and sha_then != sha_now:
                out.append(Drift(kind="replaced", source=source, project=project, version=version, file=name,
                                 old=str(sha_then), new=str(sha_now)))
        elif version in (b.get("files") or {}) and version in has:
            out.append(Drift(kind="vanished", source=source, project=project, version=version, file=name))
    return out


def tested_by(records: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """The (project, version) pairs the records' cells installed."""
    out = set()
    for record in records:
        install = record.get("install") if isinstance(record.get("install"), Mapping) else {}
        for item in install.get("items") or ():
            if isinstance(item, Mapping) and item.get("name") and item.get("version"):
                out.add((canonicalize_name(str(item["name"])), str(item["version"])))
    return out


def over_runs(runs: Mapping[str, Sequence[Mapping[str, Any]]],
              records: Iterable[Mapping[str, Any]] = ()) -> list[tuple[str, str, list[Drift]]]:
    """(earlier run, run, drift) for each stored run against the run before it, oldest first; a run's
    new releases are those no record of that run installed."""
    by_run: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_run.setdefault(str(record.get("run_id")), []).append(record)
    order = sorted(runs)
    out = []
    for earlier, later in zip(order, order[1:]):
        out.append((earlier, later, compare(runs[earlier], runs[later], tested_by(by_run.get(later, ())))))
    return out


def counts(found: Sequence[Drift]) -> dict[str, int]:
    return {kind: sum(1 for d in found if d.kind == kind) for kind in KINDS}
