// A cascade whose step adds 1 to its state whatever the mask: skipping a
// masked-out key tile would change the result, so cascade-classify-tiles
// must refuse to schedule it.
func.func @counter(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> {
    %L = cascade.einsum L[p] = %X[m1 * 4 + m0, p] reduce(m0: add) where (m1 * 4 + m0 <= p) : (tensor<?x?xf32>) -> tensor<?xf32>
    %N = cascade.einsum N[p] = %r[p] + %L[p] + 1.0 : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}
