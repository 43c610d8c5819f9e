"""The data model: frozen dataclasses for what a matrix declares and what a cell measured.

Nothing here talks to Docker, the network or the disk; everything here is cheap to build in tests.
"""

from __future__ import annotations

import enum
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SCHEMA_VERSION = 2  # 2: `outcome` became `verdict`, with `evidence` and `hint`


class Arch(enum.Enum):
    AMD64 = "amd64"
    ARM64 = "arm64"

    @property
    def platform(self) -> str:
        return f"linux/{self.value}"

    @property
    def machine(self) -> str:
        """The name `uname -m` prints for this architecture."""
        return {"amd64": "x86_64", "arm64": "aarch64"}[self.value]

    @classmethod
    def from_platform(cls, text: str) -> Arch:
        os_name, _, arch = text.partition("/")
        if os_name != "linux":
            raise ValueError(f"only linux platforms are supported, not {text!r}")
        return cls(arch)

    @classmethod
    def native(cls, machine: str | None = None) -> Arch:
        machine = (machine or platform.machine()).lower()
        if machine in ("x86_64", "amd64"):
            return cls.AMD64
        if machine in ("aarch64", "arm64"):
            return cls.ARM64
        raise ValueError(f"unsupported host architecture {machine!r}")


class Word(str, enum.Enum):
    """A vocabulary whose members are their words: equal to, written and serialised as their value."""

    def __str__(self) -> str:
        return self.value


class HostKind(Word):
    """What kind of machine runs the cells (harness.backends.hostfacts.detect says which)."""

    JETSON = "jetson"
    X86_NVIDIA = "x86-nvidia"
    SBSA_NVIDIA = "sbsa-nvidia"
    PLAIN = "plain"


class GpuMode(Word):
    """How a cell gets the GPU."""

    NONE = "none"  # it gets none
    NVIDIA_RUNTIME = "nvidia-runtime"  # Jetson: the engine's nvidia runtime (its hook refuses device requests)
    DEVICE_REQUEST = "device-request"  # x86 and SBSA with NVIDIA: a GPU device request
    HOST = "host"  # the host backend: a venv sees whatever GPU the machine has


@dataclass(frozen=True, kw_only=True)
class GpuAccess:
    """How cells on a machine get the GPU, the engine-side files that goes with (a Jetson's release
    file), and why a GPU cell cannot pass there, where it cannot."""

    mode: GpuMode
    runtime: str | None = None
    mounts: tuple[str, ...] = ()  # paths on the engine's machine lent read-only to every cell
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "runtime": self.runtime, "mounts": list(self.mounts), "problem": self.problem}


@dataclass(frozen=True, kw_only=True)
class Image:
    """A base image: a reference the engine already has or can pull, or a Dockerfile to build."""

    name: str
    arch: Arch
    ref: str | None = None
    dockerfile: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    ships_torch: bool = False
    python: str = "python3"
    local_build: str | None = None  # a recipe the harness builds itself ("debian-bookworm")
    jetpack: str | None = None  # the JetPack release the image targets ("6.2"), for index URL templates
    cuda: str | None = None  # the CUDA version the image targets ("12.6"), for index URL templates
    python_version: str | None = None  # the image's Python ("3.10"), for `plan`
    glibc: str | None = None  # the image's glibc ("2.35"), for `plan`'s manylinux level
    # A Dockerfile image's build: host folders put into its build context under these names (a wheelhouse)
    build_folders: tuple[tuple[str, str], ...] = ()
    # A file of the build context (relative to the recipe's folder) the recipe copies in after its
    # dependency layers: the cached build is measured after a change to it
    source_file: str | None = None

    @property
    def recipe(self) -> Recipe | None:
        return LOCAL_RECIPES.get(self.local_build) if self.local_build else None

    @property
    def tag(self) -> str:
        """The reference cells run on (a built Dockerfile gets a harness-owned tag)."""
        if self.ref:
            return self.ref
        if self.local_build:
            return local_image_ref(self.local_build, self.arch)
        return f"{IMAGE_PREFIX}/{self.name}:latest"


