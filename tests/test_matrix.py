"""harness.matrix.reader: reading, expanding and validating matrix files, and `wheel-harness validate`.

Every matrix here is written to pytest's tmp_path; the shipped `matrices/*.toml` are checked at the end.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import MatrixError, Problem
from harness.matrix import reader, templates
from harness.matrix.reader import DEFAULT_TIMEOUT
from harness.model import DEFAULT_CHECK_TIMEOUT, Arch, Retry

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "matrices").glob("*.toml"))

# -- building blocks ---------------------------------------------------------------------------
# A minimal valid matrix is IMAGES + INDEXES + PACKAGES; the error tests swap out one section.

IMAGES = """
[images.bookworm-amd64]
ref = "debian:bookworm"
platform = "linux/amd64"
"""

INDEXES = """
[indexes.default]
"""

PACKAGES = """
[packages.chain-latest]
requirements = ["torch", "torchao"]
modules = ["torch", "torchao"]
"""

# Images are declared in non-alphabetical order on purpose: cells follow declaration order.
GOOD = """
[images.bookworm-amd64]
ref = "debian:bookworm"
platform = "linux/amd64"

[images.bookworm-arm64]
local_build = "debian-bookworm"
platform = "linux/arm64"
ships_torch = true
python = "python3.11"

[images.alpine-amd64]
dockerfile = "docker/Dockerfile"
platform = "linux/amd64"
build_args = { BASE = "alpine:3.20" }

[indexes.default]

[indexes.wheelhouse]
find_links = ["wheels"]
pip_args = ["--prefer-binary"]

[packages.chain-latest]
requirements = ["torch", "torchao", "torchtune"]
modules = ["torch", "torchao", "torchtune.training"]

