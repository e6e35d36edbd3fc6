// A masked score (0 outside the mask) times log(V), which is -inf where V is 0:
// at a masked-out key tile the step adds 0 * -inf = NaN, so skipping
// it would change the result and cascade-classify-tiles must refuse.
func.func @masked_times_unbounded(%S: tensor<?x?xf32>, %V: tensor<?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> {
    %A = cascade.einsum A[m0, p] = %S[m1 * 4 + m0, p] where (m1 * 4 + m0 <= p) else 0.0 : (tensor<?x?xf32>) -> tensor<?x?xf32>
    %W = cascade.einsum W[m0] = log(%V[m1 * 4 + m0]) : (tensor<?xf32>) -> tensor<?xf32>
    %L = cascade.einsum L[p] = %A[m0, p] * %W[m0] reduce(m0: add) : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %N = cascade.einsum N[p] = %r[p] + %L[p] : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}
