#!/usr/bin/env bash
# Renders the cascade pictures in docs/images from the variants, with the
# cascade-pass-count DOT output. Needs graphviz (apt-get install graphviz), a
# docs-only dependency; run from the repository root after building.
set -euo pipefail
opt=build/bin/attn-opt
out=docs/images
render() { # name, pipeline...
  local name=$1; shift
  "$opt" variants/softmax.mlir "$@" --cascade-pass-count="dot=$out/$name.dot remarks=false" -o /dev/null
  dot -Tsvg "$out/$name.dot" -o "$out/$name.svg"
  rm "$out/$name.dot"
}
render softmax-3pass
render softmax-2pass --cascade-defer-division
render softmax-1pass --cascade-minimize-passes=remarks=false
