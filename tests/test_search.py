"""The searches' pure parts: step cells named after their pins."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wheels import CHAIN_MODULES, bisect_releases

from harness import matrix, steps


def write(path: Path, house: Path, requirements: str = '["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"]',
          extra: str = "") -> Path:
    path.write_text(f"""
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[images.bookworm-arm64]
local_build = "debian-bookworm"
platform = "linux/arm64"
[indexes.fixtures]
serve = ["{house}"]
no_index = true
[packages.chain]
requirements = {requirements}
modules = {CHAIN_MODULES}
[packages.other]
requirements = ["torch==2.13.0"]
modules = ["torch"]
{extra}
""")
    return path


def test_a_step_is_named_after_its_pins_in_one_order():
    assert steps.set_name(["torchtune==0.6.1", "torch==2.13.0", "torchao==0.16.0"]) == \
        "torch-2.13.0_torchao-0.16.0_torchtune-0.6.1"
    assert steps.ordered(["torchtune==0.6.1", "Torch==2.13.0"]) == ("Torch==2.13.0", "torchtune==0.6.1")
    assert steps.set_name(["torch==2.13.0+cpu", "numpy"]) == "numpy_torch-2.13.0-cpu"
    ranged = steps.set_name(["torch==2.13.0", "torchao>=0.15,<0.18"])
    assert ranged.startswith("torch-2.13.0_torchao-") and len(ranged.rsplit("-", 1)[1]) == 8  # a hash: not a pin
    assert ranged != steps.set_name(["torch==2.13.0", "torchao>=0.15,<0.19"])
    assert matrix.NAME_RE.match(ranged) and matrix.NAME_RE.match(steps.set_name(["torch==2.13.0+cpu"]))


def test_a_step_with_the_pins_of_a_declared_cell_is_that_cell(tmp_path):
    m = matrix.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    same = steps.step_cell(chain, ["torchtune==0.6.1", "torchao==0.15.0", "torch==2.13.0"], made_by="bisect", matrix=m)
    assert same is chain
    other = steps.step_cell(chain, ["torch==2.13.0", "torchao==0.16.0", "torchtune==0.6.1"], made_by="bisect", matrix=m)
    assert other.id == "bookworm-amd64__fixtures__torch-2.13.0_torchao-0.16.0_torchtune-0.6.1"
    assert other.packages.made_by == "bisect" and other.packages.modules == chain.packages.modules
    assert other.to_json()["packages"]["made_by"] == "bisect" and "made_by" not in chain.to_json()["packages"]
    uv = steps.step_cell(dataclasses.replace(chain, installer="uv"), chain.packages.requirements, made_by="bisect",
                         matrix=m)
    assert uv.id == "bookworm-amd64__fixtures__torch-2.13.0_torchao-0.15.0_torchtune-0.6.1__uv"