[packages."chain-2.13"]
requirements = ["torch==2.13.0", "torchao>=0.5; platform_machine == 'x86_64'"]
modules = ["torch"]
"""

GOOD_IMAGES = ["bookworm-amd64", "bookworm-arm64", "alpine-amd64"]
GOOD_INDEXES = ["default", "wheelhouse"]
GOOD_PACKAGES = ["chain-latest", "chain-2.13"]
GOOD_IDS = [f"{i}__{x}__{p}" for i in GOOD_IMAGES for x in GOOD_INDEXES for p in GOOD_PACKAGES]


def doc(*, head: str = "", images: str = IMAGES, indexes: str = INDEXES, packages: str = PACKAGES) -> str:
    return head + images + indexes + packages


def write(directory: Path, text: str, name: str = "m.toml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def good_dir(tmp_path: Path) -> Path:
    """A directory holding what GOOD refers to: docker/Dockerfile and the wheels/ wheelhouse."""
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "wheels").mkdir()
    return tmp_path


def load_good(good_dir: Path, head: str = "", name: str = "m.toml"):
    return reader.load(write(good_dir, head + GOOD, name))


def ids(m) -> list[str]:
    return [c.id for c in m.cells]


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    return reader.validate(write(tmp_path, text))


def find(problems: list[Problem], key: str, *fragments: str) -> Problem:
    """The one problem at `key` whose message holds every fragment (fail with all problems shown)."""
    hits = [p for p in problems if p.key == key and all(f in p.message for f in fragments)]
    assert hits, f"no problem at {key!r} containing {fragments!r}; got:\n" + "\n".join(map(str, problems))
    return hits[0]


# -- a good matrix -----------------------------------------------------------------------------

def test_good_matrix_expands_to_the_product_of_axes_in_declaration_order(good_dir):
    m = load_good(good_dir)
    assert ids(m) == GOOD_IDS
    assert len(m.cells) == 3 * 2 * 2
    assert "bookworm-amd64__default__chain-latest" in ids(m)
    assert len(set(ids(m))) == len(m.cells)
    assert [i.name for i in m.images] == GOOD_IMAGES
    assert [i.name for i in m.indexes] == GOOD_INDEXES
    assert [p.name for p in m.package_sets] == GOOD_PACKAGES


def test_cells_carry_the_declared_objects(good_dir):
    m = load_good(good_dir)
    cell = next(c for c in m.cells if c.id == "bookworm-arm64__wheelhouse__chain-2.13")
    assert cell.image.arch is Arch.ARM64
    assert cell.image.local_build == "debian-bookworm"
    assert cell.image.ships_torch is True
    assert cell.image.python == "python3.11"
    assert cell.index.pip_args == ("--prefer-binary",)
    assert cell.packages.requirements == ("torch==2.13.0", "torchao>=0.5; platform_machine == 'x86_64'")
    assert cell.packages.modules == ("torch",)
    amd = next(i for i in m.images if i.name == "bookworm-amd64")
    assert amd.ref == "debian:bookworm" and amd.arch is Arch.AMD64
    assert amd.ships_torch is False and amd.python == "python3"
    alpine = next(i for i in m.images if i.name == "alpine-amd64")
    assert alpine.build_args == (("BASE", "alpine:3.20"),)


def test_expansion_is_stable_across_loads(good_dir):
    path = write(good_dir, GOOD)
    first = ids(reader.load(path))
    assert all(ids(reader.load(path)) == first for _ in range(3))
    assert reader.load(path) == reader.load(path)


def test_axis_lists_choose_and_order_the_values(good_dir):
    m = load_good(good_dir, '[matrix]\nimages = ["alpine-amd64", "bookworm-amd64"]\nindexes = ["default"]\n'
                            'packages = ["chain-2.13"]\n', name="sub.toml")
    assert ids(m) == ["alpine-amd64__default__chain-2.13", "bookworm-amd64__default__chain-2.13"]


def test_exclude_by_exact_names(good_dir):
    head = ('[matrix]\nexclude = [\n'
            '  { image = "bookworm-arm64", index = "wheelhouse", packages = "chain-2.13" },\n'
            '  { image = "alpine-amd64" },\n]\n')
    m = load_good(good_dir, head)
    expected = [i for i in GOOD_IDS
                if i != "bookworm-arm64__wheelhouse__chain-2.13" and not i.startswith("alpine-amd64__")]
    assert ids(m) == expected
    assert len(m.cells) == 12 - 1 - 4


def test_exclude_with_glob_patterns(good_dir):
    head = '[matrix]\nexclude = [{ image = "*-arm64" }, { index = "wheel*", packages = "chain-[0-9]*" }]\n'
    m = load_good(good_dir, head)
    expected = [i for i in GOOD_IDS
                if "-arm64__" not in i and not i.endswith("__wheelhouse__chain-2.13")]
    assert ids(m) == expected
    assert "bookworm-amd64__wheelhouse__chain-latest" in ids(m)
    assert "bookworm-amd64__wheelhouse__chain-2.13" not in ids(m)


def test_include_adds_a_cell_outside_the_product(good_dir):
    head = ('[matrix]\nimages = ["bookworm-amd64"]\nindexes = ["default"]\npackages = ["chain-latest"]\n'
            'include = [\n'
            '  { image = "bookworm-arm64", index = "wheelhouse", packages = "chain-2.13" },\n'
            '  { image = "bookworm-amd64", index = "default", packages = "chain-latest" },\n]\n')
    m = load_good(good_dir, head)
    # The second include is already in the product: it is not repeated. Included cells come last.
    assert ids(m) == ["bookworm-amd64__default__chain-latest", "bookworm-arm64__wheelhouse__chain-2.13"]


def test_include_brings_back_an_excluded_cell(good_dir):
    head = ('[matrix]\nexclude = [{ image = "alpine-amd64" }]\n'
            'include = [{ image = "alpine-amd64", index = "default", packages = "chain-latest" }]\n')
    m = load_good(good_dir, head)
    assert ids(m)[-1] == "alpine-amd64__default__chain-latest"
    assert sum(i.startswith("alpine-amd64__") for i in ids(m)) == 1


def test_empty_images_axis_with_include_gives_only_the_included_cells(good_dir):
    head = ('[matrix]\nimages = []\ninclude = [\n'
            '  { image = "bookworm-arm64", index = "default", packages = "chain-2.13" },\n'
            '  { image = "bookworm-amd64", index = "wheelhouse", packages = "chain-latest" },\n]\n')
    m = load_good(good_dir, head)
    assert ids(m) == ["bookworm-arm64__default__chain-2.13", "bookworm-amd64__wheelhouse__chain-latest"]
    # Every declared image is still part of the matrix, whether or not a cell uses it.
    assert [i.name for i in m.images] == GOOD_IMAGES


def test_name_defaults_to_the_file_stem(good_dir):
    m = load_good(good_dir, name="edge-x86.toml")
    assert m.name == "edge-x86"
    assert m.source == str(good_dir / "edge-x86.toml")


def test_name_can_be_given(good_dir):
    m = load_good(good_dir, '[matrix]\nname = "jetson.orin_v2"\ndescription = "a test"\n', name="other.toml")
    assert m.name == "jetson.orin_v2"


def test_timeout_default(good_dir):
    m = load_good(good_dir)
    assert m.timeout == DEFAULT_TIMEOUT == 1800.0
    assert {c.timeout for c in m.cells} == {DEFAULT_TIMEOUT}


@pytest.mark.parametrize("value, expected", [("600", 600.0), ("90.5", 90.5), ("0.5", 0.5)])
def test_timeout_override_reaches_every_cell(good_dir, value, expected):
    m = load_good(good_dir, f"[matrix]\ntimeout = {value}\n")
    assert m.timeout == expected
    assert isinstance(m.timeout, float)
    assert {c.timeout for c in m.cells} == {expected}


def test_retry_defaults_reach_every_cell(good_dir):
    assert {c.retry for c in load_good(good_dir).cells} == {Retry(attempts=3, backoff=10.0)}


@pytest.mark.parametrize(("head", "retry"), [
    ("install_attempts = 1\nretry_backoff = 0", Retry(attempts=1, backoff=0.0)),
    ("install_attempts = 10\nretry_backoff = 600", Retry(attempts=10, backoff=600.0)),
])
def test_retry_bounds_are_inclusive(good_dir, head, retry):
    assert {c.retry for c in load_good(good_dir, f"[matrix]\n{head}\n").cells} == {retry}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("install_attempts", "0", "must be between 1 and 10, not 0"),
    ("install_attempts", "11", "must be between 1 and 10, not 11"),
    ("retry_backoff", "-1", "must be between 0 and 600 seconds, not -1.0"),
    ("retry_backoff", "601", "must be between 0 and 600 seconds, not 601.0"),
    ("retry_backoff", "nan", "must be between 0 and 600 seconds, not nan"),
])
def test_retry_out_of_bounds_is_a_problem(good_dir, key, value, message):
    find(problems_of(good_dir, f"[matrix]\n{key} = {value}\n" + GOOD), f"matrix.{key}", message)


def test_relative_paths_resolve_against_the_matrix_file_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "wheels").mkdir()
    text = doc(
        images='[images.built]\ndockerfile = "../docker/Dockerfile"\nplatform = "linux/amd64"\n',
        indexes='[indexes.local]\nfind_links = ["../wheels"]\nno_index = true\n',
    )
    path = write(tmp_path / "matrices", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    m = reader.load(path)
    assert m.images[0].dockerfile == str((tmp_path / "docker" / "Dockerfile").resolve())
    assert m.indexes[0].find_links == (str((tmp_path / "wheels").resolve()),)
    assert Path(m.indexes[0].find_links[0]).is_absolute()
    assert m.images[0].tag == "edge-wheel-harness/built:latest"


def test_relative_matrix_path_also_works(tmp_path, monkeypatch):
    (tmp_path / "wheels").mkdir()
    write(tmp_path, doc(indexes='[indexes.local]\nfind_links = ["wheels"]\n'))
    monkeypatch.chdir(tmp_path)
    m = reader.load("m.toml")
    assert m.indexes[0].find_links == (str((tmp_path / "wheels").resolve()),)


def test_default_index_variant_is_an_empty_table(good_dir):
    m = load_good(good_dir)
    default = next(i for i in m.indexes if i.name == "default")
    assert default.is_default is True
    assert default.index_url is None and default.find_links == () and not default.no_index
    wheelhouse = next(i for i in m.indexes if i.name == "wheelhouse")
    assert wheelhouse.is_default is False


def test_index_urls_are_kept(tmp_path):
    text = doc(indexes='[indexes.cpu]\nindex_url = "https://download.pytorch.org/whl/cpu"\n'
                       'extra_index_urls = ["https://index.example.org/simple", "file:///srv/simple"]\n')
    index = reader.load(write(tmp_path, text)).indexes[0]
    assert index.index_url == "https://download.pytorch.org/whl/cpu"
    assert index.extra_index_urls == ("https://index.example.org/simple", "file:///srv/simple")
    assert index.is_default is False


def test_prefetch_lets_the_wheelhouse_not_exist_yet(tmp_path):
    text = doc(indexes='[indexes.wheelhouse]\nfind_links = ["../.wheelhouse/x"]\nprefetch = ["torch==2.13.0"]\n')
    index = reader.load(write(tmp_path / "matrices", text)).indexes[0]
    assert index.prefetch == ("torch==2.13.0",)
    assert index.find_links == (str((tmp_path / ".wheelhouse" / "x").resolve()),)


def test_quoted_dotted_names(tmp_path):
    text = doc(packages='[packages."chain-2.13"]\nrequirements = ["torch==2.13.0"]\nmodules = ["torch"]\n'
                        '[packages."numpy.v2"]\nrequirements = ["numpy>=2"]\nmodules = ["numpy"]\n')
    m = reader.load(write(tmp_path, text))
    assert [p.name for p in m.package_sets] == ["chain-2.13", "numpy.v2"]
    assert ids(m) == ["bookworm-amd64__default__chain-2.13", "bookworm-amd64__default__numpy.v2"]


def test_validate_of_a_good_file_is_empty(good_dir):
    assert reader.validate(write(good_dir, GOOD)) == []


# -- select ------------------------------------------------------------------------------------

@pytest.mark.parametrize("patterns, expected", [
    ([], GOOD_IDS),
    (["bookworm-*"], [i for i in GOOD_IDS if i.startswith("bookworm-")]),
    (["*__default__*"], [i for i in GOOD_IDS if "__default__" in i]),
    (["*-arm64__*", "alpine-*"], [i for i in GOOD_IDS if not i.startswith("bookworm-amd64")]),
    (["bookworm-amd64__default__chain-latest"], ["bookworm-amd64__default__chain-latest"]),
    (["*__chain-2.1?"], [i for i in GOOD_IDS if i.endswith("__chain-2.13")]),
    (["nothing-*"], []),
    (["BOOKWORM-*"], []),  # case-sensitive
])
def test_select(good_dir, patterns, expected):
    m = load_good(good_dir)
    chosen = reader.select(m.cells, patterns)
    assert [c.id for c in chosen] == expected
    assert reader.select(list(m.cells), patterns) == chosen


# -- errors that stop the file from being read at all -----------------------------------------

def only(problems: list[Problem], fragment: str) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    assert problems[0].key == ""
    assert fragment in problems[0].message
    return problems[0]


def test_toml_syntax_error(tmp_path):
    path = write(tmp_path, "[images\nref = = 1\n")
    problem = only(reader.validate(path), "not valid TOML")
    assert problem.file == str(path)
    assert str(problem).startswith(f"{path}: not valid TOML")


def test_invalid_utf8(tmp_path):
    path = tmp_path / "m.toml"
    path.write_bytes(b'[matrix]\nname = "caf\xe9"\n')
    only(reader.validate(path), "utf-8")


def test_deeply_nested_brackets_are_a_problem_not_a_recursion_error(tmp_path):
    path = write(tmp_path, "x = " + "[" * 100000)
    only(reader.validate(path), "not valid TOML")
    with pytest.raises(MatrixError):
        reader.load(path)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.toml"
    problem = only(reader.validate(path), "no such file")
    assert problem.file == str(path) and problem.message == "no such file"


def test_a_directory_is_not_a_file(tmp_path):
    only(reader.validate(tmp_path), "cannot read")


def test_load_raises_matrix_error_with_the_problems(tmp_path):
    path = write(tmp_path, doc(images='[images.x]\nplatform = "linux/amd64"\n'))
    with pytest.raises(MatrixError) as info:
        reader.load(path)
    assert list(info.value.problems) == reader.validate(path)
    assert str(path) in str(info.value)


# -- one problem per mistake, located by key --------------------------------------------------

ERRORS = [
    # misspelt keys, with a suggestion
    ("unknown-top-level", doc(head="[imagse.x]\nref = 'a'\n"), "imagse", ["unknown key", "did you mean 'images'"]),
    ("misspelt-image-key", doc(images='[images.x]\nref = "a"\nplatform = "linux/amd64"\nplatfrom = "y"\n'),
     "images.x.platfrom", ["unknown key", "did you mean 'platform'"]),
    ("misspelt-index-key", doc(indexes='[indexes.default]\nfind_link = ["w"]\n'),
     "indexes.default.find_link", ["unknown key", "did you mean 'find_links'"]),
    ("misspelt-package-key",
     doc(packages='[packages.p]\nrequirments = ["torch"]\nmodules = ["torch"]\n'),
     "packages.p.requirments", ["unknown key", "did you mean 'requirements'"]),
    ("misspelt-matrix-key", doc(head='[matrix]\nexlude = []\n'),
     "matrix.exlude", ["unknown key", "did you mean 'exclude'"]),
    ("misspelt-include-key",
     doc(head='[matrix]\ninclude = [{ image = "bookworm-amd64", index = "default", packages = "chain-latest", '
              'imgae = "x" }]\n'),
     "matrix.include[0].imgae", ["unknown key", "did you mean 'image'"]),
    # images
    ("image-with-no-source", doc(images='[images.x]\nplatform = "linux/amd64"\n'),
     "images.x", ["needs exactly one of ref, dockerfile, local_build"]),
    ("image-with-two-sources",
     doc(images='[images.x]\nref = "a"\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n'),
     "images.x", ["needs exactly one of ref, dockerfile, local_build", "found ref, local_build"]),
    ("platform-riscv", doc(images='[images.x]\nref = "a"\nplatform = "linux/riscv64"\n'),
     "images.x.platform", ["'linux/riscv64' is not linux/amd64 or linux/arm64"]),
    ("platform-windows", doc(images='[images.x]\nref = "a"\nplatform = "windows/amd64"\n'),
     "images.x.platform", ["'windows/amd64' is not linux/amd64 or linux/arm64"]),
    ("platform-missing", doc(images='[images.x]\nref = "a"\n'), "images.x.platform", ["missing"]),
    ("unknown-recipe", doc(images='[images.x]\nlocal_build = "debian-bookwrom"\nplatform = "linux/amd64"\n'),
     "images.x.local_build", ["unknown recipe 'debian-bookwrom'", "did you mean 'debian-bookworm'",
                              "known: debian-bookworm"]),
    ("dockerfile-not-found", doc(images='[images.x]\ndockerfile = "nope/Dockerfile"\nplatform = "linux/amd64"\n'),
     "images.x.dockerfile", ["'nope/Dockerfile' not found"]),
    ("ships-torch-string", doc(images='[images.x]\nref = "a"\nplatform = "linux/amd64"\nships_torch = "yes"\n'),
     "images.x.ships_torch", ["must be a bool", "'yes'"]),
    ("build-args-not-strings",
     doc(images='[images.x]\nref = "a"\nplatform = "linux/amd64"\nbuild_args = { JOBS = 4 }\n'),
     "images.x.build_args.JOBS", ["must be strings"]),
    # matrix table
    ("timeout-string", doc(head='[matrix]\ntimeout = "long"\n'), "matrix.timeout", ["must be a float", "'long'"]),
    ("timeout-bool", doc(head='[matrix]\ntimeout = true\n'), "matrix.timeout", ["must be a float"]),
    ("timeout-zero", doc(head='[matrix]\ntimeout = 0\n'), "matrix.timeout", ["must be a positive number"]),
    ("timeout-negative", doc(head='[matrix]\ntimeout = -5.5\n'), "matrix.timeout", ["must be a positive number"]),
    ("matrix-name-upper", doc(head='[matrix]\nname = "Smoke"\n'), "matrix.name", ["'Smoke'", "lower-case"]),
    ("matrix-not-a-table", doc(head='matrix = 3\n'), "matrix", ["must be a table"]),
    # package sets
    ("requirements-string", doc(packages='[packages.p]\nrequirements = "torch"\nmodules = ["torch"]\n'),
     "packages.p.requirements", ["must be a list", "'torch'"]),
    ("requirements-empty-string", doc(packages='[packages.p]\nrequirements = ["torch", " "]\nmodules = ["torch"]\n'),
     "packages.p.requirements", ["must be a list of non-empty strings"]),
    ("requirement-no-version", doc(packages='[packages.p]\nrequirements = ["torch=="]\nmodules = ["torch"]\n'),
     "packages.p.requirements[0]", ["not a PEP 508 requirement"]),
    ("requirement-dangling-comma",
     doc(packages='[packages.p]\nrequirements = ["numpy", "torch>=2,<"]\nmodules = ["torch"]\n'),
     "packages.p.requirements[1]", ["not a PEP 508 requirement"]),
    ("module-with-dash", doc(packages='[packages.p]\nrequirements = ["torchao"]\nmodules = ["torch", "torch-ao"]\n'),
     "packages.p.modules[1]", ["'torch-ao' is not a dotted module name"]),
    ("module-trailing-dot", doc(packages='[packages.p]\nrequirements = ["torchao"]\nmodules = ["torchao."]\n'),
     "packages.p.modules[0]", ["not a dotted module name"]),
    ("modules-missing", doc(packages='[packages.p]\nrequirements = ["torch"]\n'),
     "packages.p.modules", ["missing"]),
    # names
    ("image-name-upper", doc(images='[images.Bookworm]\nref = "a"\nplatform = "linux/amd64"\n'),
     "images.Bookworm", ["lower-case"]),
    ("index-name-upper", doc(indexes='[indexes.PyPI]\n'), "indexes.PyPI", ["lower-case"]),
    ("package-name-space", doc(packages='[packages."my set"]\nrequirements = []\nmodules = ["x"]\n'),
     "packages.my set", ["lower-case"]),
    # indexes
    ("no-index-with-index-url",
     doc(indexes='[indexes.x]\nno_index = true\nindex_url = "https://index.example.org/simple"\nfind_links = ["."]\n'),
     "indexes.x.no_index", ["contradicts index_url"]),
    ("no-index-without-find-links", doc(indexes='[indexes.x]\nno_index = true\n'),
     "indexes.x.no_index", ["needs find_links or serve"]),
    ("prefetch-without-find-links", doc(indexes='[indexes.x]\nprefetch = ["torch"]\n'),
     "indexes.x.prefetch", ["needs serve or find_links"]),
    ("prefetch-bad-requirement", doc(indexes='[indexes.x]\nfind_links = ["w"]\nprefetch = ["torch>=2,<"]\n'),
     "indexes.x.prefetch[0]", ["not a PEP 508 requirement"]),
    ("find-links-dir-missing", doc(indexes='[indexes.x]\nfind_links = [".", "no-such-dir"]\n'),
     "indexes.x.find_links[1]", ["'no-such-dir' is not a directory"]),
    ("index-url-no-scheme", doc(indexes='[indexes.x]\nindex_url = "index.example.org/simple"\n'),
     "indexes.x.index_url", ["must be an http(s):// or file:// URL"]),
    ("index-url-ftp", doc(indexes='[indexes.x]\nindex_url = "ftp://mirror/simple"\n'),
     "indexes.x.index_url", ["must be an http(s):// or file:// URL"]),
    ("extra-index-url-no-host", doc(indexes='[indexes.x]\nextra_index_urls = ["https://"]\n'),
     "indexes.x.extra_index_urls[0]", ["must be an http(s):// or file:// URL"]),
    ("no-index-not-bool", doc(indexes='[indexes.x]\nno_index = "yes"\nfind_links = ["."]\n'),
     "indexes.x.no_index", ["must be a bool"]),
    ("template-unknown-field", doc(indexes='[indexes.x]\nindex_url = "https://wheels.example.org/jp{jetpak_major}"\n'),
     "indexes.x.index_url", ["unknown placeholder {jetpak_major}", "did you mean 'jetpack_major'"]),
    ("template-malformed", doc(indexes='[indexes.x]\nindex_url = "https://wheels.example.org/jp{jetpack_major"\n'),
     "indexes.x.index_url", ["malformed template"]),
    ("template-unfillable", doc(indexes='[indexes.x]\nindex_url = "https://wheels.example.org/cu{cuda_nodot}"\n'),
     "indexes.x", ["uses {cuda_nodot}, which image 'bookworm-amd64' does not give", 'add cuda = "…"']),
    ("image-jetpack-not-a-version", doc(images='[images.j]\nref = "x"\nplatform = "linux/arm64"\njetpack = "six"\n'),
     "images.j.jetpack", ["not a version"]),
    ("serve-dir-missing", doc(indexes='[indexes.x]\nserve = ["no-such-dir"]\n'),
     "indexes.x.serve[0]", ["'no-such-dir' is not a directory"]),
    # sections
    ("missing-packages-table", doc(packages=""), "packages", ["missing table"]),
    ("empty-images-table", doc(images="images = {}\n"), "images", ["declares nothing"]),
    ("images-not-a-table", doc(images="images = []\n"), "images", ["must be a table"]),
    # axes, include, exclude
    ("axis-undeclared-image", doc(head='[matrix]\nimages = ["bookworm-amd46"]\n'),
     "matrix.images[0]", ["'bookworm-amd46' is not declared", "did you mean 'bookworm-amd64'"]),
    ("axis-undeclared-package", doc(head='[matrix]\npackages = ["chain-latest", "chian-latest"]\n'),
     "matrix.packages[1]", ["'chian-latest' is not declared", "did you mean 'chain-latest'"]),
    ("axis-not-a-list", doc(head='[matrix]\nindexes = "default"\n'), "matrix.indexes", ["must be a list"]),
    ("include-missing-key", doc(head='[matrix]\ninclude = [{ image = "bookworm-amd64", index = "default" }]\n'),
     "matrix.include[0].packages", ["missing"]),
    ("include-undeclared-value",
     doc(head='[matrix]\ninclude = [{ image = "bookworm-amd64", index = "defualt", packages = "chain-latest" }]\n'),
     "matrix.include[0].index", ["'defualt' is not declared", "did you mean 'default'"]),
    ("include-not-a-string",
     doc(head='[matrix]\ninclude = [{ image = "bookworm-amd64", index = 1, packages = "chain-latest" }]\n'),
     "matrix.include[0].index", ["must be a string"]),
    ("exclude-matches-nothing", doc(head='[matrix]\nexclude = [{ image = "jetson-*" }]\n'),
     "matrix.exclude[0].image", ["'jetson-*' matches no declared name"]),
    ("exclude-empty-entry", doc(head='[matrix]\nexclude = [{}]\n'), "matrix.exclude[0]", ["empty"]),
    ("no-cells-empty-axis", doc(head='[matrix]\nimages = []\n'), "matrix", ["expands to no cells"]),
    ("no-cells-all-excluded", doc(head='[matrix]\nexclude = [{ packages = "chain-*" }]\n'),
     "matrix", ["expands to no cells"]),
]


@pytest.mark.parametrize("text, key, fragments", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_validation_error(tmp_path, text, key, fragments):
    problems = problems_of(tmp_path, text)
    problem = find(problems, key, *fragments)
    assert problem.file == str(tmp_path / "m.toml")
    assert str(problem) == f"{tmp_path / 'm.toml'}: {key}: {problem.message}"
    assert all("\n" not in str(p) for p in problems), "\n".join(map(repr, problems))  # one line per problem
    with pytest.raises(MatrixError):
        reader.load(tmp_path / "m.toml")


# Mistakes that must be reported alone: no follow-on noise from the same mistake.
SINGLE = [
    "misspelt-index-key", "misspelt-package-key", "misspelt-matrix-key", "image-with-no-source",
    "image-with-two-sources", "platform-riscv", "platform-windows", "platform-missing", "unknown-recipe",
    "dockerfile-not-found", "ships-torch-string", "timeout-string", "timeout-zero", "requirements-string",
    "requirement-no-version", "requirement-dangling-comma", "module-with-dash", "modules-missing",
    "no-index-with-index-url", "no-index-without-find-links", "prefetch-without-find-links",
    "find-links-dir-missing", "index-url-no-scheme", "axis-undeclared-image", "include-missing-key",
    "include-undeclared-value", "exclude-matches-nothing", "no-cells-empty-axis", "no-cells-all-excluded",
]


def test_triple_equals_with_no_version_is_a_problem(tmp_path):
    text = doc(packages='[packages.p]\nrequirements = ["torch==="]\nmodules = ["torch"]\n')
    problems = problems_of(tmp_path, text)
    find(problems, "packages.p.requirements[0]", "not a PEP 508 requirement")
    assert len(problems) == 1


@pytest.mark.parametrize("name", SINGLE)
def test_validation_error_is_reported_once(tmp_path, name):
    text = next(e[1] for e in ERRORS if e[0] == name)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, "\n".join(map(str, problems))


def test_unknown_top_level_key_also_reports_the_missing_table(tmp_path):
    text = '[imagse.x]\nref = "a"\nplatform = "linux/amd64"\n' + INDEXES + PACKAGES
    problems = problems_of(tmp_path, text)
    find(problems, "imagse", "did you mean 'images'")
    find(problems, "images", "missing table")


def test_no_cells_problem_is_not_added_on_top_of_other_problems(tmp_path):
    problems = problems_of(tmp_path, doc(head='[matrix]\nimages = ["nope"]\n'))
    assert [p.key for p in problems] == ["matrix.images[0]"]


def test_several_problems_are_all_reported_at_once(tmp_path):
    text = """
