"""`wheel-harness lock`: exactly what a cell installed, from its stored result alone, as a PEP 751 lock
and a requirements file with hashes, and (with a wheelhouse) the files themselves, checked.

Which file each package was and its sha256: a pip cell's install report names both; a uv cell's record
names the version and the wheel tags it installed, and the run's index ledger (harness.plan.ledger)
names the file of that version with those tags and its hash. Where a file can be had again, in order:
the folder it came from (a find-links or served wheelhouse), pip's shared download cache, the URL it
was downloaded from — each copy checked against the hash before it is kept.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import HTTPSHandler, Request, build_opener

from packaging.utils import canonicalize_name, parse_wheel_filename

from harness import installers, pylock
from harness.errors import HarnessError
from harness.files import file_sha256
from harness.model import is_safe_file_name
from harness.results import store

LOOPBACK = ("localhost", "127.0.0.1", "::1")
DOWNLOAD_TIMEOUT = 120.0


class LockFailed(HarnessError):
    """The cell's record cannot be locked, or a file cannot be had with the locked hash."""


def find_record(results: Path, pattern: str, run_id: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The stored record of the one cell whose id matches `pattern`, in a results root or one matrix's
    folder: (its matrix folder, the record); with `run_id`, that run's record (latest or history)."""
    results = Path(results)
    folders = [results] if any(results.glob("*.json")) else store.matrix_folders(results)
    found = []
    for folder in folders:
        for record in store.load_results(folder):
            if fnmatch.fnmatchcase(str(record["cell_id"]), pattern):
                found.append((folder, record))
    if len(found) != 1:
        shown = ", ".join(str(r["cell_id"]) for _, r in found[:8])
        raise LockFailed(f"{results}: {len(found)} stored cells match {pattern!r}" + (f" ({shown})" if shown else ""),
                         hint="name exactly one cell id (see `wheel-harness table`), and the results root or "
                              "matrix folder that holds it (--results)")
    folder, record = found[0]
    if run_id and record.get("run_id") != run_id and is_safe_file_name(run_id):
        old = folder / store.HISTORY / run_id / f"{record['cell_id']}.json"
        if old.is_file():
            record = store.read_record(old) or record
    return folder, record


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where one locked file came from: its URL, and the cell's folders it may still be in."""

    url: str | None
    folders: tuple[Path, ...]

    @property
    def public_url(self) -> str | None:
        """The URL, when it is one a lock may name: a real index, not this machine's loopback or a path
        inside the cell."""
        if not self.url:
            return None
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") in LOOPBACK or "***" in parts.netloc:
            return None
        return self.url


def _ledger_files(ledgers: Iterable[Mapping[str, Any]], project: str, version: str) -> list[dict[str, Any]]:
    out = []
    for ledger in ledgers:
        entry = (ledger.get("projects") or {}).get(project) or {}
        for f in (entry.get("files") or {}).get(version) or ():
            out.append({**f, "source": ledger.get("source"), "kind": ledger.get("kind")})
    return out


def _wheel_tags(name: str) -> frozenset[str]:
    try:
        return frozenset(str(t) for t in parse_wheel_filename(name)[3])
    except ValueError:
        return frozenset()


def _uv_file(item: Mapping[str, Any], files: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ledger's file a uv cell installed: the wheel of that version with the tags its WHEEL file
    names, else (a build from source) the version's sdist."""
    tags = frozenset(str(t) for t in item.get("wheel_tags") or ())
    wheels = [f for f in files if str(f["name"]).endswith(".whl") and tags and _wheel_tags(str(f["name"])) == tags]
    if wheels:
        return wheels[0]
    sdists = [f for f in files if not str(f["name"]).endswith(".whl")]
    return sdists[0] if sdists and tags and not any(_wheel_tags(str(f["name"])) & tags for f in files) else None


def locked(record: Mapping[str, Any], ledgers: Iterable[Mapping[str, Any]], base: Path = Path(".")) -> tuple[
        pylock.Lock, dict[str, Origin]]:
    """The lock of a cell's record, and where each file came from (by file name). `base` is where the
    record's folders (find-links, served) are relative to."""
    ledgers = list(ledgers)
    install = record.get("install") if isinstance(record.get("install"), Mapping) else None
    items = list((install or {}).get("items") or ())
    if not items:
        raise LockFailed(f"cell {record.get('cell_id')} installed nothing (verdict {record.get('verdict')}): "
                         "there is nothing to lock", hint="lock a cell whose install went through")
    index = (record.get("cell") or {}).get("index") or {}
    folders = tuple(base / str(d) for d in [*(index.get("find_links") or ()), *(index.get("serve") or ())])
    packages, origins, problems = [], {}, []
    for item in items:
        name, version = canonicalize_name(str(item.get("name"))), str(item.get("version"))
        files = _ledger_files(ledgers, name, version)
        if item.get("file"):
            chosen = next((f for f in files if f["name"] == unquote(str(item["file"]))), None)
            file = {"name": unquote(str(item["file"])), "sha256": item.get("sha256") or (chosen or {}).get("sha256"),
                    "url": item.get("url"), "upload_time": (chosen or {}).get("upload_time")}
        else:
            chosen = _uv_file(item, files)
            file = {**chosen, "url": chosen.get("url")} if chosen else None
        if file is None:
            problems.append(f"{name} {version}: the record does not say which file was installed, and the run's "
                            "index ledger names none with the tags it installed")
            continue
        if not file.get("sha256"):
            problems.append(f"{name} {version}: no sha256 for {file['name']} (the index gave none, and the "
                            "install reported none)")
            continue
        # no size: pip prints a download's size rounded ("1.6 kB"); `placed` measures the file where it is
        locked_file = pylock.LockedFile(name=str(file["name"]), sha256=str(file["sha256"]).lower(),
                                        upload_time=file.get("upload_time"))
        origin = Origin(url=str(file["url"]) if file.get("url") else None, folders=folders)
        origins[locked_file.name] = origin
        packages.append(pylock.LockedPackage(name=name, version=version, file=locked_file))
    if problems:
        raise LockFailed(f"cell {record.get('cell_id')} cannot be locked: " + "; ".join(problems),
                         hint="run the cell again with this harness (its record then names every file and "
                              "hash), or with pip, whose install report gives them")
    probe = record.get("probe") if isinstance(record.get("probe"), Mapping) else {}
    cell = record.get("cell") if isinstance(record.get("cell"), Mapping) else {}
    tool = {"cell": record.get("cell_id"), "matrix": record.get("matrix"), "run_id": record.get("run_id"),
            "verdict": record.get("verdict"), "installer": cell.get("installer"),
            "image": (cell.get("image") or {}).get("name"), "platform": (cell.get("image") or {}).get("platform"),
            "python": (probe.get("start") or {}).get("python") if isinstance(probe.get("start"), Mapping) else None,
            "modules": list((cell.get("packages") or {}).get("modules") or ())}
    return pylock.Lock(packages=tuple(sorted(packages, key=lambda p: p.key)), tool=tool), origins


def placed(lock: pylock.Lock, origins: Mapping[str, Origin], lock_dir: Path,
           wheelhouse: Path | None) -> pylock.Lock:
    """The lock with each file's location as a lock names it: its path in the wheelhouse (relative to
    the lock's folder), else its public URL, else its path in the folder it came from."""
    out = []
    for package in lock.packages:
        f, origin = package.file, origins.get(package.file.name, Origin(url=None, folders=()))
        url, path, local = origin.public_url, None, None
        if wheelhouse is not None:
            local = wheelhouse / f.name
            url, path = None, os.path.relpath(local, lock_dir)
        elif url is None:
            local = next((d / f.name for d in origin.folders if (d / f.name).is_file()), None)
            if local is None:
                raise LockFailed(f"{f.name}: came from {origin.url or 'nowhere recorded'}, which a lock cannot name "
                                 "(this machine's loopback, or a folder that is gone)",
                                 hint="give --wheelhouse DIR: the file is copied there and the lock names it")
            path = os.path.relpath(local.resolve(), lock_dir.resolve())
        size = local.stat().st_size if local is not None and local.is_file() else None
        out.append(pylock.LockedPackage(name=package.name, version=package.version, index=package.index,
                                        file=pylock.LockedFile(name=f.name, sha256=f.sha256, url=url, path=path,
                                                               size=size, upload_time=f.upload_time)))
    return pylock.Lock(packages=tuple(out), tool=lock.tool, requires_python=lock.requires_python)


# --- the files themselves --------------------------------------------------------------------------------

Download = Callable[[str], bytes]


def pip_cache_body(cache: Path, url: str) -> Callable[[], bytes] | None:
    """A reader of the bytes pip's HTTP cache keeps for `url`, if it keeps them: pip >= 23.3 writes them
    as they came (http-v2/…/<key>.body), older pips inside a cachecontrol entry (http/…/<key>, "cc=4,"
    and msgpack, read with the msgpack pip itself carries)."""
    key = hashlib.sha224(url.split("#")[0].encode()).hexdigest()
    parts = (key[0], key[1], key[2], key[3], key[4])
    body = Path(cache, "http-v2", *parts, f"{key}.body")
    if body.is_file():
        return body.read_bytes
    entry = Path(cache, "http", *parts, key)
    if not entry.is_file():
        return None

    def unpacked() -> bytes:
        raw = entry.read_bytes()
        if not raw.startswith(b"cc=4,"):
            raise ValueError(f"{entry} is a cache entry of a format this harness does not read")
        try:
            from pip._vendor import msgpack
        except ImportError as exc:
            raise ValueError("reading an older pip's cache needs pip beside the harness") from exc
        data = msgpack.loads(raw[len(b"cc=4,"):], raw=False)
        return bytes(data["response"]["body"])

    return unpacked


def downloader(environ: Mapping[str, str] | None = None) -> Download:
    """GET a URL with the host's CA bundle and proxies (as `plan` and a search ask indexes)."""
    bundle = installers.ca_bundle(os.environ if environ is None else environ)
    opener = build_opener(HTTPSHandler(context=ssl.create_default_context(cafile=bundle)))

    def get(url: str) -> bytes:
        request = Request(url, headers={"User-Agent": "edge-wheel-harness-lock"})
        with opener.open(request, timeout=DOWNLOAD_TIMEOUT) as resp:
            return resp.read()

    return get


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fill_wheelhouse(lock: pylock.Lock, origins: Mapping[str, Origin], wheelhouse: Path, *,
                    pip_cache: Path | None = None, download: Download | None = None) -> list[str]:
    """Copy every locked file into `wheelhouse`, each checked against its hash; one line per file saying
    where it came from. LockFailed naming every file that could not be had with its hash (nothing
    unchecked is ever left in the wheelhouse)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    lines, missing = [], []
    for package in lock.packages:
        f = package.file
        target = wheelhouse / f.name
        if target.is_file() and file_sha256(target) == f.sha256:
            lines.append(f"{f.name}: already in the wheelhouse")
            continue
        origin = origins.get(f.name, Origin(url=None, folders=()))
        tried = []
        for where, read in _candidates(f.name, origin, pip_cache, download):
            try:
                data = read()
            except (OSError, ValueError, KeyError, TypeError) as exc:
                tried.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            got = _sha256(data)
            if got != f.sha256:
                tried.append(f"{where} has sha256 {got}, not the locked {f.sha256}")
                continue
            _write(target, data)
            lines.append(f"{f.name}: from {where}")
            break
        else:
            missing.append(f"{f.name} ({'; '.join(tried) or 'no place recorded to get it from'})")
    if missing:
        raise LockFailed("these files could not be had with their locked hash: " + " | ".join(missing),
                         hint="a file whose hash differs was replaced since the cell ran: do not lock the new "
                              "one blindly; where the index no longer answers, copy the files from a wheelhouse "
                              "made earlier")
    return lines


def _candidates(name: str, origin: Origin, pip_cache: Path | None,
                download: Download | None) -> list[tuple[str, Callable[[], bytes]]]:
    out: list[tuple[str, Callable[[], bytes]]] = []
    for folder in origin.folders:
        if (folder / name).is_file():
            out.append((f"the folder {folder}", (folder / name).read_bytes))
    if pip_cache is not None and origin.url:
        body = pip_cache_body(pip_cache, origin.url)
        if body is not None:
            out.append((f"pip's cache {pip_cache}", body))
    if download is not None and origin.url and urlsplit(origin.url).scheme in ("http", "https") \
            and "***" not in origin.url:
        url = origin.url
        out.append((url, lambda: download(url)))
    return out


def _write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
