# Package-based ("using an installable package") on JetPack 6: the chain is the list of dependencies of
# a tiny package (chain-jp6/pyproject.toml: torch, torchao, torchtune), installed with `pip install .`
# into NGC's PyTorch for integrated GPUs, whose own torch satisfies `torch`. Any change to the package
# reinstalls it with its dependencies.
#
#   [images.jp6-package]
#   dockerfile = "../dockerfiles/jp6-package.Dockerfile"
#   platform = "linux/arm64"
#   ships_torch = true
#   build_args = { BASE = "nvcr.io/nvidia/pytorch:24.12-py3-igpu" }
#   source_file = "chain-jp6/chain_jp6/__init__.py"
#
# As in jp6-original.Dockerfile: a venv that sees the image's torch, the image's pip, the CA bundle as
# the BuildKit secret `ca-bundle` (pip also fetches setuptools, the package's build backend).
ARG BASE=nvcr.io/nvidia/pytorch:24.12-py3-igpu
FROM ${BASE}

# The existing environment the package goes into.
RUN python3 -m venv --system-site-packages --without-pip /opt/venv

COPY chain-jp6/ /app/
WORKDIR /app
RUN --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/venv/bin/python -m pip install .

ENV PATH=/opt/venv/bin:$PATH
