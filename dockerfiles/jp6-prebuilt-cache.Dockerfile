# Pre-built cache ("with dependency caching") on JetPack 6: the wheels of torchao, torchtune and their
# dependencies are made in a stage of their own from the requirements alone, with pip's download cache
# in a BuildKit cache mount (kept by the builder between builds, never in the image); the final stage,
# on NGC's PyTorch for integrated GPUs, installs them without any index, then copies the application.
# A change to the application rebuilds only its own layer.
#
#   [images.jp6-prebuilt-cache]
#   dockerfile = "../dockerfiles/jp6-prebuilt-cache.Dockerfile"
#   platform = "linux/arm64"
#   ships_torch = true
#   build_args = { BASE = "nvcr.io/nvidia/pytorch:24.12-py3-igpu" }
#   source_file = "chain-jp6/chain_jp6/__init__.py"
#
# As in jp6-original.Dockerfile: a venv that sees the image's torch, the image's pip, the CA bundle as
# the BuildKit secret `ca-bundle`.
ARG BASE=nvcr.io/nvidia/pytorch:24.12-py3-igpu

# The dependency stage: wheels for the packages the image lacks (downloaded, or taken from the cache
# mount when an earlier build downloaded them).
FROM ${BASE} AS wheels
COPY chain-jp6/requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt python3 -m pip wheel --wheel-dir /wheels -r /tmp/requirements.txt

FROM ${BASE}
COPY chain-jp6/requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python3 -m venv --system-site-packages --without-pip /opt/venv \
    && /opt/venv/bin/python -m pip install --no-index --find-links /wheels -r /tmp/requirements.txt
COPY chain-jp6/ /app/

ENV PATH=/opt/venv/bin:$PATH
