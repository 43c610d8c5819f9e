"""A run's options, and a cell as this run runs it (the run's timeout, memory and process limits)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fnmatch
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.backends.base import Backend, Mount
from harness.backends.hostfacts import HostFacts
from harness.model import Cell, GpuMode
from harness.run import schedule


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    run_id: str
    keep: bool = False
    timeout: float | None = None  # overrides the matrix's per-cell timeout
    environ: Mapping[str, str] | None = None  # the host environment to forward CA bundle/proxies from
    gpu: GpuMode = GpuMode.NONE  # how cells get the GPU on this host (see hostfacts.gpu_access)
    extra_mounts: tuple[Mount, ...] = ()  # host files every cell sees read-only (e.g. /etc/nv_tegra_release)
    host_facts: Mapping[str, Any] | None = None  # recorded in every result (hostfacts.detect)
    jobs: int = 1  # cells at once
    memory: int | None = None  # a cell's memory limit when neither it nor its matrix sets one (None: none)
    processes: int | None = schedule.DEFAULT_PROCESSES  # likewise its process limit (None: none)
    shared_caches: bool = True  # lend cells their platform's shared download cache (False: cold caches)
    reuse: bool = True  # reuse a stored result whose inputs did not change (the result cache)
    force: tuple[str, ...] = ()  # cell id patterns run again even when their inputs did not change
    plan: bool = True  # predict cells with uv: stored beside results, and the key of unpinned cells
    cache_namespace: str = ""  # a prefix for the shared caches' names (tests keep theirs apart)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpu", GpuMode(self.gpu))  # "none" as written in a test or a script


def effective(cell: Cell, options: RunOptions) -> Cell:
    """The cell as this run runs it: the run's timeout, and its memory and process limits unless the cell
    sets them."""
    return dataclasses.replace(cell, timeout=options.timeout or cell.timeout,
                               memory=cell.memory if cell.memory is not None else options.memory,
                               processes=cell.processes if cell.processes is not None else options.processes)


def forced(cell: Cell, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(cell.id, p) for p in patterns)


def for_host(backend: Backend, facts: HostFacts, *, jobs: int | str = 1, timeout: float | None = None,
             memory: int | None = None, processes: int | None = None, **kw: Any) -> RunOptions:
    """The options a run's cells (or a search's steps) run with on this backend's machine: how they get
    the GPU and the files that needs, how many run at once (`auto`: schedule.auto_jobs), each cell's
    timeout, its memory limit (default: the memory of the machine that runs the cells, less what it
    keeps for itself, shared by the cells at once) and its process limit (default:
    schedule.DEFAULT_PROCESSES)."""
    gpu = backend.gpu_access(facts)
    # paths on the engine's machine (a Jetson's release file): its facts said they are there
    mounts = tuple(Mount(host=p, cell=p, engine_side=True) for p in gpu.mounts)
    count = schedule.auto_jobs(memory=facts.memory) if jobs == "auto" else int(jobs)
    return RunOptions(run_id=new_run_id(), timeout=timeout, gpu=gpu.mode, extra_mounts=mounts,
                      host_facts=facts.to_json(), jobs=count,
                      memory=memory if memory else schedule.default_cell_memory(count, facts.memory),
                      processes=processes or schedule.DEFAULT_PROCESSES, **kw)
