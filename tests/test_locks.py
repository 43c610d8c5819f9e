"""Keeping what works, without Docker: the index ledger asked of a real served index and folder, drift
between two ledgers, PEP 751 locks written and read back, a requirements file and a lock as package
sets, the driver's build-parallelism rule, a hash mismatch as pip and uv really print it, and a lock's
wheelhouse filled from pip's shared cache after a real host-backend run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from wheels import AMD64_IMAGE, FAKE_TORCH, fake_torchao, fixture_chain, make_wheel

from harness import pylock
from harness.answers import lock as locking
from harness.backends.host import HostBackend
from harness.errors import MatrixError
from harness.incell import driver
from harness.installers import uv_binary
from harness.matrix import reader
from harness.model import Arch, Verdict
from harness.plan import ledger
from harness.reports import diff, drift
from harness.results import store
from harness.run import runner
from harness.run.job import make_job
from harness.run.options import RunOptions
from harness.run.serve import WheelhouseServer
from harness.verdicts import classify


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the ledger and drift, asked of a real served index ---------------------------------------------------


def chain_house(house: Path) -> Path:
    make_wheel(house, "torch", "2.13.0", FAKE_TORCH)
    for version in ("0.17.0", "0.18.0"):
        make_wheel(house, "torchao", version, fake_torchao(version), requires=("torch",))
    return house


def asked(house: Path, installed: dict[str, set[str]]) -> dict:
    """One run's ledger of the served wheelhouse, as a run keeps it."""
    with WheelhouseServer(house) as server:
        source = ledger.Source(label="wheels (served)", kind="served", url=server.url)
        projects = ledger.ask(source, installed, environ={})
    return {"source": source.label, "asked_at": ledger.now(), "projects": projects}


def test_the_ledger_records_versions_and_the_installed_files_hashes_from_the_served_page(tmp_path):
    house = chain_house(tmp_path / "wheels")
    found = asked(house, {"torch": {"2.13.0"}, "torchao": {"0.18.0"}})["projects"]
    assert found["torchao"]["versions"] == ["0.17.0", "0.18.0"]
    [ao] = found["torchao"]["files"]["0.18.0"]  # files of the installed version only
    assert ao["name"] == "torchao-0.18.0-py3-none-any.whl" and ao["hash_from"] == "page"
    assert ao["sha256"] == sha(house / ao["name"]) and ao["yanked"] is False
    assert "0.17.0" not in found["torchao"]["files"]


def test_a_folders_files_are_hashed_from_the_file(tmp_path):
    house = chain_house(tmp_path / "wheels")
    source = ledger.Source(label="wheels (folder)", kind="folder", folder=str(house))
    [torch] = ledger.ask(source, {"torch": {"2.13.0"}})["torch"]["files"]["2.13.0"]
    assert torch["hash_from"] == "file" and torch["sha256"] == sha(house / torch["name"])


def test_an_index_that_does_not_answer_is_an_entry_with_its_error_not_a_failure():
    source = ledger.Source(label="gone", kind="index", url="http://127.0.0.1:9/simple")
    found = ledger.ask(source, {"torch": {"2.13.0"}}, environ={}, sleep=lambda _: None)
    assert found["torch"]["error"].startswith("GET http://127.0.0.1:9/simple/torch/ failed")
    assert drift.compare([{"source": "gone", "projects": found}], [{"source": "gone", "projects": found}]) == []


def test_a_ledger_entry_is_bounded_keeping_the_newest_versions(tmp_path):
    from harness.plan.releases import Listed

    listed = [Listed(name=f"torch-{i}.0-py3-none-any.whl") for i in range(ledger.MAX_VERSIONS + 100)]
    found = ledger.entry("torch", listed, ["1.0"])
    assert len(found["versions"]) == ledger.MAX_VERSIONS and found["listed"] == ledger.MAX_VERSIONS + 100
    assert found["versions"][-1] == f"{ledger.MAX_VERSIONS + 99}.0" and found["versions"][0] == "100.0"
    assert list(found["files"]) == ["1.0"]  # files of the installed version, though it is past the versions kept
    # versions cut from the newer ledger (the oldest 100) have not vanished; the 100 above the old newest are new
    old = {"source": "s", "asked_at": "1", "projects": {"torch": ledger.entry("torch", listed[:-100], [])}}
    new = {"source": "s", "asked_at": "2", "projects": {"torch": found}}
    assert [d.kind for d in drift.compare([old], [new])] == ["new-release"] * 100


