"""The in-cell driver's summary of pip's install report (shape as pip >= 22.2 writes it)."""

import http.server
import json
import threading
from pathlib import Path

import pytest

from harness.incell import driver

REPORT = {
    "version": "1",
    "pip_version": "23.0.1",
    "install": [
        {"download_info": {"url": "https://user:s3cret@wheels.example.org/torch-2.5.0-cp310-cp310-linux_aarch64.whl",
                           "archive_info": {"hashes": {"sha256": "ab"}}},
         "is_direct": False, "requested": True, "metadata": {"name": "torch", "version": "2.5.0"}},
        {"download_info": {"url": "https://files.example.org/p/sentencepiece-0.2.0.tar.gz#sha256=cd",
                           "archive_info": {}},
         "is_direct": False, "requested": False, "metadata": {"name": "sentencepiece", "version": "0.2.0"}},
        {"download_info": {"url": "file:///src/mypkg", "dir_info": {}},
         "is_direct": True, "requested": True, "metadata": {"name": "mypkg", "version": "0.1"}},
    ],
}


def test_report_summary_tells_wheel_from_source_build_and_hides_credentials():
    torch, spm, local = driver.summarize_report(REPORT)
    assert torch == {"name": "torch", "version": "2.5.0", "requested": True, "direct": False, "source": "wheel",
                     "file": "torch-2.5.0-cp310-cp310-linux_aarch64.whl", "tags": "cp310-cp310-linux_aarch64",
                     "url": "https://***@wheels.example.org/torch-2.5.0-cp310-cp310-linux_aarch64.whl",
                     "sha256": "ab"}  # the hash pip's report gives: what a lock of the cell pins
    assert (spm["source"], spm["file"], spm["tags"], spm["sha256"]) == ("source", "sentencepiece-0.2.0.tar.gz", None,
                                                                        None)
    assert (local["source"], local["direct"]) == ("directory", True)
    assert "s3cret" not in repr(driver.summarize_report(REPORT))


def test_url_without_credentials_is_unchanged():
    assert driver.without_credentials("https://pypi.example/simple") == "https://pypi.example/simple"


def test_torch_state_reads_real_version_files_without_importing_torch(tmp_path):
    import json
    import os
    import subprocess
    import sys

    for name, cuda_line, cuda in (("cpu", "cuda: Optional[str] = None", None),
                                  ("cu130", "cuda: Optional[str] = '13.0'", "13.0")):
        site = tmp_path / name / "torch"
        site.mkdir(parents=True)
        (site / "__init__.py").write_text("raise SystemExit('the guard must not import torch')\n")
        (site / "version.py").write_text("from typing import Optional\n\n__version__ = '2.13.0+cpu'\ndebug = False\n"
                                         f"{cuda_line}\nhip: Optional[str] = None\n")
        env = {**os.environ, "PYTHONPATH": str(site.parent)}
        out = subprocess.run([sys.executable, "-c", driver.TORCH_STATE], env=env, capture_output=True, text=True)
        state = json.loads(out.stdout)
        assert state == {"present": True, "location": str(site), "version": "2.13.0+cpu", "cuda": cuda}


# --- after a failed install: what the driver asks and keeps ------------------------------------------


def test_pinned_versions_are_read_from_the_cells_requirements():
    requirements = ["torch==2.5.0", "torchao>=0.1,!=0.2", "Edge_Bin === 2.0 ; python_version > '3'", "numpy==1.26.*"]
    assert driver.pinned_versions(requirements, "torch") == ["2.5.0"]
    assert driver.pinned_versions(requirements, "torchao") == []  # a range pins nothing
    assert driver.pinned_versions(requirements, "edge-bin") == ["2.0"]
    assert driver.pinned_versions(requirements, "numpy") == ["1.26"]


def test_kept_files_are_the_last_ones_and_every_file_of_a_pinned_version():
    listed = [f"edgeops-0.{n}-py3-none-any.whl" for n in range(150)] + ["edgeops-0.3.tar.gz"]
    check = driver.kept_files({"index": "i", "project": "edgeops", "files": list(listed)}, ["0.3"])
    assert check["listed"] == 151
    assert check["files"] == ["edgeops-0.3-py3-none-any.whl", *listed[-driver.KEEP_FILES:]]
    assert driver.file_version("torch-2.5.0a0+nv24.08-cp310-cp310-linux_aarch64.whl") == "2.5.0a0+nv24.08"
    assert driver.file_version("psycopg2-binary-2.9.10.tar.gz") == "2.9.10"


