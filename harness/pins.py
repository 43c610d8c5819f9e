"""What a requirement pins: one rule for "is this an exact pin?", shared by the result cache's key, the
wheelhouse prefetch, a search's steps and `solve`; and which projects requirement lines name (the table's
versions, the run's ledger)."""

from __future__ import annotations

from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def exact_version(requirement: Requirement | str) -> str | None:
    """The one version an exact pin names (`torch==2.13.0` or `===2.13.0` → "2.13.0"); None for anything
    else: a range, several specifiers, a wildcard (`==2.*`), a URL, or text that is not a requirement."""
    if isinstance(requirement, str):
        try:
            requirement = Requirement(requirement)
        except InvalidRequirement:
            return None
    specs = list(requirement.specifier)
    if requirement.url or len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    return specs[0].version


def project_names(requirements: Iterable[str]) -> list[str]:
    """The normalised projects that requirement lines name, each once, in order (lines that are not
    requirements, such as a URL or a path, aside)."""
    names = []
    for line in requirements:
        try:
            names.append(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    return list(dict.fromkeys(names))
