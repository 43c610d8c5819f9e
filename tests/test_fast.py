"""Fast matrices, for real: the result cache, the shared download caches, parallel cells, memory
limits and Ctrl-C in a parallel run — in real containers on fixture wheels and fixture indexes.

Every test keeps its own shared cache (a namespace of its own) and removes it afterwards, so the
caches a person's runs use are never touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from wheels import CHAIN_MODULES, TORCHAO_GOOD, fixture_chain, make_wheel

from harness.backends.base import LABEL_RUN
from harness.errors import RunInterrupted
from harness.matrix import reader
from harness.model import Verdict
from harness.results import store
from harness.run import cache, runner
from harness.run.options import RunOptions, new_run_id
from harness.run.serve import WheelhouseServer

pytestmark = pytest.mark.docker

PINS = '["torch==2.13.0", "torchao==0.18.0", "torchtune==0.6.1"]'


@pytest.fixture
def namespace(docker_backend):
    """A shared-cache namespace of this test's own, removed afterwards."""
    name = f"test-{secrets.token_hex(3)}-"
    yield name
    prefix = docker_backend.volume_name(name)
    for volume in docker_backend.client.volumes.list(filters={"label": "edge-wheel-harness.cache"}):
        if volume.name.startswith(prefix):
            volume.remove(force=True)


def options(namespace: str, **kw) -> RunOptions:
    return RunOptions(run_id=new_run_id(), cache_namespace=namespace, **kw)


def run(m, backend, results: Path, opts: RunOptions, **kw) -> dict[str, object]:
    out = runner.run_cells(m, list(m.cells), backend, opts, results_dir=results, log=lambda _: None, **kw)
    return {r.cell_id: r for r in out}


def containers_created(backend, run_id: str, since: float) -> int:
    """Containers of this run the engine created, from its own event log (they are gone by now)."""
    events = backend.client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                   filters={"type": "container", "event": "create", "label": f"{LABEL_RUN}={run_id}"})
    return sum(1 for _ in events)


def reused(results: dict, run_id: str) -> set[str]:
    return {cell_id for cell_id, r in results.items() if r.reused and r.reused.get("by_run") == run_id}


