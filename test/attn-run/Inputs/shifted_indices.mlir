// Specs whose indices leave their operands at some sizes: the shape
// contract (checkShapeContract) must refuse those sizes before any target
// reads memory, and accept them where a single-rank mask keeps the index in.
func.func @ahead(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "h", "m", "e"]}) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, p, m] = %Q[b, h, p, e] * %K[b, h, m + 5, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %S : tensor<?x?x?x?xf32>
}
func.func @behind(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "h", "m", "e"]}) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, p, m] = %Q[b, h, p, e] * %K[b, h, m - 3, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %S : tensor<?x?x?x?xf32>
}
func.func @next_head(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "h", "m", "e"]}) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, p, m] = %Q[b, h, p, e] * %K[b, h + 1, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %S : tensor<?x?x?x?xf32>
}
func.func @ahead_masked(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "h", "m", "e"]}) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, p, m] = %Q[b, h, p, e] * %K[b, h, m + 5, e] reduce(e: add) where (m + 5 < M) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %S : tensor<?x?x?x?xf32>
}
