// A causal linear spec whose decay is not a power of the distance
// (exp2(rate * (q - m)^2)): it does not factor into a query-side and a
// key-side part, so cascade-chunk must leave it quadratic.
func.func @gaussian_decay(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %LG = cascade.einsum LG[h] = -1.0 / (h + 8.0) : () -> tensor<?xf32>
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %QK[b, h, m, p] * exp2(%LG[h] * ((p + M - P) - m) * ((p + M - P) - m)) where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
