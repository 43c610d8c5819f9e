"""`diff` in process, on records of a real run (tests/data/report/, recorded by tools/record_report.py): what is
a regression, a fix or an outage, and the Markdown a PR comment shows. The CLI's exit codes and the
same diff between two real runs are in tests/test_reports_from_runs.py."""

from __future__ import annotations

import dataclasses
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


def test_a_regression_outage_and_other_verdict_change_each_get_their_table(passed):
    broken = befell(passed, record("bookworm-amd64__broken__chain"))
    down = befell(passed, record("missing__lan__chain"))
    other = {**passed, "cell_id": "other"}
    found = diff.compare([passed, other, {**passed, "cell_id": "third"}],
                         [broken, {**other, "verdict": "skipped", "expected": True}, {**down, "cell_id": "third"}])
    assert diff.headline(found).startswith("**1 regression**, 0 fixes, 1 cell not judged this time, ")
    text = diff.render_markdown(found, "a", "b")
    titles = [line for line in text.splitlines() if line.startswith("### ")]
    assert titles == ["### Regressions", "### Not judged this time (infrastructure)", "### Other verdict changes"]
    unjudged = text.split("### Not judged this time (infrastructure)")[1].split("###")[0].splitlines()
    assert unjudged[2:5] == ["| Cell | Before | Now | Evidence now |", "|---|---|---|---|",
                             f"| `third` | pass | image-unavailable (expected pass) | {down['evidence'][0]} |"]
    others = text.split("### Other verdict changes")[1].splitlines()
    assert "| `other` | pass | skipped |  |" in others  # a skipped cell met its expectation: not judged, not broken


def test_the_headline_counts_in_words_one_and_many():
    one = diff.Diff(regressions=(None,), fixes=(None,), new_cells=(None,), vanished=(None,))
    assert diff.headline(one) == ("**1 regression**, 1 fix, 0 cells not judged this time, 1 new cell, 1 vanished cell, "
                                  "0 cells with version changes, 0 cells with time changes")
    two = diff.Diff(regressions=(None, None), fixes=(None, None), unjudged=(None, None), checks=(None, None))
    assert diff.headline(two) == ("**2 regressions**, 2 fixes, 2 cells not judged this time, 0 new cells, "
                                  "0 vanished cells, 0 cells with version changes, 2 cells with check changes, "
                                  "0 cells with time changes")


def test_a_cell_of_an_approach_is_named_with_it():
    prebuilt = json.loads((RECORDS.parent / "plan" / "smoke-prebuilt-cache__wheelhouse__chain-2.13.json").read_text())
    assert prebuilt["cell"]["approach"] == "Pre-built cache"
    found = diff.compare([], [prebuilt])
    assert found.new_cells[0].name == f"Pre-built cache: `{prebuilt['cell_id']}`"
    assert f"| Pre-built cache: `{prebuilt['cell_id']}` | " in diff.render_markdown(found, "a", "b")
    gone = diff.compare([prebuilt], [])
    assert gone.vanished[0].name == f"Pre-built cache: `{prebuilt['cell_id']}`"
    # a matrix may name an approach with a multi-line string: the row stays one line of the table
    two_lines = {**prebuilt, "cell": {**prebuilt["cell"], "approach": "Pre-built\ncache"}}
    text = diff.render_markdown(diff.compare([], [two_lines]), "a", "b")
    assert f"| Pre-built cache: `{prebuilt['cell_id']}` | {prebuilt['verdict']} |" in text.splitlines()


def test_checks_whose_outcome_changed_came_or_went_are_listed(passed):
    [check] = passed["checks"]
    failed = {**passed, "verdict": "check-failed", "expected": False,
              "checks": [{**check, "outcome": "failed"}, {"check": "torch", "device": "cpu", "outcome": "passed"}]}
    assert diff.check_changes(passed, failed) == ["chain_check.py passed → failed", "+torch [cpu] passed"]
    assert diff.check_changes(failed, passed) == ["chain_check.py failed → passed", "-torch [cpu] passed"]
    found = diff.compare([passed], [failed])
    assert [c.detail for c in found.checks] == ["chain_check.py passed → failed, +torch [cpu] passed"]
    assert "1 cell with check changes" in diff.headline(found)
    text = diff.render_markdown(found, "a", "b")
    rows = text.split("### Check changes")[1].splitlines()
    assert rows[2:5] == ["| Cell | Changes |", "|---|---|",
                         f"| `{passed['cell_id']}` | chain_check.py passed → failed, +torch [cpu] passed |"]
    assert diff.compare([passed], [passed]).checks == ()


