"""Faults provoked for real, each through the harness as a person runs it: two runs on one results
folder, SIGTERM, a full results disk, a cell that prints tens of megabytes, an image that vanishes
mid-run, an engine that stops before and in the middle of a run; and what a cell may do (least
privilege). For each: no container left behind, no finished result lost or corrupted, the run marked
incomplete where it was, one clear line to the person. Each test records itself in the fault tally
(tests/faults.py; `nox -s faults` prints it)."""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import engines
import pytest
import trustme
from faults import CANARY, records
from harness_cli import cli
from wheels import AMD64_IMAGE, fixture_chain, make_wheel

from harness.backends import logkeep
from harness.backends.base import LABEL_CELL, LABEL_RUN
from harness.errors import ReportError
from harness.matrix import reader
from harness.model import Verdict
from harness.results import store
from harness.run import runner
from harness.run.options import RunOptions, new_run_id

ROOT = Path(__file__).resolve().parents[1]


class Started:
    """A run through the CLI in the background, its output collected as it comes."""

    def __init__(self, *args, env=None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "harness", *map(str, args)], cwd=ROOT,
                                     env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True).start()

    @property
    def run_id(self) -> str | None:
        return next((line.split()[1] for line in list(self.out) if line.startswith("Run ")), None)

    def wait_for_cell(self, client, cell: str, timeout: float = 300):
        """The running container of `cell`, once it runs."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            run_id = self.run_id
            if run_id:
                found = [c for c in client.containers.list(filters={"label": f"{LABEL_RUN}={run_id}"},
                                                           ignore_removed=True)
                         if c.labels.get(LABEL_CELL) == cell]
                if found:
                    return found[0]
            time.sleep(0.3)
        pytest.fail(f"{cell} never ran:\n" + "".join(self.out))


def sleepy_matrix(tmp_path: Path, name: str, *, image: str = AMD64_IMAGE, seconds: int = 600) -> Path:
    """A quick cell and one that sleeps at import, on fixture wheels."""
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "sleepy", "1.0", {"sleepy.py": f"import time\ntime.sleep({seconds})\n"})
    path = tmp_path / f"{name}.toml"
    path.write_text(f'{image}[indexes.fixtures]\nfind_links = ["{wheelhouse}"]\nno_index = true\n'
                    '[packages.a-quick]\nrequirements = ["torch"]\nmodules = ["torch"]\nchecks = []\n'
                    '[packages.sleep]\nrequirements = ["sleepy"]\nmodules = ["sleepy"]\n')
    return path


def harness_containers(client, run_id: str | None = None) -> list:
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    return client.containers.list(all=True, filters={"label": label}, ignore_removed=True)


def whole_json(folder: Path) -> list[Path]:
    """Every JSON file under `folder` that does not parse (a corrupt record), and every temp file left."""
    bad = [p for p in folder.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    for path in folder.rglob("*.json"):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            bad.append(path)
    return bad


# -- two runs at once; SIGTERM ---------------------------------------------------------------------

@pytest.mark.docker
def test_a_second_run_on_the_same_folder_is_refused_and_sigterm_stops_the_first_cleanly(
        docker_backend, bookworm, tmp_path, fault):
    m = sleepy_matrix(tmp_path, "busy")
    results = tmp_path / "results"
    first = Started("run", m, "--no-plan", "--results", results, "--progress", "lines")
    first.wait_for_cell(docker_backend.client, "bookworm-amd64__fixtures__sleep")
    before = records(results / "busy")
    assert [r["verdict"] for r in before.values()] == ["pass"]

    second = cli("run", m, "--no-plan", "--results", results, timeout=120)
    assert second.returncode == 2, second.stdout + second.stderr
    error, hint = second.stderr.strip().splitlines()
    assert error.startswith(f"ERROR {results / 'busy'} is being written by run {first.run_id} "
                            f"(pid {first.proc.pid}, since 20")
    assert hint == "  hint: wait for it to finish, or give this run another --results folder"
    assert [c.labels[LABEL_RUN] for c in harness_containers(docker_backend.client)] == [first.run_id]

    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(timeout=120) == 143, "".join(first.out)
    stderr = first.proc.stderr.read()
    assert stderr.strip().splitlines() == ["Terminated: the running cells' containers were removed; "
                                           "finished cells are in the results."]
    assert harness_containers(docker_backend.client, first.run_id) == []
    after = {k: r["verdict"] for k, r in records(results / "busy").items()}
    assert after == {"bookworm-amd64__fixtures__a-quick": "pass", "bookworm-amd64__fixtures__sleep": "interrupted"}
    assert "**interrupted**" in (results / "busy" / "README.md").read_text()
    assert fault.lost_of(before, results / "busy") == 0
    assert whole_json(results) == []

    # the lock went with the first run: the folder is free again
    again = cli("run", m, "--no-plan", "--results", results, "--only", "*a-quick", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_lock_of_a_run_that_died_is_released(tmp_path, fault):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom harness.results import store\n"
         "with store.writing(sys.argv[1], 'run-held'):\n    print('held', flush=True)\n    time.sleep(600)\n",
         str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ReportError) as busy, store.writing(tmp_path, "run-2"):
            pass
        assert f"is being written by run run-held (pid {holder.pid}, since " in str(busy.value)
    finally:
        holder.kill()  # as the OOM killer or a power cut would: no clean-up of its own
        holder.wait()
    with store.writing(tmp_path, "run-3"):
        assert json.loads((tmp_path / store.OWNER).read_text())["run_id"] == "run-3"
    assert not (tmp_path / store.OWNER).exists()


# -- a full results disk ---------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs: a results disk that really fills up."""
    engines.need_root("mount")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.mark.docker
