// Softmax attention with attention sinks and a causal sliding window
// (StreamingLLM; DuoAttention's streaming heads), 3 passes. Query p sits at
// key position q = p + M - P (bottom-right aligned, as softmax_causal) and
// attends to the keys m <= q that are either among the first 4 (the sinks)
// or inside the W most recent keys, q - W < m: a union, written as
// `where (causal, sinks) or (causal, window)`.
//
// W is a runtime scalar (the argument %W, 256 unless the caller passes
// another: `attn-run --dims w=128`, an int64_t in the AOT ABI); the sink
// count 4 is a constant of the predicate.
// A query with no key left (P > M, the first P - M rows) gets 0, never NaN.
// After cascade-minimize-passes and cascade-classify-tiles each query tile
// visits the first key tile and the tiles of its band, about
// (64 + W + 2 * 64) / M of them. softmax_sink_window.mlir states a similar
// mask as a select to -inf in the body, which no analysis sees.
func.func @softmax_sinks_window(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %W: index {cascade.extent_of = "w", cascade.default = 256 : i64}) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where (m <= p + M - P, m < 4) or (m <= p + M - P, p + M - P < m + W) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where (m <= p + M - P, m < 4) or (m <= p + M - P, p + M - P < m + W) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m <= p + M - P, m < 4) or (m <= p + M - P, p + M - P < m + W) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
