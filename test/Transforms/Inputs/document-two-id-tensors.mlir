// softmax_document with the query's ids read from a second tensor: a key
// with the query's id need not exist, so the rows with no key cannot be
// stated as an integer set and cascade-defer-division refuses.
func.func @two_id_tensors(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %D: tensor<?x?xi32>, %E: tensor<?x?xi32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where %D[b, m] == %E[b, p] : (tensor<?x?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where %D[b, m] == %E[b, p] else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where %D[b, m] == %E[b, p] else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
