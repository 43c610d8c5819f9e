"""The bytecode a cell's imports wrote goes back into uv's cache beside its source (driver.share_bytecode),
so the next venv uv links from that entry imports without compiling; and only where it belongs."""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
from pathlib import Path

from harness.incell import driver
from harness.verdicts import events

TAG = sys.implementation.cache_tag


def entry(cache: Path, name: str, files: dict[str, str]) -> Path:
    """A uv cache entry (archive-v0/NAME) holding these files."""
    root = cache / "uv" / "archive-v0" / name
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def linked_venv(cache: Path, entries: list[Path]) -> Path:
    """A venv whose site-packages hardlinks these entries' files, as uv's hardlink mode makes it."""
    site = cache / "venvs" / "cell" / "lib" / "python3.11" / "site-packages"
    for root in entries:
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                target = site / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
    return site.parents[2]


def import_all(site: Path, *modules: str) -> None:
    """Import the modules with the venv's files, as the probe does: Python writes their bytecode."""
    subprocess.run([sys.executable, "-c", "import " + ", ".join(modules)], check=True,
                   env={"PYTHONPATH": str(site), "PATH": os.defpath})


def test_bytecode_goes_back_to_the_entry_whose_source_it_compiled(tmp_path):
    # two entries hold a `pkg`: the cell linked the second; the first lacks the submodule (a wrong
    # candidate must not stop the search), and the module at the top level is an entry's too
    other = entry(tmp_path, "a-other", {"pkg/__init__.py": "VALUE = 0\n"})
    mine = entry(tmp_path, "b-mine", {"pkg/__init__.py": "VALUE = 1\n", "pkg/sub/__init__.py": "",
                                      "pkg/sub/deep.py": "X = 2\n", "single.py": "Y = 3\n"})
    venv = linked_venv(tmp_path, [mine])
    site = venv / "lib" / "python3.11" / "site-packages"
    import_all(site, "pkg.sub.deep", "single")

    assert driver.share_bytecode(str(venv), str(tmp_path)) == 4
    for rel in ("pkg/__init__", "pkg/sub/__init__", "pkg/sub/deep", "single"):
        folder, name = os.path.split(rel)
        pyc = f"{folder + '/' if folder else ''}__pycache__/{name}.{TAG}.pyc"
        assert os.path.samefile(mine / pyc, site / pyc), rel
    assert not (other / "pkg" / "__pycache__").exists()
    assert driver.share_bytecode(str(venv), str(tmp_path)) == 0  # shared already: nothing twice


def test_bytecode_of_a_file_that_is_not_the_entrys_stays_in_the_venv(tmp_path):
    # pip copies (no shared inode) and a cell may rewrite a file: its bytecode is not the entry's
    mine = entry(tmp_path, "mine", {"pkg/__init__.py": "VALUE = 1\n", "pkg/edited.py": "Z = 1\n"})
    venv = linked_venv(tmp_path, [mine])
    site = venv / "lib" / "python3.11" / "site-packages"
    edited = site / "pkg" / "edited.py"
    edited.unlink()
    edited.write_text("Z = 2  # the cell's own\n")
    import_all(site, "pkg.edited")

    assert driver.share_bytecode(str(venv), str(tmp_path)) == 1  # pkg/__init__ only
    assert not (mine / "pkg" / "__pycache__" / f"edited.{TAG}.pyc").exists()


def test_a_later_venv_linking_the_entry_imports_the_shared_bytecode_as_valid(tmp_path):
    mine = entry(tmp_path, "mine", {"pkg/__init__.py": "VALUE = 1\n"})
    venv = linked_venv(tmp_path, [mine])
    site = venv / "lib" / "python3.11" / "site-packages"
    import_all(site, "pkg")
    driver.share_bytecode(str(venv), str(tmp_path))
    shared = mine / "pkg" / "__pycache__" / f"__init__.{TAG}.pyc"
    # Python's own check: the bytecode's recorded source mtime and size are those of the entry's file
    source = py_compile.importlib.util.source_from_cache(str(shared))
    assert Path(source).samefile(mine / "pkg" / "__init__.py")
    header = shared.read_bytes()[8:16]
    stat = (mine / "pkg" / "__init__.py").stat()
    assert int.from_bytes(header[:4], "little") == int(stat.st_mtime) & 0xFFFFFFFF
    assert int.from_bytes(header[4:], "little") == stat.st_size


def test_the_lent_uv_is_used_when_it_runs_and_installing_uv_is_the_fallback(tmp_path, monkeypatch, capsys):
    ran = tmp_path / "ran"
    works = tmp_path / "uv"
    works.write_text(f"#!/bin/sh\necho run >> {ran}\necho uv 0.0.0\n")
    works.chmod(0o755)
    broken = tmp_path / "uv-of-another-libc"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    env = {"PATH": os.defpath}
    monkeypatch.setattr(driver, "_LENT_RUNS", {})
    assert driver.uv_tool(sys.executable, [], env, {"uv_binary": str(works)}) == str(works)
    # it ran once, to see that it runs here (the venv step asks the same): not again for the bootstrap
    assert driver.lent_uv_runs(str(works), env) and ran.read_text() == "run\n"
    boot = [e for e in events.parse(capsys.readouterr().out).phases if e["phase"] == "uv-bootstrap"]
    assert [(e["status"], e["returncode"]) for e in boot] == [("ok", 0)]
    phases = []
    monkeypatch.setattr(driver, "run_phase", lambda name, argv, env: phases.append((name, argv)) or True)
    # the lent one does not run: uv is installed with the venv's pip, as before
    got = driver.uv_tool(sys.executable, [], env, {"uv_binary": str(broken)})
    assert phases[0][0] == "uv-bootstrap"
    assert phases[0][1][1:5] == ["-m", "pip", "install", "--disable-pip-version-check"]
    assert got == os.path.join(os.path.dirname(sys.executable), "uv")


def test_uv_from_the_shared_cache_is_not_started_to_see_that_it_is_there(tmp_path, capsys):
    cache = tmp_path / "cache"
    uv = cache / "tools" / "uv" / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.write_text(f"#!/bin/sh\necho run >> {tmp_path / 'ran'}\n")
    uv.chmod(0o755)
    spec = {"cache": {"dir": str(cache)}}
    assert driver.uv_tool(sys.executable, [], {}, spec) == str(uv)
    assert not (tmp_path / "ran").exists()
    assert [e["status"] for e in events.parse(capsys.readouterr().out).phases] == ["ok"]
    uv.chmod(0o644)  # not executable (a copy that lost its mode): the bootstrap fails and says why
    assert driver.uv_tool(sys.executable, [], {}, spec) is None
    boot = events.parse(capsys.readouterr().out).phases
    assert [(e["phase"], e["status"]) for e in boot] == [("uv-bootstrap", "failed")]
    assert "is not an executable file" in boot[0]["error"]
