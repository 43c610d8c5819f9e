"""Known-compatibility facts, learned from stored results: which two releases fail together, and which
two lose function together — so `solve` can rule out a pin set holding such a pair without running it.

A fact is read from a result's own records, never guessed:

- an import failed because one distribution's code imports a module or a name that another one does
  not provide (the probe records the importer, the missing module or name, and who owns each
  top-level module): that pair fails whatever else is installed — "torchtune 0.6.1 imports
  int4_weight_only from torchao.quantization, which torchao 0.17.0 does not provide";
- a degraded import lost function of a distribution whose compiled parts are built against torch
  ("torchao 0.15.0 skipped its C++ extensions with torch 2.13.0+cpu"): that pair loses function, so
  a set holding it cannot pass, and loses at least as much (a cell whose check failed keeps the losses
  its imports showed: they are learned from it too).

Facts hold where they were measured: `solve` learns only from results of the same image and index
variant. Pure functions over result records (as harness.results.store returns them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from harness.model import Verdict
from harness.verdicts.classify import degradations


@dataclass(frozen=True, kw_only=True)
class Fact:
    pins: tuple[tuple[str, str], ...]  # (distribution, installed version), sorted by name
    verdict: Verdict  # IMPORT_FAILED: the pair fails; DEGRADED: the pair loses function
    why: str  # in the classifier's words
    cell_id: str  # the result it was learned from
    losses: int = 0  # for DEGRADED: how many losses the pair caused there

    def holds_for(self, versions: Mapping[str, str]) -> bool:
        """Whether a pin set (distribution → the version pinned) holds this fact's pair: each version
        pinned admits the version installed (`==2.13.0` admits 2.13.0+cpu, as pip does)."""
        for name, installed in self.pins:
            pinned = versions.get(name)
            if pinned is None:
                return False
            try:
                if not SpecifierSet(f"=={pinned}").contains(installed, prereleases=True):
                    return False
            except InvalidSpecifier:
                return False
        return True

    def text(self) -> str:
        return f"{self.why} (learned from {self.cell_id})"


def _owner(top: str | None, probe: Mapping[str, Any]) -> tuple[str, str] | None:
    """(distribution, version) providing a top-level module, from the probe's record."""
    if not top:
        return None
    top = top.split(".")[0]
    dists = probe.get("distributions") or {}
    owners = (probe.get("owners") or {}).get(top) or [canonicalize_name(top)]
    for name in owners:
        info = dists.get(name)
        if isinstance(info, Mapping) and info.get("version"):
            return str(canonicalize_name(name)), str(info["version"])
    return None


def from_record(record: Mapping[str, Any]) -> list[Fact]:
    """The facts one result proves."""
    try:
        verdict = Verdict(str(record.get("verdict")))
    except ValueError:
        return []
    probe = record.get("probe") or {}
    cell_id = str(record.get("cell_id"))
    found: list[Fact] = []
    if verdict is Verdict.IMPORT_FAILED:
        for step in probe.get("imports") or ():
            err = step.get("error") or {}
            if step.get("ok") or not err:
                continue
            importer = _owner(err.get("importer"), probe)
            missing = err.get("from_module") if err.get("missing_name") else err.get("missing_module")
            owner = _owner(missing, probe)
            if not importer or not owner or importer[0] == owner[0]:
                continue
            if err.get("missing_name"):
                why = (f"{importer[0]} {importer[1]} imports {err['missing_name']} from {missing}, which "
                       f"{owner[0]} {owner[1]} does not provide")
            else:
                why = f"{importer[0]} {importer[1]} needs module {missing}, which {owner[0]} {owner[1]} does not have"
            found.append(Fact(pins=tuple(sorted((importer, owner))), verdict=verdict, why=why, cell_id=cell_id))
    elif verdict in (Verdict.DEGRADED, Verdict.CHECK_FAILED):  # a failed check keeps the losses it outranks
        torch = _owner("torch", probe)
        lost = degradations(probe.get("imports") or (), probe)
        owners = Counter(o for o in (_owner(module, probe) for module, _, _ in lost) if o)
        for owner, count in owners.items():
            if torch and owner[0] != torch[0]:
                what = next(w for m, w, _ in lost if _owner(m, probe) == owner)
                found.append(Fact(pins=tuple(sorted((owner, torch))), verdict=verdict, losses=count, cell_id=cell_id,
                                  why=f"{owner[0]} {owner[1]} {what} with torch {torch[1]}"))
    return list(dict.fromkeys(found))


def learned(records: Iterable[Mapping[str, Any]], *, image: str, index: str) -> list[Fact]:
    """Every fact the results of this image and index variant prove."""
    out: list[Fact] = []
    for record in records:
        cell = record.get("cell") or {}
        if (cell.get("image") or {}).get("name") == image and (cell.get("index") or {}).get("name") == index:
            out += from_record(record)
    return list(dict.fromkeys(out))
