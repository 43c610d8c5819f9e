"""What provides a shared library on the image's distribution (harness.verdicts.syslibs), and the
distribution as the driver reads it from os-release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.incell import driver
from harness.verdicts import classify, syslibs

LOGS = Path(__file__).parent / "data" / "logs"


def recorded_distribution() -> dict:
    """The bookworm image's distribution as the driver read it in a real cell."""
    begin = (LOGS / "real-lightgbm.log").read_text().splitlines()[0]
    return json.loads(begin[len(driver.MARKER):])["distribution"]


DEBIAN_12 = recorded_distribution()
DEBIAN_13 = {**DEBIAN_12, "version_id": "13", "codename": "trixie"}
UBUNTU_2204 = {"id": "ubuntu", "version_id": "22.04", "like": ["debian"]}
UBUNTU_2404 = {"id": "ubuntu", "version_id": "24.04", "like": ["debian"]}
ROCKY_9 = {"id": "rocky", "version_id": "9.4", "like": ["rhel", "centos", "fedora"], "name": "Rocky Linux 9.4"}


def test_the_recorded_bookworm_image_is_debian_12():
    assert (DEBIAN_12["id"], DEBIAN_12["version_id"], syslibs.release_name(DEBIAN_12)) == ("debian", "12", "Debian 12")


@pytest.mark.parametrize(("distribution", "package"), [
    (DEBIAN_12, "libglib2.0-0"), (UBUNTU_2204, "libglib2.0-0"),
    (DEBIAN_13, "libglib2.0-0t64"), (UBUNTU_2404, "libglib2.0-0t64"),  # renamed for 64-bit time_t
    (None, "libglib2.0-0 (libglib2.0-0t64 on Debian 13, Ubuntu 24.04 and later)"),  # the release is unknown
])
def test_a_renamed_package_is_named_for_the_release(distribution, package):
    assert syslibs.provider("libgthread-2.0.so.0", distribution).package == package
    assert syslibs.provider("libgomp.so.1", distribution).package == "libgomp1"  # never renamed


def test_a_library_the_families_package_apart_is_named_per_family_and_looked_up_elsewhere():
    assert syslibs.provider("libjpeg.so.62", DEBIAN_12).package == "libjpeg62-turbo"
    ubuntu = syslibs.provider("libjpeg.so.62", UBUNTU_2204)
    assert (ubuntu.package, ubuntu.find) == (None, "`apt-file search libjpeg.so.62`")
    assert syslibs.provider("libjpeg.so.62", None).package == "libjpeg62-turbo on Debian"


def test_an_unknown_library_or_another_family_gets_how_to_find_it_not_a_guess():
    assert syslibs.provider("libewhodd.so.3", DEBIAN_12).find == "`apt-file search libewhodd.so.3`"
    rocky = syslibs.provider("libGL.so.1", ROCKY_9)
    assert (rocky.package, rocky.find) == (None, "`dnf provides '*/libGL.so.1'`")
    hint, cause = classify.library_hint("libGL.so.1", "opencv-python 4.10.0.84", ROCKY_9)
    assert hint == ("opencv-python 4.10.0.84 needs libGL.so.1 (OpenGL, from libglvnd), which the image lacks: find the "
                    "package that provides it on Rocky Linux 9.4 with `dnf provides '*/libGL.so.1'`, and add it to "
                    "the image; or install opencv-python-headless instead of opencv-python, a build that does without "
                    "it")
    assert cause.facts["variant"] == "opencv-python-headless"


def test_ffmpegs_packages_carry_the_sonames_version():
    assert syslibs.provider("libavcodec.so.59", DEBIAN_12).package == "libavcodec59"
    assert syslibs.provider("libswscale.so.8", DEBIAN_13).package == "libswscale8"


@pytest.mark.parametrize(("library", "said", "image"), [
    ("libcudart.so.12", "CUDA 12's runtime (cudart)", "runtime"),
    ("libcublasLt.so.13", "CUDA 13's cuBLAS", "runtime"),
    ("libnvrtc.so.12", "CUDA 12's NVRTC (runtime compiler)", "runtime"),
    ("libcufft.so.11", "CUDA's cuFFT", "runtime"),  # cuFFT's soname version is not CUDA's
    ("libcudnn_ops.so.9", "cuDNN 9 (for CUDA)", "cudnn-runtime"),
    ("libnccl.so.2", "CUDA's NCCL", "runtime"),
    ("libnvToolsExt.so.1", "CUDA's NVTX", "devel"),
    ("libnvinfer.so.10", "CUDA's TensorRT", None),
])
def test_cudas_libraries_name_their_component_and_the_image_that_ships_them(library, said, image):
    found = syslibs.provider(library, DEBIAN_12)
    assert (found.cuda, found.image, found.package) == (said, image, None)


def test_the_drivers_own_library_is_mounted_by_the_runtime_not_shipped():
    hint, cause = classify.library_hint("libcuda.so.1", "cupy-cuda12x 14.2.0", DEBIAN_12)
    assert hint.startswith("cupy-cuda12x 14.2.0 needs libcuda.so.1, the NVIDIA driver's library, which no image ships")
    assert cause.facts["driver"] is True


@pytest.mark.parametrize(("dist", "library", "variant"), [
    ("opencv-python", "libGL.so.1", "opencv-python-headless"),
    ("opencv-contrib-python", "libxcb.so.1", "opencv-contrib-python-headless"),
    ("opencv-python", "libgomp.so.1", None),  # the headless build needs it too
    ("faiss-gpu-cu12", "libcudart.so.12", "faiss-cpu"),
    ("faiss-gpu-cu12", "libgomp.so.1", None),
    ("psycopg2", "libpq.so.5", "psycopg2-binary"),
    ("lightgbm", "libgomp.so.1", None),
    (None, "libGL.so.1", None),
])
def test_the_build_that_does_without_a_library(dist, library, variant):
    assert syslibs.variant(dist, library) == variant


def test_os_release_is_read_as_the_driver_reads_it(tmp_path):
    (tmp_path / "os-release").write_text('PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
                                         "ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n# a comment\n\n")
    assert driver.os_release((str(tmp_path / "missing"), str(tmp_path / "os-release"))) == {
        "id": "ubuntu", "version_id": "24.04", "like": ["debian"], "codename": "noble",
        "name": "Ubuntu 24.04.1 LTS"}
    assert driver.os_release((str(tmp_path / "missing"),)) is None
