// Specs and options the GPU backend has no form for get located errors.
// RUN: attn-opt %s --split-input-file --verify-diagnostics --pass-pipeline="builtin.module(cascade-to-gpu{head-dims=e=64,f=64})"

// A feature map applied inside the contraction: the tensor cores multiply
// staged operands as they are; apply phi in an Einsum of its own.
func.func @phi_inside(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  // expected-error @+1 {{no GPU form yet for a contraction of 'e' whose body is not a * b times a constant}}
  %QK = cascade.einsum QK[b, h, m, p] = exp(%Q[b, h, p, e]) * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
