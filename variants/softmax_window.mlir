// Sliding-window softmax attention (Mistral, Longformer's local band), 3
// passes. Query p sits at key position q = p + M - P (bottom-right aligned,
// as softmax_causal) and attends to the W = 256 keys q - W < m <= q.
//
// W is a constant of the predicate: change 256 for another window. A query
// whose window holds no key (P > M, the first P - M rows) gets 0, never NaN.
// After cascade-minimize-passes and cascade-classify-tiles the kernel visits
// only the key tiles that meet the band: about (W + 2 * 64) / M of them.
func.func @softmax_window(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where (m <= p + M - P, p + M - P < m + 256) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where (m <= p + M - P, p + M - P < m + 256) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m <= p + M - P, p + M - P < m + 256) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
