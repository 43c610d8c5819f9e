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


def test_a_results_cause_is_kept_and_a_record_from_before_causes_still_reads(tmp_path):
    cause = {"kind": "missing-library", "library": "libGL.so.1", "package": "libgl1"}
    store.write_result(tmp_path, make_result(verdict=Verdict.IMPORT_FAILED, cause=cause))
    [loaded] = store.load_results(tmp_path)
    assert loaded["cause"] == cause and CellResult.from_json(loaded).cause == cause
    older = json.loads((DATA.parent / "results" / "smoke-uv.torchao-0.16.0.json").read_text())  # a real record
    assert "cause" not in older
    assert CellResult.from_json(store.migrate(older, "older.json")).cause is None


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
    slowest = max(results, key=lambda r: r["timings"]["total"])  # the recording decides which: re-recorded at will
    assert table.summary_line(results) == (
        "6 cells: 2 pass, 1 degraded, 1 import-failed, 1 no-distribution, 1 image-unavailable "
        f"(1 not a finding about the packages: infrastructure); slowest: {slowest['cell_id']} "
        f"({slowest['timings']['total']:.1f} s)"
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


# --- the table's values, one by one, on real records -----------------------------------------------------

PLAN = DATA.parent / "plan"  # the smoke matrix's plan run (tools/record_plan_results.py)
LOGS = DATA.parent / "logs"


def recorded(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("seconds", "text"), [(120, "2 min 00 s"), (125.6, "2 min 06 s"), (119.96, "120.0 s"),
                                                (True, "—")])
def test_two_minutes_and_more_are_minutes_and_rounded_seconds(seconds, text):
    assert table.format_seconds(seconds) == text


def test_the_run_column_is_the_probes_seconds_else_its_imports():
    chain = recorded(DATA, "bookworm-amd64__lan__chain")
    assert table.run_seconds(chain) == 0.079  # timings.probe
    assert table.run_seconds({"timings": {"probe": {"imports": 2.5, "checks": 1}}}) == 3.5  # phases of the probe
    imports = {k: v for k, v in chain["timings"].items() if k != "probe"}
    assert table.run_seconds({"timings": imports}) == pytest.approx(0.001)  # the recorded imports, added up
    assert table.run_seconds({"timings": {"imports": {"torch": 7.247, "torchao": 12.331}}}) == pytest.approx(19.578)
    assert table.run_seconds({"timings": {"probe": None, "imports": None}}) is None
    assert table.run_seconds({"timings": {"probe": True}}) is None  # not a number of seconds
    assert table.run_seconds({"timings": "3 s"}) is None
    assert table.run_seconds({"timings": {"imports": {"torch": "slow"}}}) is None


def test_the_versions_are_torchs_chain_then_what_the_cell_names():
    uv = recorded(DATA.parent / "results", "smoke-uv.torchao-0.15.0")  # 56 distributions installed
    assert table.versions_text(uv) == "torch 2.13.0+cpu, torchao 0.15.0, torchtune 0.6.1"
    numpy = recorded(PLAN, "bookworm-amd64__default__numpy")
    assert table.versions_text(numpy) == "numpy 2.4.6"  # asked for by name; pip and setuptools are not
    srcpkg = recorded(DATA, "bookworm-amd64__sdist__srcpkg")
    assert table.versions_text(srcpkg) == "srcpkg 1.0"
    assert table.versions_text({"probe": {"distributions": {"Torch": "2.13.0", "numpy": "2.4.6"}}}) == "torch 2.13.0"
    assert table.versions_text({"probe": {"distributions": {"pip": "23.0.1"}}}) == "—"
    assert table.versions_text({"probe": {"distributions": None}}) == "—"
    assert table.versions_text({"probe": "lost"}) == "—"


def test_the_names_shown_are_canonical_and_each_once():
    assert table.shown_names(["Opencv_Python>=4.10", "./wheels/edgeops-1.0.whl", "torchao==0.15.0", "numpy<2"]) == [
        "torch", "torchao", "torchtune", "opencv-python", "numpy"]  # a path is no name: skipped, the rest kept
    versions = {"cell": {"packages": {"requirements": ["opencv_python_headless>=4.10", "numpy<2"]}},
                "probe": {"distributions": {"opencv-python-headless": {"version": "4.10.0.84"}, "numpy": "1.26.4"}}}
    assert table.versions_text(versions) == "opencv-python-headless 4.10.0.84, numpy 1.26.4"
    assert table.versions_text({**versions, "cell": {"packages": "numpy"}}) == "—"  # not a declaration: the chain
    assert table.versions_text({**versions, "cell": None}) == "—"
    chain = {"probe": {"distributions": {"torch": "2.13.0", "numpy": "1.26.4"}}}
    assert table.versions_text({**chain, "cell": {"packages": {"name": "p"}}}) == "torch 2.13.0"  # none listed


def test_cuda_names_the_device_or_its_compute_capability():
    def cuda(device):
        return table.cuda_text({"probe": {"torch": {"cuda_version": "12.6", "cuda_available": True,
                                                    "devices": [device]}}})

    assert cuda({"name": "Orin", "capability": [8, 7]}) == "yes 12.6, Orin (8.7)"
    assert cuda({"name": "Orin", "capability": None}) == "yes 12.6, Orin"
    assert cuda({"capability": [8, 7]}) == "yes 12.6, sm 8.7"
    assert cuda({"capability": []}) == "yes 12.6"
    assert cuda("Orin") == "yes 12.6"  # not a device record
    recorded_cpu = recorded(DATA, "bookworm-amd64__lan__chain")
    assert table.cuda_text(recorded_cpu) == "no (CPU build)"


def test_a_verdict_other_than_pass_is_bold():
    assert table.verdict_text({"verdict": "pass"}) == "pass"
    assert table.verdict_text({"verdict": "degraded"}) == "**degraded**"
    assert table.verdict_text({}) == "**unknown**"


def real_checks(log: str) -> list[dict]:
    from harness.verdicts import events

    return [dict(c) for c in events.parse((LOGS / log).read_text()).checks]


def test_the_checks_column_counts_the_passed_and_names_the_first_two_that_broke():
    checks = real_checks("checks.real-chain.log")  # 8 checks, 5 passed: sdpa, wrong and a test failed
    assert table.checks_text({"checks": checks}) == "5/8: checks/sdpa.py failed, checks/wrong.py failed (+1)"
    two = [c for c in checks if c["check"] != "tests/test_two.py::test_adds_wrong"]
    assert table.checks_text({"checks": two}) == "5/7: checks/sdpa.py failed, checks/wrong.py failed"
    one = [c for c in two if c["check"] != "checks/wrong.py"]
    assert table.checks_text({"checks": one}) == "5/6: checks/sdpa.py failed"
    builtin = [c for c in checks if c.get("device")]  # torch, torchao, torchtune on the CPU
    assert table.checks_text({"checks": builtin}) == "3/3"
    assert table.checks_text({"checks": real_checks("checks.segv.log")}) == "0/1: checks/segv.py crashed"


def test_checks_that_could_not_apply_are_counted_apart():
    checks = real_checks("checks.real-chain.log")
    gpu = {"check": "torchao", "device": "cuda:0", "outcome": "not-applicable"}
    assert table.checks_text({"checks": [checks[0], gpu, gpu]}) == "1/1 (2 n/a)"
    failed_on_gpu = {"check": "torchao", "device": "cuda:0", "outcome": "failed"}
    assert table.checks_text({"checks": [failed_on_gpu, gpu]}) == "0/1: torchao [cuda:0] failed (1 n/a)"
    assert table.checks_text({"checks": [{"check": "a|b.py", "outcome": "failed"}]}) == "0/1: a\\|b.py failed"


def test_no_checks_is_a_dash():
    assert table.checks_text({"checks": []}) == "—"
    assert table.checks_text({"checks": None}) == "—"
    assert table.checks_text({"checks": ["torch"]}) == "—"  # not check records
    assert table.check_records({"checks": ({"check": "a"}, "b")}) == [{"check": "a"}]


def test_notes_say_the_reuse_and_the_caches_then_the_results_notes():
    numpy = recorded(PLAN, "bookworm-amd64__default__numpy")  # reused by the later run, measured in the first
    assert numpy["finished_at"] == "2026-12-06T03:46:03+00:00" and numpy["notes"] == []
    assert table.reuse_text(numpy) == "reused: measured 2026-12-06 03:46 UTC (run 20261206T031720Z-ec71e4)"
    assert table.notes_text(numpy) == ("reused: measured 2026-12-06 03:46 UTC (run 20261206T031720Z-ec71e4); "
                                       "cold cache (0 from cache, 1 downloaded)")
    multistage = recorded(PLAN, "smoke-multistage__wheelhouse__chain-2.13")  # no counts: nothing to install
    assert multistage["reused"] is None
    assert table.reuse_text(multistage) is None
    assert table.caches_text(multistage) == "cold cache"
    assert table.notes_text(multistage).startswith("cold cache; known-bad, as expected (degraded)")
    assert table.reuse_text({"reused": {"by_run": "r"}, "run_id": "q"}) == "reused: measured ? UTC (run q)"
    assert table.notes_text({"notes": "one note"}) == "one note"
    assert table.caches_text({"caches": {"state": None}}) is None
    assert table.caches_text({"caches": "warm"}) is None
    assert table.caches_text({"caches": {"state": "warm", "from_cache": 3}}) == "warm cache"


def test_long_evidence_and_hints_are_cut_with_an_ellipsis_and_blank_lines_skipped():
    evidence = ["   ", "x" * 200, "second"]
    text = table.evidence_text({"evidence": evidence})
    assert text == "x" * (table.EVIDENCE_SHOWN - 1) + "…"
    cut_at_a_space = "abc" + " word" * 40  # its first 139 characters end with a space
    assert table.evidence_text({"evidence": [cut_at_a_space]}) == "abc" + " word" * 27 + "…"  # no space before …
    assert table.evidence_text({"evidence": "one  line\n"}) == "one line"
    exact = "y" * table.HINT_MAX
    assert table.hint_text({"hint": exact}) == exact  # at the limit: whole
    assert table.hint_text({"hint": None}) == ""
    assert table.hint_text({"hint": ["a", "b"]}) == "a; b"


def test_the_install_column_adds_the_download_only_when_there_was_one():
    chain = recorded(DATA, "bookworm-amd64__lan__chain")
    assert table.install_text(chain) == "0.4 s (4.1 kB down)"  # 0.413 s, 4,100 bytes
    assert table.install_text({"timings": {"install": 3.0}, "install": {"downloaded_bytes": None}}) == "3.0 s"
    assert table.install_text({"timings": {"install": 3.0}, "install": "pip"}) == "3.0 s"
    assert table.install_text({}) == "—"
    assert table.format_bytes(True) == "—"


def test_a_cell_is_named_by_its_approach_and_by_its_machine_when_merged_from_several():
    assert table.cell_text({"cell_id": "a__b__c"}) == "`a__b__c`"
    named = {"cell_id": "a__b__c", "cell": {"approach": "PyPI | wheels"}}
    assert table.cell_text(named) == "PyPI \\| wheels (`a__b__c`)"
    assert table.approach_name({"cell": {"approach": ""}}) is None
    assert table.approach_name({"cell": "a__b__c"}) is None
    merged = {"cell_id": "a__b__c", "merged": {"hosts": 2, "host": "orin-1"}}
    assert table.cell_text(merged) == "`a__b__c` on orin-1"
    assert table.cell_text({**merged, "merged": {"hosts": 1, "host": "orin-1"}}) == "`a__b__c`"
    assert table.cell_text({**merged, "merged": {"host": "orin-1"}}) == "`a__b__c`"
    assert table.cell_text({}) == "`?`"


def test_the_build_column_says_how_the_image_was_made():
    original = recorded(PLAN, "smoke-original__wheelhouse__chain-2.13")  # built cold in 155.754 s
    assert table.table_row(original)[1] == "2 min 36 s (cold)"
    assert table.table_row(recorded(DATA, "bookworm-amd64__lan__chain"))[1] == "0.0 s"  # image_build None


def test_the_checks_column_comes_after_the_verdict_when_a_result_has_checks():
    chain, other = recorded(DATA, "bookworm-amd64__lan__chain"), recorded(DATA, "bookworm-amd64__sdist__srcpkg")
    lines = table.render_table([other, chain]).splitlines()
    headers = [h.strip() for h in lines[0].strip("|").split("|")]
    assert headers[6:9] == ["Verdict", "Checks", "Evidence"]
    assert [line.split("|")[8].strip() for line in lines[2:]] == ["—", "1/1"]
    row = table.table_row(chain, checks=True)
    assert row[6:8] == ["pass", "1/1"] and len(row) == len(table.HEADERS) + 1
    assert "Checks" not in table.render_table([other])


def test_the_summary_orders_verdicts_as_the_model_does_unknown_ones_last():
    results = [{"cell_id": c, "verdict": v} for c, v in
               (("a", "zz-new"), ("b", "import-failed"), ("c", "pass"), ("d", "aa-new"), ("e", None))]
    # "unknown" (no verdict) is no verdict of the model's either: after them, by name
    assert table.summary_line(results) == "5 cells: 1 pass, 1 import-failed, 1 aa-new, 1 unknown, 1 zz-new"


def test_the_summary_says_how_many_cells_the_run_ran_and_reused():
    timeline = store.load_timeline(PLAN)
    latest = [records[-1] for records in timeline.values()]
    later_run = "20261206T035048Z-ea83ac"  # it reused the five cells whose inputs had not changed
    line = table.summary_line(latest, run_id=later_run)
    assert line == ("10 cells: 3 pass, 6 degraded, 1 import-failed; 5 ran, 5 reused; "
                    "slowest: bookworm-arm64__default__numpy (6 min 43 s)")  # 402.581 s
    assert "; 10 ran, 0 reused" in table.summary_line(latest, run_id="another")


def test_the_slowest_of_two_as_slow_is_the_first_by_id():
    results = [{"cell_id": "b", "verdict": "pass", "timings": {"total": 5}},
               {"cell_id": "a", "verdict": "pass", "timings": {"total": 5}},
               {"cell_id": "c", "verdict": "pass", "timings": {"total": 4.9}}]
    assert table.summary_line(results).endswith("; slowest: a (5.0 s)")
    assert table.summary_line(results[2:]) == "1 cell: 1 pass; slowest: c (4.9 s)"


def test_the_table_shows_a_text_that_looks_like_a_number_as_written():
    """Evidence quotes the cell's own output, which may be a bare number (a check printing a version)."""
    chain, other = recorded(DATA, "bookworm-amd64__lan__chain"), recorded(DATA, "bookworm-amd64__sdist__srcpkg")
    assert other["evidence"] == []
    rendered = table.render_table([other, dict(chain, evidence=["1.10"])])
    assert [line.split("|")[9].strip() for line in rendered.splitlines()[2:]] == ["", "1.10"]
