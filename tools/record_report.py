"""Record the golden table's inputs from a real run, for a person to review.

    python tools/record_report.py [OUT_DIR]      (default: tests/data/report/; needs a Docker engine)

Runs a small real matrix (fixture wheels, served on loopback; the local bookworm amd64 image) with
uv's prediction for every cell, lets the runner write each result with the store's own writer into
OUT_DIR (replacing the results there), and renders OUT_DIR/table.golden.md from them with the store's
reader and the table renderer. tests/test_store_and_tables.py compares the table with that file and never
writes it: review `git diff tests/data/report/` before committing a refresh.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from wheels import (  # noqa: E402  (tests/ holds the fixture wheel makers)
    AMD64_IMAGE,
    FAKE_TORCH,
    TORCHAO_WITHOUT_QUANTIZATION,
    fixture_chain,
    make_sdist,
    make_wheel,
)

from harness.backends.choose import choose_backend  # noqa: E402
from harness.matrix import reader  # noqa: E402
from harness.plan import prediction  # noqa: E402
from harness.reports import table  # noqa: E402
from harness.results import store  # noqa: E402
from harness.run import runner  # noqa: E402
from harness.run.options import RunOptions, new_run_id  # noqa: E402
from harness.run.serve import WheelhouseServer  # noqa: E402

TORCHAO_SKIPPING = {
    "torchao/__init__.py": (
        "import logging\nimport torch\n"
        "logging.getLogger(__name__).warning('Skipping import of cpp extensions due to incompatible torch version '"
        " + torch.__version__ + ' for torchao version 0.15.0')\n"
    ),
    "torchao/quantization/__init__.py": "def quantize_(model, config):\n    return model\n",
}


CHAIN_CHECK = """import torchao.quantization as q
model = object()
assert q.quantize_(model, None) is model, "quantize_ must hand the model back"
print("quantize_ hands the model back")
"""


def matrix_text(houses: dict[str, Path], served: dict[str, str]) -> str:
    """One cell per row worth having in the table: pass (downloaded from a served index, its user check
    passing), degraded,
    a known-bad import-failed, no-distribution with what the index offers, a source build, and an image
    the engine does not have."""
    return f"""
[matrix]
name = "report"
timeout = 600
images = []  # only the cells below

{AMD64_IMAGE}
[images.missing]
ref = "edge-wheel-harness/never-built:latest"
platform = "linux/amd64"

[indexes.lan]
index_url = "{served['lan']}"

[indexes.skipping]
find_links = ["{houses['skipping']}"]
no_index = true

[indexes.broken]
find_links = ["{houses['broken']}"]
no_index = true

[indexes.arm-only]
index_url = "{served['arm-only']}"

[indexes.sdist]
find_links = ["{houses['sdist']}"]
no_index = true
pip_args = ["--no-build-isolation"]

[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = ["torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training"]
checks = ["chain_check.py"]  # the user's own script (the fixture torch has no tensors for the built-in checks)

[packages.ao]
requirements = ["torchao"]
modules = ["torch", "torchao"]
checks = []

[packages.edgeops]
requirements = ["edgeops"]
modules = ["edgeops"]

[packages.srcpkg]
requirements = ["srcpkg"]
modules = ["srcpkg"]

[[matrix.include]]
image = "bookworm-amd64"
index = "lan"
packages = "chain"

[[matrix.include]]
image = "bookworm-amd64"
index = "skipping"
packages = "ao"
expect = "degraded"
why = "fixture torchao skips its C++ extensions with this torch"

[[matrix.include]]
image = "bookworm-amd64"
index = "broken"
packages = "chain"
expect = "import-failed"
why = "fixture torchao 0.1.0 has no quantization module"

[[matrix.include]]
image = "bookworm-amd64"
index = "arm-only"
packages = "edgeops"
expect = "no-distribution"
why = "the index has an aarch64 wheel only"

[[matrix.include]]
image = "bookworm-amd64"
index = "sdist"
packages = "srcpkg"

[[matrix.include]]
image = "missing"
index = "lan"
packages = "chain"
"""


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "tests" / "data" / "report"
    backend = choose_backend("docker")
    with tempfile.TemporaryDirectory(prefix="ewh-record-") as tmp:
        work = Path(tmp)
        houses = {name: work / name for name in ("lan", "skipping", "broken", "arm-only", "sdist")}
        fixture_chain(houses["lan"])
        make_wheel(houses["skipping"], "torch", "2.13.0", FAKE_TORCH)
        make_wheel(houses["skipping"], "torchao", "0.15.0", TORCHAO_SKIPPING, requires=("torch",))
        fixture_chain(houses["broken"], torchao_files=TORCHAO_WITHOUT_QUANTIZATION, torchao_version="0.1.0")
        make_wheel(houses["arm-only"], "edgeops", "1.0", {"edgeops/__init__.py": ""},
                   tag="py3-none-manylinux2014_aarch64")
        make_sdist(houses["sdist"], "srcpkg", "1.0", "VALUE = 42\n")
        with WheelhouseServer(houses["lan"]) as lan, WheelhouseServer(houses["arm-only"]) as arm:
            (work / "chain_check.py").write_text(CHAIN_CHECK)
            path = work / "report.toml"
            path.write_text(matrix_text(houses, {"lan": lan.url, "arm-only": arm.url}))
            m = reader.load(path)
            cells = list(m.cells)
            predictions = {c.id: prediction.predict(c).to_json() for c in cells}
            out.mkdir(parents=True, exist_ok=True)
            for old in [*out.glob("*.json"), *out.glob("*.log")]:
                old.unlink()
            options = RunOptions(run_id=new_run_id(), reuse=False, shared_caches=False)
            results = runner.run_cells(m, cells, backend, options,
                                       results_dir=out, predictions=predictions)
    for log in out.glob("*.log"):  # the table reads no log; the recorded logs live in tests/data/logs
        log.unlink()
    golden = out / "table.golden.md"
    golden.write_text(table.render_table(store.load_results(out)) + "\n", encoding="utf-8")
    print(f"{len(results)} results and {golden.name} written to {out}: review the diff before committing")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
