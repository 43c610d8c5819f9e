"""`merge` without containers, on records of a real run (tests/data/report/, recorded by tools/record_report.py)
laid out as two machines' results folders: two hosts stay two rows, one host twice is an error, and each
record's log comes along. The same through real sharded runs: tests/test_merge.py (Docker)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import ReportError
from harness.results import merge, store

RECORDS = Path(__file__).parent / "data" / "report"
NAMES = ("bookworm-amd64__lan__chain", "bookworm-amd64__broken__chain")


def machine(root: Path, host: dict, names=NAMES, matrix: str | None = None) -> Path:
    """A results folder (root/<matrix>/) holding the recorded records as `host` would have written them."""
    folder = None
    for name in names:
        data = json.loads((RECORDS / f"{name}.json").read_text())
        data["host"] = {**data["host"], **host}
        data["matrix"] = matrix or data["matrix"]
        folder = root / data["matrix"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{data['cell_id']}.json").write_text(json.dumps(data))
        if data.get("log"):
            (folder / data["log"]).write_text(f"the log of {data['cell_id']} on {host}\n")
    assert folder is not None
    return root


def test_the_same_cells_from_two_machines_stay_two_rows_with_their_logs(tmp_path):
    orin = machine(tmp_path / "orin", {"engine_name": "orin-nano"})
    xavier = machine(tmp_path / "xavier", {"engine_name": "xavier", "engine_host": "ssh://me@xavier"})
    records = merge.merge([orin, xavier])
    assert [(r["cell_id"], r["merged"]["host"], r["merged"]["hosts"]) for r in records] == [
        (NAMES[1], "orin-nano", 2), (NAMES[1], "xavier (ssh://me@xavier)", 2),
        (NAMES[0], "orin-nano", 2), (NAMES[0], "xavier (ssh://me@xavier)", 2)]
    folders = merge.write(records, tmp_path / "merged")
    folder = folders["report"]
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(f"{n}@{h}.{ext}" for n in NAMES for h in ("orin-nano", "xavier_ssh_me_xavier")
                             for ext in ("json", "log"))
    kept = json.loads((folder / f"{NAMES[0]}@orin-nano.json").read_text())
    assert kept["log"] == f"{NAMES[0]}@orin-nano.log"
    assert (folder / kept["log"]).read_text() == f"the log of {NAMES[0]} on {{'engine_name': 'orin-nano'}}\n"
    assert [r["cell_id"] for r in store.read_results(folder)] == [NAMES[1], NAMES[1], NAMES[0], NAMES[0]]


def test_one_machine_twice_is_an_error_that_names_the_cell_and_both_folders(tmp_path):
    first = machine(tmp_path / "shard-1", {"engine_name": "orin-nano"}, names=NAMES[:1])
    second = machine(tmp_path / "shard-2", {"engine_name": "orin-nano"})
    with pytest.raises(ReportError) as caught:
        merge.merge([first, second])
    assert str(caught.value) == (f"{NAMES[0]} of matrix report ran on orin-nano in both {first} and {second}: "
                                 "shards of one machine must not overlap")
    assert caught.value.hint == ("keep one of the two folders (or re-run one shard with the same --shard I/N as "
                                 "before)")


def test_shards_of_one_machine_that_do_not_overlap_are_one_row_each(tmp_path):
    first = machine(tmp_path / "shard-1", {"engine_name": "orin-nano"}, names=NAMES[:1])
    second = machine(tmp_path / "shard-2", {"engine_name": "orin-nano"}, names=NAMES[1:])
    records = merge.merge([first, second])
    assert [(r["cell_id"], r["merged"]["hosts"], r["merged"]["source"]) for r in records] == [
        (NAMES[1], 1, str(second)), (NAMES[0], 1, str(first))]
    folder = merge.write(records, tmp_path / "merged")["report"]
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(f"{n}.json" for n in NAMES)


def test_the_same_cell_id_in_two_matrices_of_one_machine_is_no_overlap(tmp_path):
    a = machine(tmp_path / "a", {"engine_name": "orin-nano"}, names=NAMES[:1], matrix="smoke")
    b = machine(tmp_path / "b", {"engine_name": "orin-nano"}, names=NAMES[:1], matrix="jetson")
    for sources in ([a, b], [b, a]):  # sorted by matrix whatever the order of the sources
        assert [r["matrix"] for r in merge.merge(sources)] == ["jetson", "smoke"]
    records = merge.merge([b, a])
    assert set(merge.write(records, tmp_path / "merged")) == {"jetson", "smoke"}


@pytest.mark.parametrize("host, name", [
    ({"engine_name": "orin", "hostname": "box"}, "orin"),
    ({"hostname": "box"}, "box"),
    ({"engine_name": "orin", "engine_host": "unix:///var/run/docker.sock"}, "orin"),
    ({"engine_name": "orin", "engine_host": "tcp://10.0.0.2:2375"}, "orin (tcp://10.0.0.2:2375)"),
    ({}, "unknown host"),
])
def test_the_host_of_a_record(host, name):
    assert merge.host_of({"host": host}) == name
    assert merge.host_of({"host": "not a mapping"}) == "unknown host"


def test_a_log_is_copied_only_from_beside_its_record(tmp_path):
    source = machine(tmp_path / "one", {"engine_name": "orin-nano"}, names=NAMES[:1])
    folder = source / "report"
    record = json.loads((folder / f"{NAMES[0]}.json").read_text())
    shutil.move(folder / record["log"], tmp_path / record["log"])  # the log is gone from beside it
    written = merge.write(merge.merge([folder]), tmp_path / "merged")["report"]
    assert json.loads((written / f"{NAMES[0]}.json").read_text())["log"] is None
    assert list(written.glob("*.log")) == []


def test_a_record_whose_cell_id_would_escape_is_refused_naming_its_source_and_the_field(tmp_path):
    source = machine(tmp_path / "downloaded", {"engine_name": "orin-nano"}, names=NAMES[:1])
    path = source / "report" / f"{NAMES[0]}.json"
    record = json.loads(path.read_text())
    record["cell_id"] = "../../outside"
    path.write_text(json.dumps(record))
    records = merge.merge([source])
    with pytest.raises(ReportError) as caught:
        merge.write(records, tmp_path / "merged")
    assert str(caught.value) == (f"{source}: a record's cell_id '../../outside' is not a file name (letters, digits, "
                                 "'.', '_', '-', at most 200, not beginning with '.'): it would be written outside "
                                 "the merged results")
    assert caught.value.hint == "merge only results folders the harness wrote"
    assert not (tmp_path / "merged").exists()  # nothing written before the names were checked


def test_a_hostile_name_is_shown_cut_to_120_characters(tmp_path):
    value = "/" + "x" * 300
    with pytest.raises(ReportError) as caught:
        merge.write([{"matrix": value, "cell_id": "c", "merged": {"source": "their.json", "host": "h", "hosts": 1}}],
                    tmp_path / "merged")
    shown = repr(value)[:120]  # the quote and 119 characters of the value
    assert str(caught.value).startswith(f"their.json: a record's matrix {shown} is not a file name")


def test_a_log_named_by_a_path_is_never_copied(tmp_path):
    """A record's log is a file beside it: a record (from another machine) naming a path gets no log."""
    source = machine(tmp_path / "one", {"engine_name": "orin-nano"}, names=NAMES[:1])
    (tmp_path / "secret.log").write_text("a file of this machine, outside the results\n")
    path = source / "report" / f"{NAMES[0]}.json"
    record = json.loads(path.read_text())
    record["log"] = "../secret.log"  # from the results root, the file beside it
    path.write_text(json.dumps(record))
    written = merge.write(merge.merge([source]), tmp_path / "merged")["report"]
    assert json.loads((written / f"{NAMES[0]}.json").read_text())["log"] is None
    assert list(written.glob("*.log")) == []


