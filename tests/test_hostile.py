"""Hostile input: generated matrix files, names that try to leave the results folder, an index that
answers slowly, with garbage or with an error page. Each input is counted in the fault tally
(`bad_inputs`): it must be loaded, or rejected with the harness's own one-line errors, and nothing else."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import MatrixError
from harness.matrix import reader
from harness.model import Arch

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


# -- a small TOML writer: every value inline, so any document hypothesis makes can be written ---------------

def toml_key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)  # a TOML basic string: JSON's escapes are TOML's


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


# -- what hypothesis makes --------------------------------------------------------------------------------

HOSTILE_NAMES = st.sampled_from(["../up", "a/b", "..", ".", ".hidden", "a\x00b", "a\nb", "x" * 300, "", " ", "ok",
                                 "Upper", "naïve", "a\\b", "a..b", "-dash", "ok\n", "con", "a b", "\u202e"])
NAMES = st.one_of(HOSTILE_NAMES, st.text(max_size=12), st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z"))
SCALARS = st.one_of(
    st.text(max_size=20), st.sampled_from(["", "../../etc", "linux/amd64", "linux/arm64", "debian-bookworm", "8G",
                                           "9" * 400 + "G", "-1", "1e999", "{jetpack}", "{", "}", "{0}", "{!r}",
                                           "torch==", "torch>=2;", "http://u:p@127.0.0.1:1/simple/", "a\x00b"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from([2**64, -(2**70), 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans())
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(NAMES, inner, max_size=4)), max_leaves=12)


def section(keys: tuple[str, ...]) -> st.SearchStrategy[dict]:
    """A table with the section's real keys (and now and then a stranger), each holding junk."""
    return st.dictionaries(st.one_of(st.sampled_from(keys), NAMES), JUNK, max_size=len(keys) + 1)


SELECTOR = st.dictionaries(st.sampled_from(reader.SELECT_KEYS + reader.OPTIONAL_SELECT_KEYS + reader.EXPECT_KEYS),
                           st.one_of(NAMES, JUNK), max_size=6)
MATRIX_SPEC = st.fixed_dictionaries({}, optional={
    **{k: JUNK for k in reader.MATRIX_KEYS},
    "include": st.one_of(st.lists(SELECTOR, max_size=3), JUNK),
    "exclude": st.one_of(st.lists(SELECTOR, max_size=3), JUNK),
    "images": st.one_of(st.lists(NAMES, max_size=3), JUNK),
})
DOCUMENTS = st.fixed_dictionaries({}, optional={
    "matrix": st.one_of(MATRIX_SPEC, JUNK),
    "images": st.one_of(st.dictionaries(NAMES, st.one_of(section(reader.IMAGE_KEYS), JUNK), max_size=3), JUNK),
    "indexes": st.one_of(st.dictionaries(NAMES, st.one_of(section(reader.INDEX_KEYS), JUNK), max_size=3), JUNK),
    "packages": st.one_of(st.dictionaries(NAMES, st.one_of(section(reader.PACKAGE_KEYS), JUNK), max_size=3), JUNK),
    "tables": st.one_of(st.dictionaries(NAMES, st.one_of(section(reader.TABLE_KEYS), JUNK), max_size=2), JUNK),
    "junk": JUNK,
})
GOOD = """
[images.bookworm]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.default]
[packages.numpy]
requirements = ["numpy"]
modules = ["numpy"]
"""


def loads_or_rejects_cleanly(path: Path) -> tuple[bool, str]:
    """Whether the file loads, or MatrixError says every problem in one line each, with the file and the
    key (and why not, for the assertion)."""
    try:
        reader.load(path)
    except MatrixError as exc:
        lines = exc.lines()
        if not lines:
            return False, "a MatrixError with no problem in it"
        for line, problem in zip(lines, exc.problems):
            if not line.isprintable():  # a newline, a NUL, an escape sequence, a bidi override …
                return False, f"a problem is not one printable line: {line!r}"
            if not line.startswith(f"{path}: "):
                return False, f"a problem does not begin with the file: {line!r}"
            if problem.key and f": {problem.key}: " not in line:
                return False, f"a problem does not say its key: {line!r}"
        return True, ""
    except Exception as exc:  # anything but the harness's own error is a failure of the reader
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


@HOSTILE
@given(text=st.text(max_size=300))
def test_any_text_loads_or_gives_one_line_problems(tmp_path, bad_inputs, text):
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    ok, why = loads_or_rejects_cleanly(path)
    assert bad_inputs.tried_one(ok), why


@HOSTILE
@given(data=st.binary(max_size=200))
def test_any_bytes_load_or_give_one_line_problems(tmp_path, bad_inputs, data):
    path = tmp_path / "m.toml"
    path.write_bytes(data)
    ok, why = loads_or_rejects_cleanly(path)
    assert bad_inputs.tried_one(ok), why


