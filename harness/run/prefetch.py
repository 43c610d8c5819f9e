"""Wheelhouses filled before a run: `pip download` on the host, with the host's pip configuration, of
the pins an index variant lists under `prefetch` (skipping those whose wheel is already there)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging import tags as packaging_tags
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.errors import HarnessError
from harness.model import Cell
from harness.pins import exact_version
from harness.plan.offers import project_of, read_file


def in_wheelhouse(requirement: str, folder: Path) -> bool:
    """Whether `requirement` is an exact pin (`name==version`, no marker, no URL) whose wheel for this
    host's Python is already in `folder`; anything looser is left to pip, which may find a newer one."""
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return False
    if req.marker or exact_version(req) is None:
        return False
    name, host = canonicalize_name(req.name), set(packaging_tags.sys_tags())
    for path in folder.glob("*.whl"):
        wheel = read_file(path.name)
        if (wheel is not None and project_of(path.name) == name
                and req.specifier.contains(wheel.version, prereleases=True) and host & wheel.tags):
            return True
    return False


def prefetch(cells: list[Cell], *, run: Callable[..., Any] = subprocess.run,
             log: Callable[[str], None] = print) -> None:
    """Fill wheelhouse variants with `pip download` on the host (using the host's pip configuration)."""
    seen = set()
    for idx in (c.index for c in cells):
        if not idx.prefetch or idx.name in seen:
            continue
        seen.add(idx.name)
        target = Path(idx.wheelhouse)
        target.mkdir(parents=True, exist_ok=True)
        wanted = [r for r in idx.prefetch if not in_wheelhouse(r, target)]
        if not wanted:
            continue  # every pin's wheel for this host is there: pip would fetch nothing (and take seconds)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
               "--dest", str(target), *wanted]
        log(f"Prefetching {', '.join(wanted)} into wheelhouse {idx.name!r}")
        done = run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise HarnessError(f"prefetch for index variant {idx.name!r} failed:\n{tail}",
                               hint="check the requirement and the host's pip configuration, "
                                    "or fill the wheelhouse directory by hand")
