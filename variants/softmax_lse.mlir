// Softmax attention that also returns the log-sum-exp of each query row,
// LSE = max_m S + log(sum_m exp(S - max_m S)), in f32: what a backward pass,
// split-KV decoding and ring attention combine partial results with.
//
//   ... softmax as in softmax.mlir ...
//   LSE[p]  = GM[p] + log(SD[p])
//
// cascade-online-rescale reads GM and SD after the key loop as its final
// running max and sum, so the cascade keeps one pass over m. A row that sees
// no key has GM = -inf and SD = 0: LSE = -inf (O is 0 there).
//
// Layout as PyTorch SDPA: Q [B,H,P,E], K [B,H,M,E], V [B,H,M,F] ->
// ([B,H,P,F], [B,H,P]).
func.func @softmax_lse(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %LSE = cascade.einsum LSE[b, h, p] = %GM[b, h, p] + log(%SD[b, h, p]) : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %AV, %LSE : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
