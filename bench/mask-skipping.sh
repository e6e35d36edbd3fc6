#!/usr/bin/env bash
# Mask-aware tile skipping on the CPU (docs/Schedule.md): masked specs timed
# side by side with non-causal softmax at the same shape, in one run.
# Writes docs/bench/mask-skipping.md. Usage: bash bench/mask-skipping.sh [BUILD]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
run=$build/bin/attn-run
out=$root/docs/bench/mask-skipping.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A user's own mask, written as a where clause with a constant (not a
# library variant): a 128-key sliding window.
sed -e 's/@softmax_window/@user_window128/' -e 's/m + W)/m + 128)/g' \
  -e 's/, %W: index {cascade.extent_of = "w", cascade.default = 256 : i64}//' \
  "$root/variants/softmax_window.mlir" > "$tmp/user_window128.mlir"
grep -q 'm + 128)' "$tmp/user_window128.mlir"
! grep -q '%W' "$tmp/user_window128.mlir"
# The sigmoid spec with a free elementwise body (see the sigmoid rows).
sed -e 's/@sigmoid/@sigmoid_free/' \
  -e 's|1.0 / (1.0 + exp(-(%S\[b, h, m, p\] - log(M))))|%S[b, h, m, p] * 0.5|' \
  "$root/variants/sigmoid.mlir" > "$tmp/sigmoid_free.mlir"
grep -q '%S\[b, h, m, p\] \* 0.5' "$tmp/sigmoid_free.mlir"

median_ms() { # spec dims [repeat] [attn-run flags] -> median ms; progress on stderr
  echo "mask-skipping: $(basename "$1" .mlir) --dims $2 ${4:-}" >&2
  # shellcheck disable=SC2086 # $4 is a list of flags
  "$run" "$1" --target cpu --bench --num-threads 2 --warmup 1 --repeat "${3:-5}" \
    --dims "$2" ${4:-} | sed -n 's/.*bench @[a-z_0-9]*: median \([0-9.]*\) ms.*/\1/p'
}

# Packed sequences: 8 documents of 1024 positions at N = 8192 (ids from a
# .npy file; Q, K, V are attn-run's seeded random inputs, saved by it).
"$run" "$root/variants/softmax_document.mlir" --target cpu --dims b=1,h=8,p=8192,m=8192,e=64,f=64 \
  --save-inputs "$tmp/doc" > /dev/null
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/doc3.npy', (np.arange(8192) // 1024).astype(np.int32)[None, :])"
documents="--inputs $tmp/doc0.npy,$tmp/doc1.npy,$tmp/doc2.npy,$tmp/doc3.npy"

{
  echo "# Mask skipping on the CPU"
  echo
  echo "\`bash bench/mask-skipping.sh\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(date -u +%Y-%m-%d), 2 threads, fp32, B=1, H=8. Ratio = masked time / non-causal softmax time at the same shape, measured in this run."
  echo
  echo "| spec | N | D | time (ms) | softmax (ms) | ratio | target |"
  echo "|---|---|---|---|---|---|---|"
  for d in 64 128; do
    dims="b=1,h=8,p=4096,m=4096,e=$d,f=$d"
    base=$(median_ms "$root/variants/softmax.mlir" "$dims")
    t=$(median_ms "$root/variants/softmax_causal.mlir" "$dims")
    echo "| softmax_causal | 4096 | $d | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | <= 0.55 |"
    t=$(median_ms "$root/variants/softmax_alibi.mlir" "$dims")
    echo "| softmax_alibi (causal) | 4096 | $d | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | |"
  done
  dims="b=1,h=8,p=8192,m=8192,e=64,f=64"
  base=$(median_ms "$root/variants/softmax.mlir" "$dims" 3)
  t=$(median_ms "$root/variants/softmax_window.mlir" "$dims")
  echo "| softmax_window (W=256) | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | <= 0.06 |"
  t=$(median_ms "$tmp/user_window128.mlir" "$dims")
  echo "| user where-clause window (W=128) | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | <= 0.05 |"
  t=$(median_ms "$root/variants/softmax_window.mlir" "$dims,w=128")
  echo "| softmax_window, runtime W=128 (--dims w=128) | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | |"
  t=$(median_ms "$root/variants/softmax_sinks_window.mlir" "$dims")
  echo "| softmax_sinks_window (4 sinks, W=256) | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | <= 0.06 |"
  t=$(median_ms "$root/variants/softmax_prefix_lm.mlir" "$dims" 3)
  echo "| softmax_prefix_lm (L=256) | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | |"
  t=$(median_ms "$root/variants/softmax_causal.mlir" "$dims" 3)
  echo "| softmax_causal | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | |"
  t=$(median_ms "$root/variants/softmax_document.mlir" "$dims" 5 "$documents")
  echo "| softmax_document (8 documents of 1024, causal within each) | 8192 | 64 | $t | $base | $(awk "BEGIN{printf \"%.3f\", $t/$base}") | <= 0.1 |"
  echo
  # Kernel quality beside the skipping: the same kernel's rate against the
  # FMA peak attn-run measures in the same process.
  line=$("$run" "$root/variants/softmax.mlir" --target cpu --bench --num-threads 2 \
    --warmup 1 --repeat 5 --dims b=1,h=8,p=2048,m=2048,e=64,f=64 | grep 'bench @')
  echo "Non-causal softmax, N=2048, D=64: $(echo "$line" | sed -n 's/.*runs (1 warm-up), \(.*threads)\).*/\1/p')."
  echo
  # Item 6 of issue 10: sigmoid against softmax at the same shape, and the
  # sigmoid spec with its elementwise body replaced by S * 0.5 (no exp, no
  # division: the two contractions and the buffers between them only),
  # which bounds what any sigmoid can gain over softmax on this CPU.
  dims="b=1,h=8,p=2048,m=2048,e=64,f=64"
  base=$(median_ms "$root/variants/softmax.mlir" "$dims")
  t=$(median_ms "$root/variants/sigmoid.mlir" "$dims")
  free=$(median_ms "$tmp/sigmoid_free.mlir" "$dims")
  echo "| spec, N=2048, D=64 | time (ms) | softmax (ms) | softmax / spec |"
  echo "|---|---|---|---|"
  echo "| sigmoid | $t | $base | $(awk "BEGIN{printf \"%.3f\", $base/$t}") |"
  echo "| sigmoid with its body replaced by S * 0.5 (a free sigmoid) | $free | $base | $(awk "BEGIN{printf \"%.3f\", $base/$free}") |"
} | tee "$out"
