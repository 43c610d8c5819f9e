"""The harness's own exceptions. Only the CLI turns them into an `ERROR …` line and an exit code."""

from __future__ import annotations

from dataclasses import dataclass


class HarnessError(Exception):
    """An error meant for a person: what went wrong, where, and what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a matrix file, located by file and dotted key."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


class MatrixError(HarnessError):
    """A matrix file that cannot be used; carries one Problem per mistake."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))


class EngineUnavailable(HarnessError):
    """No container engine answered."""
