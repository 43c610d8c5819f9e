"""Tiny real wheels for tests: fixture distributions named torch, torchao and torchtune."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str | bytes],
               requires: tuple[str, ...] = (), *, tag: str = "py3-none-any",
               requires_python: str | None = None) -> Path:
    """Write a wheel `name-version-<tag>.whl` holding `files` (path → source, or bytes).

    `tag` only names the platform (e.g. `py3-none-manylinux2014_aarch64`): the content stays pure
    Python, which is all pip's tag matching looks at.
    """
    directory.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    members = dict(files)
    members[f"{info}/METADATA"] = metadata
    members[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    record = []
    for path, text in members.items():
        data = text if isinstance(text, bytes) else text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = "\n".join(record) + "\n"
    out = directory / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in members.items():
            zf.writestr(path, text)
    return out


def shared_library(directory: Path, name: str, needs: str) -> Path:
    """A real ELF shared library `name`.so that needs `needs` (a library the loader will not find),
    built with the host's gcc."""
    import shutil
    import subprocess

    gcc = shutil.which("gcc")
    assert gcc, "gcc builds the fixture shared libraries"
    stub = directory / "stub"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "s.c").write_text("int stub(void) { return 1; }\n")
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(stub / needs), f"-Wl,-soname,{needs}", str(stub / "s.c")],
                   check=True)
    (directory / "ext.c").write_text("int stub(void); int ext(void) { return stub(); }\n")
    out = directory / f"{name}.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(out), str(directory / "ext.c"), str(stub / needs)], check=True)
    shutil.rmtree(stub)  # gone at run time: loading `out` fails on `needs`
    return out


FAKE_TORCH = {
    "torch/__init__.py": (
        "__version__ = '2.13.0+fixture'\n"
        "from . import version, cuda\n"
    ),
    "torch/version.py": "cuda = None\n",
    "torch/cuda.py": (
        "def is_available():\n    return False\n"
        "def device_count():\n    return 0\n"
    ),
}

TORCHAO_GOOD = {
    "torchao/__init__.py": "__version__ = '0.18.0+fixture'\nimport torch\n",
    "torchao/quantization/__init__.py": "def quantize_(model, config):\n    return model\n",
}

TORCHAO_WITHOUT_QUANTIZATION = {
    "torchao/__init__.py": "__version__ = '0.1.0+fixture'\nimport torch\n",
}

TORCHTUNE = {
    "torchtune/__init__.py": "__version__ = '0.6.1+fixture'\nfrom torchao.quantization import quantize_\n",
    "torchtune/training/__init__.py": "from torchtune import quantize_ as _q\n",
}


def fixture_chain(directory: Path, *, torchao_files: dict[str, str] = TORCHAO_GOOD,
                  torchao_version: str = "0.18.0") -> Path:
    """A wheelhouse holding fixture torch, torchao and torchtune wheels."""
    make_wheel(directory, "torch", "2.13.0", FAKE_TORCH)
    make_wheel(directory, "torchao", torchao_version, torchao_files, requires=("torch",))
    make_wheel(directory, "torchtune", "0.6.1", TORCHTUNE, requires=("torchao", "torch"))
    return directory


CHAIN_MODULES = '["torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training"]'
AMD64_IMAGE = '[images.bookworm-amd64]\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n'


def fixture_matrix(path: Path, wheelhouse: Path, *, images: str = AMD64_IMAGE, modules: str = CHAIN_MODULES,
                   requirements: str = '["torch", "torchao", "torchtune"]', timeout: int = 300,
                   checks: str = "[]") -> Path:
    """A matrix file whose one index variant is the fixture wheelhouse alone (no network); import-only
    unless `checks` names some (the fixture torch has no tensors for the built-in checks)."""
    path.write_text(f"""
[matrix]
timeout = {timeout}

{images}
[indexes.fixtures]
find_links = ["{wheelhouse}"]
no_index = true

[packages.chain]
requirements = {requirements}
modules = {modules}
checks = {checks}
""")
    return path


def make_sdist(directory: Path, name: str, version: str, module_source: str, *, setup_extra: str = "",
               c_source: str | None = None) -> Path:
    """A setup.py sdist pip must build here (setuptools from the venv, no network needed).

    `setup_extra` is code run by setup.py before `setup()` (e.g. a `raise` for a build that fails);
    `c_source` adds a C extension `<name>_c` made from it, which setuptools compiles with the image's
    C compiler.
    """
    files = {
        "setup.py": (f"from setuptools import setup\n{setup_extra}\n"
                     f"setup(name={name!r}, version={version!r}, py_modules=[{name!r}])\n"),
        f"{name}.py": module_source,
    }
    if c_source is not None:
        files["setup.py"] = (f"from setuptools import Extension, setup\n{setup_extra}\n"
                             f"setup(name={name!r}, version={version!r}, py_modules=[{name!r}],\n"
                             f"      ext_modules=[Extension({name + '_c'!r}, [{name + '_c.c'!r}])])\n")
        files[f"{name}_c.c"] = c_source
    return _write_sdist(directory, name, version, files)


