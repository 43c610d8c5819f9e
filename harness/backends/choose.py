"""Where cells run: the one place a backend is chosen (as cibuildwheel's platforms/__init__ does).

The engine adapter (and so the docker SDK) is imported only when Docker is tried, so `--backend host`
never loads it. A new backend implements harness.backends.base.Backend and is added here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.backends.base import Backend
from harness.errors import EngineUnavailable, HarnessError

BACKENDS = ("auto", "docker", "host")


def choose_backend(prefer: str = "auto", *, log: Callable[[str], None] = print, python: str | None = None) -> Backend:
    """Docker when an engine answers; the host backend otherwise (or when asked for). `python` is the
    interpreter whose environment host cells run over (default: the one running the harness)."""
    from harness.backends.host import HostBackend

    if prefer not in BACKENDS:
        raise HarnessError(f"unknown backend {prefer!r}", hint=f"choose one of {', '.join(BACKENDS)}")
    if prefer == "host":
        return HostBackend(why="the host backend was chosen (--backend host)", chosen=True, python=python)
    try:
        from harness.backends.docker import DockerBackend

        return DockerBackend()
    except EngineUnavailable as exc:
        if prefer == "docker":
            raise
        where = os.environ.get("DOCKER_HOST") or "default socket"
        log(f"No Docker engine answered ({where}): running cells in fresh venvs on this host instead "
            f"(the host backend). {exc.hint}.")
        return HostBackend(why=f"no Docker engine answered ({where})", chosen=False, python=python)