IMAGE_PREFIX = "edge-wheel-harness"


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """An image the harness makes itself: mmdebstrap puts a suite, a variant and packages into it."""

    suite: str
    variant: str = "apt"
    packages: tuple[str, ...] = ()
    python_version: str | None = None  # what the suite's python3 is (for `plan`)
    glibc: str | None = None  # the suite's glibc (the manylinux level `plan` resolves for)


LOCAL_RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        "debian-bookworm": Recipe(
            suite="bookworm",
            variant="apt",
            packages=("python3-venv", "python3-pip", "ca-certificates"),
            python_version="3.11",
            glibc="2.36",
        ),
        # The oldest Python a local image gives here (3.9): the in-cell code's run below 3.11 (tests only).
        "debian-bullseye": Recipe(
            suite="bullseye",
            variant="apt",
            packages=("python3-venv", "python3-pip", "ca-certificates"),
            python_version="3.9",
            glibc="2.31",
        ),
    }
)


def local_image_ref(recipe: str, arch: Arch) -> str:
    """The tag of an image the harness builds itself: `edge-wheel-harness/debian-bookworm:amd64`."""
    return f"{IMAGE_PREFIX}/{recipe}:{arch.value}"


@dataclass(frozen=True, kw_only=True)
class IndexVariant:
    """Where pip looks for packages. No URL at all means pip's default index."""

    name: str
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()  # host directories (mounted read-only into the cell)
    no_index: bool = False
    prefetch: tuple[str, ...] = ()  # requirements the host downloads into the first wheelhouse
    pip_args: tuple[str, ...] = ()
    serve: tuple[str, ...] = ()  # host directories the harness serves as PEP 503 indexes during the run
    only_binary: bool = False  # refuse source builds (pip --only-binary :all:): name what would be compiled
    # (URL as filled for the cell's image, the template it was filled from): set by templates.fill
    filled_from: tuple[tuple[str, str], ...] = ()

    @property
    def is_default(self) -> bool:
        return not (self.index_url or self.extra_index_urls or self.find_links or self.no_index or self.serve)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(u for u in (self.index_url, *self.extra_index_urls) if u)

    def template_of(self, url: str) -> str | None:
        """The template `url` was filled from, or None for a URL written as it is."""
        return dict(self.filled_from).get(url)

    @property
    def refuses_source(self) -> bool:
        """Source builds are refused: `only_binary`, or pip's own --only-binary among pip_args."""
        return self.only_binary or any(a.startswith("--only-binary") for a in self.pip_args)

    @property
    def wheelhouse(self) -> str | None:
        """The folder `prefetch` fills: the first served folder, else the first find-links folder."""
        return (self.serve or self.find_links or (None,))[0]


DEFAULT_CHECK_TIMEOUT = 300.0  # seconds one check may take (within what is left of the cell's timeout)


@dataclass(frozen=True, kw_only=True)
class LockRef:
    """A lock a package set replays (`lock = "locks/pylock.x.toml"`): the files it names, from a wheelhouse,
    with no network; the verdict the locked cell had is the one the replay must get."""

    path: str  # the pylock.toml, as the matrix names it (relative to the matrix file)
    wheelhouse: str  # the host folder holding the locked files
    verdict: str = "pass"  # the locked cell's verdict
    cell: str | None = None  # the locked cell's id


@dataclass(frozen=True, kw_only=True)
class PackageSet:
    name: str
    requirements: tuple[str, ...]
    modules: tuple[str, ...]
    made_by: str | None = None  # "bisect" or "solve" for a set a search made (a step), None for a declared one
    constraints: tuple[str, ...] = ()  # PEP 508 constraints (a requirements file's -c)
    # (normalised name, ("sha256:…", …)): the hashes a requirement must match (--hash, or a lock's)
    hashes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    index: IndexVariant | None = None  # index options the set itself brings (a requirements file's, a lock's)
    source: str | None = None  # the requirements file or lock the set was read from, as the matrix names it
    lock: LockRef | None = None

    def hashes_of(self, name: str) -> tuple[str, ...]:
        wanted = re.sub(r"[-_.]+", "-", name).lower()
        return next((h for n, h in self.hashes if n == wanted), ())
    # What runs after the imports: built-in checks by name ("torch", "torchao", …) and the user's own files
    # (absolute paths, a pytest node id after "::"); () is import-only. The matrix reader fills the default
    # (harness.checks.default_checks): the built-in checks of the packages the set installs.
    checks: tuple[str, ...] = ()
    check_requires: tuple[str, ...] = ()  # what the user's checks need beside their PEP 723 metadata
    check_timeout: float = DEFAULT_CHECK_TIMEOUT