def test_a_ledger_entry_reads_a_real_listing_as_reading_every_file_would():
    """entry() reads one file per spelling of name and version: on torch's real page (987 files) it
    must find exactly what reading every file finds, and a file that does not read (here a spelling
    shared with files that do) is neither a version nor an installed file."""
    import gzip

    from packaging.version import Version

    from harness.plan import releases
    from harness.plan.offers import name_and_version

    page = gzip.decompress((Path(__file__).parent / "data" / "index" / "torch.simple.json.gz").read_bytes())
    listed = releases.parse_page(page.decode(), "application/vnd.pypi.simple.v1+json")
    broken = [releases.Listed(name="torch-2.5.1-cp311-cp311-too-many-dashes-here.whl"),  # 6 dashes: not a wheel
              releases.Listed(name="torch-9.9.bad-py3-none-any.whl"),  # a version that does not read …
              releases.Listed(name="torch-9.9.bad-1-py3-none-any.whl"),  # … in any file spelled so
              releases.Listed(name="torch-3.0.0-x-py3-none-any.whl"),  # a build tag must start with a digit …
              releases.Listed(name="torch-3.0.0-py3-none-any.whl")]  # … while its spelling's other file reads
    listed = [*broken[:2], *listed, *broken[2:]]
    read = [(item, name_and_version(item.name)) for item in listed]
    mine = [(item, r[1]) for item, r in read if r is not None and r[0] == "torch"]
    for installed in (["2.5.1"], ["3.0.0", "1.0.0"]):
        found = ledger.entry("torch", listed, installed)
        assert found["versions"] == [str(v) for v in sorted({v for _, v in mine})][-ledger.MAX_VERSIONS:]
        assert "3.0.0" in found["versions"] and "9.9.bad" not in found["versions"]
        assert {version: [f["name"] for f in files] for version, files in found["files"].items()} == {
            str(v): [item.name for item, w in mine if w == v][:ledger.MAX_FILES]
            for v in sorted({Version(i) for i in installed})}
    assert "torch-2.5.1-cp311-cp311-too-many-dashes-here.whl" not in str(ledger.entry("torch", listed, ["2.5.1"]))
    assert ledger.entry("torch", listed, ["3.0.0"])["files"]["3.0.0"][0]["name"] == "torch-3.0.0-py3-none-any.whl"


def test_drift_names_a_replaced_file_a_vanished_version_and_an_untested_release(tmp_path):
    house = chain_house(tmp_path / "wheels")
    before = asked(house, {"torch": {"2.13.0"}, "torchao": {"0.18.0"}})
    torch = next(house.glob("torch-*.whl"))
    (house / "torchao-0.17.0-py3-none-any.whl").unlink()
    make_wheel(house, "torch", "2.13.0", {**FAKE_TORCH, "torch/extra.py": "SWAPPED = True\n"})
    make_wheel(house, "torchao", "0.19.0", fake_torchao("0.19.0"), requires=("torch",))
    after = asked(house, {"torch": {"2.13.0"}, "torchao": {"0.18.0"}})
    found = drift.compare([before], [after])
    assert [d.kind for d in found] == ["replaced", "vanished", "new-release"]
    assert found[0].text() == (f"{torch.name} (torch 2.13.0) was replaced on wheels (served): sha256 "
                               f"{found[0].old} before, {sha(torch)} now")
    assert found[1].text() == "torchao 0.17.0 is no longer offered by wheels (served)"
    assert found[2].text() == "torchao 0.19.0 is newly offered by wheels (served) (not yet tested)"
    # a release the newer results installed is tested, not news
    assert [d.kind for d in drift.compare([before], [after], {("torchao", "0.19.0")})] == ["replaced", "vanished"]
    # the gate: a regression-free diff passes unless --fail-on names the drift
    gate = diff.compare([], [], ledgers=([before], [after]))
    assert gate.gate() and not gate.gate(["replaced"]) and not gate.gate(["drift"])
    calm = diff.compare([], [], ledgers=([after], [after]))
    assert calm.gate(["drift", "replaced"]) and calm.drift_compared
    assert "**" + found[0].text() + "**" in diff.render_markdown(gate, "old", "new")


