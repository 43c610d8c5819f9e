"""events.parse on hand-written cell logs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.verdicts import events

DATA_LOGS = Path(__file__).parent / "data" / "logs"


def harness(**event: object) -> str:
    return "@@harness " + json.dumps(event)


def probe(**step: object) -> str:
    return "@@probe " + json.dumps(step)


def phase(name: str, status: str, **more: object) -> str:
    return harness(event="phase", phase=name, status=status, **more)


BEGIN = harness(event="begin", python="3.10.12", executable="/usr/bin/python3", machine="aarch64")
GOOD_IMPORT = probe(step="import", module="torch", ok=True, seconds=1.5, error=None, messages=[])
BAD_IMPORT = probe(
    step="import", module="torchao", ok=False, seconds=0.2,
    error={"type": "ImportError", "missing_name": "int4_weight_only"}, messages=[],
)


def test_full_log_with_pip_noise() -> None:
    text = "\n".join([
        BEGIN,
        phase("venv", "start", time=1.0),
        phase("venv", "ok", seconds=2.0, returncode=0),
        phase("install", "start", time=3.0),
        "Looking in links: /wheelhouse/0",
        "Collecting torch==2.5.0a0",
        "  Downloading torch-2.5.0a0-cp310-cp310-linux_aarch64.whl (200 MB)",
        "Successfully installed torch-2.5.0a0",
        phase("install", "ok", seconds=40.0, returncode=0),
        phase("probe", "start", time=44.0),
        probe(step="start", python="3.10.12", implementation="cpython"),
        "/usr/lib/python3/dist-packages/torch/__init__.py:1: UserWarning: something",
        GOOD_IMPORT,
        BAD_IMPORT,
        probe(step="distributions", items={"torch": {"version": "2.5.0a0", "location": "/v"}},
              owners={"torch": ["torch"]}),
        probe(step="torch", version="2.5.0a0", cuda_available=True, device_count=1, devices=[]),
        probe(step="summary", ok=False, failed=["torchao"], seconds=2.0),
        phase("probe", "failed", seconds=3.0, returncode=1),
        harness(event="end", ok=False, failed_phase="probe"),
        "",
    ])
    parsed = events.parse(text)
    assert parsed.begin["machine"] == "aarch64"
    assert [(p["phase"], p["status"]) for p in parsed.phases] == [
        ("venv", "ok"), ("install", "ok"), ("probe", "failed")
    ]
    assert parsed.phase("install")["seconds"] == 40.0 and parsed.phase("nope") is None
    assert [i["module"] for i in parsed.probe["imports"]] == ["torch", "torchao"]
    assert [i["module"] for i in parsed.failed_imports] == ["torchao"]
    assert parsed.probe["distributions"]["torch"]["version"] == "2.5.0a0"
    assert parsed.probe["owners"] == {"torch": ["torch"]}
    assert parsed.probe["torch"]["device_count"] == 1
    assert parsed.probe["complete"] and parsed.probe["summary"]["failed"] == ["torchao"]
    assert parsed.end["failed_phase"] == "probe"
    assert parsed.crash is None and parsed.garbage == 0


def test_truncated_log_and_garbage() -> None:
    text = "\n".join([
        BEGIN,
        "@@harness not json at all",
        '@@probe ["a list, not an object"]',
        phase("probe", "start", time=1.0),
        probe(step="start", python="3.8.10"),
        GOOD_IMPORT,
        BAD_IMPORT[:40],  # the container died mid-line
    ])
    parsed = events.parse(text)
    assert parsed.garbage == 3
    assert parsed.phase("probe") == {"event": "phase", "phase": "probe", "status": "incomplete", "time": 1.0}
    assert [i["module"] for i in parsed.probe["imports"]] == ["torch"]
    assert not parsed.probe["complete"] and parsed.probe["summary"] is None
    assert parsed.end is None and parsed.crash is None


def test_marker_only_at_line_start() -> None:
    text = "pip says @@probe " + json.dumps({"step": "summary", "ok": True}) + "\r\n" + GOOD_IMPORT + "\r\n"
    parsed = events.parse(text)
    assert parsed.probe["summary"] is None
    assert len(parsed.probe["imports"]) == 1 and parsed.garbage == 0


@pytest.mark.parametrize(
    ("end", "crash"),
    [
        (phase("probe", "failed", seconds=1.0, returncode=-6, signal="SIGABRT"),
         {"returncode": -6, "signal": "SIGABRT"}),
        (phase("probe", "failed", seconds=1.0, returncode=-11), {"returncode": -11, "signal": "SIGSEGV"}),
        (phase("probe", "failed", seconds=1.0, returncode=1), {"returncode": 1, "signal": None}),
        # exited 0 before writing its summary: a crash, and no signal
        (phase("probe", "ok", seconds=1.0, returncode=0), {"returncode": 0, "signal": None}),
        # the name the cell's driver gave wins over the host's reading of the number (a MIPS kernel's
        # SIGBUS is 10, which an x86 or ARM host reads as SIGUSR1)
        (phase("probe", "failed", seconds=1.0, returncode=-10, signal="SIGBUS"), {"returncode": -10,
                                                                                  "signal": "SIGBUS"}),
    ],
)
def test_crash(end: str, crash: dict) -> None:
    text = "\n".join([phase("probe", "start", time=0.0), GOOD_IMPORT, end, harness(event="end", ok=False)])
    assert events.parse(text).crash == crash


def test_no_crash_when_summary_written_or_probe_skipped() -> None:
    done = "\n".join([GOOD_IMPORT, probe(step="summary", ok=True, failed=[]),
                      phase("probe", "ok", seconds=1.0, returncode=0)])
    assert events.parse(done).crash is None
    skipped = phase("probe", "skipped", seconds=0.0, returncode=None, reason="install failed")
    assert events.parse(skipped).crash is None


def test_empty_log() -> None:
    parsed = events.parse("")
    assert parsed == events.CellEvents()
    # a log where the probe never ran still has every key a reader looks up, empty
    assert parsed.probe == {"start": None, "imports": [], "distributions": {}, "owners": {}, "torch": None,
                            "summary": None, "complete": False}
    assert parsed.probe["imports"] == [] and parsed.failed_imports == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.garbage = 1  # type: ignore[misc]


def test_downloads_reads_sizes_as_pip_prints_them():
    output = (DATA_LOGS / "conflict.fixtures.log").read_text()
    sizes = events.downloads(output)
    assert sizes == {"alpha-1.0-py3-none-any.whl": {"bytes": 926, "how": "downloaded"},
                     "beta-2.0-py3-none-any.whl": {"bytes": 891, "how": "downloaded"}}
    assert events.downloads("  Downloading torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl (180.3 MB)\n"
                            "  Using cached numpy-2.3.0-cp311-cp311-manylinux_2_28_x86_64.whl (16.9 MB)\n") == {
        "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl": {"bytes": 180_300_000, "how": "downloaded"},
        "numpy-2.3.0-cp311-cp311-manylinux_2_28_x86_64.whl": {"bytes": 16_900_000, "how": "cached"}}


def test_install_output_and_split_are_read_per_phase():
    parsed = events.parse((DATA_LOGS / "no-distribution.pure.log").read_text())
    assert "Installing collected packages: edgeops" in parsed.output["install"]
    assert "@@" not in parsed.output["install"]
    split = parsed.install_split
    assert set(split) == {"resolve_download", "install_files"} and all(v >= 0 for v in split.values())


def test_index_roots_belong_to_the_attempt_whose_checks_they_follow():
    recorded = events.parse((DATA_LOGS / "index-root.jetson.log").read_text())
    [root] = recorded.index_roots
    assert (root["status"], root["links"]) == (404, 0) and root["url"].endswith("/jp6/cu126/")
    check = {"index": "i", "project": "edgeops", "status": 404, "error": None}
    retried = events.parse("\n".join([
        BEGIN,
        harness(event="index-check", attempt=1, checks=[check]),
        harness(event="index-root", attempt=1, roots=[{"index": "i", "status": 404}]),
        harness(event="index-check", attempt=2, checks=[check]),  # the last attempt asked no root
    ]))
    assert retried.index_checks == (check,) and retried.index_roots == ()


def test_the_markers_are_the_in_cell_codes_own(tmp_path):
    """What the probe and the driver print is what the host reads and what the log keeper always keeps:
    the markers are defined once, in the in-cell code."""
    import subprocess
    import sys

    from harness import incell
    from harness.backends import logkeep

    probe = subprocess.run([sys.executable, incell.FILES["probe.py"], "--module", "json"], capture_output=True,
                           text=True, timeout=60, cwd=tmp_path)
    marked = [line for line in probe.stdout.splitlines() if line.startswith("@@")]
    assert marked and all(line.startswith(events.PROBE) for line in marked)
    assert events.parse(probe.stdout).probe["complete"]
    assert set(logkeep.MARKERS) == {events.HARNESS, events.PROBE}
    keeper = logkeep.Keeper()
    keeper.feed("x" * (logkeep.HEAD + logkeep.TAIL + 10) + "\n" + marked[0] + "\n" + "y" * logkeep.TAIL + "\n")
    assert marked[0] in keeper.text()  # a marker line in the part left out is kept


def recorded(name: str) -> events.CellEvents:
    return events.parse((DATA_LOGS / name).read_text())


def test_what_the_driver_said_about_limits_cache_and_retries_is_kept_without_the_event_name():
    limited = recorded("process-limit.install.log")  # a fork bomb in setup.py against `processes = 64`
    assert limited.limit == {"limit": "processes", "max": 64, "phase": "install", "refused": 415}
    assert limited.cache == {"shared": False, "state": "cold"}
    assert recorded("checks.segv.log").cache == {"shared": True, "state": "cold"}
    [retry] = recorded("index-unreachable.closed.log").retries  # attempt 2 of 2 after the index refused
    assert retry == {"phase": "install", "attempt": 2, "attempts": 2, "wait": 1.0,
                     "index": "http://127.0.0.1:36963/simple",
                     "reason": "ConnectionRefusedError: [Errno 111] Connection refused"}
    assert limited.retries == () and limited.release_dates is None and limited.build is None


def test_release_dates_keep_the_project_and_only_the_checks_that_are_records():
    dates = recorded("real-arrow-numpy1.log").release_dates
    assert dates["project"] == "pyarrow"
    assert [(c["project"], c["status"]) for c in dates["checks"]] == [("pyarrow", 200), ("numpy", 200)]
    assert dates["checks"][0]["dates"]["0.10.0"] == "2018-08-06T21:13:02.853572Z"
    odd = events.parse(harness(event="release-dates", project="numpy", checks=["not a record", {"index": "i"}]))
    assert odd.release_dates == {"project": "numpy", "checks": [{"index": "i"}]}
    assert events.parse(harness(event="release-dates", project="numpy")).release_dates == {"project": "numpy",
                                                                                             "checks": []}


def test_the_first_limit_the_cell_hit_is_the_one_kept():
    parsed = events.parse("\n".join([harness(event="limit", limit="memory", phase="install"),
                                     harness(event="limit", limit="processes", phase="probe")]))
    assert parsed.limit == {"limit": "memory", "phase": "install"}
    assert parsed.phases == ()  # an event that names a phase is not a phase event


def test_the_install_report_says_which_installer_and_what_uv_prepared():
    pip = recorded("checks.segv.log").install
    assert (pip["installer"], pip["pip"]) == ("pip", "23.0.1") and "prepared" not in pip
    assert [i["name"] for i in pip["items"]][0] == "torch"
    uv = recorded("uv.good__chain__uv.log").install
    assert (uv["installer"], uv["pip"]) == ("uv", None)
    assert [i["name"] for i in uv["items"]] == ["torch", "torchao", "torchtune"]
    told = events.parse(harness(event="install-report", installer="uv", items=None, prepared=2)).install
    assert told == {"installer": "uv", "pip": None, "items": [], "prepared": 2}


def test_torch_states_notes_and_build_jobs():
    parsed = events.parse("\n".join([
        harness(event="torch-state", when="before", version="2.5.0", cuda=True),
        harness(event="torch-state", when="during", version="x"),  # neither before nor after: not a state
        harness(event="note", text="upgrading pip first"),
        harness(event="note", text=""),  # nothing said
        harness(event="build-jobs", jobs=4, rule="memory"),
        harness(event="torch-state", when="after", version="2.5.0", cuda=False),
    ]))
    assert parsed.torch_states == {"before": {"version": "2.5.0", "cuda": True},
                                   "after": {"version": "2.5.0", "cuda": False}}
    assert parsed.notes == ("upgrading pip first",)
    assert parsed.build == {"jobs": 4, "rule": "memory"}


def test_the_loader_step_maps_each_extension_file_to_its_error():
    loader = recorded("real-torch-2.13-torchao-0.18-loader.probe.log").probe["loader"]
    assert {f.rsplit("/", 1)[-1]: e for f, e in loader.items()} == {
        "_C_mxfp8.cpython-310-x86_64-linux-gnu.so": "libcudart.so.13: cannot open shared object file: No such file "
                                                    "or directory",
        "_C_cutlass_90a.abi3.so": "libcudart.so.13: cannot open shared object file: No such file or directory"}
    assert events.parse(probe(step="loader", files=["junk", {"file": "a.so", "error": None}])).probe["loader"] == {
        "a.so": None}


def test_a_phases_output_is_the_plain_lines_printed_while_it_ran():
    parsed = recorded("process-limit.install.log")
    assert parsed.output["install"].splitlines()[:2] == ["Looking in links: /ewh/mnt/links-0",
                                                          "Processing /ewh/mnt/links-0/forker-1.0.tar.gz"]
    text = "\n".join(["before any phase", phase("venv", "start"), "made", phase("venv", "ok", returncode=0),
                      "between phases", phase("install", "start"), "one", "two"])
    assert events.parse(text).output == {"venv": "made", "install": "one\ntwo"}


def test_check_records_come_in_order_without_their_marker_key():
    parsed = recorded("checks.real-chain.log")
    assert [(c["check"], c["kind"], c["outcome"] if "outcome" in c else None) for c in parsed.checks][3:] == [
        ("checks/sdpa.py", "script", "failed"), ("checks/wrong.py", "script", "failed"),
        ("checks/pep.py", "script", "passed"), ("tests/test_two.py::test_adds", "pytest", "passed"),
        ("tests/test_two.py::test_adds_wrong", "pytest", "failed")]
    assert [(c["check"], c["device"]) for c in parsed.checks[:3]] == [("torch", "cpu"), ("torchao", "cpu"),
                                                                     ("torchtune", "cpu")]
    assert not any("step" in c or "event" in c for c in parsed.checks)


def test_a_check_cut_off_by_the_end_of_the_log_is_unfinished_with_what_it_printed():
    lines = (DATA_LOGS / "checks.segv.log").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if '"check-start"' in line)
    cut = events.parse("\n".join(lines[:start + 3]))  # the cell killed at its deadline two lines later
    assert cut.checks == ({"check": "checks/segv.py", "kind": "script", "device": None, "outcome": "unfinished",
                           "seconds": None, "output": ["about to read address 0",
                                                       "Fatal Python error: Segmentation fault"]},)


def test_an_unfinished_check_keeps_only_the_last_lines_of_its_output():
    keep = events.incell_checks.KEEP_LINES
    text = "\n".join([phase("probe", "start"), probe(step="check-start", check="torch", device="cuda:0"),
                      *(f"line {n}" for n in range(keep + 5))])
    [record] = events.parse(text).checks
    assert (record["kind"], record["device"]) == ("builtin", "cuda:0")
    assert record["output"] == [f"line {n}" for n in range(5, keep + 5)]


SEGV_IN_CHECK = [
    phase("probe", "start"),
    GOOD_IMPORT,
    "printed before the check",
    probe(step="check-start", check="torch", device="cuda:0"),
    "Fatal Python error: Segmentation fault",
    "",
    "Current thread 0x00007fb1d246e2c0 (most recent call first):",
    '  File "/usr/lib/python3/site-packages/torch/cuda/__init__.py", line 7 in synchronize',
    '  File "/ewh/checks.py", line 40 in run_builtin',
]


def test_a_check_whose_process_died_is_crashed_and_names_the_signal_and_the_frames():
    died = phase("probe", "failed", seconds=1.0, returncode=-11, signal="SIGSEGV")
    [record] = events.parse("\n".join([*SEGV_IN_CHECK, died])).checks
    assert record["outcome"] == "crashed" and (record["signal"], record["returncode"]) == ("SIGSEGV", -11)
    assert record["output"] == SEGV_IN_CHECK[4:]  # from its announcement on
    assert record["error"] == {
        "type": "SIGSEGV", "message": "Fatal Python error: Segmentation fault",
        "frames": ['File "/ewh/checks.py", line 40, in run_builtin',
                   'File "/usr/lib/python3/site-packages/torch/cuda/__init__.py", line 7, in synchronize'],
        "last_line": "the probe process died (SIGSEGV): Fatal Python error: Segmentation fault"}


@pytest.mark.parametrize(("end", "how"), [
    (phase("probe", "failed", returncode=-6), "SIGABRT"),  # no signal name given: read from the return code
    (phase("probe", "failed", returncode=-99), "SIG99"),  # no such signal
    (phase("probe", "failed", returncode=3), "exit 3"),
    (phase("probe", "ok", returncode=0), "exit 0"),  # the process ended without the check's record
])
def test_a_crashed_check_names_how_its_process_ended(end, how):
    lines = [line for line in SEGV_IN_CHECK if not line.startswith("Fatal")]
    [record] = events.parse("\n".join([*lines, end])).checks
    assert record["error"]["type"] == how and record["error"]["message"] == ""
    assert record["error"]["last_line"] == f"the probe process died ({how})"
    assert record["signal"] is None


def test_a_crashed_check_is_named_by_the_signal_its_cell_named():
    died = phase("probe", "failed", returncode=-10, signal="SIGBUS")  # a MIPS kernel's number (x86 reads SIGUSR1)
    [record] = events.parse("\n".join([*SEGV_IN_CHECK, died])).checks
    assert record["error"]["type"] == "SIGBUS" and record["signal"] == "SIGBUS"
    assert record["error"]["last_line"] == "the probe process died (SIGBUS): Fatal Python error: Segmentation fault"


def test_a_probes_own_output_with_a_check_cut_off_reads_without_phases():
    """The probe run by itself (no driver, so no phase) and stopped inside a check."""
    [record] = events.parse("\n".join([probe(step="start", python="3.11"),
                                       probe(step="check-start", check="torch", device="cpu")])).checks
    assert (record["check"], record["outcome"], record["output"]) == ("torch", "unfinished", [])


def test_a_probe_killed_by_an_unknown_signal_is_named_by_its_number():
    text = "\n".join([phase("probe", "start"), phase("probe", "failed", returncode=-99)])
    assert events.parse(text).crash == {"returncode": -99, "signal": "SIG99"}


def test_downloads_reads_every_unit_and_drops_a_urls_fragment():
    output = "\n".join([
        "Collecting tiny",
        "  Downloading https://files.example/packages/ab/tiny-1.0-py3-none-any.whl#sha256=00ff (812 bytes)",
        "  Downloading six-1.16.0-py2.py3-none-any.whl (11 kB)",
        "  Downloading big-1.0-py3-none-any.whl (1.5 GB)",
        "Downloading pip-24.0-py3-none-any.whl (2.1 MB) trailing words are fine",
        "  Using cached tiny (3 kB)",
        "  Downloading odd-1.0.whl (3 TB)",  # not a unit pip prints
        "Successfully downloaded six",
    ])
    assert events.downloads(output) == {
        "tiny-1.0-py3-none-any.whl": {"bytes": 812, "how": "downloaded"},
        "six-1.16.0-py2.py3-none-any.whl": {"bytes": 11_000, "how": "downloaded"},
        "big-1.0-py3-none-any.whl": {"bytes": 1_500_000_000, "how": "downloaded"},
        "pip-24.0-py3-none-any.whl": {"bytes": 2_100_000, "how": "downloaded"},
        "tiny": {"bytes": 3_000, "how": "cached"},
    }
