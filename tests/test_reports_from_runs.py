"""The reports a team reads, each produced from real runs: two runs of real cells on the host backend
(fixture wheels in fresh venvs, the same driver and probe as in containers), the second after the
fixture index dropped the module torchtune imports. Then the declared plan table in a document, the
history the store keeps, JUnit (checked against the schema CI tools read), the GitHub job summary,
`diff` as a gate, and the HTML report, rendered in headless Chromium as a person would see it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
from wheels import TORCHAO_WITHOUT_QUANTIZATION, fixture_chain, make_wheel

from harness.matrix import reader
from harness.model import Arch
from harness.reports import columns, documents, table
from harness.results import store

JUNIT_XSD = Path(__file__).parent / "data" / "junit" / "junit-10.xsd"
CHAIN = "native__fixtures__chain"
TORCH = "native__fixtures__torch-only"
MISSING = "native__fixtures__missing"
OTHER = "other__fixtures__chain"

MATRIX = """
[matrix]
name = "reports"
timeout = 300
images = ["native"]
packages = ["chain", "torch-only"]

[[matrix.include]]
image = "native"
index = "fixtures"
packages = "chain"
approach = "Fixture wheels"

[[matrix.include]]
image = "native"
index = "fixtures"
packages = "torch-only"
approach = "Torch | alone"

[[matrix.include]]
image = "native"
index = "fixtures"
packages = "missing"
approach = "Missing wheel"
expect = "no-distribution"
why = "the fixture index has no such distribution"

[[matrix.include]]
image = "other"
index = "fixtures"
packages = "chain"

[images.native]
local_build = "debian-bookworm"
platform = "{native}"

[images.other]
local_build = "debian-bookworm"
platform = "{other}"

[indexes.fixtures]
find_links = ["{wheelhouse}"]
no_index = true

