"""Platform detection against fixture root trees built from real Jetson samples (tests/data/jetson)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness import jetson
from harness.backends import hostfacts
from harness.backends.hostfacts import (
    HostFacts,
    cuda_version,
    default_matrix,
    detect,
    gpu_access,
    l4t_from_package,
    nvidia_smi,
    parse_nv_tegra_release,
    problems,
    read_l4t,
    render,
    soc_from_compatible,
)
from harness.jetson import jetpack_for
from harness.model import Arch, GpuAccess, GpuMode

DATA = Path(__file__).parent / "data" / "jetson"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


class FakeRun:
    """Answers commands by their first words; anything else is "not found", as a missing binary is."""

    def __init__(self, answers: dict[str, tuple[int, str]] | None = None):
        self.answers = answers or {}
        self.calls: list[list[str]] = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        joined = " ".join([Path(cmd[0]).name, *cmd[1:]])  # a full path to nvcc answers as `nvcc`
        for prefix, (rc, out) in self.answers.items():
            if joined == prefix:
                return subprocess.CompletedProcess(cmd, rc, stdout=out if rc == 0 else "",
                                                   stderr="" if rc == 0 else out)
        raise FileNotFoundError(2, "No such file or directory", cmd[0])


SMI_QUERY = "nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader"
SMI_OLD_QUERY = "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader"
DPKG = "dpkg-query -W -f=${Version} nvidia-l4t-core"


def make_root(
    tmp_path: Path,
    *,
    release: str | None = None,
    compatible: str | None = None,
    cuda_json: str | None = None,
    cuda_txt: str | None = None,
    binfmt: dict[str, str] | None = None,
) -> Path:
    root = tmp_path / "root"
    root.mkdir(parents=True)
    if release:
        (root / "etc").mkdir()
        (root / "etc" / "nv_tegra_release").write_bytes(sample(release))
    if compatible:
        (root / "proc" / "device-tree").mkdir(parents=True)
        (root / "proc" / "device-tree" / "compatible").write_bytes(sample(compatible))
    cuda = root / "usr" / "local" / "cuda"
    if cuda_json:
        cuda.mkdir(parents=True, exist_ok=True)
        (cuda / "version.json").write_bytes(sample(cuda_json))
    if cuda_txt:
        cuda.mkdir(parents=True, exist_ok=True)
        (cuda / "version.txt").write_text(cuda_txt)
    binfmt_dir = root / "proc" / "sys" / "fs" / "binfmt_misc"
    binfmt_dir.mkdir(parents=True)
    for name, state in (binfmt or {}).items():
        (binfmt_dir / name).write_text(f"{state}\ninterpreter /usr/bin/qemu-aarch64-static\n")
    return root


DOCKER_WITH_NVIDIA = {"ServerVersion": "27.5.1", "Runtimes": {"runc": {"path": "runc"}, "nvidia": {"path": "x"}}}
DOCKER_PLAIN = {"ServerVersion": "27.5.1", "Runtimes": {"runc": {"path": "runc"}}}


# -- L4T and JetPack -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "l4t", "jetpack"),
    [
        ("nv_tegra_release.r32.7.1", "32.7.1", "4.6.1"),
        ("nv_tegra_release.r35.4.1", "35.4.1", "5.1.2"),
        ("nv_tegra_release.r36.4.3", "36.4.3", "6.2"),
        ("nv_tegra_release.r38.2.2", "38.2.2", "7.0"),
    ],
)
def test_real_release_files(name, l4t, jetpack):
    assert parse_nv_tegra_release(sample(name).decode()) == l4t
    assert jetpack_for(l4t) == jetpack


def test_r36_extra_lines_do_not_confuse_the_parser():
    text = sample("nv_tegra_release.r36.4.3").decode()
    assert len(text.splitlines()) > 1
    assert parse_nv_tegra_release(text) == "36.4.3"


def test_release_lines_from_the_brief():
    assert parse_nv_tegra_release(
        "# R35 (release), REVISION: 4.1, GCID: 1, BOARD: t186ref, EABI: aarch64, DATE: x\n") == "35.4.1"
    assert parse_nv_tegra_release("not a release file\n") is None
    assert parse_nv_tegra_release("") is None


def test_unknown_release_is_never_guessed(tmp_path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "nv_tegra_release").write_text(
        "# R99 (release), REVISION: 1.0, GCID: 1, BOARD: generic, EABI: aarch64, DATE: x\n")
    facts = detect(root=root, run=FakeRun(), engine_info=DOCKER_WITH_NVIDIA, machine="aarch64")
    assert facts.l4t == "99.1.0"
    assert facts.jetpack is None
    assert facts.kind == "jetson"
    assert "not a known JetPack release" in facts.sources["jetpack"]
    assert "JetPack unknown" in render(facts)
    assert any("99.1.0" in p and "not a JetPack release" in p for p in problems(facts))


@pytest.mark.parametrize(
    ("l4t", "jetpack"),
    [
        ("35.5.0", "5.1.3"), ("35.6.0", "5.1.4"), ("36.3.0", "6.0"), ("36.4.0", "6.1"), ("36.4.4", "6.2.1"),
        ("38.2.0", "7.0"), ("38.2.1", "7.0"), ("38.4.0", "7.1"),
        ("36.4.9", None), ("35.1.0", None), ("38.3.0", None), (None, None), ("", None),
    ],
)
def test_jetpack_table(l4t, jetpack):
    assert jetpack_for(l4t) == jetpack


def test_python_for_jetpack():
    assert jetson.PYTHON_FOR_JETPACK["5"] == "3.8"
    assert jetson.PYTHON_FOR_JETPACK["6"] == "3.10"
    assert jetson.PYTHON_FOR_JETPACK["7"] == "3.12"
    assert jetson.python_for_jetpack("6.2.1") == "3.10"
    assert jetson.python_for_jetpack(None) is None


def test_glibc_for_jetpack():
    assert jetson.glibc_for_jetpack("5.1.2") == "2.31"
    assert jetson.glibc_for_jetpack("6.2") == "2.35"
    assert jetson.glibc_for_jetpack("9.0") is None and jetson.glibc_for_jetpack(None) is None


def test_l4t_from_package():
    assert l4t_from_package("36.4.3-20250107174145") == "36.4.3"
    assert l4t_from_package("35.4.1-20230801124926\n") == "35.4.1"
    assert l4t_from_package("garbage") is None


def test_read_l4t_prefers_the_release_file(tmp_path):
    root = make_root(tmp_path, release="nv_tegra_release.r35.4.1")
    run = FakeRun({DPKG: (0, "36.4.3-20250107174145")})
    l4t, where = read_l4t(root / "etc" / "nv_tegra_release", run)
    assert l4t == "35.4.1"
    assert where.endswith("nv_tegra_release")
    assert run.calls == []


def test_read_l4t_falls_back_to_dpkg(tmp_path):
    run = FakeRun({DPKG: (0, "36.4.3-20250107174145")})
    l4t, where = read_l4t(tmp_path / "missing", run)
    assert l4t == "36.4.3"
    assert "nvidia-l4t-core" in where
    assert run.calls == [["dpkg-query", "-W", "-f=${Version}", "nvidia-l4t-core"]]


def test_read_l4t_missing_everywhere_says_why(tmp_path):
    l4t, why = read_l4t(tmp_path / "missing", FakeRun({DPKG: (1, "dpkg-query: no packages found matching x")}))
    assert l4t is None
    assert "no packages found" in why
    l4t, why = read_l4t(tmp_path / "missing", FakeRun())
    assert l4t is None
    assert "`dpkg-query` not found" in why


def test_dpkg_fallback_makes_a_jetson(tmp_path):
    root = make_root(tmp_path)
    facts = detect(root=root, run=FakeRun({DPKG: (0, "36.4.0-20240912212859")}), machine="aarch64")
    assert (facts.kind, facts.l4t, facts.jetpack, facts.python_for_jetpack) == ("jetson", "36.4.0", "6.1", "3.10")


# -- CUDA ----------------------------------------------------------------------------------------------


def test_cuda_from_version_json(tmp_path):
    root = make_root(tmp_path, cuda_json="cuda-version.12.6.json", cuda_txt="CUDA Version 10.2.300\n")
    cuda, where = cuda_version(root / "usr" / "local" / "cuda", FakeRun())
    assert (cuda.version, cuda.full) == ("12.6", "12.6.68")
    assert "version.json" in where


def test_cuda_from_version_txt(tmp_path):
    root = make_root(tmp_path, cuda_txt="CUDA Version 10.2.300\n")
    cuda, where = cuda_version(root / "usr" / "local" / "cuda", FakeRun())
    assert (cuda.version, cuda.full) == ("10.2", "10.2.300")
    assert "version.txt" in where


def test_cuda_from_nvcc(tmp_path):
    out = ("nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2024 NVIDIA Corporation\n"
           "Cuda compilation tools, release 12.6, V12.6.68\nBuild cuda_12.6.r12.6/compiler.34714021_0\n")
    cuda, where = cuda_version(tmp_path / "none", FakeRun({"nvcc --version": (0, out)}))
    assert (cuda.version, cuda.full) == ("12.6", "12.6.68")
    assert "nvcc" in where


def test_cuda_prefers_the_toolkits_own_nvcc(tmp_path):
    nvcc = tmp_path / "cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("")
    run = FakeRun({"nvcc --version": (0, "Cuda compilation tools, release 11.4, V11.4.315\n")})
    cuda, _ = cuda_version(tmp_path / "cuda", run)
    assert cuda.full == "11.4.315"
    assert run.calls == [[str(nvcc), "--version"]]


def test_cuda_missing_says_why(tmp_path):
    cuda, why = cuda_version(tmp_path / "none", FakeRun())
    assert cuda is None
    assert "version.json" in why and "version.txt" in why and "`nvcc` not found" in why


def test_cuda_broken_json_falls_through(tmp_path):
    (tmp_path / "version.json").write_text("{not json")
    (tmp_path / "version.txt").write_text("CUDA Version 11.4.315\n")
    cuda, _ = cuda_version(tmp_path, FakeRun())
    assert cuda.version == "11.4"


# -- SoC -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("device-tree-compatible.orin-nano", ("tegra234", "Orin", "8.7")),
        ("device-tree-compatible.xavier-nx", ("tegra194", "Xavier", "7.2")),
        ("device-tree-compatible.tx2", ("tegra186", "TX2", "6.2")),
    ],
)
def test_soc_from_real_compatible_strings(name, expected):
    assert soc_from_compatible(sample(name)) == expected


def test_soc_others():
    assert soc_from_compatible(b"nvidia,p3450-0000\0nvidia,tegra210\0") == ("tegra210", "TX1/Nano", "5.3")
    assert soc_from_compatible(b"nvidia,p3834-0008\0nvidia,tegra264\0") == ("tegra264", "Thor", "11.0")
    assert soc_from_compatible(b"raspberrypi,4-model-b\0brcm,bcm2711\0") is None
    assert soc_from_compatible(b"nvidia,tegra999\0") is None
    assert soc_from_compatible(b"") is None


def test_unknown_tegra_is_still_a_jetson(tmp_path):
    root = make_root(tmp_path)
    (root / "proc" / "device-tree").mkdir(parents=True)
    (root / "proc" / "device-tree" / "compatible").write_bytes(b"nvidia,p9999\0nvidia,tegra999\0")
    facts = detect(root=root, run=FakeRun(), machine="aarch64")
    assert facts.kind == "jetson"
    assert facts.soc is None
    assert "tegra999" in facts.sources["soc"]


# -- nvidia-smi ----------------------------------------------------------------------------------------


def test_nvidia_smi_parsing():
    run = FakeRun({SMI_QUERY: (0, "NVIDIA GeForce RTX 4090, 550.54.15, 8.9\nNVIDIA RTX A6000, 550.54.15, 8.6\n")})
    smi = nvidia_smi(run)
    assert smi.driver == "550.54.15"
    assert [(g.name, g.compute_capability) for g in smi.gpus] == [
        ("NVIDIA GeForce RTX 4090", "8.9"), ("NVIDIA RTX A6000", "8.6")]


def test_nvidia_smi_without_compute_cap_field_asks_again():
    run = FakeRun({
        SMI_QUERY: (2, 'Field "compute_cap" is not a valid field to query.'),
        SMI_OLD_QUERY: (0, "Tesla T4, 470.82.01\n"),
    })
    smi = nvidia_smi(run)
    assert smi.driver == "470.82.01"
    assert smi.gpus[0].name == "Tesla T4" and smi.gpus[0].compute_capability is None
    assert len(run.calls) == 2


def test_nvidia_smi_missing_or_failing_is_none():
    assert nvidia_smi(FakeRun()) is None
    failing = FakeRun({SMI_QUERY: (9, "NVIDIA-SMI has failed because it couldn't communicate with the driver"),
                       SMI_OLD_QUERY: (9, "NVIDIA-SMI has failed")})
    assert nvidia_smi(failing) is None
    assert nvidia_smi(FakeRun({SMI_QUERY: (0, "")})) is None


def test_nvidia_smi_not_applicable_values():
    smi = nvidia_smi(FakeRun({SMI_QUERY: (0, "Orin (nvgpu), 540.4.0, [N/A]\n")}))
    assert smi.gpus[0].name == "Orin (nvgpu)"
    assert smi.gpus[0].compute_capability is None


def test_run_that_times_out_is_a_missing_fact(tmp_path):
    def run(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout", 1))

    facts = detect(root=make_root(tmp_path), run=run, machine="x86_64")
    assert facts.kind == "plain"
    assert "timed out" in facts.sources["nvidia_smi"]


# -- Kinds ---------------------------------------------------------------------------------------------


def orin_jp6(tmp_path, engine_info=DOCKER_WITH_NVIDIA) -> HostFacts:
    root = make_root(tmp_path, release="nv_tegra_release.r36.4.3", compatible="device-tree-compatible.orin-nano",
                     cuda_json="cuda-version.12.6.json")
    return detect(root=root, run=FakeRun(), engine_info=engine_info, machine="aarch64")


def xavier_jp5(tmp_path, engine_info=DOCKER_WITH_NVIDIA) -> HostFacts:
    root = make_root(tmp_path, release="nv_tegra_release.r35.4.1", compatible="device-tree-compatible.xavier-nx",
                     cuda_txt="CUDA Version 11.4.315\n")
    return detect(root=root, run=FakeRun(), engine_info=engine_info, machine="aarch64")


def x86_gpu(tmp_path, binfmt=None) -> HostFacts:
    root = make_root(tmp_path, binfmt=binfmt)
    run = FakeRun({SMI_QUERY: (0, "NVIDIA GeForce RTX 4090, 550.54.15, 8.9\n")})
    return detect(root=root, run=run, engine_info=DOCKER_WITH_NVIDIA, machine="x86_64")


def plain_x86(tmp_path, binfmt=None, engine_info=DOCKER_PLAIN) -> HostFacts:
    return detect(root=make_root(tmp_path, binfmt=binfmt), run=FakeRun(), engine_info=engine_info, machine="x86_64")


def test_jetson_orin(tmp_path):
    facts = orin_jp6(tmp_path)
    assert facts.arch is Arch.ARM64
    assert facts.kind == "jetson"
    assert (facts.l4t, facts.jetpack, facts.python_for_jetpack) == ("36.4.3", "6.2", "3.10")
    assert (facts.cuda, facts.cuda_full) == ("12.6", "12.6.68")
    assert (facts.soc, facts.soc_name, facts.compute_capability) == ("tegra234", "Orin", "8.7")
    assert facts.nvidia_runtime is True
    assert facts.docker_runtimes == ("nvidia", "runc")
    assert facts.engine_version == "27.5.1"
    assert facts.binfmt == {"amd64": False}
    assert json.loads(json.dumps(facts.to_json())) == facts.to_json()
    assert facts.to_json()["arch"] == "arm64"


def test_jetson_from_device_tree_alone(tmp_path):
    root = make_root(tmp_path, compatible="device-tree-compatible.tx2")
    facts = detect(root=root, run=FakeRun(), machine="aarch64")
    assert facts.kind == "jetson"
    assert facts.l4t is None and facts.jetpack is None
    assert (facts.soc_name, facts.compute_capability) == ("TX2", "6.2")


def test_x86_nvidia(tmp_path):
    facts = x86_gpu(tmp_path)
    assert facts.kind == "x86-nvidia"
    assert facts.arch is Arch.AMD64
    assert facts.driver == "550.54.15"
    assert facts.compute_capability == "8.9"
    assert facts.gpus[0].name == "NVIDIA GeForce RTX 4090"


def test_sbsa_nvidia(tmp_path):
    run = FakeRun({SMI_QUERY: (0, "NVIDIA GH200 480GB, 560.35.03, 9.0\n")})
    facts = detect(root=make_root(tmp_path), run=run, engine_info=DOCKER_WITH_NVIDIA, machine="aarch64")
    assert facts.kind == "sbsa-nvidia"
    assert gpu_access(facts) == GpuAccess(mode=GpuMode.DEVICE_REQUEST)
    assert default_matrix(facts)[0] == "smoke.toml"


def test_plain(tmp_path):
    facts = plain_x86(tmp_path, binfmt={"qemu-aarch64": "enabled"})
    assert facts.kind == "plain"
    assert facts.gpus == () and facts.driver is None and facts.cuda is None
    assert facts.binfmt == {"arm64": True}
    assert "nvidia-smi" in facts.sources["nvidia_smi"]
    assert facts.sources["l4t"]


# -- What the facts mean -------------------------------------------------------------------------------


def test_gpu_access_per_kind(tmp_path):
    assert gpu_access(orin_jp6(tmp_path / "a")) == GpuAccess(mode=GpuMode.NVIDIA_RUNTIME, runtime="nvidia",
                                                             mounts=("/etc/nv_tegra_release",))
    assert gpu_access(x86_gpu(tmp_path / "b")) == GpuAccess(mode=GpuMode.DEVICE_REQUEST)
    assert gpu_access(plain_x86(tmp_path / "c")) == GpuAccess(mode=GpuMode.NONE)
    assert gpu_access(orin_jp6(tmp_path / "d")).to_json() == {
        "mode": "nvidia-runtime", "runtime": "nvidia", "mounts": ["/etc/nv_tegra_release"], "problem": None}


def test_gpu_access_jetson_without_nvidia_runtime(tmp_path):
    access = gpu_access(orin_jp6(tmp_path, engine_info=DOCKER_PLAIN))
    assert access.mode is GpuMode.NONE
    assert "GPU cells can't pass" in access.problem
    assert "nvidia-container-toolkit" in access.problem
    assert "nvidia-ctk runtime configure --runtime=docker" in access.problem
    assert "restart docker" in access.problem


@pytest.mark.parametrize(
    ("build", "matrix", "why_has"),
    [
        (orin_jp6, "jetson-jp6.toml", "Jetson with L4T 36.4.3 (JetPack 6.2)"),
        (xavier_jp5, "jetson-jp5.toml", "Jetson with L4T 35.4.1 (JetPack 5.1.2)"),
        (x86_gpu, "x86-cuda.toml", "NVIDIA GeForce RTX 4090"),
        (plain_x86, "smoke.toml", "without an NVIDIA GPU"),
    ],
)
def test_default_matrix_per_kind(tmp_path, build, matrix, why_has):
    name, why = default_matrix(build(tmp_path))
    assert name == matrix
    assert why_has in why
    assert "\n" not in why


@pytest.mark.parametrize("release", ["nv_tegra_release.r32.7.1", "nv_tegra_release.r38.2.2", None])
def test_default_matrix_other_jetpack_is_smoke(tmp_path, release):
    root = make_root(tmp_path, release=release, compatible="device-tree-compatible.orin-nano")
    facts = detect(root=root, run=FakeRun(), engine_info=DOCKER_WITH_NVIDIA, machine="aarch64")
    assert facts.kind == "jetson"
    name, why = default_matrix(facts)
    assert name == "smoke.toml"
    assert why.startswith("Jetson with L4T")


def test_problems_missing_binfmt(tmp_path):
    facts = plain_x86(tmp_path, binfmt={"qemu-aarch64": "disabled"})
    assert facts.binfmt == {"arm64": False}
    (found,) = problems(facts)
    assert "arm64 cells can't run" in found
    assert "apt-get install qemu-user-static binfmt-support" in found
    assert "update-binfmts --enable qemu-aarch64" in found


def test_problems_missing_binfmt_on_arm(tmp_path):
    found = problems(orin_jp6(tmp_path))
    assert len(found) == 1
    assert "amd64 cells can't run" in found[0] and "qemu-x86_64" in found[0]


def test_problems_missing_runtime(tmp_path):
    root = make_root(tmp_path, release="nv_tegra_release.r36.4.3", compatible="device-tree-compatible.orin-nano",
                     binfmt={"qemu-x86_64": "enabled"})
    facts = detect(root=root, run=FakeRun(), engine_info=DOCKER_PLAIN, machine="aarch64")
    (found,) = problems(facts)
    assert "GPU cells can't pass" in found and "nvidia-ctk" in found


def test_problems_no_engine(tmp_path):
    facts = plain_x86(tmp_path, binfmt={"qemu-aarch64": "enabled"}, engine_info=None)
    assert facts.has_engine is False
    (found,) = problems(facts)
    assert "host backend" in found


def test_problems_none(tmp_path):
    assert problems(x86_gpu(tmp_path, binfmt={"qemu-aarch64": "enabled"})) == []


def test_problems_jp5_without_cuda(tmp_path):
    root = make_root(tmp_path, release="nv_tegra_release.r35.4.1", binfmt={"qemu-x86_64": "enabled"})
    facts = detect(root=root, run=FakeRun(), engine_info=DOCKER_WITH_NVIDIA, machine="aarch64")
    (found,) = problems(facts)
    assert "/usr/local/cuda" in found and "nvidia-jetpack" in found


def test_render_jetson(tmp_path):
    text = render(orin_jp6(tmp_path, engine_info=DOCKER_PLAIN))
    for part in ("arm64", "jetson", "L4T 36.4.3 (JetPack 6.2)", "12.6.68", "tegra234 (Orin)", "8.7", "3.10",
                 "27.5.1", "runc", "amd64 not available", "GPU access   : none", "jetson-jp6.toml",
                 "problems:", "nvidia-ctk", "qemu-user-static"):
        assert part in text, part


def test_render_x86(tmp_path):
    text = render(x86_gpu(tmp_path))
    for part in ("amd64", "x86-nvidia", "not a Jetson", "NVIDIA GeForce RTX 4090", "550.54.15", "device-request",
                 "x86-cuda.toml"):
        assert part in text, part


def test_unsupported_machine_does_not_raise(tmp_path):
    facts = detect(root=make_root(tmp_path), run=FakeRun(), machine="riscv64")
    assert facts.arch is None and facts.kind == "plain" and facts.binfmt == {}
    assert "riscv64" in render(facts)


def test_detect_on_this_machine():
    facts = detect()
    assert isinstance(facts, HostFacts)
    assert facts.arch in (Arch.AMD64, Arch.ARM64)
    assert facts.kind in hostfacts.KINDS
    assert json.loads(json.dumps(facts.to_json())) == facts.to_json()  # JSON as it stands, no loss
    assert render(facts).splitlines()[:2] == [f"architecture : {facts.arch.value} (machine {facts.machine})",
                                              f"host kind    : {facts.kind}"]


def test_the_memory_is_the_engines_word_else_this_machines_meminfo(tmp_path):
    here = detect(run=FakeRun(), read_binfmt=False)
    assert here.memory == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # the kernel's MemTotal
    assert here.sources["memory"] == "/proc/meminfo"
    # a remote engine (or Docker Desktop's VM) is another machine: its own word counts
    engine = detect(root=tmp_path, run=FakeRun(), engine_info={"MemTotal": 8 << 30}, read_binfmt=False)
    assert (engine.memory, engine.sources["memory"]) == (8 << 30, "engine info (MemTotal)")
    unknown = detect(root=tmp_path, run=FakeRun(), read_binfmt=False)
    assert unknown.memory is None and unknown.sources["memory"].startswith(f"cannot read {tmp_path}/proc/meminfo")
    assert unknown.to_json()["memory"] is None and engine.to_json()["memory"] == 8 << 30
