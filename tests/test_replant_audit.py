"""tools/replant_audit.py replants the test audit's 24 bugs where the code lives now: each edit must still
find its code exactly once, or the tool stops on it. Code moved without the tool being told is caught here,
in the fast tests, not the next time someone runs the audit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import replant_audit  # noqa: E402


def test_the_audit_has_its_24_mutations_each_with_tests_that_exist():
    assert [m.id for m in replant_audit.MUTATIONS] == [f"M{n:02d}" for n in range(1, 25)]
    for m in replant_audit.MUTATIONS:
        assert m.tests and all((ROOT / t).is_file() for t in m.tests), m.id


@pytest.mark.parametrize("mutation", replant_audit.MUTATIONS, ids=lambda m: m.id)
def test_each_mutation_finds_its_code_once_and_changes_it(mutation, tmp_path):
    (tmp_path / mutation.path).parent.mkdir(parents=True)
    (tmp_path / mutation.path).write_text((ROOT / mutation.path).read_text())
    before = replant_audit.apply(tmp_path, mutation)
    after = (tmp_path / mutation.path).read_text()
    assert after != before and mutation.new in after
