// Hedgehog (Zhang et al., "The Hedgehog & the Porcupine: Expressive Linear
// Attentions with Softmax Mimicry", ICLR 2024): causal linear attention with
// a learned feature map, given here as the input matrix W [H, E, R] (one
// projection per head, as lolcats' HedgehogFeatureMap without its bias):
//
//   phi(x) = [softmax_r(x W_h), softmax_r(-x W_h)]        (2R features)
//   O[p]   = sum_{m<=q} (phi(Q_p).phi(K_m)) V_m / sum_{m<=q} phi(Q_p).phi(K_m)
//
// with q = p + M - P. The two halves of the concatenation are the two
// products of the score: phi(q).phi(k) = P(q).P(k) + N(q).N(k). Each
// softmax is taken stably: softmax_r(x)_r = exp(x_r - max x) / sum, and
// softmax_r(-x)_r = exp(min x - x_r) / sum. phi(q).phi(k) > 0, so a row
// that sees a key has a positive normaliser; a row that sees none gets 0.
//
// Written in its quadratic form (one pass over m). The CPU pipeline's
// cascade-chunk gives it linear cost: one state per half of the feature
// map (docs/LinearFamily.md).
func.func @hedgehog(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>,
                    %W: tensor<?x?x?xf32> {cascade.ranks = ["h", "e", "r"]}) -> tensor<?x?x?x?xf32> {
  %XQ = cascade.einsum XQ[b, h, p, r] = %Q[b, h, p, e] * %W[h, e, r] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %HQ = cascade.einsum HQ[b, h, p] = %XQ[b, h, p, r] reduce(r: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %LQ = cascade.einsum LQ[b, h, p] = %XQ[b, h, p, r] reduce(r: min) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %ZPQ = cascade.einsum ZPQ[b, h, p] = exp(%XQ[b, h, p, r] - %HQ[b, h, p]) reduce(r: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %ZNQ = cascade.einsum ZNQ[b, h, p] = exp(%LQ[b, h, p] - %XQ[b, h, p, r]) reduce(r: add) : (tensor<?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %PQ = cascade.einsum PQ[b, h, p, r] = exp(%XQ[b, h, p, r] - %HQ[b, h, p]) / %ZPQ[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %NQ = cascade.einsum NQ[b, h, p, r] = exp(%LQ[b, h, p] - %XQ[b, h, p, r]) / %ZNQ[b, h, p] : (tensor<?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %XK = cascade.einsum XK[b, h, m, r] = %K[b, h, m, e] * %W[h, e, r] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %HK = cascade.einsum HK[b, h, m] = %XK[b, h, m, r] reduce(r: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %LK = cascade.einsum LK[b, h, m] = %XK[b, h, m, r] reduce(r: min) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %ZPK = cascade.einsum ZPK[b, h, m] = exp(%XK[b, h, m, r] - %HK[b, h, m]) reduce(r: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %ZNK = cascade.einsum ZNK[b, h, m] = exp(%LK[b, h, m] - %XK[b, h, m, r]) reduce(r: add) : (tensor<?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %PK = cascade.einsum PK[b, h, m, r] = exp(%XK[b, h, m, r] - %HK[b, h, m]) / %ZPK[b, h, m] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %NK = cascade.einsum NK[b, h, m, r] = exp(%LK[b, h, m] - %XK[b, h, m, r]) / %ZNK[b, h, m] : (tensor<?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %S = cascade.einsum S[b, h, m, p] = %PQ[b, h, p, r] * %PK[b, h, m, r] + %NQ[b, h, p, r] * %NK[b, h, m, r] reduce(r: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %S[b, h, m, p] reduce(m: add) where (m <= p + M - P) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %S[b, h, m, p] / %D[b, h, p] where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
