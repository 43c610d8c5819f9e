"""The result cache: a cell whose inputs did not change is not run again.

A cell's key is the sha256 of everything that can change its outcome, each part hashed on its own
so a re-run can say which part changed:

- `image`: the image's identity as the backend reports it (the engine's image id, so a rebuilt
  recipe or a re-pulled tag is a new image; the interpreter and its environment for the host backend);
- `index`: the index variant as filled for the cell (URLs, options), with the content of every
  find-links and served folder (file names and sha256s: a wheel added, removed or replaced counts);
- `requirements`: the requirements as resolved — exact pins as written; for anything else, `plan`'s
  prediction for the cell's target (its outcome and every version it picked), so a new upstream
  release re-runs exactly the cells it reaches. Without a prediction such a cell is never reused;
- `cell`: modules, installer, expectations, timeout, memory and process limits, retry settings;
- `host`: GPU access and the host facts a verdict depends on (architecture, Jetson/JetPack, CUDA,
  GPUs and driver);
- `checks`: the checks the package set runs, their dependencies and timeout, and the user's check files
  (and a pytest file's conftest.py), byte for byte;
- `harness`: the cell driver, the probe and the built-in checks, byte for byte.

A stored result is reused only when its key is the same and its verdict is a finding: an
infrastructure verdict (index-unreachable, timeout, engine-error, image-unavailable, interrupted)
or a skipped cell never is. Pure functions over their inputs, plus reading the folders it hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import checks, incell
from harness.files import digest, file_sha256, folder_contents
from harness.model import Cell, Verdict
from harness.pins import exact_version

HOST_KEYS = ("arch", "kind", "l4t", "jetpack", "cuda", "compute_capability", "driver", "gpus")


def harness_digest() -> str:
    return digest({name: file_sha256(path) for name, path in incell.FILES.items()})


def all_pinned(cell: Cell) -> bool:
    return all(exact_version(r) is not None for r in cell.packages.requirements)


def resolved_requirements(cell: Cell, prediction: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The requirements as resolved, for the key; None when they cannot be known (unpinned, no plan)."""
    requirements = list(cell.packages.requirements)
    if all_pinned(cell):
        return {"pinned": requirements}
    if not prediction or prediction.get("outcome") in (None, "unknown"):
        return None
    return {"requirements": requirements, "outcome": prediction.get("outcome"),
            "versions": dict(prediction.get("versions") or {})}


def _file_digest(path: Path) -> str:
    try:
        return file_sha256(str(path))
    except OSError:
        return "unreadable"


def checks_part(cell: Cell) -> dict[str, Any]:
    """What the cell's checks are: the entries, their dependencies and timeout, the user's files' content."""
    packages = cell.packages
    files = {}
    for check in checks.user_checks(packages.checks):
        files[str(check.path)] = _file_digest(check.path)
        if check.kind == "pytest" and (check.path.parent / "conftest.py").is_file():
            files[str(check.path.parent / "conftest.py")] = _file_digest(check.path.parent / "conftest.py")
    return {"checks": list(packages.checks), "requires": list(packages.check_requires),
            "timeout": packages.check_timeout, "files": files}


def key_parts(cell: Cell, *, image_identity: str, prediction: Mapping[str, Any] | None, gpu: str,
              host: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Each part of the cell's key, hashed; None when the cell cannot be keyed (see resolved_requirements)."""
    resolved = resolved_requirements(cell, prediction)
    if resolved is None:
        return None
    described = cell.to_json()
    index = described["index"]
    index["folders"] = {d: folder_contents(d) for d in (*cell.index.find_links, *cell.index.serve)}
    index["pip_args"] = list(cell.index.pip_args)
    host = host or {}
    return {
        "image": digest({"ref": cell.image.tag, "platform": cell.image.arch.platform, "identity": image_identity,
                         "ships_torch": cell.image.ships_torch, "python": cell.image.python}),
        "index": digest(index),
        # constraints and hashes (a requirements file's, a lock's) and build_jobs count only where a cell has them
        "requirements": digest(resolved if not (cell.packages.constraints or cell.packages.hashes) else
                               {**resolved, "constraints": list(cell.packages.constraints),
                                "hashes": described["packages"].get("hashes")}),
        "cell": digest({"modules": list(cell.packages.modules), "installer": cell.installer,
                        "expect": cell.expect, "expect_cuda": described["expect_cuda"], "timeout": cell.timeout,
                        "memory": cell.memory, "processes": cell.processes,
                        "retry": [cell.retry.attempts, cell.retry.backoff],
                        **({"build_jobs": cell.build_jobs} if cell.build_jobs else {})}),
        "host": digest({"gpu": gpu, **{k: host.get(k) for k in HOST_KEYS}}),
        "checks": digest(checks_part(cell)),
        "harness": harness_digest(),
    }


def key(parts: Mapping[str, str]) -> str:
    return digest(dict(parts))


def reusable(record: Mapping[str, Any] | None, parts: Mapping[str, str]) -> tuple[bool, str]:
    """Whether a stored record can stand for this run's cell, and why (or why not), in words."""
    if not record:
        return False, "no stored result"
    stored = record.get("cache") if isinstance(record.get("cache"), Mapping) else {}
    try:
        verdict = Verdict(str(record.get("verdict")))
    except ValueError:
        return False, "the stored result has an unknown verdict"
    if verdict.is_infrastructure or verdict is Verdict.SKIPPED:
        return False, f"the stored result is {verdict.value}, which says nothing about the packages"
    if stored.get("key") != key(parts):
        return False, changed(stored.get("parts"), parts)
    return True, "inputs unchanged"


def changed(old: Mapping[str, str] | None, new: Mapping[str, str]) -> str:
    """Which parts of a key differ, in words ("requirements, index changed")."""
    if not isinstance(old, Mapping):
        return "the stored result has no cache key"
    parts = [name for name in new if old.get(name) != new[name]]
    return (", ".join(parts) + " changed") if parts else "inputs changed"