def test_a_full_results_disk_stops_the_run_in_one_line_and_loses_no_result(docker_backend, bookworm, tmp_path,
                                                                           small_disk, fault):
    m = sleepy_matrix(tmp_path, "full", seconds=0)
    results = small_disk / "results"
    first = cli("run", m, "--no-plan", "--results", results, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    before = records(results / "full")
    assert len(before) == 2

    fill(small_disk)
    full = cli("run", m, "--no-plan", "--results", results, "--force", "--progress", "lines", timeout=900)
    assert full.returncode == 3, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    error, hint = full.stderr.strip().splitlines()
    assert error.startswith(f"ERROR {results / 'full'}: cannot write the result of bookworm-amd64__fixtures__")
    assert error.endswith(": No space left on device")
    assert hint.startswith("  hint: free space there (or give --results a folder on another disk) and run again")
    run_id = next(line.split()[1] for line in full.stdout.splitlines() if line.startswith("Run "))
    assert harness_containers(docker_backend.client, run_id) == []
    assert fault.lost_of(before, results / "full") == 0
    assert records(results / "full") == before  # the latest records are the ones the last good run wrote
    assert whole_json(results) == []

    (small_disk / "filler").unlink()  # space again: the next run writes as usual
    done = cli("run", m, "--no-plan", "--results", results, "--force", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["run_id"] for r in records(results / "full").values()} != {r["run_id"] for r in before.values()}


# -- a cell that prints tens of megabytes ------------------------------------------------------

def test_the_keeper_keeps_head_tail_and_every_marker_line_with_a_notice():
    keeper = logkeep.Keeper(head=1000, tail=1000)
    keeper.feed("@@harness phase venv start\n")
    for i in range(10_000):
        keeper.feed(f"noise {i:05d}\n" + ("@@probe import torch ok\n" if i == 5000 else ""))
    keeper.feed("@@harness phase probe end\nlast line without newline")
    text = keeper.text()
    assert len(text) < 2600
    lines = text.splitlines()
    assert lines[0] == "@@harness phase venv start" and lines[1] == "noise 00000"
    assert "@@probe import torch ok" in lines and "@@harness phase probe end" in lines
    assert lines[-1] == "last line without newline" and lines[-2] == "@@harness phase probe end"
    notice = next(line for line in lines if line.startswith("[harness: "))
    assert "lines (" in notice and "were left out here" in notice
    assert lines.index("@@probe import torch ok") > lines.index(notice)


def test_output_without_newlines_stays_bounded():
    keeper = logkeep.Keeper(head=1 << 20, tail=1 << 20)
    for _ in range(64):
        keeper.feed("x" * (1 << 20))  # 64 MiB, not one newline
    assert len(keeper.partial) <= logkeep.LONGEST
    assert len(keeper.text()) <= 3 << 20


@pytest.mark.docker
def test_a_cell_printing_tens_of_megabytes_keeps_its_verdict_and_a_bounded_log(docker_backend, bookworm,
                                                                                   tmp_path, fault):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "chatty", "1.0", {"chatty.py": (
        "import sys\nline = 'chatter ' * 127 + 'x\\n'\nfor _ in range(40 * 1024):\n    sys.stdout.write(line)\n"
        "sys.stdout.flush()\n")})
    path = tmp_path / "chatty.toml"
    path.write_text(f'{AMD64_IMAGE}[indexes.fixtures]\nfind_links = ["{wheelhouse}"]\nno_index = true\n'
                    '[packages.chatty]\nrequirements = ["torch", "chatty"]\nmodules = ["torch", "chatty"]\n'
                    'checks = []\n')
    m = reader.load(path)
    opts = RunOptions(run_id=new_run_id())
    [result] = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                                log=lambda _: None)
    assert result.verdict is Verdict.PASS, (result.evidence, result.hint)
    assert [s["module"] for s in result.probe["imports"]] == ["torch", "chatty"]
    log = (tmp_path / "results" / result.log).read_text()
    assert len(log) <= logkeep.HEAD + logkeep.TAIL + (1 << 16)  # 40 MiB printed, 16 MiB kept
    assert "MiB are kept, and every line of the driver and the probe]" in log
    assert "@@probe " in log.split("were left out here")[1]
    assert harness_containers(docker_backend.client, opts.run_id) == []


