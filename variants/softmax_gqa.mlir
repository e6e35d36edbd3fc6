// Grouped-query softmax attention, 3 passes: H query heads share HKV
// key/value heads (HKV divides H); query head h reads key/value head
// h floordiv (H / HKV), as PyTorch SDPA's enable_gqa. The 'cascade.ranks'
// attributes name K's and V's dimensions, which binds the extent HKV.
func.func @softmax_gqa(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "hkv", "m", "e"]}, %V: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "hkv", "m", "f"]}) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h floordiv (H floordiv HKV), m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h floordiv (H floordiv HKV), m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
