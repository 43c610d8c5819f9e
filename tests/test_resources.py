"""The files the package ships, found from any folder: with no matrix named, a folder's own
matrices/<default> wins, else the shipped one; a shipped matrix puts its wheelhouses under the folder
the command runs in, never into the package, and still finds its Dockerfiles in the package."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness import resources
from harness.backends import hostfacts
from harness.cli.args import default_matrix
from harness.matrix import reader
from harness.model import Arch, HostKind

PLAIN = hostfacts.HostFacts(arch=Arch.AMD64, machine="x86_64", kind=HostKind.PLAIN)


def test_an_empty_folder_gets_the_shipped_default_and_is_told_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    said = []
    path = default_matrix(PLAIN, log=said.append)
    assert path == resources.MATRICES / "smoke.toml" and path.is_file()
    assert said == [f"No matrix named: using {path} ({hostfacts.default_matrix(PLAIN)[1]}; shipped with the harness)."]


def test_a_folder_with_its_own_default_matrix_keeps_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "matrices").mkdir()
    shutil.copy(resources.MATRICES / "smoke.toml", tmp_path / "matrices" / "smoke.toml")
    said = []
    assert default_matrix(PLAIN, log=said.append) == Path("matrices/smoke.toml")
    assert "this folder's" in said[0]


def test_a_shipped_matrix_keeps_its_wheelhouse_out_of_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = reader.load(resources.MATRICES / "smoke.toml")
    house = next(i for i in m.indexes if i.name == "wheelhouse")
    assert house.find_links == (str(tmp_path / ".wheelhouse" / "smoke"),)
    runtime = next(i for i in m.images if i.name == "bookworm-amd64-runtime")
    assert Path(runtime.dockerfile).read_bytes() == (resources.DOCKERFILES / "bookworm-runtime.Dockerfile").read_bytes()
    built = [i for i in m.images if i.build_folders]  # the validation plan's recipes: the same wheelhouse
    assert built and all(dict(i.build_folders)["wheelhouse"] == house.find_links[0] for i in built)


def test_this_repositorys_matrices_read_as_they_always_did():
    root = Path(__file__).resolve().parents[1]
    m = reader.load(root / "matrices" / "smoke.toml")
    house = next(i for i in m.indexes if i.name == "wheelhouse")
    assert house.find_links == (str((root / ".wheelhouse" / "smoke").resolve()),)
    assert not resources.is_shipped(root / "matrices" / "smoke.toml")