@HOSTILE
@given(doc=DOCUMENTS)
def test_any_document_of_the_matrix_keys_loads_or_gives_one_line_problems(tmp_path, bad_inputs, doc):
    path = tmp_path / "m.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    ok, why = loads_or_rejects_cleanly(path)
    assert bad_inputs.tried_one(ok), why


@HOSTILE
@given(section_name=st.sampled_from(["images", "indexes", "packages"]), key=st.sampled_from(
    ["memory", "timeout", "install_attempts", "retry_backoff"]), value=SCALARS)
def test_junk_in_a_good_matrix_is_rejected_in_one_line(tmp_path, bad_inputs, section_name, key, value):
    path = tmp_path / "m.toml"
    path.write_text(f"[matrix]\n{key} = {toml_value(value)}\n" + GOOD, encoding="utf-8")
    ok, why = loads_or_rejects_cleanly(path)
    assert bad_inputs.tried_one(ok), why


def test_the_generated_documents_reach_the_readers_checks(tmp_path):
    """The writer above really writes what the strategies make: a good document loads."""
    path = tmp_path / "m.toml"
    doc = {"images": {"b": {"local_build": "debian-bookworm", "platform": "linux/amd64"}}, "indexes": {"d": {}},
           "packages": {"n": {"requirements": ["numpy"], "modules": ["numpy"]}}, "matrix": {"timeout": 60.5}}
    path.write_text(toml_document(doc), encoding="utf-8")
    assert [c.id for c in reader.load(path).cells] == ["b__d__n"]


