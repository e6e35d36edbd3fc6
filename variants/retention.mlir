// Retention (RetNet, Sun et al., "Retentive Network", 2023), the parallel
// form: causal, no normaliser, scores decayed by gamma_h^(q - m) with the
// paper's per-head rates gamma_h = 1 - 2^(-5 - h) and q = p + M - P:
//
//   O[p] = sum_{m<=q} (Q_p.K_m / sqrt(E)) gamma_h^(q-m) V_m
//
// The decay is exp2((q - m) log2(gamma_h)): log2(gamma_h) is an Einsum over
// h alone, computed once per head, so a score costs one exp2, not a pow.
// One pass over m.
func.func @retention(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %LG = cascade.einsum LG[h] = log2(1.0 - exp2(-5.0 - h)) : () -> tensor<?xf32>
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %QK[b, h, m, p] * exp2(%LG[h] * ((p + M - P) - m)) where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
