// cascade-partition-rank refuses what a work item cannot compute, at the
// Einsum at fault, saying what to change.
// RUN: attn-opt %s -split-input-file -verify-diagnostics --cascade-partition-rank="query-tile=8 tile-extents=e=4,f=4"

// Three passes over m: the key rank is not streamed yet.
func.func @not_streamed(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>, %V: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{cascade-partition-rank: this Einsum walks 'm', which is not tile-local in a work item: stream it first (cascade-minimize-passes, cascade-stream-rank) or, if it is a head dimension, give tile-extents=m=N}}
  %S = cascade.einsum S[m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %O = cascade.einsum O[p, f] = %S[m, p] * %V[m, f] reduce(m: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %O : tensor<?x?xf32>
}

// -----

// Row p reads row p + 1 of a tensor the work item computes itself.
func.func @reads_next_row(%X: tensor<?x?xf32>, %W: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %A = cascade.einsum A[p, f] = %X[p, e] * %W[e, f] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  // expected-error @+1 {{cascade-partition-rank: this Einsum reads operand #0 in dimension 0 (its rank 'p') other than at 'p' itself: a work item would need another item's rows}}
  %B = cascade.einsum B[p, f] = %A[p + 1, f] where (p + 1 < P) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %B : tensor<?x?xf32>
}

// -----

// A sum over all queries needs every work item's rows.
func.func @reduces_query(%X: tensor<?x?xf32>, %W: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %A = cascade.einsum A[p, f] = %X[p, e] * %W[e, f] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  // expected-error @+1 {{cascade-partition-rank: this reads 'A', which is over the query rank 'p' but is not itself}}
  %S = cascade.einsum S[f] = %A[p, f] reduce(p: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  %O = cascade.einsum O[p, f] = %A[p, f] / %S[f] : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  return %O : tensor<?x?xf32>
}

// -----

// expected-error @+1 {{cascade-partition-rank: head dimension 'g' needs a compile-time size in a work item: pass tile-extents=g=N}}
func.func @unsized_head(%X: tensor<?x?xf32>, %E: tensor<?xf32>, %F: tensor<?xf32>) -> tensor<?x?xf32> {
  %A = cascade.einsum A[p, g] = %X[p, g] * %E[e] * %F[f] reduce(e: add, f: add) : (tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  return %A : tensor<?x?xf32>
}

// -----

// expected-error @+1 {{cascade-partition-rank: tile-extents gives 'f' the extent 4 but the function's types give 8}}
func.func @conflicting_head(%X: tensor<?x8xf32>, %E: tensor<?xf32>) -> tensor<?x8xf32> {
  %A = cascade.einsum A[p, f] = %X[p, f] * %E[e] reduce(e: add) : (tensor<?x8xf32>, tensor<?xf32>) -> tensor<?x8xf32>
  return %A : tensor<?x8xf32>
}

// -----

// A tile schedule classified for other query tiles.
func.func @other_query_tile(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>, %E: tensor<?xf32>) -> tensor<?x?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p, f] = 0.0 : () -> tensor<?x?xf32>
  // expected-error @+1 {{cascade-partition-rank: the tile schedule of this iterate uses query tiles of 16 rows of 'p', not 8 rows of 'p': classify with the same query-tile and query-rank}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?x?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 16, dims = ["p#tile"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p, f] = %r[p, f] + %Q[p, f] * %K[m1 * 4 + m0, f] * %E[e] reduce(e: add, m0: add) where (m1 * 4 + m0 <= p) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
    cascade.yield %N : tensor<?x?xf32>
  }
  return %R : tensor<?x?xf32>
}
