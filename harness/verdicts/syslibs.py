"""The shared libraries wheels most often load from the system, and what provides each: a maintained
table, read by the classifier's hint for "X.so: cannot open shared object file".

For each library: what it is, and the Debian/Ubuntu package that ships it (where Debian 13 and Ubuntu
24.04 renamed the package for 64-bit time_t, `t64` says so: libglib2.0-0 became libglib2.0-0t64); a
name that differs between the two families is given per family. CUDA's libraries name their CUDA
component and the kind of CUDA image that ships them; the driver's own (libcuda) is mounted by the
container runtime, never shipped by an image. `VARIANTS` names the build of a wheel that does without
the library. A library not listed gets no guess: the hint says how to find its package.

Add a library only with its package checked on the distributions named (packages.debian.org,
packages.ubuntu.com: "search the contents of packages").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Library:
    what: str  # what it is, in a few words
    package: str | None = None  # the Debian and Ubuntu package that ships it
    debian: str | None = None  # where the families differ: Debian's package
    ubuntu: str | None = None  # and Ubuntu's
    t64: bool = False  # renamed NAMEt64 from Debian 13 and Ubuntu 24.04 on
    cuda: str | None = None  # a CUDA library: the kind of CUDA image that ships it ("runtime", "cudnn-runtime", …)


def _glib(name: str) -> Library:
    return Library(what=f"GLib's {name}", package="libglib2.0-0", t64=True)


def _x11(package: str, name: str) -> Library:
    return Library(what=f"the X11 client library {name}", package=package)


LIBRARIES: dict[str, Library] = {
    # compilers' runtimes
    "libgomp.so.1": Library(what="GCC's OpenMP runtime", package="libgomp1"),
    "libstdc++.so.6": Library(what="the GNU C++ library", package="libstdc++6"),
    "libgcc_s.so.1": Library(what="GCC's support library", package="libgcc-s1"),
    "libgfortran.so.5": Library(what="the GNU Fortran runtime", package="libgfortran5"),
    "libgfortran.so.4": Library(what="the GNU Fortran runtime of GCC 7", package="libgfortran4"),
    "libquadmath.so.0": Library(what="GCC's quad-precision maths library", package="libquadmath0"),
    # numerics
    "libopenblas.so.0": Library(what="OpenBLAS", package="libopenblas0"),
    "libblas.so.3": Library(what="BLAS", package="libblas3"),
    "liblapack.so.3": Library(what="LAPACK", package="liblapack3"),
    "libnuma.so.1": Library(what="libnuma, for NUMA policy", package="libnuma1"),
    "libaio.so.1": Library(what="the Linux asynchronous I/O library", package="libaio1", t64=True),
    # graphics: OpenGL, X11 (a GUI build of OpenCV and the like)
    "libGL.so.1": Library(what="OpenGL, from libglvnd", package="libgl1"),
    "libEGL.so.1": Library(what="EGL, from libglvnd", package="libegl1"),
    "libGLX.so.0": Library(what="GLX, from libglvnd", package="libglx0"),
    "libOpenGL.so.0": Library(what="OpenGL without GLX, from libglvnd", package="libopengl0"),
    "libGLU.so.1": Library(what="the OpenGL utility library", package="libglu1-mesa"),
    "libglib-2.0.so.0": _glib("libglib-2.0"),
    "libgthread-2.0.so.0": _glib("libgthread-2.0"),
    "libgobject-2.0.so.0": _glib("libgobject-2.0"),
    "libgio-2.0.so.0": _glib("libgio-2.0"),
    "libSM.so.6": _x11("libsm6", "libSM"),
    "libICE.so.6": _x11("libice6", "libICE"),
    "libXext.so.6": _x11("libxext6", "libXext"),
    "libXrender.so.1": _x11("libxrender1", "libXrender"),
    "libX11.so.6": _x11("libx11-6", "libX11"),
    "libxcb.so.1": _x11("libxcb1", "libxcb"),
    "libXfixes.so.3": _x11("libxfixes3", "libXfixes"),
    "libXi.so.6": _x11("libxi6", "libXi"),
    "libXtst.so.6": _x11("libxtst6", "libXtst"),
    "libXrandr.so.2": _x11("libxrandr2", "libXrandr"),
    "libXcursor.so.1": _x11("libxcursor1", "libXcursor"),
    "libXinerama.so.1": _x11("libxinerama1", "libXinerama"),
    "libXcomposite.so.1": _x11("libxcomposite1", "libXcomposite"),
    "libXdamage.so.1": _x11("libxdamage1", "libXdamage"),
    "libxkbcommon.so.0": Library(what="xkbcommon", package="libxkbcommon0"),
    "libgtk-3.so.0": Library(what="GTK 3", package="libgtk-3-0", t64=True),
    "libfontconfig.so.1": Library(what="Fontconfig", package="libfontconfig1"),
    "libfreetype.so.6": Library(what="FreeType", package="libfreetype6"),
    "libcairo.so.2": Library(what="cairo", package="libcairo2"),
    # images, sound
    "libjpeg.so.62": Library(what="libjpeg, 6.2 ABI", debian="libjpeg62-turbo"),
    "libjpeg.so.8": Library(what="libjpeg, 8 ABI", ubuntu="libjpeg-turbo8"),
    "libpng16.so.16": Library(what="libpng 1.6", package="libpng16-16", t64=True),
    "libtiff.so.6": Library(what="libtiff 4.5", package="libtiff6"),
    "libtiff.so.5": Library(what="libtiff 4.0–4.4", package="libtiff5"),
    "libwebp.so.7": Library(what="libwebp", package="libwebp7"),
    "libsndfile.so.1": Library(what="libsndfile, for audio files", package="libsndfile1"),
    "libportaudio.so.2": Library(what="PortAudio", package="libportaudio2"),
    "libasound.so.2": Library(what="ALSA's library", package="libasound2", t64=True),
    "libpulse.so.0": Library(what="PulseAudio's client library", package="libpulse0"),
    "libespeak-ng.so.1": Library(what="eSpeak NG", package="libespeak-ng1"),
    # compression, crypto, system
    "libz.so.1": Library(what="zlib", package="zlib1g"),
    "libbz2.so.1.0": Library(what="bzip2's library", package="libbz2-1.0"),
    "liblzma.so.5": Library(what="liblzma, from xz", package="liblzma5"),
    "libzstd.so.1": Library(what="Zstandard", package="libzstd1"),
    "libssl.so.3": Library(what="OpenSSL 3", package="libssl3", t64=True),
    "libcrypto.so.3": Library(what="OpenSSL 3's libcrypto", package="libssl3", t64=True),
    "libssl.so.1.1": Library(what="OpenSSL 1.1, in Debian 11 and Ubuntu 20.04 and older only", package="libssl1.1"),
    "libcrypto.so.1.1": Library(what="OpenSSL 1.1's libcrypto, in Debian 11 and Ubuntu 20.04 and older only",
                                package="libssl1.1"),
    "libffi.so.8": Library(what="libffi", package="libffi8"),
    "libffi.so.7": Library(what="libffi, in Debian 11 and Ubuntu 20.04", package="libffi7"),
    "libcurl.so.4": Library(what="libcurl", package="libcurl4", t64=True),
    "libxml2.so.2": Library(what="libxml2", package="libxml2"),
    "libxslt.so.1": Library(what="libxslt", package="libxslt1.1"),
    "libsqlite3.so.0": Library(what="SQLite", package="libsqlite3-0"),
    "libpq.so.5": Library(what="PostgreSQL's client library", package="libpq5"),
    "libmagic.so.1": Library(what="libmagic, for file types", package="libmagic1", t64=True),
    "libusb-1.0.so.0": Library(what="libusb", package="libusb-1.0-0"),
    "libudev.so.1": Library(what="libudev", package="libudev1"),
    "libdbus-1.so.3": Library(what="D-Bus", package="libdbus-1-3"),
    "libgmp.so.10": Library(what="GMP", package="libgmp10"),
    "libexpat.so.1": Library(what="Expat", package="libexpat1"),
    "libuuid.so.1": Library(what="libuuid", package="libuuid1"),
    "libjemalloc.so.2": Library(what="jemalloc", package="libjemalloc2"),
    "libtbb.so.12": Library(what="oneTBB", package="libtbb12"),
    "libreadline.so.8": Library(what="GNU Readline", package="libreadline8", t64=True),
}

# FFmpeg's libraries: the Debian/Ubuntu package is the library's name with its soname version
# (libavcodec.so.59 in libavcodec59): a release ships one version, the one its FFmpeg builds.
FFMPEG = re.compile(r"^lib(avcodec|avformat|avutil|avfilter|avdevice|swscale|swresample|postproc)\.so\.(\d+)$")

# CUDA's libraries: component, whether the soname's version is CUDA's major version, and the kind
# of CUDA image that ships it (NVIDIA's runtime images ship the runtime libraries, the cudnn-runtime
# ones cuDNN too, the devel ones the tools' libraries).
CUDA = (
    (re.compile(r"^libcudart\.so\.(\d+)"), "runtime (cudart)", True, "runtime"),
    (re.compile(r"^libcublas(?:Lt)?\.so\.(\d+)"), "cuBLAS", True, "runtime"),
    (re.compile(r"^libnvrtc(?:-builtins)?\.so\.(\d+)"), "NVRTC (runtime compiler)", True, "runtime"),
    (re.compile(r"^libnvJitLink\.so\.(\d+)"), "nvJitLink", True, "runtime"),
    (re.compile(r"^libcufft\.so\.(\d+)"), "cuFFT", False, "runtime"),
    (re.compile(r"^libcurand\.so\.(\d+)"), "cuRAND", False, "runtime"),
    (re.compile(r"^libcusparse\.so\.(\d+)"), "cuSPARSE", True, "runtime"),
    (re.compile(r"^libcusolver\.so\.(\d+)"), "cuSOLVER", False, "runtime"),
    (re.compile(r"^libnpp\w*\.so\.(\d+)"), "NPP", True, "runtime"),
    (re.compile(r"^libnccl\.so\.(\d+)"), "NCCL", False, "runtime"),
    (re.compile(r"^libcudnn\w*\.so\.(\d+)"), "cuDNN", False, "cudnn-runtime"),
    (re.compile(r"^libcupti\.so\.(\d+)"), "CUPTI (profiling interface)", True, "devel"),
    (re.compile(r"^libnvToolsExt\.so\.(\d+)"), "NVTX", False, "devel"),
    (re.compile(r"^libcusparseLt\.so\.(\d+)"), "cuSPARSELt", False, None),
    (re.compile(r"^libnvinfer\w*\.so\.(\d+)"), "TensorRT", False, None),
)
DRIVER = re.compile(r"^lib(?:cuda|nvidia-ml|nvcuvid|nvidia-encode)\.so")  # the NVIDIA driver's own

# Wheels whose other build does without the libraries named: (distribution, libraries) → the variant.
_GUI = ("libGL.so.1", "libEGL.so.1", "libGLX.so.0", "libOpenGL.so.0", "libgthread-2.0.so.0", "libglib-2.0.so.0",
        "libSM.so.6", "libICE.so.6", "libXext.so.6", "libXrender.so.1", "libX11.so.6", "libxcb.so.1")
VARIANTS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    # distribution: (the build without them, the libraries it avoids; None: every CUDA library)
    "opencv-python": ("opencv-python-headless", _GUI),
    "opencv-contrib-python": ("opencv-contrib-python-headless", _GUI),
    "psycopg2": ("psycopg2-binary", ("libpq.so.5",)),
    "faiss-gpu": ("faiss-cpu", None),
    "faiss-gpu-cu11": ("faiss-cpu", None),
    "faiss-gpu-cu12": ("faiss-cpu", None),
    "onnxruntime-gpu": ("onnxruntime", None),
    "paddlepaddle-gpu": ("paddlepaddle", None),
}

DEBIAN_FAMILY = ("debian", "ubuntu")
RPM_FAMILY = ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn", "suse", "opensuse", "sles")


def family(distribution: Mapping[str, Any] | None) -> str | None:
    """"debian", "ubuntu", "rpm" or None (unknown), from the driver's reading of os-release."""
    if not distribution:
        return None
    ids = [str(distribution.get("id") or "")] + [str(x) for x in distribution.get("like") or ()]
    for name in ids:  # Ubuntu is like Debian: its own id decides first
        if name in DEBIAN_FAMILY:
            return name
        if name in RPM_FAMILY:
            return "rpm"
    return None