def test_host_names_in_file_names_keep_their_letters_and_stay_short(tmp_path):
    """`<cell-id>@<host>`: the host's letters, digits, '.', '_' and '-' kept (upper case too), anything else one
    '_', at most 40 characters, and `host` for a name with none of them."""
    hosts = [({"engine_name": "Xavier-NX"}, "Xavier-NX"),
             ({"engine_name": "AGX Orin", "engine_host": "tcp://10.0.0.2:2375"}, "AGX_Orin_tcp_10.0.0.2_2375"),
             ({"engine_name": "jetson-orin-nano-developer-kit-lab-bench-3"},
              "jetson-orin-nano-developer-kit-lab-bench"),
             ({"engine_name": "ジェットソン"}, "host")]
    sources = [machine(tmp_path / str(n), host, names=NAMES[:1]) for n, (host, _) in enumerate(hosts)]
    folder = merge.write(merge.merge(sources), tmp_path / "merged")["report"]
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(f"{NAMES[0]}@{slug}.json" for _, slug in hosts)


def test_two_engines_whose_addresses_differ_past_the_cut_keep_a_file_each(tmp_path):
    """Two remote engines of one name whose addresses differ only after the 40 characters a host keeps in a
    file name: each machine's record and log are kept (a short hash of the host tells them apart), neither
    overwrites the other; a third machine, whose name is its own, keeps its plain name."""
    hosts = [{"engine_name": "jetson-agx-orin", "engine_host": f"ssh://nvidia@jetson-agx-orin-{n}.robotics.example.org"}
             for n in ("01", "02")]
    sources = [machine(tmp_path / str(n), host, names=NAMES[:1]) for n, host in enumerate(hosts)]
    sources.append(machine(tmp_path / "xavier", {"engine_name": "xavier"}, names=NAMES[:1]))
    folder = merge.write(merge.merge(sources), tmp_path / "merged")["report"]
    written = {json.loads(p.read_text())["merged"]["host"]: p for p in folder.glob("*.json")}
    assert written.pop("xavier").name == f"{NAMES[0]}@xavier.json"
    assert sorted(written) == sorted(f"jetson-agx-orin ({h['engine_host']})" for h in hosts)
    for host in hosts:
        path = written[f"jetson-agx-orin ({host['engine_host']})"]
        assert path.name.startswith(f"{NAMES[0]}@jetson-agx-orin_ssh_nvidia_jets-")  # the slug's first 31
        assert len(path.stem.split("@", 1)[1]) == 40
        record = json.loads(path.read_text())
        assert (folder / record["log"]).read_text() == f"the log of {NAMES[0]} on {host}\n"
