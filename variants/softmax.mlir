// Softmax attention, the 3-pass cascade (FuseMax cascade 4, with the scale).
//
//   QK[m,p] = Q[p,e] * K[m,e] / sqrt(E)   reduce e: add   -- pass 1 over m
//   GM[p]   = QK[m,p]                      reduce m: max
//   SN[m,p] = exp(QK[m,p] - GM[p])                         -- pass 2
//   SD[p]   = SN[m,p]                      reduce m: add
//   A[m,p]  = SN[m,p] / SD[p]                              -- pass 3
//   AV[p,f] = A[m,p] * V[m,f]              reduce m: add
//
// Layout as PyTorch SDPA: Q [B,H,P,E], K [B,H,M,E], V [B,H,M,F] -> [B,H,P,F].
func.func @softmax(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
