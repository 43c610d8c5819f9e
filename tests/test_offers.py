"""What an index offers, judged for the cell's target: the driver's interpreter facts read as pip's tags."""

from __future__ import annotations

import gzip
import json
import platform
import sys
from pathlib import Path

import pytest
from packaging import tags
from packaging.requirements import Requirement
from packaging.version import Version

from harness.incell import driver
from harness.plan import offers
from harness.plan.target import Target
from harness.verdicts import events


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
INDEX = Path(__file__).parent / "data" / "index"
X86_BOOKWORM = Target(python=(3, 11), machine="x86_64", glibc=(2, 36))  # as plan resolves the smoke image
JETSON = Target(python=(3, 10), machine="aarch64", glibc=(2, 35))  # JetPack 6


@pytest.mark.parametrize(("output", "project", "requirements", "wanted"), [
    ("ERROR: Could not find a version that satisfies the requirement edgebin==2.0 (from versions: 1.0)", "edgebin",
     (), "edgebin==2.0"),
    ("ERROR: No matching distribution found for edgebin", "edgebin", ("EdgeBin>=1.5",), "EdgeBin>=1.5"),
    ("ERROR: No matching distribution found for edgebin", "edgebin", ("other==1.0",), None),
    ((LOGS / "uv-torch-py38.txt").read_text(), "torch", ("torch",), "torch==2.6.0"),  # uv's words first
    ((LOGS / "uv-nodist-platform.txt").read_text(), "edgeops", (), "edgeops"),
    # uv's "we can conclude that you require beta<2." ends a sentence (not a requirement): the next is taken
    ((LOGS / "uv-conflict.txt").read_text(), "beta", (), "beta==2.0"),
])
def test_what_the_cell_asked_for_comes_from_the_installer_then_the_requirements(output, project, requirements,
                                                                               wanted):
    got = offers.requested(project, output, requirements)
    assert (str(got) if got else None) == wanted


def test_a_wheels_or_sdists_name_gives_its_normalised_project_and_version():
    assert offers.name_and_version("Torch_Tensorrt-2.5.0-cp310-cp310-linux_aarch64.whl") == ("torch-tensorrt",
                                                                                          Version("2.5.0"))
    assert offers.name_and_version("requests-0.10.0.tar.gz") == ("requests", Version("0.10.0"))
    assert offers.name_and_version("Edge.Ops-1.0.zip") == ("edge-ops", Version("1.0"))  # old sdists were zips
    assert offers.project_of("Edge.Ops-1.0.zip") == "edge-ops"
    for other in ("README.md", "broken.whl", "torch-2.13.0.exe", "edgeops-notaversion.tar.gz"):
        assert offers.name_and_version(other) is None, other


def test_a_files_spelling_is_the_name_and_version_as_written_and_alike_spellings_read_alike():
    assert offers.spelled("Torch_Tensorrt-2.5.0-cp310-cp310-linux_aarch64.whl") == ("whl", "Torch_Tensorrt", "2.5.0")
    assert offers.spelled("torch-2.0.0-1-py3-none-any.whl") == ("whl", "torch", "2.0.0")  # a build tag
    assert offers.spelled("requests-0.10.0.tar.gz") == ("sdist", "requests", "0.10.0")
    assert offers.spelled("Edge.Ops-1.0.zip") == ("sdist", "Edge.Ops", "1.0")
    assert offers.spelled("python-dateutil-2.8.2.tar.gz") == ("sdist", "python-dateutil", "2.8.2")
    assert offers.spelled("torch-1.0.whl") == ("whl", "torch", "1.0")  # too few parts: spelled, though it reads
    assert offers.name_and_version("torch-1.0.whl") is None  # as nothing
    assert offers.spelled("edge-1.0.tar.gz") != offers.spelled("edge-1.0-py3-none-any.whl")  # an sdist is not a wheel
    for other in ("README.md", "torch-2.13.0.exe", "torch-2.13.0.tar.bz2"):
        assert offers.spelled(other) is None, other
    # On a real index page, files spelled alike read alike: one read stands for all of them
    import gzip
    import json
    from pathlib import Path

    page = json.loads(gzip.decompress((Path(__file__).parent / "data" / "index" / "torch.simple.json.gz").read_bytes()))
    names = [f["filename"] for f in page["files"]]
    read: dict = {}
    for name in names:
        read.setdefault(offers.spelled(name), set()).add(offers.name_and_version(name))
    assert len(read) < len(names) / 2 and all(len(found) == 1 for found in read.values())


def test_an_sdist_has_no_wheel_tags_so_no_target_takes_it_for_a_wheel():
    sdist = offers.read_file("requests-0.10.0.tar.gz")
    assert sdist is not None and not sdist.is_wheel and sdist.version == Version("0.10.0")
    assert not sdist.tags & JETSON.tags()


def recorded_check(log: str) -> dict:
    """The driver's index check in a recorded cell log (the index, the files it listed, how many)."""
    return dict(events.parse((LOGS / log).read_text()).index_checks[0])


def checked_page(name: str, pins: list[str]) -> dict:
    """The check the driver makes of a recorded index page, cut as the driver cuts it (its last files,
    and every file of a version the cell pinned)."""
    raw = (INDEX / name).read_bytes()
    page = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    project = name.split(".")[0]
    files = [f["filename"] for f in page["files"]]
    return driver.kept_files({"index": "recorded", "project": project, "files": files}, pins)