def test_a_phase_that_took_no_time_before_changes_by_seconds_alone_and_the_probe_time_counts(passed):
    slower = json.loads(json.dumps(passed))
    assert passed["timings"]["image"] < 0.05
    slower["timings"]["image"] = 12.0
    slower["timings"]["probe"] = 30.0
    [line_image, line_probe] = diff.time_changes(passed, slower)
    assert line_image.startswith(f"image {diff.table.format_seconds(passed['timings']['image'])} → 12.0 s (+")
    assert line_probe.startswith(f"probe {diff.table.format_seconds(passed['timings']['probe'])} → 30.0 s (+")
    zero = {**passed, "timings": {**passed["timings"], "image": 0}}
    assert diff.time_changes(zero, slower)[0] == "image 0.0 s → 12.0 s"  # no share of nothing
    assert diff.time_changes(slower, passed)[0].endswith("(-100%)")  # faster is a change too


LEDGERS = RECORDS / "ledger" / "20261206T055609Z-bfc065"


def ledgers() -> list[dict]:
    """The four sources a real run asked (tests/data/report/ledger/)."""
    return [json.loads(p.read_text()) for p in sorted(LEDGERS.glob("*.json"))]


def drifted() -> list[dict]:
    """The same sources later: the `skipping` folder's torchao wheel replaced under its name, torchao 0.1.0 gone from
    the `broken` folder, torchtune 0.7.0 new on the index (no cell installed it)."""
    out = ledgers()
    by = {led["source"]: led for led in out}
    [wheel] = by["skipping (folder)"]["projects"]["torchao"]["files"]["0.15.0"]
    wheel["sha256"] = "0" * 64
    gone = by["broken (folder)"]["projects"]["torchao"]
    gone.update(versions=[], files={}, listed=0)
    index = next(led for led in out if led["source"].startswith("http://"))["projects"]["torchtune"]
    index["versions"].append("0.7.0")
    index["files"]["0.7.0"] = [{**index["files"]["0.6.1"][0], "name": "torchtune-0.7.0-py3-none-any.whl"}]
    return out


def test_index_drift_is_listed_worst_first_and_a_replaced_file_loudly(passed):
    old = ledgers()
    found = diff.compare([passed], [passed], ledgers=(old, drifted()))
    assert [d.kind for d in found.drift] == ["replaced", "vanished", "new-release"]
    assert diff.headline(found).endswith(", **1 replaced file**, 1 vanished offer, 1 new release not yet tested")
    [sha] = [f["sha256"] for f in next(led for led in old if led["source"] == "skipping (folder)")["projects"][
        "torchao"]["files"]["0.15.0"]]
    text = diff.render_markdown(found, "a", "b")
    assert text.split("### Index drift\n\n")[1] == (
        "#### Replaced files: same name, another hash (a supply-chain red flag: find out who changed it)\n\n"
        f"- **torchao-0.15.0-py3-none-any.whl (torchao 0.15.0) was replaced on skipping (folder): sha256 {sha} before, "
        f"{'0' * 64} now**\n\n"
        "#### No longer offered\n\n"
        "- torchao 0.1.0 is no longer offered by broken (folder)\n\n"
        "#### New releases, not yet tested\n\n"
        "- torchtune 0.7.0 is newly offered by http://127.0.0.1:40315/simple (not yet tested)\n")


def test_the_gate_fails_on_a_regression_and_on_the_drift_named(passed):
    assert diff.Diff().gate() and not diff.Diff(regressions=(None,)).gate()
    drift = diff.compare([passed], [passed], ledgers=(ledgers(), drifted()))
    assert drift.gate() and drift.gate(["replaced"]) is False and drift.gate(["drift"]) is False
    new_only = [d for d in drift.drift if d.kind == "new-release"]
    quiet = dataclasses.replace(drift, drift=tuple(new_only))
    assert quiet.gate(["replaced"]) and quiet.gate(["drift"]) is False
    assert "0 replaced files, 0 vanished offers, 1 new release not yet tested" in diff.headline(quiet)
    same = diff.compare([passed], [passed], ledgers=(ledgers(), ledgers()))
    assert same.gate(["replaced", "drift"]) and same.drift == ()