[matrix]
timeout = -1
exlude = []
images = ["bookworm-amd64", "jetson"]

[images.bookworm-amd64]
ref = "debian:bookworm"
platform = "linux/riscv64"

[images.Orin]
ref = "nvcr.io/l4t"
platform = "linux/arm64"

[indexes.default]
index_url = "index.example.org/simple"

[packages.p]
requirements = ["torch=="]
modules = ["torch-ao"]
"""
    problems = problems_of(tmp_path, text)
    expected = {
        ("images.bookworm-amd64.platform", "is not linux/amd64"),
        ("images.Orin", "lower-case"),
        ("indexes.default.index_url", "must be an http"),
        ("packages.p.requirements[0]", "PEP 508"),
        ("packages.p.modules[0]", "dotted module name"),
        ("matrix.exlude", "did you mean 'exclude'"),
        ("matrix.timeout", "positive"),
        ("matrix.images[1]", "'jetson' is not declared"),
    }
    for key, fragment in expected:
        find(problems, key, fragment)
    assert len(problems) == len(expected), "\n".join(map(str, problems))
    assert all(p.file == str(tmp_path / "m.toml") for p in problems)


# -- the CLI -----------------------------------------------------------------------------------

# Three problems, each with a one-line message (PEP 508 messages are not: see test_validation_error).
BAD = doc(head='[matrix]\ntimeout = 0\n',
          images='[images.x]\nref = "a"\nplatform = "linux/riscv64"\n',
          packages='[packages.p]\nrequirements = ["torch"]\nmodules = ["torch-ao"]\n')


def test_cli_validate_bad_file(tmp_path, capsys):
    bad = write(tmp_path, BAD, "bad.toml")
    expected = reader.validate(bad)
    assert len(expected) == 3
    assert main(["validate", str(bad)]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines == [str(p) for p in expected]
    assert all(line.startswith(f"{bad}: ") for line in lines)
    assert "Traceback" not in err
    assert out == ""


def test_cli_validate_good_file(good_dir, capsys):
    good = write(good_dir, GOOD, "good.toml")
    assert main(["validate", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{good}: ok, 12 cells"
    assert "ok" in out
    assert err == ""


def test_cli_validate_several_files_reports_each(good_dir, capsys):
    good = write(good_dir, GOOD, "good.toml")
    bad = write(good_dir, BAD, "bad.toml")
    missing = good_dir / "missing.toml"
    assert main(["validate", str(good), str(bad), str(missing)]) == 2
    out, err = capsys.readouterr()
    assert f"{good}: ok" in out
    assert len([line for line in err.splitlines() if line.startswith(f"{bad}: ")]) == 3
    assert f"{missing}: no such file" in err.splitlines()
    assert "Traceback" not in err


def test_cli_validate_deep_nesting_has_no_traceback(tmp_path, capsys):
    bad = write(tmp_path, "x = " + "[" * 100000, "deep.toml")
    assert main(["validate", str(bad)]) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"{bad}: not valid TOML")
    assert "Traceback" not in err and "RecursionError" not in err


def test_cli_validate_as_a_subprocess(tmp_path):
    write(tmp_path, BAD, "bad.toml")
    proc = subprocess.run([sys.executable, "-m", "harness", "validate", "bad.toml"],
                          check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("bad.toml: ") for line in lines)
    assert proc.stdout == ""


# -- the shipped matrices ----------------------------------------------------------------------

def test_there_are_shipped_matrices():
    assert SHIPPED, "no matrices/*.toml found next to tests/"
    assert REPO / "matrices" / "smoke.toml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_matrix_validates(path):
    assert reader.validate(path) == []
    m = reader.load(path)
    assert m.cells
    assert len({c.id for c in m.cells}) == len(m.cells), "duplicate cell ids"


def test_cli_validates_every_shipped_matrix(capsys):
    assert main(["validate", *map(str, SHIPPED)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count(": ok, ") == len(SHIPPED)


def test_prefetch_spares_only_the_first_find_links_directory(tmp_path):
    text = doc(indexes='[indexes.w]\nfind_links = ["fill-me", "typo-dir"]\nprefetch = ["torch==2.13.0"]\n')
    problems = problems_of(tmp_path, text)
    find(problems, "indexes.w.find_links[1]", "not a directory")
    assert not [p for p in problems if p.key == "indexes.w.find_links[0]"]


def test_an_axis_name_listed_twice_is_a_problem_not_a_duplicate_cell(tmp_path):
    text = doc(head='[matrix]\nimages = ["bookworm-amd64", "bookworm-amd64"]\n')
    find(problems_of(tmp_path, text), "matrix.images", "listed twice")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_timeout_must_be_finite(tmp_path, value):
    find(problems_of(tmp_path, doc(head=f"[matrix]\ntimeout = {value}\n")), "matrix.timeout", "positive")


def test_empty_module_list_is_a_problem(tmp_path):
    text = doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = []\n')
    find(problems_of(tmp_path, text), "packages.p.modules", "empty")


def test_a_selector_that_is_not_a_table_is_one_problem(tmp_path):
    problems = problems_of(tmp_path, doc(head='[matrix]\nexclude = ["bookworm-*"]\n'))
    assert [p.key for p in problems] == ["matrix.exclude[0]"]
    assert "must be a table" in problems[0].message


def test_include_can_declare_the_expected_outcome_of_a_known_bad_cell(tmp_path):
    text = doc(head='[[matrix.include]]\nimage = "bookworm-amd64"\n'
                    'index = "default"\npackages = "chain-latest"\nexpect = "import-failed"\nwhy = "known"\n',
               packages=PACKAGES + '[packages.other]\nrequirements = []\nmodules = ["json"]\n')
    cells = {c.id: c for c in reader.load(write(tmp_path, text)).cells}
    bad = cells["bookworm-amd64__default__chain-latest"]
    assert (bad.expect, bad.expect_why) == ("import-failed", "known")
    assert cells["bookworm-amd64__default__other"].expect == "pass"


def test_an_unknown_expected_outcome_is_a_problem_with_a_suggestion(tmp_path):
    text = doc(head='[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
                    'expect = "import-fail"\n')
    find(problems_of(tmp_path, text), "matrix.include[0].expect", "not a verdict", "did you mean 'import-failed'")


def test_expect_is_not_a_key_of_exclude(tmp_path):
    text = doc(head='[matrix]\nexclude = [{ image = "bookworm-amd64", expect = "pass" }]\n')
    find(problems_of(tmp_path, text), "matrix.exclude[0].expect", "unknown key")


def test_include_can_state_the_cuda_a_cell_expects(tmp_path):
    text = doc(head='[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
                    'torch_build = "cuda"\ncuda = "12.6"\ncapability = "8.7"\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert (cell.cuda.torch_build, cell.cuda.version, cell.cuda.capability) == ("cuda", "12.6", "8.7")


@pytest.mark.parametrize(("line", "key", "fragment"), [
    ('torch_build = "gpu"', "torch_build", 'must be "cuda" or "cpu"'),
    ('capability = "sm_87"', "capability", "not a compute capability"),
    ("cuda = 12.6", "cuda", "must be a string"),
])
def test_bad_cuda_expectations_are_problems(tmp_path, line, key, fragment):
    text = doc(head='[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
                    f'{line}\n')
    find(problems_of(tmp_path, text), f"matrix.include[0].{key}", fragment)


# -- index URL templates and served wheelhouses ------------------------------------------------


TEMPLATED = """
[images.orin-jp6]
ref = "l4t-jp6"
platform = "linux/arm64"
jetpack = "6.2"
cuda = "12.6"

