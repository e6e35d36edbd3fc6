// RUN: attn-opt %s --cascade-annotate-plan -split-input-file -verify-diagnostics
// RUN: not attn-opt %s --cascade-annotate-plan=target=sm_70 -split-input-file 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: error: cascade-annotate-plan: unknown target 'sm_70' (avx512, avx2, sm_80, sm_86, sm_89 or sm_90a)
//
// The schedule plan covers the scheduled form a backend compiles; what it
// cannot plan gets a located error.

// expected-error @+3 {{the plan covers the scheduled form: the function's results must be a cascade.grid's (run cascade-partition-rank)}}
func.func @not_scheduled(%X: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %T = cascade.einsum T[p, f] = %X[p, f] * 2.0 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %T : tensor<?x?xf32>
}

// -----

// A grid's results are the function's, all of them and in order (a
// function that drops the row sums would have its kernel write them).
func.func @two_results_one_returned(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O, %N = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f], [b, p]) : tensor<?x?x?xf32>, tensor<?x?xf32> {
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] * 2.0 : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    %S = cascade.einsum S[p0] = %T[p0, f] reduce(f: add) : (tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %T, %S : tensor<?x?xf32>, tensor<?xf32>
  }
  // expected-error @+1 {{the plan covers functions whose results are one grid's results, in order}}
  return %O : tensor<?x?x?xf32>
}

// -----

// A grid without a query tile: every item would be a whole row range.
func.func @no_query_tile(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{needs a query tile: a grid rank that cuts a rank}}
  %O = cascade.grid [b] tile_extents(p = 8, f = 4) -> ([b, p, f]) : tensor<?x?x?xf32> {
    %T = cascade.einsum T[p, f] = %X[b, p, f] * 2.0 : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// -----

// Two key ranks streamed side by side (a hand-split differential
// attention): a work item has one key loop.
func.func @two_key_partitions(%X: tensor<?x?x?xf32>, %Y: tensor<?x?x?xf32> {cascade.ranks = ["b", "m", "f"]}, %Z: tensor<?x?x?xf32> {cascade.ranks = ["b", "n", "f"]}) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  cascade.partition m = m1 * 8 + m0
  // expected-error @+1 {{a work item streams one partitioned key rank; 'm' is streamed already}}
  cascade.partition n = n1 * 8 + n0
  %O = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f]) : tensor<?x?x?xf32> {
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] * 2.0 : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?x?xf32>
}
