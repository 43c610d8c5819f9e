# Pre-built cache ("with dependency caching"), for the smoke image: the slow part, the chain's wheels,
# is made in a stage of its own from the requirements alone, with pip's download cache in a BuildKit
# cache mount (kept by the builder between builds, never in the image). The final stage installs those
# wheels without any index, then copies the application: a change to the application rebuilds only its
# own layer, and a change to the requirements downloads only what pip's cache lacks.
#
#   [images.smoke-prebuilt-cache]
#   dockerfile = "../dockerfiles/smoke-prebuilt-cache.Dockerfile"
#   platform = "linux/amd64"
#   ships_torch = true
#   build_args = { BASE = "edge-wheel-harness/debian-bookworm:amd64" }
#   build_folders = { wheelhouse = "../.wheelhouse/smoke" }
#   source_file = "chain-smoke/chain_smoke/__init__.py"
#
# The wheelhouse and the CA bundle reach the build as in smoke-original.Dockerfile.
ARG BASE=edge-wheel-harness/debian-bookworm:amd64

# The dependency stage: wheels for the whole chain (torch's copied from the wheelhouse, the rest
# downloaded, or taken from the cache mount when an earlier build downloaded them).
FROM ${BASE} AS wheels
COPY chain-smoke/requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    python3 -m pip wheel --wheel-dir /wheels --find-links /wheelhouse -r /tmp/requirements.txt

FROM ${BASE}
COPY chain-smoke/requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -r /tmp/requirements.txt
COPY chain-smoke/ /app/

ENV PATH=/opt/venv/bin:$PATH
