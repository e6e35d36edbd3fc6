// cascade-schedule-for-gpu on sm_80 at D = 128: the default key tile (32,
// the tensor cores') is below the 64-row query tile. Where scheduling at
// it fails, the pass schedules again at the query tile's keys and keeps
// that schedule only if it has a state phase (GLA: test/Target/GPU/
// state-phase-ring.test); otherwise the first attempt's errors are
// reported, once each, and nothing of the second's.
// RUN: attn-opt %s --cascade-schedule-for-gpu="chip=sm_80 head-dims=e=128" -verify-diagnostics -o /dev/null

// A result of one value per row has no head dimension to tile.
// expected-error @+1 {{cascade-partition-rank: head dimension 'p' needs a compile-time size in a work item}}
func.func @rows(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32> {
  %S = cascade.einsum S[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %S[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  return %D : tensor<?x?x?xf32>
}