# --- PEP 751 locks ------------------------------------------------------------------------------------


def a_lock(house: Path, **tool) -> pylock.Lock:
    files = sorted(fixture_chain(house).glob("*.whl"))
    return pylock.Lock(packages=tuple(
        pylock.LockedPackage(name=f.name.split("-")[0], version=f.name.split("-")[1],
                             file=pylock.LockedFile(name=f.name, sha256=sha(f), path=f"wheels/{f.name}",
                                                    size=f.stat().st_size)) for f in files),
        tool={"cell": "img__idx__chain", "verdict": "pass", "modules": ["torch", "torchao"], **tool})


def test_a_lock_reads_back_as_written_and_as_pep_751_lays_it_out(tmp_path):
    written = a_lock(tmp_path / "wheels")
    path = tmp_path / "pylock.chain.toml"
    path.write_text(pylock.pylock_text(written))
    assert pylock.read(path) == written
    data = pylock.tomllib.loads(path.read_text())
    assert data["lock-version"] == "1.0" and data["created-by"] == "edge-wheel-harness"
    torch = next(p for p in data["packages"] if p["name"] == "torch")
    assert torch["wheels"][0]["hashes"]["sha256"] == sha(tmp_path / "wheels" / torch["wheels"][0]["name"])


def test_a_lock_with_a_file_without_a_hash_is_refused_by_name(tmp_path):
    path = tmp_path / "pylock.x.toml"
    path.write_text('lock-version = "1.0"\n[[packages]]\nname = "torch"\nversion = "2.13.0"\n'
                    '[[packages.wheels]]\nname = "torch-2.13.0-py3-none-any.whl"\nhashes = {md5 = "ab"}\n')
    with pytest.raises(pylock.LockError, match=r"packages\[0\] \(torch\): no sha256 hash"):
        pylock.read(path)


def test_the_requirements_text_is_what_pip_install_require_hashes_takes(tmp_path):
    written = a_lock(tmp_path / "wheels")
    (tmp_path / "requirements.txt").write_text(pylock.requirements_text(written, ["locked"]))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--require-hashes", "--no-deps", "--no-index",
                           "--find-links", str(tmp_path / "wheels"), "-r", str(tmp_path / "requirements.txt")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_lock_of_a_recorded_cell_pins_the_files_and_hashes_its_run_installed(tmp_path):
    """From a real run's stored results (tools/record_report.py): pip's report names each file and hash,
    and they are the ones the run's ledger of the served index recorded from its page."""
    data = Path(__file__).parent / "data" / "report"
    folder, record = locking.find_record(data, "bookworm-amd64__lan__chain")
    ledgers = store.read_ledgers(folder, [record])
    assert [ledger_["source"] for ledger_ in ledgers] == [ref["source"] for ref in record["ledger"]["sources"]]
    paged = {f["name"]: f["sha256"] for ledger_ in ledgers for entry in ledger_["projects"].values()
             for files in entry["files"].values() for f in files if f["hash_from"] == "page"}
    found, origins = locking.locked(record, ledgers)
    assert {p.file.name: p.file.sha256 for p in found.packages} == {
        i["file"]: paged[i["file"]] for i in record["install"]["items"]}
    assert found.tool["cell"] == "bookworm-amd64__lan__chain" and found.tool["verdict"] == "pass"
    # the files came from this machine's loopback: a lock names them only in a wheelhouse
    with pytest.raises(locking.LockFailed, match="this machine's loopback"):
        locking.placed(found, origins, tmp_path, None)


# --- a hash mismatch, as pip and uv really say it ------------------------------------------------------


