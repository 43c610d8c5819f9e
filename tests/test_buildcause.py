"""harness.verdicts.buildcause: what a failed source build says went wrong, and what that shows the image
lacks. First on the real cell logs of failed builds (tests/data/logs/build-cause.*.log and
source-build.build.log, recorded by test_verdicts_docker.py), then on the causes its docstring lists,
each planted into the real pg log's pip framing in place of that build's own words."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.verdicts import buildcause
from harness.verdicts.buildcause import BuildCause

LOGS = Path(__file__).parent / "data" / "logs"
CUDA_TOOLKIT = "use an image with the CUDA toolkit (a CUDA -devel image; on Jetson, JetPack's CUDA)"
BUILD_ESSENTIAL = "add build-essential (Debian/Ubuntu) to the image"


def log(name: str) -> str:
    return (LOGS / name).read_text()


def pip_failure(*said: str) -> str:
    """The recorded pg log with the build's own lines (between pip's `╰─> [17 lines of output]` and
    `[end of output]`) replaced by `said`."""
    text = log("build-cause.pg.log").splitlines()
    start = next(i for i, line in enumerate(text) if "lines of output]" in line)
    end = next(i for i, line in enumerate(text) if "[end of output]" in line)
    return "\n".join([*text[:start + 1], *(f"      {line}" for line in said), *text[end:]])


# --- the recorded failures ------------------------------------------------------------------------------

def test_the_build_output_is_what_pip_quotes_between_its_markers():
    lines = buildcause.build_output(log("build-cause.pg.log"))
    assert lines[0] == "Error: pg_config executable not found."  # the blank first line is dropped
    assert lines[-1] == "<https://www.psycopg.org/docs/install.html>)."  # the last line before pip's marker
    assert len(lines) == 10  # 17 lines of output, 7 of them blank
    assert "error: metadata-generation-failed" not in lines  # pip's own words are not the build's
    assert all(line == line.strip() for line in lines)


def test_the_postgres_build_names_pg_config_and_the_binary_package_its_message_offers():
    found = buildcause.cause(log("build-cause.pg.log"))
    assert found == BuildCause(
        lines=("Error: pg_config executable not found.",
               "pg_config is required to build needspg from source.",  # the sentence, not the advice after it
               "If you prefer to avoid building needspg from source, please install the PyPI 'needspg-binary' "
               "package instead."),
        lacks="pg_config (PostgreSQL's client library, libpq)", remedy="add libpq-dev to the image",
        prebuilt="needspg-binary", stated=True)


def test_a_c_extension_without_a_compiler_names_the_cross_compiler_it_tried():
    found = buildcause.cause(log("build-cause.cext.log"))
    assert found == BuildCause(lines=("error: command 'x86_64-linux-gnu-gcc' failed: No such file or directory",),
                               lacks="a C compiler (x86_64-linux-gnu-gcc)", remedy=BUILD_ESSENTIAL, stated=True)


def test_a_build_that_runs_nvcc_names_cudas_compiler_from_the_exception_not_the_traceback():
    found = buildcause.cause(log("build-cause.nvcc.log"))
    assert found == BuildCause(lines=("FileNotFoundError: [Errno 2] No such file or directory: 'nvcc'",),
                               lacks="CUDA's compiler nvcc", remedy=CUDA_TOOLKIT + " or set CUDA_HOME to it",
                               stated=True)


def test_a_traceback_source_line_is_not_quoted_beside_the_exception_it_raises():
    """The raise is on the frame's source line and again in the exception line: quoted once."""
    text = log("source-build.build.log")
    assert "raise RuntimeError('nvcc not found: set CUDA_HOME to build the CUDA extension')" in text
    found = buildcause.cause(text)
    assert found.lines == ("RuntimeError: nvcc not found: set CUDA_HOME to build the CUDA extension",)
    assert (found.lacks, found.stated) == ("CUDA's compiler nvcc", True)


def test_a_build_that_states_no_known_cause_gives_its_last_error_line():
    found = buildcause.cause(log("build-cause.odd.log"))
    assert found == BuildCause(lines=("ValueError: EDGE_MODE must be 'fast' or 'small', not ''",))
    assert not found.stated and found.lacks is None and found.prebuilt is None


def test_a_build_that_prints_no_error_line_gives_nothing():
    assert buildcause.cause(pip_failure("running build_ext", "building 'x' extension")) == BuildCause()
    assert buildcause.cause("") == BuildCause()


def test_the_last_of_several_error_lines_is_the_one_given():
    found = buildcause.cause(pip_failure("error: first thing", "KeyError: 'EDGE_MODE'", "running clean"))
    assert found.lines == ("KeyError: 'EDGE_MODE'",)


# --- where the build's own lines are -----------------------------------------------------------------

def test_older_pips_complete_output_block_is_the_builds_output():
    text = ("    Complete output (3 lines):\n    running egg_info\n    Error: pg_config executable not found.\n"
            "    " + "-" * 40 + "\nERROR: Command errored out with exit status 1: python setup.py egg_info\n")
    assert buildcause.build_output(text) == ["running egg_info", "Error: pg_config executable not found."]


