"""harness.reports.columns: the values a declared table (`[tables.NAME]`) shows, each from a cell's
stored records, and the table's rows (docs/how-to/reports.md). The records are real: the smoke matrix's
plan run (tests/data/plan, recorded by tools/record_plan_results.py; its history holds the run before) and
the golden table's run (tests/data/report)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.matrix import reader
from harness.model import TABLE_COLUMNS, Arch, Cell, Image, IndexVariant, PackageSet, TableColumn, TableSpec
from harness.reports import columns, table
from harness.results import store

REPO = Path(__file__).resolve().parents[1]
PLAN = Path(__file__).parent / "data" / "plan"
REPORT = Path(__file__).parent / "data" / "report"
UV = Path(__file__).parent / "data" / "results"
RUNTIME = "bookworm-amd64-runtime__wheelhouse__chain-2.13"  # two runs: cold in the history, cached since


def record(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def timeline():
    return store.load_timeline(PLAN)


@pytest.fixture(scope="module")
def smoke():
    return reader.load(REPO / "matrices" / "smoke.toml")


def spec(*values: str, cells=(), elsewhere=()) -> TableSpec:
    return TableSpec(name="t", columns=tuple(TableColumn(value=v, header=TABLE_COLUMNS[v][0]) for v in values),
                     cells=tuple(cells), elsewhere=tuple(elsewhere))


def make_cell(image: str, packages: str = "p", approach: str | None = None, installer: str = "pip") -> Cell:
    return Cell(image=Image(name=image, arch=Arch.ARM64), index=IndexVariant(name="idx"),
                packages=PackageSet(name=packages, requirements=("x",), modules=("x",)), approach=approach,
                installer=installer)


def lines(markdown: str) -> list[list[str]]:
    """A GitHub table's rows (the header first, the rule left out), each cell's text stripped."""
    return [[c.strip() for c in line.strip().strip("|").split(" | ")]
            for line in markdown.splitlines() if not line.startswith("|--")]


# --- build: the image's builds over the stored runs ------------------------------------------------------

def test_the_builds_are_gathered_over_the_stored_runs_by_kind_oldest_first(timeline):
    """The runtime image was built cold in the earlier run (10.577 s) and from the cache in the latest
    (0.415 s): both runs count."""
    assert columns.builds(timeline[RUNTIME]) == {"cold": [10.577], "cached": [0.415]}
    assert columns.build_text(timeline[RUNTIME]) == "cold 10.6 s, cached 0.4 s"


def test_a_rebuild_of_an_unchanged_recipe_is_not_a_build_time(timeline):
    """The recording's third build of Original (`unchanged`, 0.552 s) is neither cold nor cached."""
    [original] = timeline["smoke-original__wheelhouse__chain-2.13"]
    assert [b["how"] for b in original["image"]["builds"]] == ["cold", "cached", "unchanged"]
    assert columns.builds([original]) == {"cold": [60.236], "cached": [94.891]}
    assert columns.build_text([original]) == "cold 60.2 s, cached 94.9 s"


def test_a_kind_measured_more_than_once_shows_its_range_and_count(timeline):
    again = copy.deepcopy(timeline[RUNTIME][-1])
    again["image"]["builds"][0]["seconds"] = 0.63  # a third run, its cached build a little slower
    records = [*timeline[RUNTIME], again]
    assert columns.builds(records) == {"cold": [10.577], "cached": [0.415, 0.63]}
    assert columns.build_text(records) == "cold 10.6 s, cached 0.4 s–0.6 s (2 builds)"
    # measured twice with the same shown value: one value, no range
    same = copy.deepcopy(again)
    same["image"]["builds"][0]["seconds"] = 0.44
    assert columns.build_text([timeline[RUNTIME][-1], same]) == "cached 0.4 s"


