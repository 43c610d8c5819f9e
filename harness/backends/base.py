"""The seam between the runner and where a cell runs: a Protocol, the value types it trades, and the
labels every cell carries.

Two implementations, chosen in one place (harness.backends.choose): Docker containers
(`harness.backends.docker.DockerBackend`, the only module that imports the docker SDK) and fresh venvs
on the host (`harness.backends.host.HostBackend`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import HarnessError
from harness.model import GpuAccess, GpuMode, Image

if TYPE_CHECKING:
    from harness.backends.hostfacts import HostFacts

# Every container a run starts carries these labels, so leftovers of any run can be found and removed.
LABEL_RUN = "edge-wheel-harness.run"
LABEL_CELL = "edge-wheel-harness.cell"


class ImageUnavailable(HarnessError):
    """The cell's image is not there and cannot be made here."""


class CannotRunHere(ImageUnavailable):
    """This host cannot run the image's architecture at all (no emulation): the cell is skipped."""


class EngineFailure(HarnessError):
    """The engine failed us (not the cell): API errors, a container that could not start."""

    exit_code = 3


@dataclass(frozen=True, kw_only=True)
class Mount:
    """A file or folder lent to a cell read-only. `host` is on the machine driving the run (the
    engine copies it in: nothing is bind-mounted from this machine, which may not be the engine's),
    unless `engine_side`: then it is a path on the engine's own machine (e.g. /etc/nv_tegra_release)."""

    host: str
    cell: str  # where the cell sees it (ignored by the host backend, which uses `host`)
    engine_side: bool = False


@dataclass(frozen=True, kw_only=True)
class Job:
    """One cell's work: files to place in the cell's root, read-only mounts, a command, a deadline."""

    image: Image
    files: Mapping[str, bytes]
    mounts: tuple[Mount, ...]
    # run with the image's python; names of `files` become their paths in the cell:
    # ("boot.py", "cell.py", CACHE, "spec.json")
    argv: tuple[str, ...]
    timeout: float
    labels: Mapping[str, str]
    keep: bool = False
    gpu: GpuMode = GpuMode.NONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpu", GpuMode(self.gpu))
    host_network: bool = False  # the cell must reach the host's loopback (an index served there)
    no_network: bool = False  # the cell gets no network at all (a lock replayed from its wheelhouse)
    memory: int | None = None  # bytes the cell may use, with no swap; None: no limit
    processes: int | None = None  # processes and threads the cell may have at once; None: no limit
    cache: str | None = None  # the shared download cache to lend the cell (its name), see Backend.cache_dir


@dataclass(frozen=True, kw_only=True)
class Build:
    """One build of an image: what kind (`cold`: no layer cache; `cached`: BuildKit's warm cache after a
    change to the recipe's source file, or with nothing changed where it names none; `unchanged`: a
    measured recipe rebuilt with nothing changed), and how long it took."""

    how: str
    seconds: float
    what: str = ""  # one line: what was built
    steps_run: tuple[str, ...] = ()  # the recipe's steps BuildKit ran (`[stage 2/4] RUN …`), in order
    steps_cached: int = 0  # how many of its steps came from the cache
    image_id: str | None = None  # the image it made (a measurement's first build is replaced by the second)

    def to_json(self) -> dict[str, Any]:
        return {"how": self.how, "seconds": round(self.seconds, 3), "what": self.what,
                "steps_run": list(self.steps_run), "steps_cached": self.steps_cached}


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """An image made ready: how long it took, how it was made, and what it is."""

    seconds: float = 0.0
    built: str | None = None  # how its first build this run went ("cold", "cached", "unchanged"), else None
    identity: str = ""  # what the image is (the engine's image id): part of the result cache's key
    builds: tuple[Build, ...] = ()  # the builds this run made of it, in order
    size: int | None = None  # bytes, as the engine reports the image's size
    layers: tuple[Mapping[str, Any], ...] = ()  # its layers with content, base first: {"size", "created_by"}


@dataclass(frozen=True, kw_only=True)
class Execution:
    log: str
    exit_code: int | None
    timed_out: bool = False
    oom_killed: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)  # image prep, container start, run
    kept: str | None = None  # container id or directory kept for debugging
    error: str | None = None
    notes: tuple[str, ...] = ()  # how the backend ran the cell, where that is not as usual (for the result)


class Backend(Protocol):
    name: str
    root: str  # where the cell's files land, as the cell sees it
    inherits_environment: bool  # cells see the packages of the environment they run in (the host backend)
    reaches_host_loopback: bool  # cells (on the host network) reach this machine's 127.0.0.1
    contains_cells: bool  # each cell is a container of its own: its memory and process limits hold

    def cell_path(self, mount_host_path: str, slot: str) -> str:
        """Where a host directory or file shows up inside the cell."""

    def facts(self) -> dict[str, Any]:
        """Facts about where cells run, recorded in every result (arch, engine version …)."""

    def host_facts(self) -> HostFacts:
        """What the machine that runs the cells is (Jetson/JetPack, GPUs, engine runtimes, emulation)."""

    def gpu_access(self, facts: HostFacts) -> GpuAccess:
        """How cells get the GPU on that machine (see hostfacts.gpu_access)."""

    def tidy(self, run_id: str | None = None) -> list[str]:
        """Remove what is certainly dead: what this run could not remove when the engine failed, and
        exited leftovers of earlier runs (not kept ones); one line per thing removed."""

    def clean(self, run_id: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove what runs left behind (kept or leftover cells; of one run, or older than `older_than`
        seconds); one line per thing removed."""

    def prepare(self, image: Image) -> Prepared:
        """Make sure the image exists, and say what it is. Raises ImageUnavailable (CannotRunHere when
        this host cannot run its architecture at all) or EngineFailure."""

    def execute(self, job: Job, *, cancel: threading.Event | None = None,
                output: Callable[[str], None] | None = None) -> Execution:
        """Run the job to completion or deadline; never leaves a container behind unless job.keep.
        When `cancel` is set the cell is stopped and KeyboardInterrupt raised (after the clean-up);
        `output` receives the cell's log as it is written (for live progress)."""

    def cache_dir(self, name: str) -> str:
        """Where the shared download cache `name` shows up inside a cell (made when missing)."""

    def clear_caches(self, names: tuple[str, ...] | None = None) -> list[str]:
        """Empty the shared download caches (all, or those named); one line per cache removed."""