def release_name(distribution: Mapping[str, Any] | None) -> str | None:
    """"Debian 12", "Ubuntu 22.04", else the distribution's own PRETTY_NAME: as a person names it."""
    if not distribution or not distribution.get("id"):
        return None
    ours = {"debian": "Debian", "ubuntu": "Ubuntu"}.get(str(distribution["id"]))
    version = distribution.get("version_id")
    if ours:
        return f"{ours} {version}" if version else ours
    return str(distribution.get("name") or " ".join(str(x) for x in (distribution["id"], version) if x))


def _t64_here(distribution: Mapping[str, Any] | None) -> bool | None:
    """Whether the 64-bit time_t package names apply (Debian 13 or later, Ubuntu 24.04 or later);
    None when the release is unknown."""
    kind = family(distribution)
    version = str((distribution or {}).get("version_id") or "")
    match = re.match(r"(\d+)(?:\.(\d+))?", version)
    if kind not in DEBIAN_FAMILY or str((distribution or {}).get("id")) not in DEBIAN_FAMILY or not match:
        return None
    number = (int(match.group(1)), int(match.group(2) or 0))
    return number >= (13, 0) if kind == "debian" else number >= (24, 4)


@dataclass(frozen=True, kw_only=True)
class Provider:
    """What provides a library on the image's distribution, and how to say it."""

    library: str
    what: str | None = None
    package: str | None = None  # the package to install on this image's distribution (Debian/Ubuntu)
    cuda: str | None = None  # "CUDA 12's cuBLAS" for a CUDA library
    image: str | None = None  # the kind of CUDA image that ships it
    driver: bool = False  # the NVIDIA driver's own library
    find: str | None = None  # how to find the package where none is known

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False)}