def test_a_record_from_before_builds_were_listed_says_its_image_phase(timeline):
    """Older records have no `image.builds`: the image phase's kind and seconds stand for the build."""
    [original] = copy.deepcopy(timeline["smoke-original__wheelhouse__chain-2.13"])
    del original["image"]["builds"]
    assert (original["timings"]["image_build"], original["timings"]["image"]) == ("cold", 155.754)
    assert columns.builds([original]) == {"cold": [155.754]}
    assert columns.build_text([original]) == "cold 2 min 36 s"
    del original["image"]
    assert columns.builds([original]) == {"cold": [155.754]}
    no_timings = {k: v for k, v in original.items() if k != "timings"}
    assert columns.builds([no_timings]) == {}


def test_a_build_without_a_number_of_seconds_is_not_counted(timeline):
    [original] = copy.deepcopy(timeline["smoke-original__wheelhouse__chain-2.13"])
    original["image"]["builds"][0]["seconds"] = None
    original["image"]["builds"][1]["seconds"] = True  # not a number of seconds, though Python counts it as 1
    assert columns.builds([original]) == {}
    original["image"]["builds"][1]["seconds"] = 3  # whole seconds are seconds
    assert columns.builds([original]) == {"cached": [3.0]}


def test_without_a_build_the_column_says_why(timeline):
    numpy = timeline["bookworm-amd64__default__numpy"]  # a ready image: no run built it
    assert columns.builds(numpy) == {}
    assert columns.build_text(numpy) == "image present"
    missing = [record(REPORT, "missing__lan__chain")]  # the image was not in the engine
    assert columns.build_text(missing) == "no image"
    host = [dict(numpy[-1], backend="host")]
    assert columns.build_text(host) == "no image (host backend)"
    assert columns.build_text([]) == "—"
    # only the latest record's verdict and backend decide
    assert columns.build_text([*missing, numpy[-1]]) == "image present"
    assert columns.build_text([numpy[-1], *missing]) == "no image"


# --- values of the latest record -------------------------------------------------------------------------

def test_the_image_size_is_the_engines_number_of_bytes(timeline):
    [multistage] = timeline["smoke-multistage__wheelhouse__chain-2.13"]
    assert columns.image_size(multistage) == 1563896163
    assert columns.image_size(record(REPORT, "missing__lan__chain")) is None  # no image, no size
    assert columns.image_size({"image": {"size": True}}) is None
    assert columns.image_size({"image": None}) is None


def test_run_time_adds_the_start_the_install_and_the_probe(timeline):
    [pypi] = timeline["bookworm-amd64__wheelhouse__chain-2.13"]
    t = pypi["timings"]
    assert columns.run_seconds(pypi) == pytest.approx(t["container_start"] + t["install"] + t["probe"])
    assert columns.run_seconds(pypi) == pytest.approx(0.902 + 211.61 + 14.418)
    # the venv, the image and the total are not part of it
    assert columns.run_seconds(pypi) < t["total"] - t["venv"]


def test_run_time_counts_uvs_bootstrap_and_the_checks():
    uv = record(UV, "smoke-uv.torchao-0.15.0")
    assert columns.run_seconds(uv) == pytest.approx(0.714 + 14.844 + 32.341 + 3.32)  # uv-bootstrap 3.32
    chain = record(REPORT, "bookworm-amd64__lan__chain")
    t = chain["timings"]
    assert columns.run_seconds(chain) == pytest.approx(t["container_start"] + t["install"] + t["probe"] + t["checks"])
    assert t["checks"] > 0


def test_run_time_is_unknown_without_a_timed_phase():
    assert columns.run_seconds(record(REPORT, "missing__lan__chain")) is None  # only the image phase
    assert columns.run_seconds({"timings": None}) is None
    assert columns.run_seconds({"timings": {"probe": True, "install": "3"}}) is None
    assert columns.run_seconds({"timings": {"probe": 2, "install": None}}) == 2.0


def test_summary_of_a_pass_is_the_word_pass(timeline):
    [numpy] = timeline["bookworm-amd64__default__numpy"]
    assert columns.summary_text(numpy) == "pass"


