"""The wheelhouse server: a PEP 503 simple index over a folder, checked with urllib and real pip."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from wheels import make_sdist, make_wheel

from harness.errors import HarnessError
from harness.plan.offers import project_of
from harness.run.serve import WheelhouseServer


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_project_names_follow_pep_503_normalisation():
    assert project_of("Torch_Tensorrt-2.5.0-cp310-cp310-linux_aarch64.whl") == "torch-tensorrt"
    assert project_of("needs.nvcc-1.0.tar.gz") == "needs-nvcc"
    assert project_of("README.md") is None and project_of("broken.whl") is None


def test_listing_links_hashes_and_files(tmp_path):
    wheel = make_wheel(tmp_path, "Edge_Ops", "1.0", {"edge_ops/__init__.py": ""})
    sdist = make_sdist(tmp_path, "edge_ops", "0.9", "x = 1\n")
    (tmp_path / "notes.txt").write_text("not a distribution")
    with WheelhouseServer(tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/simple")
        status, root = get(server.url + "/")
        assert status == 200 and 'href="edge-ops/"' in root and "notes" not in root
        status, page = get(server.url + "/Edge.Ops/")  # any spelling of the name finds the project
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert status == 200 and f"{wheel.name}#sha256={digest}" in page and sdist.name in page
        base = server.url.rsplit("/simple", 1)[0]
        status, _ = get(f"{base}/files/{wheel.name}")
        assert status == 200
        make_wheel(tmp_path, "late", "2.0", {"late.py": ""})  # added while serving: seen at once
        assert get(server.url + "/late/")[0] == 200
        assert get(server.url + "/missing/")[0] == 404
        assert get(f"{base}/files/notes.txt")[0] == 404
        assert get(f"{base}/files/..%2Fetc%2Fpasswd")[0] == 404


def test_real_pip_installs_from_it(tmp_path):
    make_wheel(tmp_path / "house", "edgeops", "1.0", {"edgeops.py": "KIND = 'served'\n"})
    target = tmp_path / "target"
    with WheelhouseServer(tmp_path / "house") as server:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                               "--isolated", "--index-url", server.url, "--target", str(target), "edgeops"],
                              capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "edgeops.py").read_text() == "KIND = 'served'\n"


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="is not a folder"):
        WheelhouseServer(tmp_path / "nope")
