"""Running cells side by side: how many at once, in which order, and stopping them all on Ctrl-C.

Pure scheduling: it knows nothing of containers. `order` puts the longest cells first (by earlier
timings of the same cells; emulated cells weigh more when nothing is known), so the run does not end
waiting on one long cell started last; `run` works through them with N worker threads and returns the
results in the cells' own order, so a parallel run reports exactly as a sequential one does.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from harness.errors import RunInterrupted
from harness.model import Arch, Cell

T = TypeVar("T")

NATIVE_GUESS = 60.0  # seconds a cell is assumed to take when no earlier result says
EMULATION_WEIGHT = 4.0  # an emulated cell takes about this many times longer (QEMU)
CELL_MEMORY_FLOOR = 2 << 30  # `--jobs auto` leaves each cell at least this much memory
AUTO_SHARE = 0.75  # `--jobs auto`: this share of the cores
HOST_RESERVE = 1 << 30  # memory kept for the machine itself: at least this much …
HOST_RESERVE_SHARE = 0.10  # … or this share of it, whichever is more (but never more than half)
# Processes and threads a cell may have at once (Docker's pids limit): far above what pip, uv, a
# compiler's parallel jobs and torch's thread pools use on a 128-core machine (under 1000), far below
# the kernel's process table, so a build that forks without end stops there.
DEFAULT_PROCESSES = 4096


def estimate(cell: Cell, record: Mapping[str, Any] | None, native: Arch | None = None) -> float:
    """Seconds this cell will take: its last measured total, else a guess by architecture."""
    timings = (record or {}).get("timings") if isinstance(record, Mapping) else None
    total = timings.get("total") if isinstance(timings, Mapping) else None
    if isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0:
        return float(total)
    return NATIVE_GUESS * (1.0 if cell.image.arch is (native or Arch.native()) else EMULATION_WEIGHT)


def order(cells: Sequence[Cell], estimates: Mapping[str, float]) -> list[int]:
    """Indexes of `cells`, longest first (ties keep the matrix's order)."""
    return sorted(range(len(cells)), key=lambda i: -estimates.get(cells[i].id, NATIVE_GUESS))


def parse_shard(text: str) -> tuple[int, int]:
    """"2/4" → (2, 4); ValueError for anything else (1 ≤ I ≤ N)."""
    index, sep, count = text.partition("/")
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"{text!r} is not I/N, e.g. 2/4")
    i, n = int(index), int(count)
    if not 1 <= i <= n:
        raise ValueError(f"shard {i} of {n}: I must be between 1 and N")
    return i, n


def shard(cells: Sequence[Cell], index: int, count: int,
          estimates: Mapping[str, float] | None = None) -> list[Cell]:
    """The cells of shard `index` (1-based) of `count`, in the matrix's order; every cell is in exactly
    one shard. Without timings each cell goes by a hash of its id, so adding or removing a cell moves
    no other one. With timings (which must be the same for every shard: the caller passes one shared
    set, e.g. the last merged results) the longest cells go first onto the least loaded shard."""
    if estimates:
        loads = [0.0] * count
        owner: dict[str, int] = {}
        for cell in sorted(cells, key=lambda c: (-estimates.get(c.id, NATIVE_GUESS), c.id)):
            target = min(range(count), key=lambda k: (loads[k], k))
            owner[cell.id] = target
            loads[target] += estimates.get(cell.id, NATIVE_GUESS)
        return [c for c in cells if owner[c.id] == index - 1]
    return [c for c in cells if int(hashlib.sha256(c.id.encode()).hexdigest(), 16) % count == index - 1]


def memory_bytes() -> int | None:
    """This machine's memory, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def for_cells(memory: int) -> int:
    """The memory of a machine that its cells may share: all but what the machine keeps for itself,
    max(HOST_RESERVE, 10 %) of it (at most half: a machine of 1 GiB still runs a cell)."""
    return memory - min(max(HOST_RESERVE, int(memory * HOST_RESERVE_SHARE)), memory // 2)


def auto_jobs(cores: int | None = None, memory: int | None = None) -> int:
    """75 % of the cores (at least one), and no more than leaves every cell CELL_MEMORY_FLOOR of the
    memory the cells share (for_cells)."""
    cores = cores or os.cpu_count() or 1
    jobs = max(1, int(cores * AUTO_SHARE))
    if memory:
        jobs = min(jobs, max(1, for_cells(memory) // CELL_MEMORY_FLOOR))
    return jobs


def default_cell_memory(jobs: int, memory: int | None = None) -> int | None:
    """The memory limit of a cell when neither it nor its matrix sets one: the memory the cells share
    (for_cells of the machine's), divided by the cells at once."""
    memory = memory if memory is not None else memory_bytes()
    return for_cells(memory) // max(1, jobs) if memory else None


def run(count: int, work: Callable[[int, threading.Event], T], *, jobs: int = 1,
        priority: Sequence[int] | None = None) -> list[T]:
    """`work(i, cancel)` for i in range(count) on `jobs` threads, started in `priority` order; the
    results in index order. On Ctrl-C `cancel` is set, every running `work` is left to stop (it must
    watch `cancel`), and RunInterrupted carries whatever each finished or stopped `work` returned —
    a `work` that stops returns or raises an exception carrying `.result`. Any other exception a `work`
    raises stops the run the same way and is raised once the running `work`s have stopped."""
    cancel = threading.Event()
    done: dict[int, T] = {}
    start_order = list(priority) if priority is not None else list(range(count))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="cell") as pool:
        futures = {pool.submit(_guarded, work, i, cancel): i for i in start_order}
        try:
            pending = set(futures)
            while pending:
                finished, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                            return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    done[futures[future]] = _outcome(future)
        except KeyboardInterrupt:
            cancel.set()
            for future in futures:
                future.cancel()  # not started yet: never starts
            for future, i in futures.items():
                if future.cancelled():
                    continue
                try:
                    done[i] = _outcome(future)
                except BaseException as exc:  # noqa: BLE001 - a stopped cell carries its result, if any
                    if hasattr(exc, "result"):
                        done[i] = exc.result  # type: ignore[attr-defined]
            raise RunInterrupted(done) from None
        except BaseException:
            # Anything else (a results disk that is full): no further cell starts, the running ones
            # are stopped as on Ctrl-C, and the error goes on to the person once they have.
            cancel.set()
            for future in futures:
                future.cancel()
            concurrent.futures.wait(futures)
            raise
    return [done[i] for i in range(count)]


def _guarded(work: Callable[[int, threading.Event], T], i: int, cancel: threading.Event) -> T:
    if cancel.is_set():
        raise KeyboardInterrupt
    return work(i, cancel)


def _outcome(future: concurrent.futures.Future) -> Any:
    """A finished future's result; a work that was interrupted re-raises here (so Ctrl-C in a worker
    stops the run as it would in the main thread)."""
    exc = future.exception()
    if exc is None:
        return future.result()
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    raise exc
