// Prefix-LM softmax attention (T5's prefix LM, UniLM, PaliGemma): the first
// L keys (the prefix; L = 256 by default) are seen by every query, the
// rest causally.
// Query p sits at key position q = p + M - P (bottom-right aligned, as
// softmax_causal) and attends to the keys with m < L or m <= q: a union,
// written as `where (m < L) or (m <= q)`. 3 passes.
//
// L is a runtime scalar: the argument %L, 256 unless the caller passes
// another (`attn-run --dims l=64`, an int64_t in the AOT ABI; at least 1).
// Every query sees at
// least the first key, so no row is empty when M > 0. After
// cascade-minimize-passes and cascade-classify-tiles each query tile
// visits the prefix tiles and its causal tiles, the prefix and the tiles
// below the diagonal without masks.
func.func @softmax_prefix_lm(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %L: index {cascade.extent_of = "l", cascade.default = 256 : i64}) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where (m < L) or (m <= p + M - P) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where (m < L) or (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m < L) or (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
