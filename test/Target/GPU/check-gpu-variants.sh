#!/bin/sh
# Every variant through the GPU backend's kernel IR in the SIMT emulator
# (attn-run --target cuda-emulator --check), against the fp64 reference on
# the same f16/bf16-rounded inputs: B=1, H=2 (HKV=1 for GQA), P = M in
# {1, 17}, P=70/M=133 (partial query and key tiles, several of each),
# head dims 64 (swizzled shared memory), 128 (two 64-wide slabs; dynamic
# shared memory where the tiles and mbarriers pass 48 KiB) and 80
# (padded rows, with 32-row query and key tiles: 2 warps), bf16, no keys
# (M = 0) and no queries (P = 0); on sm_80 (mma.sync) and sm_90a (S and
# P V by wgmma; with 2 warps, not a warpgroup, or 32-key tiles for P V,
# mma.sync again); the linear family
# (a state phase) in GpuStatePlan's CUDA-core form, its value columns
# split over blocks above 64, gla with rings of stacked steps. One line per case; stops at the first failure.
set -e
variants="$1"
attn_run="$2"
cases=0
run() {
  out=$("$attn_run" "$variants/$1.mlir" --target cuda-emulator --dims "$2" --check $3) || {
    echo "FAILED: $1 $2 $3"; echo "$out"; exit 1; }
  echo "$out" | grep -q "0 NaN/Inf.*: PASS" || { echo "NO PASS: $1 $2 $3"; echo "$out"; exit 1; }
  cases=$((cases + 1))
}
for v in softmax softmax_onepass sigmoid softmax_causal softmax_gqa softmax_softcap softmax_sink_window softmax_window softmax_sinks_window softmax_prefix_lm softmax_alibi softmax_document softplus relu gated_output differential based softmax_lse softmax_causal_lse; do
  extra=""
  [ "$v" = softmax_gqa ] && extra=",hkv=1"
  shapes="p=1,m=1 p=17,m=17 p=70,m=133 p=3,m=0 p=0,m=5"
  tail="p=70,m=133"
  # softmax_document reads its ids at both p and m: P = M.
  [ "$v" = softmax_document ] && shapes="p=1,m=1 p=17,m=17 p=130,m=130 p=0,m=0" && tail="p=130,m=130"
  for pm in $shapes; do
    run $v "b=1,h=2$extra,$pm,e=64,f=64"
  done
  run $v "b=1,h=2$extra,p=70,m=70,e=80,f=80" "--query-tile 32 --key-tile 32"
  run $v "b=1,h=2$extra,$tail,e=64,f=64" "--storage-type bf16"
  # Two 64-wide slabs per staged row (D = 128); differential's four staged
  # tiles take 80 KiB there, in dynamic shared memory.
  run $v "b=1,h=2$extra,$tail,e=128,f=128"
  # sm_90a: S = Q K^T and P V by wgmma.mma_async from the same swizzled
  # stages (P through its own tile, V as an N-major operand).
  for pm in p=17,m=17 $tail; do
    run $v "b=1,h=2$extra,$pm,e=64,f=64" "--chip sm_90a"
  done
  # D = 128 (64-key tiles): TMA stages, P's tile and mbarriers beyond
  # 48 KiB, in dynamic shared memory; with 32-key tiles P V stays mma.sync.
  run $v "b=1,h=2$extra,$tail,e=128,f=128" "--chip sm_90a"
  run $v "b=1,h=2$extra,$tail,e=128,f=128" "--chip sm_90a --key-tile 32"
  run $v "b=1,h=2$extra,$tail,e=64,f=64" "--chip sm_90a --storage-type bf16"
  run $v "b=1,h=2$extra,p=70,m=70,e=80,f=80" "--chip sm_90a --query-tile 32 --key-tile 32"
