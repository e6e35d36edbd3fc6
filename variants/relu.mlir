// ReLU attention (Wortsman et al., "Replacing softmax with ReLU in Vision
// Transformers", 2023): a = relu(s) / M with s the scaled score, M the
// number of keys; no normalising reduction, so one pass over m as written.
//
//   S[m,p]  = Q[p,e] * K[m,e] / sqrt(E)     reduce e: add
//   A[m,p]  = max(S[m,p], 0) / M
//   AV[p,f] = A[m,p] * V[m,f]                reduce m: add
//
// With no keys (M = 0) the sum over m is empty: the output is 0.
func.func @relu(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = max(%S[b, h, m, p], 0.0) / M : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
