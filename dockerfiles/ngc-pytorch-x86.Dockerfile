# NVIDIA NGC PyTorch for discrete GPUs on x86 (linux/amd64): the "vendor torch on a workstation or
# server" base that Jetson results are compared against. Release 25.01 carries PyTorch 2.6.0a0 (an
# NVIDIA build), CUDA 12.8.0, Ubuntu 24.04 and Python 3.12, with torch in
# /usr/local/lib/python3.12/dist-packages: ships_torch = true, and cells see that torch through
# `python3 -m venv --system-site-packages`. (The image is also published for arm64 SBSA servers;
# Jetson needs the `-igpu` variant, see pytorch-igpu-jp6.Dockerfile.)
#
#   [images.ngc-pytorch-x86]
#   dockerfile = "../dockerfiles/ngc-pytorch-x86.Dockerfile"
#   platform = "linux/amd64"
#   ships_torch = true
#   build_args = { BASE = "nvcr.io/nvidia/pytorch:25.01-py3" }
#
# From 25.03 on, NGC PyTorch images carry a pip constraints file (/etc/pip/constraint.txt) that pins
# torch and the other preinstalled packages, so `pip install` of another torch is refused there;
# that is what users of those images get, and this recipe leaves it alone (add `ENV PIP_CONSTRAINT=`
# below to measure without it). 25.01 predates it.
#
# Pin the digest for reproducible cells: look it up where the registry is reachable with
#   docker buildx imagetools inspect nvcr.io/nvidia/pytorch:25.01-py3
# and pass BASE=nvcr.io/nvidia/pytorch:25.01-py3@sha256:<digest> (for a multi-arch tag use the
# digest of the index, or of the linux/amd64 manifest to pin the architecture too; not pinned here:
# the digest was not verified when this recipe was written).
#
# The harness builds this with BuildKit (cache mounts below); no `# syntax=` line on purpose, so no
# frontend image is pulled.
ARG BASE=nvcr.io/nvidia/pytorch:25.01-py3
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive

# One layer, only what cells need: ca-certificates (indexes behind a corporate CA) and a working
# `python3 -m venv`. Ubuntu splits ensurepip into python3.X-venv, which vendor images often lack: it
# is installed for the image's own python3 when a trial venv fails. apt runs only when
# something is missing. A failing `apt-get update` (say, an expired key on a third-party source the
# image lists) is reported but does not stop the build: these packages come from Ubuntu's archive.
# The last lines check that a --system-site-packages venv works and sees the image's torch
# (found, not imported: no CUDA initialisation at build time), so ships_torch = true holds.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    set -eu; \
    rm -f /etc/apt/apt.conf.d/docker-clean; \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache; \
    py="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
    pkgs=""; \
    dpkg -s ca-certificates >/dev/null 2>&1 || pkgs="ca-certificates"; \
    python3 -m venv /tmp/ewh-venv-check >/dev/null 2>&1 || pkgs="$pkgs python${py}-venv"; \
    rm -rf /tmp/ewh-venv-check; \
    if [ -n "$pkgs" ]; then \
        apt-get update || echo "warning: apt-get update reported errors; trying the install anyway" >&2; \
        apt-get install -y --no-install-recommends $pkgs; \
    fi; \
    python3 -m venv --system-site-packages /tmp/ewh-venv-check; \
    /tmp/ewh-venv-check/bin/python -m pip --version; \
    /tmp/ewh-venv-check/bin/python -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("torch") else "the image torch is not visible from a --system-site-packages venv")'; \
    rm -rf /tmp/ewh-venv-check
