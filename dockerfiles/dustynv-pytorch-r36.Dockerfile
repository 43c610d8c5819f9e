# dustynv (jetson-containers) PyTorch for JetPack 6 (L4T r36.4, linux/arm64): the community
# "Jetson torch" base many Jetson projects start from. `dustynv/pytorch:2.6-r36.4.0-cu128-24.04`
# carries torch 2.6 built for Orin with CUDA 12.8, on Ubuntu 24.04 with Python 3.12; ships_torch =
# true, and cells see that torch through `python3 -m venv --system-site-packages`.
#
#   [images.dustynv-pytorch-r36]
#   dockerfile = "../dockerfiles/dustynv-pytorch-r36.Dockerfile"
#   platform = "linux/arm64"
#   ships_torch = true
#   build_args = { BASE = "dustynv/pytorch:2.6-r36.4.0-cu128-24.04" }
#
# The older all-in-one `dustynv/l4t-pytorch:r36.4.0` (Ubuntu 22.04, Python 3.10) works with the same
# recipe. Pin the digest for reproducible cells: look it up where the registry is reachable with
#   docker buildx imagetools inspect dustynv/pytorch:2.6-r36.4.0-cu128-24.04
# and pass BASE=dustynv/pytorch:2.6-r36.4.0-cu128-24.04@sha256:<digest> (not pinned here: the
# digest was not verified when this recipe was written; dustynv tags are rebuilt in place more often
# than NVIDIA's, so pinning matters more here).
#
# The harness builds this with BuildKit (cache mounts below); no `# syntax=` line on purpose, so no
# frontend image is pulled. On an x86 host the RUN steps need QEMU binfmt for arm64.
ARG BASE=dustynv/pytorch:2.6-r36.4.0-cu128-24.04
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive

# One layer, only what cells need: ca-certificates (indexes behind a corporate CA) and a working
# `python3 -m venv`. jetson-containers installs python3.X and get-pip.py, not python3.X-venv, so
# ensurepip is installed for the image's own python3 when a trial venv fails. apt runs only when
# something is missing. A failing `apt-get update` (say, a jetson-containers apt mirror the image
# lists that no longer resolves) is reported but does not stop the build: these packages come from
# Ubuntu's own ports archive.
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
    fi

# jetson-containers bakes its build-time package mirrors into the image environment (PIP_INDEX_URL,
# PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST; some no longer resolve). The harness drops those variables
# inside every cell, so the cell's index variant alone decides; nothing to reset here.

# Newer jetson-containers images put torch in a virtual environment first on PATH (/opt/venv). A
# venv made from a venv's python with --system-site-packages sees the *base* interpreter's
# site-packages, not the image venv's, so torch would vanish from cells. When python3 is a venv,
# a .pth file in the base interpreter's site-packages makes the image venv's site-packages visible
# to every venv made from it. A no-op where python3 is the system interpreter (r36.4.0 tags that
# install into /usr/local/lib/python3.X/dist-packages).
RUN python3 -c 'import os, sys, sysconfig; own = sysconfig.get_paths()["purelib"]; base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"]; is_venv = sys.prefix != sys.base_prefix; is_venv and os.makedirs(base, exist_ok=True); is_venv and open(os.path.join(base, "zz-image-venv.pth"), "w").write(own + "\n"); print("python3 is a venv: bridged %s -> %s" % (base, own) if is_venv else "python3 is the system interpreter: nothing to bridge")' \
    && python3 -m venv --system-site-packages /tmp/ewh-venv-check \
    && /tmp/ewh-venv-check/bin/python -m pip --version \
    && /tmp/ewh-venv-check/bin/python -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("torch") else "the image torch is not visible from a --system-site-packages venv")' \
    && rm -rf /tmp/ewh-venv-check