COMPILING_BACKEND = '''"""An in-tree build backend that compiles {name}_c.c with the system's cc, as a C extension's
build does. It needs no setuptools and no index; the tests use it only where compiling fails."""
import subprocess
import sysconfig


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    subprocess.run(["cc", "-fPIC", "-I" + sysconfig.get_paths()["include"], "-c", "{name}_c.c", "-o", "{name}_c.o"],
                   check=True)
    raise RuntimeError("this fixture stops after compiling")
'''


def make_compiling_sdist(directory: Path, name: str, version: str, c_source: str) -> Path:
    """An sdist whose build compiles `c_source` with the system's `cc` (an in-tree PEP 517 backend that
    requires nothing, so pip's build isolation needs no index)."""
    return _write_sdist(directory, name, version, {
        "pyproject.toml": ('[build-system]\nrequires = []\nbuild-backend = "compiling_backend"\n'
                           'backend-path = ["."]\n'),
        "compiling_backend.py": COMPILING_BACKEND.replace("{name}", name),
        f"{name}_c.c": c_source,
    })


def _write_sdist(directory: Path, name: str, version: str, files: dict[str, str]) -> Path:
    import io
    import tarfile

    directory.mkdir(parents=True, exist_ok=True)
    base = f"{name}-{version}"
    files = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", **files}
    out = directory / f"{base}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


# --- releases that break and fix an import on purpose (for bisect and solve) --------------------------


def fake_torch(version: str) -> dict[str, str]:
    return {**FAKE_TORCH, "torch/__init__.py": f"__version__ = '{version}'\nfrom . import version, cuda\n"}


def fake_torchao(version: str, *, int4: bool = True, cpp_built_for: str | None = None) -> dict[str, str]:
    """torchao `version`: with or without `int4_weight_only` (what torchtune 0.6.1 imports); built for
    one torch, it logs torchao's own "Skipping import of cpp extensions" with any other (degraded)."""
    skip = ""
    if cpp_built_for:
        skip = (f"if not torch.__version__.startswith('{cpp_built_for}'):\n"
                "    import logging\n"
                "    logging.getLogger('torchao').warning('Skipping import of cpp extensions due to incompatible "
                "torch version %s for torchao version %s', torch.__version__, __version__)\n")
    quantization = "def quantize_(model, config):\n    return model\n"
    if int4:
        quantization += "def int4_weight_only(group_size=128):\n    return None\n"
    return {"torchao/__init__.py": f"__version__ = '{version}'\nimport torch\n{skip}",
            "torchao/quantization/__init__.py": quantization}


TORCHTUNE_INT4 = {
    "torchtune/__init__.py": "__version__ = '0.6.1'\nfrom torchao.quantization import int4_weight_only, quantize_\n",
    "torchtune/training/__init__.py": "import torchtune\n",
}


def bisect_releases(directory: Path) -> Path:
    """torch 2.13.0, torchtune 0.6.1 (imports int4_weight_only from torchao.quantization) and torchao
    0.15.0 and 0.16.0 (have it), 0.16.1 (a wheel for Windows only: none for a Linux target), 0.17.0 and
    0.18.0 (dropped it), 0.19.0 (has it again)."""
    make_wheel(directory, "torch", "2.13.0", fake_torch("2.13.0"))
    for version, int4 in (("0.15.0", True), ("0.16.0", True), ("0.17.0", False), ("0.18.0", False),
                          ("0.19.0", True)):
        make_wheel(directory, "torchao", version, fake_torchao(version, int4=int4), requires=("torch",))
    make_wheel(directory, "torchao", "0.16.1", fake_torchao("0.16.1"), requires=("torch",), tag="py3-none-win_amd64")
    make_wheel(directory, "torchtune", "0.6.1", TORCHTUNE_INT4, requires=("torch",))
    return directory


def solve_releases(directory: Path) -> Path:
    """torch 2.12.0 and 2.13.0; torchao 0.15.0 (built for torch 2.12: degraded with 2.13), 0.16.0 (works),
    0.17.0 and 0.18.0 (no int4_weight_only), 0.19.0 (requires torch>=2.14, which the index lacks);
    torchtune 0.6.0 and 0.6.1 (import int4_weight_only), 0.7.0 (requires torchao>=0.19)."""
    for version in ("2.12.0", "2.13.0"):
        make_wheel(directory, "torch", version, fake_torch(version))
    make_wheel(directory, "torchao", "0.15.0", fake_torchao("0.15.0", cpp_built_for="2.12"), requires=("torch",))
    for version, int4 in (("0.16.0", True), ("0.17.0", False), ("0.18.0", False)):
        make_wheel(directory, "torchao", version, fake_torchao(version, int4=int4), requires=("torch",))
    make_wheel(directory, "torchao", "0.19.0", fake_torchao("0.19.0"), requires=("torch>=2.14",))
    for version in ("0.6.0", "0.6.1"):
        make_wheel(directory, "torchtune", version, {**TORCHTUNE_INT4, "torchtune/__init__.py": TORCHTUNE_INT4[
            "torchtune/__init__.py"].replace("0.6.1", version)}, requires=("torch",))
    make_wheel(directory, "torchtune", "0.7.0", TORCHTUNE_INT4, requires=("torch", "torchao>=0.19"))
    return directory
