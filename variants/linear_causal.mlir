// Causal linear attention (Katharopoulos et al., "Transformers are RNNs",
// 2020): phi(x) = elu(x) + 1, no 1/sqrt(E) scale, query p sees key m when
// m <= q with q = p + M - P (bottom-right aligned, as softmax_causal):
//
//   O[p] = sum_{m<=q} (phi(Q_p).phi(K_m)) V_m / sum_{m<=q} phi(Q_p).phi(K_m)
//
// A query that sees no key (P > M) gets 0, never NaN: the masked scores are
// 0, and the division is masked with them.
//
// As written this is quadratic: the mask keeps the sum over m from being
// reassociated into phi(Q) (phi(K)^T V) the way variants/linear.mlir is.
// docs/LinearFamily.md says where its linear-cost (chunked) form stands.
func.func @linear_causal(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> attributes {cascade.typical_extents = {e = 64 : i64, f = 64 : i64}} {
  %PQ = cascade.einsum PQ[b, h, p, e] = max(%Q[b, h, p, e], 0.0) + exp(min(%Q[b, h, p, e], 0.0)) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %PK = cascade.einsum PK[b, h, m, e] = max(%K[b, h, m, e], 0.0) + exp(min(%K[b, h, m, e], 0.0)) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %S = cascade.einsum S[b, h, m, p] = %PQ[b, h, p, e] * %PK[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %S[b, h, m, p] reduce(m: add) where (m <= p + M - P) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %S[b, h, m, p] / %D[b, h, p] where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