CLI_CASES = {
    "garbage": "\x00\x01 not toml [[[",
    "newline-key": '[images."a\\nb"]\nplatform = "linux/amd64"\n' + GOOD,
    "huge-memory": '[matrix]\nmemory = "' + "9" * 400 + 'G"\n' + GOOD,
    "huge-processes": '[matrix]\nprocesses = ' + "9" * 400 + '\n' + GOOD,
    "traversal": GOOD + '[packages."../../escape"]\nrequirements = []\nmodules = ["x"]\n',
    "wrong-types": '[matrix]\ntimeout = "soon"\ninclude = 3\n[images]\nx = 1\n[indexes.d]\npip_args = [1]\n'
                   '[packages.p]\nrequirements = "numpy"\nmodules = [[]]\n',
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_validate_on_the_command_line_exits_2_with_one_line_per_problem(tmp_path, bad_inputs, case):
    path = tmp_path / f"{case}.toml"
    path.write_text(CLI_CASES[case], encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "harness", "validate", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    lines = done.stderr.splitlines()
    clean = (done.returncode == 2 and bool(lines) and "Traceback" not in done.stderr
             and all(line.startswith(f"{path}: ") for line in lines))
    assert bad_inputs.tried_one(clean), (done.returncode, done.stderr)


# -- names that try to leave the results folder -----------------------------------------------------------

TRAVERSAL = ["..", "../up", "../../etc/cron.d/x", "a/b", "/abs", ".hidden", ".", "a\x00b", "ok\n", "x" * 101,
             "a\\..\\b", "~root", "-rf", "A"]


def matrix_with(image: str = "bookworm", index: str = "default", packages: str = "numpy",
                name: str | None = None) -> str:
    head = f"[matrix]\nname = {toml_key(name)}\n" if name is not None else ""
    return (f"{head}[images.{toml_key(image)}]\nlocal_build = \"debian-bookworm\"\nplatform = \"linux/amd64\"\n"
            f"[indexes.{toml_key(index)}]\n[packages.{toml_key(packages)}]\nrequirements = [\"numpy\"]\n"
            f"modules = [\"numpy\"]\n")


@pytest.mark.parametrize("where", ["image", "index", "packages", "name"])
@pytest.mark.parametrize("bad", TRAVERSAL)
def test_a_name_that_could_leave_the_results_folder_is_refused_naming_the_key(tmp_path, bad_inputs, where, bad):
    path = tmp_path / "m.toml"
    path.write_text(matrix_with(**{where: bad}), encoding="utf-8")
    with pytest.raises(MatrixError) as caught:
        reader.load(path)
    section = {"image": "images", "index": "indexes", "packages": "packages", "name": "matrix"}[where]
    [line] = [line for line in caught.value.lines() if f": {section}." in line]
    allowed = "lower-case letters, digits, '.', '_' or '-', beginning with a letter or digit, at most 100 long"
    assert bad_inputs.tried_one(line.isprintable() and allowed in line), line


def test_names_as_long_as_allowed_still_make_cell_ids_that_fit_a_file_name(tmp_path, bad_inputs):
    path = tmp_path / "m.toml"
    path.write_text(matrix_with("i" * 90, "x" * 90, "p" * 100), encoding="utf-8")
    with pytest.raises(MatrixError) as caught:
        reader.load(path)
    [line] = caught.value.lines()
    assert bad_inputs.tried_one(f": packages.{'p' * 100}: makes the cell id iiii" in line and "at most 200" in line)
    path.write_text(matrix_with("i" * 60, "x" * 60, "p" * 70), encoding="utf-8")
    [cell] = reader.load(path).cells
    assert len(cell.id) == 194


@HOSTILE
@given(image=NAMES, index=NAMES, packages=NAMES, name=st.one_of(st.none(), NAMES))
def test_every_cell_id_a_matrix_loads_is_a_file_name_inside_the_results_folder(tmp_path, bad_inputs, image, index,
                                                                                packages, name):
    path = tmp_path / "m.toml"
    path.write_text(matrix_with(image, index, packages, name), encoding="utf-8")
    ok, why = loads_or_rejects_cleanly(path)
    assert bad_inputs.tried_one(ok), why
    try:
        m = reader.load(path)
    except MatrixError:
        return
    results = (tmp_path / "results" / m.name).resolve()
    assert results.parent == (tmp_path / "results").resolve()
    for cell in m.cells:
        for suffix in (".json", ".log"):
            target = results / f"{cell.id}{suffix}"
            assert target.resolve().parent == results and len(target.name.encode()) <= 255, cell.id
            assert cell.id.isprintable() and "\x00" not in cell.id


# -- records read back: a run id, a matrix, a cell id or a log that would lead outside -------------------

RECORDED = ROOT / "tests" / "data" / "report" / "bookworm-amd64__broken__chain.json"  # a real run's record


@pytest.mark.parametrize("old_run", ["../../outside", "..", ".hidden", "a\x00b", "r" * 300, "a/b", ""])
def test_a_stored_record_whose_run_id_is_no_folder_name_is_replaced_not_followed(tmp_path, bad_inputs, old_run):
    from harness.model import CellResult
    from harness.results import store

    folder = tmp_path / "deep" / "results" / "m"
    folder.mkdir(parents=True)
    record = json.loads(RECORDED.read_text(encoding="utf-8"))
    (folder / f"{record['cell_id']}.json").write_text(json.dumps({**record, "run_id": old_run}), encoding="utf-8")
    before = {p for p in tmp_path.rglob("*")}
    try:
        store.write_result(folder, CellResult.from_json({**record, "run_id": "20270101T000000Z-abcdef"}))
        clean = True
    except Exception as exc:  # noqa: BLE001 — a crash on a planted record is what this test looks for
        clean = f"{type(exc).__name__}: {exc}"
    assert bad_inputs.tried_one(clean is True), clean
    assert {p for p in tmp_path.rglob("*")} - before == set()  # nothing new: no history folder anywhere
    assert json.loads((folder / f"{record['cell_id']}.json").read_text())["run_id"] == "20270101T000000Z-abcdef"


@pytest.mark.parametrize("field,value", [("matrix", "../../escaped"), ("matrix", ".."), ("cell_id", "../../escaped"),
                                         ("cell_id", "a/b"), ("cell_id", "x\x00y"), ("matrix", None)])
def test_merge_refuses_a_record_that_would_write_outside_the_merged_root(tmp_path, bad_inputs, field, value):
    from harness.errors import HarnessError
    from harness.results import merge

    good = json.loads(RECORDED.read_text(encoding="utf-8"))
    source = tmp_path / "downloaded.json"
    source.write_text(json.dumps({"results": [good, {**good, field: value, "cell_id": good["cell_id"] + "2"}
                                              if field == "matrix" else {**good, field: value}]}), encoding="utf-8")
    root = tmp_path / "a" / "b" / "merged"
    with pytest.raises(HarnessError) as caught:
        merge.write(merge.merge([source]), root)
    [line] = caught.value.lines()[:1]
    assert bad_inputs.tried_one(line.isprintable() and f"a record's {field} " in line), line
    assert not root.exists() and sorted(p.name for p in tmp_path.rglob("*")) == ["downloaded.json"]


def test_merge_copies_a_log_only_from_beside_its_record(tmp_path, bad_inputs):
    from harness.results import merge

    secret = tmp_path / "secret.txt"
    secret.write_text("private key\n")
    good = json.loads(RECORDED.read_text(encoding="utf-8"))
    source = tmp_path / "src" / "m"
    source.mkdir(parents=True)
    (source / "r.json").write_text(json.dumps({**good, "log": "../../secret.txt"}), encoding="utf-8")
    folders = merge.write(merge.merge([source]), tmp_path / "merged")
    [folder] = folders.values()
    written = [p.read_text() for p in folder.iterdir()]
    assert bad_inputs.tried_one(all("private key" not in text for text in written)), written
    assert json.loads((folder / f"{good['cell_id']}.json").read_text())["log"] is None


# -- an index that answers slowly, with garbage, with an error page, or with another site's page ---------

ERROR_PAGE = (b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503 Service "
              b"Temporarily Unavailable</h1><hr><center>nginx</center></body></html>")
NOT_AN_INDEX = b"<html><head></head><body><h1>Welcome to nginx!</h1><p>The web server works.</p></body></html>"
SLOW = 15.0  # past pip's --timeout 3 and the driver's own check (10 s)


@pytest.fixture(scope="module")
def hostile_index():
    """A loopback server: /slow/ sleeps past every timeout, /garbage/ answers random bytes with 200,
    /error/ a 503 HTML error page, /nonindex/ a 200 HTML page that is no index."""
    import os
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            mode = self.path.strip("/").split("/")[0]
            if mode == "slow":
                time.sleep(SLOW)
            status, body = {"garbage": (200, os.urandom(3000)), "error": (503, ERROR_PAGE)}.get(
                mode, (200, NOT_AN_INDEX))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


MODES = ("slow", "garbage", "error", "nonindex")


@pytest.fixture(scope="module")
def hostile_runs(hostile_index, tmp_path_factory):
    """Real cells on the host backend, one per answer, each over an index URL that carries a secret."""
    import time

    from faults import CANARY

    from harness.backends.host import HostBackend
    from harness.run import runner
    from harness.run.options import RunOptions

    tmp = tmp_path_factory.mktemp("hostile-index")
    indexes = "".join(f'[indexes.{mode}]\nindex_url = "http://user:{CANARY}@127.0.0.1:{hostile_index}/{mode}/simple/"\n'
                      'pip_args = ["--timeout", "3", "--retries", "0"]\n' for mode in MODES)
    path = tmp / "hostile.toml"
    path.write_text(f'[matrix]\ntimeout = 120\ninstall_attempts = 1\n[images.native]\nlocal_build = '
                    f'"debian-bookworm"\nplatform = "{Arch.native().platform}"\n{indexes}[packages.absent]\n'
                    'requirements = ["edgeprobe-absent==1.0"]\nmodules = ["edgeprobe_absent"]\n', encoding="utf-8")
    m = reader.load(path)
    cells_dir = tmp / "cells"
    cells_dir.mkdir()
    started = time.monotonic()
    results = runner.run_cells(m, list(m.cells), HostBackend(tmp=str(cells_dir)), RunOptions(run_id="t"),
                               results_dir=tmp / "results", log=lambda _: None)
    return {r.cell_id.split("__")[1]: r for r in results}, tmp / "results", time.monotonic() - started


EXPECTED = {
    # mode: verdict, evidence that quotes what the index answered, the hint's gist
    "slow": ("index-unreachable", "/slow/simple/: TimeoutError: timed out (GET ", "did not answer"),
    "garbage": ("index-unreachable", "with HTTP 200 and 3000 bytes that are not text (Content-Type: text/html): "
                                     "not a package index page", "answered with garbage, not a package index"),
    "error": ("index-unreachable", "HTTP 503 Service Unavailable (GET http://127.0.0.1:{port}/error/simple/edgeprobe-"
                                   "absent/): it answered an HTML page titled '503 Service Temporarily Unavailable'",
              "did not answer"),
    "nonindex": ("no-distribution", "does not answer as a package index: GET http://127.0.0.1:{port}/nonindex/simple/ "
                                    "→ HTTP 200 with a page that lists no projects: a page that reads 'Welcome to "
                                    "nginx! The web server works.'", "is wrong or not an index"),
}


@pytest.mark.parametrize("mode", MODES)
def test_a_hostile_index_gives_a_verdict_with_what_it_answered_and_no_secret(hostile_runs, hostile_index, fault,
                                                                              bad_inputs, mode):
    from faults import CANARY

    results, folder, took = hostile_runs
    result = results[mode]
    verdict, evidence, hint = EXPECTED[mode]
    fault.secrets_in(folder, json.dumps(result.to_json()))
    assert took < 120, f"the cells took {took:.0f} s: something waited past every timeout"
    record = json.loads((folder / f"{result.cell_id}.json").read_text(encoding="utf-8"))
    assert record["verdict"] == verdict, (record["verdict"], record["evidence"])
    assert any(evidence.format(port=hostile_index) in line for line in record["evidence"]), record["evidence"]
    assert hint in record["hint"], record["hint"]
    assert (folder / f"{result.cell_id}.log").is_file()
    assert f"http://***@127.0.0.1:{hostile_index}/{mode}/simple/" in " ".join(record["evidence"]) + record["hint"]
    assert bad_inputs.tried_one(CANARY not in json.dumps(record) and fault.secrets == 0)
