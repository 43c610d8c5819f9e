"""The fault tally fails the run (`nox -s faults`): a leaked container, a lost result or a written secret
is a failure even when the test that caused it passed. A child pytest runs the suite's own conftest.py
and faults.py on tests that pass but report a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PASSING = '''
def test_a_fault_that_{what}(fault):
    fault.{field} += {count}
'''


def child_run(tmp_path: Path, field: str, count: int) -> subprocess.CompletedProcess:
    for name in ("conftest.py", "faults.py"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "test_it.py").write_text(PASSING.format(what=field, field=field, count=count))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "fault",
                           "--rootdir", str(tmp_path), str(tmp_path)], cwd=tmp_path, capture_output=True, text=True)


@pytest.mark.parametrize("field, said", [("leaked", "containers leaked: 1 (must be 0)"),
                                         ("lost", "results lost: 1 (must be 0)"),
                                         ("secrets", "secrets written: 1 (must be 0)")])
def test_a_breach_fails_the_run_though_every_test_passed(tmp_path, field, said):
    done = child_run(tmp_path, field, 1)
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1, done.stdout
    assert f"FAILED: {said}" in done.stdout


def test_a_clean_tally_passes(tmp_path):
    done = child_run(tmp_path, "leaked", 0)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "containers leaked: 0 (must be 0)" in done.stdout and "FAILED:" not in done.stdout