def test_a_cache_hit_starts_no_container_and_each_change_reruns_exactly_its_cells(docker_backend, bookworm,
                                                                                   tmp_path, namespace, monkeypatch):
    house_a = fixture_chain(tmp_path / "a")
    house_b = fixture_chain(tmp_path / "b")
    upstream = fixture_chain(tmp_path / "upstream")
    with WheelhouseServer(upstream) as index:
        path = tmp_path / "m.toml"

        def write(other_pins: str) -> reader.Matrix:
            includes = [("upstream", "loose")] + [(i, p) for i in ("house-a", "house-b") for p in ("pinned", "other")]
            path.write_text(f"""
[matrix]
timeout = 300
images = []
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.house-a]
find_links = ["{house_a}"]
no_index = true
[indexes.house-b]
find_links = ["{house_b}"]
no_index = true
[indexes.upstream]
index_url = "{index.url}"
[packages.pinned]
requirements = {PINS}
modules = {CHAIN_MODULES}
checks = []
[packages.other]
requirements = {other_pins}
modules = ["torch"]
checks = []
[packages.loose]
requirements = ["torch", "torchao", "torchtune"]
modules = {CHAIN_MODULES}
checks = []
""" + "".join(f'[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "{i}"\npackages = "{p}"\n'
              for i, p in includes))
            return reader.load(path)

        m = write('["torch==2.13.0"]')
        ids = {c.id for c in m.cells}
        assert len(ids) == 5
        results = tmp_path / "results"

        first = run(m, docker_backend, results, options(namespace))
        assert {r.verdict for r in first.values()} == {Verdict.PASS}, {k: r.evidence for k, r in first.items()}
        assert all(r.cache and "key" in r.cache for r in first.values())
        assert all(r.prediction for r in first.values())  # made while the pinned cells ran

        # Nothing changed: every result reused, no container started.
        opts, since = options(namespace), time.time()
        again = run(m, docker_backend, results, opts)
        assert reused(again, opts.run_id) == ids
        assert containers_created(docker_backend, opts.run_id, since) == 0
        assert {k: r.verdict for k, r in again.items()} == {k: r.verdict for k, r in first.items()}
        on_disk = store.latest(results, "bookworm-amd64__house-a__pinned")
        assert on_disk["reused"]["by_run"] == opts.run_id and on_disk["run_id"] == first[on_disk["cell_id"]].run_id

        # A wheel added to one wheelhouse: only that index variant's cells run again.
        make_wheel(house_b, "unrelated", "1.0", {"unrelated.py": ""})
        opts = options(namespace)
        got = run(m, docker_backend, results, opts)
        assert ids - reused(got, opts.run_id) == {"bookworm-amd64__house-b__pinned", "bookworm-amd64__house-b__other"}
        assert "run again: index changed" in got["bookworm-amd64__house-b__other"].notes

        # A changed pin: only the cells of that package set.
        m = write('["torch==2.13.0", "torchao==0.18.0"]')
        opts = options(namespace)
        got = run(m, docker_backend, results, opts)
        assert ids - reused(got, opts.run_id) == {"bookworm-amd64__house-a__other", "bookworm-amd64__house-b__other"}
        assert "run again: requirements changed" in got["bookworm-amd64__house-a__other"].notes

        # A new upstream release, seen by the plan: only the cell whose requirements are not pinned.
        make_wheel(upstream, "torchao", "0.19.0", TORCHAO_GOOD, requires=("torch",))
        opts = options(namespace)
        got = run(m, docker_backend, results, opts)
        assert ids - reused(got, opts.run_id) == {"bookworm-amd64__upstream__loose"}
        loose = got["bookworm-amd64__upstream__loose"]
        assert loose.prediction["versions"]["torchao"] == "0.19.0"
        assert [i["version"] for i in loose.install["items"] if i["name"] == "torchao"] == ["0.19.0"]

        # A changed probe (the harness's in-cell code is part of every key): everything runs again.
        real = cache.harness_digest()
        monkeypatch.setattr(cache, "harness_digest", lambda: real[::-1])
        opts = options(namespace)
        got = run(m, docker_backend, results, opts)
        assert reused(got, opts.run_id) == set()
        assert all("run again: harness changed" in r.notes for r in got.values())

        # --force (a pattern) runs exactly what it names.
        opts = options(namespace, force=("*__house-a__*",))
        got = run(m, docker_backend, results, opts)
        assert ids - reused(got, opts.run_id) == {"bookworm-amd64__house-a__pinned", "bookworm-amd64__house-a__other"}


def test_infrastructure_verdicts_are_never_reused(docker_backend, bookworm, tmp_path, namespace):
    import socket

    with socket.socket() as s:  # a port nobody listens on: the index does not answer
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "m.toml"
    path.write_text(f"""
[matrix]
install_attempts = 1
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.down]
index_url = "http://127.0.0.1:{port}/simple"
[packages.p]
requirements = ["edgeops==1.0"]
modules = ["edgeops"]
""")
    m = reader.load(path)
    results = tmp_path / "results"
    first = run(m, docker_backend, results, options(namespace))
    [r] = first.values()
    assert r.verdict is Verdict.INDEX_UNREACHABLE
    opts, since = options(namespace), time.time()
    [again] = run(m, docker_backend, results, opts).values()
    assert again.verdict is Verdict.INDEX_UNREACHABLE and again.reused is None
    assert containers_created(docker_backend, opts.run_id, since) == 1
    assert any(n.startswith("run again: the stored result is index-unreachable") for n in again.notes)