def test_uvs_stderr_block_is_the_builds_output():
    text = ("  × Failed to build `needspg @ file:///links/needspg-1.0.tar.gz`\n"
            "  ├─▶ The build backend returned an error\n"
            "  ╰─▶ Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)\n\n"
            "      [stderr]\n"
            "      Error: pg_config executable not found.\n\n"
            "      hint: This usually indicates a problem with the package or the build environment.\n"
            "  help: `needspg` was included because you required it\n")
    assert buildcause.build_output(text) == ["Error: pg_config executable not found."]
    assert buildcause.cause(text).lacks == "pg_config (PostgreSQL's client library, libpq)"


def test_several_quoted_blocks_are_all_the_builds_output():
    text = pip_failure("error: first build") + "\n" + pip_failure("error: second build")
    assert buildcause.build_output(text) == ["error: first build", "error: second build"]


def test_output_that_quotes_nothing_is_read_whole():
    text = "  Building wheel for x\n\n  error: command 'gcc' failed: No such file or directory\n"
    assert buildcause.build_output(text) == ["Building wheel for x", "error: command 'gcc' failed: No such file or "
                                                                     "directory"]
    assert buildcause.cause(text).lacks == "a C compiler (gcc)"


# --- what a line shows the image lacks ---------------------------------------------------------------

@pytest.mark.parametrize(("line", "lacks", "remedy"), [
    ("error: command 'gcc' failed: No such file or directory", "a C compiler (gcc)", BUILD_ESSENTIAL),
    ("error: command '/usr/bin/cc' failed: No such file or directory", "a C compiler (cc)", BUILD_ESSENTIAL),
    ("unable to execute 'clang': No such file or directory", "a C compiler (clang)", BUILD_ESSENTIAL),
    ("error: command 'aarch64-linux-gnu-cc' failed: No such file or directory", "a C compiler (aarch64-linux-gnu-cc)",
     BUILD_ESSENTIAL),
    ("error: command 'g++' failed: No such file or directory", "a C++ compiler (g++)", BUILD_ESSENTIAL),
    ("error: command '/usr/bin/c++' failed: No such file or directory", "a C++ compiler (c++)", BUILD_ESSENTIAL),
    ("unable to execute 'clang++': No such file or directory", "a C++ compiler (clang++)", BUILD_ESSENTIAL),
    ("error: command 'x86_64-linux-gnu-g++' failed: No such file or directory", "a C++ compiler (x86_64-linux-gnu-g++)",
     BUILD_ESSENTIAL),
    ("error: command 'aarch64-linux-gnu-c++' failed: No such file or directory",
     "a C++ compiler (aarch64-linux-gnu-c++)", BUILD_ESSENTIAL),
    ("FileNotFoundError: [Errno 2] No such file or directory: '/usr/local/cuda/bin/nvcc'", "CUDA's compiler nvcc",
     CUDA_TOOLKIT + " or set CUDA_HOME to it"),
    ("OSError: CUDA_HOME environment variable is not set. Please set it to your CUDA install root.",
     "CUDA's compiler nvcc (CUDA_HOME is not set)", CUDA_TOOLKIT + " or set CUDA_HOME to it"),
    ("Error: mysql_config executable not found.", "mysql_config (the MySQL client library)",
     "add default-libmysqlclient-dev to the image"),
    ("error: can't find Rust compiler", "a Rust compiler", "add cargo and rustc (or rustup) to the image"),
    ("/bin/sh: 1: cargo: not found", "a Rust toolchain (cargo)", "add cargo and rustc (or rustup) to the image"),
    ("sh: 1: rustc: not found", "a Rust compiler (rustc)", "add cargo and rustc (or rustup) to the image"),
    ("/bin/sh: cmake: command not found", "cmake", "add cmake to the image"),
    ("ninja: not found", "ninja", "add ninja-build to the image"),
    ("RuntimeError: pkg-config was not found", "pkg-config", "add pkg-config to the image"),
    ("FileNotFoundError: [Errno 2] No such file or directory: 'make'", "make", "add build-essential to the image"),
    ("error: gfortran not found", "a Fortran compiler (gfortran)", "add gfortran to the image"),
    ("swig is required to build edgeops from source", "swig", "install swig in the image"),
    ("RuntimeError: meson executable not found", "meson", "install meson in the image"),
])
def test_a_program_the_build_could_not_run_is_what_the_image_lacks(line, lacks, remedy):
    found = buildcause.cause(pip_failure("running build_ext", line))
    assert (found.lacks, found.remedy, found.stated) == (lacks, remedy, True)
    assert found.lines and found.lines[0] in line


