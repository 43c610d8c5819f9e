#!/usr/bin/env bash
# The loop a skilled person writes in ten minutes, for the benchmark's second baseline: per cell a fresh
# container; uv (the harness's own, from its Python dependency) with its cache on a named volume and the
# venv on the same volume, so installs hardlink from the cache; then the same imports as the probe. Same
# image, wheelhouse, pins and modules as bench/chain.toml; the host's CA bundle is lent as the harness
# lends it (PIP_CERT, else REQUESTS_CA_BUNDLE, else SSL_CERT_FILE).
#
#   bash bench/skilled.sh WHEELHOUSE [IMAGE] [VOLUME]      (remove VOLUME first for a cold run)
set -u
WHEELHOUSE=$(cd "$1" && pwd)
IMAGE=${2:-edge-wheel-harness/debian-bookworm:amd64}
VOLUME=${3:-edge-wheel-harness-bench-skilled}
DOCKER=${DOCKER:-docker}
PYTHON=${PYTHON:-python3}
UV=$("$PYTHON" -c 'from uv import find_uv_bin; print(find_uv_bin())')

ca=()
for var in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE; do
    if [ -n "${!var:-}" ] && [ -f "${!var}" ]; then
        ca=(-v "${!var}:/ca.pem:ro" -e SSL_CERT_FILE=/ca.pem)
        break
    fi
done

cell() {  # cell NAME "REQUIREMENTS" "MODULES"
    local start end
    start=$(date +%s%N)
    "$DOCKER" run --rm "${ca[@]}" -v "$WHEELHOUSE:/wheelhouse:ro" -v "$UV:/usr/local/bin/uv:ro" \
        -v "$VOLUME:/work" -e UV_CACHE_DIR=/work/cache -e UV_LINK_MODE=hardlink "$IMAGE" sh -c \
        "rm -rf /work/venv-$1 && uv venv -q --python /usr/bin/python3 /work/venv-$1 \
         && uv pip install -q --python /work/venv-$1/bin/python --find-links /wheelhouse $2 \
         && /work/venv-$1/bin/python -c 'import $3'" >/dev/null 2>&1
    local rc=$?
    end=$(date +%s%N)
    echo "$1 exit=$rc ms=$(( (end - start) / 1000000 ))"
}

cell chain-2.13 "torch==2.13.0 torchao==0.15.0 torchtune==0.6.1" \
    "torch, torchao, torchao.quantization, torchtune, torchtune.training"
cell ao0.18 "torch==2.13.0 torchao==0.18.0 numpy==2.4.6" "torch, torchao, torchao.quantization"
cell chain-2.13-ao0.18 "torch==2.13.0 torchao==0.18.0 torchtune==0.6.1" \
    "torch, torchao, torchao.quantization, torchtune, torchtune.training"
