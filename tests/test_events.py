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
