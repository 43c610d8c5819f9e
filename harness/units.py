"""Sizes as people read them: one formatter for bytes downloaded or stored (decimal, as pip and the
engine print them) and one for memory limits (binary, as Docker writes a limit)."""

from __future__ import annotations


def format_bytes(number: float) -> str:
    """`512 B`, `2.0 kB`, `1.4 GB`."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{int(number)} B"


def format_memory(number: int) -> str:
    """A memory limit: `512 MiB`, `8 GiB`, `1.5 GiB`."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if number >= size:
            value = number / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{number} bytes"
