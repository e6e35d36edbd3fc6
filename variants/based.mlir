// BASED's linear attention (Arora et al., "Simple linear attention language
// models balance the recall-throughput tradeoff", 2024): causal linear
// attention with the 2nd-order Taylor feature map
//
//   phi(x) = [1, x / E^(1/4), (x (x) x) / (sqrt(2) sqrt(E))]
//
// so that phi(q).phi(k) = 1 + s + s^2 / 2 with s = q.k / sqrt(E) (as fla's
// parallel_based and the BASED repository's TaylorExp). q = p + M - P:
//
//   O[p] = sum_{m<=q} (1 + s + s^2/2) V_m / sum_{m<=q} (1 + s + s^2/2)
//
// 1 + s + s^2/2 = ((1 + s)^2 + 1) / 2 >= 1/2, so a row that sees a key has a
// normaliser >= 1/2 (no epsilon, unlike fla's z + 1e-6); a row that sees no
// key (P > M) gets 0. Q and K are BASED's feature projections (d' = 16 in the
// paper; any E here). BASED's other mixer, the small sliding-window softmax
// layers (window 64), is variants/softmax_window.mlir with w=64.
//
// Written in its quadratic form: one pass over m, with the causal tiles
// skipped. Its linear-cost form needs the (1 + E + E^2)-feature expansion
// of the state; docs/LinearFamily.md says where that stands.
func.func @based(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %T = cascade.einsum T[b, h, m, p] = 1.0 + %S[b, h, m, p] + 0.5 * %S[b, h, m, p] * %S[b, h, m, p] : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %T[b, h, m, p] reduce(m: add) where (m <= p + M - P) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %T[b, h, m, p] / %D[b, h, p] where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
