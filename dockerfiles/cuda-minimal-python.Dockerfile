# CUDA runtime plus the distribution's Python, and no torch: the "bare CUDA" base on which pip alone
# decides which torch a cell gets (ships_torch = false). The default base,
# nvidia/cuda:12.6.3-runtime-ubuntu22.04, is multi-arch (linux/amd64, and linux/arm64 for SBSA
# servers) and has Ubuntu 22.04's Python 3.10, the Python of NVIDIA's JetPack 6 torch wheels.
#
#   [images.cuda-minimal-python-amd64]
#   dockerfile = "../dockerfiles/cuda-minimal-python.Dockerfile"
#   platform = "linux/amd64"            # or linux/arm64: the harness passes --platform when foreign
#   build_args = { BASE = "nvidia/cuda:12.6.3-runtime-ubuntu22.04" }
#
# The harness tags the result edge-wheel-harness/<image name>:latest, so give each (BASE, platform)
# pair its own image name (cuda-minimal-python-amd64, cuda-minimal-python-arm64, ...).
#
# Notes on the bases this recipe fits (any Ubuntu-based image with apt):
#   - nvidia/cuda:12.6.3-base-ubuntu22.04 is smaller (cudart only); -runtime adds cuBLAS, cuFFT,
#     cuSPARSE, NPP, ... but neither base has cuDNN or cuSPARSELt, which torch wheels built against
#     system CUDA (Jetson wheels) load at import: expect those cells to show the missing library.
#   - The arm64 variant is SBSA (server) CUDA: on a Jetson the CUDA in it does not drive the iGPU, so
#     cells there measure what pip installs, not a working GPU.
#   - For JetPack 5, nvcr.io/nvidia/l4t-base:r35.4.1 (Ubuntu 20.04, Python 3.8; CUDA comes from the
#     host through the NVIDIA container runtime) works with the same recipe.
#
# Pin the digest for reproducible cells: look it up where the registry is reachable with
#   docker buildx imagetools inspect nvidia/cuda:12.6.3-runtime-ubuntu22.04
# and pass BASE=nvidia/cuda:12.6.3-runtime-ubuntu22.04@sha256:<digest> (the index digest pins both
# architectures; not pinned here: the digest was not verified when this recipe was written).
#
# The harness builds this with BuildKit (cache mounts below); no `# syntax=` line on purpose, so no
# frontend image is pulled. A single stage: the only additions are a few distribution packages.
ARG BASE=nvidia/cuda:12.6.3-runtime-ubuntu22.04
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive

# python3 + python3-venv (ensurepip, so every cell's venv gets pip) and ca-certificates (indexes
# behind a corporate CA); no python3-pip: cells install into their own venv. The last lines check
# that a venv works.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    set -eu; \
    rm -f /etc/apt/apt.conf.d/docker-clean; \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates python3 python3-venv; \
    python3 -m venv /tmp/ewh-venv-check; \
    /tmp/ewh-venv-check/bin/python -m pip --version; \
    rm -rf /tmp/ewh-venv-check
