"""The plan table's rows and findings (harness.reports.columns, harness.reports.findings): pure logic on
numbers, and the whole block rendered from records of a real run of the smoke matrix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.matrix import reader
from harness.reports import columns, documents, findings, publish, table
from harness.results import store


@pytest.mark.parametrize(("value", "base", "text"), [
    (10.0, 60.0, "6× faster than"),
    (40.0, 60.0, "1.5× faster than"),
    (57.0, 60.0, "about as fast as"),
    (70.0, 60.0, "1.2× slower than"),
    (180.0, 60.0, "3× slower than"),
    (None, 60.0, None),
    (10.0, None, None),
    (0.0, 60.0, None),
])
def test_a_time_is_put_against_the_baselines(value, base, text):
    assert findings.faster(value, base) == text


@pytest.mark.parametrize(("value", "base", "text"), [
    (620, 1000, "38 % smaller than"),
    (1120, 1000, "12 % larger than"),
    (1004, 1000, "the same size as"),
    (None, 1000, None),
    (1000, 0, None),
])
def test_a_size_is_put_against_the_baselines(value, base, text):
    assert findings.smaller(value, base) == text


# --- the smoke matrix's plan, from a real run (recorded by tools/record_plan_results.py) ---------------

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "plan"
SEVEN = ["Original", "PyPI wheels", "Jetson wheels", "Pre-built cache", "Multi-stage", "Minimal + runtime",
         "Package-based"]
BUILT = ["Original", "Pre-built cache", "Multi-stage", "Package-based"]


@pytest.fixture(scope="module")
def smoke():
    m = reader.load(REPO / "matrices" / "smoke.toml")
    [spec] = m.tables
    timeline = store.load_timeline(DATA)
    latest = {c.approach: timeline[c.id][-1] for c in m.cells if c.id in timeline}
    return m, spec, timeline, latest


def rows(text: str) -> dict[str, list[str]]:
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ") and "---" not in line}


def test_the_recording_has_every_row_of_the_plan(smoke):
    m, spec, timeline, latest = smoke
    assert set(SEVEN) - {"Jetson wheels"} <= set(latest)
    for approach in BUILT:
        assert [b["how"] for b in latest[approach]["image"]["builds"]] == ["cold", "cached", "unchanged"], approach


def test_the_plan_table_shows_the_seven_approaches_first_with_what_each_measured(smoke):
    m, spec, timeline, latest = smoke
    shown = rows(columns.render(spec, m.cells, timeline))
    assert list(shown)[1:8] == SEVEN
    for approach in BUILT:
        record = latest[approach]
        cold, cached = (table.format_seconds(b["seconds"]) for b in record["image"]["builds"][:2])
        build, size, run, notes = shown[approach]
        assert build == f"cold {cold}, cached {cached}"
        assert size == table.format_bytes(record["image"]["size"])
        assert run == table.format_seconds(record["timings"]["container_start"] + record["timings"]["probe"])
    pypi = latest["PyPI wheels"]["timings"]
    assert shown["PyPI wheels"][2] == table.format_seconds(pypi["container_start"] + pypi["install"] + pypi["probe"])
    assert shown["Jetson wheels"] == ["—", "—", "—", shown["Jetson wheels"][3]]
    assert shown["Jetson wheels"][3].startswith("**not run here**: needs a Jetson")


def test_the_findings_put_each_approach_against_original_and_quote_each_failure(smoke):
    m, spec, timeline, latest = smoke
    text = findings.render(spec, m.cells, timeline)
    items = {line.split("**")[1]: line for line in text.splitlines() if line.startswith("- **")}
    assert set(SEVEN) <= set(items)
    original = latest["Original"]["image"]
    assert "Original's" not in items["Original"]  # the baseline is not put against itself
    for approach in BUILT[1:]:
        size = latest[approach]["image"]["size"]
        expected = findings.smaller(size, original["size"])
        assert f"image {table.format_bytes(size)}, {expected} Original's" in items[approach]
    pypi = items["PyPI wheels"]
    assert "(the packages are installed when the container starts, not in it)" in pypi and "(install included)" in pypi
    hint = latest["Original"]["hint"]
    assert f"Why: {hint}." in items["Original"]  # said once, in full; the rows with the same cause refer to it
    assert all(items[a].endswith("Why: as for **Original**.") for a in BUILT[1:] + ["PyPI wheels"])
    failed = latest["Newest torchao + torchtune"]
    assert items["Newest torchao + torchtune"].endswith(f"Evidence: `{failed['evidence'][0]}`")
    sections = [line for line in text.splitlines() if line.startswith("**")]
    assert sections == ["**What worked**", "**What worked, with a loss**", "**What didn't**", "**Not judged here**"]
    order = text.index
    assert order("**What didn't**") < order("- **Newest torchao + torchtune**") < order("**Not judged here**") \
        < order("- **Jetson wheels**: not run here: needs a Jetson")


def test_a_document_gets_the_table_and_the_findings_between_their_markers(smoke, tmp_path):
    m, spec, timeline, latest = smoke
    results = tmp_path / "smoke"
    shutil.copytree(DATA, results)
    doc = tmp_path / "plan.md"
    doc.write_text("# Plan\n\nOurs.\n\n" + "".join(
        f"{documents.begin_marker('smoke', 'plan', kind)}\nTBD\n{documents.end_marker('smoke', 'plan', kind)}\n\n"
        for kind in ("table", "findings")) + "Conclusions stay.\n")
    publish.matrix_tables(m, results, [doc], log=lambda _: None)
    text = doc.read_text()
    assert text.startswith("# Plan\n\nOurs.\n\n") and text.endswith("\n\nConclusions stay.\n") and "TBD" not in text
    assert columns.render(spec, m.cells, timeline) in text
    assert findings.render(spec, m.cells, timeline) in text
    assert documents.begin_marker("smoke") not in text  # a document with declared markers gets only those
