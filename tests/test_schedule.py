"""The pure parts of fast matrices: cache keys, scheduling, progress, and their options — no containers."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from wheels import fixture_chain

from harness.cli.parser import parser
from harness.errors import RunInterrupted
from harness.matrix import reader
from harness.model import Arch, Cell, CudaExpectation, Image, IndexVariant, PackageSet, Retry
from harness.run import cache, progress, schedule
from harness.verdicts import events

LOGS = Path(__file__).parent / "data" / "logs"


def cell(requirements=("torch==2.13.0",), arch=Arch.AMD64, index=None, name="p") -> Cell:
    return Cell(image=Image(name="img", arch=arch, local_build="debian-bookworm"),
                index=index or IndexVariant(name="i"),
                packages=PackageSet(name=name, requirements=tuple(requirements), modules=("torch",)))


def parts(c: Cell, prediction=None, identity="sha256:1", gpu="none", host=None):
    return cache.key_parts(c, image_identity=identity, prediction=prediction, gpu=gpu, host=host)


# --- the result cache's key --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "exact"), [
    ("torch==2.13.0", "2.13.0"), ("torch===2.13.0", "2.13.0"), ("torch==2.13.*", None), ("torch===2.*", None),
    ("torch>=2.13", None), ("torch", None), ("torch==2.13.0,<3", None),
    ("torch @ https://example.org/torch.whl", None), ("not a requirement", None),
    ("torch==2.13.0; python_version >= '3.9'", "2.13.0"),
])
def test_exact_pins(text, exact):
    """One rule for an exact pin: the cache's key, the prefetch, a step's name and solve agree."""
    from harness.answers import steps
    from harness.pins import exact_version
    from harness.run.prefetch import in_wheelhouse

    assert exact_version(text) == exact
    assert cache.all_pinned(cell(requirements=(text,))) is (exact is not None)
    if text == "not a requirement":
        return
    name = steps.set_name([text])
    if exact is not None and ";" not in text:
        assert name == f"torch-{exact}"  # a step named by its pin
    elif text != "torch":  # anything looser is named with a hash of the whole set, never as a pin
        assert re.fullmatch(r"torch-(.*-)?[0-9a-f]{8}", name), name
    if exact is None:
        assert not in_wheelhouse(text, Path("."))  # never skipped from a prefetch as if pinned


def test_an_unpinned_cell_is_keyed_by_its_resolution_and_not_at_all_without_one():
    loose = cell(("torch", "torchao==0.18.0"))
    assert parts(loose) is None  # no prediction: cannot be reused
    assert parts(loose, {"outcome": "unknown"}) is None
    a = parts(loose, {"outcome": "installs", "versions": {"torch": "2.13.0", "torchao": "0.18.0"}})
    b = parts(loose, {"outcome": "installs", "versions": {"torch": "2.14.0", "torchao": "0.18.0"}})
    assert a is not None and b is not None
    assert cache.changed(a, b) == "requirements changed"
    # a pinned cell needs no prediction, and a prediction does not change its key
    pinned = cell()
    assert parts(pinned) == parts(pinned, {"outcome": "installs", "versions": {"torch": "9"}})


def test_each_input_moves_exactly_its_part(tmp_path):
    house = fixture_chain(tmp_path / "house")
    c = cell(index=IndexVariant(name="i", find_links=(str(house),)))
    base = parts(c)
    assert cache.changed(base, parts(c, identity="sha256:2")) == "image changed"
    assert cache.changed(base, parts(c, gpu="device-request")) == "host changed"
    assert cache.changed(base, parts(c, host={"driver": "580.1"})) == "host changed"
    assert cache.changed(base, parts(cell(("torch==2.14.0",), index=c.index))) == "requirements changed"
    import dataclasses

    assert cache.changed(base, parts(dataclasses.replace(c, expect="degraded"))) == "cell changed"
    assert cache.changed(base, parts(dataclasses.replace(c, memory=1 << 30))) == "cell changed"
    assert cache.changed(base, parts(dataclasses.replace(c, processes=512))) == "cell changed"
    (house / "torch-2.13.0-py3-none-any.whl").write_bytes(b"another build, same name")
    assert cache.changed(base, parts(c)) == "index changed"
    assert cache.changed(None, base) == "the stored result has no cache key"


@pytest.mark.parametrize("part, change", [
    ("cell", {"timeout": 60.0}), ("cell", {"installer": "uv"}), ("cell", {"retry": Retry(attempts=5)}),
    ("cell", {"retry": Retry(backoff=1.0)}), ("cell", {"expect": "degraded"}), ("cell", {"memory": 1 << 30}),
    ("cell", {"packages": PackageSet(name="p", requirements=("torch==2.13.0",), modules=("torch", "numpy"))}),
    ("cell", {"cuda": CudaExpectation(torch_build="cpu")}), ("cell", {"build_jobs": 2}),
    ("image", {"image": Image(name="img", arch=Arch.AMD64, local_build="debian-bookworm", ships_torch=True)}),
    ("image", {"image": Image(name="img", arch=Arch.AMD64, local_build="debian-bookworm", python="python3.12")}),
    ("image", {"image": Image(name="img", arch=Arch.ARM64, local_build="debian-bookworm")}),
    ("image", {"image": Image(name="img", arch=Arch.AMD64, ref="debian:bookworm")}),
    ("index", {"index": IndexVariant(name="i", pip_args=("--prefer-binary",))}),
    ("index", {"index": IndexVariant(name="i", index_url="https://example.org/simple")}),
])
def test_every_setting_of_a_cell_is_in_its_key_and_a_changed_key_is_never_reused(part, change):
    """docs/explanation/cache.md's list: a changed timeout, installer, retry, module, image setting or index
    option is a new key, the part that moved is named, and the stored result of the old key is not reused."""
    import dataclasses

    before = parts(cell())
    after = parts(dataclasses.replace(cell(), **change))
    assert cache.changed(before, after) == f"{part} changed"
    stored = {"verdict": "pass", "cache": {"key": cache.key(before), "parts": before}}
    assert cache.reusable(stored, after) == (False, f"{part} changed")
    assert cache.reusable(stored, before) == (True, "inputs unchanged")


def test_the_key_moves_with_the_driver_and_the_probe_byte_for_byte(tmp_path, monkeypatch):
    from harness import incell

    copies = {}
    for name, path in incell.FILES.items():
        copies[name] = tmp_path / Path(path).name
        copies[name].write_bytes(Path(path).read_bytes())
    monkeypatch.setattr(incell, "FILES", copies)
    before = parts(cell())
    assert before["harness"] == cache.harness_digest()
    probe = next(p for p in copies.values() if p.name == "probe.py")
    probe.write_bytes(probe.read_bytes() + b"\n# one byte more\n")
    assert cache.changed(before, parts(cell())) == "harness changed"


def test_reusable_only_for_a_finding_with_the_same_key():
    p = parts(cell())
    record = {"verdict": "pass", "cache": {"key": cache.key(p), "parts": p}}
    assert cache.reusable(record, p) == (True, "inputs unchanged")
    for verdict in ("index-unreachable", "timeout", "engine-error", "image-unavailable", "interrupted", "skipped"):
        ok, why = cache.reusable({**record, "verdict": verdict}, p)
        assert not ok and why.startswith(f"the stored result is {verdict}")
    assert cache.reusable(None, p) == (False, "no stored result")
    assert cache.reusable({**record, "verdict": "nonsense"}, p)[0] is False



def test_a_changed_key_names_every_part_that_moved():
    """The reason a cell runs again names the parts, as "image, host changed" (the parts' order)."""
    base = parts(cell())
    assert cache.changed(base, parts(cell(), identity="sha256:2", gpu="device-request")) == "image, host changed"


def test_a_record_keyed_over_parts_this_harness_no_longer_has_runs_again():
    """A key made by another harness (a part since dropped): the parts that exist agree, yet it is not reused."""
    p = parts(cell())
    old = {**p, "kernel": "6.1"}
    stored = {"verdict": "pass", "cache": {"key": cache.key(old), "parts": old}}
    assert cache.reusable(stored, p) == (False, "inputs changed")


def test_a_record_without_a_key_or_with_an_unknown_verdict_is_not_reused_and_says_why():
    p = parts(cell())
    assert cache.reusable({"verdict": "pass"}, p) == (False, "the stored result has no cache key")
    assert cache.reusable({"verdict": "pass", "cache": "not a mapping"}, p) == (
        False, "the stored result has no cache key")
    stored = {"verdict": "nonsense", "cache": {"key": cache.key(p), "parts": p}}
    assert cache.reusable(stored, p) == (False, "the stored result has an unknown verdict")


def test_an_unpinned_cells_predicted_outcome_is_part_of_its_key():
    """The same versions predicted, but now a source build instead of wheels: the cell runs again."""
    loose = cell(("torch",))
    wheels = parts(loose, {"outcome": "installs", "versions": {"torch": "2.13.0"}})
    built = parts(loose, {"outcome": "source-build", "versions": {"torch": "2.13.0"}})
    assert cache.changed(wheels, built) == "requirements changed"


def test_a_sets_constraints_and_hashes_are_part_of_its_requirements():
    """A requirements file's -c constraints and --hash lines change what installs: each moves the key."""
    import dataclasses

    def with_(**fields):
        return dataclasses.replace(cell(), packages=dataclasses.replace(cell().packages, **fields))

    numpy1 = parts(with_(constraints=("numpy<2",)))
    assert cache.changed(numpy1, parts(with_(constraints=("numpy<3",)))) == "requirements changed"
    assert cache.changed(parts(cell()), numpy1) == "requirements changed"
    one = parts(with_(hashes=(("torch", ("sha256:" + "1" * 64,)),)))
    other = parts(with_(hashes=(("torch", ("sha256:" + "2" * 64,)),)))
    assert cache.changed(one, other) == "requirements changed"
    both = parts(with_(constraints=("numpy<2",), hashes=(("torch", ("sha256:" + "1" * 64,)),)))
    assert cache.changed(numpy1, both) == "requirements changed"


def test_the_users_check_files_and_each_pytest_files_conftest_are_in_the_key_by_content(tmp_path):
    """docs/explanation/cache.md: "the checks (and your check files, by content)"; a pytest file's conftest.py
    counts (pytest loads it), a conftest.py beside a script does not (nothing reads it)."""
    import dataclasses

    files = {}
    for folder, name in (("a", "test_gpu.py"), ("b", "test_ops.py"), ("c", "smoke.py")):
        (tmp_path / folder).mkdir()
        files[name] = tmp_path / folder / name
        files[name].write_text("def test_it():\n    assert True\n")
        (tmp_path / folder / "conftest.py").write_text("import pytest\n")
    c = dataclasses.replace(cell(), packages=dataclasses.replace(
        cell().packages, checks=("torch", *(str(f) for f in files.values())), check_requires=("numpy",)))

    def edit(path):
        path.write_text(path.read_text() + "# edited\n")  # one line more: a new size, so a new digest
        return parts(c)

    base = parts(c)
    assert cache.changed(base, parts(c)) == "inputs changed" and base == parts(c)  # the same files: the same key
    for path in (files["test_gpu.py"], tmp_path / "a" / "conftest.py", files["smoke.py"]):
        after = edit(path)
        assert cache.changed(base, after) == "checks changed", path
        base = after
    assert edit(tmp_path / "c" / "conftest.py") == base  # beside a script: not the check's
    after = edit(tmp_path / "b" / "conftest.py")
    assert cache.changed(base, after) == "checks changed"
    # a check file that cannot be read yet is keyed all the same, and moves the key once it can be
    files["smoke.py"].unlink()
    gone = parts(c)
    assert cache.changed(after, gone) == "checks changed"
    files["smoke.py"].write_text("print('ok')\n")
    assert cache.changed(gone, parts(c)) == "checks changed"


# --- scheduling --------------------------------------------------------------------------------------


def test_longest_first_by_earlier_results_and_emulated_cells_weigh_more():
    native, emulated, measured = cell(name="a"), cell(arch=Arch.ARM64, name="b"), cell(name="c")
    estimates = {c.id: schedule.estimate(c, r, native=Arch.AMD64)
                 for c, r in ((native, None), (emulated, None), (measured, {"timings": {"total": 500.0}}))}
    assert estimates[emulated.id] == schedule.EMULATION_WEIGHT * estimates[native.id]
    assert schedule.order([native, emulated, measured], estimates) == [2, 1, 0]


def test_auto_jobs_is_three_quarters_of_the_cores_capped_by_the_memory_cells_share():
    assert schedule.auto_jobs(cores=2, memory=24 << 30) == 1
    assert schedule.auto_jobs(cores=16, memory=128 << 30) == 12
    # an 8 GB Jetson keeps 1 GiB for itself: 7 GiB for cells of at least 2 GiB each
    assert schedule.auto_jobs(cores=8, memory=8 << 30) == 3
    assert schedule.auto_jobs(cores=12, memory=4 << 30) == 1  # 3 GiB to share: one cell


def test_the_default_memory_cap_keeps_a_gib_or_a_tenth_for_the_host_and_divides_the_rest():
    assert schedule.default_cell_memory(1, 8 << 30) == 7 << 30  # 1 GiB kept (more than 10 %)
    assert schedule.default_cell_memory(2, 8 << 30) == (7 << 30) // 2
    assert schedule.default_cell_memory(4, 20 << 30) == (18 << 30) // 4  # 10 % kept: 2 GiB
    assert schedule.default_cell_memory(1, 1 << 30) == 512 << 20  # a 1 GiB board keeps half, not all


def test_results_come_back_in_the_cells_order_whatever_ran_first():
    began = []

    def work(i, cancel):
        began.append(i)
        time.sleep(0.05 * (3 - i))
        return f"cell {i}"

    assert schedule.run(3, work, jobs=2, priority=[2, 1, 0]) == ["cell 0", "cell 1", "cell 2"]
    assert began[0] == 2


def test_ctrl_c_stops_every_worker_and_keeps_what_finished():
    class Stopped(KeyboardInterrupt):
        def __init__(self, result):
            super().__init__()
            self.result = result

    def work(i, cancel):
        if i == 0:
            return "finished"
        while not cancel.is_set():  # a running cell watches for the stop
            time.sleep(0.01)
        raise Stopped(f"stopped {i}")

    def interrupt():
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(RunInterrupted) as stopped:
        schedule.run(4, work, jobs=2)
    # cell 0 finished at once, cells 1 and 2 were stopped while they ran, cell 3 never started
    assert stopped.value.done == {0: "finished", 1: "stopped 1", 2: "stopped 2"}



def test_an_earlier_total_is_the_estimate_only_when_it_is_a_positive_number():
    c = cell()
    assert schedule.estimate(c, {"timings": {"total": 0.5}}, native=Arch.AMD64) == 0.5
    for record in ({"timings": {"total": 0}}, {"timings": {"total": -3.0}}, {"timings": {"total": True}},
                   {"timings": {"total": "90"}}, {"timings": [90]}, {}, None, ["not", "a", "record"]):
        assert schedule.estimate(c, record, native=Arch.AMD64) == schedule.NATIVE_GUESS, record


def test_on_an_arm64_machine_the_arm64_cells_are_the_native_ones():
    """A Jetson runs arm64 natively: there the amd64 cells are the emulated, slow ones."""
    arm, intel = cell(arch=Arch.ARM64, name="a"), cell(arch=Arch.AMD64, name="b")
    assert schedule.estimate(arm, None, native=Arch.ARM64) == schedule.NATIVE_GUESS
    assert schedule.estimate(intel, None, native=Arch.ARM64) == schedule.NATIVE_GUESS * schedule.EMULATION_WEIGHT


def test_auto_jobs_counts_this_machines_cores_when_not_told(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert schedule.auto_jobs() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # cannot be known: one at a time
    assert schedule.auto_jobs() == 1


def test_the_default_memory_cap_reads_this_machines_memory_when_not_told(monkeypatch):
    monkeypatch.setattr(schedule, "memory_bytes", lambda: 8 << 30)
    assert schedule.default_cell_memory(2) == (7 << 30) // 2
    monkeypatch.setattr(schedule, "memory_bytes", lambda: None)
    assert schedule.default_cell_memory(2) is None  # unknown memory: no cap


def test_a_memory_cap_is_a_whole_number_of_bytes():
    """Docker takes a memory limit in whole bytes: shares that do not divide evenly are rounded down."""
    for jobs, memory in ((3, 8 << 30), (1, 1 << 30), (3, 1 << 30), (7, (5 << 30) + 3)):
        cap = schedule.default_cell_memory(jobs, memory)
        assert isinstance(cap, int) and cap <= memory // jobs, (jobs, memory)
    assert schedule.default_cell_memory(3, 8 << 30) == 2505397589  # 7 GiB = 7516192768 bytes, a third
    assert schedule.default_cell_memory(3, (1 << 30) + 1) == 178956971  # half of 1 GiB + 1 is kept, rounded down


def test_the_machines_memory_is_its_page_size_times_its_pages(monkeypatch):
    pages = {"SC_PAGE_SIZE": 16384, "SC_PHYS_PAGES": 500_000}  # a 16 KiB-page arm64 kernel, 7.6 GiB

    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    assert schedule.memory_bytes() == 8_192_000_000

    def unknown(name):
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(os, "sysconf", unknown)
    assert schedule.memory_bytes() is None


def test_one_job_runs_one_cell_at_a_time():
    running, most = [], []
    lock = threading.Lock()

    def work(i, cancel):
        with lock:
            running.append(i)
            most.append(len(running))
        time.sleep(0.03)
        with lock:
            running.remove(i)
        return i

    assert schedule.run(4, work) == [0, 1, 2, 3]  # the default: one at a time
    assert schedule.run(4, work, jobs=1) == [0, 1, 2, 3]
    assert max(most) == 1
    most.clear()
    assert schedule.run(4, work, jobs=0) == [0, 1, 2, 3]  # nonsense below one is one
    assert max(most) == 1


def test_a_cell_handed_out_after_ctrl_c_never_starts(monkeypatch):
    """The pool may hand a queued cell to a worker before the stop reaches it (a Future that can no longer
    be cancelled): that cell still does not begin its work."""
    import concurrent.futures

    monkeypatch.setattr(concurrent.futures.Future, "cancel", lambda self: False)  # every cancel comes too late
    began, running = [], threading.Event()

    def work(i, cancel):
        began.append(i)
        running.set()
        cancel.wait(10)  # a running cell watches for the stop
        return f"stopped {i}"

    def interrupt():
        running.wait(10)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(RunInterrupted) as stopped:
        schedule.run(4, work, jobs=1)
    assert began == [0] and stopped.value.done == {0: "stopped 0"}


def test_an_error_in_one_cell_stops_the_others_and_is_raised_as_it_was():
    """A results disk that is full: no other cell starts, the running ones are told to stop, the error goes on."""
    began = []

    def work(i, cancel):
        began.append(i)
        if i == 0:
            time.sleep(0.05)
            raise OSError(28, "No space left on device")
        while not cancel.is_set():  # a running cell watches for the stop
            time.sleep(0.01)
        return f"stopped {i}"

    with pytest.raises(OSError, match="No space left on device"):
        schedule.run(6, work, jobs=2)
    assert sorted(began)[:2] == [0, 1] and len(began) < 6


# --- progress ----------------------------------------------------------------------------------------


def test_lines_follow_a_real_cell_log_phase_by_phase():
    log = (LOGS / "real-chain-2.13-torchao-0.15.probe.log").read_text()
    said: list[str] = []
    clock = iter(range(1000)).__next__
    lines = progress.Lines(2, log=said.append, estimates={"c": 60.0}, clock=lambda: float(clock()))
    lines.started("c", 1)
    for i in range(0, len(log), 777):  # as the engine hands it over: in pieces, lines split anywhere
        lines.output("c", log[i:i + 777])
    phases = [p["phase"] for p in events.parse(log).phases]
    assert [s.split(": ", 1)[1].split(" (")[0] for s in said[1:]] == phases
    assert said[0] == "[1/2] c …"
    lines.done("c", "[1/2] c: degraded in 60.0 s")
    assert said[-1].startswith("[1/2] c: degraded in 60.0 s (run ETA ")


def test_pip_downloads_are_summed_as_they_are_announced():
    rep = progress.Lines(1, log=lambda _: None)
    rep.started("c", 1)
    rep.output("c", "Collecting torch\n  Downloading torch-2.13.0-cp311-none.whl (191.8 MB)\n"
                    "  Downloading numpy-2.4.6-cp311.whl (16.5 MB)\n  Using cached sympy-1.14.whl (6.3 MB)\n")
    assert rep.running["c"].downloaded == pytest.approx(208.3e6)


def test_live_table_renders_running_cells(tmp_path):
    import io

    out = io.StringIO()
    live = progress.Live(3, stream=out, estimates={"a": 30.0})
    try:
        live.started("a", 1)
        live.output("a", '@@harness {"event": "phase", "phase": "install", "status": "start"}\n')
        table = live.render()
        assert table.row_count == 1 and "0/3 cells done" in str(table.title)
        assert list(table.columns[1].cells) == ["install"]
    finally:
        live.close()


# --- options -----------------------------------------------------------------------------------------


def test_run_options_parse_and_refuse_nonsense(capsys):
    args = parser().parse_args(["run", "--jobs", "auto", "--memory", "6G", "--force", "--force", "x*"])
    assert (args.jobs, args.memory, args.force) == ("auto", 6 << 30, ["*", "x*"])
    for bad in (["--jobs", "0"], ["--jobs", "many"], ["--memory", "lots"], ["--memory", "1M"]):
        with pytest.raises(SystemExit) as exited:
            parser().parse_args(["run", *bad])
        assert exited.value.code == 2
    assert "is not a memory size" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "expected"), [
    ("8G", 8 << 30), ("512M", 512 << 20), ("1.5GiB", 3 << 29), (268435456, 256 << 20), ("2g", 2 << 30),
    ("lots", None), (True, None), (-1, None), ("8 GB", 8 << 30),
])
def test_sizes(value, expected):
    assert reader.parse_size(value) == expected