@dataclass(frozen=True, kw_only=True)
class CudaExpectation:
    """What a GPU cell should see: torch's build, its CUDA version, the device's compute capability."""

    torch_build: str | None = None  # "cuda" or "cpu"
    version: str | None = None  # "12.6": torch.version.cuda must start with it
    capability: str | None = None  # "8.7"

    def to_json(self) -> dict[str, str | None]:
        return {"torch_build": self.torch_build, "version": self.version, "capability": self.capability}


@dataclass(frozen=True, kw_only=True)
class Retry:
    """How often a cell's install is tried while an index does not answer, and the first wait."""

    attempts: int = 3
    backoff: float = 10.0  # seconds before the second attempt, doubled for each one after


@dataclass(frozen=True, kw_only=True)
class Cell:
    image: Image
    index: IndexVariant
    packages: PackageSet
    timeout: float = 1800.0
    expect: str = "pass"  # the verdict this cell is known to have (a documented known-bad combination)
    expect_why: str | None = None
    cuda: CudaExpectation | None = None
    retry: Retry = Retry()
    installer: str = "pip"  # "pip", or "uv" (uv's own `uv pip install` with the same options)
    memory: int | None = None  # bytes the cell may use (no swap); None: the run's default
    processes: int | None = None  # processes and threads the cell may have at once; None: the run's default
    approach: str | None = None  # a human name for the cell ("Jetson wheels"), unique in its matrix
    build_jobs: int | None = None  # a source build's parallel jobs; None: the driver's rule from the memory limit

    @property
    def id(self) -> str:
        return cell_id(self.image.name, self.index.name, self.packages.name, self.installer)

    def to_json(self) -> dict[str, Any]:
        """The cell as declared: the one serialisation of a cell (results record it with credentials
        masked and paths shortened, see run.record.describe)."""
        idx = self.index
        return {
            "id": self.id,
            "image": {"name": self.image.name, "ref": self.image.tag, "platform": self.image.arch.platform,
                      "ships_torch": self.image.ships_torch},
            "index": {"name": idx.name, "default": idx.is_default, "index_url": idx.index_url,
                      "extra_index_urls": list(idx.extra_index_urls), "find_links": list(idx.find_links),
                      "serve": list(idx.serve), "no_index": idx.no_index, "only_binary": idx.only_binary},
            "installer": self.installer,
            "packages": {"name": self.packages.name, "requirements": list(self.packages.requirements),
                         "modules": list(self.packages.modules),
                         **({"made_by": self.packages.made_by} if self.packages.made_by else {}),
                         **({"constraints": list(self.packages.constraints)} if self.packages.constraints else {}),
                         **({"hashes": {n: list(h) for n, h in self.packages.hashes}} if self.packages.hashes else {}),
                         **({"source": self.packages.source} if self.packages.source else {}),
                         **({"lock": {"path": self.packages.lock.path, "cell": self.packages.lock.cell,
                                      "verdict": self.packages.lock.verdict}} if self.packages.lock else {}),
                         **({"checks": list(self.packages.checks), "check_requires": list(self.packages.check_requires),
                             "check_timeout": self.packages.check_timeout} if self.packages.checks else {})},
            "timeout": self.timeout,
            "memory": self.memory,
            "processes": self.processes,
            "expect": self.expect,
            "expect_why": self.expect_why,
            "expect_cuda": self.cuda.to_json() if self.cuda else None,
            "approach": self.approach,
            **({"build_jobs": self.build_jobs} if self.build_jobs else {}),
        }


INSTALLERS = ("pip", "uv")


def cell_id(image: str, index: str, packages: str, installer: str = "pip") -> str:
    """`image__index__packages`, with `__uv` for cells that install with uv (pip cells keep their ids)."""
    return f"{image}__{index}__{packages}" + ("" if installer == "pip" else f"__{installer}")


