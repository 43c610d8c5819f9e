"""What kind of host this is: Jetson (L4T/JetPack, SoC, CUDA), x86 or SBSA with an NVIDIA GPU, or plain.

Nothing here imports `docker`: the engine's `info()` dict is passed in. Every file is read under a `root`
path and every process call goes through the injected `run`, so tests point both at fixtures. Nothing
raises for a missing source: a missing fact is None, and `HostFacts.sources` says why.
"""

from __future__ import annotations

import json
import platform
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.jetson import TEGRA_SOCS, jetpack_for, python_for_jetpack
from harness.model import Arch, GpuAccess, GpuMode, HostKind

RunFn = Callable[..., "subprocess.CompletedProcess[str]"]

COMMAND_TIMEOUT = 20.0

RELEASE_FILE = Path("etc/nv_tegra_release")
COMPATIBLE_FILE = Path("proc/device-tree/compatible")
CUDA_ROOT = Path("usr/local/cuda")
BINFMT_DIR = Path("proc/sys/fs/binfmt_misc")
BINFMT_ROOT = Path("/") / BINFMT_DIR

KINDS = tuple(k.value for k in HostKind)

NVIDIA_RUNTIME_FIX = (
    "install nvidia-container-toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker`, "
    "then restart docker (`sudo systemctl restart docker`)"
)

_RELEASE_RE = re.compile(r"^#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?", re.MULTILINE)
_PACKAGE_RE = re.compile(r"^(?:\d+:)?(\d+)\.(\d+)(?:\.(\d+))?")
_CUDA_TXT_RE = re.compile(r"CUDA Version\s+(\d+\.\d+(?:\.\d+)?)")
_NVCC_RE = re.compile(r"release\s+(\d+\.\d+),\s*V(\d+\.\d+(?:\.\d+)?)")


# -- Value types ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CudaVersion:
    version: str  # "12.6"
    full: str  # "12.6.68"


@dataclass(frozen=True, kw_only=True)
class Gpu:
    name: str
    compute_capability: str | None = None


@dataclass(frozen=True, kw_only=True)
class NvidiaSmi:
    driver: str | None
    gpus: tuple[Gpu, ...]


@dataclass(frozen=True, kw_only=True)
class HostFacts:
    arch: Arch | None  # None only on an architecture the harness does not support
    machine: str
    kind: HostKind
    l4t: str | None = None
    jetpack: str | None = None
    cuda: str | None = None
    cuda_full: str | None = None
    soc: str | None = None
    soc_name: str | None = None
    compute_capability: str | None = None
    python_for_jetpack: str | None = None
    gpus: tuple[Gpu, ...] = ()
    driver: str | None = None
    docker_runtimes: tuple[str, ...] = ()
    nvidia_runtime: bool = False
    binfmt: dict[str, bool] = field(default_factory=dict)  # the OTHER architecture → can it run here
    engine_version: str | None = None
    has_engine: bool = False  # a container engine answered (engine_info was given)
    host_chosen: bool = False  # the host backend was asked for: no engine is used, and none is missing
    memory: int | None = None  # bytes of memory of the machine that runs the cells (the engine's)
    sources: dict[str, str] = field(default_factory=dict)  # fact → where it came from, or why it is missing

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch.value if self.arch else None,
            "machine": self.machine,
            "kind": self.kind.value,
            "l4t": self.l4t,
            "jetpack": self.jetpack,
            "cuda": self.cuda,
            "cuda_full": self.cuda_full,
            "soc": self.soc,
            "soc_name": self.soc_name,
            "compute_capability": self.compute_capability,
            "python_for_jetpack": self.python_for_jetpack,
            "gpus": [{"name": g.name, "compute_capability": g.compute_capability} for g in self.gpus],
            "driver": self.driver,
            "docker_runtimes": list(self.docker_runtimes),
            "nvidia_runtime": self.nvidia_runtime,
            "binfmt": dict(self.binfmt),
            "engine_version": self.engine_version,
            "has_engine": self.has_engine,
            "host_chosen": self.host_chosen,
            "memory": self.memory,
            "sources": dict(self.sources),
        }


# -- Processes and files -------------------------------------------------------------------------------


