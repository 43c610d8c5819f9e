# Multi-stage on JetPack 6: a builder stage on NGC's PyTorch for integrated GPUs makes the venv with
# torchao and torchtune in it; the runtime stage, on the same base (it holds the CUDA torch the venv
# sees, and the venv's python), copies only the venv. pip's download cache stays in the builder.
#
#   [images.jp6-multistage]
#   dockerfile = "../dockerfiles/jp6-multistage.Dockerfile"
#   platform = "linux/arm64"
#   ships_torch = true
#   build_args = { BASE = "nvcr.io/nvidia/pytorch:24.12-py3-igpu" }
#   source_file = "chain-jp6/chain_jp6/__init__.py"
#
# As in jp6-original.Dockerfile: a venv that sees the image's torch, the image's pip, the CA bundle as
# the BuildKit secret `ca-bundle`. The saving is only what the install leaves behind: the base image,
# most of the size, is in both stages.
ARG BASE=nvcr.io/nvidia/pytorch:24.12-py3-igpu

FROM ${BASE} AS builder
COPY chain-jp6/requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    python3 -m venv --system-site-packages --without-pip /opt/venv \
    && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/venv/bin/python -m pip install -r /tmp/requirements.txt

FROM ${BASE}
COPY --from=builder /opt/venv /opt/venv
COPY chain-jp6/ /app/

ENV PATH=/opt/venv/bin:$PATH