[images.xavier-jp5]
ref = "l4t-jp5"
platform = "linux/arm64"
jetpack = "5.1.2"
cuda = "11.4"

[indexes.jetson]
index_url = "https://wheels.example.org/jp{jetpack_major}/cu{cuda_nodot}"
extra_index_urls = ["https://mirror.example.org/{machine}/cuda-{cuda_major}/{arch}"]

[packages.torch]
requirements = ["torch"]
modules = ["torch"]
"""


def test_index_url_templates_are_filled_per_cell_from_the_image(tmp_path):
    m = reader.load(write(tmp_path, TEMPLATED))
    urls = {c.image.name: (c.index.index_url, c.index.extra_index_urls) for c in m.cells}
    assert urls == {
        "orin-jp6": ("https://wheels.example.org/jp6/cu126", ("https://mirror.example.org/aarch64/cuda-12/arm64",)),
        "xavier-jp5": ("https://wheels.example.org/jp5/cu114", ("https://mirror.example.org/aarch64/cuda-11/arm64",)),
    }
    assert [c.id for c in m.cells] == ["orin-jp6__jetson__torch", "xavier-jp5__jetson__torch"]  # ids stay stable
    assert m.indexes[0].index_url.endswith("jp{jetpack_major}/cu{cuda_nodot}")  # the declaration is kept
    # each filled URL remembers its template and the image's values in it (the classifier's hint names them)
    orin = next(c for c in m.cells if c.image.name == "orin-jp6")
    template = orin.index.template_of("https://wheels.example.org/jp6/cu126")
    assert template == m.indexes[0].index_url
    assert templates.filled_with(template, orin.image) == {"jetpack_major": "6", "cuda_nodot": "126"}
    assert orin.index.template_of("https://elsewhere.example.org/simple") is None


def test_a_served_wheelhouse_is_an_index_variant(tmp_path):
    (tmp_path / "house").mkdir()
    m = reader.load(write(tmp_path, doc(indexes='[indexes.lan]\nserve = ["house"]\nno_index = true\n'
                                              'prefetch = ["torch==2.13.0"]\n')))
    [idx] = m.indexes
    assert idx.serve == (str(tmp_path / "house"),) and idx.no_index and not idx.is_default
    assert idx.wheelhouse == str(tmp_path / "house")
    # prefetch may name a wheelhouse that does not exist yet: it creates it
    m = reader.load(write(tmp_path, doc(indexes='[indexes.lan]\nserve = ["new"]\nprefetch = ["torch"]\n')))
    assert m.indexes[0].wheelhouse == str(tmp_path / "new")


# -- the installer axis ------------------------------------------------------------------------


def test_installers_axis_adds_uv_cells_and_pip_ids_stay_as_they_were(good_dir):
    m = load_good(good_dir, '[matrix]\nimages = ["bookworm-amd64"]\nindexes = ["default"]\n'
                            'packages = ["chain-2.13"]\ninstallers = ["pip", "uv"]\n')
    assert ids(m) == ["bookworm-amd64__default__chain-2.13", "bookworm-amd64__default__chain-2.13__uv"]
    assert [c.installer for c in m.cells] == ["pip", "uv"]


def test_exclude_and_include_can_name_the_installer(good_dir):
    m = load_good(good_dir, '[matrix]\nimages = ["bookworm-amd64"]\nindexes = ["default"]\n'
                            'packages = ["chain-2.13", "chain-latest"]\ninstallers = ["pip", "uv"]\n'
                            'exclude = [{ packages = "chain-latest", installer = "u*" }]\n'
                            '[[matrix.include]]\nimage = "bookworm-arm64"\nindex = "default"\npackages = "chain-2.13"\n'
                            'installer = "uv"\nexpect = "conflict"\n')
    assert ids(m) == ["bookworm-amd64__default__chain-2.13", "bookworm-amd64__default__chain-2.13__uv",
                      "bookworm-amd64__default__chain-latest", "bookworm-arm64__default__chain-2.13__uv"]
    assert m.cells[-1].expect == "conflict"


@pytest.mark.parametrize(("head", "key", "fragment"), [
    ('[matrix]\ninstallers = ["pip", "uvv"]\n', "matrix.installers[1]", "did you mean 'uv'"),
    ('[matrix]\nexclude = [{ installer = "poetry" }]\n', "matrix.exclude[0].installer", "not an installer"),
])
def test_unknown_installers_are_named(good_dir, head, key, fragment):
    find(reader.validate(write(good_dir, head + GOOD)), key, fragment)


# -- approach names and declared tables ----------------------------------------------------------

APPROACH = ('[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
            'approach = "PyPI wheels"\n\n')


def test_an_include_names_the_cells_approach_and_the_record_keeps_it(tmp_path):
    m = reader.load(write(tmp_path, doc(head=APPROACH)))
    [cell] = m.cells
    assert cell.approach == "PyPI wheels"
    assert cell.to_json()["approach"] == "PyPI wheels"
    assert m.tables == ()


def test_a_declared_table_keeps_its_rows_columns_and_headers_in_order(tmp_path):
    tables = ('\n[tables.plan]\ntitle = "Approaches"\ncells = ["PyPI wheels", "bookworm-*"]\n'
              'columns = ["approach", { value = "build", header = "Build Time" }, { value = "run" }]\n')
    [spec] = reader.load(write(tmp_path, doc(head=APPROACH) + tables)).tables
    assert (spec.name, spec.title, spec.cells) == ("plan", "Approaches", ("PyPI wheels", "bookworm-*"))
    assert [(c.value, c.header) for c in spec.columns] == [("approach", "Approach"), ("build", "Build Time"),
                                                           ("run", "Run Time")]


@pytest.mark.parametrize(("tables", "key", "fragments"), [
    ('[tables.plan]\ncolumns = ["approach", "bulid"]\n', "tables.plan.columns[1].value",
     ["unknown column 'bulid'", "did you mean 'build'"]),
    ('[tables.plan]\ncells = ["PyPI wheel"]\ncolumns = ["approach"]\n', "tables.plan.cells[0]",
     ["'PyPI wheel' is no approach name", "did you mean 'PyPI wheels'"]),
    ('[tables.plan]\ncells = ["PyPI wheels"]\n', "tables.plan.columns", ["missing"]),
    ('[tables.plan]\ncolumns = [{ value = "run", header = "a | b" }]\n', "tables.plan.columns[0].header",
     ["without '|'"]),
    ('[tables.plan]\ncolumns = [{ value = "run", heading = "Run" }]\n', "tables.plan.columns[0].heading",
     ["unknown key", "did you mean 'header'"]),
    ('[tables.plan]\ncolumns = ["run"]\nrows = []\n', "tables.plan.rows", ["unknown key"]),
])
def test_a_declared_table_with_a_mistake_is_one_precise_problem(tmp_path, tables, key, fragments):
    find(problems_of(tmp_path, doc(head=APPROACH) + "\n" + tables), key, *fragments)


def test_an_approach_name_is_unique_and_not_empty(tmp_path):
    twice = APPROACH + APPROACH.replace('"default"', '"default"\ninstaller = "uv"')
    find(problems_of(tmp_path, doc(head=twice)), "matrix.include[1].approach", "'PyPI wheels' already names cell")
    empty = APPROACH.replace('"PyPI wheels"', '" "')
    find(problems_of(tmp_path, doc(head=empty)), "matrix.include[0].approach", "is empty")


def test_an_approach_run_elsewhere_is_a_row_with_its_reason(tmp_path):
    tables = ('\n[tables.plan]\ncells = ["PyPI wheels", "Jetson wheels"]\ncolumns = ["approach", "summary"]\n'
              '[tables.plan.elsewhere]\n"Jetson wheels" = "needs a Jetson"\n')
    [spec] = reader.load(write(tmp_path, doc(head=APPROACH) + tables)).tables
    assert spec.elsewhere == (("Jetson wheels", "needs a Jetson"),)


@pytest.mark.parametrize(("elsewhere", "key", "fragment"), [
    ('"Jetson wheels" = ""', "tables.plan.elsewhere.Jetson wheels", "must say why"),
    ('"PyPI wheels" = "no"', "tables.plan.elsewhere.PyPI wheels", "names a cell of this matrix"),
    ('"Minimal" = "not here"', "tables.plan.elsewhere.Minimal", "is not in tables.plan.cells"),
])
def test_an_elsewhere_row_with_a_mistake_is_one_precise_problem(tmp_path, elsewhere, key, fragment):
    tables = ('\n[tables.plan]\ncells = ["PyPI wheels", "Jetson wheels"]\ncolumns = ["approach"]\n'
              f'[tables.plan.elsewhere]\n{elsewhere}\n')
    find(problems_of(tmp_path, doc(head=APPROACH) + tables), key, fragment)


RECIPE_IMAGE = """
[images.built]
dockerfile = "docker/chain.Dockerfile"
platform = "linux/amd64"
"""


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    """A recipe folder with an application file, and a wheelhouse beside the matrix."""
    (tmp_path / "docker" / "app").mkdir(parents=True)
    (tmp_path / "docker" / "chain.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "docker" / "app" / "main.py").write_text("print(1)\n")
    (tmp_path / "wheels").mkdir()
    return tmp_path


def test_a_recipe_names_its_build_folders_and_the_source_file_its_cached_build_changes(recipe_dir):
    image = RECIPE_IMAGE + 'build_folders = { wheelhouse = "wheels" }\nsource_file = "app/main.py"\n'
    m = reader.load(write(recipe_dir, doc(images=image)))
    [built] = m.images
    assert built.build_folders == (("wheelhouse", str((recipe_dir / "wheels").resolve())),)
    assert built.source_file == "app/main.py"


def test_a_build_folder_a_prefetch_fills_need_not_be_there_yet(recipe_dir):
    image = RECIPE_IMAGE + 'build_folders = { wheelhouse = "later" }\n'
    prefetching = '[indexes.house]\nfind_links = ["later"]\nprefetch = ["torch==2.13.0"]\n'
    assert reader.validate(write(recipe_dir, doc(images=image, indexes=INDEXES + prefetching))) == []
    find(problems_of(recipe_dir, doc(images=image)), "images.built.build_folders.wheelhouse",
         "is not a directory, and no index variant prefetches into it")


@pytest.mark.parametrize(("lines", "key", "fragment"), [
    ('source_file = "app/gone.py"\n', "images.built.source_file", "'app/gone.py' not found"),
    ('source_file = "../m.toml"\n', "images.built.source_file", "must be a file inside the recipe's folder"),
    ('build_folders = { "a/b" = "wheels" }\n', "images.built.build_folders.a/b", "name must be"),
    ('build_folders = { wheelhouse = 1 }\n', "images.built.build_folders.wheelhouse",
     "must be a folder, relative to the matrix"),
])
def test_a_recipe_input_with_a_mistake_is_one_precise_problem(recipe_dir, lines, key, fragment):
    find(problems_of(recipe_dir, doc(images=RECIPE_IMAGE + lines)), key, fragment)


def test_a_build_folder_that_is_no_folder_says_what_it_must_be(recipe_dir):
    problems = problems_of(recipe_dir, doc(images=RECIPE_IMAGE + 'build_folders = { wheelhouse = " " }\n'))
    assert [(p.key, p.message) for p in problems] == [("images.built.build_folders.wheelhouse",
                                                       "must be a folder, relative to the matrix")]


def test_build_folders_and_source_file_belong_to_a_dockerfile_image(tmp_path):
    find(problems_of(tmp_path, doc(images=IMAGES + 'source_file = "x.py"\n')), "images.bookworm-amd64",
         "belong to a dockerfile image")


# -- package sets from a requirements file or a lock, and their checks ---------------------------

def test_a_package_set_takes_one_source_of_requirements(tmp_path):
    (tmp_path / "requirements.txt").write_text("torch\n")
    text = doc(packages='[packages.p]\nrequirements = ["torch"]\nrequirements_file = "requirements.txt"\n'
                        'modules = ["torch"]\n')
    find(problems_of(tmp_path, text), "packages.p", "takes one of requirements, requirements_file, lock",
         "(found requirements, requirements_file)")
    text = doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\nwheelhouse = "w"\n')
    find(problems_of(tmp_path, text), "packages.p.wheelhouse", "it goes with lock")
    locked(tmp_path, modules=["torch"])
    text = doc(packages='[packages.p]\nrequirements = ["torch"]\nlock = "pylock.chain.toml"\nmodules = ["torch"]\n')
    find(problems_of(tmp_path, text), "packages.p", "(found requirements, lock)")


def test_a_requirements_file_that_names_no_index_adds_its_pip_options_to_the_matrixs_variant(tmp_path):
    (tmp_path / "requirements.txt").write_text("--prefer-binary\ntorch==2.13.0\n")
    text = doc(indexes='[indexes.default]\npip_args = ["--no-cache-dir"]\n',
               packages='[packages.p]\nrequirements_file = "requirements.txt"\nmodules = ["torch"]\n')
    m = reader.load(write(tmp_path, text))
    [cell] = m.cells
    assert cell.packages.requirements == ("torch==2.13.0",) and cell.packages.source == "requirements.txt"
    assert cell.index.name == "default" and cell.index.index_url is None
    assert cell.index.pip_args == ("--no-cache-dir", "--prefer-binary")  # the variant's first, then the file's
    assert cell.packages.checks == ("torch",)  # the built-in checks of what the file installs


def test_a_requirements_file_with_its_own_index_fills_a_variant_that_names_none(tmp_path):
    (tmp_path / "requirements.txt").write_text("--index-url https://own.example/simple\n--pre\ntorch\n")
    text = doc(indexes='[indexes.default]\npip_args = ["--no-cache-dir"]\n',
               packages='[packages.p]\nrequirements_file = "requirements.txt"\nmodules = ["torch"]\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert (cell.index.name, cell.index.index_url) == ("default", "https://own.example/simple")
    assert cell.index.pip_args == ("--no-cache-dir", "--pre")


def test_a_requirements_file_conflict_is_reported_once_per_set_and_variant(tmp_path):
    (tmp_path / "requirements.txt").write_text("--index-url https://own.example/simple\n--no-index\n"
                                               "--find-links wheels\ntorch\n")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "lan").mkdir()
    text = doc(head='[matrix]\ninstallers = ["pip", "uv"]\n',
               indexes='[indexes.mirror]\nindex_url = "https://mirror.example/simple"\n'
                       'extra_index_urls = ["https://extra.example/simple"]\n'
                       '[indexes.lan]\nserve = ["lan"]\nfind_links = ["lan"]\n',
               packages='[packages.p]\nrequirements_file = "requirements.txt"\nmodules = ["torch"]\n')
    problems = problems_of(tmp_path, text)
    assert [p.key for p in problems] == ["packages.p", "packages.p"]  # one per variant, not one per cell
    mirror, lan = (p.message for p in problems)
    assert mirror == ("'requirements.txt' chooses indexes (--index-url https://own.example/simple, "
                      "--find-links wheels, --no-index), and index variant 'mirror' chooses others "
                      "(--index-url https://mirror.example/simple, --extra-index-url "
                      "https://extra.example/simple): a cell has one index variant. Drop the index options from "
                      "the file, or pair the set with an index variant that names no index (an empty "
                      "[indexes.NAME] table)")
    assert "index variant 'lan' chooses others (--find-links lan, serve lan)" in lan


def test_a_requirements_file_that_requires_nothing_or_names_a_bad_index_is_a_problem(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    (tmp_path / "odd.txt").write_text("--extra-index-url ftp://mirror/simple\ntorch\n")
    text = doc(packages='[packages.e]\nrequirements_file = "empty.txt"\nmodules = ["torch"]\n'
                        '[packages.o]\nrequirements_file = "odd.txt"\nmodules = ["torch"]\n'
                        '[packages.b]\nrequirements_file = ""\nmodules = ["torch"]\n')
    problems = problems_of(tmp_path, text)
    find(problems, "packages.e.requirements_file", "'empty.txt' requires nothing: name at least one requirement")
    find(problems, "packages.o.requirements_file (index URL 1)", "must be an http(s):// or file:// URL")
    assert len(problems) == 2, "\n".join(map(str, problems))  # an empty name is a set with nothing to run


def locked(folder: Path, *, path: str | None = "wheels", **tool: object) -> Path:
    """A PEP 751 lock of two files in `folder/wheels` (hashed from the files), written beside them."""
    from harness import pylock

    house = folder / "wheels"
    house.mkdir(parents=True, exist_ok=True)
    packages = []
    for name, version in (("torch", "2.13.0"), ("torchao", "0.18.0")):
        file = house / f"{name}-{version}-py3-none-any.whl"
        file.write_bytes(name.encode())
        packages.append(pylock.LockedPackage(name=name, version=version, file=pylock.LockedFile(
            name=file.name, sha256=hashlib.sha256(file.read_bytes()).hexdigest(),
            path=f"{path}/{file.name}" if path else None, url=None if path else f"https://x.example/{file.name}")))
    lock = folder / "pylock.chain.toml"
    lock.write_text(pylock.pylock_text(pylock.Lock(packages=tuple(packages), tool=tool)))
    return lock


def test_a_lock_replays_its_files_hash_checked_from_its_wheelhouse(tmp_path):
    locked(tmp_path / "locks", cell="img__idx__chain", verdict="import-failed", modules=["torch", "torchao"])
    text = doc(indexes='[indexes.default]\nindex_url = "https://any.example/simple"\n',
               packages='[packages.replay]\nlock = "locks/pylock.chain.toml"\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    house = str((tmp_path / "locks" / "wheels").resolve())
    assert (cell.index.name, cell.index.find_links, cell.index.no_index) == ("default", (house,), True)
    assert cell.index.index_url is None and cell.index.pip_args == ("--require-hashes", "--no-deps")
    assert cell.packages.requirements == ("torch==2.13.0", "torchao==0.18.0")
    assert cell.packages.hashes_of("torch") == ("sha256:" + hashlib.sha256(b"torch").hexdigest(),)
    assert cell.packages.modules == ("torch", "torchao") and cell.packages.source == "locks/pylock.chain.toml"
    assert (cell.packages.lock.wheelhouse, cell.packages.lock.cell) == (house, "img__idx__chain")
    assert (cell.expect, cell.expect_why) == ("import-failed", "the verdict of the locked cell img__idx__chain")


def test_a_passing_lock_expects_a_pass_and_the_sets_modules_win(tmp_path):
    locked(tmp_path, modules=["torch"])
    text = doc(packages='[packages.replay]\nlock = "pylock.chain.toml"\nmodules = ["torchao"]\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert (cell.expect, cell.expect_why) == ("pass", None)
    assert cell.packages.modules == ("torchao",) and cell.packages.lock.cell is None
    assert cell.packages.lock.verdict == "pass"


def test_a_lock_whose_files_are_elsewhere_names_its_wheelhouse(tmp_path):
    locked(tmp_path, path=None, modules=["torch"])
    (tmp_path / "mine").mkdir()
    text = doc(packages='[packages.replay]\nlock = "pylock.chain.toml"\nwheelhouse = "mine"\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert cell.index.find_links == (str((tmp_path / "mine").resolve()),)
    text = doc(packages='[packages.replay]\nlock = "pylock.chain.toml"\n')
    [problem] = problems_of(tmp_path, text)
    assert (problem.key, problem.message) == ("packages.replay.wheelhouse", (
        "missing: 'pylock.chain.toml' does not place all its files in one folder; name the folder holding them "
        "(`wheel-harness lock --wheelhouse DIR` fills one)"))
    text = doc(packages='[packages.replay]\nlock = "pylock.chain.toml"\nwheelhouse = "gone"\n')
    [problem] = problems_of(tmp_path, text)
    assert (problem.key, problem.message) == ("packages.replay.wheelhouse", (
        f"{str((tmp_path / 'gone').resolve())!r} is not a directory: fill it with "
        "`wheel-harness lock CELL --wheelhouse DIR`"))


@pytest.mark.parametrize(("tool", "key", "fragment"), [
    ({"verdict": "fine", "modules": ["torch"]}, "packages.replay.lock",
     "'pylock.chain.toml' says the locked cell's verdict was 'fine', no verdict"),
    ({}, "packages.replay.modules", "missing, and 'pylock.chain.toml' names none"),
])
def test_a_lock_that_cannot_be_replayed_is_one_problem(tmp_path, tool, key, fragment):
    locked(tmp_path, **tool)
    problems = problems_of(tmp_path, doc(packages='[packages.replay]\nlock = "pylock.chain.toml"\n'))
    find(problems, key, fragment)
    assert len(problems) == 1, "\n".join(map(str, problems))


def test_a_lock_that_does_not_read_is_a_problem_at_its_key(tmp_path):
    problems = problems_of(tmp_path, doc(packages='[packages.replay]\nlock = "absent.toml"\n'))
    assert [(p.key, p.message) for p in problems] == [("packages.replay.lock", f"{tmp_path / 'absent.toml'}: "
                                                                                "no such file")]


def test_checks_and_their_settings_reach_the_package_set(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "run.py").write_text("print('ok')\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text("def test_x():\n    pass\n")
    text = doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                        'checks = ["torchao", "checks/run.py", "tests/test_m.py::test_x"]\n'
                        'check_requires = ["numpy>=2"]\ncheck_timeout = 45\n')
    [p] = reader.load(write(tmp_path, text)).package_sets
    assert p.checks == ("torchao", str(tmp_path / "checks" / "run.py"), str(tmp_path / "tests" / "test_m.py")
                        + "::test_x")
    assert (p.check_requires, p.check_timeout) == (("numpy>=2",), 45.0)
    [p] = reader.load(write(tmp_path, doc())).package_sets
    assert p.check_timeout == DEFAULT_CHECK_TIMEOUT and p.check_requires == ()


@pytest.mark.parametrize(("lines", "key", "fragment"), [
    ('check_timeout = 0', "packages.p.check_timeout", "must be a positive number of seconds, not 0.0"),
    ('check_timeout = nan', "packages.p.check_timeout", "must be a positive number of seconds, not nan"),
    ('check_requires = ["numpy=="]', "packages.p.check_requires[0]", "'numpy==' is not a PEP 508 requirement"),
    ('checks = ["checks/run.py", "checks/run.py"]', "packages.p.checks[1]", "'checks/run.py' is listed twice"),
    ('checks = ["checks/bad.py"]', "packages.p.checks[0]", "'checks/bad.py': "),
    ('checks = ["checks/data.txt"]', "packages.p.checks[0]", "'checks/data.txt' is neither a built-in check "
     "(torch, torch.compile, torchao, torchtune) nor a Python file (a script, or a pytest file or node id like "
     "tests/test_model.py::test_x)"),
])
def test_a_check_setting_with_a_mistake_is_one_problem(tmp_path, lines, key, fragment):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "run.py").write_text("print('ok')\n")
    (tmp_path / "checks" / "data.txt").write_text("x\n")
    (tmp_path / "checks" / "bad.py").write_text("# /// script\n# dependencies = [\"no such thing\"]\n# ///\n")
    problems = problems_of(tmp_path, doc(packages=f'[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                                                  f'{lines}\n'))
    find(problems, key, fragment)
    assert len(problems) == 1, "\n".join(map(str, problems))


# -- limits, jobs and the index options a cell gets ----------------------------------------------

def test_build_jobs_of_an_include_win_over_the_matrixs(tmp_path):
    text = doc(head='[matrix]\nbuild_jobs = 4\n[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\n'
                    'packages = "other"\nbuild_jobs = 2\n',
               packages=PACKAGES + '[packages.other]\nrequirements = ["numpy"]\nmodules = ["numpy"]\n')
    cells = {c.packages.name: c.build_jobs for c in reader.load(write(tmp_path, text)).cells}
    assert cells == {"chain-latest": 4, "other": 2}
    assert [c.build_jobs for c in reader.load(write(tmp_path, doc())).cells] == [None]


@pytest.mark.parametrize("value", ["true", "0", "257", "1.5"])
def test_build_jobs_must_be_a_whole_number_from_1_to_256(tmp_path, value):
    problems = problems_of(tmp_path, doc(head=f"[matrix]\nbuild_jobs = {value}\n"))
    find(problems, "matrix.build_jobs", "is not a number of parallel build jobs between 1 and 256")
    include = ('[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
               f'build_jobs = {value}\n')
    problems = problems_of(tmp_path, doc(head=include))
    assert [p.key for p in problems] == ["matrix.include[0].build_jobs"]  # and no cell made of the include
    assert reader.load(write(tmp_path, doc(head="[matrix]\nbuild_jobs = 256\n"))).cells[0].build_jobs == 256
    assert reader.load(write(tmp_path, doc(head="[matrix]\nbuild_jobs = 1\n"))).cells[0].build_jobs == 1


def test_a_memory_limit_larger_than_any_machine_is_a_problem(tmp_path):
    find(problems_of(tmp_path, doc(head='[matrix]\nmemory = "2048T"\n')), "matrix.memory",
         "'2048T' is more than 1 PiB")
    assert reader.load(write(tmp_path, doc(head='[matrix]\nmemory = "1024T"\n'))).cells[0].memory == 1 << 50


def test_an_index_variant_keeps_its_pip_options(tmp_path):
    text = doc(indexes='[indexes.default]\npip_args = ["--pre"]\nonly_binary = true\n')
    [idx] = reader.load(write(tmp_path, text)).indexes
    assert (idx.pip_args, idx.only_binary, idx.no_index) == (("--pre",), True, False)
    [idx] = reader.load(write(tmp_path, doc())).indexes
    assert (idx.pip_args, idx.only_binary) == ((), False)


def test_a_served_wheelhouse_with_no_index_is_the_index(tmp_path):
    (tmp_path / "house").mkdir()
    text = doc(indexes='[indexes.x]\nserve = ["house"]\nno_index = true\nindex_url = "https://a.example/simple"\n')
    problems = problems_of(tmp_path, text)
    find(problems, "indexes.x.serve", "with no_index the served wheelhouse is the index: drop index_url")
    find(problems, "indexes.x.no_index", "contradicts index_url/extra_index_urls: keep one")
    assert len(problems) == 2


def test_a_cell_id_longer_than_a_file_name_allows_names_the_longest_name(tmp_path):
    image, packages = "i" * 90, "p" * 100  # each a good name; the id joins them with __default__: 201 long
    text = doc(images=f'[images.{image}]\nref = "a"\nplatform = "linux/amd64"\n',
               packages=f'[packages.{packages}]\nrequirements = ["torch"]\nmodules = ["torch"]\n')
    [problem] = problems_of(tmp_path, text)
    assert problem.key == f"packages.{packages}"
    assert problem.message == (f"makes the cell id {'i' * 40}… 201 characters long; a cell id names its result "
                               "files, at most 200: shorten the names")
    text = doc(images=f'[images.{image[1:]}]\nref = "a"\nplatform = "linux/amd64"\n',
               packages=f'[packages.{packages}]\nrequirements = ["torch"]\nmodules = ["torch"]\n')
    assert len(reader.load(write(tmp_path, text)).cells[0].id) == 200  # at most 200 is fine


@pytest.mark.parametrize(("line", "key"), [("why = 3", "why"), ("approach = 1", "approach"),
                                          ("capability = 8.7", "capability")])
def test_an_includes_words_must_be_strings(tmp_path, line, key):
    text = doc(head='[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
                    f'{line}\n')
    problems = problems_of(tmp_path, text)
    assert [(p.key, p.message) for p in problems] == [(f"matrix.include[0].{key}", "must be a string")]


# -- what a person reads: the whole message, saying what is wrong and what to do -----------------

INCLUDE = '[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "default"\npackages = "chain-latest"\n'
TABLE = '\n[tables.plan]\ncells = ["PyPI wheels"]\n'

WHOLE = [
    ("unknown-key-like-nothing", doc(head='[zzz]\n'), "zzz", "unknown key"),  # no close name: no suggestion
    ("image-lacks-cuda-twice", doc(indexes='[indexes.x]\nindex_url = "https://w.example/{cuda_major}/{cuda_nodot}"\n'),
     "indexes.x", "its URL uses {cuda_major}, {cuda_nodot}, which image 'bookworm-amd64' does not give: add "
                  'cuda = "…" to [images.bookworm-amd64], or exclude the pair'),
    ("image-name-too-long", doc(images=f'[images.{"i" * 100}]\nref = "a"\nplatform = "linux/amd64"\n',
                                packages=f'[packages.{"p" * 90}]\nrequirements = ["torch"]\nmodules = ["torch"]\n'),
     f"images.{'i' * 100}", f"makes the cell id {'i' * 40}… 201 characters long; a cell id names its result files, "
                            "at most 200: shorten the names"),
    ("installers-typo", doc(head='[matrix]\ninstallers = ["pip", "uvv"]\n'), "matrix.installers[1]",
     "'uvv' is not an installer (did you mean 'uv'?); known: pip, uv"),
    ("include-installer-typo", doc(head=INCLUDE + 'installer = "uvv"\n'), "matrix.include[0].installer",
     "'uvv' is not an installer (did you mean 'uv'?); known: pip, uv"),
    ("include-index-number",
     doc(head='[matrix]\ninclude = [{ image = "bookworm-amd64", index = 1, packages = "p" }]\n'),
     "matrix.include[0].index", "must be a string"),
    ("image-not-a-table", doc(images="[images]\nx = 3\n"), "images.x", "must be a table, not int"),
    ("images-a-list", doc(images="images = []\n"), "images", "must be a table, not list"),
    ("served-is-the-index", doc(indexes='[indexes.x]\nserve = ["."]\nno_index = true\n'
                                        'index_url = "https://a.example/simple"\n'),
     "indexes.x.serve", "with no_index the served wheelhouse is the index: drop index_url"),
    ("ref-and-dockerfile", doc(images=IMAGES + 'dockerfile = "D"\n'), "images.bookworm-amd64",
     "needs exactly one of ref, dockerfile, local_build (found ref, dockerfile)"),
    ("unknown-recipe", doc(images='[images.x]\nlocal_build = "alpine"\nplatform = "linux/amd64"\n'),
     "images.x.local_build", "unknown recipe 'alpine'; known: debian-bookworm, debian-bullseye"),
    ("matrix-name-given", doc(head='[matrix]\nname = "Smoke"\n'), "matrix.name",
     "'Smoke' must be lower-case letters, digits, '.', '_' or '-', beginning with a letter or digit, at most 100 "
     "long: it names the results folder"),
    ("image-lacks-two-fields", doc(indexes='[indexes.x]\nindex_url = "https://w.example/jp{jetpack_major}/cu{cuda}"\n'),
     "indexes.x", "its URL uses {jetpack_major}, {cuda}, which image 'bookworm-amd64' does not give: add "
                  'jetpack = "…" and cuda = "…" to [images.bookworm-amd64], or exclude the pair'),
    ("unknown-placeholder", doc(indexes='[indexes.x]\nindex_url = "https://w.example/jp{jetpak_major}"\n'),
     "indexes.x.index_url", "unknown placeholder {jetpak_major} (did you mean 'jetpack_major'?); known: {jetpack}, "
     "{jetpack_major}, {cuda}, {cuda_major}, {cuda_nodot}, {arch}, {machine}"),
    ("missing-platform", doc(images='[images.x]\nref = "a"\n'), "images.x.platform",
     "missing: say linux/amd64 or linux/arm64"),
    ("no-image-source", doc(images='[images.x]\nplatform = "linux/amd64"\n'), "images.x",
     "needs exactly one of ref, dockerfile, local_build"),
    ("build-args", doc(images=IMAGES + 'build_args = { JOBS = 4 }\n'), "images.bookworm-amd64.build_args.JOBS",
     "build arguments must be strings"),
    ("build-folders-without-dockerfile", doc(images=IMAGES + 'build_folders = { w = "w" }\n'),
     "images.bookworm-amd64", "build_folders and source_file belong to a dockerfile image"),
    ("missing-table", doc(packages=""), "packages", "missing table: a matrix declares images, indexes and packages"),
    ("declares-nothing", doc(images="images = {}\n"), "images", "declares nothing: add at least one entry"),
    ("file-named-matrix", doc(), "matrix.name",
     "'Bad' must be lower-case letters, digits, '.', '_' or '-', beginning with a letter or digit, at most 100 "
     "long: it names the results folder (the file's name is the matrix's name: rename the file, or set [matrix] "
     "name)"),
    ("no-index-contradicts", doc(indexes='[indexes.x]\nno_index = true\nindex_url = "https://a.example/simple"\n'
                                         'find_links = ["."]\n'),
     "indexes.x.no_index", "contradicts index_url/extra_index_urls: keep one"),
    ("no-index-no-wheelhouse", doc(indexes='[indexes.x]\nno_index = true\n'), "indexes.x.no_index",
     "with no index pip needs find_links or serve: name a wheelhouse directory"),
    ("prefetch-nowhere", doc(indexes='[indexes.x]\nprefetch = ["torch"]\n'), "indexes.x.prefetch",
     "needs serve or find_links: the first directory receives the downloads"),
    ("not-a-url", doc(indexes='[indexes.x]\nindex_url = "index.example.org/simple"\n'), "indexes.x.index_url",
     "must be an http(s):// or file:// URL"),
    ("modules-missing", doc(packages='[packages.p]\nrequirements = ["torch"]\n'), "packages.p.modules",
     'missing: list the modules the probe imports, e.g. ["torch"]'),
    ("modules-empty", doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = []\n'), "packages.p.modules",
     "is empty: list at least one module for the probe to import"),
    ("wheelhouse-without-lock", doc(packages=PACKAGES + 'wheelhouse = "w"\n'), "packages.chain-latest.wheelhouse",
     "names where a lock's files are: it goes with lock"),
    ("include-incomplete", doc(head='[matrix]\ninclude = [{ image = "bookworm-amd64", index = "default" }]\n'),
     "matrix.include[0].packages", "missing: an included cell names image, index and packages"),
    ("include-why-number", doc(head=INCLUDE + "why = 3\n"), "matrix.include[0].why", "must be a string"),
    ("approach-empty", doc(head=INCLUDE + 'approach = " "\n'), "matrix.include[0].approach",
     'is empty: name the approach, e.g. "Jetson wheels"'),
    ("exclude-empty", doc(head='[matrix]\nexclude = [{}]\n'), "matrix.exclude[0]",
     "empty: name at least one of image, index, packages"),
    ("no-cells", doc(head='[matrix]\nimages = []\n'), "matrix",
     "expands to no cells: check images/indexes/packages and exclude"),
    ("approach-twice", doc(head=INCLUDE + 'approach = "A"\n' + INCLUDE + 'installer = "uv"\napproach = "A"\n'),
     "matrix.include[1].approach",
     "'A' already names cell bookworm-amd64__default__chain-latest: give each approach its own name"),
    ("columns-missing", doc(head=APPROACH) + TABLE, "tables.plan.columns",
     'missing: list the columns, e.g. ["approach", { value = "build", header = "Build Time" }]'),
    ("columns-empty", doc(head=APPROACH) + TABLE + "columns = []\n", "tables.plan.columns",
     "must be a non-empty list of column names or { value = …, header = … } tables"),
    ("column-without-value", doc(head=APPROACH) + TABLE + 'columns = [{ header = "Run" }]\n',
     "tables.plan.columns[0].value", 'missing: name what the column shows, e.g. "run"'),
    ("column-header-pipe", doc(head=APPROACH) + TABLE + 'columns = [{ value = "run", header = "a|b" }]\n',
     "tables.plan.columns[0].header", "must be a non-empty string without '|'"),
    ("elsewhere-no-reason", doc(head=APPROACH) + TABLE + 'columns = ["approach"]\n[tables.plan.elsewhere]\nB = 1\n',
     "tables.plan.elsewhere.B", "must say why the approach is not run here, as a string"),
    ("elsewhere-not-a-row", doc(head=APPROACH) + TABLE + 'columns = ["approach"]\n[tables.plan.elsewhere]\n'
                                                         'B = "on a Jetson"\n',
     "tables.plan.elsewhere.B", "'B' is not in tables.plan.cells: name it there, where its row belongs"),
]


@pytest.mark.parametrize(("text", "key", "message"), [w[1:] for w in WHOLE], ids=[w[0] for w in WHOLE])
def test_a_problems_whole_message_says_what_is_wrong_and_what_to_do(tmp_path, text, key, message):
    path = write(tmp_path, text, "Bad.toml" if key == "matrix.name" else "m.toml")
    assert message in [p.message for p in reader.validate(path) if p.key == key], "\n".join(
        map(str, reader.validate(path)))


def test_the_limits_bounds_are_inclusive(tmp_path):
    head = '[matrix]\nmemory = "128M"\nprocesses = 32\n'
    [cell] = reader.load(write(tmp_path, doc(head=head))).cells
    assert (cell.memory, cell.processes) == (128 << 20, 32)
    [cell] = reader.load(write(tmp_path, doc(head='[matrix]\nprocesses = 4194304\n'))).cells
    assert cell.processes == 4194304


def test_every_check_entry_is_checked_after_a_bad_one(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "run.py").write_text("print('ok')\n")
    (tmp_path / "checks" / "data.txt").write_text("x\n")
    (tmp_path / "checks" / "bad.py").write_text("# /// script\n# dependencies = [\"no such thing\"]\n# ///\n")
    entries = ('"torch", "torch", "checks/gone.py", "checks/data.txt", "checks/bad.py", "checks/run.py", '
               '"checks/run.py", "torchoa"')
    problems = problems_of(tmp_path, doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                                                  f'checks = [{entries}]\n'))
    assert [(p.key, p.message.split(" ")[0]) for p in problems] == [
        ("packages.p.checks[1]", "'torch'"), ("packages.p.checks[2]", "'checks/gone.py'"),
        ("packages.p.checks[3]", "'checks/data.txt'"), ("packages.p.checks[4]", "'checks/bad.py':"),
        ("packages.p.checks[6]", "'checks/run.py'"), ("packages.p.checks[7]", "'torchoa'")]
    assert problems[0].message == "'torch' is listed twice"
    assert problems[1].message == f"'checks/gone.py' is not a file (relative to {tmp_path})"
    assert problems[4].message == "'checks/run.py' is listed twice"


def test_a_lock_that_is_not_a_file_name_is_a_problem_at_its_key(tmp_path):
    problems = problems_of(tmp_path, doc(packages='[packages.replay]\nlock = 3\nmodules = ["torch"]\n'))
    assert [(p.key, p.message) for p in problems] == [("packages.replay.lock", "must be a str, not int 3")]


def test_a_lock_whose_files_lie_in_two_folders_names_its_wheelhouse(tmp_path):
    from harness import pylock

    files = []
    for folder, name in (("a", "torch-2.13.0-py3-none-any.whl"), ("b", "numpy-2.3.0-py3-none-any.whl")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(b"x")
        files.append(pylock.LockedPackage(name=name.split("-")[0], version=name.split("-")[1], file=pylock.LockedFile(
            name=name, sha256=hashlib.sha256(b"x").hexdigest(), path=f"{folder}/{name}")))
    (tmp_path / "pylock.two.toml").write_text(pylock.pylock_text(pylock.Lock(packages=tuple(files))))
    problems = problems_of(tmp_path, doc(packages='[packages.replay]\nlock = "pylock.two.toml"\nmodules = ["x"]\n'))
    assert [p.key for p in problems] == ["packages.replay.wheelhouse"]
    assert problems[0].message.startswith("missing: 'pylock.two.toml' does not place all its files in one folder")
    problems = problems_of(tmp_path, doc(packages='[packages.replay]\nlock = "pylock.two.toml"\nmodules = ["x"]\n'
                                                  'wheelhouse = 3\n'))
    assert (problems[0].key, problems[0].message) == ("packages.replay.wheelhouse", "must be a str, not int 3")


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), (0, None), ("1024", 1024), (" 2k ", 2048), ("9" * 400, None),  # 400 digits: no size, not a crash
])
def test_a_size_is_a_positive_number_of_bytes_with_an_optional_unit(value, expected):
    assert reader.parse_size(value) == expected


def test_a_replayed_lock_is_named_in_the_cells_record(tmp_path):
    locked(tmp_path / "locks", verdict="import-failed", modules=["torch"])  # no cell named in the lock
    text = doc(packages='[packages.replay]\nlock = "locks/pylock.chain.toml"\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert cell.expect_why == "the verdict of the locked cell locks/pylock.chain.toml"
    assert cell.to_json()["packages"]["lock"] == {"path": "locks/pylock.chain.toml", "cell": None,
                                                  "verdict": "import-failed"}


def test_a_requirements_files_own_problems_are_at_its_key_by_file_and_line(tmp_path):
    (tmp_path / "bad.txt").write_text("--index-url ftp://mirror/simple\n--extra-index-url https://\n"
                                      "torch=2.0\n")
    text = doc(packages='[packages.p]\nrequirements_file = "bad.txt"\nmodules = ["torch"]\n'
                        '[packages.q]\nrequirements_file = 3\nmodules = ["torch"]\n')
    problems = problems_of(tmp_path, text)
    assert [p.key for p in problems] == ["packages.p.requirements_file", "packages.p.requirements_file (index URL 1)",
                                         "packages.p.requirements_file (index URL 2)", "packages.q.requirements_file"]
    assert problems[0].message.startswith(f"{tmp_path / 'bad.txt'}:3: 'torch=2.0' is not a requirement")
    assert problems[1].message == problems[2].message == "must be an http(s):// or file:// URL"
    assert problems[3].message == "must be a str, not int 3"


def test_a_requirements_file_brings_its_constraints_hashes_and_extra_index(tmp_path):
    (tmp_path / "constraints.txt").write_text("numpy<2\n")
    (tmp_path / "requirements.txt").write_text("-c constraints.txt\n--extra-index-url https://extra.example/simple\n"
                                               f"torch==2.13.0 --hash=sha256:{'b' * 64}\n")
    text = doc(packages='[packages.p]\nrequirements_file = "requirements.txt"\nmodules = ["torch"]\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert cell.index.extra_index_urls == ("https://extra.example/simple",) and cell.index.name == "default"
    assert cell.packages.constraints == ("numpy<2",)
    assert cell.packages.hashes == (("torch", (f"sha256:{'b' * 64}",)),)


def test_a_bad_requirement_quotes_the_first_line_of_packagings_explanation(tmp_path):
    from packaging.requirements import InvalidRequirement, Requirement

    with pytest.raises(InvalidRequirement) as said:
        Requirement("torch>=2,<")
    explanation = str(said.value).splitlines()
    assert len(explanation) > 1  # packaging's message goes on with the text and a caret under it
    text = doc(packages='[packages.p]\nrequirements = ["torch>=2,<"]\nmodules = ["torch"]\n')
    [problem] = problems_of(tmp_path, text)
    assert problem.message == f"'torch>=2,<' is not a PEP 508 requirement: {explanation[0]}"


def test_an_operator_without_a_version_is_refused_even_where_packaging_lets_it_through(tmp_path, monkeypatch):
    """packaging 23 (pyproject allows it) parses `torch===` as `===` with an empty version; 26 refuses it."""
    from types import SimpleNamespace

    from packaging.requirements import Requirement

    def older_packaging(text: str):
        if text == "torch===":
            return SimpleNamespace(name="torch", specifier=[SimpleNamespace(operator="===", version="")])
        return Requirement(text)

    monkeypatch.setattr(reader, "Requirement", older_packaging)
    text = doc(packages='[packages.p]\nrequirements = ["torch==="]\nmodules = ["torch"]\n')
    problems = problems_of(tmp_path, text)
    assert [(p.key, p.message) for p in problems] == [
        ("packages.p.requirements[0]", "'torch===' is not a PEP 508 requirement: a version operator without a version")]


def test_an_include_may_expect_a_cpu_build_of_torch(tmp_path):
    text = doc(head=INCLUDE + 'torch_build = "cpu"\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert (cell.cuda.torch_build, cell.cuda.version, cell.cuda.capability) == ("cpu", None, None)
    assert reader.load(write(tmp_path, doc(head=INCLUDE))).cells[0].cuda is None  # nothing expected: no check


def test_plain_http_and_file_urls_are_index_urls(tmp_path):
    text = doc(indexes='[indexes.lan]\nindex_url = "http://pi.lan:8080/simple"\nextra_index_urls = ["file:///srv/simple"]\n')
    [idx] = reader.load(write(tmp_path, text)).indexes
    assert (idx.index_url, idx.extra_index_urls) == ("http://pi.lan:8080/simple", ("file:///srv/simple",))


def test_every_selector_is_checked_after_one_that_is_not_a_table(tmp_path):
    problems = problems_of(tmp_path, doc(head='[matrix]\nexclude = ["bookworm-*", { packages = "nope-*" }]\n'))
    assert [(p.key, p.message) for p in problems] == [
        ("matrix.exclude[0]", 'must be a table like { image = "…" }, not str'),
        ("matrix.exclude[1].packages", "'nope-*' matches no declared name")]


def test_an_include_with_a_mistake_adds_no_cell_and_so_no_follow_on_problem(tmp_path):
    """The include's cell is dropped: its approach name cannot then clash with another include's."""
    for line in ("build_jobs = 0", 'memory = "1M"', "processes = 1", 'expect = "nope"', "why = 3",
                 'torch_build = "gpu"', 'capability = "sm_87"', 'installer = "poetry"'):
        text = doc(head=INCLUDE + f'approach = "A"\n{line}\n' + INCLUDE + 'installer = "uv"\napproach = "A"\n')
        assert [p.key.rsplit(".", 1)[-1] for p in problems_of(tmp_path, text)] == [line.split(" ")[0]]
    text = doc(head=INCLUDE + 'approach = " "\n' + INCLUDE + 'installer = "uv"\napproach = " "\n')
    assert [p.key for p in problems_of(tmp_path, text)] == ["matrix.include[0].approach", "matrix.include[1].approach"]


@pytest.mark.parametrize(("image", "key"), [
    ('ref = "a"\nplatform = "linux/riscv64"\n', "images.x.platform"),
    ('ref = "a"\n', "images.x.platform"),
    ('ref = "a"\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n', "images.x"),
    ('platform = "linux/amd64"\n', "images.x"),
])
def test_an_image_with_a_mistake_makes_no_cell_and_so_no_follow_on_problem(tmp_path, image, key):
    """Its cells are not made: the index's template is not then checked against an image that is not there."""
    text = doc(images=f"[images.x]\n{image}",
               indexes='[indexes.jetson]\nindex_url = "https://w.example/jp{jetpack_major}/{arch}"\n')
    assert [p.key for p in problems_of(tmp_path, text)] == [key]


