"""`bisect` and `solve` for real: fixture indexes whose releases break and fix an import on purpose, a
release with no wheel for the target, an index that fails once — each step an ordinary cell in a real
container, stored and cached, the cells counted from the engine's own event log.

Every test keeps its own shared download cache (a namespace of its own), removed afterwards.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_fast import containers_created, namespace  # noqa: F401 - the fixture and the engine's count
from wheels import CHAIN_MODULES, bisect_releases, solve_releases

from harness.cli import main as cli
from harness.results import store
from harness.run import options, serve

pytestmark = pytest.mark.docker


class FailsOnce:
    """The harness's PEP 503 index over a folder, down for one install: from pip's first request every
    project page answers 503 (to pip's own retries, and to the cell driver's check after the install
    failed); once the driver has asked, it serves again."""

    def __init__(self, directory: Path) -> None:
        state = self.state = {"phase": "up", "refused": 0}

        class Handler(serve._Handler):
            def do_GET(self) -> None:  # noqa: N802
                parts = [p for p in urlsplit(self.path).path.split("/") if p]
                agent = self.headers.get("User-Agent", "")
                if len(parts) == 2 and parts[0] == "simple":
                    if state["phase"] == "up" and agent.startswith("pip/"):
                        state["phase"] = "down"
                    if state["phase"] == "down":
                        state["refused"] += 1
                        if agent.startswith("edge-wheel-harness-cell"):  # the driver's own check: the last 503
                            state["phase"] = "recovered"
                        return self._send(503, b"down for a moment\n", "text/plain")
                return super().do_GET()

        Handler.directory = directory
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def own_caches(monkeypatch, namespace):  # noqa: F811 - the fixture imported above
    """The CLI's cells use this test's own shared caches."""
    real = options.for_host
    monkeypatch.setattr(options, "for_host", lambda *a, **kw: real(*a, cache_namespace=namespace, **kw))


def answer(argv: list[str], path: Path, backend) -> tuple[int, dict, int]:
    """Run the CLI; its exit code, its answer (--json) and the containers its run created."""
    since = time.time()
    code = cli.main([*argv, "--progress", "lines", "--json", str(path)])
    found = json.loads(path.read_text())
    return code, found, containers_created(backend, found["run_id"], since)


def test_bisect_finds_the_first_bad_release_through_an_index_that_fails_once(docker_backend, bookworm, tmp_path,
                                                                             own_caches, capsys):
    house = bisect_releases(tmp_path / "house")
    results = tmp_path / "results"
    index = FailsOnce(house)
    with index as url:
        m = tmp_path / "m.toml"
        m.write_text(f"""
