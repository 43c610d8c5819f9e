"""Jetson's release tables, in one place: L4T → JetPack, and what each JetPack major release pairs with
(the Python and glibc of the Ubuntu it is built on), and Tegra SoC → CUDA compute capability.

A new JetPack release is one edit here. Pure data and lookups; nothing here reads the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# L4T (Jetson Linux) release → JetPack. Exact releases only; a "major.minor" key covers every patch of
# that release series (JetPack 7.0 ships as 38.2.x). Anything not listed is unknown, never guessed.
L4T_TO_JETPACK: Mapping[str, str] = MappingProxyType(
    {
        "32.7.1": "4.6.1",
        "35.4.1": "5.1.2",
        "35.5.0": "5.1.3",
        "35.6.0": "5.1.4",
        "36.3.0": "6.0",
        "36.4.0": "6.1",
        "36.4.3": "6.2",
        "36.4.4": "6.2.1",
        "38.2": "7.0",
        "38.4.0": "7.1",
    }
)

# The Python of the Ubuntu each JetPack major release is built on (NVIDIA's wheels target it).
PYTHON_FOR_JETPACK: Mapping[str, str] = MappingProxyType({"4": "3.6", "5": "3.8", "6": "3.10", "7": "3.12"})

# Tegra SoC id in the device tree → (family name, CUDA compute capability).
TEGRA_SOCS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "tegra210": ("TX1/Nano", "5.3"),
        "tegra186": ("TX2", "6.2"),
        "tegra194": ("Xavier", "7.2"),
        "tegra234": ("Orin", "8.7"),
        "tegra264": ("Thor", "11.0"),
    }
)

# The glibc of the Ubuntu each JetPack major release ships (the manylinux level its wheels need).
GLIBC_FOR_JETPACK: Mapping[str, str] = MappingProxyType({"4": "2.27", "5": "2.31", "6": "2.35", "7": "2.39"})


def jetpack_for(l4t: str | None) -> str | None:
    """The JetPack release an L4T release belongs to, or None when it is not a known one."""
    if not l4t:
        return None
    if l4t in L4T_TO_JETPACK:
        return L4T_TO_JETPACK[l4t]
    series = ".".join(l4t.split(".")[:2])
    return L4T_TO_JETPACK.get(series) if series != l4t else None


def python_for_jetpack(jetpack: str | None) -> str | None:
    if not jetpack:
        return None
    return PYTHON_FOR_JETPACK.get(jetpack.split(".")[0])


def glibc_for_jetpack(jetpack: str | None) -> str | None:
    """The glibc of the Ubuntu a JetPack release is built on ("2.35" for 6.2), or None."""
    if not jetpack:
        return None
    return GLIBC_FOR_JETPACK.get(jetpack.split(".")[0])
