#!/usr/bin/env bash
# The loop a skilled person writes in ten minutes, for the benchmark's second baseline: per cell a fresh
# container; uv (the harness's own, from its Python dependency) with its cache on a named volume and the
# venv on the same volume, so installs hardlink from the cache; then the same imports as the probe. Same
# image, wheelhouse, pins and modules as bench/chain.toml; the host's CA bundle is lent as the harness
# lends it (PIP_CERT, else REQUESTS_CA_BUNDLE, else SSL_CERT_FILE).
#
#   bash bench/skilled.sh WHEELHOUSE [IMAGE] [VOLUME] [SET]   (remove VOLUME first for a cold run;
#                                                             SET: chain, the default, or arm64)
set -u
WHEELHOUSE=$(cd "$1" && pwd)
IMAGE=${2:-edge-wheel-harness/debian-bookworm:amd64}
VOLUME=${3:-edge-wheel-harness-bench-skilled}
SET=${4:-chain}
DOCKER=${DOCKER:-docker}
PLATFORM=$("$DOCKER" image inspect --format '{{.Os}}/{{.Architecture}}' "$IMAGE")
PYTHON=${PYTHON:-python3}
UV=$("$PYTHON" -c 'from uv import find_uv_bin; print(find_uv_bin())')

ca=()
for var in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE; do
    if [ -n "${!var:-}" ] && [ -f "${!var}" ]; then
        ca=(-v "${!var}:/ca.pem:ro" -e SSL_CERT_FILE=/ca.pem -e PIP_CERT=/ca.pem)
        break
    fi
done

# The host's uv where it can run (the image's architecture is the host's); in an emulated image, uv
# installed once with pip into the volume, as the harness does it.
if [ "$PLATFORM" = "linux/$("$DOCKER" version --format '{{.Server.Arch}}')" ]; then
    lend_uv=(-v "$UV:/usr/local/bin/uv:ro")
    get_uv=""
else
    lend_uv=()
    get_uv="{ [ -x /loop/uv/bin/uv ] || { python3 -m venv /loop/uv && /loop/uv/bin/pip install -q uv; }; } \
        && export PATH=/loop/uv/bin:\$PATH &&"
fi

cell() {  # cell NAME "REQUIREMENTS" "MODULES"
    local start end
    start=$(date +%s%N)
    "$DOCKER" run --rm --platform "$PLATFORM" "${ca[@]}" -v "$WHEELHOUSE:/wheelhouse:ro" "${lend_uv[@]}" \
        -v "$VOLUME:/loop" -e UV_CACHE_DIR=/loop/cache -e UV_LINK_MODE=hardlink "$IMAGE" sh -c \
        "$get_uv rm -rf /loop/venv-$1 && uv venv -q --python /usr/bin/python3 /loop/venv-$1 \
         && uv pip install -q --python /loop/venv-$1/bin/python --find-links /wheelhouse $2 \
         && /loop/venv-$1/bin/python -c 'import $3'" >/dev/null 2>&1
    local rc=$?
    end=$(date +%s%N)
    echo "$1 exit=$rc ms=$(( (end - start) / 1000000 ))"
}

# shellcheck source=bench/cells.sh
. "$(dirname "$0")/cells.sh"