def _command(run: RunFn, cmd: list[str]) -> tuple[str | None, str]:
    """(stdout, where) of a command, or (None, why not). Never raises."""
    shown = shlex.join(cmd)
    try:
        proc = run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
                   timeout=COMMAND_TIMEOUT)
    except FileNotFoundError:
        return None, f"`{cmd[0]}` not found"
    except subprocess.TimeoutExpired:
        return None, f"`{shown}` timed out after {COMMAND_TIMEOUT:g} s"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"`{shown}` could not run: {exc}"
    out = _text(proc.stdout)
    if proc.returncode != 0:
        said = (_text(proc.stderr).strip() or out.strip()).splitlines()
        detail = f": {said[0]}" if said else ""
        return None, f"`{shown}` exited with {proc.returncode}{detail}"
    return out, f"`{shown}`"


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _read_text(path: Path) -> tuple[str | None, str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace"), str(path)
    except FileNotFoundError:
        return None, f"no {path}"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"


def binfmt_registered(arch: Arch, *, root: Path = BINFMT_ROOT, native: Arch | None = None) -> bool:
    """Whether this host can run `arch` binaries: natively, or through an enabled QEMU binfmt entry."""
    if arch is (native or Arch.native()):
        return True
    if _first_line(root / "status") == "disabled":  # binfmt_misc switched off as a whole
        return False
    return _first_line(root / f"qemu-{arch.machine}") == "enabled"


def _first_line(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return fh.readline().strip()
    except OSError:
        return None


# -- L4T and JetPack -----------------------------------------------------------------------------------


def parse_nv_tegra_release(text: str) -> str | None:
    """`# R36 (release), REVISION: 4.3, …` → "36.4.3"; None when no such line is there."""
    m = _RELEASE_RE.search(text)
    if not m:
        return None
    return f"{m.group(1)}.{m.group(2)}.{m.group(3) or '0'}"


def l4t_from_package(version_text: str) -> str | None:
    """The `nvidia-l4t-core` package version (`36.4.3-20250107174145`) → "36.4.3"."""
    m = _PACKAGE_RE.match(version_text.strip())
    if not m:
        return None
    return f"{m.group(1)}.{m.group(2)}.{m.group(3) or '0'}"


def read_l4t(release_path: Path = Path("/etc/nv_tegra_release"), run: RunFn = subprocess.run) -> tuple[str | None, str]:
    """(L4T release, where it came from) from the release file, else the nvidia-l4t-core package version."""
    text, where = _read_text(release_path)
    if text is not None:
        l4t = parse_nv_tegra_release(text)
        if l4t:
            return l4t, where
        file_why = f"{release_path} has no `# R… (release), REVISION: …` line"
    else:
        file_why = where
    out, how = _command(run, ["dpkg-query", "-W", "-f=${Version}", "nvidia-l4t-core"])
    if out is None:
        return None, f"{file_why}; {how}"
    l4t = l4t_from_package(out)
    if l4t is None:
        return None, f"{file_why}; {how} printed no version ({out.strip()[:60]!r})"
    return l4t, f"{how} (nvidia-l4t-core package; {file_why})"


# -- CUDA ----------------------------------------------------------------------------------------------


def _cuda(full: str) -> CudaVersion:
    return CudaVersion(version=".".join(full.split(".")[:2]), full=full)


def cuda_version(root: Path = Path("/usr/local/cuda"), run: RunFn = subprocess.run) -> tuple[CudaVersion | None, str]:
    """(CUDA version, where) from `version.json`, then `version.txt`, then `nvcc --version`."""
    tried: list[str] = []
    text, where = _read_text(root / "version.json")
    if text is not None:
        try:
            data = json.loads(text)
            full = (data.get("cuda_nvcc") or data.get("cuda") or {}).get("version")
        except (ValueError, AttributeError):
            full = None
        if isinstance(full, str) and re.match(r"^\d+\.\d+", full):
            return _cuda(full), f"{where} (cuda_nvcc.version)"
        tried.append(f"{where} has no cuda_nvcc.version")
    else:
        tried.append(where)
    text, where = _read_text(root / "version.txt")
    if text is not None:
        m = _CUDA_TXT_RE.search(text)
        if m:
            return _cuda(m.group(1)), where
        tried.append(f"{where} has no `CUDA Version` line")
    else:
        tried.append(where)
    nvcc = root / "bin" / "nvcc"
    out, how = _command(run, [str(nvcc) if nvcc.is_file() else "nvcc", "--version"])
    if out is not None:
        m = _NVCC_RE.search(out)
        if m:
            return _cuda(m.group(2)), how
        how = f"{how} printed no `release X.Y, VX.Y.Z`"
    tried.append(how)
    return None, "; ".join(tried)


# -- SoC -----------------------------------------------------------------------------------------------


def tegra_ids(compatible: bytes) -> list[str]:
    """The `tegraNNN` ids in a NUL-separated device-tree `compatible` value, in order."""
    entries = compatible.decode("ascii", errors="replace").split("\0")
    found = []
    for entry in entries:
        _, _, model = entry.strip().partition(",")
        if re.fullmatch(r"tegra\d+", model):
            found.append(model)
    return found


def soc_from_compatible(compatible: bytes) -> tuple[str, str, str] | None:
    """(soc, family name, compute capability), e.g. ("tegra234", "Orin", "8.7"); None when not known."""
    for soc in tegra_ids(compatible):
        if soc in TEGRA_SOCS:
            name, capability = TEGRA_SOCS[soc]
            return soc, name, capability
    return None


# -- nvidia-smi ----------------------------------------------------------------------------------------


def _smi_value(text: str) -> str | None:
    text = text.strip()
    return None if not text or text.startswith("[") or text in ("N/A", "[N/A]") else text


def _query_nvidia_smi(run: RunFn) -> tuple[NvidiaSmi | None, str]:
    out, how = _command(run, ["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"])
    fields = 3
    if out is None and how != "`nvidia-smi` not found":
        # Older drivers do not know the compute_cap field: ask again without it.
        out2, how2 = _command(run, ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
        if out2 is not None:
            out, how, fields = out2, how2, 2
        else:
            how = f"{how}; {how2}"
    if out is None:
        return None, how
    gpus: list[Gpu] = []
    drivers: list[str] = []
    for line in out.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.rsplit(",", fields - 1)]
        if len(parts) != fields:
            continue
        cap = _smi_value(parts[2]) if fields == 3 else None
        gpus.append(Gpu(name=parts[0], compute_capability=cap))
        driver = _smi_value(parts[1])
        if driver and driver not in drivers:
            drivers.append(driver)
    if not gpus:
        return None, f"{how} listed no GPUs"
    return NvidiaSmi(driver=", ".join(drivers) or None, gpus=tuple(gpus)), how


def nvidia_smi(run: RunFn = subprocess.run) -> NvidiaSmi | None:
    """Driver version and GPUs from `nvidia-smi --query-gpu=…`; None when it is missing, fails or lists none."""
    return _query_nvidia_smi(run)[0]


# -- Detection -----------------------------------------------------------------------------------------


def _other_arch(arch: Arch) -> Arch:
    return Arch.ARM64 if arch is Arch.AMD64 else Arch.AMD64


def _read_arch(machine: str, sources: dict[str, str]) -> Arch | None:
    try:
        arch: Arch | None = Arch.native(machine)
        sources["arch"] = f"machine {machine!r}"
    except ValueError:
        arch = None
        sources["arch"] = f"machine {machine!r} is not an architecture the harness supports"
    return arch


def _read_jetson(root: Path, run: RunFn, sources: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """(L4T, JetPack, the Python that JetPack pairs with)."""
    l4t, sources["l4t"] = read_l4t(root / RELEASE_FILE, run)
    jetpack = jetpack_for(l4t)
    if l4t is None:
        sources["jetpack"] = "no L4T release"
    elif jetpack is None:
        sources["jetpack"] = f"L4T {l4t} is not a known JetPack release"
    else:
        sources["jetpack"] = f"L4T {l4t}"
    py = python_for_jetpack(jetpack)
    sources["python_for_jetpack"] = f"JetPack {jetpack}" if py else (
        f"no Python known for JetPack {jetpack}" if jetpack else "no JetPack")
    return l4t, jetpack, py


def _read_soc(root: Path, sources: dict[str, str]) -> tuple[list[str], tuple[str, str, str] | None]:
    """(the Tegra ids the device tree names, (SoC, its name, its compute capability) when known)."""
    compatible_path = root / COMPATIBLE_FILE
    try:
        compatible = compatible_path.read_bytes()
    except OSError as exc:
        sources["soc"] = f"no {compatible_path}" if isinstance(exc, FileNotFoundError) else (
            f"cannot read {compatible_path}: {exc.strerror or exc}")
        return [], None
    tegras = tegra_ids(compatible)
    found = soc_from_compatible(compatible)
    if found:
        sources["soc"] = str(compatible_path)
        sources["compute_capability"] = f"{found[0]} ({found[1]})"
    elif tegras:
        sources["soc"] = f"{compatible_path}: unknown Tegra SoC {tegras[0]!r}"
    else:
        sources["soc"] = f"{compatible_path} names no Tegra SoC"
    return tegras, found


def _read_kind(l4t: str | None, tegras: list[str], gpus: tuple[Gpu, ...], arch: Arch | None,
               sources: dict[str, str]) -> HostKind:
    if l4t is not None or tegras:
        sources["kind"] = "L4T release found" if l4t is not None else f"Tegra device tree ({tegras[0]})"
        return HostKind.JETSON
    if gpus and arch is Arch.AMD64:
        sources["kind"] = "amd64 and nvidia-smi lists GPUs"
        return HostKind.X86_NVIDIA
    if gpus and arch is Arch.ARM64:
        sources["kind"] = "arm64 without Tegra and nvidia-smi lists GPUs"
        return HostKind.SBSA_NVIDIA
    sources["kind"] = "no L4T, no Tegra device tree, no GPU from nvidia-smi"
    return HostKind.PLAIN


def _read_binfmt(root: Path, arch: Arch | None, read: bool, sources: dict[str, str]) -> dict[str, bool]:
    """Whether the other architecture runs here (QEMU binfmt)."""
    if not read:
        sources["binfmt"] = ("not read (a remote engine): an image of the other architecture is tried when a "
                             "cell needs it")
        return {}
    if arch is None:
        return {}
    other = _other_arch(arch)
    binfmt_dir = root / BINFMT_DIR
    sources["binfmt"] = str(binfmt_dir / f"qemu-{other.machine}")
    return {other.value: binfmt_registered(other, root=binfmt_dir, native=arch)}


def detect(
    *,
    root: Path = Path("/"),
    run: RunFn = subprocess.run,
    engine_info: dict[str, Any] | None = None,
    machine: str | None = None,
    no_engine: str = "no container engine answered",
    host_chosen: bool = False,
    read_binfmt: bool = True,
) -> HostFacts:
    """Everything this module can learn about the host, one reader per fact (each says in `sources`
    where its fact came from, or why it is missing). Files are read under `root`; commands go to `run`."""
    sources: dict[str, str] = {}
    machine = machine or platform.machine()
    arch = _read_arch(machine, sources)
    l4t, jetpack, py = _read_jetson(root, run, sources)
    tegras, soc = _read_soc(root, sources)
    cuda, sources["cuda"] = cuda_version(root / CUDA_ROOT, run)
    smi, sources["nvidia_smi"] = _query_nvidia_smi(run)
    gpus = smi.gpus if smi else ()
    capability = soc[2] if soc else None
    if capability is None:
        caps = [g.compute_capability for g in gpus if g.compute_capability]
        if caps:
            capability = caps[0]
            sources["compute_capability"] = f"nvidia-smi ({gpus[0].name})"
        else:
            sources.setdefault("compute_capability", "no known Tegra SoC and no nvidia-smi compute_cap")
    memory, sources["memory"] = read_memory(root / MEMINFO_FILE, engine_info)
    runtimes: tuple[str, ...] = ()
    if engine_info is None:
        sources["engine"] = no_engine  # why no engine: none answered, or the host backend was chosen
    else:
        runtimes = tuple(sorted((engine_info.get("Runtimes") or {}).keys()))
        sources["engine"] = "engine info (ServerVersion, Runtimes)"
    return HostFacts(
        arch=arch,
        machine=machine,
        kind=_read_kind(l4t, tegras, gpus, arch, sources),
        l4t=l4t,
        jetpack=jetpack,
        cuda=cuda.version if cuda else None,
        cuda_full=cuda.full if cuda else None,
        soc=soc[0] if soc else None,
        soc_name=soc[1] if soc else None,
        compute_capability=capability,
        python_for_jetpack=py,
        gpus=gpus,
        driver=smi.driver if smi else None,
        docker_runtimes=runtimes,
        nvidia_runtime="nvidia" in runtimes,
        binfmt=_read_binfmt(root, arch, read_binfmt, sources),
        engine_version=engine_info.get("ServerVersion") if engine_info is not None else None,
        has_engine=engine_info is not None,
        host_chosen=host_chosen,
        memory=memory,
        sources=sources,
    )


MEMINFO_FILE = "proc/meminfo"


def read_memory(path: Path, engine_info: dict[str, Any] | None) -> tuple[int | None, str]:
    """(bytes, where) of the memory of the machine that runs the cells: the engine's own word for it
    (a remote engine's machine, or Docker Desktop's VM, is not this one), else /proc/meminfo."""
    total = (engine_info or {}).get("MemTotal")
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        return total, "engine info (MemTotal)"
    try:
        text = path.read_text()
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    found = re.search(r"^MemTotal:\s+(\d+) kB", text, re.M)
    return (int(found.group(1)) * 1024, str(path)) if found else (None, f"no MemTotal in {path}")


# -- What the facts mean -------------------------------------------------------------------------------


def gpu_access(facts: HostFacts) -> GpuAccess:
    """How cells on this host get the GPU into their container."""
    if facts.kind is HostKind.JETSON:
        if facts.nvidia_runtime:
            # the release file is lent to cells only where it was read (a bind of a missing path would
            # make a folder in its place on the Jetson)
            has_file = str(facts.sources.get("l4t", "")).endswith(str(RELEASE_FILE))
            return GpuAccess(mode=GpuMode.NVIDIA_RUNTIME, runtime="nvidia",
                             mounts=("/etc/nv_tegra_release",) if has_file else ())
        return GpuAccess(mode=GpuMode.NONE,
                         problem="this Jetson's container engine has no `nvidia` runtime, so GPU cells can't pass "
                                 f"(CUDA is not visible inside containers); fix: {NVIDIA_RUNTIME_FIX}")
    if facts.kind in (HostKind.X86_NVIDIA, HostKind.SBSA_NVIDIA):
        return GpuAccess(mode=GpuMode.DEVICE_REQUEST)
    return GpuAccess(mode=GpuMode.NONE)


def _jetson_label(facts: HostFacts) -> str:
    return f"L4T {facts.l4t or 'unknown'} (JetPack {facts.jetpack or 'unknown'})"


def default_matrix(facts: HostFacts) -> tuple[str, str]:
    """(matrix file name, one-line reason) for a run that names no matrix."""
    major = facts.jetpack.split(".")[0] if facts.jetpack else None
    if facts.kind == "jetson":
        label = f"Jetson with {_jetson_label(facts)}"
        if major == "6":
            return "jetson-jp6.toml", label
        if major == "5":
            return "jetson-jp5.toml", label
        return "smoke.toml", f"{label}: no matrix for this JetPack, so the smoke matrix"
    if facts.kind == "x86-nvidia":
        names = ", ".join(sorted({g.name for g in facts.gpus})) or "an NVIDIA GPU"
        driver = f", driver {facts.driver}" if facts.driver else ""
        return "x86-cuda.toml", f"x86-64 host with {names}{driver}"
    if facts.kind == "sbsa-nvidia":
        return "smoke.toml", "arm64 server with an NVIDIA GPU: no SBSA matrix yet, so the smoke matrix"
    arch = facts.arch.value if facts.arch else facts.machine
    return "smoke.toml", f"{arch} host without an NVIDIA GPU: the smoke matrix (CPU only)"


def problems(facts: HostFacts) -> list[str]:
    """What this host lacks for which cells, each with its fix."""
    found: list[str] = []
    if not facts.has_engine and not facts.host_chosen:
        found.append(
            "no container engine answered: cells run on the host backend (no fresh container per cell, "
            "and images for another architecture can't run); fix: install Docker, start it "
            "(`sudo systemctl start docker`) and let this user reach it (the docker group)"
        )
    if facts.kind == "jetson":
        access = gpu_access(facts)
        if access.problem:
            found.append(access.problem)
        if facts.l4t is not None and facts.jetpack is None:
            found.append(
                f"L4T {facts.l4t} is not a JetPack release this harness knows, so no Jetson matrix is chosen "
                "(the smoke matrix runs instead); fix: name a matrix explicitly, or add the release to "
                "L4T_TO_JETPACK in harness/jetson.py"
            )
        if facts.jetpack and facts.jetpack.startswith("5.") and facts.cuda is None:
            found.append(
                "no CUDA toolkit under /usr/local/cuda: on JetPack 5 the nvidia runtime mounts the host's CUDA "
                "into containers, so GPU cells can't pass; fix: sudo apt-get install nvidia-jetpack"
            )
    for arch_name, ok in sorted(facts.binfmt.items()):
        if ok:
            continue
        other = Arch(arch_name)
        here = facts.arch.value if facts.arch else facts.machine
        found.append(
            f"no QEMU binfmt emulation for {other.value}: {other.value} cells can't run on this {here} host "
            f"(they are skipped); fix: apt-get install qemu-user-static binfmt-support, then "
            f"update-binfmts --enable qemu-{other.machine}"
        )
    return found


def render(facts: HostFacts, access: dict[str, Any] | None = None) -> str:
    """A readable multi-line summary for `wheel-harness doctor`; `access` is how the chosen backend
    gives cells the GPU (default: as containers on this host get it)."""
    s = facts.sources

    def missing(key: str) -> str:
        return f"unknown ({s[key]})" if key in s else "unknown"

    lines = [f"architecture : {facts.arch.value if facts.arch else 'unsupported'} (machine {facts.machine})"]
    lines.append(f"host kind    : {facts.kind}")
    if facts.l4t or facts.kind == "jetson":
        lines.append(f"L4T/JetPack  : {_jetson_label(facts)}")
    else:
        lines.append("L4T/JetPack  : not a Jetson")
    lines.append(f"CUDA         : {facts.cuda_full or facts.cuda if facts.cuda else missing('cuda')}")
    if facts.soc:
        lines.append(f"SoC          : {facts.soc} ({facts.soc_name}), compute capability {facts.compute_capability}")
    elif facts.kind == "jetson":
        lines.append(f"SoC          : {missing('soc')}")
    if facts.compute_capability and not facts.soc and not facts.gpus:
        lines.append(f"compute cap. : {facts.compute_capability} ({s.get('compute_capability', '')})")
    if facts.kind == "jetson":
        lines.append(f"Python (JP)  : {facts.python_for_jetpack or missing('python_for_jetpack')}")
    if facts.gpus:
        for gpu in facts.gpus:
            cap = f", compute capability {gpu.compute_capability}" if gpu.compute_capability else ""
            lines.append(f"GPU          : {gpu.name}{cap}")
        lines.append(f"driver       : {facts.driver or 'unknown'}")
    else:
        lines.append(f"GPUs         : none from nvidia-smi ({s.get('nvidia_smi', 'not asked')})")
    if facts.has_engine:
        runtimes = ", ".join(facts.docker_runtimes) or "none listed"
        lines.append(f"engine       : docker {facts.engine_version or '(version unknown)'}; runtimes: {runtimes}")
    else:
        lines.append(f"engine       : none ({s.get('engine', 'not asked')})")
    for arch_name, ok in sorted(facts.binfmt.items()):
        lines.append(f"emulation    : {arch_name} {'available (QEMU binfmt)' if ok else 'not available'}")
    access = gpu_access(facts) if access is None else access
    detail = f" (runtime {access.runtime})" if access.runtime else ""
    lines.append(f"GPU access   : {access.mode.value}{detail}")
    name, why = default_matrix(facts)
    lines.append(f"matrix       : {name} — {why}")
    found = problems(facts)
    if found:
        lines.append("problems:")
        lines.extend(f"  - {p}" for p in found)
    else:
        lines.append("problems     : none")
    return "\n".join(lines)
