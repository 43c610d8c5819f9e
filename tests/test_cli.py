"""The real CLI (`python -m harness`) as a process: exit codes 0/1/2/3/130, --timeout, Ctrl-C, known-bad
cells, on the host backend (no Docker needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from harness_cli import cli
from wheels import TORCHAO_WITHOUT_QUANTIZATION, fixture_chain, fixture_matrix, make_wheel

from harness.model import Arch

NATIVE = Arch.native()
OTHER = Arch.ARM64 if NATIVE is Arch.AMD64 else Arch.AMD64
NATIVE_IMAGE = f'[images.native]\nlocal_build = "debian-bookworm"\nplatform = "{NATIVE.platform}"\n'
# A module that says where it runs, then sleeps far past any deadline.
SLEEPY = {"sleepy.py": ("import os, time\nopen(os.environ['SLEEPY_PID'], 'w').write(str(os.getpid()))\n"
                        "time.sleep(600)\n")}


def still_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's reaping is left


def sleepy_matrix(tmp_path: Path, *, quick_first: bool = False) -> Path:
    """One cell that sleeps in its probe; with `quick_first`, a passing cell runs before it."""
    wheels = fixture_chain(tmp_path / "wheels")
    make_wheel(wheels, "sleepy", "1.0", SLEEPY)
    quick = '[packages.a-quick]\nrequirements = ["torch"]\nmodules = ["torch"]\nchecks = []\n' if quick_first else ""
    m = tmp_path / "slow.toml"
    m.write_text(f'{NATIVE_IMAGE}[indexes.fixtures]\nfind_links = ["{wheels}"]\nno_index = true\n{quick}'
                 '[packages.sleep]\nrequirements = ["sleepy"]\nmodules = ["sleepy"]\n')
    return m


@pytest.mark.slow  # the deadline must outlast making a venv on a loaded machine: a minute at least
def test_timeout_flag_is_the_deadline_and_what_the_hint_and_the_record_say(tmp_path):
    m = sleepy_matrix(tmp_path)
    cells = tmp_path / "cells"
    cells.mkdir()
    env = {"TMPDIR": str(cells), "SLEEPY_PID": str(tmp_path / "sleepy.pid")}
    started = time.monotonic()
    done = cli("run", m, "--backend", "host", "--timeout", "60", "--no-plan", "--results", tmp_path / "results",
               env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started < 180
    cell_id = "native__fixtures__sleep"
    assert f"UNEXPECTED (infrastructure, not a finding) {cell_id}: timeout (expected pass)" in done.stdout
    assert "hint: the cell ran past its 60 s timeout" in done.stdout  # not the matrix's 1800 s
    record = json.loads((tmp_path / "results" / "slow" / f"{cell_id}.json").read_text())
    assert (record["verdict"], record["cell"]["timeout"]) == ("timeout", 60.0)
    assert list(cells.iterdir()) == []  # the cell's folder and venv are gone
    assert not still_running(int((tmp_path / "sleepy.pid").read_text()))  # and its processes


def test_a_known_bad_cell_gets_its_note_and_a_skipped_one_does_not(tmp_path):
    """Exit 0: the known-bad cell got its verdict; the one this host cannot run was skipped, not judged."""
    wheels = fixture_chain(tmp_path / "wheels", torchao_files=TORCHAO_WITHOUT_QUANTIZATION, torchao_version="0.1")
    m = fixture_matrix(tmp_path / "known.toml", wheels, modules='["torch", "torchao.quantization"]',
                       images=NATIVE_IMAGE + f'[images.other]\nlocal_build = "debian-bookworm"\n'
                                             f'platform = "{OTHER.platform}"\n')
    why = "fixture torchao 0.1 has no quantization module"
    m.write_text(m.read_text() + "".join(f'\n[[matrix.include]]\nimage = "{image}"\nindex = "fixtures"\n'
                                         f'packages = "chain"\nexpect = "import-failed"\nwhy = "{why}"\n'
                                         for image in ("native", "other")))
    done = cli("run", m, "--backend", "host", "--no-plan", "--results", tmp_path / "results")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"as expected native__fixtures__chain: import-failed — {why}" in done.stdout
    stored = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "results" / "known").glob("*.json")}
    native, other = stored["native__fixtures__chain"], stored["other__fixtures__chain"]
    assert (native["verdict"], native["expected"]) == ("import-failed", True)
    assert native["notes"][0] == f"known-bad, as expected (import-failed): {why}"
    assert (other["verdict"], other["expected"]) == ("skipped", True)
    assert not any("known-bad" in n for n in other["notes"]), other["notes"]


def test_a_bad_matrix_or_bad_arguments_exit_2_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[images.x]\nplatfrom = "linux/amd64"\nlocal_build = "debian-bookworm"\n[indexes.default]\n'
                   '[packages.p]\nrequirements = ["torch==="]\nmodules = ["torch"]\n')
    for command in ("run", "validate"):
        done = cli(command, bad, "--backend", "host") if command == "run" else cli(command, bad)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert f"{bad}: images.x.platfrom: unknown key (did you mean 'platform'?)" in lines
        assert any(line.startswith(f"{bad}: packages.p.requirements[0]: 'torch===' is not a PEP 508 requirement")
                   for line in lines)
        assert "Traceback" not in done.stderr
    m = fixture_matrix(tmp_path / "ok.toml", tmp_path, images=NATIVE_IMAGE)
    done = cli("run", m, "--backend", "host", "--only", "nothing-*")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"ERROR {m}: no cell matches nothing-*",
                                        "  hint: cell ids look like native__fixtures__chain"]
    done = cli("run", m, "--timeout")  # argparse: a flag without its value
    assert done.returncode == 2 and "expected one argument" in done.stderr


def test_no_engine_exits_3_where_docker_is_required(tmp_path):
    m = fixture_matrix(tmp_path / "ok.toml", tmp_path, images=NATIVE_IMAGE)
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    for args in (("run", m, "--backend", "docker", "--no-plan"), ("clean",), ("images", "build", m)):
        done = cli(*args, env=env)
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        first, hint = done.stderr.splitlines()[:2]
        assert first.startswith("ERROR no Docker engine answered"), first
        assert hint == "  hint: start one (e.g. `dockerd &` or `systemctl start docker`) or set DOCKER_HOST"


def test_ctrl_c_exits_130_keeps_the_finished_cells_in_the_table_and_leaves_nothing_behind(tmp_path):
    m = sleepy_matrix(tmp_path, quick_first=True)
    cells = tmp_path / "cells"
    cells.mkdir()
    pid_file = tmp_path / "sleepy.pid"
    env = {**os.environ, "TMPDIR": str(cells), "SLEEPY_PID": str(pid_file), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(m), "--backend", "host", "--no-plan",
                             "--results", str(tmp_path / "results")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 240
    while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pid_file.exists(), "".join(out)
    sleeper = int(pid_file.read_text())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    stderr = proc.stderr.read()
    assert stderr.strip().splitlines()[-1] == ("Interrupted: the running cells' containers were removed; "
                                               "finished cells are in the results.")
    assert "Traceback" not in stderr
    stored = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "results" / "slow").glob("*.json")}
    assert {k: v["verdict"] for k, v in stored.items()} == {"native__fixtures__a-quick": "pass",
                                                           "native__fixtures__sleep": "interrupted"}
    table = (tmp_path / "results" / "slow" / "README.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| `")}
    assert "| pass " in rows["`native__fixtures__a-quick`"]
    assert "**interrupted**" in rows["`native__fixtures__sleep`"]
    assert "the run was interrupted after" in rows["`native__fixtures__sleep`"]
    assert list(cells.iterdir()) == []
    assert not still_running(sleeper)


def test_credentials_appear_in_no_cli_output_nor_plan_json(tmp_path):
    """A credentialed index URL that does not answer, so that uv, pip and the driver all name it: `plan`
    and `run` print it masked, and plan.json holds it masked."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    m = tmp_path / "private.toml"
    m.write_text(f'{NATIVE_IMAGE}[matrix]\ninstall_attempts = 1\n'
                 f'[indexes.private]\nindex_url = "http://bot:s3cret-tok@127.0.0.1:{port}/simple"\n'
                 'pip_args = ["--retries", "0"]\n'
                 '[packages.p]\nrequirements = ["edgeops"]\nmodules = ["edgeops"]\n')
    planned = cli("plan", m, "--results", tmp_path / "results", env={"UV_HTTP_RETRIES": "0"})
    ran = cli("run", m, "--backend", "host", "--results", tmp_path / "results", env={"UV_HTTP_RETRIES": "0"})
    assert planned.returncode == 0, planned.stderr
    assert ran.returncode == 1, ran.stdout + ran.stderr
    plan_json = (tmp_path / "results" / "private" / "plan.json").read_text()
    masked = f"http://***@127.0.0.1:{port}/simple"
    assert "index-unreachable" in planned.stdout and f"127.0.0.1:{port}/simple" in plan_json  # uv names it
    assert "UNEXPECTED (infrastructure, not a finding) native__private__p: index-unreachable" in ran.stdout
    assert masked in ran.stdout  # the driver's check names the index it could not reach
    for name, text in (("plan stdout", planned.stdout), ("plan stderr", planned.stderr), ("plan.json", plan_json),
                       ("run stdout", ran.stdout), ("run stderr", ran.stderr)):
        assert "s3cret-tok" not in text, name


