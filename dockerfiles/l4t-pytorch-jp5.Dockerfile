# NVIDIA L4T PyTorch for JetPack 5 (L4T r35, Ubuntu 20.04, CUDA 11.4, Python 3.8, linux/arm64):
# the "vendor torch on JetPack 5" base. It ships NVIDIA's own torch 2.0 build
# (/usr/local/lib/python3.8/dist-packages), so the matrix declares ships_torch = true and cells see
# that torch through `python3 -m venv --system-site-packages`.
#
#   [images.l4t-pytorch-jp5]
#   dockerfile = "../dockerfiles/l4t-pytorch-jp5.Dockerfile"
#   platform = "linux/arm64"
#   ships_torch = true
#   build_args = { BASE = "nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3" }
#
# Other r35 tags of the same image: r35.1.0-pth1.13-py3, r35.1.0-pth1.12-py3 (older torch, same
# Python). Pin the digest for reproducible cells: look it up where the registry is reachable with
#   docker buildx imagetools inspect nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3
# and pass BASE=nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3@sha256:<digest> (not pinned here: the
# digest was not verified when this recipe was written).
#
# The harness builds this with BuildKit (cache mounts below); no `# syntax=` line on purpose, so no
# frontend image is pulled. On an x86 host the RUN step needs QEMU binfmt for arm64.
ARG BASE=nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive

# One layer, only what cells need: ca-certificates (indexes behind a corporate CA) and a working
# `python3 -m venv`. Ubuntu splits ensurepip into python3.X-venv, which vendor images often lack: it
# is installed for the image's own python3 (python3.8-venv here) when a trial venv fails.
# apt runs only when something is missing. A failing `apt-get update` (say, an expired key on a
# third-party source the image lists) is reported but does not stop the build: these packages come
# from Ubuntu's own ports archive.
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
