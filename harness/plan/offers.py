"""What an index offers for a project the installer missed, judged for the cell's own target.

After a failed install the cell driver lists, per index and find-links folder, the files of each
project pip (or uv) found no distribution for, and its `begin` event says what the cell's interpreter
is (Python version, implementation, ABI, machine, C library). Here those file names are read with
packaging: the wheels this interpreter can install (its tags, derived as pip derives them), and, for
the version the cell asked for, what exists when nothing fits (only an sdist; wheels for other
targets), in one line. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from harness.plan.target import Target

SHOWN = 4  # files named per line; the rest are counted


@dataclass(frozen=True)
class DistFile:
    name: str
    version: Version
    tags: frozenset[Tag]  # empty for an sdist

    @property
    def is_wheel(self) -> bool:
        return self.name.endswith(".whl")

    @property
    def tag_text(self) -> str:
        """`cp39-cp39-manylinux_2_17_x86_64`: the wheel's tags as its name writes them (first platform)."""
        python, abi, platforms = self.name[:-4].split("-")[-3:]
        return f"{python}-{abi}-{platforms.split('.')[0]}"


def read_file(name: str) -> DistFile | None:
    """A wheel's or sdist's file name read with packaging; None for anything else."""
    try:
        if name.endswith(".whl"):
            _, version, _, tags = parse_wheel_filename(name)
            return DistFile(name, version, frozenset(tags))
        _, version = parse_sdist_filename(name)
        return DistFile(name, version, frozenset())
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def name_and_version(filename: str) -> tuple[str, Version] | None:
    """A wheel's or sdist's normalised project name and version, read once; None for anything else."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), version
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), version
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def spelled(filename: str) -> tuple[str, str, str] | None:
    """A wheel's or sdist's name and version as its file name spells them, not read: the parts that
    name_and_version reads, so files spelled alike read alike (valid or not, each on its own). A
    listing of thousands of files has far fewer spellings. None for any other file."""
    if filename.endswith(".whl"):
        name, _, rest = filename[:-4].partition("-")
        return ("whl", name, rest.partition("-")[0])
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            name, _, version = filename[: -len(suffix)].rpartition("-")
            return ("sdist", name, version)
    return None


def project_of(filename: str) -> str | None:
    """The normalised project name of a wheel or sdist file name, None for anything else."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


REQUESTED = re.compile(r"satisfies the requirement (\S+)|you require ([^\s,]+)")  # pip's words, uv's


def requested(project: str, output: str, requirements: Sequence[str]) -> Requirement | None:
    """What the cell asked for of `project`: as pip (or uv) quoted it, else as the cell's requirements
    say it (a dependency of a dependency is named only by the installer); None when neither does."""
    quoted = [a or b for a, b in REQUESTED.findall(output)]
    for text in [*quoted, *requirements]:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == canonicalize_name(project):
            return requirement
    return None


@dataclass(frozen=True, kw_only=True)
class Offer:
    """One index's (or folder's) files for one project, judged for the target."""

    where: str
    project: str
    wanted: str  # "edgebin==2.0", or the bare name when the cell asked for any version
    listed: int  # files the index listed
    fitting: tuple[str, ...] = ()  # files this target can install (wheels; sdists where builds are allowed)
    version: str | None = None  # the newest version that satisfies what the cell asked for
    sdist: str | None = None  # that version's sdist: what a source build would compile
    elsewhere: tuple[str, ...] = ()  # that version's wheels for other targets, as their tags
    wanted_fits: bool = False  # a file of that version fits (the installer refused it for another reason)
    kept: tuple[str, ...] = ()  # the files the driver kept of those listed (it keeps the last ones)

    def lines(self, target: Target) -> list[str]:
        """The evidence: the files that fit this target; and, where nothing of the version asked for
        fits, what exists of it, in one line (with the first when nothing fits at all)."""
        if self.fitting:
            shown = ", ".join(self.fitting[-SHOWN:])
            more = f" (and {len(self.fitting) - SHOWN} more)" if len(self.fitting) > SHOWN else ""
            out = [f"{self.where} offers {self.project} for this target ({target}): {shown}{more}"]
            if self.wanted_fits:
                return out
            return [*out, f"{self.where}: {self._asked()}"]
        return [f"{self.where} has nothing of {self.project} for this target ({target}): {self._asked()}"]

    def _asked(self) -> str:
        """What exists of the version asked for: "edgebin 2.0 exists only as an sdist (edgebin-2.0.tar.gz)"."""
        if self.version is None:
            cut = f" among the last {len(self.kept)} it lists" if self.listed > len(self.kept) else ""
            return f"no file of {self.wanted} exists{cut}"
        parts = []
        if self.sdist:
            parts.append(f"an sdist ({self.sdist})")
        if self.elsewhere:
            more = f", and {len(self.elsewhere) - SHOWN} more" if len(self.elsewhere) > SHOWN else ""
            parts.append(f"wheels for other targets ({', '.join(self.elsewhere[:SHOWN])}{more})")
        return f"{self.project} {self.version} exists only as {' and '.join(parts)}"


def judge(check: Mapping[str, Any], target: Target, wanted: Requirement | None, *,
          allows_source: bool) -> Offer:
    """One check of the driver (an index or folder that answered with files) judged for `target`."""
    project = str(check.get("project"))
    names = [str(n) for n in check.get("files") or ()]
    files = [f for f in (read_file(n) for n in names) if f is not None]
    tags = target.tags()
    fits = [f for f in files if (bool(f.tags & tags) if f.is_wheel else allows_source)]
    fitting = tuple(f.name for f in fits)
    specifier = wanted.specifier if wanted else SpecifierSet()
    versions = sorted(specifier.filter({f.version for f in files}), reverse=True)
    base = dict(where=str(check.get("index")), project=project, listed=int(check.get("listed") or len(names)),
                wanted=f"{project}{specifier}" if wanted else project, fitting=fitting, kept=tuple(names))
    if not versions:
        return Offer(**base)
    newest = versions[0]
    mine = [f for f in files if f.version == newest]
    sdists = [f.name for f in mine if not f.is_wheel]
    return Offer(**base, version=str(newest), sdist=sdists[-1] if sdists else None,
                 elsewhere=tuple(dict.fromkeys(f.tag_text for f in mine if f.is_wheel and f not in fits)),
                 wanted_fits=any(f in fits for f in mine))
