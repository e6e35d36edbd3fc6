#!/usr/bin/env bash
# The main job: set up, build, then compile and run the softmax-attention spec
# on random data with the fp64 reference, and check the hand-written 1-pass
# form against it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

DIMS="b=2,h=4,p=100,m=200,e=64,f=64"
echo
echo "== variants/softmax.mlir (3-pass cascade), as attn-opt parses and prints it:"
build/bin/attn-opt variants/softmax.mlir
echo "== running it on random inputs ($DIMS), result in build/softmax_out.npy:"
build/bin/attn-run variants/softmax.mlir --dims "$DIMS" --seed 1 \
  --save-inputs build/softmax_in --output build/softmax_out.npy
echo "== the hand-written 1-pass cascade (FlashAttention-2 form) on the same inputs:"
build/bin/attn-run variants/softmax_onepass.mlir --dims "$DIMS" --seed 1 \
  --compare variants/softmax.mlir
echo "== inputs saved as build/softmax_in{0,1,2}.npy (Q, K, V; PyTorch SDPA layout)"
echo "== the pass analysis, then the compiler's own 1-pass form (cascade-minimize-passes):"
build/bin/attn-opt variants/softmax.mlir --cascade-pass-count -o /dev/null
build/bin/attn-opt variants/softmax.mlir --cascade-minimize-passes -o build/softmax_1pass.mlir
echo "== build/softmax_1pass.mlir on the same inputs, against the 3-pass spec:"
build/bin/attn-run build/softmax_1pass.mlir --dims "$DIMS" --seed 1 \
  --compare variants/softmax.mlir
echo "== the CPU backend (cascade-to-cpu, JIT): same inputs, checked against the fp64 reference:"
build/bin/attn-run variants/softmax.mlir --target cpu --dims "$DIMS" --seed 1 --check
echo "== and benchmarked against unfused OpenBLAS attention (B=1, H=8, N=2048, D=64, 2 threads):"
build/bin/attn-run variants/softmax.mlir --target cpu --num-threads 2 \
  --dims b=1,h=8,p=2048,m=2048,e=64,f=64 --bench --baseline openblas
echo "== the GPU backend (cascade-to-gpu, sm_80, f16): its kernel IR in the SIMT emulator,"
echo "   checked against the fp64 reference (docs/GPU.md; no GPU needed):"
build/bin/attn-run variants/softmax_causal.mlir --target cuda-emulator --chip sm_80 \
  --dims b=1,h=2,p=100,m=200,e=64,f=64 --seed 1 --check
if [ -x /usr/local/cuda/bin/ptxas ] || [ -n "${CUDA_HOME:-}" ]; then
  echo "== and compiled ahead of time to PTX and a cubin (upstream NVVM pipeline, ptxas):"
  build/bin/attn-compile variants/softmax_causal.mlir --target cuda --chip sm_80 \
    --head-dims e=64,f=64 -o build/softmax_causal.cubin --ptx build/softmax_causal.ptx \
    --header build/softmax_causal_cuda.h
  echo "   build/softmax_causal.{cubin,ptx}: $(grep -c mma.sync build/softmax_causal.ptx) mma.sync, $(grep -c ldmatrix build/softmax_causal.ptx) ldmatrix, $(grep -c "cp.async.c[ag].shared" build/softmax_causal.ptx) cp.async in the PTX"
fi