[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = ["torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training"]
checks = []

[packages.torch-only]
requirements = ["torch"]
modules = ["torch"]
checks = []

[packages.missing]
requirements = ["torch", "no-such-dist-xyz"]
modules = ["torch"]
checks = []

[tables.plan]
title = "Approaches"
cells = ["Missing wheel", "Fixture wheels", "native__*__torch-only"]
columns = [
    { value = "approach", header = "Approach" },
    { value = "build", header = "Build Time" },
    { value = "run", header = "Run Time" },
    { value = "summary", header = "Notes" },
]
"""

PLAN_DOC = """# Our plan

Hand-written intro | with a pipe.

<!-- wheel-harness:begin table matrix=reports name=plan -->
| Approach | Build Time | Run Time | Notes |
|---|---|---|---|
| TBD | TBD | TBD | TBD |
<!-- wheel-harness:end table matrix=reports name=plan -->

Conclusions stay.
"""


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=cwd)


class Runs:
    """Where the two real runs left everything."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.matrix = root / "reports.toml"
        self.results = root / "results"
        self.folder = self.results / "reports"
        self.first = root / "first-run"  # a copy of the results folder after the first run
        self.doc = root / "plan.md"
        self.outputs: list[subprocess.CompletedProcess] = []

    def summary(self, n: int) -> Path:
        return self.root / f"summary-{n}.md"

    def junit(self, n: int) -> Path:
        return self.root / f"junit-{n}.xml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    root = tmp_path_factory.mktemp("reports")
    r = Runs(root)
    wheelhouse = fixture_chain(root / "wheels")
    native = Arch.native()
    other = Arch.ARM64 if native is Arch.AMD64 else Arch.AMD64
    r.matrix.write_text(MATRIX.replace("{native}", native.platform).replace("{other}", other.platform)
                        .replace("{wheelhouse}", str(wheelhouse)))
    r.doc.write_text(PLAN_DOC)
    for n in (1, 2):
        if n == 2:  # the index drops the module torchtune imports: a newer torchao without it
            shutil.copytree(r.folder, r.first)
            for old in wheelhouse.glob("torchao-*.whl"):
                old.unlink()
            make_wheel(wheelhouse, "torchao", "0.19.0", TORCHAO_WITHOUT_QUANTIZATION, requires=("torch",))
        done = cli("run", str(r.matrix), "--backend", "host", "--results", str(r.results), "--doc", str(r.doc),
                   "--junit", str(r.junit(n)), env={"GITHUB_STEP_SUMMARY": str(r.summary(n))})
        r.outputs.append(done)
    return r


def test_the_two_runs_exit_as_their_verdicts_say(runs):
    first, second = runs.outputs
    assert first.returncode == 0, first.stdout + first.stderr
    assert "as expected native__fixtures__missing: no-distribution" in first.stdout
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"UNEXPECTED {CHAIN}: import-failed (expected pass)" in second.stdout


# --- the store keeps the history ---------------------------------------------------------------------


def test_the_latest_record_stays_in_place_and_the_replaced_one_goes_to_the_history(runs):
    latest = {r["cell_id"]: r for r in store.load_results(runs.folder)}
    first = {r["cell_id"]: r for r in store.load_results(runs.first)}
    assert set(latest) == {CHAIN, TORCH, MISSING, OTHER}
    assert (latest[CHAIN]["verdict"], first[CHAIN]["verdict"]) == ("import-failed", "pass")
    [first_run] = {r["run_id"] for r in first.values()}
    [second_run] = {r["run_id"] for r in latest.values()}
    assert first_run < second_run
    assert store.history_runs(runs.folder) == [first_run]
    archived = runs.folder / "history" / first_run
    assert sorted(p.name for p in archived.iterdir()) == sorted(f"{c}.json" for c in first)
    assert json.loads((archived / f"{CHAIN}.json").read_text()) == first[CHAIN]
    timeline = store.load_timeline(runs.folder)
    assert [r["verdict"] for r in timeline[CHAIN]] == ["pass", "import-failed"]
    assert [r["run_id"] for r in timeline[TORCH]] == [first_run, second_run]
    # the latest record is where it always was (a cache reads it there), and only it
    assert store.load_results(runs.folder) == [timeline[c][-1] for c in sorted(timeline)]


def test_the_history_is_bounded(runs, tmp_path):
    """Each later run moves the record it replaces into the history; only the newest runs stay."""
    from harness.model import CellResult, Verdict

    record = store.load_results(runs.folder)[0]
    fields = {k: record[k] for k in ("matrix", "cell_id", "backend", "started_at", "finished_at", "cell",
                                     "timings", "probe", "host")}
    for n in range(5):
        store.write_result(tmp_path, CellResult(run_id=f"2026010{n}T000000Z-aaaaaa", verdict=Verdict.PASS,
                                                **fields), keep_runs=2)
    assert store.history_runs(tmp_path) == ["20260102T000000Z-aaaaaa", "20260103T000000Z-aaaaaa"]
    assert [r["run_id"] for r in store.load_results(tmp_path)] == ["20260104T000000Z-aaaaaa"]
    # rewriting a record within the same run archives nothing
    store.write_result(tmp_path, CellResult(run_id="20260104T000000Z-aaaaaa", verdict=Verdict.CRASHED, **fields),
                       keep_runs=2)
    assert store.history_runs(tmp_path) == ["20260102T000000Z-aaaaaa", "20260103T000000Z-aaaaaa"]


def test_read_results_takes_a_folder_or_a_file_of_records(runs, tmp_path):
    records = store.load_results(runs.folder)
    merged = tmp_path / "merged.json"
    merged.write_text(json.dumps({"results": records}))
    assert store.read_results(merged) == store.read_results(runs.folder) == records
    single = tmp_path / "one.json"
    single.write_text(json.dumps(records[0]))
    assert store.read_results(single) == [records[0]]
    from harness.errors import ReportError

    (tmp_path / "bad.json").write_text('{"results": [{"no": "cell id"}]}')
    with pytest.raises(ReportError, match=r"bad\.json: results\[0\] is not a result record"):
        store.read_results(tmp_path / "bad.json")


# --- the declared table ------------------------------------------------------------------------------


def plan_block(text: str) -> list[str]:
    begin = documents.begin_marker("reports", "plan")
    end = documents.end_marker("reports", "plan")
    return text[text.index(begin) + len(begin):text.index(end)].strip().splitlines()


def test_the_plan_document_gets_exactly_its_table_back_filled(runs):
    text = runs.doc.read_text()
    assert text.startswith("# Our plan\n\nHand-written intro | with a pipe.\n\n")
    assert text.endswith("\nConclusions stay.\n")
    assert documents.begin_marker("reports") not in text  # its own table only, not the standard one
    lines = plan_block(text)
    assert re.fullmatch(r"\| Approach +\| Build Time +\| Run Time +\| Notes +\|", lines[0])
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]
    # in the order the table names them: an approach name, another, a cell-id pattern
    assert [r[0] for r in rows] == ["Missing wheel", "Fixture wheels", "Torch \\| alone"]
    latest = {r["cell_id"]: r for r in store.load_results(runs.folder)}
    chain = latest[CHAIN]
    assert rows[1][1] == "no image (host backend)"
    expected_run = chain["timings"]["install"] + chain["timings"]["probe"]
    assert rows[1][2] == table.format_seconds(expected_run)
    assert rows[1][3].startswith("**import-failed** (expected pass): torchao 0.19.0 has no module "
                                 "torchao.quantization")
    assert rows[0][3].startswith("**no-distribution** (as expected): ")
    assert rows[2][3] == "pass"


