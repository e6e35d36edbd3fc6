// Softmax attention over packed sequences (document masking), 3 passes.
// Several documents are packed into one sequence of length M = P; D[b, m]
// is the (int32) id of the document position m of batch b belongs to.
// Query p attends to key m when both lie in the same document and
// m <= p + M - P (causal within each document; with P = M, m <= p).
//
// The document comparison is a data comparison: `%D[b, m] == %D[b, p]`
// compares two reads of an integer tensor, conjoined to the affine
// predicate. No P x M mask is built: a backend classifies each (query tile,
// key tile) pair at run time from the minimum and maximum id of each tile
// (disjoint ranges: skipped; one equal id on both sides: unmasked), after
// the affine part has cut the key loop to the causal tiles.
//
// D is indexed by both p and m, so the two extents must agree (P = M), as
// the shape check of every target enforces. A row always sees its own key,
// so no row is fully masked; with P > M the first P - M rows would see
// none and get 0, never NaN.
func.func @softmax_document(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %D: tensor<?x?xi32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) where (m <= p + M - P) and %D[b, m] == %D[b, p] : (tensor<?x?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) where (m <= p + M - P) and %D[b, m] == %D[b, p] else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] where (m <= p + M - P) and %D[b, m] == %D[b, p] else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
