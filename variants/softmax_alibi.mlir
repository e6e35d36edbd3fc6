// Causal softmax attention with ALiBi (Press et al., "Train Short, Test
// Long"; BLOOM, MPT): score s + slope_h * (m - q) for key m and query
// position q = p + M - P (bottom-right aligned, as softmax_causal), with the
// geometric slopes slope_h = 2^(-8 (h + 1) / H) of the paper. The bias is 0
// on the diagonal and grows more negative with distance. 3 passes.
//
// The slopes are an Einsum over h alone, computed once per head, not an
// exp2 per score. A query that sees no key (P > M) gets 0, never NaN.
func.func @softmax_alibi(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %SL = cascade.einsum SL[h] = exp2(-8.0 * (h + 1.0) / H) : () -> tensor<?xf32>
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %S = cascade.einsum S[b, h, m, p] = %QK[b, h, m, p] + %SL[h] * (m - (p + M - P)) : (tensor<?x?x?x?xf32>, tensor<?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %S[b, h, m, p] reduce(m: max) where (m <= p + M - P) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%S[b, h, m, p] - %GM[b, h, p]) where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