JSON = "application/vnd.pypi.simple.v1+json"


def _files(*files: tuple) -> str:
    """A PEP 691 project page listing (file name, PEP 700 upload time or None, yanked)."""
    listed = [{"filename": name, "yanked": yanked, **({"upload-time": when} if when else {})}
              for name, when, yanked in files]
    return json.dumps({"meta": {"api-version": "1.1"}, "files": listed})


class _Pages(http.server.BaseHTTPRequestHandler):
    """A real index's root, a PEP 691 root, a moved index (404) and a landing page without links."""

    PAGES = {
        "/simple/": ("text/html", '<html><body><a href="/simple/edgeops/">edgeops</a></body></html>'),
        "/json/": ("application/vnd.pypi.simple.v1+json",
                   '{"meta": {"api-version": "1.1"}, "projects": [{"name": "edgeops"}]}'),
        "/landing/": ("text/html", "<html><body><h1>Welcome</h1></body></html>"),
        "/simple/edgeops/": ("text/html", '<a href="edgeops-1.0-py3-none-any.whl">edgeops-1.0-py3-none-any.whl</a>'),
        # PEP 691 project pages with PEP 700's upload times, as an index that says when files came out
        "/dates/arrowish/": (JSON, _files(("arrowish-16.1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                                           "2024-05-14T10:00:00Z", False),
                                          ("arrowish-16.1.0.tar.gz", "2024-05-13T09:00:00Z", False),
                                          ("arrowish-17.0.0.tar.gz", "2024-07-11T09:00:00Z", False),
                                          ("arrowish-17.0.1.tar.gz", "2024-07-20T09:00:00Z", "broken"))),
        "/dates/numpy/": (JSON, _files(("numpy-2.0.0.tar.gz", "2024-06-16T13:06:46Z", False))),
        "/undated/numpy/": (JSON, _files(("numpy-2.0.0.tar.gz", None, False))),
    }

    def do_GET(self):  # noqa: N802
        kind, body = self.PAGES.get(self.path, ("text/plain", "not found"))
        self.send_response(200 if self.path in self.PAGES else 404)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def pages(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_index_root_is_asked_as_the_driver_asks_a_project_page(pages):
    def root(path):
        got = driver.check_root(path, pages + path, {})
        return got["url"], got["status"], got["links"]

    assert root("/simple") == (f"{pages}/simple/", 200, 1)
    assert root("/json") == (f"{pages}/json/", 200, 1)  # PEP 691: projects in JSON, no links
    assert root("/landing") == (f"{pages}/landing/", 200, 0)
    assert root("/jp6/cu126") == (f"{pages}/jp6/cu126/", 404, 0)
    assert driver.check_root("root", pages, {}) is None  # no path to ask


def test_only_an_index_that_had_none_of_the_projects_has_its_root_asked(pages):
    spec = {"sources": {"indexes": [{"label": "moved", "url": pages + "/jp6/cu126"},
                                    {"label": "real", "url": pages + "/simple"}]}}
    checks = [{"index": "moved", "status": 404, "error": None}, {"index": "real", "status": 200, "error": None},
              {"index": "real", "status": 404, "error": None}]
    assert [(r["index"], r["status"]) for r in driver.check_roots(spec, checks, {})] == [("moved", 404)]
    checks[1]["status"] = 404
    assert [r["index"] for r in driver.check_roots(spec, checks, {})] == ["moved", "real"]


def test_a_root_read_whole_gives_the_names_close_to_each_missing_project(pages, monkeypatch):
    for path in ("/simple", "/json"):  # PEP 503 links and PEP 691 JSON
        assert driver.check_root(path, pages + path, {}, ["edgeopz", "zzz"])["close"] == {"edgeopz": ["edgeops"],
                                                                                          "zzz": []}
    assert "close" not in driver.check_root("/landing", pages + "/landing", {}, ["edgeopz"])
    monkeypatch.setattr(driver, "PAGE_LIMIT", 20)  # a root too large to read whole (pip's default index): not searched
    assert "close" not in driver.check_root("/simple", pages + "/simple", {}, ["edgeopz"])


def test_close_names_compare_normalised_names_and_leave_out_the_name_itself():
    assert driver.close_names("Torch_Tnue", ["torchtune", "torchao", "torch-tnue", "TORCHTUNE"]) == ["torchtune"]
    assert driver.close_names("numpy", ["pandas", "scipy"]) == []


def test_release_dates_are_the_first_upload_of_each_version_from_an_index_that_says(pages):
    got = driver.release_dates("i", pages + "/dates", "arrowish", {})
    assert (got["status"], got["error"]) == (200, None)
    assert got["dates"] == {"16.1.0": "2024-05-13T09:00:00Z", "17.0.0": "2024-07-11T09:00:00Z"}  # yanked left out
    html = driver.release_dates("i", pages + "/simple", "edgeops", {})
    assert html["dates"] == {} and html["error"] == ("it answered text/html, not PEP 691 JSON, which says when "
                                                     "releases were published")
    assert driver.release_dates("i", pages + "/undated", "numpy", {})["error"] == ("its JSON page gives no upload "
                                                                                  "times (PEP 700)")
    assert driver.release_dates("i", pages + "/dates", "gone", {})["error"] == "HTTP 404 Not Found"


LOGS = Path(__file__).parent / "data" / "logs"


def recorded_steps(name: str) -> list[dict]:
    """The probe's steps in a real recorded cell log, as the probe's --record file holds them."""
    return [json.loads(line[len("@@probe "):]) for line in (LOGS / name).read_text().splitlines()
            if line.startswith("@@probe ")]


@pytest.mark.parametrize(("log", "project"), [
    ("real-arrow-numpy1.log", "pyarrow"), ("real-pandas-numpy2.log", "pandas"),
    ("real-opencv-numpy2.log", "opencv-python-headless"), ("real-lightgbm.log", None), ("imports.lacking.log", None)])
def test_the_distribution_built_for_another_numpy_is_read_from_the_probes_steps(log, project):
    assert driver.numpy_mismatch(recorded_steps(log)) == project


def test_after_a_numpy_failure_the_driver_asks_each_index_when_releases_came_out(pages, tmp_path, capsys):
    record = tmp_path / "steps.jsonl"
    steps = recorded_steps("real-arrow-numpy1.log")
    for step in steps:  # the real steps, the failing distribution renamed to the one these pages know
        if step.get("step") == "distributions":
            step["owners"]["pyarrow"] = ["arrowish"]
    record.write_text("".join(json.dumps(s) + "\n" for s in steps))
    spec = {"sources": {"indexes": [{"label": "dated", "url": pages + "/dates"}], "default": False}}
    driver.after_failed_imports(spec, "python", str(record), {})
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith(driver.MARKER)]
    event = json.loads(line[len(driver.MARKER):])
    assert (event["event"], event["project"]) == ("release-dates", "arrowish")
    assert [(c["project"], sorted(c["dates"])) for c in event["checks"]] == [("arrowish", ["16.1.0", "17.0.0"]),
                                                                             ("numpy", ["2.0.0"])]
    driver.after_failed_imports(spec, "python", str(tmp_path / "none.jsonl"), {})  # no steps: nothing asked
    assert capsys.readouterr().out == ""


def test_release_dates_are_asked_again_when_a_retry_may_cure_it(pages, monkeypatch):
    answers = iter([503, 200])

    class Flaky(_Pages):
        def do_GET(self):  # noqa: N802
            status = next(answers)
            if status == 200:
                return super().do_GET()
            self.send_response(status)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slept = []
    monkeypatch.setattr(driver.time, "sleep", slept.append)
    try:
        got = driver.release_dates("i", f"http://127.0.0.1:{server.server_address[1]}/dates", "numpy", {})
    finally:
        server.shutdown()
    assert (got["status"], got["dates"], slept) == (200, {"2.0.0": "2024-06-16T13:06:46Z"}, [2.0])


# --- an image that holds every requirement: nothing to install ----------------------------------------


@pytest.fixture
def image_packages(tmp_path):
    """An environment holding torch 2.13.0+cpu and torchao 0.15.0 (their metadata, as pip writes it)."""
    import os

    site = tmp_path / "site"
    for name, version in (("torch", "2.13.0+cpu"), ("torchao", "0.15.0")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return {**os.environ, "PYTHONPATH": str(site)}


@pytest.mark.parametrize(("requirements", "held"), [
    (["torch==2.13.0", "torchao==0.15.0"], ["torch 2.13.0+cpu", "torchao 0.15.0"]),  # +cpu aside, as pip does
    (["torch", "torchao"], ["torch 2.13.0+cpu", "torchao 0.15.0"]),
    (["torch==2.13.0+cpu"], ["torch 2.13.0+cpu"]),
    (["torch==2.13.0", "torchtune==0.6.1"], None),  # one missing: pip installs what the image lacks
    (["torch==2.14.0"], None),  # another version
    (["torch==2.13.0+cu126"], None),  # another local build
    (["torch>=2.0"], None),  # a range: pip decides
    (["torch[opt]==2.13.0"], None),  # extras: pip decides
])
def test_what_the_image_holds_is_read_as_pip_would_compare_it(image_packages, requirements, held):
    import sys

    assert driver.held_by_image(sys.executable, requirements, image_packages) == held


def test_the_wheel_tags_of_what_uv_installed_are_read_from_the_venv_without_starting_it(tmp_path):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    for name, tags in (("Foo_Bar", ["cp311-cp311-manylinux_2_28_x86_64"]), ("other", ["py3-none-any"])):
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags))
    (site / "damaged-2.0.dist-info").mkdir()  # no WHEEL file: the others stand
    (site / "foo_bar.pth").write_text("")
    python = tmp_path / "venv" / "bin" / "python"  # never run: a venv's interpreter under emulation costs seconds
    assert driver.wheel_tags(str(python), ["foo-bar", "absent", "Damaged"], {}) == {
        "foo-bar": ["cp311-cp311-manylinux_2_28_x86_64"]}


