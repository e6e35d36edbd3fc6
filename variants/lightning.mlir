// Lightning Attention (TransNormerLLM, Qin et al. 2023; Lightning
// Attention-2, Qin et al. 2024): causal linear attention with a constant
// per-head decay and no normaliser (the layer normalises the output
// afterwards), q = p + M - P:
//
//   O[p] = sum_{m<=q} (Q_p.K_m) exp(-slope_h (q - m)) V_m
//
// with the rates of the reference kernels, slope_h = 2^(-8 (h + 1) / H)
// (ALiBi's slopes, as lightning_attn2's _build_slope_tensor). No 1/sqrt(E)
// scale: Q and K come out of the layer's own activations. The rate is an
// Einsum over h alone; a score costs one exp. One pass over m. The kernel
// accumulates in fp32 whatever the storage type, as the paper's state.
func.func @lightning(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %SL = cascade.einsum SL[h] = exp2(-8.0 * (h + 1.0) / H) : () -> tensor<?xf32>
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %QK[b, h, m, p] * exp(%SL[h] * (m - (p + M - P))) where (m <= p + M - P) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
