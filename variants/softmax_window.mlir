// Sliding-window softmax attention (Mistral, Longformer's local band), 3
// passes. Query p sits at key position q = p + M - P (bottom-right aligned,
// as softmax_causal) and attends to the W keys q - W < m <= q.
//
// W is a runtime scalar: the argument %W, the extent of a rank `w` that
// indexes nothing (`cascade.extent_of`), 256 unless the caller passes
// another (`attn-run --dims w=128`; an int64_t in the AOT ABI; at least 1).
// The tile classification keeps W symbolic, so one kernel serves every
// window. A query
// whose window holds no key (P > M, the first P - M rows) gets 0, never NaN.
// After cascade-minimize-passes and cascade-classify-tiles the kernel visits
// only the key tiles that meet the band: about (W + 2 * 64) / M of them.
func.func @softmax_window(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %W: index {cascade.extent_of = "w", cascade.default = 256 : i64}) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where (m <= p + M - P, p + M - P < m + W) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where (m <= p + M - P, p + M - P < m + W) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m <= p + M - P, p + M - P < m + W) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
