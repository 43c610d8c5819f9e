# Multi-stage, for the smoke image: a builder stage makes the venv with the chain in it; the runtime
# stage, on the same base (the venv's python is the base's), copies only the venv. What the install
# leaves behind (pip's download cache, the wheels it fetched) stays in the builder.
#
#   [images.smoke-multistage]
#   dockerfile = "../dockerfiles/smoke-multistage.Dockerfile"
#   platform = "linux/amd64"
#   ships_torch = true
#   build_args = { BASE = "edge-wheel-harness/debian-bookworm:amd64" }
#   build_folders = { wheelhouse = "../.wheelhouse/smoke" }
#   source_file = "chain-smoke/chain_smoke/__init__.py"
#
# The wheelhouse and the CA bundle reach the build as in smoke-original.Dockerfile.
ARG BASE=edge-wheel-harness/debian-bookworm:amd64

FROM ${BASE} AS builder
COPY chain-smoke/requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --find-links /wheelhouse -r /tmp/requirements.txt

FROM ${BASE}
COPY --from=builder /opt/venv /opt/venv
COPY chain-smoke/ /app/

ENV PATH=/opt/venv/bin:$PATH
