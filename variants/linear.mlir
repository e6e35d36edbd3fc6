// Non-causal linear attention as it is usually written, by analogy with
// softmax: scores S = phi(Q) phi(K)^T, normalised by their row sums, then
// applied to V. The feature map is phi(x) = elu(x) + 1, spelled
// max(x, 0) + exp(min(x, 0)); there is no 1/sqrt(E) scale.
//
//   PQ[p,e] = phi(Q[p,e])          PK[m,e] = phi(K[m,e])
//   S[m,p]  = PQ[p,e] * PK[m,e]    reduce e: add
//   D[p]    = S[m,p]               reduce m: add     -- pass 1 over m
//   A[m,p]  = S[m,p] / D[p]                          -- pass 2
//   AV[p,f] = A[m,p] * V[m,f]      reduce m: add
//
// Two passes over m and O(P*M*(E+F)) work as written. cascade-minimize-passes
// defers the division (1 pass) and then reassociates to
// phi(Q) (phi(K)^T V), O((P+M)*E*F) work: variants/linear_associated.mlir.
// `cascade.typical_extents` tells the cost model the usual head dimensions,
// since every size here is dynamic.
func.func @linear(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> attributes {cascade.typical_extents = {e = 64 : i64, f = 64 : i64}} {
  %PQ = cascade.einsum PQ[b, h, p, e] = max(%Q[b, h, p, e], 0.0) + exp(min(%Q[b, h, p, e], 0.0)) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %PK = cascade.einsum PK[b, h, m, e] = max(%K[b, h, m, e], 0.0) + exp(min(%K[b, h, m, e], 0.0)) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %S = cascade.einsum S[b, h, m, p] = %PQ[b, h, p, e] * %PK[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %S[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %S[b, h, m, p] / %D[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