def test_summary_of_an_expected_finding_says_so_with_the_hint(timeline):
    [pypi] = timeline["bookworm-amd64__wheelhouse__chain-2.13"]
    assert (pypi["verdict"], pypi["expected"]) == ("degraded", True)
    assert columns.summary_text(pypi) == f"**degraded** (as expected): {pypi['hint']}"


def test_summary_of_an_unexpected_verdict_names_the_expected_one():
    uv = record(UV, "smoke-uv.torchao-0.16.0")
    assert (uv["verdict"], uv["expected"], uv["cell"]["expect"]) == ("import-failed", False, "pass")
    assert columns.summary_text(uv) == f"**import-failed** (expected pass): {uv['hint']}"


def test_summary_without_a_hint_quotes_the_evidence_and_without_either_says_only_the_verdict():
    uv = record(UV, "smoke-uv.torchao-0.16.0")
    no_hint = dict(uv, hint=None)
    said = columns.summary_text(no_hint)
    assert said == f"**import-failed** (expected pass): {table.evidence_text(uv)}"  # the evidence column's text
    assert said.removesuffix("…") in f"**import-failed** (expected pass): {uv['evidence'][0]}"
    assert columns.summary_text(dict(no_hint, evidence=[])) == "**import-failed** (expected pass)"


def test_a_record_from_before_expected_was_stored_is_met_when_its_verdict_is_the_declared_one():
    uv = record(UV, "smoke-uv.torchao-0.16.0")
    older = {k: v for k, v in uv.items() if k not in ("expected", "hint", "evidence")}
    assert columns.summary_text(older) == "**import-failed** (expected pass)"
    assert columns.expected_text(older) == "no (expected pass)"
    declared = dict(older, cell=dict(older["cell"], expect="import-failed"))
    assert columns.summary_text(declared) == "**import-failed** (as expected)"
    assert columns.expected_text(declared) == "yes"
    no_cell = {k: v for k, v in older.items() if k != "cell"}  # no declaration: a cell expects pass
    assert columns.summary_text(no_cell) == "**import-failed** (expected pass)"
    assert columns.expected_text(no_cell) == "no (expected pass)"
    assert columns.expected_text(dict(no_cell, verdict="pass")) == "yes"
    assert columns.summary_text({}) == "**unknown** (expected pass)"


def test_the_stored_answer_decides_whether_a_verdict_was_expected():
    """A skipped cell counts as expected (run.record), though its declared expectation is `pass`."""
    uv = record(UV, "smoke-uv.torchao-0.16.0")
    skipped = dict(uv, verdict="skipped", expected=True, hint="the matrix skips it on this host")
    assert skipped["cell"]["expect"] == "pass"
    assert columns.summary_text(skipped) == "**skipped** (as expected): the matrix skips it on this host"
    assert columns.expected_text(skipped) == "yes"


def test_expected_is_yes_or_names_the_expected_verdict(timeline):
    [pypi] = timeline["bookworm-amd64__wheelhouse__chain-2.13"]
    assert columns.expected_text(pypi) == "yes"
    assert columns.expected_text(record(UV, "smoke-uv.torchao-0.16.0")) == "no (expected pass)"
    # the stored answer wins over a comparison of the verdicts
    assert columns.expected_text(dict(pypi, expected=False)) == "no (expected degraded)"


# --- the columns ----------------------------------------------------------------------------------------

def test_the_columns_about_the_cell_need_no_result(smoke):
    [numpy] = [c for c in smoke.cells if c.id == "bookworm-arm64__default__numpy"]
    shown = {name: columns.COLUMNS[name](numpy, ()) for name in
             ("approach", "cell", "image", "index", "packages", "installer")}
    assert shown == {"approach": "Compiled wheel (arm64, emulated)", "cell": "`bookworm-arm64__default__numpy`",
                     "image": "bookworm-arm64 (linux/arm64)", "index": "default", "packages": "numpy",
                     "installer": "pip"}


