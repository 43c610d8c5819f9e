#!/usr/bin/env bash
# The loop people run by hand today, for the benchmark's baseline: per cell a fresh container, a fresh
# venv, `pip install --no-cache-dir`, then the imports. Same image, same wheelhouse, same pins and
# modules as bench/chain.toml; the host's CA bundle (PIP_CERT) is mounted as the harness mounts it.
#
#   bash bench/naive.sh WHEELHOUSE [IMAGE] [SET]      (SET: chain, the default, or arm64)
set -u
WHEELHOUSE=$(cd "$1" && pwd)
IMAGE=${2:-edge-wheel-harness/debian-bookworm:amd64}
SET=${3:-chain}
DOCKER=${DOCKER:-docker}
PLATFORM=$("$DOCKER" image inspect --format '{{.Os}}/{{.Architecture}}' "$IMAGE")

ca=()
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    ca=(-v "$PIP_CERT:/ca.pem:ro" -e PIP_CERT=/ca.pem)
fi

cell() {  # cell NAME "REQUIREMENTS" "MODULES"
    local start end
    start=$(date +%s%N)
    "$DOCKER" run --rm --platform "$PLATFORM" "${ca[@]}" -v "$WHEELHOUSE:/wheelhouse:ro" "$IMAGE" sh -c \
        "python3 -m venv /venv && /venv/bin/pip install -q --disable-pip-version-check --no-cache-dir \
         --find-links /wheelhouse $2 && /venv/bin/python -c 'import $3'" >/dev/null 2>&1
    local rc=$?
    end=$(date +%s%N)
    echo "$1 exit=$rc ms=$(( (end - start) / 1000000 ))"
}

# shellcheck source=bench/cells.sh
. "$(dirname "$0")/cells.sh"