def test_a_venv_without_pip_is_made_in_the_drivers_own_process_as_python_m_venv_makes_it(tmp_path, capfd):
    import subprocess
    import sys

    for system_site in (False, True):
        mine, theirs = tmp_path / f"mine-{system_site}", tmp_path / f"theirs-{system_site}"
        assert driver.make_venv(str(mine), system_site) == (0, None)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip"] + ["--system-site-packages"] * system_site
                       + [str(theirs)], check=True)
        assert sorted(p.name for p in (mine / "bin").iterdir()) == sorted(p.name for p in (theirs / "bin").iterdir())
        assert (mine / "bin" / "python").is_symlink()
        assert (mine / "pyvenv.cfg").read_text().replace(str(mine), "V") == \
            (theirs / "pyvenv.cfg").read_text().replace(str(theirs), "V")
        seen = subprocess.run([str(mine / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert seen == str(mine)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the venv should go")
    capfd.readouterr()
    assert driver.make_venv(str(blocker), False) == (1, None)
    assert capfd.readouterr().err.startswith("Error: ")  # as `python -m venv` says it: the evidence quotes it


def test_the_venv_phase_runs_python_m_venv_only_when_the_venv_needs_pip(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(driver, "run_phase", lambda name, argv, env: ran.append(argv) or True)
    assert driver.venv_phase(str(tmp_path / "a"), True, True, {})
    assert ran == [] and (tmp_path / "a" / "pyvenv.cfg").is_file()
    said = [json.loads(line[len(driver.MARKER):]) for line in capsys.readouterr().out.splitlines()]
    assert said[0]["argv"][1:] == ["-m", "venv", "--system-site-packages", "--without-pip", str(tmp_path / "a")]
    assert [(e["phase"], e["status"]) for e in said] == [("venv", "start"), ("venv", "ok")]
    assert driver.venv_phase(str(tmp_path / "b"), False, False, {})
    assert ran == [[driver.sys.executable, "-m", "venv", str(tmp_path / "b")]]
