// Differential attention (Ye et al., "Differential Transformer", 2024) with
// a fixed lambda of 0.5: two softmax maps over the same keys, subtracted,
// applied to one V. Arguments (Q1, K1, Q2, K2, V), each as SDPA's layout.
//
//   O[p,f] = (softmax(Q1 K1^T / sqrt(E)) - 0.5 softmax(Q2 K2^T / sqrt(E))) V
//
// Written as two full 3-pass softmaxes (6 reductions over m) whose
// probabilities are combined before the product with V.
func.func @differential(%Q1: tensor<?x?x?x?xf32>, %K1: tensor<?x?x?x?xf32>, %Q2: tensor<?x?x?x?xf32>, %K2: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %S1 = cascade.einsum S1[b, h, m, p] = %Q1[b, h, p, e] * %K1[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %M1 = cascade.einsum M1[b, h, p] = %S1[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %N1 = cascade.einsum N1[b, h, m, p] = exp(%S1[b, h, m, p] - %M1[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D1 = cascade.einsum D1[b, h, p] = %N1[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %S2 = cascade.einsum S2[b, h, m, p] = %Q2[b, h, p, e] * %K2[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %M2 = cascade.einsum M2[b, h, p] = %S2[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %N2 = cascade.einsum N2[b, h, m, p] = exp(%S2[b, h, m, p] - %M2[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D2 = cascade.einsum D2[b, h, p] = %N2[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %N1[b, h, m, p] / %D1[b, h, p] - 0.5 * (%N2[b, h, m, p] / %D2[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