[matrix]
timeout = 300
install_attempts = 1
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.flaky]
index_url = "{url}"
[packages.chain]
requirements = ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"]
modules = {CHAIN_MODULES}
checks = []
""")
        base = ["bisect", str(m), "bookworm-amd64__flaky__chain", "torchao", "0.15.0", "0.18.0",
                "--results", str(results)]

        # A budget of 3 cells: both ends, the first of them twice (the index failed once): no answer yet.
        code, got, created = answer([*base, "--max-cells", "3"], tmp_path / "a1.json", docker_backend)
        assert index.state["phase"] == "recovered" and index.state["refused"] >= 2
        assert code == 1 and created == 3
        assert got["counts"] == {"ran": 3, "reused": 0, "retried": 1, "pruned": 0}
        assert got["none"].startswith("the budget of 3 cell(s) is spent with 2 release(s) left between torchao "
                                      "0.15.0 and 0.18.0")
        assert got["narrowed"] == ["0.16.0", "0.17.0", "0.18.0"]
        assert got["steps"]["0.15.0"]["outcome"].startswith("pass (ran ")
        assert got["steps"]["0.15.0"]["outcome"].endswith(", after index-unreachable)")
        assert got["steps"]["0.18.0"]["verdict"] == "import-failed"

        # Again without a budget: the ends come from the result cache, two steps run.
        code, got, created = answer(base, tmp_path / "a2.json", docker_backend)
        out = capsys.readouterr().out
    assert code == 0 and created == 2, out
    assert (got["first"], got["last"]) == ("0.17.0", "0.16.0")
    assert got["because"] == ("torchtune 0.6.1 imports int4_weight_only from torchao.quantization, which torchao "
                              "0.17.0 does not provide")
    assert got["counts"] == {"ran": 2, "reused": 2, "retried": 0, "pruned": 0}
    assert got["skipped"] == {"0.16.1": "no wheel for this target (cp311, manylinux_2_36_x86_64): wheels for other "
                                        "targets (py3-none-win_amd64)"}
    assert got["changed"][:2] == ["verdict: pass → import-failed", "installed: torchao 0.16.0 → 0.17.0"]
    assert any(line.startswith("now: import torchtune: ImportError: cannot import name 'int4_weight_only'")
               for line in got["changed"])
    assert "First bad release: torchao 0.17.0 (import-failed); last good: torchao 0.16.0 (pass)" in out
    # Each step is an ordinary result, named after its pins, and in the matrix's table.
    steps = {v: s["cell_id"] for v, s in got["steps"].items()}
    assert steps == {"0.15.0": "bookworm-amd64__flaky__chain",  # the matrix's own cell: the same pins
                     "0.16.0": "bookworm-amd64__flaky__torch-2.13.0_torchao-0.16.0_torchtune-0.6.1",
                     "0.17.0": "bookworm-amd64__flaky__torch-2.13.0_torchao-0.17.0_torchtune-0.6.1",
                     "0.18.0": "bookworm-amd64__flaky__torch-2.13.0_torchao-0.18.0_torchtune-0.6.1"}
    stored = store.latest(results / "m", steps["0.17.0"])
    assert stored["verdict"] == "import-failed" and stored["cell"]["packages"]["made_by"] == "bisect"
    table = (results / "m" / "README.md").read_text()
    assert all(f"`{cell_id}`" in table for cell_id in steps.values())


def test_bisect_the_other_way_and_a_range_with_nothing_to_bisect(docker_backend, bookworm, tmp_path, own_caches):
    house = bisect_releases(tmp_path / "house")
    m = tmp_path / "m.toml"
    m.write_text(f"""
[matrix]
timeout = 300
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.house]
serve = ["{house}"]
no_index = true
[packages.chain]
requirements = ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"]
modules = {CHAIN_MODULES}
checks = []
""")
    base = ["bisect", str(m), "bookworm-amd64__house__chain", "torchao"]
    results = ["--results", str(tmp_path / "results")]
    # The good version is the newer one: the first release that fixed it.
    code, got, created = answer([*base, "0.19.0", "0.17.0", *results], tmp_path / "a1.json", docker_backend)
    assert code == 0 and (got["first"], got["last"]) == ("0.19.0", "0.18.0") and created == 3
    assert got["counts"] == {"ran": 3, "reused": 0, "retried": 0, "pruned": 0}
    assert [got["steps"][v]["verdict"] for v in ("0.17.0", "0.18.0", "0.19.0")] == \
        ["import-failed", "import-failed", "pass"]
    assert got["because"] == ("fixes: torchtune 0.6.1 imports int4_weight_only from torchao.quantization, which "
                              "torchao 0.18.0 does not provide")

    # 0.16.0 and 0.19.0 both pass: there is no bad end, so nothing to bisect (exit 1); only 0.16.0 runs.
    code, got, created = answer([*base, "0.16.0", "0.19.0", *results], tmp_path / "a2.json", docker_backend)
    assert code == 1 and created == 1
    assert got["none"] == ("the bad end torchao 0.19.0 is pass, which does not count as bad (anything but pass): "
                           "nothing to bisect")
    # --bad names the verdict: pass with 0.16.0 and import-failed with 0.18.0, first import-failed at 0.17.0.
    code, got, created = answer([*base, "0.16.0", "0.18.0", "--bad", "import-failed", *results], tmp_path / "a3.json",
                                docker_backend)
    assert code == 0 and got["first"] == "0.17.0" and created == 0


def test_solve_finds_the_newest_working_set(docker_backend, bookworm, tmp_path, own_caches, capsys):
    house = solve_releases(tmp_path / "house")
    m = tmp_path / "m.toml"
    m.write_text(f"""
