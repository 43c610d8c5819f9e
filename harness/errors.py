"""The harness's own exceptions. Only the CLI turns them into an `ERROR …` line and an exit code.

Each class carries its exit code (as cibuildwheel's errors do): 2 bad input (a matrix, arguments, a
results folder or document that cannot be used), 3 the engine, an image build or an index the harness
asked itself failed us. The CLI adds 0, 1 (a cell did not get its expected verdict), and for the
interrupt family below 130 (Ctrl-C) or 143 (SIGTERM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.model import CellResult


class HarnessError(Exception):
    """An error meant for a person: what went wrong, where, and what to do."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def lines(self) -> list[str]:
        """What the CLI prints for it."""
        return [f"ERROR {self}"] + ([f"  hint: {self.hint}"] if self.hint else [])


def one_line(text: str) -> str:
    """`text` with every character that is not printable (a newline, a NUL, an escape sequence, a bidi
    override…) written as its escape, so what a file or a key holds can never break a line of output."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a matrix file, located by file and dotted key; always one printable line (a
    name in the file that holds a newline or a control character is shown escaped)."""

    file: str
    key: str
    message: str

    def __post_init__(self) -> None:
        for name in ("file", "key", "message"):
            object.__setattr__(self, name, one_line(str(getattr(self, name))))

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


class MatrixError(HarnessError):
    """A matrix file that cannot be used; carries one Problem per mistake."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]  # each already says file, key and what is wrong


class ReportError(HarnessError):
    """A results folder or a document the harness cannot use as it stands."""


class ResultsUnwritable(ReportError):
    """The results folder cannot be written (a full disk, no permission): the machine failed us, not the input."""

    exit_code = 3


class EngineUnavailable(HarnessError):
    """No container engine answered."""

    exit_code = 3


class IndexUnreachable(HarnessError):
    """An index the harness itself asked (for the releases it offers) did not answer: an outage or a
    network problem, not bad input."""

    exit_code = 3


# --- the interrupt family: how a stop travels up from a cell to the CLI ---------------------------------
# Each is a KeyboardInterrupt, so nothing in between mistakes a stop for an error of its own.


class Terminated(KeyboardInterrupt):
    """SIGTERM: the run stops as on Ctrl-C (every running cell removed and recorded), exit 143."""


class CellInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while a cell ran, after its container was removed: carries the cell's
    `interrupted` result, so the run can record it before it stops."""

    def __init__(self, result: CellResult) -> None:
        super().__init__(result.cell_id)
        self.result = result


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a run of cells: `done` holds what each finished or stopped cell
    returned, by its index (every one of them is in the results folder too)."""

    def __init__(self, done: dict[int, Any]) -> None:
        super().__init__("interrupted")
        self.done = done


def interrupt_exit_code(exc: BaseException) -> int:
    """143 when SIGTERM is what stopped the work (anywhere in the chain of interrupts that carried the
    stop up: a cell's, then the run's), else 130."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Terminated):
            return 143
        seen = seen.__context__
    return 130
