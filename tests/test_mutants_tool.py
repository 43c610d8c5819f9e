"""tools/mutants.py around mutmut (`nox -s mutants`): what it asks mutmut to run, from mutmut's own cache
files. mutmut itself is replaced by a recorder that writes results the way mutmut writes them (the
`exit_code_by_key` of `mutants/<module>.meta`), so these run in a blink; the real tool ran in full."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import mutants  # noqa: E402

MODULE = "harness/redact.py"
PREFIX = "harness.redact."


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A mutants/ folder of its own, a test digest that can change, and a mutmut that records its calls:
    it generates one new mutant when asked to generate, and every mutant it runs is killed."""
    folder = tmp_path / "mutants"
    monkeypatch.setattr(mutants, "MUTANTS", folder)
    monkeypatch.setattr(mutants, "STAMP", folder / "ewh-tests.json")
    monkeypatch.setattr(mutants, "modules", lambda: [MODULE])
    digest = {"now": "tests-1"}
    monkeypatch.setattr(mutants, "tests_digest", lambda: digest["now"])
    calls: list[tuple[str, ...]] = []
    meta_path = folder / (MODULE + ".meta")

    def write(codes: dict) -> None:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps({"exit_code_by_key": codes}))

    def generate() -> None:
        calls.append(("generate",))
        codes = mutants.meta(MODULE)
        codes.setdefault(PREFIX + "x_new__mutmut_1", None)
        write(codes)

    def mutmut(*args: str) -> int:
        calls.append(args)
        names = [a for a in args[3:]]
        codes = mutants.meta(MODULE)
        for key in codes:
            if key in names or any(n.endswith("*") and key.startswith(n[:-1]) for n in names):
                codes[key] = 1
        write(codes)
        return 0

    monkeypatch.setattr(mutants, "generate", generate)
    monkeypatch.setattr(mutants, "mutmut", mutmut)
    return write, calls, digest


def test_only_lets_mutmut_regenerate_first_then_runs_what_is_not_yet_known(cache):
    write, calls, _ = cache
    write({PREFIX + "x_a__mutmut_1": 1, PREFIX + "x_b__mutmut_1": None})
    mutants.run([MODULE], children=2, everything=False)
    assert calls[0] == ("generate",)
    ran = [a for c in calls[1:] for a in c[3:]]
    assert sorted(ran) == [PREFIX + "x_b__mutmut_1", PREFIX + "x_new__mutmut_1"]  # not the known x_a


def test_survivors_run_again_only_when_the_tests_changed_since(cache):
    write, calls, digest = cache
    write({PREFIX + "x_a__mutmut_1": 0, PREFIX + "x_b__mutmut_1": 1})
    mutants.STAMP.write_text(json.dumps({MODULE: "tests-1"}))
    mutants.run([MODULE], children=2, everything=False)
    assert [a for c in calls[1:] for a in c[3:]] == [PREFIX + "x_new__mutmut_1"]  # the survivor stands
    calls.clear()
    write({PREFIX + "x_a__mutmut_1": 0, PREFIX + "x_b__mutmut_1": 1})
    digest["now"] = "tests-2"
    mutants.run([MODULE], children=2, everything=False)
    assert PREFIX + "x_a__mutmut_1" in [a for c in calls[1:] for a in c[3:]]
    assert json.loads(mutants.STAMP.read_text()) == {MODULE: "tests-2"}


def test_a_first_run_does_not_run_its_survivors_a_second_time(cache, monkeypatch):
    write, calls, _ = cache

    def first_run(*args: str) -> int:  # mutmut's full run: one survivor, one killed
        calls.append(args)
        write({PREFIX + "x_a__mutmut_1": 0, PREFIX + "x_b__mutmut_1": 1})
        return 0

    monkeypatch.setattr(mutants, "mutmut", first_run)
    mutants.run([MODULE], children=2, everything=True)
    assert calls == [("run", "--max-children", "2")]


def test_the_score_counts_equivalents_as_killed_and_lists_the_rest(cache, tmp_path, monkeypatch):
    write, _, _ = cache
    listed = tmp_path / "equivalent.txt"
    listed.write_text(f"# header\n{PREFIX}x_a__mutmut_1  a reason\n")
    monkeypatch.setattr(mutants, "EQUIVALENT", listed)
    write({PREFIX + "x_a__mutmut_1": 0, PREFIX + "x_b__mutmut_1": 0, PREFIX + "x_c__mutmut_1": 1,
           PREFIX + "x_d__mutmut_1": 33, PREFIX + "x_e__mutmut_1": None})
    rows, unexplained = mutants.scores([MODULE])
    assert rows == [(MODULE, 5, 1, 1, 2, 1, 2 / 5)]
    assert [k for _, k in unexplained] == [PREFIX + "x_b__mutmut_1", PREFIX + "x_d__mutmut_1"]