# -- an image that vanishes mid-run ----------------------------------------------------------------

@pytest.mark.docker
def test_an_image_that_vanishes_mid_run_is_image_unavailable_and_the_run_goes_on(docker_backend, bookworm,
                                                                                 tmp_path, fault):
    tag = f"edge-wheel-harness/vanishing-{secrets.token_hex(3)}:amd64"
    docker_backend.client.images.get(bookworm).tag(tag)
    image = f'[images.vanishing]\nref = "{tag}"\nplatform = "linux/amd64"\n'
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "sleepy", "1.0", {"sleepy.py": "import time\ntime.sleep(8)\n"})
    path = tmp_path / "vanish.toml"
    path.write_text(f'{image}[indexes.fixtures]\nfind_links = ["{wheelhouse}"]\nno_index = true\n'
                    '[packages.sleep]\nrequirements = ["sleepy"]\nmodules = ["sleepy"]\n'  # runs first: the
                    '[packages.z-quick]\nrequirements = ["torch"]\nmodules = ["torch"]\n'  # image goes meanwhile
                    'checks = []\n')
    m = reader.load(path)
    opts = RunOptions(run_id=new_run_id())

    def untag_while_it_sleeps():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if harness_containers(docker_backend.client, opts.run_id):
                docker_backend.client.images.remove(tag)  # as a prune or another runner's clean-up would
                return
            time.sleep(0.2)

    remover = threading.Thread(target=untag_while_it_sleeps, daemon=True)
    remover.start()
    try:
        results = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                                   log=lambda _: None)
    finally:
        remover.join(timeout=10)
        if docker_backend.has_image(tag):
            docker_backend.client.images.remove(tag)
    by_id = {r.cell_id: r for r in results}
    assert by_id["vanishing__fixtures__sleep"].verdict is Verdict.PASS  # its container held the image
    gone = by_id["vanishing__fixtures__z-quick"]
    assert gone.verdict is Verdict.IMAGE_UNAVAILABLE
    assert gone.evidence[0].startswith(f"image '{tag}' vanished from the engine during the run")
    assert "run again" in gone.hint
    assert {r["cell_id"] for r in store.load_results(tmp_path / "results")} == set(by_id)
    assert harness_containers(docker_backend.client, opts.run_id) == []


# -- an engine that stops ------------------------------------------------------------------------