def test_every_column_and_row_of_a_table_is_checked_after_a_bad_one(tmp_path):
    tables = ('\n[tables.plan]\ncells = ["Jetson wheels", "PyPI wheel", "PyPI wheels"]\n'
              'columns = [3, { header = "Run" }, "bulid", { value = "run", header = "a|b" }, "nope", "approach"]\n'
              '[tables.plan.elsewhere]\n"Jetson wheels" = "needs a Jetson"\n')
    problems = problems_of(tmp_path, doc(head=APPROACH) + tables)
    assert [p.key for p in problems] == ["tables.plan.cells[1]", "tables.plan.columns[0]",
                                         "tables.plan.columns[1].value", "tables.plan.columns[2].value",
                                         "tables.plan.columns[3].header", "tables.plan.columns[4].value"]
    assert problems[1].message == ('must be a column name or a table like { value = "run", header = "Run Time" }, '
                                   "not int")


def test_a_check_timeout_under_a_second_is_a_timeout(tmp_path):
    text = doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\ncheck_timeout = 0.5\n')
    assert reader.load(write(tmp_path, text)).package_sets[0].check_timeout == 0.5


def test_install_attempts_are_a_whole_number(good_dir):
    [retry] = {c.retry for c in load_good(good_dir, "[matrix]\ninstall_attempts = 4\n").cells}
    assert retry.attempts == 4 and isinstance(retry.attempts, int)
    problems = problems_of(good_dir, "[matrix]\ninstall_attempts = 11\n" + GOOD)
    assert [p.message for p in problems] == ["must be between 1 and 10, not 11"]


