func.func @broken(%Q: tensor<?x?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = %Q[p, e] reduce(e: avg) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}
