"""How much of a cell's output is kept: all of it up to a size, and past that the first and the last
part, with a notice where the rest was left out — but every line the driver and the probe write
(`@@harness …`, `@@probe …`: short, and the verdict rests on them), wherever it stands.

A cell that prints gigabytes (a build log, a library in a loop) must not take the harness's memory or
the results disk with it; both backends feed what a cell prints through a Keeper.
"""

from __future__ import annotations

import codecs
from collections import deque

from harness.incell import driver, probe

HEAD = 8 << 20  # bytes of the start of the output kept as they came
TAIL = 8 << 20  # bytes of the end kept
MARKERS = (driver.MARKER, probe.MARKER)  # defined once, by the in-cell code that writes them
LONGEST = 1 << 20  # a "line" longer than this (output without newlines) is cut into pieces of this size


class Keeper:
    def __init__(self, head: int = HEAD, tail: int = TAIL) -> None:
        self.head_budget, self.tail_budget = head, tail
        self.head: list[str] = []
        self.head_size = 0
        self.middle: list[str] = []  # marker lines from the part left out, in order
        self.tail: deque[str] = deque()
        self.tail_size = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self.partial = ""
        self.fed = 0  # characters fed so far (how a reader tells a slow stream from a stalled one)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed_bytes(self, data: bytes) -> None:
        self.feed(self.decoder.decode(data))

    def feed(self, text: str) -> None:
        if not text:
            return
        self.fed += len(text)
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self._line(line + "\n")
        while len(self.partial) > LONGEST:  # no newline for a megabyte: memory stays bounded all the same
            self._line(self.partial[:LONGEST])
            self.partial = self.partial[LONGEST:]

    def _line(self, line: str) -> None:
        size = len(line)
        if not self.tail and self.head_size + size <= self.head_budget:
            self.head.append(line)
            self.head_size += size
            return
        self.tail.append(line)
        self.tail_size += size
        while self.tail_size > self.tail_budget and len(self.tail) > 1:
            old = self.tail.popleft()
            self.tail_size -= len(old)
            if old.startswith(MARKERS):
                self.middle.append(old)
            else:
                self.dropped_lines += 1
                self.dropped_bytes += len(old)

    def text(self) -> str:
        """What was kept; the notice stands where output was left out."""
        rest = self.decoder.decode(b"", final=True)
        if self.partial or rest:
            self._line(self.partial + rest)  # the last line, without its newline: kept as it is
            self.partial = ""
        kept = list(self.head)
        if self.dropped_lines:
            kept.append(f"[harness: {self.dropped_lines} lines ({self.dropped_bytes} bytes) of the cell's output "
                        f"were left out here; the first {self.head_budget >> 20} MiB and the last "
                        f"{self.tail_budget >> 20} MiB are kept, and every line of the driver and the probe]\n")
        kept += self.middle + list(self.tail)
        return "".join(kept)