def test_memory_in_a_matrix_and_an_include(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[matrix]\nmemory = "4G"\n[images.a]\nref = "x"\nplatform = "linux/amd64"\n'
                    '[indexes.i]\n[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                    '[packages.q]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                    '[[matrix.include]]\nimage = "a"\nindex = "i"\npackages = "q"\nmemory = "512M"\n')
    cells = {c.packages.name: c.memory for c in reader.load(path).cells}
    assert cells == {"p": 4 << 30, "q": 512 << 20}
    path.write_text(path.read_text().replace('"512M"', '"64M"').replace('"4G"', '"four"'))
    problems = [str(p) for p in reader.validate(path)]
    assert any("matrix.memory: 'four' is not a size" in p for p in problems)
    assert any("matrix.include[0].memory: '64M' is below 128 MiB" in p for p in problems)


def test_processes_in_a_matrix_and_an_include_and_nonsense_refused_in_one_line(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[matrix]\nprocesses = 2048\n[images.a]\nref = "x"\nplatform = "linux/amd64"\n'
                    '[indexes.i]\n[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                    '[packages.q]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                    '[packages.r]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                    '[[matrix.include]]\nimage = "a"\nindex = "i"\npackages = "q"\nprocesses = 256\n')
    assert {c.packages.name: c.processes for c in reader.load(path).cells} == {"p": 2048, "q": 256, "r": 2048}
    path.write_text(path.read_text().replace("processes = 2048", "processes = 1.5").replace("= 256", "= 8")
                    + '[[matrix.include]]\nimage = "a"\nindex = "i"\npackages = "r"\nprocesses = "many"\n')
    problems = [str(p) for p in reader.validate(path)]
    assert len(problems) == 3, problems
    assert any("matrix.processes: 1.5 is not a number of processes: write a whole number" in p for p in problems)
    assert any("matrix.include[0].processes: 8 is not between 32" in p for p in problems)
    assert any("matrix.include[1].processes: 'many' is not a number of processes" in p for p in problems)
    assert all("\n" not in p for p in problems)
    path.write_text(path.read_text().replace("processes = 1.5", "processes = 9999999"))
    assert any("matrix.processes: 9999999 is not between" in str(p) for p in reader.validate(path))


def test_processes_on_the_command_line(capsys):
    assert parser().parse_args(["run", "--processes", "512"]).processes == 512
    assert parser().parse_args(["run"]).processes is None  # the run's default then (for_host)
    for bad in ("lots", "8", "1.5"):
        with pytest.raises(SystemExit) as exited:
            parser().parse_args(["run", "--processes", bad])
        assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'lots' is not a whole number of processes" in err and "8 processes: give between 32 and" in err


def test_a_cell_gets_the_runs_limits_unless_it_sets_its_own():
    import dataclasses

    from harness.backends.hostfacts import HostFacts
    from harness.model import GpuAccess, GpuMode, HostKind
    from harness.run.options import RunOptions, effective, for_host

    plain, own = cell(), dataclasses.replace(cell(), memory=1 << 30, processes=100)
    opts = RunOptions(run_id="r", memory=3 << 30, processes=700)
    assert (effective(plain, opts).memory, effective(plain, opts).processes) == (3 << 30, 700)
    assert (effective(own, opts).memory, effective(own, opts).processes) == (1 << 30, 100)
    assert RunOptions(run_id="r").processes == schedule.DEFAULT_PROCESSES  # a run sets none: the default

    class Machine:
        def gpu_access(self, facts):
            return GpuAccess(mode=GpuMode.NONE)

    engine = HostFacts(arch=Arch.AMD64, machine="x86_64", kind=HostKind.PLAIN, memory=10 << 30)
    made = for_host(Machine(), engine, jobs=3)
    assert made.memory == (9 << 30) // 3  # the engine's memory less 1 GiB, in three
    assert made.processes == schedule.DEFAULT_PROCESSES
    made = for_host(Machine(), engine, jobs=3, memory=2 << 30, processes=64)
    assert (made.memory, made.processes) == (2 << 30, 64)
    assert for_host(Machine(), engine, jobs="auto").jobs <= 4  # 9 GiB to share: four cells of 2 GiB at most


def test_an_image_is_made_ready_once_however_many_cells_ask_at_once():
    from harness.backends.base import ImageUnavailable, Prepared
    from harness.run.runner import ImageGate

    calls = []

    class Slow:
        def prepare(self, image):
            calls.append(image.tag)
            time.sleep(0.2)
            if image.name == "gone":
                raise ImageUnavailable("not there")
            return Prepared(seconds=0.2, built="cold", identity="sha256:x")

    gate = ImageGate(Slow())
    image = cell().image
    got = []
    threads = [threading.Thread(target=lambda: got.append(gate.prepare(image))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [image.tag]
    assert sorted(p.built or "" for p in got) == ["", "", "", "cold"]  # only the cell that built it says so
    assert {p.identity for p in got} == {"sha256:x"}
    gone = Image(name="gone", arch=Arch.AMD64, ref="gone:1")
    for _ in range(2):  # a failure is remembered too: the next cell does not try again
        with pytest.raises(ImageUnavailable):
            gate.prepare(gone)
    assert calls.count("gone:1") == 1


# --- shards ------------------------------------------------------------------------------------------


def many(n: int, prefix: str = "c") -> list[Cell]:
    return [cell(name=f"{prefix}{i:02d}") for i in range(n)]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_cover_every_cell_exactly_once(count):
    cells = many(23)
    parts = [schedule.shard(cells, i, count) for i in range(1, count + 1)]
    assert sorted(c.id for part in parts for c in part) == sorted(c.id for c in cells)
    for part in parts:  # each keeps the matrix's order
        assert part == [c for c in cells if c in part]


def test_adding_cells_elsewhere_moves_no_cell_between_shards():
    before = many(20)
    after = many(3, prefix="new") + before[:10] + many(2, prefix="mid") + before[10:]
    for i in (1, 2, 3):
        old = {c.id for c in schedule.shard(before, i, 3)}
        new = {c.id for c in schedule.shard(after, i, 3)}
        assert old <= new


def test_shared_timings_balance_the_shards():
    cells = many(10)
    estimates = {c.id: t for c, t in zip(cells, [300, 10, 10, 10, 10, 10, 10, 10, 10, 240], strict=True)}
    loads = [sum(estimates[c.id] for c in schedule.shard(cells, i, 2, estimates)) for i in (1, 2)]
    assert loads == [310, 310]  # the two long cells apart, the short ones evened out
    hashed = [sum(estimates[c.id] for c in schedule.shard(cells, i, 2)) for i in (1, 2)]
    assert max(loads) <= max(hashed)


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_shard_arguments_that_make_no_sense(text):
    with pytest.raises(ValueError):
        schedule.parse_shard(text)
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--shard", text])


@pytest.mark.parametrize("count", [2, 3, 5])
def test_without_timings_the_cells_are_spread_over_every_shard(count):
    cells = many(100)
    assert all(schedule.shard(cells, i, count) for i in range(1, count + 1))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_balanced_shards_cover_every_cell_exactly_once_even_cells_without_timings(count):
    """The timings are the last merged results: cells added since have none and count as a guess."""
    cells = many(17)
    estimates = {c.id: float(10 + 7 * n) for n, c in enumerate(cells[:12])}
    parts = [schedule.shard(cells, i, count, estimates) for i in range(1, count + 1)]
    assert sorted(c.id for part in parts for c in part) == sorted(c.id for c in cells)


def test_a_cell_without_timings_weighs_the_guess_when_balancing():
    cells = many(3)
    # 100 s, then the guess (60 s) for a new cell, then 50 s: the new one is the second longest
    estimates = {cells[0].id: 100.0, cells[2].id: 50.0}
    assert schedule.shard(cells, 1, 2, estimates) == [cells[0]]
    assert schedule.shard(cells, 2, 2, estimates) == [cells[1], cells[2]]


@pytest.mark.parametrize("text, shard", [("1/1", (1, 1)), ("1/4", (1, 4)), ("4/4", (4, 4)), (" 2 / 3 ", (2, 3))])
def test_shard_arguments(text, shard):
    assert schedule.parse_shard(text) == shard
    assert parser().parse_args(["run", "--shard", text]).shard == shard


@pytest.mark.parametrize("text, why", [
    ("2", "'2' is not I/N, e.g. 2/4"), ("a/b", "'a/b' is not I/N, e.g. 2/4"), ("a/2", "'a/2' is not I/N, e.g. 2/4"),
    ("1/x", "'1/x' is not I/N, e.g. 2/4"), ("-1/2", "'-1/2' is not I/N, e.g. 2/4"),
    ("0/2", "shard 0 of 2: I must be between 1 and N"), ("3/2", "shard 3 of 2: I must be between 1 and N"),
    ("1/0", "shard 1 of 0: I must be between 1 and N"),
])
def test_a_shard_argument_that_makes_no_sense_says_why(text, why, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["run", f"--shard={text}"])
    assert f"argument --shard: {why}" in capsys.readouterr().err


def test_the_harness_part_of_the_key_names_the_files_as_cells_see_them():
    """The driver, probe and built-in checks are keyed by the names they have inside a cell (cell.py,
    probe.py, checks.py) and their bytes, not by where they live in the package: moving them (harness/
    into incell/) re-ran no cell."""
    import hashlib

    from harness import incell
    from harness.files import digest

    assert set(incell.FILES) == {"cell.py", "probe.py", "checks.py", "boot.py"}
    by_content = {name: hashlib.sha256(Path(path).read_bytes()).hexdigest() for name, path in incell.FILES.items()}
    assert cache.harness_digest() == digest(by_content)