@pytest.fixture(scope="module")
def tampered(tmp_path_factory):
    """(pip's output, uv's output) installing a wheel whose locked hash is not its own."""
    here = tmp_path_factory.mktemp("tampered")
    wheel = make_wheel(here / "wheels", "torch", "2.13.0", FAKE_TORCH)
    (here / "req.txt").write_text(f"torch==2.13.0 --hash=sha256:{'a' * 64}\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))},
           "PIP_CONFIG_FILE": os.devnull}
    subprocess.run([sys.executable, "-m", "venv", str(here / "venv")], check=True)
    args = ["--no-index", "--find-links", str(here / "wheels"), "--require-hashes", "--no-deps", "-r",
            str(here / "req.txt")]
    pip = subprocess.run([str(here / "venv" / "bin" / "pip"), "install", *args], capture_output=True, text=True,
                         env=env)
    uv = subprocess.run([uv_binary(), "pip", "install", "--python", str(here / "venv" / "bin" / "python"), *args],
                        capture_output=True, text=True, env=env)
    assert pip.returncode != 0 and uv.returncode != 0
    return pip.stdout + pip.stderr, uv.stdout + uv.stderr, wheel


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_hash_mismatch_is_its_own_finding_naming_both_hashes(tampered, installer):
    output = tampered[0] if installer == "pip" else tampered[1]
    found = classify.install_failure(output, (), ())
    assert found.verdict is Verdict.HASH_MISMATCH
    assert found.evidence[0].startswith("torch==2.13.0")
    assert f"expected sha256 {'a' * 64}, the file has {sha(tampered[2])}" in found.evidence[0]


# --- package sets: a user's requirements file, a lock --------------------------------------------------

MATRIX = f"[matrix]\ninstallers = [\"pip\", \"uv\"]\n{AMD64_IMAGE}\n"


def user_file(here: Path) -> str:
    (here / "wheels").mkdir()
    (here / "constraints.txt").write_text("numpy<2\n")
    (here / "more.txt").write_text('torchtune==0.6.1 ; python_version >= "3.9"\n')
    (here / "requirements.txt").write_text(
        "-c constraints.txt\n--extra-index-url https://extra.example/simple\n--find-links wheels\n"
        f"torch==2.13.0 \\\n    --hash=sha256:{'b' * 64}\n"
        'torchao>=0.15 ; platform_machine == "aarch64"  # only there\n-r more.txt\n')
    return "https://extra.example/simple"


def test_a_requirements_file_becomes_cells_with_its_indexes_constraints_hashes_and_markers(tmp_path):
    extra = user_file(tmp_path)
    (tmp_path / "m.toml").write_text(MATRIX + '[indexes.pypi]\n\n[packages.user]\nrequirements_file = '
                                     '"requirements.txt"\nmodules = ["torch"]\n')
    m = reader.load(tmp_path / "m.toml")
    assert [c.id for c in m.cells] == ["bookworm-amd64__pypi__user", "bookworm-amd64__pypi__user__uv"]
    for cell in m.cells:
        assert cell.index.name == "pypi" and cell.index.extra_index_urls == (extra,)
        assert cell.index.find_links == (str((tmp_path / "wheels").resolve()),) and cell.index.index_url is None
        # the marker is kept for the cell's pip, though this machine is no aarch64
        assert cell.packages.requirements == ("torch==2.13.0", 'torchao>=0.15; platform_machine == "aarch64"',
                                              'torchtune==0.6.1; python_version >= "3.9"')
        assert cell.packages.constraints == ("numpy<2",)
        assert cell.packages.hashes_of("torch") == (f"sha256:{'b' * 64}",)
    job = make_job(m.cells[0], HostBackend(), RunOptions(run_id="t"))
    spec = json.loads(job.files["spec.json"])
    assert spec["requirements_file"][0] == f"torch==2.13.0 --hash=sha256:{'b' * 64}"
    assert spec["constraints"] == ["numpy<2"] and "--extra-index-url" in spec["pip_args"]


def test_a_requirements_file_whose_indexes_conflict_with_the_matrixs_variant_is_a_located_error(tmp_path):
    extra = user_file(tmp_path)
    (tmp_path / "m.toml").write_text(MATRIX + '[indexes.jetson]\nindex_url = "https://jetson.example/simple"\n'
                                     '[packages.user]\nrequirements_file = "requirements.txt"\nmodules = ["t"]\n')
    with pytest.raises(MatrixError) as caught:
        reader.load(tmp_path / "m.toml")
    [problem] = caught.value.problems
    assert problem.key == "packages.user"
    assert f"--extra-index-url {extra}" in problem.message
    assert "index variant 'jetson' chooses others (--index-url https://jetson.example/simple)" in problem.message


