"""What a failed source build says went wrong: the lines that state the cause, and what the image lacks.

pip quotes a failed build's own output between `╰─> [N lines of output]` and `[end of output]` (uv
after `[stderr]`). Its last line is often a documentation URL or a traceback's frame; the cause stands
a few lines above: "… is required to build … from source", "pg_config executable not found",
"fatal error: X.h: No such file or directory", "command 'gcc' failed: No such file or directory",
"No such file or directory: 'nvcc'". This module finds those lines, says what they show the image
lacks (a compiler, CUDA's nvcc, a header's -dev package, a tool) and which prebuilt alternative the
project's own message names. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

QUOTED_MAX = 3  # cause lines quoted as evidence


@dataclass(frozen=True, kw_only=True)
class BuildCause:
    lines: tuple[str, ...] = ()  # the build's own lines that state the cause, in the order it printed them
    lacks: str | None = None  # what the image lacks, in words: "a C compiler (x86_64-linux-gnu-gcc)"
    remedy: str | None = None  # how to give it: "add build-essential to the image"
    prebuilt: str | None = None  # a prebuilt distribution the project's own message names instead
    stated: bool = False  # the lines state a cause (False: only the build's last error line was found)


# --- what the build's lines name -------------------------------------------------------------------

HEADER = re.compile(r"fatal error: ([\w./+-]+\.(?:h|hh|hpp|hxx)): No such file or directory|"  # gcc
                    r"fatal error: '([\w./+-]+\.(?:h|hh|hpp|hxx))' file not found")  # clang
TOOL = (  # a program the build tried to run and did not find
    re.compile(r"error: command '([^']+)' failed: No such file or directory"),
    re.compile(r"unable to execute '([^']+)': No such file or directory"),
    re.compile(r"No such file or directory: '((?:[^']*/)?[^'/.]+)'"),  # FileNotFoundError of a program (no dot)
    re.compile(r"\b([\w.+-]+) executable not found"),
    re.compile(r"\b([\w.+-]+) is required to build [\w.-]+ from source"),
    re.compile(r"^(?:/bin/sh: \d+: |sh: \d+: |/bin/sh: )?([\w.+-]+): (?:command )?not found\b"),
    re.compile(r"\b(nvcc|gcc|g\+\+|cc|c\+\+|cmake|ninja|cargo|rustc|pkg-config|pg_config|mysql_config|swig|gfortran|"
               r"make)(?: was)? not found\b"),
    re.compile(r"can't find (Rust) compiler"),
    re.compile(r"(CUDA_HOME) environment variable is not set"),
)
COMPILER = re.compile(r"No CMAKE_(?:C|CXX)_COMPILER could be found|C compiler cannot create executables|"
                      r"[Cc]ould not find (?:a )?(?:working )?C\+?\+? compiler")
OTHER = re.compile(r"No such file or directory: '[^']+'")  # a missing file that is not a program
FRAME = re.compile(r'^File "[^"]*", line \d+')
LAST_ERROR = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception)|error): .+")
PREBUILT = re.compile(r"(?:install|use) (?:the )?(?:PyPI )?['\"`]?([A-Za-z0-9][A-Za-z0-9._-]*)['\"`]? "
                      r"(?:package |wheel |distribution )?instead\b")

# what a missing program means for the image: (what it lacks, how to give it)
CUDA_TOOLKIT = "use an image with the CUDA toolkit (a CUDA -devel image; on Jetson, JetPack's CUDA)"
COMPILERS = ("gcc", "cc", "g++", "c++", "clang", "clang++")
TOOLS = {
    "nvcc": ("CUDA's compiler nvcc", CUDA_TOOLKIT + " or set CUDA_HOME to it"),
    "CUDA_HOME": ("CUDA's compiler nvcc (CUDA_HOME is not set)", CUDA_TOOLKIT + " or set CUDA_HOME to it"),
    "pg_config": ("pg_config (PostgreSQL's client library, libpq)", "add libpq-dev to the image"),
    "mysql_config": ("mysql_config (the MySQL client library)", "add default-libmysqlclient-dev to the image"),
    "Rust": ("a Rust compiler", "add cargo and rustc (or rustup) to the image"),
    "cargo": ("a Rust toolchain (cargo)", "add cargo and rustc (or rustup) to the image"),
    "rustc": ("a Rust compiler (rustc)", "add cargo and rustc (or rustup) to the image"),
    "cmake": ("cmake", "add cmake to the image"),
    "ninja": ("ninja", "add ninja-build to the image"),
    "pkg-config": ("pkg-config", "add pkg-config to the image"),
    "make": ("make", "add build-essential to the image"),
    "gfortran": ("a Fortran compiler (gfortran)", "add gfortran to the image"),
}
HEADERS = {  # a header → the Debian/Ubuntu package that ships it
    "Python.h": "python3-dev",
    "ffi.h": "libffi-dev",
    "zlib.h": "zlib1g-dev",
    "libpq-fe.h": "libpq-dev",
    "jpeglib.h": "libjpeg-dev",
    "png.h": "libpng-dev",
    "hdf5.h": "libhdf5-dev",
    "yaml.h": "libyaml-dev",
    "lzma.h": "liblzma-dev",
    "bzlib.h": "libbz2-dev",
}
CUDA_HEADERS = ("cuda.h", "cuda_runtime.h", "cuda_runtime_api.h", "cublas_v2.h", "cusparse.h", "cufft.h", "nvrtc.h")


def _program(text: str) -> str:
    return text.rstrip("/").rsplit("/", 1)[-1]


def _tool(name: str) -> tuple[str, str]:
    program = _program(name)
    if program.endswith(("-gcc", "-cc")) or program in ("gcc", "cc", "clang"):
        return f"a C compiler ({program})", "add build-essential (Debian/Ubuntu) to the image"
    if program.endswith(("-g++", "-c++")) or program in ("g++", "c++", "clang++"):
        return f"a C++ compiler ({program})", "add build-essential (Debian/Ubuntu) to the image"
    return TOOLS.get(program, (program, f"install {program} in the image"))


def _header(header: str) -> tuple[str, str]:
    base = header.rsplit("/", 1)[-1]
    if base in CUDA_HEADERS:
        return f"CUDA's header {header}", CUDA_TOOLKIT
    if header.startswith("openssl/"):
        return f"the header {header}", "add libssl-dev to the image"
    package = HEADERS.get(header)
    if package:
        return f"the header {header}", f"add {package} to the image"
    return f"the header {header}", f"add the -dev package that ships it (`apt-file search {header}` names it)"


def _sentence(line: str, start: int, end: int) -> str:
    """The sentence of `line` that holds [start, end): a cause line often runs on into advice."""
    before = line.rfind(". ", 0, start)
    after = line.find(". ", end)
    return line[before + 2 if before >= 0 else 0: after + 1 if after >= 0 else len(line)].strip()


# --- the build's own output ------------------------------------------------------------------------

BLOCK_START = re.compile(r"\[\d+ lines of output\]|Complete output \(\d+ lines\):|^\s*\[(?:stderr|stdout)\]\s*$")
BLOCK_END = re.compile(r"^\s*(?:\[end of output\]|-{20,}|hint: )")


def build_output(output: str) -> list[str]:
    """The lines the build itself printed, as pip (or uv) quotes them; the whole output where it
    quotes none."""
    lines = output.splitlines()
    quoted, inside = [], False
    for line in lines:
        if BLOCK_START.search(line):
            inside = True
        elif inside and BLOCK_END.match(line):
            inside = False
        elif inside:
            quoted.append(line.strip())
    return [line for line in (quoted or [line.strip() for line in lines]) if line]


def cause(output: str) -> BuildCause:
    """The cause the failed build states, what it shows the image lacks, and a prebuilt alternative the
    project names; where it states none, its last error line (`stated` False)."""
    lines = build_output(output)
    found: list[str] = []
    lacks = remedy = None
    for i, line in enumerate(lines):
        if i and FRAME.match(lines[i - 1]):
            continue  # a traceback's source line: the exception line below says it
        header = HEADER.search(line)
        tool = next((m for m in (p.search(line) for p in TOOL) if m), None)
        if header:
            found.append(line)
            named = _header(header.group(1) or header.group(2))
        elif tool:
            found.append(_sentence(line, tool.start(), tool.end()))
            named = _tool(tool.group(1))
        elif COMPILER.search(line):
            found.append(line)
            named = ("a C or C++ compiler", "add build-essential (Debian/Ubuntu) to the image")
        elif OTHER.search(line):
            found.append(line)
            continue
        else:
            continue
        if lacks is None:
            lacks, remedy = named
    text = " ".join(lines)
    prebuilt = PREBUILT.search(text)
    quoted = list(dict.fromkeys(found))[: QUOTED_MAX - (1 if prebuilt else 0)]
    if prebuilt:
        quoted.append(_sentence(text, prebuilt.start(), prebuilt.end()))
    if quoted:
        return BuildCause(lines=tuple(quoted), lacks=lacks, remedy=remedy,
                          prebuilt=prebuilt.group(1) if prebuilt else None, stated=True)
    errors = [line for line in lines if LAST_ERROR.match(line)]
    return BuildCause(lines=tuple(errors[-1:]))
