"""The checks a package set runs after its imports, as a matrix declares them (`checks = [...]`):
built-in checks by name, and the user's own files — a script (exit 0 passes) or a pytest file or
node id — with what they need installed (`check_requires`, a script's PEP 723 block, pytest).

harness.incell.checks runs them in the cell; this module says which, from where, and what the job
must carry. Pure functions, but for reading the user's files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.incell import checks as incell

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

BUILTIN: tuple[str, ...] = tuple(incell.BUILTIN)
DEFAULT: tuple[str, ...] = incell.DEFAULT
PYTEST = "pytest"  # installed into the cell's venv when a pytest file or node id is among the checks


def is_builtin(entry: str) -> bool:
    return entry in incell.BUILTIN


def default_checks(requirements: Sequence[str], modules: Sequence[str]) -> tuple[str, ...]:
    """The built-in checks of the packages a set installs (named in its requirements) or imports."""
    named = {m.split(".")[0].replace("_", "-") for m in modules}
    for text in requirements:
        try:
            named.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue
    return tuple(c for c in DEFAULT if incell.BUILTIN[c] in named)


@dataclass(frozen=True, kw_only=True)
class UserCheck:
    """One of the user's checks: the file (absolute), the pytest node inside it, and its kind."""

    path: Path
    node: str | None
    kind: str  # "script" or "pytest"

    @classmethod
    def of(cls, entry: str) -> UserCheck:
        path, _, node = entry.partition("::")
        return cls(path=Path(path), node=node or None, kind=incell.kind_of(entry))

    def shown(self, base: Path | None = None) -> str:
        """How results name it: the path relative to `base` (the working directory) when inside it,
        else the file's name; with its node id."""
        base = base or Path.cwd()
        where = str(self.path.relative_to(base)) if self.path.is_relative_to(base) else self.path.name
        return where + (f"::{self.node}" if self.node else "")


def user_checks(entries: Sequence[str]) -> list[UserCheck]:
    return [UserCheck.of(e) for e in entries if not is_builtin(e)]


def script_dependencies(text: str) -> list[str]:
    """The `dependencies` of a script's PEP 723 block (`# /// script`); ValueError when the block is not
    valid TOML, or its dependencies are not a list of PEP 508 requirements."""
    block = incell.script_metadata(text)
    if block is None:
        return []
    try:
        data = tomllib.loads(block)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"its '# /// script' block is not valid TOML: {exc}") from None
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ValueError("its '# /// script' block's dependencies must be a list of strings")
    for dep in deps:
        try:
            Requirement(dep)
        except InvalidRequirement as exc:
            raise ValueError(f"its '# /// script' block lists {dep!r}, not a PEP 508 requirement: "
                             f"{str(exc).splitlines()[0]}") from None
    return list(deps)


def requirements_of(checks: Sequence[str], check_requires: Sequence[str]) -> list[str]:
    """What the user's checks need installed in the cell's venv: `check_requires`, each script's PEP 723
    dependencies, and pytest when a pytest file or node id is among them. A file that cannot be read or
    parsed adds nothing (the matrix reader reported it)."""
    wanted = list(check_requires)
    users = user_checks(checks)
    for check in users:
        if check.kind == "script":
            try:
                wanted += script_dependencies(check.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                continue
    if any(c.kind == "pytest" for c in users) and not any(_named(r) == PYTEST for r in wanted):
        wanted.append(PYTEST)
    return list(dict.fromkeys(wanted))


def _named(requirement: str) -> str | None:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return canonicalize_name(m.group(1)) if m else None
