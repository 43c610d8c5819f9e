"""Every verdict produced for real: real pip and real imports in real containers, against fixture
wheels and PEP 503 indexes served on the host's loopback (cells reach them on the host network).

Set EWH_RECORD_LOGS=DIR to keep each scenario's cell log there: that is how tests/data/logs/ was
recorded (the classifier's unit tests read those files).
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest
from wheels import AMD64_IMAGE, FAKE_TORCH, make_sdist, make_wheel, shared_library

from harness.matrix import reader
from harness.model import Verdict
from harness.plan import prediction
from harness.reports import table
from harness.results import store
from harness.run import runner
from harness.run.options import RunOptions, new_run_id
from harness.run.serve import WheelhouseServer
from harness.verdicts import events

pytestmark = pytest.mark.docker


def run_matrix(text: str, tmp_path: Path, backend, record: str | None = None, with_plan: bool = False,
               key=lambda cell_id: cell_id.split("__")[1]) -> dict:
    """Run the cells (image bookworm-amd64 added) and return their results by `key(cell id)`."""
    path = tmp_path / "m.toml"
    path.write_text(AMD64_IMAGE + text)
    m = reader.load(path)
    results = tmp_path / "results"
    predictions = {c.id: prediction.predict(c).to_json() for c in m.cells} if with_plan else None
    out = runner.run_cells(m, list(m.cells), backend, RunOptions(run_id=new_run_id()),
                           results_dir=results, log=lambda _: None, predictions=predictions)
    if record and os.environ.get("EWH_RECORD_LOGS"):
        for r in out:
            target = Path(os.environ["EWH_RECORD_LOGS"]) / f"{record}.{key(r.cell_id)}.log"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results / r.log, target)
    return {key(r.cell_id): r for r in out} | {"_results": results}


def packages(requirements: list[str], modules: list[str]) -> str:
    # import-only: the fixture torch has no tensors for the built-in checks
    return f'[packages.p]\nrequirements = {requirements!r}\nmodules = {modules!r}\nchecks = []\n'.replace("'", '"')


def test_aarch64_only_index_is_no_distribution_on_amd64_and_a_pure_python_index_passes(docker_backend, bookworm,
                                                                                       tmp_path):
    arm, pure = tmp_path / "arm", tmp_path / "pure"
    make_wheel(arm, "edgeops", "1.0", {"edgeops/__init__.py": "KIND = 'arm'\n"}, tag="py3-none-manylinux2014_aarch64")
    make_wheel(pure, "edgeops", "1.0", {"edgeops/__init__.py": "KIND = 'pure'\n"})
    with WheelhouseServer(arm) as arm_index, WheelhouseServer(pure) as pure_index:
        got = run_matrix(f'[indexes.arm-only]\nindex_url = "{arm_index.url}"\n'
                         f'[indexes.pure]\nindex_url = "{pure_index.url}"\n'
                         + packages(["edgeops"], ["edgeops"]), tmp_path, docker_backend, record="no-distribution",
                         with_plan=True)
    arm_cell, pure_cell = got["arm-only"], got["pure"]
    assert pure_cell.verdict is Verdict.PASS, pure_cell.evidence
    [item] = pure_cell.install["items"]
    assert (item["name"], item["source"], item["tags"]) == ("edgeops", "wheel", "py3-none-any")
    assert item["url"].startswith(pure_index.url.rsplit("/simple", 1)[0])  # which index it came from
    wheel = next(pure.glob("edgeops-*.whl"))
    assert item["size"] == {"bytes": wheel.stat().st_size, "how": "downloaded"}  # as pip printed it
    assert pure_cell.install["downloaded_bytes"] == wheel.stat().st_size

    assert arm_cell.verdict is Verdict.NO_DISTRIBUTION, (arm_cell.verdict, arm_cell.evidence)
    assert "ERROR: No matching distribution found for edgeops" in arm_cell.evidence
    # one line: nothing fits this cell, and what exists of the version it asked for
    assert (f"{arm_index.url} has nothing of edgeops for this target (cp311, manylinux_2_36_x86_64): edgeops 1.0 "
            "exists only as wheels for other targets (py3-none-manylinux2014_aarch64)") in arm_cell.evidence
    assert "fits linux/amd64" in arm_cell.hint

    # uv's prediction, made without a container, is stored beside each result and agrees with the run
    assert arm_cell.prediction["outcome"] == "no-distribution"
    assert pure_cell.prediction["versions"] == {"edgeops": "1.0"}
    assert [table.plan_text(c.to_json()) for c in (arm_cell, pure_cell)] == ["agrees", "agrees"]


def test_pins_that_cannot_all_hold_are_a_conflict(docker_backend, bookworm, tmp_path):
    wheels = tmp_path / "w"
    make_wheel(wheels, "alpha", "1.0", {"alpha/__init__.py": ""}, requires=("beta<2",))
    for version in ("1.0", "2.0"):
        make_wheel(wheels, "beta", version, {"beta/__init__.py": ""})
    with WheelhouseServer(wheels) as index:
        got = run_matrix(f'[indexes.fixtures]\nindex_url = "{index.url}"\n'
                         + packages(["alpha==1.0", "beta==2.0"], ["alpha"]), tmp_path, docker_backend,
                         record="conflict")
    cell = got["fixtures"]
    assert cell.verdict is Verdict.CONFLICT, (cell.verdict, cell.evidence)
    assert "alpha 1.0 depends on beta<2" in cell.evidence
    assert "alpha 1.0 depends on beta<2" in cell.hint and "loosen" in cell.hint


def test_a_failing_sdist_build_is_source_build_failed_and_only_binary_names_it(docker_backend, bookworm, tmp_path):
    sdists = tmp_path / "sdists"
    make_sdist(sdists, "needsnvcc", "1.0", "X = 1\n",
               setup_extra="raise RuntimeError('nvcc not found: set CUDA_HOME to build the CUDA extension')")
    got = run_matrix(f'[indexes.build]\nfind_links = ["{sdists}"]\nno_index = true\n'
                     'pip_args = ["--no-build-isolation"]\n'
                     f'[indexes.wheels-only]\nfind_links = ["{sdists}"]\nno_index = true\nonly_binary = true\n'
                     + packages(["needsnvcc"], ["needsnvcc"]), tmp_path, docker_backend, record="source-build")
    built = got["build"]
    assert built.verdict is Verdict.SOURCE_BUILD_FAILED, (built.verdict, built.evidence)
    assert "the build said: RuntimeError: nvcc not found: set CUDA_HOME to build the CUDA extension" in built.evidence
    assert "compile needsnvcc from source" in built.hint
    refused = got["wheels-only"]
    assert refused.verdict is Verdict.NO_DISTRIBUTION, (refused.verdict, refused.evidence)
    assert any(e.endswith("needsnvcc 1.0 exists only as an sdist (needsnvcc-1.0.tar.gz)") for e in refused.evidence), \
        refused.evidence
    assert refused.hint.startswith("needsnvcc comes only as source here and only_binary refuses to compile it")
    assert "would be built from source: needsnvcc (needsnvcc-1.0.tar.gz)" in refused.evidence
    assert refused.cell["index"]["only_binary"] is True


# psycopg2's own check and message (its setup.py), for a fixture named needspg: the cause stands above
# the last line, which is a documentation URL.
PG_CONFIG_CHECK = """import shutil, sys
if shutil.which("pg_config") is None:
    sys.exit(\"\"\"
Error: pg_config executable not found.

pg_config is required to build needspg from source.  Please add the directory
containing pg_config to the $PATH or specify the full executable path with the
option:

    python setup.py build_ext --pg-config /path/to/pg_config build ...

or with the pg_config option in 'setup.cfg'.

If you prefer to avoid building needspg from source, please install the PyPI
'needspg-binary' package instead.

For further information please check the 'doc/src/install.rst' file (also at
<https://www.psycopg.org/docs/install.html>).
\"\"\")
"""


def test_a_failed_build_quotes_the_cause_it_states_and_names_what_the_image_lacks(docker_backend, bookworm, tmp_path):
    sdists = tmp_path / "sdists"
    make_sdist(sdists, "needspg", "1.0", "X = 1\n", setup_extra=PG_CONFIG_CHECK)
    make_sdist(sdists, "callsnvcc", "1.0", "X = 1\n",
               setup_extra="import subprocess\nsubprocess.check_call(['nvcc', '--version'])")
    make_sdist(sdists, "fastops", "1.0", "X = 1\n", c_source="#include <Python.h>\n")
    make_sdist(sdists, "oddbuild", "1.0", "X = 1\n",
               setup_extra="raise ValueError(\"EDGE_MODE must be 'fast' or 'small', not ''\")")
    got = run_matrix(f'[indexes.build]\nfind_links = ["{sdists}"]\nno_index = true\n'
                     'pip_args = ["--no-build-isolation"]\n'
                     '[packages.pg]\nrequirements = ["needspg"]\nmodules = ["needspg"]\n'
                     '[packages.nvcc]\nrequirements = ["callsnvcc"]\nmodules = ["callsnvcc"]\n'
                     '[packages.cext]\nrequirements = ["fastops"]\nmodules = ["fastops"]\n'
                     '[packages.odd]\nrequirements = ["oddbuild"]\nmodules = ["oddbuild"]\n',
                     tmp_path, docker_backend, record="build-cause", key=lambda cell_id: cell_id.split("__")[2])
    for cell in (got["pg"], got["nvcc"], got["cext"], got["odd"]):
        assert cell.verdict is Verdict.SOURCE_BUILD_FAILED, (cell.cell_id, cell.verdict, cell.evidence)
        assert not any("end of output" in e or "psycopg.org" in e for e in cell.evidence), cell.evidence

    pg = got["pg"]  # the stated cause and the project's own prebuilt alternative, not its closing URL
    assert pg.evidence[:3] == ("the build said: Error: pg_config executable not found.",
                               "the build said: pg_config is required to build needspg from source.",
                               "the build said: If you prefer to avoid building needspg from source, please install "
                               "the PyPI 'needspg-binary' package instead.")
    assert pg.hint == ("pip had to compile needspg from source and the build needs pg_config (PostgreSQL's client "
                       "library, libpq), which the image lacks: add libpq-dev to the image, or install "
                       "needspg-binary instead (the project's own message names it)")

    nvcc = got["nvcc"]  # a program the build ran and the image does not have
    assert nvcc.evidence[0] == "the build said: FileNotFoundError: [Errno 2] No such file or directory: 'nvcc'"
    assert nvcc.hint.startswith("pip had to compile callsnvcc from source and the build needs CUDA's compiler nvcc, "
                                "which the image lacks: use an image with the CUDA toolkit")
    assert nvcc.hint.endswith("or find a prebuilt wheel for this platform and Python (another index variant)")

    cext = got["cext"]  # a C extension in an image without a compiler (bookworm's recipe has none)
    assert cext.evidence[0] == ("the build said: error: command 'x86_64-linux-gnu-gcc' failed: No such file or "
                                "directory")
    assert ("the build needs a C compiler (x86_64-linux-gnu-gcc), which the image lacks: add build-essential"
            in cext.hint)

    odd = got["odd"]  # a build that names no missing tool: its error line, and a hint that says it found no cause
    assert odd.evidence[0] == "the build said: ValueError: EDGE_MODE must be 'fast' or 'small', not ''"
    assert "without stating a cause the harness recognises" in odd.hint


def test_only_binary_names_the_pinned_versions_sdist_and_lists_only_what_fits_the_cell(docker_backend, bookworm,
                                                                                      tmp_path):
    house = tmp_path / "house"
    files = {"edgebin/__init__.py": ""}
    make_sdist(house, "edgebin", "2.0", "X = 2\n")
    for tag in ("cp311-cp311-win_amd64", "cp311-cp311-macosx_11_0_arm64", "cp39-cp39-manylinux_2_17_x86_64"):
        make_wheel(house, "edgebin", "2.0", files, tag=tag)  # 2.0 as wheels for other targets only
    for tag in ("cp311-cp311-win_amd64", "cp311-cp311-macosx_11_0_arm64"):
        make_wheel(house, "edgebin", "1.5", files, tag=tag)  # another version, for other platforms
    make_wheel(house, "edgebin", "1.0", files)  # the one version this cell could install
    with WheelhouseServer(house) as index:
        got = run_matrix(f'[indexes.wheels-only]\nindex_url = "{index.url}"\nonly_binary = true\n'
                         + packages(["edgebin==2.0"], ["edgebin"]), tmp_path, docker_backend, record="only-binary")
    cell = got["wheels-only"]
    assert cell.verdict is Verdict.NO_DISTRIBUTION, (cell.verdict, cell.evidence)
    url = index.url
    assert cell.evidence == (
        "ERROR: Could not find a version that satisfies the requirement edgebin==2.0 (from versions: 1.0)",
        "ERROR: No matching distribution found for edgebin==2.0",
        f"{url} offers edgebin for this target (cp311, manylinux_2_36_x86_64): edgebin-1.0-py3-none-any.whl",
        f"{url}: edgebin 2.0 exists only as an sdist (edgebin-2.0.tar.gz) and wheels for other targets "
        "(cp311-cp311-macosx_11_0_arm64, cp311-cp311-win_amd64, cp39-cp39-manylinux_2_17_x86_64)",
        "would be built from source: edgebin (edgebin-2.0.tar.gz)")
    assert cell.hint.startswith("edgebin==2.0 comes only as source here and only_binary refuses to compile it")


def test_an_index_whose_root_answers_404_is_a_wrong_url_not_a_missing_project(docker_backend, bookworm, tmp_path):
    class Moved(http.server.BaseHTTPRequestHandler):
        """A server where the Jetson index used to be: 404 everywhere; a landing page without links."""

        def do_GET(self):  # noqa: N802
            landing = self.path.rstrip("/") == "/landing"
            self.send_response(200 if landing else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body><h1>Welcome</h1></body></html>" if landing else b"not found")

        def log_message(self, *args):
            pass

    other = tmp_path / "other"
    make_wheel(other, "unrelated", "1.0", {"unrelated/__init__.py": ""})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Moved)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with WheelhouseServer(other) as real:
            got = run_matrix('[matrix]\nimages = ["jp6"]\n'
                             '[images.jp6]\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n'
                             'jetpack = "6.2"\ncuda = "12.6"\n'
                             f'[indexes.jetson]\nindex_url = "{base}/jp{{jetpack_major}}/cu{{cuda_nodot}}"\n'
                             f'[indexes.landing]\nindex_url = "{base}/landing"\n'
                             f'[indexes.real]\nindex_url = "{real.url}"\n'
                             + packages(["edgeops"], ["edgeops"]), tmp_path, docker_backend, record="index-root")
    finally:
        server.shutdown()
    for cell in got["jetson"], got["landing"], got["real"]:
        assert cell.verdict is Verdict.NO_DISTRIBUTION, (cell.cell_id, cell.verdict, cell.evidence)

    jetson = got["jetson"]
    assert jetson.evidence[0] == (f"{base}/jp6/cu126 does not answer as a package index: GET {base}/jp6/cu126/ "
                                  "→ HTTP 404")
    assert jetson.hint == (f"the index URL {base}/jp6/cu126 is wrong or not an index (its root answers HTTP 404): "
                           "check the URL; it was filled from the template "
                           f"{base}/jp{{jetpack_major}}/cu{{cuda_nodot}} ({{jetpack_major}} = 6, "
                           "{cuda_nodot} = 126) with image jp6's jetpack = \"6.2\" and "
                           "cuda = \"12.6\": check that the index has a path for that JetPack/CUDA release, or correct "
                           "the image's declaration")
    landing = got["landing"]
    assert landing.evidence[0] == (f"{base}/landing does not answer as a package index: GET {base}/landing/ → "
                                   "HTTP 200 with a page that lists no projects: a page that reads 'Welcome' "
                                   "(Content-Type: text/html)")
    assert landing.hint.startswith(f"the index URL {base}/landing is wrong or not an index")
    assert "template" not in landing.hint
    real_cell = got["real"]  # an index that answers as one and lacks the project: a missing project
    assert not any("does not answer as a package index" in e for e in real_cell.evidence), real_cell.evidence
    assert f"{real.url} has no edgeops" in real_cell.evidence
    assert real_cell.hint.startswith(f"edgeops is not a project on {real.url} (its page answers 404)")
    assert "linux/amd64" not in real_cell.hint


# Extensions that need a library the bookworm image lacks: one of CUDA's, one the harness knows the
# Debian package of, one it knows nothing of.
NEEDS = {"cudaops": "libcudnn.so.9", "soundops": "libsndfile.so.1", "oddops": "libewhodd.so.3"}


def test_an_extension_needing_a_library_the_image_lacks_names_what_provides_it_there(docker_backend, bookworm,
                                                                                      tmp_path):
    house = tmp_path / "house"
    for dist, needs in NEEDS.items():
        ext = shared_library(tmp_path / dist, "_ext", needs).read_bytes()  # a real ELF file the loader reads
        make_wheel(house, dist, "1.0", {f"{dist}/__init__.py": "from . import _ext\n", f"{dist}/_ext.so": ext})
    sets = "".join(f'[packages.{d}]\nrequirements = ["{d}"]\nmodules = ["{d}"]\n' for d in NEEDS)
    got = run_matrix(f'[indexes.house]\nfind_links = ["{house}"]\nno_index = true\n' + sets, tmp_path,
                     docker_backend, record="missing-library", key=lambda cell_id: cell_id.split("__")[2])
    for dist, needs in NEEDS.items():
        cell = got[dist]
        assert cell.verdict is Verdict.IMPORT_FAILED, (dist, cell.verdict, cell.evidence)
        assert cell.evidence[0] == (f"import {dist}: ImportError: {needs}: cannot open shared object file: No such "
                                    "file or directory")
        assert (cell.cause["kind"], cell.cause["library"], cell.cause["needed_by"]) == (
            "missing-library", needs, f"{dist} 1.0")
        assert cell.cause["image_distribution"] == "Debian 12"  # read from the image's /etc/os-release
    assert got["cudaops"].hint == ("cudaops 1.0 needs libcudnn.so.9, cuDNN 9 (for CUDA), which the image lacks: use "
                                   "an image that ships it (an NVIDIA CUDA cudnn-runtime image, or on Jetson the "
                                   "JetPack image)")
    assert got["soundops"].hint == ("soundops 1.0 needs libsndfile.so.1 (libsndfile, for audio files), which the "
                                    "image lacks: add the package libsndfile1 to the image (`apt-get install` on "
                                    "Debian 12)")
    assert got["oddops"].hint == ("oddops 1.0 needs libewhodd.so.3, which the image lacks: find the package that "
                                  "provides it on Debian 12 with `apt-file search libewhodd.so.3`, and add it to the "
                                  "image")


def test_a_requirement_naming_no_project_gets_close_names_from_the_indexs_own_list(docker_backend, bookworm,
                                                                                    tmp_path):
    house = tmp_path / "house"
    for name in ("edgeops", "edgetools", "torchtune"):
        make_wheel(house, name, "1.0", {f"{name}/__init__.py": ""})
    with WheelhouseServer(house) as index:
        got = run_matrix(f'[indexes.house]\nindex_url = "{index.url}"\n' + packages(["edgeopz"], ["edgeops"]),
                         tmp_path, docker_backend, record="no-such-project")
    cell = got["house"]
    assert cell.verdict is Verdict.NO_DISTRIBUTION, (cell.verdict, cell.evidence)
    assert f"{index.url} has no edgeopz" in cell.evidence
    assert cell.hint == (f"edgeopz is not a project on {index.url} (its page answers 404): a misspelt name? Close "
                         "names: edgeops (on the index); correct the requirement")
    assert cell.cause == {"kind": "no-such-project", "project": "edgeopz", "indexes": [index.url], "close": ["edgeops"]}
    assert "platform" not in cell.hint and "linux/amd64" not in cell.hint


@pytest.mark.network
def test_real_wheels_from_the_default_index_get_hints_that_name_the_fix(docker_backend, bookworm, tmp_path):
    """Three of the real cells tools/record_real_cells.py records (tests/real_cells.py), run now against pip's
    default index: a misspelt name, a wheel needing libGL, and a dependency built for NumPy 2 under NumPy 1.x."""
    import real_cells

    m = reader.load(real_cells.write_matrix(tmp_path / "real.toml"))
    cells = [c for c in m.cells if c.packages.name in ("typo", "opencv-gui", "arrow-numpy1")]
    out = runner.run_cells(m, cells, docker_backend, RunOptions(run_id=new_run_id(), jobs=2),
                           results_dir=tmp_path / "results", log=lambda _: None)
    got = {r.cell["packages"]["name"]: r for r in out}
    assert got["typo"].cause == {"kind": "no-such-project", "project": "torchtnue", "indexes": ["pip's default index"],
                                 "close": ["torchtune"]}
    gui = got["opencv-gui"].cause
    assert (gui["kind"], gui["library"], gui["package"], gui["variant"]) == ("missing-library", "libGL.so.1", "libgl1",
                                                                             "opencv-python-headless")
    arrow = got["arrow-numpy1"].cause
    assert (arrow["kind"], arrow["distribution"], arrow["built_for"]) == ("numpy-abi", "pyarrow", "numpy>=2.0")
    assert arrow["required_by"][0].startswith("db-dtypes ") and arrow["fixes"][0] == "numpy>=2.0"
    assert arrow["fixes"][1].startswith("pyarrow<=")  # asked of the index: a pyarrow from before NumPy 2.0.0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_an_index_that_refuses_connections_is_retried_then_index_unreachable(docker_backend, bookworm, tmp_path):
    port = closed_port()
    got = run_matrix(f'[matrix]\ninstall_attempts = 2\nretry_backoff = 1\n'
                     f'[indexes.closed]\nindex_url = "http://127.0.0.1:{port}/simple"\n'
                     'pip_args = ["--retries", "0", "--timeout", "3"]\n'
                     + packages(["edgeops"], ["edgeops"]), tmp_path, docker_backend, record="index-unreachable")
    cell = got["closed"]
    assert cell.verdict is Verdict.INDEX_UNREACHABLE, (cell.verdict, cell.evidence)
    assert cell.verdict.is_infrastructure
    assert any(f"127.0.0.1:{port}/simple" in e and "Connection refused" in e for e in cell.evidence), cell.evidence
    assert "did not answer after 2 attempts" in cell.hint and "not an incompatibility" in cell.hint
    log = (got["_results"] / cell.log).read_text()
    parsed = events.parse(log)
    assert [(r["attempt"], r["attempts"], r["wait"]) for r in parsed.retries] == [(2, 2, 1.0)]
    assert re.search(r"harness: index http://127\.0\.0\.1:\d+/simple did not answer .*attempt 2 of 2", log)
    assert log.count("ERROR: No matching distribution found for edgeops") == 2  # pip really ran twice
    assert any("install retried (attempt 2 of 2)" in n for n in cell.notes)


def test_an_index_answering_503_is_index_unreachable_although_pip_only_says_no_versions(docker_backend, bookworm,
                                                                                        tmp_path):
    class Down(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = run_matrix(f'[matrix]\ninstall_attempts = 1\n'
                         f'[indexes.down]\nindex_url = "http://127.0.0.1:{server.server_address[1]}/simple"\n'
                         'pip_args = ["--retries", "0"]\n'
                         + packages(["edgeops"], ["edgeops"]), tmp_path, docker_backend, record="index-503")
    finally:
        server.shutdown()
    cell = got["down"]
    assert cell.verdict is Verdict.INDEX_UNREACHABLE, (cell.verdict, cell.evidence)
    assert any("HTTP 503" in e for e in cell.evidence), cell.evidence
    assert "on the only attempt" in cell.hint


TORCHAO_SKIPPING = {
    # What torchao does when the torch it finds is not the one it was built for: it logs, and imports.
    "torchao/__init__.py": (
        "import logging\nimport torch\n"
        "logging.getLogger(__name__).warning('Skipping import of cpp extensions due to incompatible torch version '"
        " + torch.__version__ + ' for torchao version 0.15.0')\n"
    ),
    "torchao/quantization/__init__.py": "def quantize_(model, config):\n    return model\n",
}
TORCHAO_WITHOUT_INT4 = {
    "torchao/__init__.py": "import torch\n",
    "torchao/quantization/__init__.py": "def quantize_(model, config):\n    return model\n",
}
TORCHTUNE_NEEDS_INT4 = {
    "torchtune/__init__.py": "",
    "torchtune/training/__init__.py": "from torchao.quantization import int4_weight_only\n",
}


def test_a_skipped_extension_is_degraded_and_a_missing_name_is_import_failed(docker_backend, bookworm, tmp_path):
    skipping, lacking = tmp_path / "skipping", tmp_path / "lacking"
    for house in (skipping, lacking):
        make_wheel(house, "torch", "2.13.0", FAKE_TORCH)
    make_wheel(skipping, "torchao", "0.15.0", TORCHAO_SKIPPING, requires=("torch",))
    make_wheel(lacking, "torchao", "0.17.0", TORCHAO_WITHOUT_INT4, requires=("torch",))
    make_wheel(lacking, "torchtune", "0.6.1", TORCHTUNE_NEEDS_INT4, requires=("torchao",))
    got = run_matrix(f'[indexes.skipping]\nfind_links = ["{skipping}"]\nno_index = true\n'
                     f'[indexes.lacking]\nfind_links = ["{lacking}"]\nno_index = true\n'
                     '[matrix]\nexclude = [{index = "skipping", packages = "tune"}, '
                     '{index = "lacking", packages = "ao"}]\n'
                     '[packages.ao]\nrequirements = ["torchao"]\nmodules = ["torch", "torchao"]\nchecks = []\n'
                     '[packages.tune]\nrequirements = ["torchtune"]\n'
                     'modules = ["torch", "torchao", "torchtune", "torchtune.training"]\n',
                     tmp_path, docker_backend, record="imports")
    degraded = got["skipping"]
    assert degraded.verdict is Verdict.DEGRADED, (degraded.verdict, degraded.evidence)
    assert degraded.evidence == ("torchao: Skipping import of cpp extensions due to incompatible torch version "
                                 "2.13.0+fixture for torchao version 0.15.0",)
    assert degraded.hint.startswith("torchao 0.15.0 skipped its C++ extensions with torch 2.13.0")

    failed = got["lacking"]
    assert failed.verdict is Verdict.IMPORT_FAILED, (failed.verdict, failed.evidence)
    assert failed.evidence[0].startswith("import torchtune.training: ImportError: cannot import name "
                                         "'int4_weight_only' from 'torchao.quantization'")
    assert "torchtune/training/__init__.py" in failed.evidence[1]
    assert failed.hint == ("torchtune 0.6.1 imports int4_weight_only from torchao.quantization, which torchao "
                           "0.17.0 does not provide: pin torchao to a release that has it, or use a torchtune "
                           "release made for torchao 0.17.0")


def test_a_wheelhouse_the_harness_serves_is_reached_from_the_cell(docker_backend, bookworm, tmp_path):
    from wheels import fixture_chain

    house = fixture_chain(tmp_path / "house")
    got = run_matrix(f'[indexes.lan]\nserve = ["{house}"]\nno_index = true\n'
                     + packages(["torch", "torchao", "torchtune"], ["torch", "torchao", "torchtune"]),
                     tmp_path, docker_backend)
    cell = got["lan"]
    assert cell.verdict is Verdict.PASS, (cell.verdict, cell.evidence)
    urls = {i["name"]: i["url"] for i in cell.install["items"]}
    assert set(urls) == {"torch", "torchao", "torchtune"}
    assert all(re.match(r"http://127\.0\.0\.1:\d+/files/", u) for u in urls.values()), urls
    assert cell.cell["index"]["serve"] == ["house"]


@pytest.mark.network
def test_uv_installs_the_same_cells_and_its_failures_get_the_same_verdicts(docker_backend, bookworm, tmp_path,
                                                                          uv_wheel):
    from wheels import fixture_chain

    good = fixture_chain(tmp_path / "good")
    conflicting = tmp_path / "conflicting"
    make_wheel(conflicting, "alpha", "1.0", {"alpha/__init__.py": ""}, requires=("beta<2",))
    for version in ("1.0", "2.0"):
        make_wheel(conflicting, "beta", version, {"beta/__init__.py": ""})
    arm = tmp_path / "arm"
    make_wheel(arm, "edgeops", "1.0", {"edgeops/__init__.py": ""}, tag="py3-none-manylinux2014_aarch64")
    for house in (good, conflicting, arm):
        shutil.copy(uv_wheel, house)  # air-gapped: uv comes from the served wheelhouse too
    got = run_matrix(
        '[matrix]\ninstallers = ["pip", "uv"]\nexclude = [{ index = "conflicting", packages = "chain" }, '
        '{ index = "arm", packages = "chain" }, { index = "good", packages = "pins" }, '
        '{ index = "good", packages = "edge" }, { index = "arm", packages = "pins" }, '
        '{ index = "conflicting", packages = "edge" }]\n'
        f'[indexes.good]\nserve = ["{good}"]\nno_index = true\n'
        f'[indexes.conflicting]\nserve = ["{conflicting}"]\nno_index = true\n'
        f'[indexes.arm]\nserve = ["{arm}"]\nno_index = true\n'
        '[packages.chain]\nrequirements = ["torch", "torchao", "torchtune"]\nmodules = ["torch", "torchtune"]\n'
        'checks = []\n'
        '[packages.pins]\nrequirements = ["alpha==1.0", "beta==2.0"]\nmodules = ["alpha"]\n'
        '[packages.edge]\nrequirements = ["edgeops"]\nmodules = ["edgeops"]\n',
        tmp_path, docker_backend, record="uv", with_plan=True, key=lambda cell_id: cell_id.split("__", 1)[1])
    assert set(got) - {"_results"} == {f"{i}__{p}{u}" for i, p in (("good", "chain"), ("conflicting", "pins"),
                                                                     ("arm", "edge")) for u in ("", "__uv")}
    for pip_id in ("good__chain", "conflicting__pins", "arm__edge"):
        pip_cell, uv_cell = got[pip_id], got[pip_id + "__uv"]
        assert uv_cell.cell["installer"] == "uv"
        assert uv_cell.verdict is pip_cell.verdict, (pip_id, uv_cell.evidence, pip_cell.evidence)
        if uv_cell.verdict is not Verdict.PASS:
            assert uv_cell.hint.startswith("uv "), (pip_id, uv_cell.hint)
            assert uv_cell.evidence, pip_id
        assert table.plan_text(uv_cell.to_json()) == "agrees", (pip_id, uv_cell.prediction)
    assert got["good__chain"].verdict is Verdict.PASS
    uv_good = got["good__chain__uv"]
    assert {i["name"]: i["version"] for i in uv_good.install["items"]} == {
        "torch": "2.13.0", "torchao": "0.18.0", "torchtune": "0.6.1"}
    assert uv_good.install["installer"] == "uv"
    # uv was at hand (lent or cached): its bootstrap is timed, and it is a check, not a start of uv
    boot = [p for p in uv_good.phases if p["phase"] == "uv-bootstrap"]
    assert [p["status"] for p in boot] == ["ok"] and uv_good.timings["uv-bootstrap"] >= 0
    assert set(uv_good.timings["install_split"]) == {
        "resolve_download", "install_files"}
    assert got["conflicting__pins__uv"].verdict is Verdict.CONFLICT
    assert any("beta" in e for e in got["conflicting__pins__uv"].evidence)
    assert got["arm__edge__uv"].verdict is Verdict.NO_DISTRIBUTION
    assert any("no wheels with a matching platform tag" in e for e in got["arm__edge__uv"].evidence)


def test_an_image_the_engine_does_not_have_is_image_unavailable(docker_backend, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[images.gone]\nref = "edge-wheel-harness/never-built:latest"\nplatform = "linux/amd64"\n'
                    '[indexes.default]\n' + packages(["edgeops"], ["edgeops"]))
    m = reader.load(path)
    [result] = runner.run_cells(m, list(m.cells), docker_backend, RunOptions(run_id=new_run_id()),
                                results_dir=tmp_path / "results", log=lambda _: None)
    assert result.verdict is Verdict.IMAGE_UNAVAILABLE and result.verdict.is_infrastructure
    assert "'edge-wheel-harness/never-built:latest' for 'gone' is not in the engine" in result.evidence[0]
    assert "docker pull" in result.hint or "docker load" in result.hint


def test_credentials_in_an_index_url_reach_no_file_from_a_container_cell(docker_backend, bookworm, tmp_path):
    house = tmp_path / "house"
    make_wheel(house, "edgeops", "1.0", {"edgeops/__init__.py": ""})
    with WheelhouseServer(house) as index:
        secret_url = index.url.replace("http://", "http://user:s3cret@")
        got = run_matrix(f'[indexes.private]\nindex_url = "{secret_url}"\n'
                         + packages(["edgeops", "no-such-dist-here"], ["edgeops"]), tmp_path, docker_backend)
    cell = got["private"]
    assert cell.verdict is Verdict.NO_DISTRIBUTION, cell.evidence  # pip and the driver both reached the index
    assert any("has no no-such-dist-here" in e for e in cell.evidence), cell.evidence
    written = [p for p in got["_results"].iterdir() if p.name != store.LOCK]  # the run's (empty) lock file
    assert {p.suffix for p in written} == {".json", ".log"}
    for p in written:
        assert "s3cret" not in p.read_text(), p.name
    assert cell.cell["index"]["index_url"].startswith("http://***@127.0.0.1:")