@pytest.mark.network
def test_two_cells_share_a_warm_cache_at_the_same_time(docker_backend, bookworm, tmp_path, namespace, uv_wheel):
    """Two uv cells on one shared cache, side by side: both correct, both warm, each in its own venv."""
    upstream = fixture_chain(tmp_path / "upstream")
    shutil.copy(uv_wheel, upstream)  # cells install uv from their own index variant
    make_wheel(upstream, "torchao", "0.1.0", {"torchao/__init__.py": "import torch\n"}, requires=("torch",))
    with WheelhouseServer(upstream) as index:
        path = tmp_path / "m.toml"
        path.write_text(f"""
[matrix]
installers = ["uv"]
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.upstream]
index_url = "{index.url}"
[packages.good]
requirements = {PINS}
modules = {CHAIN_MODULES}
checks = []
[packages.old]
requirements = ["torch==2.13.0", "torchao==0.1.0", "torchtune==0.6.1"]
modules = {CHAIN_MODULES}
checks = []
""")
        m = reader.load(path)
        results = tmp_path / "results"
        first = run(m, docker_backend, results, options(namespace))
        opts = options(namespace, jobs=2, force=("*",))
        started = time.monotonic()
        both = run(m, docker_backend, results, opts)
        wall = time.monotonic() - started
    good, old = both["bookworm-amd64__upstream__good__uv"], both["bookworm-amd64__upstream__old__uv"]
    assert good.verdict is Verdict.PASS, good.evidence
    assert old.verdict is Verdict.IMPORT_FAILED and "quantization" in old.evidence[0]
    assert {r.verdict for r in first.values()} == {good.verdict, old.verdict}
    for r in (good, old):
        assert r.caches["shared"] == f"{namespace}linux-amd64-py3.11" and r.caches["state"] == "warm"
        assert r.caches["downloaded"] == 0 and r.caches["from_cache"] == 3
    # they really overlapped: the two ran at once
    spans = [(r.started_at, r.finished_at) for r in (good, old)]
    assert spans[0][0] <= spans[1][1] and spans[1][0] <= spans[0][1], spans
    assert wall < good.timings["total"] + old.timings["total"]


def test_a_cell_over_its_memory_limit_is_crashed_and_says_so(docker_backend, bookworm, tmp_path, namespace):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "hungry", "1.0", {"hungry.py": "blocks = [bytearray(64 << 20) for _ in range(16)]\n"})
    path = tmp_path / "m.toml"
    path.write_text(f"""
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.w]
find_links = ["{wheels}"]
no_index = true
[packages.p]
requirements = ["hungry==1.0"]
modules = ["hungry"]
[[matrix.include]]
image = "bookworm-amd64"
index = "w"
packages = "p"
memory = "256M"
""")
    m = reader.load(path)
    [r] = run(m, docker_backend, tmp_path / "results", options(namespace)).values()
    assert r.verdict is Verdict.CRASHED
    assert r.evidence[0] == ("the kernel killed the cell for memory (OOMKilled) at its 256 MiB limit during the "
                             "imports (probe)")
    assert "ran out of memory at its 256 MiB limit" in r.hint
    assert r.cell["memory"] == 256 << 20


def test_ctrl_c_in_a_parallel_run_leaves_no_container_and_keeps_every_finished_result(docker_backend, bookworm,
                                                                                      tmp_path, namespace):
    wheels = fixture_chain(tmp_path / "wheels")
    make_wheel(wheels, "sleepy", "1.0", {"sleepy.py": "import time\ntime.sleep(600)\n"})
    path = tmp_path / "m.toml"
    path.write_text(f"""
[matrix]
images = []
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.w]
find_links = ["{wheels}"]
no_index = true
[packages.quick]
requirements = {PINS}
modules = {CHAIN_MODULES}
checks = []
[packages.slow-a]
requirements = ["sleepy==1.0"]
modules = ["sleepy"]
[packages.slow-b]
requirements = ["sleepy==1.0"]
modules = ["sleepy"]
[[matrix.include]]
image = "bookworm-amd64"
index = "w"
packages = "quick"
[[matrix.include]]
image = "bookworm-amd64"
index = "w"
packages = "slow-a"
[[matrix.include]]
image = "bookworm-amd64"
index = "w"
packages = "slow-b"
""")
    m = reader.load(path)
    results = tmp_path / "results"
    opts = options(namespace, jobs=2)

    def running():
        return docker_backend.client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={opts.run_id}"},
                                                     ignore_removed=True)

    def interrupt_when_both_slow_cells_sleep():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (results / "bookworm-amd64__w__quick.json").exists() and len(running()) == 2:
                time.sleep(3)
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.3)

    threading.Thread(target=interrupt_when_both_slow_cells_sleep, daemon=True).start()
    with pytest.raises(RunInterrupted) as stopped:
        runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=results, log=lambda _: None)
    assert running() == []
    by_id = {r.cell_id: r.verdict for r in stopped.value.done.values()}
    assert by_id == {"bookworm-amd64__w__quick": Verdict.PASS, "bookworm-amd64__w__slow-a": Verdict.INTERRUPTED,
                     "bookworm-amd64__w__slow-b": Verdict.INTERRUPTED}
    on_disk = {r["cell_id"]: r["verdict"] for r in store.load_results(results)}
    assert on_disk == {k: v.value for k, v in by_id.items()}
    shutil.rmtree(results)
