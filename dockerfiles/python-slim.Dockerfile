# Plain Python on Debian: the "no vendor torch" baseline a matrix compares NVIDIA images against.
# Build args pin the base; the harness builds it with BuildKit (`RUN --mount=type=cache`) on first use.
#   [images.py310-slim-amd64]
#   dockerfile = "../dockerfiles/python-slim.Dockerfile"
#   platform = "linux/amd64"
#   build_args = { BASE = "python:3.10-slim-bookworm" }
ARG BASE=python:3.10-slim-bookworm
FROM ${BASE}

# venv and pip are what every cell uses; ca-certificates for indexes behind a corporate CA.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && python3 -m venv --help >/dev/null

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
