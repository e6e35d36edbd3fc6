func.func @first(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = 2.0 * %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}
func.func @second(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = 3.0 * %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}
