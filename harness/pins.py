"""What a requirement pins: one rule for "is this an exact pin?", shared by the result cache's key, the
wheelhouse prefetch, a search's steps and `solve`."""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement


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