# A name of the matrix (the matrix, an image, an index variant, a package set) becomes part of a file
# name: the results folder is results/<matrix>, a cell's files are <cell-id>.json and .log. So a name
# is lower-case letters, digits, '.', '_' and '-', begins with a letter or digit (never '.', so never
# '..' or a hidden file), has no '/' and no NUL, and is short enough for a file name (\Z, not $: '$'
# would let a trailing newline through).
NAME_MAX = 100
NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,%d}\Z" % (NAME_MAX - 1))
NAME_RULE = f"lower-case letters, digits, '.', '_' or '-', beginning with a letter or digit, at most {NAME_MAX} long"
CELL_ID_MAX = 200  # with `.json`, `@<host>` (merge) and the history's folders, still inside 255 bytes
# What may stand as one file or folder name in a results folder, from a record read back (a run id, a
# cell id, a matrix name in a result another machine wrote): no separator, no '..', no NUL, not too long.
SAFE_FILE_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@+-]{0,%d}\Z" % (CELL_ID_MAX - 1))


def is_safe_file_name(text: object) -> bool:
    """Whether `text` may be used as one file or folder name inside a results folder as it stands."""
    return isinstance(text, str) and bool(SAFE_FILE_NAME_RE.match(text))


@dataclass(frozen=True, kw_only=True)
class TableColumn:
    """One column of a declared table: which value it shows (a key of TABLE_COLUMNS) under which header."""

    value: str
    header: str


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """A table a matrix declares (`[tables.NAME]`): which cells, in which order, with which columns."""

    name: str
    columns: tuple[TableColumn, ...]
    cells: tuple[str, ...] = ()  # approach names or cell-id patterns, in row order; () means every cell
    title: str | None = None  # the heading when the table is added to a document that lacks its markers
    # rows for approaches no cell of the matrix runs: (approach name, why it is not run here)
    elsewhere: tuple[tuple[str, str], ...] = ()


# The values a declared table can show: name → (default header, what it shows). harness.reports.columns renders
# each; the docs' matrix reference lists them from here.
TABLE_COLUMNS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "approach": ("Approach", "the cell's approach name, else its id"),
    "cell": ("Cell", "the cell id"),
    "image": ("Image", "the image name and its platform"),
    "index": ("Index", "the index variant"),
    "packages": ("Packages", "the package set"),
    "installer": ("Installer", "pip or uv"),
    "build": ("Build Time", "the image's build over the stored runs: seconds with no layer cache (`cold`, when the "
                            "image was not there) and from BuildKit's warm cache (`cached`: after a change to the "
                            "recipe's `source_file`, or rebuilt unchanged when it names none), a range where measured "
                            "more than once; `image present` when no run built it, `no image` when it could not be "
                            "made (or on the host backend)"),
    "size": ("Image size", "the final image's size, as the engine reports it (its layers' sizes are in the result)"),
    "install": ("Install", "seconds the install took, and how much it downloaded"),
    "run": ("Run Time", "start plus install plus imports and checks: the container's start, the install phase (with "
                        "uv's bootstrap or a pip upgrade; none on an image that holds every requirement), the probe "
                        "(every import, the CUDA checks and the built-in checks) and the user's checks (their "
                        "install too); the cell's venv is not counted"),
    "imports": ("Imports", "imports alone: the probe's seconds (every import, the CUDA checks and the built-in "
                           "checks)"),
    "total": ("Total", "the cell's whole time, image included"),
    "downloaded": ("Downloaded", "bytes the install fetched over the network"),
    "versions": ("Versions", "torch / torchao / torchtune (and what the cell names) as installed"),
    "cuda": ("CUDA", "what torch says of CUDA and the GPU"),
    "verdict": ("Verdict", "the cell's verdict"),
    "checks": ("Checks", "the checks that passed of those that applied (`3/3`), and which failed"),
    "expected": ("Expected", "`yes`, or `no (expected X)` when the verdict is not the one the cell expects"),
    "evidence": ("Evidence", "the first line of evidence"),
    "hint": ("Hint", "what to do about it"),
    "notes": ("Notes", "the result's notes: a known-bad cell's reason, source builds, retries"),
    "summary": ("Summary", "the verdict in a few words: the verdict, whether expected, and the hint (or the first "
                         "line of evidence)"),
    "plan": ("Plan", "`agrees`, or where uv's prediction and the run differ"),
})


