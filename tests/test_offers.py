"""What an index offers, judged for the cell's target: the driver's interpreter facts read as pip's tags."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from packaging import tags

from harness.incell import driver
from harness.plan import offers
from harness.plan.target import Target


def this_interpreter() -> dict:
    """The `begin` event the driver would write for the interpreter running these tests."""
    return {"event": "begin", "python": platform.python_version(), "machine": platform.machine(),
            **driver.interpreter()}


@pytest.mark.skipif(sys.implementation.name != "cpython" or not platform.libc_ver()[0] == "glibc",
                    reason="the driver's facts describe CPython on glibc Linux (what cells run)")
def test_the_drivers_facts_give_exactly_the_tags_pip_accepts_here():
    target = Target.of_begin(this_interpreter())
    assert target is not None
    assert target.tags() == frozenset(tags.sys_tags())


def test_a_begin_event_without_the_facts_gives_no_target():
    assert Target.of_begin({"event": "begin", "python": "3.11.2", "machine": "x86_64"}) is None  # an older driver
    assert Target.of_begin({"python": "3.10.14", "machine": "x86_64", "implementation": "pypy"}) is None


def test_target_from_the_facts_of_a_jetson_cell():
    target = Target.of_begin({"python": "3.10.12", "machine": "aarch64", "implementation": "cpython",
                               "soabi": "cpython-310-aarch64-linux-gnu", "libc": "glibc 2.35"})
    assert str(target) == "cp310, manylinux_2_35_aarch64"
    assert target.platforms[-3:] == ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64")
    fits = [offers.read_file(n) for n in ("torch-2.5.0a0+872d972e41.nv24.08-cp310-cp310-linux_aarch64.whl",
                                          "torch-2.5.0-cp310-cp310-manylinux_2_28_aarch64.whl",
                                          "torch-2.5.0-cp311-cp311-manylinux_2_28_aarch64.whl",
                                          "torch-2.5.0-cp310-cp310-manylinux_2_39_aarch64.whl")]
    assert [bool(f.tags & target.tags()) for f in fits] == [True, True, False, False]


LOGS = Path(__file__).parent / "data" / "logs"


@pytest.mark.parametrize(("output", "project", "requirements", "wanted"), [
    ("ERROR: Could not find a version that satisfies the requirement edgebin==2.0 (from versions: 1.0)", "edgebin",
     (), "edgebin==2.0"),
    ("ERROR: No matching distribution found for edgebin", "edgebin", ("EdgeBin>=1.5",), "EdgeBin>=1.5"),
    ("ERROR: No matching distribution found for edgebin", "edgebin", ("other==1.0",), None),
    ((LOGS / "uv-torch-py38.txt").read_text(), "torch", ("torch",), "torch==2.6.0"),  # uv's words first
    ((LOGS / "uv-nodist-platform.txt").read_text(), "edgeops", (), "edgeops"),
])
def test_what_the_cell_asked_for_comes_from_the_installer_then_the_requirements(output, project, requirements,
                                                                               wanted):
    got = offers.requested(project, output, requirements)
    assert (str(got) if got else None) == wanted
