"""Locks: what a cell installed, file by file with hashes, as a PEP 751 `pylock.toml` and as a pip
requirements file with `--hash` lines; and a pylock.toml read back (for a package set that replays one).

Pure functions over the model below; no I/O but reading the one file `read` is given. The harness's
own facts (the locked cell, its verdict, its modules) live in the lock's `[tool.edge-wheel-harness]`
table, which PEP 751 reserves for tools.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

LOCK_VERSION = "1.0"
TOOL = "edge-wheel-harness"
NAME_RE = re.compile(r"\Apylock\.[A-Za-z0-9._-]+\.toml\Z|\Apylock\.toml\Z")  # PEP 751's file names
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")


class LockError(ValueError):
    """A lock file that cannot be used: the message says what and where."""


@dataclass(frozen=True, kw_only=True)
class LockedFile:
    """One file a cell installed: its name, sha256 and where it can be had again."""

    name: str
    sha256: str
    url: str | None = None  # where it came from, when that is a real index (not this machine's loopback)
    path: str | None = None  # a local copy, relative to the lock's folder where it can be
    size: int | None = None
    upload_time: str | None = None

    @property
    def is_wheel(self) -> bool:
        return self.name.endswith(".whl")


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: str
    version: str
    file: LockedFile
    index: str | None = None  # the index it came from (credentials masked), when one

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True, kw_only=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    tool: Mapping[str, Any] = field(default_factory=dict)  # the harness's table: cell, verdict, modules …
    requires_python: str | None = None

    def requirement_lines(self) -> list[str]:
        """`name==version` for each package (what a replay installs, with its hash)."""
        return [f"{p.name}=={p.version}" for p in self.packages]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string (both escape the same way here)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


DATETIME_RE = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def _table(values: Mapping[str, Any]) -> list[str]:
    out = []
    for k, v in values.items():
        if v is None:
            continue
        if k == "upload-time":  # a TOML datetime (PEP 751), written only when it is one
            if DATETIME_RE.match(str(v)):
                out.append(f"{k} = {v}")
            continue
        out.append(f"{_key(k)} = {_toml_value(v)}")
    return out


def pylock_text(lock: Lock) -> str:
    """The lock as PEP 751 TOML: one `[[packages]]` per package, with its one wheel (or its sdist)."""
    lines = [f"lock-version = {_toml_value(LOCK_VERSION)}", f"created-by = {_toml_value(TOOL)}"]
    if lock.requires_python:
        lines.append(f"requires-python = {_toml_value(lock.requires_python)}")
    for package in lock.packages:
        f = package.file
        lines += ["", "[[packages]]", *_table({"name": package.key, "version": package.version,
                                              "index": package.index})]
        entry = {"name": f.name, "url": f.url, "path": f.path, "upload-time": f.upload_time, "size": f.size,
                 "hashes": {"sha256": f.sha256}}
        lines += ["", "[[packages.wheels]]" if f.is_wheel else "[packages.sdist]", *_table(entry)]
    if lock.tool:
        lines += ["", f"[tool.{_key(TOOL)}]", *_table(lock.tool)]
    return "\n".join(lines) + "\n"


def requirements_text(lock: Lock, header: Sequence[str] = ()) -> str:
    """The lock as a pip requirements file: `name==version --hash=sha256:…`, which
    `pip install --require-hashes` checks file by file."""
    lines = [f"# {line}" for line in header]
    for package in lock.packages:
        lines.append(f"{package.key}=={package.version} \\")
        lines.append(f"    --hash=sha256:{package.file.sha256}")
    return "\n".join(lines) + "\n"


def read(path: str | Path) -> Lock:
    """A pylock.toml read back: each package's name, version, its one file and hash (LockError when the
    file is no lock this harness can replay)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise LockError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise LockError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise LockError(f"{path}: cannot read: {exc.strerror}") from None
    if str(data.get("lock-version", "")).split(".")[0] != LOCK_VERSION.split(".")[0]:
        raise LockError(f"{path}: lock-version {data.get('lock-version')!r}, this harness reads {LOCK_VERSION}")
    packages = []
    for i, entry in enumerate(data.get("packages") or ()):
        packages.append(_package(entry, f"{path}: packages[{i}]"))
    if not packages:
        raise LockError(f"{path}: locks no package")
    tool = ((data.get("tool") or {}).get(TOOL)) or {}
    return Lock(packages=tuple(packages), tool=tool if isinstance(tool, Mapping) else {},
                requires_python=data.get("requires-python"))


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _package(entry: Any, where: str) -> LockedPackage:
    if not isinstance(entry, Mapping) or not entry.get("name") or not entry.get("version"):
        raise LockError(f"{where}: a package needs a name and a version")
    files = [f for f in (entry.get("wheels") or ()) if isinstance(f, Mapping)]
    if isinstance(entry.get("sdist"), Mapping):
        files.append(entry["sdist"])
    if len(files) != 1:
        raise LockError(f"{where} ({entry['name']}): {len(files)} files; a lock this harness replays names the "
                        "one file the cell installed")
    f = files[0]
    sha = str((f.get("hashes") or {}).get("sha256") or "").lower()
    name = f.get("name") or str(f.get("path") or f.get("url") or "").rsplit("/", 1)[-1]
    if not SHA256_RE.match(sha):
        raise LockError(f"{where} ({entry['name']}): no sha256 hash for {name or 'its file'}")
    if not name:
        raise LockError(f"{where} ({entry['name']}): its file has no name, path or url")
    return LockedPackage(name=str(entry["name"]), version=str(entry["version"]), index=entry.get("index"),
                         file=LockedFile(name=str(name), sha256=sha, url=f.get("url"), path=f.get("path"),
                                         size=f.get("size"),
                                         upload_time=_iso(f.get("upload-time"))))