[matrix]
timeout = 300
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.house]
serve = ["{house}"]
no_index = true
[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = {CHAIN_MODULES}
checks = []
""")
    results = tmp_path / "results"
    base = ["solve", str(m), "--results", str(results)]

    # The default chain: plan rules out torchao 0.19.0 and torchtune 0.7.0 (they need a torch the index
    # lacks) before any cell; torchao 0.18.0 and 0.17.0 break torchtune 0.6.1 with torch 2.13.0, a fact
    # that rules them out with torch 2.12.0 without a cell; torchao 0.16.0 passes.
    code, got, created = answer(base, tmp_path / "s1.json", docker_backend)
    out = capsys.readouterr().out
    assert code == 0, out
    assert got["best"] == ["torch==2.13.0", "torchao==0.16.0", "torchtune==0.6.1"] and got["verdict"] == "pass"
    assert created == got["counts"]["ran"] == 3 and got["counts"]["pruned"] == 2
    rejected = [(d["pins"], d["rejected"].split(":")[0], d["cell_id"]) for d in got["decided"][:-1]]
    assert rejected == [
        (["torch==2.13.0", "torchao==0.18.0", "torchtune==0.6.1"], "import-failed",
         "bookworm-amd64__house__torch-2.13.0_torchao-0.18.0_torchtune-0.6.1"),
        (["torch==2.12.0", "torchao==0.18.0", "torchtune==0.6.1"], "known", None),
        (["torch==2.13.0", "torchao==0.17.0", "torchtune==0.6.1"], "import-failed",
         "bookworm-amd64__house__torch-2.13.0_torchao-0.17.0_torchtune-0.6.1"),
        (["torch==2.12.0", "torchao==0.17.0", "torchtune==0.6.1"], "known", None)]
    assert got["decided"][1]["rejected"] == (
        "known: torchtune 0.6.1 imports int4_weight_only from torchao.quantization, which torchao 0.18.0 does not "
        "provide (learned from bookworm-amd64__house__torch-2.13.0_torchao-0.18.0_torchtune-0.6.1)")
    assert set(got["skipped"]) == {"torchao", "torchtune"}
    assert got["skipped"]["torchao"]["0.19.0"].startswith("plan: cannot install here with torch, torchtune (conflict)")
    assert got["skipped"]["torchtune"]["0.7.0"].startswith("plan: cannot install here")
    assert "Newest working set: torch 2.13.0, torchao 0.16.0, torchtune 0.6.1 — pass" in out

    # The ready block, added to the matrix, names the cell solve ran: `run` reuses it, starting nothing.
    m.write_text(m.read_text() + "\n" + got["block"] + "\n")
    assert cli.main(["run", str(m), "--only", "*torchao-0.16.0*", "--results", str(results), "--progress",
                     "lines"]) == 0
    assert "1 cell: 1 pass; 0 ran, 1 reused" in capsys.readouterr().out
    [record] = [r for r in store.load_results(results / "m") if "torchao-0.16.0" in r["cell_id"]]
    assert record["reused"]["by_run"] != record["run_id"]

    # torch fixed at 2.13.0 and torchao below 0.16: no set passes; the best is degraded (torchao 0.15.0
    # was built for torch 2.12), and torchtune 0.6.0 cannot beat it: the same loss is known.
    code, got, created = answer([*base, "torch==2.13.0", "torchao<0.16", "torchtune"], tmp_path / "s2.json",
                                docker_backend)
    assert code == 0 and created == 1 and got["verdict"] == "degraded"
    assert got["best"] == ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"] and got["untried"] == 0
    assert got["decided"][1]["rejected"].startswith("cannot beat torch 2.13.0, torchao 0.15.0, torchtune 0.6.1 "
                                                    "(degraded, 1 loss(es)): known: torchao 0.15.0 skipped its C++ "
                                                    "extensions with torch 2.13.0")
    assert 'expect = "degraded"' in got["block"] and '[[matrix.include]]' in got["block"]

    # torch free: an older torch with which torchao 0.15.0 passes beats the newer degraded set.
    code, got, created = answer([*base, "torch", "torchao<0.16", "torchtune"], tmp_path / "s3.json", docker_backend)
    assert code == 0 and created == 1 and got["counts"]["reused"] == 1
    assert got["best"] == ["torch==2.12.0", "torchao==0.15.0", "torchtune==0.6.1"] and got["verdict"] == "pass"

    # torchao 0.17 and 0.18 only: the stored results prove every set fails; no working set (exit 1), no cell.
    code, got, created = answer([*base, "torch", "torchao>=0.17,<0.19", "torchtune==0.6.1"], tmp_path / "s4.json",
                                docker_backend)
    assert code == 1 and created == 0 and got["best"] is None and got["counts"]["ran"] == 0
    assert [d["rejected"].split(":")[0] for d in got["decided"]] == ["known"] * 4
