// Softmax attention, the 1-pass cascade (FuseMax cascade 5, FlashAttention-2),
// written by hand: m is partitioned into tiles of 64 (m = m1 * 64 + m0), and
// the iterative rank m1 carries the running max RM, the running denominator
// RD and the running numerator RNV from tile to tile.
//
//   BQK[m0,p]  = Q[p,e] * K[m1*64+m0,e] / sqrt(E)   reduce e: add
//   LM[p]      = BQK[m0,p]                          reduce m0: max
//   RM'[p]     = max(RM[p], LM[p])
//   SLN[m0,p]  = exp(BQK[m0,p] - RM'[p])
//   SLD[p]     = SLN[m0,p]                          reduce m0: add
//   SLNV[p,f]  = SLN[m0,p] * V[m1*64+m0,f]          reduce m0: add
//   PRM[p]     = exp(RM[p] - RM'[p])
//   RD'[p]     = SLD[p] + RD[p] * PRM[p]
//   RNV'[p,f]  = SLNV[p,f] + RNV[p,f] * PRM[p]
//   AV[p,f]    = RNV[p,f] / RD[p]                   after the last tile
//
// The last tile may be partial (M not a multiple of 64): the partition makes
// the points past M fall outside every Einsum that iterates m0.
func.func @softmax_onepass(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  cascade.partition m = m1 * 64 + m0
  %RM0 = cascade.einsum RM0[b, h, p] = -inf : () -> tensor<?x?x?xf32>
  %RD0 = cascade.einsum RD0[b, h, p] = 0.0 : () -> tensor<?x?x?xf32>
  %RNV0 = cascade.einsum RNV0[b, h, p, f] = 0.0 : () -> tensor<?x?x?x?xf32>
  %RM, %RD, %RNV = cascade.iterate m1 init(%rm = %RM0, %rd = %RD0, %rnv = %RNV0) : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32> {
    %BQK = cascade.einsum BQK[b, h, m0, p] = %Q[b, h, p, e] * %K[b, h, m1 * 64 + m0, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
    %LM = cascade.einsum LM[b, h, p] = %BQK[b, h, m0, p] reduce(m0: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
    %RMn = cascade.einsum RMn[b, h, p] = max(%rm[b, h, p], %LM[b, h, p]) : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
    %SLN = cascade.einsum SLN[b, h, m0, p] = exp(%BQK[b, h, m0, p] - %RMn[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
    %SLD = cascade.einsum SLD[b, h, p] = %SLN[b, h, m0, p] reduce(m0: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
    %SLNV = cascade.einsum SLNV[b, h, p, f] = %SLN[b, h, m0, p] * %V[b, h, m1 * 64 + m0, f] reduce(m0: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
    %PRM = cascade.einsum PRM[b, h, p] = exp(%rm[b, h, p] - %RMn[b, h, p]) : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
    %RDn = cascade.einsum RDn[b, h, p] = %SLD[b, h, p] + %rd[b, h, p] * %PRM[b, h, p] : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
    %RNVn = cascade.einsum RNVn[b, h, p, f] = %SLNV[b, h, p, f] + %rnv[b, h, p, f] * %PRM[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
    cascade.yield %RMn, %RDn, %RNVn : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32>
  }
  %AV = cascade.einsum AV[b, h, p, f] = %RNV[b, h, p, f] / %RD[b, h, p] where (1 <= M) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
