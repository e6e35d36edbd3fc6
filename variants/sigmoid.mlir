// Sigmoid attention (FlashSigmoid): A = sigmoid(QK / sqrt(E) + b) with the
// bias b = -ln(M), and no normalisation, so no reduction over m precedes AV:
// one pass over m as written.
//
//   S[m,p]  = Q[p,e] * K[m,e] / sqrt(E)         reduce e: add
//   A[m,p]  = 1 / (1 + exp(-(S[m,p] - ln M)))
//   AV[p,f] = A[m,p] * V[m,f]                   reduce m: add
func.func @sigmoid(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = 1.0 / (1.0 + exp(-(%S[b, h, m, p] - log(M)))) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