def test_a_requirements_file_line_pip_cannot_read_is_named_by_file_and_line(tmp_path):
    (tmp_path / "requirements.txt").write_text("torch==2.13.0\n-e ./src\ntorch=2.0\n")
    (tmp_path / "m.toml").write_text(MATRIX + '[indexes.pypi]\n\n[packages.user]\nrequirements_file = '
                                     '"requirements.txt"\nmodules = ["torch"]\n')
    with pytest.raises(MatrixError) as caught:
        reader.load(tmp_path / "m.toml")
    messages = [p.message for p in caught.value.problems]
    assert messages[0].startswith(f"{tmp_path / 'requirements.txt'}:2: an editable requirement (-e)")
    assert messages[1].startswith(f"{tmp_path / 'requirements.txt'}:3: 'torch=2.0' is not a requirement")


def test_a_lock_package_set_replays_its_files_from_the_wheelhouse_with_no_network(tmp_path):
    written = a_lock(tmp_path / "locks" / "wheels", verdict="degraded")
    (tmp_path / "locks" / "pylock.chain.toml").write_text(pylock.pylock_text(written))
    (tmp_path / "m.toml").write_text(MATRIX + '[indexes.served]\nindex_url = "https://any.example/simple"\n'
                                     '[packages.replay]\nlock = "locks/pylock.chain.toml"\n')
    cell = reader.load(tmp_path / "m.toml").cells[0]
    assert cell.index.name == "served" and cell.index.no_index and cell.index.index_url is None
    assert cell.index.find_links == (str((tmp_path / "locks" / "wheels").resolve()),)
    assert cell.expect == "degraded"  # the locked cell's verdict is the one a replay must get
    assert cell.packages.modules == ("torch", "torchao")
    job = make_job(cell, HostBackend(), RunOptions(run_id="t"))
    spec = json.loads(job.files["spec.json"])
    assert job.no_network and spec["cache"] is None
    assert {"--require-hashes", "--no-deps", "--no-index"} <= set(spec["pip_args"])
    assert sorted(spec["requirements_file"]) == sorted(f"{p.key}=={p.version} --hash=sha256:{p.file.sha256}"
                                                       for p in written.packages)


def test_a_lock_whose_wheelhouse_is_missing_says_how_to_fill_one(tmp_path):
    written = a_lock(tmp_path / "elsewhere")
    (tmp_path / "pylock.chain.toml").write_text(pylock.pylock_text(written))
    (tmp_path / "m.toml").write_text(MATRIX + '[indexes.x]\n\n[packages.replay]\nlock = "pylock.chain.toml"\n')
    with pytest.raises(MatrixError, match=r"packages.replay.wheelhouse: .* is not a directory: fill it with "
                                          r"`wheel-harness lock CELL --wheelhouse DIR`"):
        reader.load(tmp_path / "m.toml")


# --- source builds within the cell's memory ----------------------------------------------------------


@pytest.mark.parametrize(("gib", "cpus", "jobs"), [(8, 12, 3), (8, 2, 2), (1, 8, 1), (64, 16, 16), (None, 6, 6)])
def test_the_build_jobs_rule(gib, cpus, jobs):
    # (memory - 1 GiB) // 2 GiB per job, at least 1, at most the CPUs; no limit known: one per CPU
    assert driver.build_jobs(gib << 30 if gib else None, cpus) == jobs


def test_the_driver_sets_and_says_the_builds_parallelism_and_the_matrix_can_fix_it():
    env: dict[str, str] = {}
    said = io.StringIO()
    with redirect_stdout(said):
        driver.build_parallelism({"memory": 8 << 30}, env)
        driver.build_parallelism({"memory": 8 << 30, "build_jobs": 5}, env)
    first, second = (json.loads(line[len(driver.MARKER):]) for line in said.getvalue().splitlines())
    expected = driver.build_jobs(8 << 30, driver.usable_cpus())
    assert first["jobs"] == expected and first["memory_from"] == "the cell's limit"
    assert second["jobs"] == 5 and second["rule"] == "build_jobs = 5, as the matrix sets it"
    assert env == {"MAX_JOBS": "5", "CMAKE_BUILD_PARALLEL_LEVEL": "5", "MAKEFLAGS": "-j5"}


