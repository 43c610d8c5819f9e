"""harness.files, results.store, reports.table and reports.documents: atomic writes, stored results, the
Markdown table, documents.

The golden table's inputs (tests/data/report/*.json) are results of a real run, written by the store's
own writer, and table.golden.md was rendered from them: `python tools/record_report.py` (Docker needed)
records both again, for a person to review in the diff. These tests never write either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import files
from harness.errors import ReportError
from harness.model import SCHEMA_VERSION, CellResult, Verdict
from harness.reports import documents, table
from harness.results import store

DATA = Path(__file__).parent / "data" / "report"
GOLDEN = DATA / "table.golden.md"


def make_result(cell_id: str = "img__idx__pkgs", **overrides) -> CellResult:
    fields = dict(
        matrix="demo",
        cell_id=cell_id,
        run_id="run-1",
        backend="docker",
        verdict=Verdict.PASS,
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:01:00+00:00",
        cell={},
        timings={"total": 1.5},
        probe={},
        host={},
    )
    fields.update(overrides)
    return CellResult(**fields)


# --- atomic writes -----------------------------------------------------------------------------------


def test_write_json_atomic_round_trips_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a" / "b" / "x.json"
    data = {"b": [1, 2], "a": "ü", "c": None}
    files.write_json_atomic(path, data)
    files.write_json_atomic(path, data | {"d": 1})  # replacing an existing file
    assert json.loads(path.read_text(encoding="utf-8")) == data | {"d": 1}
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_failed_write_removes_temp_and_keeps_old_file(tmp_path):
    path = tmp_path / "x.json"
    files.write_json_atomic(path, {"old": True})
    with pytest.raises(TypeError):
        files.write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_write_text_atomic_keeps_line_endings(tmp_path):
    path = tmp_path / "t.md"
    files.write_text_atomic(path, "a\r\nb\n")
    assert path.read_bytes() == b"a\r\nb\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]


def test_write_result_and_load_results(tmp_path):
    results_dir = tmp_path / "results" / "demo"
    path = store.write_result(results_dir, make_result("b__x__y"))
    store.write_result(results_dir, make_result("a__x__y", verdict=Verdict.CRASHED))
    (results_dir / "index.json").write_text('{"not": "a result"}')
    (results_dir / "list.json").write_text("[1, 2]")
    assert path == results_dir / "b__x__y.json"
    loaded = store.load_results(results_dir)
    assert [r["cell_id"] for r in loaded] == ["a__x__y", "b__x__y"]
    assert loaded[1] == make_result("b__x__y").to_json()


# --- loading errors ----------------------------------------------------------------------------------


def test_load_results_bad_json_names_the_file(tmp_path):
    store.write_result(tmp_path, make_result())
    (tmp_path / "broken.json").write_text('{"cell_id": ')
    with pytest.raises(ReportError, match=r"broken\.json: not valid JSON.*re-run"):
        store.load_results(tmp_path)


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, None, "x"])
def test_load_results_wrong_schema_version_names_the_file(tmp_path, version):
    data = make_result("old").to_json()
    data["schema_version"] = version
    files.write_json_atomic(tmp_path / "old.json", data)
    with pytest.raises(ReportError, match=rf"old\.json: schema_version.*reads version {SCHEMA_VERSION}"):
        store.load_results(tmp_path)


def test_load_results_accepts_minor_versions(tmp_path):
    data = make_result("new").to_json() | {"schema_version": f"{SCHEMA_VERSION}.3"}
    files.write_json_atomic(tmp_path / "new.json", data)
    assert [r["cell_id"] for r in store.load_results(tmp_path)] == ["new"]


def test_load_results_reads_version_1_records_as_verdicts(tmp_path):
    """Results written before verdicts (schema 1, `outcome`) still load and render."""
    data = make_result("old").to_json()
    data = {k: v for k, v in data.items() if k not in ("verdict", "evidence", "hint")}
    data.update(schema_version=1, outcome="import-failed")
    files.write_json_atomic(tmp_path / "old.json", data)
    [loaded] = store.load_results(tmp_path)
    assert (loaded["verdict"], loaded["evidence"], loaded["hint"]) == ("import-failed", [], None)
    assert "outcome" not in loaded


def test_load_results_missing_folder(tmp_path):
    with pytest.raises(ReportError, match="no such results folder"):
        store.load_results(tmp_path / "nope")


# --- table -------------------------------------------------------------------------------------------


def test_the_golden_inputs_are_records_as_the_harness_writes_them():
    """Recorded from one real run (tools/record_report.py): the current schema, every field a result
    has and no other, and the verdicts the table must show."""
    records = store.load_results(DATA)
    fields = set(make_result().to_json())
    assert [set(r) for r in records] == [fields] * len(records)
    assert {r["schema_version"] for r in records} == {SCHEMA_VERSION}
    assert len({r["run_id"] for r in records}) == 1 and {r["backend"] for r in records} == {"docker"}
    assert sorted(r["verdict"] for r in records) == ["degraded", "image-unavailable", "import-failed",
                                                     "no-distribution", "pass", "pass"]
    assert all(r["prediction"] for r in records)  # uv's prediction was stored with every result


def test_table_matches_golden():
    rendered = table.render_table(store.load_results(DATA)) + "\n"
    assert rendered == GOLDEN.read_text(encoding="utf-8")


def test_summary_line():
    results = store.load_results(DATA)
    assert table.summary_line(results) == (
        "6 cells: 2 pass, 1 degraded, 1 import-failed, 1 no-distribution, 1 image-unavailable "
        "(1 not a finding about the packages: infrastructure); slowest: bookworm-amd64__broken__chain (13.0 s)"
    )
    assert table.summary_line([]) == "0 cells"
    assert table.summary_line([{"cell_id": "a", "verdict": "pass", "timings": {}}]) == "1 cell: 1 pass"
    infra = [{"cell_id": "a", "verdict": "pass"}, {"cell_id": "b", "verdict": "index-unreachable"},
             {"cell_id": "c", "verdict": "timeout"}]
    assert table.summary_line(infra) == ("3 cells: 1 pass, 1 index-unreachable, 1 timeout "
                                          "(2 not a finding about the packages: infrastructure)")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0.0 s"), (12.34, "12.3 s"), (119.9, "119.9 s"), (125.4, "2 min 05 s"), (3600, "60 min 00 s"),
     (None, "—"), ("3", "—")],
)
def test_format_seconds(seconds, text):
    assert table.format_seconds(seconds) == text


def test_row_for_a_result_without_probe():
    row = table.table_row({"cell_id": "a", "verdict": "install-failed", "timings": {}, "probe": None,
                            "evidence": ["ERROR: a | b", "second line"], "hint": "h" * 300, "notes": ["x" * 300]})
    assert row[1:7] == ["—", "—", "—", "—", "—", "**install-failed**"]
    assert row[7] == "ERROR: a \\| b"  # the first evidence line only, its pipe escaped for Markdown
    assert len(row[8]) == table.HINT_MAX and row[8].endswith("…")
    assert row[9] == "—"  # no plan stored with this result
    assert len(row[10]) == table.NOTES_MAX and row[10].endswith("…")


def test_install_column_shows_what_was_downloaded():
    result = {"timings": {"install": 45.2}, "install": {"downloaded_bytes": 190_512_000}}
    assert table.install_text(result) == "45.2 s (190.5 MB down)"
    assert table.install_text({"timings": {"install": 3.0}, "install": {"downloaded_bytes": 0}}) == "3.0 s"
    assert [table.format_bytes(n) for n in (512, 2048, None)] == ["512 B", "2.0 kB", "—"]


def test_plan_column_says_where_the_plan_and_the_run_differ():
    installed = {"items": [{"name": "torch", "version": "2.13.0+cpu"}, {"name": "torchao", "version": "0.15.0"}]}
    ok = {"outcome": "installs", "versions": {"torch": "2.13.0+cpu", "torchao": "0.15.0"}}
    assert table.plan_text({"verdict": "degraded", "prediction": ok, "install": installed}) == "agrees"
    other = {"outcome": "installs", "versions": {"torch": "2.13.0", "torchao": "0.15.0"}}
    assert table.plan_text({"verdict": "pass", "prediction": other, "install": installed}) == (
        "**versions differ from the plan: torch 2.13.0+cpu (plan: 2.13.0)**")
    wrong = {"outcome": "no-distribution", "versions": {}}
    assert table.plan_text({"verdict": "pass", "prediction": wrong}) == (
        "**plan predicted no-distribution, the run was pass**")
    # infrastructure verdicts say nothing about the install: no comparison
    assert table.plan_text({"verdict": "timeout", "prediction": wrong}) == "not compared"
    assert table.plan_text({"verdict": "pass", "prediction": {"outcome": "unknown"}}) == "not compared"
    assert table.plan_text({"verdict": "pass"}) == "—"


def test_cuda_text_variants():
    def cuda(torch):
        return table.cuda_text({"probe": {"torch": torch}})

    assert cuda({"cuda_version": None}) == "no (CPU build)"
    assert cuda({"cuda_version": "12.6", "cuda_available": False}) == "no (CUDA 12.6 build, no GPU)"
    assert cuda({"cuda_version": "12.6", "cuda_available": True,
                 "devices": [{"name": "Orin", "capability": "8.7"}]}) == "yes 12.6, Orin (8.7)"
    assert cuda({"cuda_version": "12.6", "cuda_available": True, "devices": []}) == "yes 12.6"
    assert cuda(None) == "—"


# --- regenerate --------------------------------------------------------------------------------------

TABLE_1 = "| a | b |\n|---|---|\n| 1 | 2 |"
TABLE_2 = "| a | b |\n|---|---|\n| 3 | 4 |"


def test_regenerate_creates_the_document(tmp_path):
    doc = tmp_path / "docs" / "results.md"
    assert documents.regenerate(doc, "demo", TABLE_1) is True
    text = doc.read_text()
    assert text.startswith("# Results: demo\n\n")
    assert "`wheel-harness table` regenerates it" in text
    assert text.endswith(f"{documents.begin_marker('demo')}\n{TABLE_1}\n{documents.end_marker('demo')}\n")
    assert documents.regenerate(tmp_path / "t.md", "demo", TABLE_1, title="Jetson")
    assert (tmp_path / "t.md").read_text().startswith("# Jetson\n")


def test_regenerate_is_idempotent(tmp_path):
    doc = tmp_path / "results.md"
    documents.regenerate(doc, "demo", TABLE_1)
    before = doc.read_bytes()
    os.utime(doc, ns=(1_000_000_000, 1_000_000_000))
    assert documents.regenerate(doc, "demo", TABLE_1) is False
    assert doc.stat().st_mtime_ns == 1_000_000_000
    assert doc.read_bytes() == before


def test_regenerate_preserves_surrounding_text_byte_for_byte(tmp_path):
    doc = tmp_path / "results.md"
    head = "# Mine\r\n\r\nHand-written  text, trailing spaces   \n\tand tabs ü\n"
    tail = "\nConclusions stay.\n\n\n<!-- other comment -->\nno final newline"
    old_body = "| stale |\n|---|\n"
    doc.write_bytes((head + documents.begin_marker("demo") + "\n" + old_body + documents.end_marker("demo")
                     + tail).encode())
    assert documents.regenerate(doc, "demo", TABLE_2) is True
    expected = head + documents.begin_marker("demo") + "\n" + TABLE_2 + "\n" + documents.end_marker("demo") + tail
    assert doc.read_bytes() == expected.encode()
    assert documents.regenerate(doc, "demo", TABLE_2) is False


def test_regenerate_appends_when_no_markers(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("# Project\n\nIntro.")
    assert documents.regenerate(doc, "demo", TABLE_1) is True
    assert doc.read_text() == (
        f"# Project\n\nIntro.\n\n{documents.begin_marker('demo')}\n{TABLE_1}\n{documents.end_marker('demo')}\n"
    )


def test_two_matrices_share_one_document(tmp_path):
    doc = tmp_path / "results.md"
    documents.regenerate(doc, "jetson", TABLE_1)
    documents.regenerate(doc, "x86", TABLE_1)
    assert documents.regenerate(doc, "jetson", TABLE_2) is True
    text = doc.read_text()
    jetson = text.index(documents.begin_marker("jetson"))
    x86 = text.index(documents.begin_marker("x86"))
    assert text[jetson:x86].count(TABLE_2) == 1 and TABLE_1 not in text[jetson:x86]
    assert text[x86:].count(TABLE_1) == 1
    assert documents.regenerate(doc, "x86", TABLE_1) is False
    assert documents.regenerate(doc, "jetson", TABLE_2) is False


def test_missing_end_marker_names_file_and_line(tmp_path):
    doc = tmp_path / "results.md"
    doc.write_text(f"# T\n\n{documents.begin_marker('demo')}\n| old |\n")
    with pytest.raises(ReportError, match=r"results\.md:3: .*no matching"):
        documents.regenerate(doc, "demo", TABLE_1)
    assert doc.read_text() == f"# T\n\n{documents.begin_marker('demo')}\n| old |\n"


def test_duplicate_marker_names_file_and_line(tmp_path):
    doc = tmp_path / "results.md"
    block = f"{documents.begin_marker('demo')}\n{documents.end_marker('demo')}\n"
    doc.write_text(f"# T\n{block}\n{block}")
    with pytest.raises(ReportError, match=r"results\.md:5: duplicate marker"):
        documents.regenerate(doc, "demo", TABLE_1)
