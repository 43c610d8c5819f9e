"""`plan`: uv's prediction per cell. Unit tests on the target and options, uv's recorded output, and
real uv against fixture indexes served on loopback (no containers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from wheels import make_wheel

from harness import installers
from harness.matrix import reader
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet
from harness.plan import prediction
from harness.plan.target import Target
from harness.run.serve import WheelhouseServer

LOGS = Path(__file__).parent / "data" / "logs"


def cell(image: Image | None = None, index: IndexVariant | None = None, requirements=("edgeops",)) -> Cell:
    return Cell(image=image or Image(name="bookworm", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=index or IndexVariant(name="default"),
                packages=PackageSet(name="p", requirements=tuple(requirements), modules=("edgeops",)))


def test_target_from_recipe_jetpack_or_declaration():
    assert Target.of(cell()) == Target(python=(3, 11), machine="x86_64", glibc=(2, 36))
    assert Target.of(cell()).uv_platform == "x86_64-manylinux_2_36" and Target.of(cell()).abi == "cp311"
    orin = Image(name="orin", arch=Arch.ARM64, ref="l4t", jetpack="6.2")
    assert Target.of(cell(orin)) == Target(python=(3, 10), machine="aarch64", glibc=(2, 35))
    xavier = Image(name="xavier", arch=Arch.ARM64, ref="l4t", jetpack="5.1.2", python_version="3.8")
    assert Target.of(cell(xavier)).uv_platform == "aarch64-manylinux_2_31"
    unknown = Target.of(cell(Image(name="mystery", arch=Arch.AMD64, ref="x")))
    assert (unknown.python_version, unknown.uv_platform) == ("3.10", "x86_64-manylinux_2_28")
    assert [a.split(" (")[0] for a in unknown.assumed] == ["Python 3.10", "glibc 2.28"]


def test_one_target_for_the_plan_and_for_the_driver():
    """What plan resolves for and what a driver on that image reports are the same Target, tags and all."""
    begin = {"python": "3.11.2", "implementation": "cpython", "machine": "x86_64",
             "soabi": "cpython-311-x86_64-linux-gnu", "libc": "glibc 2.36"}
    assert Target.of_begin(begin) == Target.of(cell())
    assert Target.of_begin(begin).tags() == Target.of(cell()).tags()


def test_uv_options_follow_the_index_variant():
    idx = IndexVariant(name="j", index_url="https://a.example/simple", extra_index_urls=("https://b.example/simple",),
                       find_links=("/w",), pip_args=("--prefer-binary", "--retries", "0", "--pre", "--weird"))
    args, notes = installers.resolution_args(idx)
    assert args == ["--index-url", "https://a.example/simple", "--extra-index-url", "https://b.example/simple",
                    "--find-links", "/w", "--index-strategy", "unsafe-best-match", "--prerelease=allow"]
    assert notes == ["pip option --weird has no uv equivalent here: left out"]
    # uv's own first-index strategy when the cell installs with uv
    assert "--index-strategy" not in installers.resolution_args(idx, installer="uv")[0]
    served = IndexVariant(name="lan", serve=("/house",), no_index=True)
    assert installers.resolution_args(served)[0][:3] == ["--find-links", "/house", "--no-index"]


UV_CASES = pytest.mark.parametrize(("name", "allows_source", "outcome", "evidence"), [
    ("uv-nodist-platform", True, "no-distribution", "has no wheels with a matching platform tag"),
    ("uv-missing", True, "no-distribution", "nosuch was not found in the package registry"),
    ("uv-torch-py38", True, "no-distribution", "matching Python implementation tag (e.g., `cp38`)"),
    ("uv-conflict", True, "conflict", "all versions of alpha depend on beta<2"),
    ("uv-sdist-only", True, "source-build", "needsnvcc==1.0 has no usable wheels"),
    ("uv-sdist-only", False, "no-distribution", "needsnvcc==1.0 has no usable wheels"),
    ("uv-refused", True, "index-unreachable", "Connection refused"),
    ("uv-unreachable-tls", True, "index-unreachable", "invalid peer certificate"),
])


@UV_CASES
def test_recorded_uv_output(name, allows_source, outcome, evidence):
    """uv's words as tools/record_installer_output.py recorded them (uv run as `plan` runs it)."""
    got, versions, lines = installers.read_uv(1, "", (LOGS / f"{name}.txt").read_text(), allows_source=allows_source)
    assert (got, versions) == (outcome, {})
    assert any(evidence in line for line in lines), lines


@UV_CASES
def test_uv_output_live(tmp_path, name, allows_source, outcome, evidence):
    """The same cases with the uv installed here, now (offline, about a second each): the recording
    still says what uv says."""
    from installer_output import CASES

    got, versions, lines = installers.read_uv(1, "", CASES[name](tmp_path), allows_source=allows_source)
    assert (got, versions) == (outcome, {})
    assert any(evidence in line for line in lines), lines


def test_a_resolution_lists_every_version():
    got = installers.read_uv(0, "torch==2.13.0\ntorchao==0.15.0\nTyping_Extensions==4.16.0\n", "", allows_source=True)
    assert got == ("installs", {"torch": "2.13.0", "torchao": "0.15.0", "typing-extensions": "4.16.0"}, ())


