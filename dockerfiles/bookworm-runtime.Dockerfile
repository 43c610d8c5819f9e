# "Minimal + runtime": the harness's own minimal Debian bookworm image (mmdebstrap, no registry) with a
# thin runtime layer on top, built by the harness with BuildKit like any vendor recipe. The smoke
# matrix measures this approach's Build Time from nothing (cold) and from BuildKit's cache (cached)
# beside the same package set on the bare image. Needs Debian's archive while it builds.
#   [images.bookworm-amd64-runtime]
#   dockerfile = "../dockerfiles/bookworm-runtime.Dockerfile"
#   platform = "linux/amd64"
#   build_args = { BASE = "edge-wheel-harness/debian-bookworm:amd64" }
ARG BASE=edge-wheel-harness/debian-bookworm:amd64
FROM ${BASE}

# libgomp1: the OpenMP runtime that CPU wheels load from the system when they do not bundle their own.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && python3 -m venv --help >/dev/null

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
