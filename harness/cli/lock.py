"""`lock`: what a stored cell installed, as `pylock.<name>.toml` and `requirements.<name>.txt` with
hashes, and with --wheelhouse the files themselves (checked), from stored results alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import pylock
from harness.answers import lock
from harness.backends.host import default_cache_root
from harness.errors import HarnessError
from harness.files import write_text_atomic
from harness.results import store


def _cell_of(args: argparse.Namespace) -> tuple[str, str | None]:
    """The cell to lock (and the run that measured it): named, or solve's answer's best set."""
    if args.solve is None:
        if not args.cell:
            raise HarnessError("name the cell to lock, or give --solve ANSWER.json",
                               hint="wheel-harness lock CELL_ID (see `wheel-harness table` for the ids)")
        return args.cell, None
    try:
        answer = json.loads(Path(args.solve).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{args.solve}: cannot read solve's answer: {exc}",
                           hint="write it with `wheel-harness solve … --json FILE`") from None
    if not isinstance(answer, dict) or not answer.get("cell_id"):
        raise HarnessError(f"{args.solve}: solve found no working set, so there is nothing to lock",
                           hint="widen the search (more releases, another index variant) and solve again")
    return str(answer["cell_id"]), answer.get("run_id")


def cmd_lock(args: argparse.Namespace) -> int:
    cell, run_id = _cell_of(args)
    folder, record = lock.find_record(Path(args.results), cell, run_id)
    found, origins = lock.locked(record, store.read_ledgers(folder, [record]))
    name = args.name or str(record["cell_id"])
    out = Path(args.output)
    pylock_path = out / f"pylock.{name}.toml"
    requirements_path = out / f"requirements.{name}.txt"
    wheelhouse = Path(args.wheelhouse) if args.wheelhouse else None
    if wheelhouse is not None:
        cache = args.pip_cache or _host_cache(record)
        for line in lock.fill_wheelhouse(found, origins, wheelhouse, pip_cache=cache, download=lock.downloader()):
            print(f"  {line}")
    placed = lock.placed(found, origins, out.resolve(), wheelhouse.resolve() if wheelhouse else None)
    write_text_atomic(pylock_path, pylock.pylock_text(placed))
    header = [f"Locked by edge-wheel-harness from cell {record['cell_id']} (run {record.get('run_id')}, verdict "
              f"{record.get('verdict')}).",
              "Install: pip install --require-hashes --no-deps -r THIS_FILE"
              + (f" --no-index --find-links {wheelhouse}" if wheelhouse else "")]
    write_text_atomic(requirements_path, pylock.requirements_text(placed, header))
    print(f"Locked {len(placed.packages)} package(s) of {record['cell_id']} ({record.get('verdict')}): "
          f"{pylock_path}, {requirements_path}" + (f"; files in {wheelhouse}" if wheelhouse else ""))
    if record.get("verdict") != "pass":
        print(f"note: the cell's verdict was {record.get('verdict')}: a package set replaying this lock expects "
              "the same verdict")
    return 0


def _host_cache(record: dict) -> Path | None:
    """pip's shared download cache of the record's cell, where it is a folder on this machine (the host
    backend's); a Docker engine keeps its caches in volumes (give --pip-cache to name a copy)."""
    shared = (record.get("caches") or {}).get("shared") if isinstance(record.get("caches"), dict) else None
    if record.get("backend") != "host" or not shared:
        return None
    path = default_cache_root() / str(shared) / "pip"
    return path if path.is_dir() else None
