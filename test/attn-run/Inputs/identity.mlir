func.func @identity(%X: tensor<?x?x?x?xf64>) -> tensor<?x?x?x?xf64> {
  %Y = cascade.einsum [a, b, c, d] = %X[a, b, c, d] : (tensor<?x?x?x?xf64>) -> tensor<?x?x?x?xf64>
  return %Y : tensor<?x?x?x?xf64>
}
