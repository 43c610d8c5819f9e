"""boot.py runs the driver and the probe as `python SCRIPT ARGS` would, from code kept in the shared cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import incell

BOOT = Path(incell.FILES["boot.py"])

SCRIPT = '''"""a script's docstring"""
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
print(json.dumps({"name": __name__, "doc": __doc__, "file": __file__, "argv": sys.argv, "path0": sys.path[0],
                  "here_first": os.path.abspath(sys.path[0]) == here, "spec": __spec__ is None,
                  "main": sys.modules["__main__"].__dict__ is globals(), "said": SAID}))
if sys.argv[1:] == ["fail"]:
    raise ValueError("as it fails")
'''


def script(folder: Path, said: str = "first") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "cell.py"
    path.write_text(f"SAID = {said!r}\n" + SCRIPT)
    return path


def run(*argv) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True)


def test_a_script_runs_through_the_boot_as_it_runs_by_itself(tmp_path):
    path = script(tmp_path / "ewh")
    alone, booted = run(path, "a", "--b"), run(BOOT, path, tmp_path / "cache", "a", "--b")
    assert booted.returncode == alone.returncode == 0, booted.stderr
    assert booted.stdout == alone.stdout
    assert '"argv": ["%s", "a", "--b"]' % path in booted.stdout and '"here_first": true' in booted.stdout
    # a failure reads the same: the script's file, line and words (the evidence quotes them)
    alone, booted = run(path, "fail"), run(BOOT, path, "", "fail")
    assert booted.returncode == alone.returncode == 1
    assert booted.stderr.splitlines()[-3:] == alone.stderr.splitlines()[-3:]
    assert f'File "{path}", line 9' in booted.stderr


def test_the_code_is_kept_per_content_and_used_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    path = script(tmp_path / "ewh")
    assert run(BOOT, path, cache).returncode == 0
    [kept] = (cache / "tools" / "ewh-code").iterdir()
    assert kept.name.startswith("cell.py-") and kept.name.endswith(f"-O{sys.flags.optimize}.code")
    # the kept code is what runs (here, planted: the same script saying something else)
    other = script(tmp_path / "other", said="from the cache")
    run(BOOT, other, tmp_path / "other-cache")
    [planted] = (tmp_path / "other-cache" / "tools" / "ewh-code").iterdir()
    kept.write_bytes(planted.read_bytes())
    assert '"said": "from the cache"' in run(BOOT, path, cache).stdout
    # a changed script is another entry: never the old code
    script(tmp_path / "ewh", said="changed")
    assert '"said": "changed"' in run(BOOT, path, cache).stdout
    assert len(list((cache / "tools" / "ewh-code").iterdir())) == 2


def test_without_a_cache_or_with_a_damaged_entry_the_script_is_compiled_here(tmp_path):
    path = script(tmp_path / "ewh")
    assert '"said": "first"' in run(BOOT, path, "").stdout
    cache = tmp_path / "cache"
    run(BOOT, path, cache)
    [kept] = (cache / "tools" / "ewh-code").iterdir()
    kept.write_bytes(b"\x00 not code")
    assert '"said": "first"' in run(BOOT, path, cache).stdout
    assert kept.read_bytes() != b"\x00 not code"  # written again, whole
    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    done = run(BOOT, path, unwritable)  # its tools/ folder cannot be made: compiled, not kept, still run
    assert done.returncode == 0 and '"said": "first"' in done.stdout