def test_an_sdist_fits_where_the_index_variant_allows_source_builds():
    """edgebin 2.0 is an sdist and wheels for other targets: pip may build the sdist unless only_binary."""
    check = recorded_check("only-binary.wheels-only.log")
    wanted = Requirement("edgebin==2.0")
    built = offers.judge(check, X86_BOOKWORM, wanted, allows_source=True)
    assert built.fitting == ("edgebin-1.0-py3-none-any.whl", "edgebin-2.0.tar.gz") and built.wanted_fits
    assert built.lines(X86_BOOKWORM) == [f"{check['index']} offers edgebin for this target "
                                         "(cp311, manylinux_2_36_x86_64): edgebin-1.0-py3-none-any.whl, "
                                         "edgebin-2.0.tar.gz"]  # what was asked fits: nothing more to say
    refused = offers.judge(check, X86_BOOKWORM, wanted, allows_source=False)
    assert refused.fitting == ("edgebin-1.0-py3-none-any.whl",) and not refused.wanted_fits


def test_with_no_version_asked_the_newest_listed_is_the_one_described():
    check = recorded_check("only-binary.wheels-only.log")
    offer = offers.judge(check, X86_BOOKWORM, None, allows_source=False)
    assert (offer.wanted, offer.version, offer.sdist) == ("edgebin", "2.0", "edgebin-2.0.tar.gz")
    assert offer.lines(X86_BOOKWORM)[1] == (f"{check['index']}: edgebin 2.0 exists only as an sdist "
                                            "(edgebin-2.0.tar.gz) and wheels for other targets "
                                            "(cp311-cp311-macosx_11_0_arm64, cp311-cp311-win_amd64, "
                                            "cp39-cp39-manylinux_2_17_x86_64)")


def test_a_version_no_file_has_is_said_so_and_whether_the_driver_kept_every_file():
    whole = recorded_check("only-binary.wheels-only.log")  # 7 files listed, all kept
    assert whole["listed"] == len(whole["files"])
    offer = offers.judge(whole, X86_BOOKWORM, Requirement("edgebin==3.0"), allows_source=False)
    assert offer.lines(X86_BOOKWORM)[1] == f"{whole['index']}: no file of edgebin==3.0 exists"
    # torch lists 987 files; the driver keeps the last 100 (and those of a version pinned: none of 3.0)
    cut = checked_page("torch.simple.json.gz", ["3.0"])
    assert (cut["listed"], len(cut["files"])) == (987, 100)
    offer = offers.judge(cut, X86_BOOKWORM, Requirement("torch==3.0"), allows_source=False)
    assert offer.lines(X86_BOOKWORM)[1] == "recorded: no file of torch==3.0 exists among the last 100 it lists"


def test_the_newest_fitting_files_are_named_and_the_rest_counted():
    cut = checked_page("torch.simple.json.gz", ["3.0"])
    # every torch 2.x Linux x86_64 wheel needs glibc 2.28, which bookworm's 2.36 meets: this Python's fit
    mine = [n for n in cut["files"] if "-cp311-cp311-manylinux" in n and n.endswith("_x86_64.whl")]
    assert len(mine) == offers.SHOWN  # exactly as many as a line names: none left to count
    offer = offers.judge(cut, X86_BOOKWORM, Requirement("torch==3.0"), allows_source=False)
    assert offer.lines(X86_BOOKWORM)[0] == f"recorded offers torch for this target ({X86_BOOKWORM}): {', '.join(mine)}"
    pinned = checked_page("torch.simple.json.gz", ["2.13.0"])  # 2.13.0's files kept besides the last 100
    offer = offers.judge(pinned, X86_BOOKWORM, Requirement("torch==2.13.0"), allows_source=False)
    assert offer.fitting == ("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", *mine)
    assert offer.lines(X86_BOOKWORM) == [f"recorded offers torch for this target ({X86_BOOKWORM}): "
                                         f"{', '.join(mine)} (and 1 more)"]  # 2.13.0 fits: one line


def test_the_wheels_for_other_targets_are_named_up_to_four_and_the_rest_counted():
    old_glibc = Target(python=(3, 11), machine="x86_64", glibc=(2, 27))  # JetPack 4's Ubuntu 18.04
    pinned = checked_page("torch.simple.json.gz", ["2.13.0"])
    wheels = [n for n in pinned["files"] if n.startswith("torch-2.13.0-")]
    tags = ["-".join(n[:-len(".whl")].split("-")[2:]) for n in wheels]  # torch-2.13.0-<python>-<abi>-<platform>
    offer = offers.judge(pinned, old_glibc, Requirement("torch==2.13.0"), allows_source=False)
    assert offer.fitting == ()  # every torch 2.x Linux wheel needs glibc 2.28
    assert offer.lines(old_glibc) == [f"recorded has nothing of torch for this target ({old_glibc}): torch 2.13.0 "
                                      f"exists only as wheels for other targets ({', '.join(tags[:4])}, and "
                                      f"{len(wheels) - 4} more)"]
    # a mirror of torchao 0.3.1 without its Python 3.12 wheel: four x86_64 wheels, all named
    page = json.loads((INDEX / "torchao.simple.json").read_text())
    four = [f["filename"] for f in page["files"] if f["filename"].startswith("torchao-0.3.1-")
            and "cp312" not in f["filename"]]
    mirror = {"index": "mirror", "project": "torchao", "files": four, "listed": len(four)}
    offer = offers.judge(mirror, JETSON, Requirement("torchao==0.3.1"), allows_source=False)
    assert offer.lines(JETSON) == [
        f"mirror has nothing of torchao for this target ({JETSON}): torchao 0.3.1 exists only as wheels for other "
        "targets (cp310-cp310-manylinux_2_17_x86_64, cp311-cp311-manylinux_2_17_x86_64, "
        "cp38-cp38-manylinux_2_17_x86_64, cp39-cp39-manylinux_2_17_x86_64)"]  # the first platform of each