def test_the_results_readme_gets_the_standard_table_and_the_declared_one(runs):
    readme = (runs.folder / "README.md").read_text()
    assert documents.begin_marker("reports") in readme
    assert "## Approaches\n\n" + documents.begin_marker("reports", "plan") in readme
    # the standard table names each cell with its approach
    assert f"Fixture wheels (`{CHAIN}`)" in readme


def test_a_table_declared_with_mistakes_is_refused_line_by_line(runs, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(runs.matrix.read_text().replace('"Missing wheel", "Fixture wheels"', '"Missing wheels"')
                   .replace('{ value = "run", header = "Run Time" }', '{ value = "runtime", header = "Run Time" }')
                   .replace('approach = "Torch | alone"', 'approach = "Fixture wheels"'))
    problems = [str(p) for p in reader.validate(bad)]
    assert f"{bad}: tables.plan.cells[0]: 'Missing wheels' is no approach name and matches no cell id " \
           "(did you mean 'Missing wheel'?)" in problems
    assert any(p.startswith(f"{bad}: tables.plan.columns[2].value: unknown column 'runtime' (did you mean 'run'?)")
               for p in problems), problems
    assert any(p.startswith(f"{bad}: matrix.include[1].approach: 'Fixture wheels' already names cell {CHAIN}")
               for p in problems), problems


def test_every_declarable_column_has_a_renderer():
    """Its row in the docs' matrix reference: tests/test_docs.py."""
    from harness.model import TABLE_COLUMNS

    assert set(columns.COLUMNS) == set(TABLE_COLUMNS)


# --- JUnit -------------------------------------------------------------------------------------------


def test_junit_from_a_real_run_meets_the_schema_and_says_what_failed(runs):
    import xml.etree.ElementTree as ET

    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    for n in (1, 2):
        schema.validate(str(runs.junit(n)))
    root = ET.parse(runs.junit(2)).getroot()
    [suite] = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("reports", "4", "1", "0", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {CHAIN, TORCH, MISSING, OTHER}
    assert {c.get("classname") for c in cases.values()} == {"reports"}
    latest = {r["cell_id"]: r for r in store.load_results(runs.folder)}
    [failure] = cases[CHAIN].findall("failure")
    assert failure.get("type") == "import-failed"
    assert failure.get("message") == f"import-failed: {latest[CHAIN]['evidence'][0]} (expected pass)"
    assert failure.text.splitlines() == [*latest[CHAIN]["evidence"], f"hint: {latest[CHAIN]['hint']}"]
    assert cases[MISSING].find("failure") is None  # the known-bad cell got its expected verdict
    assert cases[OTHER].find("skipped").get("message") == latest[OTHER]["evidence"][0]
    assert list(cases[TORCH]) == [cases[TORCH].find("system-out")]  # passed
    assert float(cases[CHAIN].get("time")) == pytest.approx(latest[CHAIN]["timings"]["total"], abs=0.001)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props[f"{CHAIN}.version.torch"] == "2.13.0"
    assert props[f"{CHAIN}.version.torchao"] == "0.19.0"
    assert props[f"{CHAIN}.approach"] == "Fixture wheels"
    assert float(props[f"{CHAIN}.time.install"]) == pytest.approx(latest[CHAIN]["timings"]["install"], abs=0.001)
    assert f"{CHAIN}.time.import.torch" in props
    assert props["run_id"] == latest[CHAIN]["run_id"]


# --- the GitHub job summary --------------------------------------------------------------------------


def test_the_job_summary_says_what_broke_with_evidence_and_hint(runs):
    first = runs.summary(1).read_text()
    assert first.startswith("### wheel-harness: reports\n\n4 cells: 2 pass, 1 no-distribution, 1 skipped")
    assert "Every cell got its expected verdict." in first
    second = runs.summary(2).read_text()
    latest = {r["cell_id"]: r for r in store.load_results(runs.folder)}
    [run_id] = {r["run_id"] for r in latest.values()}
    assert table.summary_line(list(latest.values()), run_id=run_id) in second  # "…; 4 ran, 0 reused; …"
    assert f"- Fixture wheels: `{CHAIN}`: **import-failed**, expected pass" in second
    for line in latest[CHAIN]["evidence"]:
        assert f"  {line}" in second
    assert f"  hint: {latest[CHAIN]['hint']}" in second
    unexpected = second.split("without their expected verdict")[1].split("| Cell / approach")[0]
    assert CHAIN in unexpected and MISSING not in unexpected  # a cell with its expected verdict is not listed
    assert "| Cell / approach" in second  # and the table


def test_no_job_summary_outside_github_actions(runs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    done = subprocess.run([sys.executable, "-m", "harness", "table", str(runs.matrix), "--results",
                           str(runs.results)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "job summary" not in done.stdout and list(tmp_path.iterdir()) == []


# --- diff: the regression gate -----------------------------------------------------------------------


def test_diff_exits_1_and_names_the_regression(runs, tmp_path):
    out = tmp_path / "diff.md"
    summary = tmp_path / "summary.md"
    done = cli("diff", str(runs.first), str(runs.folder), "--output", str(out),
               env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 1, done.stdout + done.stderr
    text = out.read_text()
    assert text == done.stdout
    assert not summary.exists()  # stdout is for `>> "$GITHUB_STEP_SUMMARY"`: never written twice
    assert "**1 regression**, 0 fixes" in text
    regressions = text.split("### Regressions")[1].split("###")[0]
    assert f"| Fixture wheels: `{CHAIN}` | pass | import-failed (expected pass) | import torchao.quantization" \
           in regressions
    assert TORCH not in regressions and MISSING not in regressions
    versions = text.split("### Version changes")[1].split("###")[0]
    assert "torchao 0.18.0 → 0.19.0" in versions


def test_diff_without_a_regression_exits_0_and_reads_the_other_way_as_a_fix(runs):
    same = cli("diff", str(runs.folder), str(runs.folder))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "0 regressions, 0 fixes" in same.stdout
    back = cli("diff", str(runs.folder), str(runs.first))
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"| Fixture wheels: `{CHAIN}` | import-failed (expected pass) | pass |" in back.stdout.split("### Fixes")[1]


def test_diff_of_a_folder_that_is_not_there_or_empty_says_so(runs, tmp_path):
    done = cli("diff", str(runs.first), str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "nope: no such results folder or file" in done.stderr
    (tmp_path / "empty" / "smoke").mkdir(parents=True)
    empty = cli("diff", str(runs.first), str(tmp_path / "empty"))  # never "nothing changed"
    assert empty.returncode == 2 and "empty: no result records here or in its matrix folders" in empty.stderr


def test_diff_and_report_read_a_results_root_as_ci_passes_it(runs, tmp_path):
    """The workflow hands over results roots (results/, holding results/<matrix>/), not matrix folders."""
    old_root = tmp_path / "baseline"
    shutil.copytree(runs.first, old_root / "reports")
    done = cli("diff", str(old_root), str(runs.results), "--markdown")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"`{CHAIN}` | pass | import-failed (expected pass)" in done.stdout.split("### Regressions")[1]
    out = tmp_path / "report.html"
    page = cli("report", "--results", str(runs.results), "--out", str(out))  # no matrix named: every folder
    assert page.returncode == 0, page.stdout + page.stderr
    assert "<title>wheel-harness report: reports</title>" in out.read_text()


def test_diff_reports_new_and_vanished_cells_and_time_changes(runs):
    from harness.reports import diff

    old = store.load_results(runs.first)
    new = store.load_results(runs.folder)
    found = diff.compare([r for r in old if r["cell_id"] != TORCH], [r for r in new if r["cell_id"] != MISSING],
                         min_seconds=0.0, min_ratio=0.0)
    assert [c.key[1] for c in found.new_cells] == [TORCH]
    assert [c.key[1] for c in found.vanished] == [MISSING]
    assert {c.key[1] for c in found.times} >= {CHAIN}  # any change counts with no threshold
    strict = diff.compare(old, new, min_seconds=3600, min_ratio=0.0)
    assert strict.times == ()


# --- the HTML report ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(runs) -> Path:
    done = cli("report", str(runs.matrix), "--results", str(runs.results))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(4 cells, 1 earlier run(s) stored)" in done.stdout
    return runs.folder / "report.html"


def test_the_report_is_one_self_contained_page(report):
    html = report.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)  # nothing loaded from anywhere
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js is in the page


def test_the_report_grid_has_every_cell_with_its_evidence(runs, report):
    html = report.read_text()
    latest = {r["cell_id"]: r for r in store.load_results(runs.folder)}
    for cid, record in latest.items():
        match = re.search(rf'<td class="cell" title="([^"]*)"\s+data-cell="{cid}" data-verdict="([^"]+)"', html)
        assert match, cid
        assert match.group(2) == record["verdict"]
        if record["evidence"]:
            import html as html_mod

            assert record["evidence"][0] in html_mod.unescape(match.group(1))


def test_the_report_renders_in_chromium_as_a_person_sees_it(runs, report, chromium):
    """Headless Chromium with no name resolving: plotly draws every chart from the page alone. The test
    waits for what it checks (every chart drawn, the phase chart's legend: one entry per phase that took
    time in these records — a phase of no time, such as imports of tiny fixture modules that rounded to
    0.000 s, has none), not a time budget."""
    import json

    from harness.reports import html

    records = store.load_results(runs.folder)
    legend = [title for key, title in html.PHASES if any(html.phase_seconds(r).get(key) for r in records)]
    assert "install: resolve + download" in legend
    page = chromium.page()
    try:
        page.open(report.as_uri())
        dom = page.dom_when("[...document.querySelectorAll('div.chart')].length >= 3"
                            " && [...document.querySelectorAll('div.chart')].every(c => c.querySelector('.main-svg'))"
                            " && JSON.stringify([...document.querySelectorAll('#phase-chart .legendtext')]"
                            f".map(t => t.textContent)) === {json.dumps(json.dumps(legend, separators=(',', ':')))}",
                            state="[...document.querySelectorAll('div.chart')].map(c => c.id + (c.querySelector("
                                  "'.main-svg') ? ' drawn' : ' not drawn')).join(', ') + '; legend: ' + [..."
                                  "document.querySelectorAll('#phase-chart .legendtext')].map(t => t.textContent)"
                                  f".join('|') + '; expected: {'|'.join(legend)}'")
        data = page.screenshot(1280, 1800)
    finally:
        page.close()
    for chart in ("phase-chart", "size-chart", "history-chart"):
        section = dom.split(f'id="{chart}"')[1].split('class="chart"')[0]
        assert 'class="main-svg"' in section, f"{chart} was not drawn"
    phases = dom.split('id="phase-chart"')[1].split('id="size-chart"')[0]
    assert all(title in phases for title in legend)  # the legend plotly drew
    assert dom.count('class="point"') + dom.count("class=\"bars\"") > 0
    assert 'id="history-table"' in dom and "(verdict changed)" in dom
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 1800)
    assert len(data) > 50_000  # a page with charts, not a blank one


# --- the site GitHub Pages serves ---------------------------------------------------------------------


def test_the_site_has_a_page_per_matrix_and_a_permalink_per_cell(runs, chromium, tmp_path):
    site = tmp_path / "site"
    done = cli("report", "--results", str(runs.results), "--site", str(site))
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'href="reports/"' in (site / "index.html").read_text()
    latest = {r["cell_id"]: r for r in store.load_results(runs.folder)}
    assert {p.stem for p in (site / "reports" / "cells").glob("*.json")} == set(latest)
    assert json.loads((site / "reports" / "cells" / f"{CHAIN}.json").read_text()) == latest[CHAIN]
    page = (site / "reports" / "index.html").as_uri()
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", f"{page}#cell-{CHAIN}").stdout
    opened = re.findall(r'id="cell-([^"]+)"><details open', dom)
    assert opened == [CHAIN]  # the permalink opens that cell, and only it
    assert "history-table" in dom  # the history is on the matrix's page
