"""Files: atomic writes, and the sha256 of a file or of a folder's files.

Atomic writes go to a temp file in the same folder, flushed and fsynced, then `os.replace`, so a killed
run never leaves half a JSON record, half a log or half a document behind. Hashes are cached by path,
size and modification time: a file that changed is hashed again, an unchanged one is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8, line endings as given) to `path` so readers see the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict) -> None:
    # Serialise first: a value json cannot encode fails before any file exists.
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def digest(value: object) -> str:
    """sha256 of a value's canonical JSON (sorted keys, no spaces; what JSON cannot encode as its str)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is hashed again
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def file_sha256(path: str | os.PathLike[str], stat: os.stat_result | None = None) -> str:
    """The sha256 of a file's bytes (hashed once per path, size and modification time)."""
    st = stat or os.stat(path)
    return _sha256(os.fspath(path), st.st_size, st.st_mtime_ns)


def folder_contents(directory: str | os.PathLike[str]) -> dict[str, str]:
    """File name → sha256 for the files directly in `directory` (what pip's find-links and the served
    index see); {} for a folder that does not exist (yet)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return {}
    return {entry.name: file_sha256(entry.path, entry.stat()) for entry in entries if entry.is_file()}
