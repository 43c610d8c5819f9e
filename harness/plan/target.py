"""The target a cell installs for: CPython of a version, its ABI, the machine and the glibc — one type
for `plan` (uv's --python-platform), the index checks (wheel tags, as pip derives them), a search's
releases and the shared caches' names.

`Target.of(cell)` is what the image declares (its Python and glibc; else its local recipe's; else
those its JetPack pairs with; else an assumption, said); `Target.of_begin(event)` is what a cell's
driver found the interpreter to be. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.tags import Tag, compatible_tags, cpython_tags

from harness.jetson import glibc_for_jetpack, python_for_jetpack
from harness.model import Cell

ASSUMED_GLIBC = "2.28"
ASSUMED_PYTHON = "3.10"
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def _pair(text: str) -> tuple[int, int]:
    major, minor = (int(p) for p in text.split(".")[:2])
    return major, minor


@dataclass(frozen=True, kw_only=True)
class Target:
    """The interpreter a cell installs into (CPython on Linux)."""

    python: tuple[int, int]
    machine: str  # "x86_64", "aarch64"
    glibc: tuple[int, int] | None = None
    abi: str = ""  # "cp311" (from SOABI: "cp313t" for a free-threaded build); default: cp<python>
    assumed: tuple[str, ...] = ()  # what was not known and so assumed (Target.of)

    def __post_init__(self) -> None:
        if not self.abi:
            object.__setattr__(self, "abi", f"cp{self.python[0]}{self.python[1]}")

    @classmethod
    def of(cls, cell: Cell) -> Target:
        """The target of a cell's image, as declared (see the module's docstring)."""
        image = cell.image
        recipe = image.recipe
        assumed = []
        python = (image.python_version or (recipe.python_version if recipe else None)
                  or python_for_jetpack(image.jetpack))
        if not python:
            python = ASSUMED_PYTHON
            assumed.append(f"Python {python} (set python_version on [images.{image.name}])")
        glibc = image.glibc or (recipe.glibc if recipe else None) or glibc_for_jetpack(image.jetpack)
        if not glibc:
            glibc = ASSUMED_GLIBC
            assumed.append(f"glibc {glibc} (set glibc on [images.{image.name}])")
        return cls(python=_pair(python), machine=image.arch.machine, glibc=_pair(glibc), assumed=tuple(assumed))

    @classmethod
    def of_begin(cls, begin: Mapping[str, Any] | None) -> Target | None:
        """The target the driver's `begin` event describes; None where it does not say enough (a log
        from an older driver, or an interpreter other than CPython)."""
        if not begin or begin.get("implementation") != "cpython" or not begin.get("machine"):
            return None
        version = re.match(r"(\d+)\.(\d+)", str(begin.get("python") or ""))
        if not version:
            return None
        python = (int(version.group(1)), int(version.group(2)))
        soabi = re.match(r"cpython-(\d+[a-z]*)-", str(begin.get("soabi") or ""))
        libc = re.match(r"glibc (\d+)\.(\d+)", str(begin.get("libc") or ""))
        return cls(python=python, abi=f"cp{soabi.group(1)}" if soabi else "", machine=str(begin["machine"]),
                   glibc=(int(libc.group(1)), int(libc.group(2))) if libc else None)

    @property
    def python_version(self) -> str:
        """`3.11`"""
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def uv_platform(self) -> str:
        """uv's --python-platform: `x86_64-manylinux_2_36` (`x86_64-unknown-linux-gnu` without a glibc)."""
        if self.glibc:
            return f"{self.machine}-manylinux_{self.glibc[0]}_{self.glibc[1]}"
        return f"{self.machine}-unknown-linux-gnu"

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platform tags pip accepts here, newest manylinux first (packaging's rules)."""
        out = []
        if self.glibc and self.glibc[0] == 2:
            oldest = 4 if self.machine in ("x86_64", "i686") else 16
            for minor in range(self.glibc[1], oldest, -1):
                out.append(f"manylinux_2_{minor}_{self.machine}")
                if minor in LEGACY_MANYLINUX:
                    out.append(f"{LEGACY_MANYLINUX[minor]}_{self.machine}")
        return (*out, f"linux_{self.machine}")

    def tags(self) -> frozenset[Tag]:
        interpreter = f"cp{self.python[0]}{self.python[1]}"
        return (frozenset(cpython_tags(self.python, [self.abi], self.platforms))
                | frozenset(compatible_tags(self.python, interpreter, self.platforms)))

    def __str__(self) -> str:
        return f"{self.abi}, {self.platforms[0]}"
