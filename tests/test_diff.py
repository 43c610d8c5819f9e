"""`diff` in process, on records of a real run (tests/data/report/, recorded by tools/record_report.py): what is
a regression, a fix or an outage, and the Markdown a PR comment shows. The CLI's exit codes and the
same diff between two real runs are in tests/test_reports_from_runs.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.reports import diff

RECORDS = Path(__file__).parent / "data" / "report"


def record(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.json").read_text())


def befell(base: dict, other: dict) -> dict:
    """`base`'s cell with the verdict, evidence and hint another real cell got (an outage, a failure)."""
    return {**base, **{k: other[k] for k in ("verdict", "evidence", "hint")},
            "expected": other["verdict"] == base["cell"]["expect"]}


@pytest.fixture
def passed() -> dict:
    found = record("bookworm-amd64__lan__chain")
    assert (found["verdict"], found["expected"]) == ("pass", True)
    return found


@pytest.mark.parametrize("outage", ["image-unavailable", "index-unreachable", "timeout", "engine-error"])
def test_an_outage_is_never_a_regression(passed, outage):
    """docs/how-to/reports.md: a cell that now has an infrastructure verdict was not judged this time."""
    down = befell(passed, record("missing__lan__chain"))
    down["verdict"] = outage
    found = diff.compare([passed], [down])
    assert found.regressions == () and bool(found) is True  # `diff` exits 0
    assert [c.key for c in found.unjudged] == [("report", passed["cell_id"])]
    assert "0 regressions" in diff.headline(found) and "1 cell not judged this time" in diff.headline(found)
    back = diff.compare([down], [passed])  # coming back from an outage is not a fix either
    assert (back.fixes, back.regressions, [c.key[1] for c in back.verdicts]) == ((), (), [passed["cell_id"]])


def test_a_judged_cell_that_stops_meeting_its_expectation_is_a_regression_and_the_other_way_a_fix(passed):
    broken = befell(passed, record("bookworm-amd64__broken__chain"))
    assert broken["expected"] is False
    found = diff.compare([passed], [broken])
    assert [c.key[1] for c in found.regressions] == [passed["cell_id"]] and bool(found) is False
    assert found.regressions[0].detail == broken["evidence"][0]
    assert diff.headline(found).startswith("**1 regression**, 0 fixes, ")
    text = diff.render_markdown(found, "before", "after")
    rows = text.split("### Regressions")[1].split("###")[0]
    assert (f"| `{passed['cell_id']}` | pass | import-failed (expected pass) | {broken['evidence'][0]} |"
            in rows.splitlines())
    fixed = diff.compare([broken], [passed])
    assert [c.key[1] for c in fixed.fixes] == [passed["cell_id"]] and bool(fixed) is True
    assert fixed.fixes[0].detail == broken["evidence"][0]  # the fix quotes what was wrong before
    assert diff.headline(fixed).startswith("0 regressions, 1 fix, ")
    assert "### Fixes" in diff.render_markdown(fixed, "a", "b")


def test_an_expected_failure_is_met_and_a_skipped_cell_counts_as_expected(passed):
    known_bad = record("bookworm-amd64__broken__chain")
    assert diff.met(known_bad) and diff.judged(known_bad)
    skipped = {**passed, "verdict": "skipped"}
    del skipped["expected"]
    assert diff.met(skipped) and not diff.judged(skipped)
    unexpected = {**passed, "verdict": "degraded"}
    del unexpected["expected"]
    assert not diff.met(unexpected) and diff.judged(unexpected)
    assert not diff.judged({**passed, "verdict": "interrupted"})


def test_cells_that_came_and_went_are_listed_in_their_own_tables(passed):
    other = record("bookworm-amd64__skipping__ao")
    found = diff.compare([passed], [other])
    assert [c.key[1] for c in found.new_cells] == [other["cell_id"]]
    assert [c.key[1] for c in found.vanished] == [passed["cell_id"]]
    text = diff.render_markdown(found, "old", "new")
    assert text.startswith("## wheel-harness diff: old → new\n\n0 regressions, 0 fixes, 0 cells not judged this "
                           "time, 1 new cell, 1 vanished cell, 0 cells with version changes, 0 cells with time "
                           "changes\n")
    new_rows = text.split("### New cells")[1].split("###")[0].splitlines()
    assert "| Cell | Verdict |" in new_rows and f"| `{other['cell_id']}` | degraded |" in new_rows
    gone = text.split("### Vanished cells")[1].split("###")[0].splitlines()
    assert "| Cell | Last verdict |" in gone and f"| `{passed['cell_id']}` | pass |" in gone


def test_the_same_cell_id_in_two_matrices_is_two_cells(passed):
    elsewhere = {**passed, "matrix": "another"}
    found = diff.compare([passed, elsewhere], [passed, {**elsewhere, "verdict": "degraded", "expected": False}])
    assert [c.key for c in found.regressions] == [("another", passed["cell_id"])]


def test_a_pipe_or_a_line_break_in_evidence_keeps_the_table_whole(passed):
    broken = befell(passed, record("bookworm-amd64__broken__chain"))
    broken["evidence"] = ["pip said: a | b\nand more"]
    text = diff.render_markdown(diff.compare([passed], [broken]), "a", "b")
    row = next(line for line in text.splitlines() if line.startswith(f"| `{passed['cell_id']}`"))
    assert row.endswith("| pip said: a \\| b and more |")
    assert len(re.split(r"(?<!\\)\|", row)) == 6  # four columns between the outer pipes: the escaped one is text


def test_versions_that_changed_are_listed_chain_first_and_by_name(passed):
    newer = json.loads(json.dumps(passed))
    dists = newer["probe"]["distributions"]
    names = sorted(dists)
    assert {"torch", "torchao"} <= set(names)
    dists["torchao"] = {**dists["torchao"], "version": "9.9.9"} if isinstance(dists["torchao"], dict) else "9.9.9"
    dists["aaa-extra"] = {"version": "1.0"}
    gone = next(n for n in names if n not in diff.table.VERSION_PACKAGES)
    old_version = diff.distribution_versions(passed)[gone]
    del dists[gone]
    changes = diff.version_changes(passed, newer)
    assert changes == [f"torchao {diff.distribution_versions(passed)['torchao']} → 9.9.9", "+aaa-extra 1.0",
                       f"-{gone} {old_version}"]
    found = diff.compare([passed], [newer])
    assert [c.detail for c in found.versions] == [", ".join(changes)]
    assert f"| `{passed['cell_id']}` | {', '.join(changes)} |" in diff.render_markdown(found, "a", "b").splitlines()
    assert diff.version_changes(passed, {**newer, "probe": {}}) == []  # nothing installed on one side


def test_a_phase_that_took_much_longer_is_a_time_change_beyond_both_thresholds(passed):
    slower = json.loads(json.dumps(passed))
    install = passed["timings"]["install"]
    slower["timings"]["install"] = install * 2 + 10
    found = diff.compare([passed], [slower])
    [change] = found.times
    assert change.detail.startswith(f"install {diff.table.format_seconds(install)} → ")
    text = diff.render_markdown(found, "a", "b")
    assert "### Time changes (beyond 5 s and 25%)" in text
    assert diff.compare([passed], [slower], min_seconds=install * 2 + 11).times == ()  # under the seconds
    share = (install + 10) / install  # the change as a share of the old time (it depends on the recording)
    assert diff.compare([passed], [slower], min_ratio=share + 1).times == ()  # under the share
    assert diff.compare([passed], [slower], min_ratio=share - 0.01).times  # just over it
    assert diff.time_changes(passed, {**slower, "timings": {**slower["timings"], "install": True}}) == []