def test_build_jobs_in_the_matrix_is_checked_and_reaches_the_cell(tmp_path):
    house = fixture_chain(tmp_path / "w")
    (tmp_path / "m.toml").write_text(f"[matrix]\nbuild_jobs = 4\n{AMD64_IMAGE}\n[indexes.w]\nfind_links = "
                                     f'["{house}"]\nno_index = true\n[packages.p]\nrequirements = ["torch"]\n'
                                     'modules = ["torch"]\n')
    assert reader.load(tmp_path / "m.toml").cells[0].build_jobs == 4
    (tmp_path / "m.toml").write_text((tmp_path / "m.toml").read_text().replace("build_jobs = 4", "build_jobs = 0"))
    with pytest.raises(MatrixError, match="matrix.build_jobs: 0 is not a number of parallel build jobs"):
        reader.load(tmp_path / "m.toml")


# --- a lock from a real host-backend run, its files from pip's shared cache ------------------------------


@pytest.mark.skipif(Arch.native() is not Arch.AMD64 and Arch.native() is not Arch.ARM64, reason="no native image")
def test_a_lock_of_a_host_cell_takes_its_files_from_pips_shared_cache_when_the_index_is_gone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chain_house(tmp_path / "wheels")
    native = Arch.native()
    (tmp_path / "m.toml").write_text(f'[images.native]\nlocal_build = "debian-bookworm"\nplatform = '
                                     f'"{native.platform}"\n[indexes.served]\nserve = ["wheels"]\nno_index = true\n'
                                     # pip caches plain HTTP only from a trusted host (an https index: always)
                                     'pip_args = ["--trusted-host", "127.0.0.1"]\n'
                                     '[packages.chain]\nrequirements = ["torch==2.13.0", "torchao"]\n'
                                     'modules = ["torch", "torchao"]\nchecks = []\n')  # a fixture torch: no tensors
    m = reader.load(tmp_path / "m.toml")
    backend = HostBackend(cache_root=tmp_path / "caches")
    [result] = runner.run_cells(m, list(m.cells), backend, RunOptions(run_id="20270101T000000Z-abcdef", plan=False),
                                results_dir=tmp_path / "results" / m.name, log=lambda _: None)
    assert result.verdict is Verdict.PASS, result.evidence
    originals = {p.name: sha(p) for p in (tmp_path / "wheels").iterdir()}
    shutil.rmtree(tmp_path / "wheels")  # the index is gone: only pip's cache holds the files
    folder, record = locking.find_record(tmp_path / "results", "native__served__chain")
    found, origins = locking.locked(record, [])
    assert {p.file.name: p.file.sha256 for p in found.packages} == {
        n: h for n, h in originals.items() if n != "torchao-0.17.0-py3-none-any.whl"}
    cache = tmp_path / "caches" / result.caches["shared"] / "pip"
    lines = locking.fill_wheelhouse(found, origins, tmp_path / "kept", pip_cache=cache)
    assert all(" from pip's cache " in line for line in lines), lines
    assert {p.name: sha(p) for p in (tmp_path / "kept").iterdir()} == {
        n: h for n, h in originals.items() if n != "torchao-0.17.0-py3-none-any.whl"}
    # a copy whose hash is not the locked one is never kept
    bad = found.packages[0]
    wrong = pylock.Lock(packages=(pylock.LockedPackage(name=bad.name, version=bad.version, file=pylock.LockedFile(
        name=bad.file.name, sha256="0" * 64)),))
    with pytest.raises(locking.LockFailed, match=f"has sha256 {bad.file.sha256}, not the locked {'0' * 64}"):
        locking.fill_wheelhouse(wrong, origins, tmp_path / "other", pip_cache=cache)
    assert not (tmp_path / "other" / bad.file.name).exists()


def test_lock_takes_the_cell_from_solves_answer(tmp_path, capsys):
    from harness.cli.main import main

    data = Path(__file__).parent / "data" / "report"
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"cell_id": "bookworm-amd64__lan__chain", "run_id": None, "best": ["torch"]}))
    assert main(["lock", "--solve", str(answer), "--results", str(data), "-o", str(tmp_path / "locks")]) != 0
    assert "torch-2.13.0-py3-none-any.whl: came from http://127.0.0.1:" in capsys.readouterr().err
    answer.write_text(json.dumps({"cell_id": None, "best": None}))
    assert main(["lock", "--solve", str(answer), "--results", str(data)]) == 2
    assert "solve found no working set, so there is nothing to lock" in capsys.readouterr().err
