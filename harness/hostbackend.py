"""The host backend: each cell in a fresh temporary directory and venv on this machine.

Used when no container engine answers, so the main job always runs. The image axis does not apply:
cells run with this host's Python, and only cells for this host's architecture can run.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import hostfacts
from .backend import Backend, CannotRunHere, Execution, Job
from .model import Arch, Image


class HostBackend(Backend):
    name = "host"
    root = "."  # replaced per job by its temporary directory

    def __init__(self, python: str | None = None, tmp: str | None = None, *, why: str = "chosen") -> None:
        self.python = python or sys.executable
        self.tmp = tmp
        self.why = why  # why cells run on the host: asked for, or no engine answered

    def cell_path(self, mount_host_path: str, slot: str) -> str:
        return mount_host_path

    def host_facts(self) -> hostfacts.HostFacts:
        return hostfacts.detect(engine_info=None)

    def gpu_access(self, facts: hostfacts.HostFacts) -> dict[str, Any]:
        return {"mode": "none" if facts.kind == "plain" else "host"}  # a host venv sees whatever GPU is there

    def clean(self, run_id: str | None = None) -> list[str]:
        return []  # each cell's folder is removed when it ends (unless kept: then its path is in the result)

    def facts(self) -> dict[str, Any]:
        return {
            "arch": Arch.native().value,
            "machine": platform.machine(),
            "engine": "host",
            "engine_version": None,
            "python": platform.python_version(),
            "os": platform.platform(),
        }

    def prepare(self, image: Image) -> tuple[float, str | None]:
        if image.arch is not Arch.native():
            raise CannotRunHere(
                f"the host backend runs only {Arch.native().platform} cells, not {image.arch.platform}",
                hint="start a Docker engine (with QEMU binfmt emulation for other architectures)",
            )
        return 0.0, None

    def execute(self, job: Job) -> Execution:
        workdir = Path(tempfile.mkdtemp(prefix="ewh-cell-", dir=self.tmp))
        for name, data in job.files.items():
            (workdir / name).write_bytes(data)
        argv = [self.python, *(str(workdir / a) if a in job.files else a for a in job.argv)]
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
        log_path = workdir / "cell.log"
        start = time.monotonic()
        timed_out = False
        try:
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
                try:
                    proc.wait(timeout=job.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                except BaseException:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise
            return Execution(
                log=log_path.read_text("utf-8", "replace"),
                exit_code=None if timed_out else proc.returncode,
                timed_out=timed_out,
                timings={"container_start": 0.0, "run": time.monotonic() - start},
                kept=str(workdir) if job.keep else None,
            )
        finally:
            if not job.keep:
                shutil.rmtree(workdir, ignore_errors=True)
