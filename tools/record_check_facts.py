"""Record the facts the built-in checks' decisions are tested against, from the real distributions.

    python tools/record_check_facts.py [OUT_DIR]      (default: tests/data/checks/; needs the package index)

- `torch-2.13.0-linux-x86_64.requires.txt`: the Requires-Dist lines of torch 2.13.0's default Linux
  x86_64 wheel (the CUDA build, with its nvidia-* and cuda-toolkit wheels), read from pip's own install
  report of a dry run for that platform (nothing is installed, only the metadata is fetched);
- `cuda-toolkit-13.0.3.requires.txt`: the Requires-Dist lines of the cuda-toolkit release torch 2.13.0
  declares (which nvidia-* wheels each of its extras brings), from its wheel's METADATA;
- `torchao-apis.json`: for torchao releases from 0.1 to 0.18, the names `torchao.quantization` and
  `torchao.quantization.quant_api` define or import, the fields of `Int4WeightOnlyConfig` and the members
  of `Int4PackingFormat`, read from each wheel's source with `ast` (nothing is imported).

pip runs with `--isolated` (the default index, not this machine's pip configuration) and the CA bundle
the harness would forward to cells. Review `git diff tests/data/checks/` before committing a refresh.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import installers  # noqa: E402

TORCHAO_RELEASES = ("0.1", "0.3.1", "0.5.0", "0.10.0", "0.15.0", "0.18.0")
PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
            "--only-binary", ":all:"]


def pip(*args: str) -> None:
    bundle = installers.ca_bundle(os.environ)
    cmd = [sys.executable, "-m", "pip", "--isolated", *(["--cert", bundle] if bundle else []), *args]
    subprocess.run(cmd, check=True, capture_output=True)


def torch_requires(tmp: Path) -> list[str]:
    report = tmp / "torch-report.json"
    pip("install", "--dry-run", "--ignore-installed", "--no-deps", "--target", str(tmp / "t"), *PLATFORM,
        "--report", str(report), "torch==2.13.0")
    [item] = json.loads(report.read_text())["install"]
    return list(item["metadata"].get("requires_dist") or [])


def wheel(tmp: Path, requirement: str) -> zipfile.ZipFile:
    folder = tmp / requirement.replace("=", "-")
    pip("download", "--no-deps", "-d", str(folder), *PLATFORM, requirement)
    return zipfile.ZipFile(next(folder.glob("*.whl")))


def metadata_requires(whl: zipfile.ZipFile) -> list[str]:
    name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    return [line.split(":", 1)[1].strip() for line in whl.read(name).decode().splitlines()
            if line.startswith("Requires-Dist:")]


def module_names(source: str, star=lambda module: []) -> list[str]:
    """The names a module defines or imports at its top level (what `getattr(module, name)` finds);
    `star(module)` gives what a relative `from .module import *` brings."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            names.update(star(node.module or "") if node.level == 1 else [])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return sorted(names)


def exported(source: str) -> list[str]:
    """What `from module import *` takes: its literal __all__, else its public top-level names."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:
                break
    return [n for n in module_names(source) if not n.startswith("_")]


def class_fields(source: str, cls: str) -> list[str]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    return []


def enum_members(source: str, cls: str) -> list[str]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return [t.id for s in node.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)]
    return []


def release_apis(whl: zipfile.ZipFile) -> dict[str, list[str]]:
    files = set(whl.namelist())

    def read(name: str) -> str:
        return whl.read(name).decode("utf-8") if name in files else ""

    quant_api = read("torchao/quantization/quant_api.py")
    formats = next((read(n) for n in sorted(files) if n.endswith("int4_packing_format.py")), "")
    return {
        "quantization": module_names(read("torchao/quantization/__init__.py"),
                                     lambda m: exported(read(f"torchao/quantization/{m}.py"))),
        "quant_api": module_names(quant_api),
        "Int4WeightOnlyConfig": class_fields(quant_api, "Int4WeightOnlyConfig"),
        "Int4PackingFormat": enum_members(formats, "Int4PackingFormat"),
    }


def torchao_apis(tmp: Path) -> dict[str, dict]:
    return {version: release_apis(wheel(tmp, f"torchao=={version}")) for version in TORCHAO_RELEASES}


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "tests" / "data" / "checks"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (out / "torch-2.13.0-linux-x86_64.requires.txt").write_text("\n".join(torch_requires(tmp)) + "\n")
        toolkit = metadata_requires(wheel(tmp, "cuda-toolkit==13.0.3"))
        (out / "cuda-toolkit-13.0.3.requires.txt").write_text("\n".join(toolkit) + "\n")
        (out / "torchao-apis.json").write_text(json.dumps(torchao_apis(tmp), indent=1) + "\n")
    print(f"recorded into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