@dataclass(frozen=True, kw_only=True)
class Matrix:
    name: str
    source: str
    images: tuple[Image, ...]
    indexes: tuple[IndexVariant, ...]
    package_sets: tuple[PackageSet, ...]
    cells: tuple[Cell, ...]
    timeout: float = 1800.0
    tables: tuple[TableSpec, ...] = ()  # tables the matrix declares, beside the standard one


# What `plan` can predict about an install (harness.plan.prediction): uv's resolution for the cell's target.
PLAN_OUTCOMES = ("installs", "source-build", "no-distribution", "conflict", "index-unreachable", "unknown")
_INSTALLED = ("installs", "source-build")  # the install went through (from wheels, or compiling)
_INFRASTRUCTURE = "infrastructure"  # a verdict that says this run could not judge the combination
_JUDGES_INSTALL = "judges-install"  # says the install failed, though no outcome of `plan` agrees with it


class Verdict(str, enum.Enum):
    """How a cell ended: exactly one per cell, each with a meaning and a hint (see verdicts.HINTS).

    Each verdict also says what it means for `plan`: the predicted outcomes it agrees with (a
    verdict reached after the install went through agrees with "installs"), and whether it says
    anything about the install at all (a timeout or a skipped cell does not, so it is not compared).
    A new verdict is declared here, with both, and classified in harness.verdicts.
    """

    def __new__(cls, value: str, agrees: tuple[str, ...] = (), kind: str = "") -> Verdict:
        member = str.__new__(cls, value)
        member._value_ = value
        member.plan_agrees = frozenset(agrees)
        member.judges_install = bool(agrees) or kind == _JUDGES_INSTALL
        member.is_infrastructure = kind == _INFRASTRUCTURE  # an outage or a limit of this machine, not a finding
        return member

    PASS = "pass", _INSTALLED
    DEGRADED = "degraded", _INSTALLED  # everything imported, but a message says function was lost
    CHECK_FAILED = "check-failed", _INSTALLED  # everything imported, but a check (built-in or the user's) failed
    NO_CUDA = "no-cuda", _INSTALLED  # imports fine, but CUDA is unavailable where the cell expects it
    # CUDA there, but not the expected version/capability, or no kernels for the GPU
    CUDA_MISMATCH = "cuda-mismatch", ("installs",)
    TORCH_REPLACED = "torch-replaced", ("installs",)  # the install replaced the torch the image shipped
    IMPORT_FAILED = "import-failed", _INSTALLED
    CRASHED = "crashed", _INSTALLED  # the interpreter died (a signal, an abort) rather than raising
    NO_DISTRIBUTION = "no-distribution", ("no-distribution",)  # no version/wheel for this platform and Python
    CONFLICT = "conflict", ("conflict",)  # the resolver could not satisfy the pins
    SOURCE_BUILD_FAILED = "source-build-failed", ("source-build",)
    INSTALL_FAILED = "install-failed", (), _JUDGES_INSTALL  # the install failed; none of the above explains it
    # a file did not match the hash its requirement (a lock) names: a finding, never installed anyway
    HASH_MISMATCH = "hash-mismatch", (), _JUDGES_INSTALL
    VENV_FAILED = "venv-failed"
    # the index did not answer (after bounded retries)
    INDEX_UNREACHABLE = "index-unreachable", ("index-unreachable",), _INFRASTRUCTURE
    TIMEOUT = "timeout", (), _INFRASTRUCTURE
    ENGINE_ERROR = "engine-error", (), _INFRASTRUCTURE
    IMAGE_UNAVAILABLE = "image-unavailable", (), _INFRASTRUCTURE
    INTERRUPTED = "interrupted", (), _INFRASTRUCTURE  # the run was stopped (Ctrl-C, SIGTERM)
    SKIPPED = "skipped"  # cannot run on this host at all (e.g. a foreign architecture without emulation)

    def agrees_with(self, outcome: str | None) -> bool | None:
        """Whether a prediction's outcome agrees with this verdict; None when they cannot be compared
        (this verdict says nothing about the install, or uv could not predict it)."""
        if not self.judges_install or outcome in (None, "unknown"):
            return None
        return outcome in self.plan_agrees