@pytest.mark.parametrize(("line", "lacks", "remedy"), [
    ("src/ext.c:1:10: fatal error: Python.h: No such file or directory", "the header Python.h",
     "add python3-dev to the image"),
    ("fastops.c:2:10: fatal error: 'ffi.h' file not found", "the header ffi.h", "add libffi-dev to the image"),
    ("fatal error: openssl/ssl.h: No such file or directory", "the header openssl/ssl.h",
     "add libssl-dev to the image"),
    ("fatal error: cuda_runtime.h: No such file or directory", "CUDA's header cuda_runtime.h", CUDA_TOOLKIT),
    ("fatal error: cuda/include/cublas_v2.h: No such file or directory", "CUDA's header cuda/include/cublas_v2.h",
     CUDA_TOOLKIT),
    ("fatal error: edge/ops.hpp: No such file or directory", "the header edge/ops.hpp",
     "add the -dev package that ships it (`apt-file search edge/ops.hpp` names it)"),
])
def test_a_missing_header_names_the_package_that_ships_it(line, lacks, remedy):
    found = buildcause.cause(pip_failure("gcc -c src/ext.c", line, "compilation terminated."))
    assert found == BuildCause(lines=(line,), lacks=lacks, remedy=remedy, stated=True)


@pytest.mark.parametrize("line", ["-- No CMAKE_CXX_COMPILER could be found.",
                                  "configure: error: C compiler cannot create executables",
                                  "RuntimeError: Could not find a working C++ compiler"])
def test_a_build_system_that_found_no_compiler_names_one(line):
    found = buildcause.cause(pip_failure(line))
    assert found == BuildCause(lines=(line,), lacks="a C or C++ compiler", remedy=BUILD_ESSENTIAL, stated=True)


def test_a_missing_file_that_is_no_program_is_quoted_without_naming_a_lack():
    line = "FileNotFoundError: [Errno 2] No such file or directory: 'requirements.txt'"
    assert buildcause.cause(pip_failure(line)) == BuildCause(lines=(line,), stated=True)


# --- which lines are quoted ----------------------------------------------------------------------------

def test_the_first_cause_decides_what_the_image_lacks_and_every_cause_is_quoted_in_order():
    said = ("fatal error: zlib.h: No such file or directory", "error: command 'gcc' failed: No such file or directory")
    found = buildcause.cause(pip_failure(*said))
    assert found.lines == said
    assert (found.lacks, found.remedy) == ("the header zlib.h", "add zlib1g-dev to the image")


def test_a_missing_file_before_the_cause_does_not_hide_what_the_image_lacks():
    said = ("No such file or directory: 'setup.cfg'", "Error: pg_config executable not found.")
    found = buildcause.cause(pip_failure(*said))
    assert found.lines == said and found.lacks == "pg_config (PostgreSQL's client library, libpq)"


def test_at_most_three_causes_are_quoted_each_once():
    said = [f"fatal error: {h}: No such file or directory" for h in ("png.h", "png.h", "yaml.h", "lzma.h", "bzlib.h")]
    found = buildcause.cause(pip_failure(*said))
    assert found.lines == tuple(said[i] for i in (0, 2, 3))
    assert found.lacks == "the header png.h"


def test_the_prebuilt_alternative_takes_the_last_of_the_three_places():
    said = [f"fatal error: {h}: No such file or directory" for h in ("png.h", "yaml.h", "lzma.h")]
    found = buildcause.cause(pip_failure(*said, "compilation terminated.",
                                         "Or use the `edgeops-bin` wheel instead. Thanks."))
    assert found.lines == (*said[:2], "Or use the `edgeops-bin` wheel instead.")
    assert (found.prebuilt, found.lacks) == ("edgeops-bin", "the header png.h")


def test_a_prebuilt_alternative_alone_is_a_stated_cause_without_a_lack():
    found = buildcause.cause(pip_failure("This build needs a GPU.", "Please install edgeops-cpu instead"))
    assert found == BuildCause(lines=("Please install edgeops-cpu instead",),  # its sentence, over the lines
                               prebuilt="edgeops-cpu", stated=True)


def test_a_cause_is_the_sentence_that_names_it_not_the_advice_around_it():
    line = "Build failed. cmake is required to build edgeops from source. See the docs. Thank you."
    found = buildcause.cause(pip_failure(line))
    assert found.lines == ("cmake is required to build edgeops from source.",)
    last = "Build failed. cmake executable not found"
    assert buildcause.cause(pip_failure(last)).lines == ("cmake executable not found",)


def test_a_program_named_by_a_path_is_named_by_its_last_part_even_with_a_trailing_slash():
    found = buildcause.cause(pip_failure("error: command '/usr/lib/ccache/gcc/' failed: No such file or directory"))
    assert (found.lacks, found.remedy) == ("a C compiler (gcc)", BUILD_ESSENTIAL)


def test_a_sentence_after_a_full_stop_that_opens_the_output_leaves_the_stop_out():
    found = buildcause.cause(pip_failure(".", "Please install edgeops-cpu instead"))
    assert found.lines == ("Please install edgeops-cpu instead",)
