func.func @identity_f16(%X: tensor<?x?x?x?xf16>) -> tensor<?x?x?x?xf16> {
  %Y = cascade.einsum [a, b, c, d] = %X[a, b, c, d] : (tensor<?x?x?x?xf16>) -> tensor<?x?x?x?xf16>
  return %Y : tensor<?x?x?x?xf16>
}