def test_prefetch_fills_the_wheelhouse_with_the_hosts_pip_before_the_cells_run(tmp_path):
    from harness.run.serve import WheelhouseServer

    make_wheel(tmp_path / "upstream", "edgeops", "1.0", {"edgeops/__init__.py": ""})
    house = tmp_path / "house"  # does not exist yet: prefetch makes it
    m = tmp_path / "pre.toml"
    m.write_text(f'{NATIVE_IMAGE}[indexes.w]\nfind_links = ["{house}"]\nno_index = true\n'
                 f'prefetch = ["edgeops==1.0"]\n[packages.p]\nrequirements = ["edgeops"]\nmodules = ["edgeops"]\n')
    with WheelhouseServer(tmp_path / "upstream") as upstream:
        env = {"PIP_INDEX_URL": upstream.url, "PIP_CONFIG_FILE": os.devnull}  # the host's pip configuration
        done = cli("run", m, "--backend", "host", "--no-plan", "--results", tmp_path / "results", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Prefetching edgeops==1.0 into wheelhouse 'w'" in done.stdout
        assert [p.name for p in house.iterdir()] == ["edgeops-1.0-py3-none-any.whl"]
        record = json.loads((tmp_path / "results" / "pre" / "native__w__p.json").read_text())
        assert record["verdict"] == "pass" and record["install"]["items"][0]["url"].startswith("file:")
        # the pin's wheel is there now: the next run does not ask pip again (seconds saved on every run)
        again = cli("run", m, "--backend", "host", "--no-plan", "--results", tmp_path / "results", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Prefetching" not in again.stdout
        # a pin whose wheel is not there (another version) is fetched
        m.write_text(m.read_text().replace('prefetch = ["edgeops==1.0"]', 'prefetch = ["edgeops==1.0", "edgeops>=1"]'))
        looser = cli("run", m, "--backend", "host", "--no-plan", "--results", tmp_path / "results", env=env)
        assert "Prefetching edgeops>=1 into wheelhouse 'w'" in looser.stdout, looser.stdout + looser.stderr

        m.write_text(m.read_text().replace("edgeops==1.0", "no-such-dist-here==1.0"))
        failed = cli("run", m, "--backend", "host", "--no-plan", "--results", tmp_path / "results", env=env)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert lines[0] == "ERROR prefetch for index variant 'w' failed:"
    assert "ERROR: No matching distribution found for no-such-dist-here==1.0" in lines
    assert lines[-1] == ("  hint: check the requirement and the host's pip configuration, or fill the wheelhouse "
                         "directory by hand")


def test_plan_predicts_every_cell_without_running_it_and_writes_plan_json(tmp_path):
    from harness.run.serve import WheelhouseServer

    m = tmp_path / "planned.toml"
    with WheelhouseServer(fixture_chain(tmp_path / "house")) as index:
        m.write_text(f'{NATIVE_IMAGE}[indexes.lan]\nindex_url = "{index.url}"\n'
                     '[packages.chain]\nrequirements = ["torch", "torchao", "torchtune"]\nmodules = ["torch"]\n'
                     '[packages.gone]\nrequirements = ["no-such-dist-here"]\nmodules = ["x"]\n')
        done = cli("plan", m, "--results", tmp_path / "results")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("[1/2] native__lan__chain: installs (")
    assert done.stdout.splitlines()[1].startswith("[2/2] native__lan__gone: no-distribution (")
    row = next(line for line in done.stdout.splitlines() if line.startswith("| native__lan__chain"))
    assert "torch 2.13.0, torchao 0.18.0, torchtune 0.6.1" in row
    written = json.loads((tmp_path / "results" / "planned" / "plan.json").read_text())
    assert written["matrix"] == "planned"
    chain, gone = written["cells"]
    assert (chain["outcome"], chain["versions"]) == ("installs", {"torch": "2.13.0", "torchao": "0.18.0",
                                                                  "torchtune": "0.6.1"})
    assert gone["outcome"] == "no-distribution" and "no-such-dist-here" in gone["evidence"][0]
    assert not (tmp_path / "results" / "planned" / "native__lan__chain.json").exists()  # nothing ran
