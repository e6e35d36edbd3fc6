// Gated linear attention (GLA, Yang et al., "Gated Linear Attention
// Transformers with Hardware-Efficient Training", 2024): causal linear
// attention whose state forgets per key dimension, with data-dependent log
// forget gates G [B,H,M,E] (<= 0; the spec clamps at 0, so the decays never
// exceed 1) and P = M. The recurrent definition
//
//   S_t = diag(exp(G_t)) S_{t-1} + K_t V_t^T,   O_t = (Q_t / sqrt(E))^T S_t
//
// unrolled is the parallel form written here, with C the prefix sums of the
// gates (C_t = sum_{u<=t} G_u) and q = p + M - P:
//
//   O[p] = sum_{m<=q} sum_e (Q_pe / sqrt(E)) exp(C_qe - C_me) K_me V_m
//
// Every decay exp(C_q - C_m) is at most 1 where the mask holds. As written
// the prefix sums and the scores are quadratic; cascade-chunk-gates
// (docs/LinearFamily.md) derives the chunked form with chunk-local prefix
// sums, GLA's normalisation, which is linear in M.
func.func @gla(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>, %G: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "h", "m", "e"]}) -> tensor<?x?x?x?xf32> attributes {cascade.typical_extents = {e = 64 : i64, f = 64 : i64}} {
  %C = cascade.einsum C[b, h, m, e] = min(%G[b, h, u, e], 0.0) reduce(u: add) where (u <= m) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %S = cascade.einsum S[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] * exp(%C[b, h, p + M - P, e] - %C[b, h, m, e]) / sqrt(E) reduce(e: add) where (m <= p + M - P) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %S[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
