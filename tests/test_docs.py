"""The documentation site: it builds with --strict (a broken link fails), its home page renders in
headless Chromium as a person sees it, and its Reference pages are made from the code, so a change to
the parser, the reader or the verdicts reaches them without anyone editing a page."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import docs_reference  # noqa: E402


def build(root: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})})


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(ROOT, out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_every_page_of_the_nav_is_built_and_the_reference_is_generated(site):
    for page in ("index.html", "getting-started/index.html", "how-to/jetson-ci-runner/index.html",
                 "how-to/checks/index.html", "explanation/cache/index.html"):
        assert (site / page).is_file(), page
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "wheel-harness init" in cli and "--no-input" in cli
    assert "only_binary" in (site / "reference" / "matrix" / "index.html").read_text()
    assert "torch-replaced" in (site / "reference" / "verdicts" / "index.html").read_text()
    assert "fail-on-unexpected" in (site / "reference" / "action" / "index.html").read_text()


def test_a_broken_link_fails_the_build(tmp_path):
    copy = _copy(tmp_path)
    page = copy / "docs" / "how-to" / "checks.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    done = build(copy, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr


def test_the_home_page_renders_in_chromium(site, chromium, tmp_path):
    """Headless Chromium with no name resolving: the theme, the navigation and the picture come from
    the site alone."""
    home = (site / "index.html").as_uri()
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", home)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Getting started" in dom.stdout and "smoke-report.png" in dom.stdout
    assert 'class="md-nav' in dom.stdout  # Material's navigation was drawn
    shot = tmp_path / "home.png"
    done = chromium("--window-size=1280,1000", "--virtual-time-budget=5000", f"--screenshot={shot}", home)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 1000)
    assert len(data) > 60_000  # the page with its picture, not a blank one


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    for name in ("harness", "tools", "docs"):
        shutil.copytree(ROOT / name, copy / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("matrices", "dockerfiles"):  # what harness/resources links to
        shutil.copytree(ROOT / name, copy / name)
    for name in ("mkdocs.yml", "action.yml", "README.md"):  # the home page takes its opening from the README
        shutil.copy(ROOT / name, copy / name)
    return copy


def test_a_parser_change_reaches_the_cli_reference_page(tmp_path):
    """A copy of the repository whose parser gained an option: its site's CLI page has it, with its help."""
    copy = _copy(tmp_path)
    parser = copy / "harness" / "cli" / "parser.py"
    text = parser.read_text()
    anchor = '    run.add_argument("--junit"'
    assert anchor in text
    parser.write_text(text.replace(anchor, '    run.add_argument("--frobnicate", metavar="LEVEL", '
                                           'help="frobnicate each cell to LEVEL")\n' + anchor, 1))
    done = build(copy, tmp_path / "site", env={"PYTHONPATH": str(copy)})
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "--frobnicate LEVEL" in page and "frobnicate each cell to LEVEL" in page
    assert "frobnicate" not in docs_reference.cli_page()  # this checkout's parser has no such option


def test_a_key_the_reader_gains_reaches_the_matrix_page(monkeypatch):
    from harness.matrix import reader, schema

    monkeypatch.setattr(reader, "IMAGE_KEYS", (*reader.IMAGE_KEYS, "gpu_arch"))
    monkeypatch.setitem(schema.IMAGE, "gpu_arch", ({"type": "string"}, "the GPU architecture the image targets"))
    page = docs_reference.matrix_page()
    assert "| `gpu_arch` | string | the GPU architecture the image targets |" in page
    monkeypatch.delitem(schema.IMAGE, "gpu_arch")
    with pytest.raises(schema.SchemaDrift):  # undescribed: the build stops
        docs_reference.matrix_page()


def test_every_verdict_has_its_row_and_one_without_a_meaning_stops_the_build(monkeypatch):
    from harness.model import Verdict
    from harness.verdicts import meanings

    page = docs_reference.verdicts_page()
    for verdict in Verdict:
        assert f"| `{verdict.value}` |" in page
    monkeypatch.setattr(meanings, "MEANINGS", {v: m for v, m in meanings.MEANINGS.items() if v is not Verdict.CRASHED})
    with pytest.raises(SystemExit, match="crashed"):
        docs_reference.verdicts_page()


# --- the README: what and why, the two commands, one picture, the links; the rest lives in docs/ ---------

README = ROOT / "README.md"
README_LIMIT = 12 * 1024  # bytes: a newcomer reads it whole


def test_the_readme_stays_short():
    assert len(README.read_bytes()) <= README_LIMIT, "README.md over 12 KB: move the detail into a docs/ page"


def test_every_relative_link_and_picture_of_the_readme_is_a_file():
    targets = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t)]
    assert "docs/smoke-report.png" in local and "docs/getting-started.md" in local
    missing = [t for t in local if not (ROOT / t).is_file()]
    assert not missing, missing


def test_the_readmes_test_command_is_the_one_ci_runs():
    commands = re.search(r"## The two commands\n\n```sh\n(.*?)```", README.read_text(), re.S).group(1)
    assert "nox -s matrix" in commands
    test = re.search(r"^(nox -s tests)\b", commands, re.M).group(1)
    assert re.search(rf"^{test}$", (ROOT / ".ci" / "run").read_text(), re.M)


def _paragraphs(text: str) -> list[str]:
    """Paragraphs and list items, whitespace folded; the short ones (headings, one-line links) left out."""
    parts = (item for para in re.split(r"\n\s*\n", text) for item in re.split(r"\n(?=- |\d+\. )", para))
    return [" ".join(p.split()) for p in parts if len(" ".join(p.split())) >= 80]


def test_no_paragraph_stands_in_two_places():
    """One home per fact: no paragraph of the README or a docs page is repeated in another (or twice in one)."""
    where: dict[str, list[str]] = {}
    for page in [README, *sorted((ROOT / "docs").rglob("*.md"))]:
        for para in _paragraphs(page.read_text()):
            where.setdefault(para, []).append(str(page.relative_to(ROOT)))
    repeated = {para[:80]: pages for para, pages in where.items() if len(pages) > 1}
    assert not repeated, repeated


def test_every_declarable_column_has_its_row_on_the_matrix_reference_page():
    from harness.model import TABLE_COLUMNS

    page = docs_reference.matrix_page()
    for value, (header, meaning) in TABLE_COLUMNS.items():
        assert f"| `{value}` | {header} | {meaning} |" in page, value
