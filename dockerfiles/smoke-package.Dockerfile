# Package-based ("using an installable package"), for the smoke image: the chain is the list of
# dependencies of a tiny package (chain-smoke/pyproject.toml), installed with `pip install .` into an
# existing image's Python environment. pip resolves the chain from the package's metadata; any change
# to the package (its code or its dependencies) reinstalls it with its dependencies.
#
#   [images.smoke-package]
#   dockerfile = "../dockerfiles/smoke-package.Dockerfile"
#   platform = "linux/amd64"
#   ships_torch = true
#   build_args = { BASE = "edge-wheel-harness/debian-bookworm:amd64" }
#   build_folders = { wheelhouse = "../.wheelhouse/smoke" }
#   source_file = "chain-smoke/chain_smoke/__init__.py"
#
# The wheelhouse and the CA bundle reach the build as in smoke-original.Dockerfile (pip also fetches
# setuptools, the package's build backend, from the index).
ARG BASE=edge-wheel-harness/debian-bookworm:amd64
FROM ${BASE}

# The existing environment the package goes into.
RUN python3 -m venv /opt/venv

COPY chain-smoke/ /app/
WORKDIR /app
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    /opt/venv/bin/pip install --find-links /wheelhouse .

ENV PATH=/opt/venv/bin:$PATH