def test_a_badly_named_entry_does_not_hide_the_entries_after_it(tmp_path):
    text = doc(images='[images.Bad]\nref = "a"\nplatform = "linux/amd64"\n' + IMAGES)
    problems = problems_of(tmp_path, text)
    assert [p.key for p in problems] == ["images.Bad"]


def test_a_requirements_file_with_only_a_wheelhouse_makes_the_cell_install_from_it_alone(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "requirements.txt").write_text("--no-index\n--find-links wheels\ntorch\n")
    text = doc(packages='[packages.p]\nrequirements_file = "requirements.txt"\nmodules = ["torch"]\n')
    [cell] = reader.load(write(tmp_path, text)).cells
    assert (cell.index.find_links, cell.index.no_index) == ((str((tmp_path / "wheels").resolve()),), True)


def test_a_table_without_a_cells_list_keeps_its_elsewhere_rows(tmp_path):
    tables = ('\n[tables.plan]\ncolumns = ["approach"]\n[tables.plan.elsewhere]\n"Jetson wheels" = "needs a Jetson"\n')
    [spec] = reader.load(write(tmp_path, doc(head=APPROACH) + tables)).tables
    assert spec.elsewhere == (("Jetson wheels", "needs a Jetson"),)


@pytest.mark.parametrize(("head", "tables", "problems"), [
    ("", '[tables.Plan]\ncolumns = ["approach"]\n', [
        ("tables.Plan", "name must be lower-case letters, digits, '.', '_' or '-', beginning with a letter or digit, "
                        "at most 100 long: it becomes part of file names"),
        ("tables", "declares nothing: add at least one entry")]),
    ("tables = {}\n", "", [("tables", "declares nothing: add at least one entry")]),
    ("", '[tables.plan]\ntitle = 3\ncolumns = ["approach"]\n', [("tables.plan.title", "must be a str, not int 3")]),
    ("", '[tables.plan]\ncells = "all"\ncolumns = ["approach"]\n',
     [("tables.plan.cells", "must be a list, not str 'all'")]),
    ("", '[tables.plan]\nelsewhere = "no"\ncolumns = ["approach"]\n',
     [("tables.plan.elsewhere", "must be a dict, not str 'no'")]),
])
def test_a_tables_name_and_keys_are_checked_where_they_are(tmp_path, head, tables, problems):
    got = problems_of(tmp_path, doc(head=head + APPROACH) + "\n" + tables)
    assert [(p.key, p.message) for p in got] == problems


