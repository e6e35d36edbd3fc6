// RUN: attn-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(cascade-lower-to-cpu-kernel{head-dims=e=8})'

// The head dimension f has no compile-time size.
// expected-error @+1 {{head dimension 'f' needs a compile-time size}}
func.func @no_size(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>, %V: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %S = cascade.einsum S[m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %O = cascade.einsum O[p, f] = %S[m, p] * %V[m, f] reduce(m: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %O : tensor<?x?xf32>
}

// -----

// A key rank that was not streamed cannot be a loop inside a work item.
func.func @not_streamed(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>, %V: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{rank 'm' is neither a work rank, the key tile nor a head dimension}}
  %S = cascade.einsum S[m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %O = cascade.einsum O[p, e] = %S[m, p] * %V[m, e] reduce(m: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %O : tensor<?x?xf32>
}