done
# Runtime window sizes: a window inside one key tile, and of one key.
for vs in softmax_window:w softmax_sinks_window:w softmax_prefix_lm:l; do
  v=${vs%%:*}; r=${vs##*:}
  for size in 1 17; do
    run $v "b=1,h=1,p=70,m=200,e=64,f=64,$r=$size"
  done
done
# Rows that see no key (causal with P > M): the log-sum-exp is -inf and
# the output 0, as in the reference.
run softmax_causal_lse "b=1,h=2,p=40,m=9,e=64,f=64"
run softmax_causal_lse "b=1,h=2,p=40,m=9,e=64,f=64" "--chip sm_90a"
# Two warpgroups per block (128-row query tiles): each reads its 64 rows
# of the query stage by its own descriptor.
run softmax_causal "b=1,h=2,p=150,m=133,e=64,f=64" "--chip sm_90a --query-tile 128"
# And at D = 128, where the tiles take 64 KiB: dynamic shared memory, with
# cp.async on sm_80 and TMA on sm_90a.
run softmax_causal "b=1,h=2,p=150,m=133,e=128,f=128" "--query-tile 128"
run softmax_causal "b=1,h=2,p=150,m=133,e=128,f=128" "--chip sm_90a --query-tile 128"
# FlashAttention-3's tile: 128 x 128 at D = 128 (P's tile two 64-key slabs
# per warpgroup's rows; 192 KiB of shared memory), causal and GQA (two
# query heads per key head), and sm_90a's wgmma P V with a 128-wide N.
run softmax_causal "b=1,h=2,p=200,m=300,e=128,f=128" "--chip sm_90a --query-tile 128 --key-tile 128"
run softmax_gqa "b=1,h=4,hkv=2,p=200,m=300,e=128,f=128" "--chip sm_90a --query-tile 128 --key-tile 128"
run softmax "b=1,h=1,p=130,m=257,e=128,f=128" "--chip sm_90a --query-tile 128 --key-tile 128 --storage-type bf16"
# A state phase (the linear family): GpuStatePlan's form, one block per
# (b, h) on CUDA cores, the chunked state advanced before each query tile.
# Tails, P > M (query tiles past the last key tile read the final state)
# and P < M, one key, no keys, no queries, bf16, sm_90a, D = 128 (sm_90a:
# causal linear attention's tiles take 177 KiB), and 32-row tiles.
for v in linear linear_associated linear_causal retention lightning hedgehog; do
  extra=""
  [ "$v" = hedgehog ] && extra=",r=16"
  for pm in p=17,m=17 p=70,m=133 p=133,m=70 p=1,m=1 p=3,m=0 p=0,m=5; do
    run $v "b=1,h=2$extra,$pm,e=64,f=64"
  done
  run $v "b=1,h=2$extra,p=70,m=133,e=64,f=64" "--storage-type bf16"
  run $v "b=1,h=2$extra,p=70,m=133,e=64,f=64" "--chip sm_90a"
  # D = 128: the value columns split over two blocks of 64 (GpuStatePlan's
  # column split), on both chips; 80 is two blocks of 40.
  run $v "b=1,h=1$extra,p=40,m=70,e=128,f=128"
  run $v "b=1,h=1$extra,p=40,m=70,e=128,f=128" "--chip sm_90a"
  run $v "b=1,h=2$extra,p=45,m=70,e=80,f=80" "--query-tile 32 --key-tile 32"
done
# A split whose last block is partly outside the rank: 160 columns are
# three blocks of 56, the last with 48. Split, with no keys (the output
# 0, the spec's value of an empty sum) and with no queries.
run linear_causal "b=1,h=1,p=70,m=133,e=64,f=160"
run linear_causal "b=1,h=1,p=3,m=0,e=128,f=128"
run linear_causal "b=1,h=1,p=0,m=5,e=128,f=128"
run linear "b=1,h=1,p=3,m=0,e=64,f=160"
run gla "b=1,h=1,p=0,m=0,u=0,e=128,f=128" "--chip sm_90a"

# Gated linear attention: per-step prefix sums stacked beside the state,
# read by each row at its own key tile and by the key loop at the tile it
# visits, so a query tile reads up to three steps (its rows straddle two
# key tiles where P != M): GpuStatePlan keeps rings of the last steps.
# GLA needs P <= M; sm_86 (99 KiB) with 16-row tiles. At D = 128 the state
# and its ring fit one block only split by columns: four blocks of 32 on
# sm_90a, and on sm_80 with the 32-row tiles cascade-schedule-for-gpu
# chooses there; 160 columns are three blocks of 56 (the last 48).
for pm in p=17,m=17 p=70,m=133 p=130,m=200 p=1,m=1 p=1,m=70 p=0,m=5 p=0,m=0; do
  run gla "b=1,h=2,$pm,u=${pm#*m=},e=64,f=64"
done
run gla "b=1,h=2,p=70,m=133,u=133,e=64,f=64" "--storage-type bf16"
run gla "b=1,h=2,p=70,m=133,u=133,e=64,f=64" "--chip sm_90a"
run gla "b=1,h=2,p=45,m=70,u=70,e=64,f=64" "--query-tile 32 --key-tile 32"
run gla "b=1,h=1,p=45,m=70,u=70,e=64,f=64" "--chip sm_86 --query-tile 16 --key-tile 16"
run gla "b=1,h=1,p=40,m=70,u=70,e=128,f=128" "--chip sm_90a"
run gla "b=1,h=1,p=40,m=70,u=70,e=128,f=128"
run gla "b=1,h=1,p=40,m=70,u=70,e=64,f=160" "--chip sm_90a --key-tile 64"
echo "all $cases cases passed"
