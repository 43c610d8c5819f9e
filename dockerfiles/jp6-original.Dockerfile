# Original, the validation plan's "current approach", on JetPack 6 (L4T r36, Orin, linux/arm64): NGC's
# PyTorch for integrated GPUs (torch 2.6.0a0, CUDA 12.6, Python 3.12) with torchao and torchtune added,
# in one stage. The application is copied in first and the packages installed after it, so any change
# to the application reinstalls them; pip's download cache stays in the image.
#
#   [images.jp6-original]
#   dockerfile = "../dockerfiles/jp6-original.Dockerfile"
#   platform = "linux/arm64"
#   ships_torch = true                                   # the chain is in the image: cells install nothing
#   build_args = { BASE = "nvcr.io/nvidia/pytorch:24.12-py3-igpu" }
#   source_file = "chain-jp6/chain_jp6/__init__.py"      # the change a cached build is measured after
#
# The packages go into a venv that sees the image's own torch (--system-site-packages), so pip keeps
# NVIDIA's CUDA torch rather than replacing it with PyPI's; the venv borrows the image's pip (NGC images
# have pip but not always ensurepip). The host's CA bundle reaches pip as the BuildKit secret
# `ca-bundle`, mounted over the image's bundle for the install only. The base comes from NGC's registry,
# and on an x86 host the RUN steps need QEMU binfmt for arm64.
ARG BASE=nvcr.io/nvidia/pytorch:24.12-py3-igpu
FROM ${BASE}

COPY chain-jp6/ /app/
RUN --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    python3 -m venv --system-site-packages --without-pip /opt/venv \
    && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/venv/bin/python -m pip install -r /app/requirements.txt

ENV PATH=/opt/venv/bin:$PATH
