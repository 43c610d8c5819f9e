#!/usr/bin/env bash
# The loop people run by hand today, for the benchmark's baseline: per cell a fresh container, a fresh
# venv, `pip install --no-cache-dir`, then the imports. Same image, same wheelhouse, same pins and
# modules as bench/chain.toml; the host's CA bundle (PIP_CERT) is mounted as the harness mounts it.
#
#   bash bench/naive.sh WHEELHOUSE [IMAGE]
set -u
WHEELHOUSE=$(cd "$1" && pwd)
IMAGE=${2:-edge-wheel-harness/debian-bookworm:amd64}
DOCKER=${DOCKER:-docker}

ca=()
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    ca=(-v "$PIP_CERT:/ca.pem:ro" -e PIP_CERT=/ca.pem)
fi

cell() {  # cell NAME "REQUIREMENTS" "MODULES"
    local start end
    start=$(date +%s%N)
    "$DOCKER" run --rm "${ca[@]}" -v "$WHEELHOUSE:/wheelhouse:ro" "$IMAGE" sh -c \
        "python3 -m venv /venv && /venv/bin/pip install -q --disable-pip-version-check --no-cache-dir \
         --find-links /wheelhouse $2 && /venv/bin/python -c 'import $3'" >/dev/null 2>&1
    local rc=$?
    end=$(date +%s%N)
    echo "$1 exit=$rc ms=$(( (end - start) / 1000000 ))"
}

cell chain-2.13 "torch==2.13.0 torchao==0.15.0 torchtune==0.6.1" \
    "torch, torchao, torchao.quantization, torchtune, torchtune.training"
cell ao0.18 "torch==2.13.0 torchao==0.18.0 numpy==2.4.6" "torch, torchao, torchao.quantization"
cell chain-2.13-ao0.18 "torch==2.13.0 torchao==0.18.0 torchtune==0.6.1" \
    "torch, torchao, torchao.quantization, torchtune, torchtune.training"