def test_drift_is_said_to_be_unknown_where_a_side_has_no_ledger(passed):
    same = diff.compare([passed], [passed], ledgers=(ledgers(), ledgers()))
    assert same.drift_compared is True
    assert diff.render_markdown(same, "a", "b").endswith("### Index drift\n\nThe sources offer what they offered "
                                                         "before.\n")
    assert diff.headline(same).endswith(", 0 replaced files, 0 vanished offers, 0 new releases not yet tested")
    one_side = diff.compare([passed], [passed], ledgers=([], ledgers()))
    assert one_side.drift_compared is False and "replaced" not in diff.headline(one_side)
    assert diff.render_markdown(one_side, "a", "b").endswith(
        "### Index drift\n\nNot compared: only one side's results have an index ledger (results written before the "
        "harness kept ledgers have none).\n")
    for neither in (diff.compare([passed], [passed], ledgers=([], [])), diff.compare([passed], [passed])):
        assert neither.drift_compared is None and "Index drift" not in diff.render_markdown(neither, "a", "b")


def test_the_markdown_of_a_diff_with_every_kind_of_change(passed):
    """What a PR comment shows (docs/how-to/reports.md): a headline, then one table per kind of change."""
    broken, missing = record("bookworm-amd64__broken__chain"), record("missing__lan__chain")

    def cell(name: str, base: dict) -> dict:
        return {**json.loads(json.dumps(base)), "cell_id": name}

    newer = cell("ver", passed)
    newer["probe"]["distributions"]["torchao"]["version"] = "9.9.9"
    slower = cell("slow", passed)
    slower["timings"]["install"] = passed["timings"]["install"] + 20
    old = [cell(n, passed) for n in ("reg", "down", "skip", "ver", "chk", "slow")] + [
        cell("fix", befell(passed, broken)), record("bookworm-amd64__sdist__srcpkg")]
    new = [cell("reg", befell(passed, broken)), cell("fix", passed), cell("down", befell(passed, missing)),
           {**cell("skip", passed), "verdict": "skipped"}, newer,
           {**cell("chk", passed), "checks": [{**passed["checks"][0], "outcome": "failed"}]}, slower,
           record("bookworm-amd64__skipping__ao")]
    install = diff.table.format_seconds(passed["timings"]["install"])
    share = f"{20 / passed['timings']['install']:+.0%}"
    assert diff.render_markdown(diff.compare(old, new), "main", "pr") == f"""\
## wheel-harness diff: main → pr

**1 regression**, 1 fix, 1 cell not judged this time, 1 new cell, 1 vanished cell, 1 cell with version changes, \
1 cell with check changes, 1 cell with time changes

### Regressions

| Cell | Before | Now | Evidence now |
|---|---|---|---|
| `reg` | pass | import-failed (expected pass) | {broken["evidence"][0]} |

### Fixes

| Cell | Before | Now | Evidence before |
|---|---|---|---|
| `fix` | import-failed (expected pass) | pass | {broken["evidence"][0]} |

### Not judged this time (infrastructure)

| Cell | Before | Now | Evidence now |
|---|---|---|---|
| `down` | pass | image-unavailable (expected pass) | {missing["evidence"][0]} |

### Other verdict changes

| Cell | Before | Now | Evidence now |
|---|---|---|---|
| `skip` | pass | skipped |  |

### New cells

| Cell | Verdict |
|---|---|
| `bookworm-amd64__skipping__ao` | degraded |

### Vanished cells

| Cell | Last verdict |
|---|---|
| `bookworm-amd64__sdist__srcpkg` | pass |

### Version changes

| Cell | Changes |
|---|---|
| `ver` | torchao 0.18.0 → 9.9.9 |

### Check changes

| Cell | Changes |
|---|---|
| `chk` | chain_check.py passed → failed |

### Time changes (beyond 5 s and 25%)

| Cell | Changes |
|---|---|
| `slow` | install {install} → {diff.table.format_seconds(passed["timings"]["install"] + 20)} ({share}) |
"""