WRONG_TYPES = [
    *((f"images.bookworm-amd64.{name}", doc(images=IMAGES.replace(f"\n{name} =", f"\nold_{name} =") + line), message)
      for name, line, message in [
          ("ref", "ref = 1\n", "must be a str, not int 1"),
          ("dockerfile", "dockerfile = 1\n", "must be a str, not int 1"),
          ("local_build", "local_build = 1\n", "must be a str, not int 1"),
          ("platform", "platform = 1\n", "must be a str, not int 1"),
          ("build_args", 'build_args = "x"\n', "must be a dict, not str 'x'"),
          ("python", "python = 3\n", "must be a str, not int 3"),
          ("jetpack", "jetpack = 6\n", "must be a str, not int 6"),
          ("cuda", "cuda = 12.6\n", "must be a str, not float 12.6"),
          ("python_version", "python_version = 3\n", "must be a str, not int 3"),
          ("glibc", "glibc = 2\n", "must be a str, not int 2"),
          ("build_folders", 'build_folders = "x"\n', "must be a dict, not str 'x'"),
          ("source_file", "source_file = 1\n", "must be a str, not int 1"),
      ]),
    *((f"indexes.default.{name}", doc(indexes=INDEXES + line), message) for name, line, message in [
        ("index_url", "index_url = 1\n", "must be a str, not int 1"),
        ("extra_index_urls", 'extra_index_urls = "x"\n', "must be a list, not str 'x'"),
        ("find_links", 'find_links = "x"\n', "must be a list, not str 'x'"),
        ("serve", 'serve = "x"\n', "must be a list, not str 'x'"),
        ("prefetch", 'prefetch = "x"\n', "must be a list, not str 'x'"),
        ("pip_args", 'pip_args = "x"\n', "must be a list, not str 'x'"),
        ("only_binary", 'only_binary = "x"\n', "must be a bool, not str 'x'"),
    ]),
    *((f"packages.chain-latest.{name}", doc(packages=PACKAGES + line), message) for name, line, message in [
        ("checks", 'checks = "x"\n', "must be a list, not str 'x'"),
        ("check_requires", 'check_requires = "x"\n', "must be a list, not str 'x'"),
        ("check_timeout", 'check_timeout = "x"\n', "must be a float, not str 'x'"),
    ]),
    ("packages.p.modules", doc(packages='[packages.p]\nrequirements = ["torch"]\nmodules = "torch"\n'),
     "must be a list, not str 'torch'"),
    *((f"matrix.{name}", doc(head=f"[matrix]\n{line}"), message) for name, line, message in [
        ("name", "name = 1\n", "must be a str, not int 1"),
        ("install_attempts", 'install_attempts = "x"\n', "must be a int, not str 'x'"),
        ("retry_backoff", 'retry_backoff = "x"\n', "must be a float, not str 'x'"),
        ("installers", 'installers = "pip"\n', "must be a list, not str 'pip'"),
        ("exclude", 'exclude = "x"\n', "must be a list, not str 'x'"),
        ("include", 'include = "x"\n', "must be a list, not str 'x'"),
        ("images", 'images = "x"\n', "must be a list, not str 'x'"),
        ("packages", 'packages = "x"\n', "must be a list, not str 'x'"),
    ]),
]


