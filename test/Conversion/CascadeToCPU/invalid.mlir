// RUN: attn-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(cascade-lower-to-cpu-kernel)'
// The kernel builder reads the scheduled form (cascade-partition-rank's
// cascade.grid) and refuses, with what to change, what it cannot map onto
// work items. Refusals of the scheduling itself (an unstreamed key rank, a
// head dimension without a size) are in test/Transforms/partition-rank-invalid.mlir.

// Not scheduled: no work grid.
func.func @not_scheduled(%X: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %O = cascade.einsum O[p, f] = %X[p, f] * 2.0 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  // expected-error @+1 {{the CPU backend compiles the scheduled form: the result must be a cascade.grid (run cascade-partition-rank; cascade-to-cpu does)}}
  return %O : tensor<?x?xf32>
}

// -----

// A grid that cuts no rank has no query tile.
func.func @no_query_tile(%X: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{a work grid needs a query tile: a grid rank that cuts a rank}}
  %O = cascade.grid [p] tile_extents(f = 8) -> ([p, f]) : tensor<?x?xf32> {
    %T = cascade.einsum T[f] = %X[p, f] * 2.0 : (tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %T : tensor<?xf32>
  }
  return %O : tensor<?x?xf32>
}

// -----

// Every argument's innermost rank must be a head dimension of the grid.
// expected-error @+1 {{the innermost dimension of argument #1 must be a head dimension of the work grid (one of its tile_extents)}}
func.func @argument_head(%X: tensor<?x?x?xf32>, %Y: tensor<?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [b, p1] tile_extents(f = 8) -> ([b, p, f]) : tensor<?x?x?xf32> {
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] * %Y[f, b] : (tensor<?x?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?x?xf32>
}