def test_what_a_record_expects_comes_from_its_cell_and_is_pass_when_it_does_not_say(passed):
    known_bad = record("bookworm-amd64__broken__chain")
    assert known_bad["cell"]["expect"] == "import-failed"
    unsaid = {k: v for k, v in known_bad.items() if k != "expected"}
    assert diff.met(unsaid)  # recomputed from the cell's expectation
    fixed_upstream = diff.compare([known_bad], [{**befell(known_bad, passed), "expected": False}])
    [change] = fixed_upstream.regressions  # it no longer gets the verdict it expects
    assert f"| `{known_bad['cell_id']}` | import-failed | pass (expected import-failed) |" in \
        diff.render_markdown(fixed_upstream, "a", "b")
    bare = {"cell_id": "x", "verdict": "import-failed"}  # a record of no cell: a matrix cell expects pass
    assert not diff.met(bare) and diff.met({"cell_id": "x", "verdict": "pass"})
    no_expect = {**passed, "cell": {k: v for k, v in passed["cell"].items() if k != "expect"}}
    del no_expect["expected"]
    assert diff.met(no_expect) and not diff.met({**no_expect, "verdict": "degraded"})
    assert "import-failed (expected pass)" in diff.render_markdown(diff.compare([{**bare, "verdict": "pass"}],
                                                                                [bare]), "a", "b")


def test_the_same_outage_in_both_runs_is_not_listed_again(passed):
    down = befell(passed, record("missing__lan__chain"))
    again = diff.compare([down], [down])
    assert (again.unjudged, again.verdicts, again.regressions) == ((), (), ())


def test_a_renamed_approach_is_shown_by_its_new_name(passed):
    old = {**passed, "cell": {**passed["cell"], "approach": "Old name"}}
    new = json.loads(json.dumps({**passed, "cell": {**passed["cell"], "approach": "New name"}}))
    new["probe"]["distributions"]["torchao"]["version"] = "9.9.9"
    new["checks"] = [{**passed["checks"][0], "outcome": "failed"}]
    new["timings"]["install"] += 20
    found = diff.compare([old], [new])
    assert [len(found.versions), len(found.checks), len(found.times)] == [1, 1, 1]
    for change in (*found.versions, *found.checks, *found.times):
        assert change.name == f"New name: `{passed['cell_id']}`"


def test_time_changes_at_the_thresholds_and_in_several_phases(passed):
    slower = json.loads(json.dumps(passed))
    install, image = passed["timings"]["install"], passed["timings"]["image"]
    slower["timings"]["install"] = install * 2 + 10
    slower["timings"]["image"] = image + 30
    delta = slower["timings"]["install"] - install
    both = diff.compare([passed], [slower], min_seconds=delta, min_ratio=delta / install)  # exactly at both
    [change] = both.times
    assert change.detail.startswith("image ") and "; install " in change.detail
    title = f"### Time changes (beyond {delta:g} s and {delta / install:.0%})"  # the thresholds given
    assert title in diff.render_markdown(both, "a", "b")
    # a phase one side did not time is left out, and the phases after it still count
    no_image = {**slower, "timings": {k: v for k, v in slower["timings"].items() if k != "image"}}
    assert [line.split()[0] for line in diff.time_changes(passed, no_image)] == ["install"]
    outage = record("missing__lan__chain")  # timed only the image and the total
    assert diff.time_changes(passed, outage) == []


def test_a_new_release_a_new_cell_installed_is_tested_not_drift(passed):
    tried = json.loads(json.dumps(passed))
    for item in tried["install"]["items"]:
        if item["name"] == "torchtune":
            item["version"] = "0.7.0"
    found = diff.compare([passed], [tried], ledgers=(ledgers(), drifted()))
    assert [d.kind for d in found.drift] == ["replaced", "vanished"]
    untried = diff.compare([passed], [passed], ledgers=(ledgers(), drifted()))
    assert [d.kind for d in untried.drift] == ["replaced", "vanished", "new-release"]
    old_side_only = diff.compare([passed], [passed], ledgers=(ledgers(), []))
    assert old_side_only.drift_compared is False and "Not compared" in diff.render_markdown(old_side_only, "a", "b")


def test_without_a_probe_total_the_imports_timed_are_the_probe_time_as_the_table_counts_it(passed):
    """A cell stopped during its probe has the imports it timed but no probe total (table.run_seconds)."""
    cut = json.loads(json.dumps(passed))
    del cut["timings"]["probe"]
    slow = json.loads(json.dumps(cut))
    slow["timings"]["imports"]["torch"] = 30.0
    before = sum(cut["timings"]["imports"].values())
    assert diff.time_changes(cut, slow) == [
        f"probe {diff.table.format_seconds(before)} → {diff.table.format_seconds(before + 30)} "
        f"({30 / before:+.0%})"]