@pytest.mark.parametrize(("key", "text", "message"), WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_a_problem_at_its_own_key(tmp_path, key, text, message):
    problems = problems_of(tmp_path, text)
    assert (key, message) in [(p.key, p.message) for p in problems], "\n".join(map(str, problems))


def test_an_unknown_column_lists_the_known_ones_and_a_blank_header_is_refused(tmp_path):
    tables = '\n[tables.plan]\ncolumns = ["bulid", { value = "run", header = " " }]\n'
    problems = problems_of(tmp_path, doc(head=APPROACH) + tables)
    assert [p.key for p in problems] == ["tables.plan.columns[0].value", "tables.plan.columns[1].header"]
    assert problems[0].message.startswith("unknown column 'bulid' (did you mean 'build'?); known: approach, cell, "
                                          "image, index, packages, installer, build")


def test_only_a_prefetching_index_fills_a_build_folder_before_the_build(recipe_dir):
    image = RECIPE_IMAGE + 'build_folders = { wheelhouse = "later" }\n'
    links = '[indexes.house]\nfind_links = ["later"]\n'  # no prefetch: nothing will fill it
    problems = problems_of(recipe_dir, doc(images=image, indexes=INDEXES + links))
    assert [p.key for p in problems] == ["indexes.house.find_links[0]", "images.built.build_folders.wheelhouse"]


def test_an_unknown_expected_verdict_lists_the_known_ones(tmp_path):
    [problem] = problems_of(tmp_path, doc(head=INCLUDE + 'expect = "import-fail"\n'))
    assert problem.message.startswith("'import-fail' is not a verdict (did you mean 'import-failed'?); known: pass, "
                                      "degraded, check-failed")


# --- mutation survivors: rr ---

@pytest.mark.parametrize("section", ["images", "indexes", "packages"])
def test_a_missing_section_is_said_to_be_missing_not_to_be_of_a_wrong_type(tmp_path, section):
    """A section left out is reported as missing (and empty); the file holds no value there of any type."""
    problems = problems_of(tmp_path, doc(**{section: ""}))
    find(problems, section, "missing table")
    said = [p.message for p in problems if p.key == section]
    assert not [m for m in said if "must be a table" in m or "NoneType" in m], "\n".join(map(str, problems))


def test_a_file_that_cannot_be_read_is_named_in_the_problem(tmp_path):
    """A path that is no readable file (here a directory): the problem names that path, as every other does."""
    folder = tmp_path / "matrices.toml"
    folder.mkdir()
    [problem] = reader.validate(folder)
    assert problem.file == str(folder) and "cannot read" in problem.message
    assert str(problem).startswith(f"{folder}: ")


def test_a_cell_id_too_long_because_of_the_index_names_the_index(tmp_path):
    """When the index variant's name is the longest of the three, the problem sits at indexes.NAME: the name
    to shorten."""
    index, image = "x" * 100, "i" * 90  # with chain-latest: an id of 206 characters, the index's name the longest
    text = doc(images=f'[images.{image}]\nref = "a"\nplatform = "linux/amd64"\n', indexes=f"[indexes.{index}]\n")
    [problem] = problems_of(tmp_path, text)
    assert problem.key == f"indexes.{index}"
    assert "characters long" in problem.message and "shorten the names" in problem.message
