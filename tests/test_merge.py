"""Shards run separately and merged give the same table as one unsharded run; the same cell from two
shards of one machine is an error. Real runs through the CLI, in containers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wheels import CHAIN_MODULES, TORCHAO_WITHOUT_QUANTIZATION, fixture_chain

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]
TIMES = (1, 2, 3)  # Build, Install, Run: the columns two runs of the same cells never agree on


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=1200)


def rows(readme: Path) -> list[list[str]]:
    """The table's rows, cell by cell, without the time columns."""
    out = []
    for line in readme.read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            out.append([c for i, c in enumerate(cells) if i not in TIMES])
    return out


def test_two_shards_merged_give_the_table_of_one_unsharded_run(docker_backend, bookworm, tmp_path):
    good = fixture_chain(tmp_path / "good")
    lacking = fixture_chain(tmp_path / "lacking", torchao_files=TORCHAO_WITHOUT_QUANTIZATION, torchao_version="0.1.0")
    matrix = tmp_path / "shards.toml"
    matrix.write_text(f"""
[matrix]
timeout = 600
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.good]
find_links = ["{good}"]
no_index = true
[indexes.lacking]
find_links = ["{lacking}"]
no_index = true
[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = {CHAIN_MODULES}
checks = []
[packages.torch]
requirements = ["torch"]
modules = ["torch"]
checks = []
""")
    common = ["--cold", "--no-plan", "--progress", "lines"]
    whole = cli("run", str(matrix), "--results", str(tmp_path / "whole"), *common)
    assert whole.returncode == 1, whole.stdout[-2000:]  # lacking × chain is import-failed
    shards = []
    for i in (1, 2):
        done = cli("run", str(matrix), "--results", str(tmp_path / f"shard{i}"), "--shard", f"{i}/2", *common)
        assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
        assert f"Shard {i}/2 of shards:" in done.stdout
        shards.append(tmp_path / f"shard{i}")
    ran = [sorted(p.name for p in (s / "shards").glob("*.json")) for s in shards]
    assert ran[0] and ran[1] and not set(ran[0]) & set(ran[1])  # both shards ran cells, none twice

    merged = cli("merge", *map(str, shards), "--results", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr
    assert rows(tmp_path / "merged" / "shards" / "README.md") == rows(tmp_path / "whole" / "shards" / "README.md")
    assert len(rows(tmp_path / "whole" / "shards" / "README.md")) == 4

    # a shard given twice: the same cells from the same machine, which would be the truth?
    again = tmp_path / "shard1-copy"
    shutil.copytree(shards[0], again)
    overlap = cli("merge", str(shards[0]), str(again), "--results", str(tmp_path / "bad"))
    assert overlap.returncode == 2
    assert "shards of one machine must not overlap" in overlap.stderr and str(again) in overlap.stderr
