"""The probe reads the installed distributions itself (`plain_site`) where the layout is plain, and through
importlib.metadata everywhere else: the same answer either way, checked against the library on this test
environment's own venv (real wheels from many build backends) and on each layout it must leave to the library."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from harness import incell


def load_probe():
    """probe.py as a cell runs it: a file of its own, not the harness package's module."""
    spec = importlib.util.spec_from_file_location("_ewh_probe_under_test", incell.FILES["probe.py"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = load_probe()

SITE = {
    "gooddist-1.2.3.dist-info/METADATA": "Metadata-Version: 2.1\nName: gooddist\nVersion: 1.2.3\n",
    "gooddist-1.2.3.dist-info/top_level.txt": "good\n",
    "good/__init__.py": "",
    "Record_Only-0.1.dist-info/METADATA": (
        "Metadata-Version: 2.1\nName: Record_Only\nVersion: 0.1\n"
        "License: one line\n  and a folded second one\n"  # a folded header the probe does not read
        "Requires-Dist: numpy<2\nRequires-Dist: pytest; extra == \"test\"\n\nThe body: Name: not this\n"),
    "Record_Only-0.1.dist-info/RECORD": ("b.py,,\nc.py,,\nrecpkg/__init__.py,sha256=x,0\nrecpkg/_x.so,,\n"
                                         "Record_Only-0.1.dist-info/METADATA,,\n../../bin/tool,,\n"),
    "b.py": "", "c.py": "", "recpkg/__init__.py": "",
    "lower-2.0.dist-info/METADATA": "metadata-version: 2.1\nname: Lower\nversion: 2.0\n",
    "lower-2.0.dist-info/RECORD": "lower/__init__.py,,\n",
}
TOPS = ["good", "b", "c", "recpkg", "lower", "missing", "bin"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "site"
    for name, text in SITE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(sys, "path", [str(root)])
    return root


def both(tops=TOPS):
    """What the probe reads itself (None: left to the library), and what importlib.metadata answers."""
    return probe.plain_site(tops), probe._metadata_distributions(tops)


def test_this_venv_is_read_as_importlib_metadata_reads_it() -> None:
    """Every distribution of the environment the tests run in, and the owners of every package in it
    (and of a name none provides): the same values, in the same order, as importlib.metadata's."""
    script = textwrap.dedent(f"""
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("p", {str(incell.FILES["probe.py"])!r})
        p = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)
        from importlib import metadata
        tops = sorted(set(metadata.packages_distributions()) | {{"no_such_package"}})
        print(json.dumps([p.plain_site(tops), p._metadata_distributions(tops)]))
    """)
    # -I: no working folder on sys.path (the probe drops its own folder), as in a cell
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True)
    fast, library = json.loads(out.stdout)
    assert fast is not None, "this venv's layout is plain: the probe must read it itself"
    assert len(fast[0]) > 20 and any(fast[1].values())
    assert fast == library
    assert list(fast[0]) == list(library[0])


def test_a_plain_site_is_read_without_the_library(site: Path) -> None:
    fast, library = both()
    assert fast is not None
    assert fast == library
    items, owners = fast
    assert items["record-only"] == {"version": "0.1", "location": str(site), "requires": ["numpy<2"]}
    assert items["lower"]["version"] == "2.0"
    assert owners == {"good": ["gooddist"], "b": ["record-only"], "c": ["record-only"],
                      "recpkg": ["record-only"], "lower": ["lower"], "missing": [], "bin": []}


def test_the_first_of_a_name_on_sys_path_wins_and_every_one_owns(site: Path, tmp_path: Path) -> None:
    later = tmp_path / "later" / "gooddist-9.0.dist-info"
    later.mkdir(parents=True)
    (later / "METADATA").write_text("Metadata-Version: 2.1\nName: GoodDist\nVersion: 9.0\n")
    (later / "top_level.txt").write_text("good\nb\n")
    sys.path.append(str(later.parent))
    fast, library = both()
    assert fast is not None and fast == library
    assert fast[0]["gooddist"]["version"] == "1.2.3" and fast[1]["b"] == ["gooddist", "record-only"]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def dist(site: Path, folder: str, metadata: str, record: str = "x.py,,\n") -> None:
    """A dist-info folder that is plain but for what a case changes (so that alone hands it over)."""
    write(site / folder / "METADATA", metadata)
    write(site / folder / "RECORD", record)


LEFT_TO_THE_LIBRARY = {
    "a folded Requires-Dist": lambda site: dist(
        site, "folded-1.0.dist-info",
        "Metadata-Version: 2.1\nName: folded\nVersion: 1.0\nRequires-Dist: numpy;\n  python_version<'4'\n"),
    "a folded Name": lambda site: dist(
        site, "folded-1.0.dist-info", "Metadata-Version: 2.1\nName:\n folded\nVersion: 1.0\n"),
    "a line that ends the headers without a blank line": lambda site: dist(
        site, "odd-1.0.dist-info", "Metadata-Version: 2.1\nName: odd\nVersion: 1.0\nnot a header\n"),
    "a header without a name": lambda site: dist(site, "odd-1.0.dist-info", "Name: odd\n: nameless\nVersion: 1.0\n"),
    "a unix From line": lambda site: dist(site, "odd-1.0.dist-info", "From someone\nName: odd\nVersion: 1.0\n"),
    "a folded line before any header": lambda site: dist(site, "odd-1.0.dist-info", " lead\nName: odd\nVersion: 1.0\n"),
    "no METADATA": lambda site: write(site / "empty-1.0.dist-info" / "RECORD", "x.py,,\n"),
    "an empty METADATA": lambda site: dist(site, "empty-1.0.dist-info", ""),
    "no Version": lambda site: dist(site, "nov-1.0.dist-info", "Name: nov\n"),
    "an empty Name": lambda site: dist(site, "non-1.0.dist-info", "Name: \nVersion: 1\n"),
    "an egg's requires.txt beside METADATA": lambda site: (
        dist(site, "eggy-1.0.dist-info", "Name: eggy\nVersion: 1.0\n"),
        write(site / "eggy-1.0.dist-info" / "requires.txt", "numpy\n")),
    "an egg-info folder": lambda site: write(site / "old-1.0.egg-info" / "PKG-INFO", "Name: old\nVersion: 1.0\n"),
    "two dist-info folders of one name": lambda site: dist(site, "GOODDIST-2.0.dist-info",
                                                           "Name: gooddist\nVersion: 2.0\n"),
    "no RECORD and no top_level.txt": lambda site: write(site / "bare-1.0.dist-info" / "METADATA",
                                                           "Name: bare\nVersion: 1.0\n"),
    "an empty RECORD": lambda site: dist(site, "bare-1.0.dist-info", "Name: bare\nVersion: 1.0\n", ""),
    "a RECORD line of four fields": lambda site: write(site / "lower-2.0.dist-info" / "RECORD",
                                                       "lower/__init__.py,,,x\n"),
    "a blank RECORD line": lambda site: write(site / "lower-2.0.dist-info" / "RECORD", "lower/__init__.py,,\n\n"),
    "a RECORD path pathlib would rewrite": lambda site: write(site / "lower-2.0.dist-info" / "RECORD",
                                                              "./lower/__init__.py,,\n"),
    "a RECORD path with a doubled slash": lambda site: write(site / "lower-2.0.dist-info" / "RECORD",
                                                             "lower//__init__.py,,\n"),
    "an absolute RECORD path": lambda site: write(site / "lower-2.0.dist-info" / "RECORD", "/lower.py,,\n"),
    "an empty RECORD path": lambda site: write(site / "lower-2.0.dist-info" / "RECORD", ",,\n"),
    # 3.11 infers a package from its .py files only, 3.12 from any file: where they differ, the library
    "a package of compiled files only": lambda site: write(site / "lower-2.0.dist-info" / "RECORD",
                                                           "lower/_impl.so,,\n"),
    "a top-level extension module": lambda site: write(site / "lower-2.0.dist-info" / "RECORD",
                                                       "lower.abi3.so,,\n"),
}


@pytest.mark.parametrize("layout", sorted(LEFT_TO_THE_LIBRARY))
def test_a_layout_the_library_may_read_otherwise_is_left_to_it(site: Path, layout: str) -> None:
    LEFT_TO_THE_LIBRARY[layout](site)
    assert probe.plain_site(TOPS) is None
    try:
        library = probe._metadata_distributions(TOPS)
    except Exception as exc:  # some of these break the library too: the probe records the same error
        with pytest.raises(type(exc)):
            probe.distributions(TOPS)
    else:
        assert probe.distributions(TOPS) == library


def test_a_zip_on_sys_path_is_left_to_the_library(site: Path, tmp_path: Path) -> None:
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n")
    sys.path.append(str(archive))
    assert both()[0] is None
    assert probe.distributions(TOPS)[0]["zipped"]["version"] == "1.0"


@pytest.mark.parametrize("entry", ["", "relative/folder", "{site}/../site", "{site}/"])
def test_a_sys_path_entry_not_written_as_an_absolute_folder_is_left_to_the_library(site: Path, entry: str,
                                                                                 monkeypatch) -> None:
    """"" is the working folder; the others are folders importlib.metadata names as pathlib writes them."""
    monkeypatch.chdir(site)
    (site / "relative" / "folder").mkdir(parents=True)
    sys.path.append(entry.format(site=site))
    assert both()[0] is None


def test_a_missing_sys_path_entry_is_skipped_as_the_library_skips_it(site: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(tmp_path / "not-there"))
    fast, library = both()
    assert fast is not None and fast == library


def test_a_folder_named_egg_is_left_to_the_library(site: Path, tmp_path: Path) -> None:
    egg = tmp_path / "thing-1.0-py3.11.egg"
    write(egg / "EGG-INFO" / "PKG-INFO", "Name: thing\nVersion: 1.0\n")
    sys.path.append(str(egg))
    assert both()[0] is None


def test_a_finder_of_distributions_of_its_own_is_left_to_the_library(site: Path, monkeypatch) -> None:
    class Finder:
        @staticmethod
        def find_spec(*args):
            return None

        @staticmethod
        def find_distributions(context=None):
            return iter(())

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])
    assert both()[0] is None


def test_a_finder_that_finds_modules_only_keeps_the_probe_reading(site: Path, monkeypatch) -> None:
    class Finder:  # as setuptools' editable finders and _distutils_hack are
        @staticmethod
        def find_spec(*args):
            return None

    monkeypatch.setattr(sys, "meta_path", [Finder, *sys.meta_path])
    fast, library = both()
    assert fast is not None and fast == library


def test_before_python_3_11_the_library_answers(site: Path, monkeypatch) -> None:
    """3.10 infers no packages from RECORD, 3.8 and 3.9 have no packages_distributions."""
    monkeypatch.setattr(sys, "version_info", (3, 10, 14, "final", 0))
    assert both()[0] is None


def test_anything_unexpected_is_left_to_the_library(site: Path, monkeypatch) -> None:
    def broken(tops):
        raise OSError("unreadable")

    monkeypatch.setattr(probe, "plain_site", broken)
    assert probe.distributions(TOPS) == probe._metadata_distributions(TOPS)
