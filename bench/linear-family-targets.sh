#!/usr/bin/env bash
# Issue 11's targets for the linear family, side by side in one run on the
# CPU (2 threads, fp32, B=1, H=8, D=64): the scaling of linear,
# linear_causal, retention and gla from N=2048 to N=16384 (linear: 8x,
# quadratic: 64x), linear_causal against softmax_causal at N=8192, and
# differential attention against softmax at N=2048.
# Usage: bash bench/linear-family-targets.sh [BUILD]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${1:-$root/build}/bin/attn-run
ms() { # variant N [repeat] -> median ms
  "$run" "$root/variants/$1.mlir" --target cpu --bench --num-threads 2 --warmup 1 \
    --repeat "${3:-5}" --dims "b=1,h=8,p=$2,m=$2,e=64,f=64" |
    sed -n 's/.*bench @[a-z_0-9]*: median \([0-9.]*\) ms.*/\1/p'
}
ratio() { awk "BEGIN{printf \"%.3f\", $1/$2}"; }
echo "| target | measured | ratio | bound |"
echo "|---|---|---|---|"
for v in linear linear_causal retention gla; do
  a=$(ms "$v" 2048); b=$(ms "$v" 16384 3)
  echo "| $v, N=16384 / N=2048 | $b ms / $a ms | $(ratio "$b" "$a") | <= 10 |"
done
lc=$(ms linear_causal 8192); sc=$(ms softmax_causal 8192 3)
echo "| linear_causal / softmax_causal, N=8192 | $lc ms / $sc ms | $(ratio "$lc" "$sc") | <= 0.15 |"
d=$(ms differential 2048); s=$(ms softmax 2048)
echo "| differential / softmax, N=2048 | $d ms / $s ms | $(ratio "$d" "$s") | <= 2.2 |"
