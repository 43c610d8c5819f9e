# The benchmark's cells, for bench/naive.sh and bench/skilled.sh (each defines `cell NAME REQUIREMENTS
# MODULES`, then sources this with SET naming the set): the same pins and modules as bench/chain.toml's
# three cells and bench/arm64.toml's two.

cells_chain() {
    cell chain-2.13 "torch==2.13.0 torchao==0.15.0 torchtune==0.6.1" \
        "torch, torchao, torchao.quantization, torchtune, torchtune.training"
    cell ao0.18 "torch==2.13.0 torchao==0.18.0 numpy==2.4.6" "torch, torchao, torchao.quantization"
    cell chain-2.13-ao0.18 "torch==2.13.0 torchao==0.18.0 torchtune==0.6.1" \
        "torch, torchao, torchao.quantization, torchtune, torchtune.training"
}

cells_arm64() {  # bench/arm64.toml's two cells, emulated
    cell numpy-2.2 "numpy==2.2.6" "numpy"
    cell numpy-1.26 "numpy==1.26.4" "numpy"
}

case "$SET" in
    chain) cells_chain ;;
    arm64) cells_arm64 ;;
    *) echo "unknown cell set: $SET (chain or arm64)" >&2; exit 2 ;;
esac