def test_real_uv_predicts_against_fixture_indexes(tmp_path):
    arm, pure = tmp_path / "arm", tmp_path / "pure"
    make_wheel(arm, "edgeops", "1.0", {"edgeops/__init__.py": ""}, tag="py3-none-manylinux2014_aarch64")
    make_wheel(pure, "edgeops", "1.0", {"edgeops/__init__.py": ""})
    with WheelhouseServer(arm) as arm_index, WheelhouseServer(pure) as pure_index:
        (tmp_path / "m.toml").write_text(
            '[images.amd]\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n'
            '[images.arm]\nref = "l4t"\nplatform = "linux/arm64"\njetpack = "6.2"\n'
            f'[indexes.arm-only]\nindex_url = "{arm_index.url}"\n[indexes.pure]\nindex_url = "{pure_index.url}"\n'
            '[packages.p]\nrequirements = ["edgeops"]\nmodules = ["edgeops"]\n')
        m = reader.load(tmp_path / "m.toml")
        got = {c.id: prediction.predict(c, environ={}) for c in m.cells}
    amd = got["amd__arm-only__p"]
    assert amd.outcome == "no-distribution"
    assert any("no wheels with a matching platform tag" in e for e in amd.evidence), amd.evidence
    assert got["arm__arm-only__p"].outcome == "installs" and got["arm__arm-only__p"].versions == {"edgeops": "1.0"}
    assert got["amd__pure__p"].versions == got["arm__pure__p"].versions == {"edgeops": "1.0"}
    assert all(p.seconds < 60 for p in got.values())
    assert got["amd__pure__p"].to_json()["platform"] == "x86_64-manylinux_2_36"


def test_nothing_in_the_given_folders_is_no_distribution_not_a_conflict(tmp_path):
    """uv says "not found in the provided package locations … unsatisfiable" for a find-links folder
    without the project: that is a missing distribution, though uv words it as a failed resolution."""
    empty = tmp_path / "house"
    empty.mkdir()
    got = prediction.predict(cell(index=IndexVariant(name="air", find_links=(str(empty),), no_index=True)), environ={})
    assert got.outcome == "no-distribution"
    assert any("not found in the provided package locations" in e for e in got.evidence), got.evidence


def test_predictions_sharing_a_snapshot_ask_the_index_once_and_predict_the_same(tmp_path, monkeypatch):
    """A run's predictions share one uv cache: a prediction whose pages an earlier one asked resolves from
    it alone (`--offline`, one uv call); one that needs a page not asked yet, or that fails, asks the index
    as without a snapshot. Every prediction is the one made without it."""
    import subprocess as sp

    pure, empty = tmp_path / "pure", tmp_path / "empty"
    make_wheel(pure, "edgeops", "1.0", {"edgeops/__init__.py": ""})
    make_wheel(pure, "edgeextra", "2.0", {"edgeextra/__init__.py": ""})
    empty.mkdir()
    calls: list[list[str]] = []
    real_run = sp.run

    def recording(argv, **kw):
        calls.append(list(argv))
        return real_run(argv, **kw)

    with WheelhouseServer(pure) as index, WheelhouseServer(empty) as nothing:
        (tmp_path / "m.toml").write_text(
            '[images.amd]\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n'
            f'[indexes.pure]\nindex_url = "{index.url}"\n[indexes.none]\nindex_url = "{nothing.url}"\n'
            '[packages.p]\nrequirements = ["edgeops"]\nmodules = ["edgeops"]\n'
            '[packages.q]\nrequirements = ["edgeops", "edgeextra"]\nmodules = ["edgeops"]\n')
        m = reader.load(tmp_path / "m.toml")
        cells = {c.id: c for c in m.cells}
        alone = {i: prediction.predict(c, environ={}).to_json() for i, c in cells.items()}
        snapshot = tmp_path / "snapshot"
        shared = {}
        for i in ("amd__pure__p", "amd__pure__q", "amd__none__p"):
            calls.clear()
            shared[i] = (prediction.predict(cells[i], environ={}, run=recording, snapshot=str(snapshot)).to_json(),
                         [("--offline" in argv, argv[argv.index("--cache-dir") + 1]) for argv in calls])
        calls.clear()
        again = prediction.predict(cells["amd__pure__q"], environ={}, run=recording, snapshot=str(snapshot))
    for i, (got, _) in shared.items():
        assert {**got, "seconds": 0} == {**alone[i], "seconds": 0}
    assert alone["amd__none__p"]["outcome"] == "no-distribution"
    # nothing in the snapshot yet: offline fails, the index is asked, into the snapshot
    assert shared["amd__pure__p"][1] == [(True, str(snapshot)), (False, str(snapshot))]
    # edgeextra's page was not asked yet: the same
    assert shared["amd__pure__q"][1] == [(True, str(snapshot)), (False, str(snapshot))]
    # a real failure is the index's answer, not the snapshot's
    assert shared["amd__none__p"][1] == [(True, str(snapshot)), (False, str(snapshot))]
    # every page asked before: one call, offline
    assert [("--offline" in argv) for argv in calls] == [True]
    assert again.versions == {"edgeops": "1.0", "edgeextra": "2.0"}


def test_without_a_snapshot_each_prediction_asks_the_index_into_a_cache_of_its_own(tmp_path):
    seen: list[list[str]] = []

    def fake(argv, **kw):
        seen.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "edgeops==1.0\n", "")

    got = prediction.predict(cell(), environ={}, run=fake)
    [argv] = seen
    assert "--offline" not in argv and got.versions == {"edgeops": "1.0"}
    assert Path(argv[argv.index("--cache-dir") + 1]).name == "cache"  # inside the prediction's own temp folder
