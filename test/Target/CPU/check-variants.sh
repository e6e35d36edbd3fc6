#!/bin/sh
# Every variant through the CPU backend, checked element by element against
# the fp64 reference (attn-run --check): B=2, H=4 (HKV=2 for GQA),
# P = M in {1, 17, 129, 1000}, P=33/M=100, head dims 64, 80, 128, f16 and
# bf16 storage, and no keys (M = 0) or no queries (P = 0); then the runtime
# sizes of the windowed variants at 1, 17 and 100. softmax_document reads
# its ids at both p and m, so it runs at P = M only (random segment ids,
# about 4 documents per row). gla reads its gates' prefix sums at
# p + M - P, so it takes P <= M. hedgehog's feature map W [H, E, R] has
# R = 16. Prints one line per case; stops at the first failure.
set -e
variants="$1"
attn_run="$2"
cases=0
for v in softmax softmax_onepass sigmoid linear linear_associated softmax_causal softmax_gqa softmax_softcap softmax_sink_window softmax_window softmax_sinks_window softmax_prefix_lm softmax_alibi softmax_document softplus relu gated_output linear_causal retention lightning differential gla based hedgehog; do
  extra=""
  [ "$v" = softmax_gqa ] && extra=",hkv=2"
  [ "$v" = hedgehog ] && extra=",r=16"
  empty="p=3,m=0 p=0,m=5"
  [ "$v" = softmax_document ] && empty="p=0,m=0"
  [ "$v" = gla ] && empty="p=0,m=5 p=0,m=0"
  for d in 64 80 128; do
    for pm in "p=1,m=1" "p=17,m=17" "p=129,m=129" "p=33,m=100" "p=1000,m=1000"; do
      [ "$v" = softmax_document ] && [ "$pm" = "p=33,m=100" ] && continue
      rows=""
      [ "$pm" = "p=1000,m=1000" ] && rows="--check-rows 12"
      out=$("$attn_run" "$variants/$v.mlir" --target cpu --num-threads 2 \
            --dims "b=2,h=4$extra,$pm,e=$d,f=$d" --check $rows) || {
        echo "FAILED: $v $pm d=$d"; echo "$out"; exit 1; }
      echo "$out" | grep -q "0 NaN/Inf: PASS" || { echo "NO PASS: $v $pm d=$d"; exit 1; }
      cases=$((cases + 1))
    done
  done
  for pm in $empty; do
    out=$("$attn_run" "$variants/$v.mlir" --target cpu --num-threads 2 \
          --dims "b=2,h=4$extra,$pm,e=64,f=64" --check) || {
      echo "FAILED: $v $pm"; echo "$out"; exit 1; }
    echo "$out" | grep -q "0 NaN/Inf: PASS" || { echo "NO PASS: $v $pm"; exit 1; }
    cases=$((cases + 1))
  done
  for st in f16 bf16; do
    out=$("$attn_run" "$variants/$v.mlir" --target cpu --num-threads 2 --storage-type $st \
          --dims "b=2,h=4$extra,p=129,m=129,e=64,f=64" --check) || {
      echo "FAILED: $v $st"; echo "$out"; exit 1; }
    echo "$out" | grep -q "0 NaN/Inf: PASS" || { echo "NO PASS: $v $st"; exit 1; }
    cases=$((cases + 1))
  done
done
# Runtime sizes (W, L) other than the default: the same kernel with most
# key tiles skipped, a window inside one tile, and a window of one key.
for vs in softmax_window:w softmax_sinks_window:w softmax_prefix_lm:l; do
  v=${vs%%:*}; r=${vs##*:}
  for size in 1 17 100; do
    for pm in "p=129,m=129" "p=1000,m=1000" "p=70,m=300"; do
      out=$("$attn_run" "$variants/$v.mlir" --target cpu --num-threads 2 \
            --dims "b=1,h=2,$pm,e=64,f=64,$r=$size" --check --check-rows 40) || {
        echo "FAILED: $v $pm $r=$size"; echo "$out"; exit 1; }
      echo "$out" | grep -q "0 NaN/Inf: PASS" || { echo "NO PASS: $v $pm $r=$size"; exit 1; }
      cases=$((cases + 1))
    done
  done
done
echo "all $cases cases passed"
