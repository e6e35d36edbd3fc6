// RUN: attn-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(cascade-to-cpu{head-dims=e=8 cpu=x86-64-v3})'
// Inputs libFuzzer found (fuzz/PipelineFuzzer.cpp): cascade-build-cpu-shape-check
// read past an empty list of result ranks and cast a rank-0 argument's
// type. Interfaces the kernel builder refuses get no check, and the
// builder's own diagnostic is what the user sees.

// A scalar result (found from test/Interpreter/semantics.mlir).
func.func @scalar(%X: tensor<?x?xf32>) -> tensor<f32> {
  // expected-error @+1 {{cascade-partition-rank: no query rank: work items need one result with a query rank and a head dimension}}
  %S = cascade.einsum S[] = %X[i, e] reduce(e: add, i: add) : (tensor<?x?xf32>) -> tensor<f32>
  return %S : tensor<f32>
}

// -----

// A rank-0 argument.
// expected-error @+1 {{argument #1 must be a ranked tensor of rank >= 1 for the CPU backend}}
func.func @scalar_argument(%X: tensor<?x?xf32>, %c: tensor<f32>) -> tensor<?x?xf32> {
  %Y = cascade.einsum Y[p, e] = %X[p, e] * %c[] : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xf32>
  return %Y : tensor<?x?xf32>
}
