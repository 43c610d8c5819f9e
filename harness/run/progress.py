"""What a person sees while a run goes on: each running cell, its phase, what it downloaded so far, its
elapsed time, and an ETA from earlier results of the same cells.

On a terminal a live table (rich) redraws in place; without one (CI logs, a pipe) plain lines are
printed: a cell's start, each phase it enters, and its end. Both are fed by the runner from worker
threads, so every method takes the lock.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from harness.units import format_bytes
from harness.verdicts.events import HARNESS

DOWNLOADING = re.compile(r"^\s*Downloading (?:\S+ )?(?:\S+ )?\(([0-9.]+) ?(bytes|[kKMG]i?B)\)")
UNITS = {"bytes": 1, "kB": 1000, "KiB": 1024, "MB": 1000**2, "MiB": 1024**2, "GB": 1000**3, "GiB": 1024**3}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


@dataclass
class Running:
    cell_id: str
    n: int
    began: float
    estimate: float | None
    phase: str = "image"
    downloaded: float = 0.0
    partial: str = ""
    seen: set[str] = field(default_factory=set)


class Reporter:
    """Tracks the running cells; subclasses decide how to show them."""

    def __init__(self, total: int, *, jobs: int = 1, estimates: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.jobs = max(1, jobs)
        self.estimates = dict(estimates or {})
        self.clock = clock
        self.running: dict[str, Running] = {}
        self.finished = 0
        self.lock = threading.RLock()

    # -- fed by the runner -------------------------------------------------------------------------
    def started(self, cell_id: str, n: int) -> None:
        with self.lock:
            self.running[cell_id] = Running(cell_id=cell_id, n=n, began=self.clock(),
                                            estimate=self.estimates.get(cell_id))
            self.show_start(self.running[cell_id])

    def output(self, cell_id: str, text: str) -> None:
        """A piece of the cell's log as it is written: phases and downloads are read from it."""
        with self.lock:
            cell = self.running.get(cell_id)
            if cell is None or not text:
                return
            lines = (cell.partial + text).split("\n")
            cell.partial = lines.pop()
            for line in lines:
                self._read(cell, line)

    def _read(self, cell: Running, line: str) -> None:
        if line.startswith(HARNESS):
            try:
                event = json.loads(line[len(HARNESS):])
            except ValueError:
                return
            if isinstance(event, dict) and event.get("event") == "phase" and event.get("status") == "start":
                cell.phase = str(event.get("phase"))
                self.show_phase(cell)
            return
        m = DOWNLOADING.match(line)
        if m and line not in cell.seen:  # pip says it once per file; uv says it again when done
            cell.seen.add(line)
            cell.downloaded += float(m.group(1)) * UNITS.get(m.group(2), 1)

    def done(self, cell_id: str, line: str) -> None:
        with self.lock:
            cell = self.running.pop(cell_id, None)
            self.finished += 1
            self.show_done(cell, line)

    def note(self, text: str) -> None:
        with self.lock:
            self.show_note(text)

    def close(self) -> None:
        pass

    # -- what the numbers are ----------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds until the run ends: the estimates left (running cells less their elapsed time) over
        the jobs; None when no earlier result says how long any of them takes."""
        now = self.clock()
        left = [max(0.0, c.estimate - (now - c.began)) for c in self.running.values() if c.estimate is not None]
        waiting = self.total - self.finished - len(self.running)
        known = [v for k, v in self.estimates.items() if k not in self.running]
        if not left and not known:
            return None
        average = (sum(known) / len(known)) if known else (sum(left) / len(left))
        return (sum(left) + waiting * average) / self.jobs

    # -- how they are shown (plain lines here) -----------------------------------------------------
    def show_start(self, cell: Running) -> None: ...

    def show_phase(self, cell: Running) -> None: ...

    def show_done(self, cell: Running | None, line: str) -> None: ...

    def show_note(self, text: str) -> None: ...


class Lines(Reporter):
    """Plain lines, for logs: a cell's start, each phase it enters, its end (with the run's ETA)."""

    def __init__(self, total: int, *, log: Callable[[str], None] = print, **kw: Any) -> None:
        super().__init__(total, **kw)
        self.log = log

    def show_start(self, cell: Running) -> None:
        self.log(f"[{cell.n}/{self.total}] {cell.cell_id} …")

    def show_phase(self, cell: Running) -> None:
        elapsed = self.clock() - cell.began
        got = f", {format_bytes(cell.downloaded)} downloaded" if cell.downloaded else ""
        self.log(f"[{cell.n}/{self.total}] {cell.cell_id}: {cell.phase} ({format_duration(elapsed)}{got})")

    def show_done(self, cell: Running | None, line: str) -> None:
        eta = self.eta() if self.finished < self.total else None
        self.log(line + (f" (run ETA {format_duration(eta)})" if eta is not None else ""))

    def show_note(self, text: str) -> None:
        self.log(text)


class Live(Reporter):
    """A table redrawn in place on a terminal (rich), finished cells printed above it."""

    def __init__(self, total: int, *, stream: TextIO | None = None, **kw: Any) -> None:
        from rich.console import Console
        from rich.live import Live as RichLive

        super().__init__(total, **kw)
        self.console = Console(file=stream or sys.stdout)
        self.live = RichLive(console=self.console, refresh_per_second=4, get_renderable=self.render, transient=True)
        self.live.start()

    def render(self) -> Any:
        from rich.table import Table

        with self.lock:
            eta = self.eta()
            table = Table(title=f"{self.finished}/{self.total} cells done"
                                + (f", ETA {format_duration(eta)}" if eta is not None else ""),
                          title_justify="left", expand=False)
            for header in ("cell", "phase", "downloaded", "elapsed", "expected"):
                table.add_column(header)
            now = self.clock()
            for cell in sorted(self.running.values(), key=lambda c: c.n):
                table.add_row(cell.cell_id, cell.phase, format_bytes(cell.downloaded) if cell.downloaded else "—",
                              format_duration(now - cell.began), format_duration(cell.estimate))
            return table

    def show_done(self, cell: Running | None, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)

    def show_note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.live.stop()


def reporter(total: int, *, log: Callable[[str], None] = print, live: bool | None = None, **kw: Any) -> Reporter:
    """Live on a terminal, plain lines elsewhere (or as asked)."""
    if live is None:
        live = sys.stdout.isatty()
    return Live(total, **kw) if live else Lines(total, log=log, **kw)
