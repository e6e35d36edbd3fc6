// Non-causal linear attention in the associated order, phi(Q) (phi(K)^T V)
// normalised by phi(Q) . sum_m phi(K): what cascade-minimize-passes makes of
// variants/linear.mlir, written by hand. m is reduced once, before anything
// reads Q. phi(x) = elu(x) + 1 is spelled max(x, 0) + exp(min(x, 0)); there is
// no 1/sqrt(E) scale.
//
//   PQ[p,e] = phi(Q[p,e])          PK[m,e] = phi(K[m,e])
//   KV[e,f] = PK[m,e] * V[m,f]     reduce m: add
//   KS[e]   = PK[m,e]              reduce m: add
//   N[p,f]  = PQ[p,e] * KV[e,f]    reduce e: add
//   D[p]    = PQ[p,e] * KS[e]      reduce e: add
//   AV[p,f] = N[p,f] / D[p]
func.func @linear_associated(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %PQ = cascade.einsum PQ[b, h, p, e] = max(%Q[b, h, p, e], 0.0) + exp(min(%Q[b, h, p, e], 0.0)) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %PK = cascade.einsum PK[b, h, m, e] = max(%K[b, h, m, e], 0.0) + exp(min(%K[b, h, m, e], 0.0)) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %KV = cascade.einsum KV[b, h, e, f] = %PK[b, h, m, e] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %KS = cascade.einsum KS[b, h, e] = %PK[b, h, m, e] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %N = cascade.einsum N[b, h, p, f] = %PQ[b, h, p, e] * %KV[b, h, e, f] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %PQ[b, h, p, e] * %KS[b, h, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %N[b, h, p, f] / %D[b, h, p] where (1 <= M) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
