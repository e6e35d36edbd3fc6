// Gated attention (Qiu et al., "Gated Attention for Large Language Models",
// 2025, the SDPA-output gate; also Forgetting/Gated Transformers): softmax
// attention times sigmoid(G) elementwise, with G [B,H,P,F] the gate scores
// (computed from the layer's input by a projection the spec does not see).
//
//   O[p,f] = softmax(Q K^T / sqrt(E))[p,:] V[:,f] * sigmoid(G[p,f])
//
// 3 passes over m as written (softmax's), 1 after cascade-minimize-passes;
// the gate is one elementwise Einsum after the key loop.
func.func @gated_output(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %G: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %O = cascade.einsum O[b, h, p, f] = %AV[b, h, p, f] / (1.0 + exp(-%G[b, h, p, f])) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %O : tensor<?x?x?x?xf32>
}