INFRASTRUCTURE = frozenset(v for v in Verdict if v.is_infrastructure)
INFRASTRUCTURE_VALUES = frozenset(v.value for v in INFRASTRUCTURE)  # as records write them


@dataclass(frozen=True, kw_only=True)
class CellResult:
    """Everything one cell measured; `to_json()` is the schema-versioned record on disk, the one
    serialisation of a result (harness.results.store writes and reads it)."""

    matrix: str
    cell_id: str
    run_id: str
    backend: str
    verdict: Verdict
    started_at: str
    finished_at: str
    cell: dict[str, Any]  # the cell as declared (Cell.to_json(), credentials masked)
    timings: dict[str, Any]
    probe: dict[str, Any]
    host: dict[str, Any]
    notes: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # the log lines that prove the verdict, as written
    hint: str | None = None  # one line: what to do about it
    phases: tuple[dict[str, Any], ...] = ()
    log: str | None = None
    expected: bool = True  # the verdict is the one the cell expects (a skipped cell counts as expected)
    exit_code: int | None = None  # the cell driver's exit status; None when it never ended on its own
    install: dict[str, Any] | None = None  # what the installer installed: versions, wheel or source, sizes
    torch_guard: dict[str, Any] = field(default_factory=dict)  # the image's torch "before"/"after" the install
    prediction: dict[str, Any] | None = None  # `plan`'s prediction for the cell, made before it ran
    cache: dict[str, Any] | None = None  # the result cache's key {"key", "parts"}, or {"why"} it has none
    reused: dict[str, Any] | None = None  # set when a later run reused this record: {"by_run", "at", "why"}
    caches: dict[str, Any] | None = None  # the download caches: shared or cold, warm or cold, what was reused
    cause: dict[str, Any] | None = None  # the cause the hint names, as data: {"kind": …, facts} (verdicts.Cause)
    ledger: dict[str, Any] | None = None  # what each source offered: {"run_id", "projects", "sources": [refs]}
    build: dict[str, Any] | None = None  # the parallel jobs the driver gave source builds, and why
    image: dict[str, Any] | None = None  # the image: its id, size and layers, and the builds this run made of it
    checks: tuple[dict[str, Any], ...] = ()  # one record per check (and device, or pytest test), in the order run

    def __bool__(self) -> bool:
        return self.verdict is Verdict.PASS

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellResult:
        """The inverse of to_json (for a record the store has read and migrated)."""
        return cls(
            matrix=data["matrix"], cell_id=data["cell_id"], run_id=data["run_id"], backend=data["backend"],
            verdict=Verdict(data["verdict"]), started_at=data["started_at"], finished_at=data["finished_at"],
            cell=data.get("cell") or {}, timings=data.get("timings") or {}, probe=data.get("probe") or {},
            host=data.get("host") or {}, notes=tuple(data.get("notes") or ()),
            evidence=tuple(data.get("evidence") or ()), hint=data.get("hint"),
            phases=tuple(data.get("phases") or ()), log=data.get("log"), expected=bool(data.get("expected", True)),
            exit_code=data.get("exit_code"), install=data.get("install"), torch_guard=data.get("torch_guard") or {},
            prediction=data.get("prediction"), cache=data.get("cache"), reused=data.get("reused"),
            caches=data.get("caches"), cause=data.get("cause"), ledger=data.get("ledger"),
            build=data.get("build"), image=data.get("image"), checks=tuple(data.get("checks") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "matrix": self.matrix,
            "cell_id": self.cell_id,
            "run_id": self.run_id,
            "backend": self.backend,
            "verdict": self.verdict.value,
            "evidence": list(self.evidence),
            "hint": self.hint,
            **({"cause": self.cause} if self.cause else {}),  # written where there is one: older records had none
            "notes": list(self.notes),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "cell": self.cell,
            "timings": self.timings,
            "phases": list(self.phases),
            "probe": self.probe,
            "host": self.host,
            "log": self.log,
            "exit_code": self.exit_code,
            "install": self.install,
            "torch_guard": self.torch_guard,
            "expected": self.expected,
            "prediction": self.prediction,
            "cache": self.cache,
            "reused": self.reused,
            "caches": self.caches,
            "ledger": self.ledger,
            "build": self.build,
            "image": self.image,
            "checks": list(self.checks),
        }
