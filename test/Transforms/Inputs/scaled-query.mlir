// Input of partition-rank.test: a static head dimension and a body that
// reads the query coordinate.
func.func @scaled(%X: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %O = cascade.einsum O[p, f] = %X[p, f] * 2.0 + p : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %O : tensor<?x4xf32>
}