def provider(library: str, distribution: Mapping[str, Any] | None) -> Provider:
    """What provides `library` (a soname: "libGL.so.1") on the distribution the driver read."""
    if DRIVER.match(library):
        return Provider(library=library, what="the NVIDIA driver's library", driver=True)
    for pattern, component, major_is_cuda, image in CUDA:
        match = pattern.match(library)
        if match:
            said = f"CUDA {match.group(1)}'s {component}" if major_is_cuda else f"CUDA's {component}"
            if component == "cuDNN":
                said = f"cuDNN {match.group(1)} (for CUDA)"
            return Provider(library=library, what=said, cuda=said, image=image)
    kind = family(distribution)
    known = LIBRARIES.get(library)
    versioned = FFMPEG.match(library)
    if versioned:
        name, number = versioned.groups()
        known = Library(what=f"FFmpeg's lib{name}", package=f"lib{name}{number}")
    package = None
    if known and kind in (None, *DEBIAN_FAMILY):
        base = known.package or (known.debian if kind == "debian" else known.ubuntu if kind == "ubuntu" else None)
        renamed = _t64_here(distribution) if known.t64 else False
        if base and renamed is None:
            package = f"{base} ({base}t64 on Debian 13, Ubuntu 24.04 and later)"
        elif base:
            package = base + ("t64" if renamed else "")
        elif kind is None:  # the release is unknown, and the families name it apart
            package = ", ".join(f"{name} on {where}" for name, where in ((known.debian, "Debian"),
                                                                          (known.ubuntu, "Ubuntu")) if name) or None
    if package:
        return Provider(library=library, what=known.what if known else None, package=package)
    if kind in DEBIAN_FAMILY or kind is None:
        find = f"`apt-file search {library}`"
    elif kind == "rpm":
        find = f"`dnf provides '*/{library}'`"
    else:
        find = f"the package manager of {release_name(distribution) or 'this distribution'}"
    return Provider(library=library, what=known.what if known else None, find=find)


def variant(distribution: str | None, library: str) -> str | None:
    """The build of `distribution` that does without `library`, where one is known."""
    if not distribution:
        return None
    found = VARIANTS.get(distribution)
    if not found:
        return None
    other, avoids = found
    if avoids is None:
        return other if any(p.match(library) for p, *_ in CUDA) or DRIVER.match(library) else None
    return other if library in avoids else None