def test_a_cell_without_an_approach_name_is_named_by_its_id_and_a_pipe_is_escaped():
    assert columns.COLUMNS["approach"](make_cell("jammy"), ()) == "jammy__idx__p"
    assert columns.COLUMNS["approach"](make_cell("jammy", approach="a|b"), ()) == "a\\|b"
    assert columns.COLUMNS["installer"](make_cell("jammy", installer="uv"), ()) == "uv"


def test_the_columns_of_a_result_show_the_latest_record(timeline, smoke):
    [runtime] = [c for c in smoke.cells if c.id == RUNTIME]
    earlier, latest = timeline[RUNTIME]
    shown = {name: columns.COLUMNS[name](runtime, timeline[RUNTIME]) for name in columns.COLUMNS}
    t = latest["timings"]
    assert t["total"] != earlier["timings"]["total"]
    assert shown["build"] == "cold 10.6 s, cached 0.4 s"  # the one column over every run
    assert shown["size"] == "190.7 MB"  # 190,682,347 bytes
    assert shown["install"] == "57.0 s"
    assert shown["run"] == "64.5 s"  # 0.625 + 57.005 + 6.838 = 64.468 s
    assert shown["imports"] == "6.8 s"  # the probe's own seconds
    assert shown["total"] == "82.9 s"  # 82.872 s
    assert shown["downloaded"] == "—"  # this recording did not measure it
    assert shown["versions"].startswith("torch 2.13.0+cpu, torchao 0.15.0")
    assert shown["cuda"] == "no (CPU build)"
    assert shown["verdict"] == "**degraded**"
    assert shown["expected"] == "yes"
    assert shown["evidence"].startswith("torchao: Skipping import of cpp extensions")
    assert shown["hint"] == latest["hint"]
    assert shown["summary"] == f"**degraded** (as expected): {latest['hint']}"
    assert latest["prediction"] is None and shown["plan"] == "—"  # the plan run stored no prediction
    assert shown["checks"] == "—"


def test_the_downloaded_column_shows_the_bytes_fetched():
    chain = record(REPORT, "bookworm-amd64__lan__chain")
    cell = make_cell("bookworm-amd64")
    assert columns.COLUMNS["downloaded"](cell, [chain]) == "4.1 kB"  # 4,100 bytes
    assert columns.COLUMNS["checks"](cell, [chain]) == "1/1"
    assert columns.COLUMNS["notes"](cell, [chain]).startswith("cold cache (0 from cache, 3 downloaded)")


def test_a_column_of_a_result_renders_the_latest_record(timeline):
    earlier, latest = timeline[RUNTIME]
    earlier = dict(earlier, verdict="pass")  # the earlier run's verdict differs from the latest's
    verdict = columns._of_latest(lambda r: r["verdict"])
    assert verdict(make_cell("c"), [earlier, latest]) == "degraded"
    assert verdict(make_cell("c"), [latest, earlier]) == "pass"
    assert verdict(make_cell("c"), []) == "—"


def test_a_cell_without_a_record_shows_a_dash_in_every_column_of_a_result():
    cell = make_cell("jammy")
    about_the_cell = {"approach", "cell", "image", "index", "packages", "installer"}
    for name, column in columns.COLUMNS.items():
        if name not in about_the_cell:
            assert column(cell, ()) == "—", name


# --- rows -------------------------------------------------------------------------------------------------

CELLS = [make_cell("a1", approach="First"), make_cell("a2"), make_cell("b1", approach="Second"), make_cell("a3")]


def ids(rows) -> list:
    return [r.id if isinstance(r, Cell) else r for r in rows]


def test_without_entries_every_cell_is_a_row_in_matrix_order_then_the_approaches_run_elsewhere():
    away = (("Jetson", "needs a Jetson"),)
    assert ids(columns.rows(spec("approach", elsewhere=away), CELLS)) == [
        "a1__idx__p", "a2__idx__p", "b1__idx__p", "a3__idx__p", ("Jetson", "needs a Jetson")]
    assert ids(columns.select(spec("approach", elsewhere=away), CELLS)) == [c.id for c in CELLS]


