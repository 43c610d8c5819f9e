"""The host backend: each cell in a fresh temporary directory and venv on this machine.

Used when no container engine answers, so the main job always runs. The image axis does not apply:
cells run with this host's Python, and only cells for this host's architecture can run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends import hostfacts, logkeep
from harness.backends.base import Backend, CannotRunHere, Execution, Job, Prepared
from harness.model import IMAGE_PREFIX, Arch, GpuAccess, GpuMode, HostKind, Image

POLL_SLICE = 0.2
# What the interpreter is, for the result cache's key: where, which version, and what it has installed.
IDENTITY = ("import sys, json\nfrom importlib import metadata\n"
            "print(json.dumps([sys.executable, sys.version, sys.prefix, sorted('%s==%s' % (d.metadata['Name'], "
            "d.version) for d in metadata.distributions())]))")


def default_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / IMAGE_PREFIX / "caches"


class HostBackend(Backend):
    name = "host"
    root = "."  # replaced per job by its temporary directory
    inherits_environment = True  # the environment of `python` is this backend's image
    reaches_host_loopback = True
    contains_cells = False  # a venv on this machine, as the invoking user: no memory or process limit

    def __init__(self, python: str | None = None, tmp: str | None = None, *,
                 why: str = "the host backend was chosen", chosen: bool = True,
                 cache_root: str | Path | None = None) -> None:
        self.python = python or sys.executable
        self.tmp = tmp
        self.why = why  # why cells run on the host: asked for, or no engine answered
        self.chosen = chosen
        self.cache_root = Path(cache_root) if cache_root else default_cache_root()

    def cell_path(self, mount_host_path: str, slot: str) -> str:
        return mount_host_path

    def host_facts(self) -> hostfacts.HostFacts:
        return hostfacts.detect(engine_info=None, no_engine=self.why, host_chosen=self.chosen)

    def gpu_access(self, facts: hostfacts.HostFacts) -> GpuAccess:
        # a host venv sees whatever GPU is there
        return GpuAccess(mode=GpuMode.NONE if facts.kind is HostKind.PLAIN else GpuMode.HOST)

    def tidy(self, run_id: str | None = None) -> list[str]:
        return []  # nothing of a cell outlives it here

    def clean(self, run_id: str | None = None, older_than: float | None = None) -> list[str]:
        return []  # each cell's folder is removed when it ends (unless kept: then its path is in the result)

    def facts(self) -> dict[str, Any]:
        return {
            "arch": Arch.native().value,
            "machine": platform.machine(),
            "engine": "host",
            "hostname": platform.node(),
            "engine_version": None,
            "python": platform.python_version(),
            "os": platform.platform(),
        }

    def prepare(self, image: Image) -> Prepared:
        if image.arch is not Arch.native():
            raise CannotRunHere(
                f"the host backend runs only {Arch.native().platform} cells, not {image.arch.platform}",
                hint="start a Docker engine (with QEMU binfmt emulation for other architectures)",
            )
        start = time.monotonic()
        try:
            said = subprocess.run([self.python, "-c", IDENTITY], capture_output=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            said = repr(exc).encode()
        return Prepared(seconds=time.monotonic() - start, identity=hashlib.sha256(said).hexdigest())

    def cache_dir(self, name: str) -> str:
        path = self.cache_root / name
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def clear_caches(self, names: tuple[str, ...] | None = None) -> list[str]:
        if not self.cache_root.is_dir():
            return []
        removed = sorted(str(p) for p in self.cache_root.iterdir() if names is None or p.name in names)
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def execute(self, job: Job, *, cancel: threading.Event | None = None,
                output: Callable[[str], None] | None = None) -> Execution:
        """The job in a fresh folder on this host, as the invoking user; `job.memory` and
        `job.processes` are not enforced here (no container)."""
        workdir = Path(tempfile.mkdtemp(prefix="ewh-cell-", dir=self.tmp))
        for name, data in job.files.items():
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)  # the user's checks come in folders
            (workdir / name).write_bytes(data)
        argv = [self.python, *(str(workdir / a) if a in job.files else a for a in job.argv)]
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
        log_path = workdir / "cell.log"
        start = time.monotonic()
        timed_out = False
        try:
            with open(log_path, "wb") as log, open(log_path, "rb") as tail:
                try:
                    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
                except OSError as exc:  # the cell's Python cannot even start: a result, not a traceback
                    return Execution(log="", exit_code=None, error=f"{type(exc).__name__}: {exc}",
                                     timings={"container_start": 0.0, "run": time.monotonic() - start})
                try:
                    deadline = start + job.timeout
                    while proc.poll() is None:
                        if output is not None:
                            output(tail.read().decode("utf-8", "replace"))
                        if cancel is not None and cancel.is_set():
                            raise KeyboardInterrupt
                        if time.monotonic() >= deadline:
                            timed_out = True
                            os.killpg(proc.pid, signal.SIGKILL)
                            proc.wait()
                            break
                        time.sleep(POLL_SLICE)
                except BaseException:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise
            keeper = logkeep.Keeper()
            with open(log_path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    keeper.feed_bytes(block)
            return Execution(
                log=keeper.text(),
                exit_code=None if timed_out else proc.returncode,
                timed_out=timed_out,
                timings={"container_start": 0.0, "run": time.monotonic() - start},
                kept=str(workdir) if job.keep else None,
            )
        finally:
            if not job.keep:
                shutil.rmtree(workdir, ignore_errors=True)
