// Causal softmax with a [B, P, M] int32 mask tensor instead of document
// ids: query p sees key m when T[b, m, p] == T[b, p, m]. Each read varies
// with both the query and the key tile, so no tile can be classified by id
// ranges: every visited tile runs masked, the ids staged per tile pair.
func.func @mask_tensor(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %T: tensor<?x?x?xi32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where (m <= p + M - P) and %T[b, m, p] == %T[b, p, m] : (tensor<?x?x?x?xf32>, tensor<?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where (m <= p + M - P) and %T[b, m, p] == %T[b, p, m] else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m <= p + M - P) and %T[b, m, p] == %T[b, p, m] else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x?xf32>
  %O = cascade.einsum O[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %O : tensor<?x?x?x?xf32>
}