@pytest.mark.docker
@pytest.mark.slow
def test_an_engine_that_stops_mid_run_leaves_data_and_the_next_run_tidies_up(docker_backend, bookworm, tmp_path,
                                                                             fault):
    engines.need_root()
    engine = engines.SecondEngine()
    try:
        engine.start()
        engine.load(docker_backend.client, bookworm)
        client = engine.client()
        m = sleepy_matrix(tmp_path, "stops")
        results = tmp_path / "results"
        run = Started("run", m, "--no-plan", "--results", results, "--progress", "lines", env=engine.env)
        sleeping = run.wait_for_cell(client, "bookworm-amd64__fixtures__sleep")
        deadline = time.monotonic() + 300
        while b'"phase": "probe", "status": "start"' not in sleeping.logs() and time.monotonic() < deadline:
            time.sleep(0.5)  # asleep in its import
        before = records(results / "stops")
        engine.stop()
        assert run.proc.wait(timeout=300) == 1, "".join(run.out)
        out = "".join(run.out)
        assert "Traceback" not in run.proc.stderr.read()
        after = {k: r["verdict"] for k, r in records(results / "stops").items()}
        assert after == {"bookworm-amd64__fixtures__a-quick": "pass", "bookworm-amd64__fixtures__sleep": "engine-error"}
        [evidence] = records(results / "stops")["bookworm-amd64__fixtures__sleep"]["evidence"]
        assert evidence.startswith("the cell was stopped from outside (SIGTERM, exit 143) while its probe phase ran")
        assert fault.lost_of(before, results / "stops") == 0
        assert ("1 container(s) of this run could not be removed (the engine did not answer): the next run "
                "removes them") in out

        # before a run, when the Docker backend is asked for: one line, exit 3 (without --backend, cells
        # would run on the host backend, and the run says so)
        down = cli("run", m, "--no-plan", "--backend", "docker", "--results", tmp_path / "down", env=engine.env,
                   timeout=120)
        assert down.returncode == 3, down.stdout + down.stderr
        assert down.stderr.splitlines()[0].startswith(f"ERROR no Docker engine answered at {engine.address}")
        assert "Traceback" not in down.stderr

        engine.start()  # back, with what it held when it stopped
        client = engine.client()
        assert [c.labels[LABEL_CELL] for c in harness_containers(client, run.run_id)] == \
            ["bookworm-amd64__fixtures__sleep"]
        tidy = cli("run", m, "--no-plan", "--results", results, "--only", "*a-quick", env=engine.env, timeout=900)
        assert tidy.returncode == 0, tidy.stdout + tidy.stderr
        assert "removed a leftover of an earlier run: " in tidy.stdout
        assert harness_containers(client) == []
        fault.leaked += len(harness_containers(client))
        client.close()
    finally:
        engine.remove()


# -- least privilege -------------------------------------------------------------------------------

@pytest.mark.docker
def test_a_cell_runs_unprivileged_with_read_only_loans_and_no_credentials_in_sight(docker_backend, bookworm,
                                                                                  tmp_path, fault):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    path = tmp_path / "least.toml"
    path.write_text(f'{AMD64_IMAGE}[indexes.fixtures]\nfind_links = ["{wheelhouse}"]\n'
                    f'index_url = "https://builder:{CANARY}@index.invalid/simple/"\n'
                    'pip_args = ["--retries", "0", "--timeout", "3"]\n'
                    '[packages.chain]\nrequirements = ["torch"]\nmodules = ["torch"]\nchecks = []\n')
    m = reader.load(path)
    ca = tmp_path / "ca.pem"  # a CA bundle the host lends (read-only): one of our own is enough here
    trustme.CA().cert_pem.write_to_path(str(ca))
    opts = RunOptions(run_id=new_run_id(), keep=True, shared_caches=True,
                             environ={"HTTPS_PROXY": f"http://proxy-user:{CANARY}@127.0.0.1:3128",
                                      "PIP_CERT": str(ca)})
    [result] = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                                log=lambda _: None)
    [kept] = harness_containers(docker_backend.client, opts.run_id)
    try:
        attrs = kept.attrs
        host = attrs["HostConfig"]
        assert host["Privileged"] is False
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["NetworkMode"] != "host"  # no loopback index here: the bridge, not the host's network
        assert host["ReadonlyRootfs"] is True and attrs["Config"]["User"] not in ("", "0", "root")
        # writable: the shared download cache, and the cell's own volumes (/ewh holds root's files)
        writable = sorted(mt["Destination"] for mt in attrs["Mounts"] if mt["RW"])
        assert writable == ["/ewh", "/ewh-cache", "/tmp"], attrs["Mounts"]
        assert not any(mt["Type"] == "bind" and mt["RW"] for mt in attrs["Mounts"])
        assert fault.secrets_in(json.dumps(attrs)) == 0  # not in its environment, its command or its labels
    finally:
        kept.remove(force=True, v=True)
    assert fault.secrets_in(tmp_path / "results") == 0
    assert result.verdict is Verdict.PASS, (result.evidence, result.hint)
    assert not any("host's network" in n for n in result.notes)