def test_entries_name_approaches_or_match_ids_in_their_order_each_cell_once():
    plan = spec("approach", cells=["Second", "a*", "First", "Jetson"], elsewhere=(("Jetson", "needs a Jetson"),))
    assert ids(columns.rows(plan, CELLS)) == ["b1__idx__p", "a1__idx__p", "a2__idx__p", "a3__idx__p",
                                              ("Jetson", "needs a Jetson")]
    assert ids(columns.select(plan, CELLS)) == ["b1__idx__p", "a1__idx__p", "a2__idx__p", "a3__idx__p"]


def test_an_approach_name_wins_over_a_pattern_and_a_pattern_is_case_sensitive():
    named = [make_cell("x", approach="a*"), make_cell("a9")]
    assert ids(columns.select(spec("cell", cells=["a*"]), named)) == ["x__idx__p"]
    assert ids(columns.select(spec("cell", cells=["A*"]), CELLS)) == []
    assert ids(columns.select(spec("cell", cells=["a?__idx__p"]), CELLS)) == ["a1__idx__p", "a2__idx__p",
                                                                             "a3__idx__p"]


def test_an_approach_run_elsewhere_is_a_row_where_the_entries_name_it():
    plan = spec("approach", cells=["First", "Jetson", "Second"], elsewhere=(("Jetson", "needs a Jetson"),))
    assert ids(columns.rows(plan, CELLS)) == ["a1__idx__p", ("Jetson", "needs a Jetson"), "b1__idx__p"]


# --- the rendered table ---------------------------------------------------------------------------------

def test_the_plan_table_of_the_smoke_run(smoke, timeline):
    [plan] = smoke.tables
    shown = lines(columns.render(plan, smoke.cells, timeline))
    assert shown[0] == ["Approach", "Build Time", "Image size", "Run Time", "Notes"]
    by_name = {row[0]: row[1:] for row in shown[1:]}
    assert list(by_name) == list(plan.cells)
    assert by_name["Minimal + runtime"][:3] == ["cold 10.6 s, cached 0.4 s", "190.7 MB", "64.5 s"]
    why = dict(plan.elsewhere)["Jetson wheels"]
    assert by_name["Jetson wheels"] == ["—", "—", "—", f"**not run here**: {why}"]


def test_a_row_without_a_result_and_a_row_run_elsewhere_say_so_where_a_verdict_would_be():
    plan = spec("approach", "verdict", "summary", "notes", "cell", "build",
                cells=["First", "Jet|son"], elsewhere=(("Jet|son", "needs a | Jetson"),))
    shown = lines(columns.render(plan, CELLS, {}))
    assert shown[0] == ["Approach", "Verdict", "Summary", "Notes", "Cell", "Build Time"]
    assert shown[1] == ["First", "not run yet", "not run yet", "not run yet", "`a1__idx__p`", "—"]
    here = "**not run here**: needs a \\| Jetson"
    assert shown[2] == ["Jet\\|son", here, here, here, "—", "—"]
    assert columns.not_here_text("x") == "**not run here**: x"


def test_names_that_look_like_numbers_are_shown_as_written():
    """Package sets named by torch release (`2.10`, `2.13`) are not numbers to reformat (`2.1`)."""
    cells = [make_cell("b", packages="2.10"), make_cell("b", packages="2.13")]
    shown = lines(columns.render(spec("packages"), cells, {}))
    assert shown == [["Packages"], ["2.10"], ["2.13"]]


def test_a_cell_with_a_record_shows_it(timeline):
    [numpy] = timeline["bookworm-amd64__default__numpy"]
    cell = make_cell("c", approach="Compiled")
    shown = lines(columns.render(spec("approach", "verdict", "summary", "notes", "expected"), [cell],
                                 {cell.id: [numpy]}))
    assert shown[1][:3] == ["Compiled", "pass", "pass"] and shown[1][4] == "yes"
    assert shown[1][3].startswith("reused: measured 2026-12-06")  # its notes, not "not run yet"
