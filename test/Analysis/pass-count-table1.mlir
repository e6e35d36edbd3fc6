// FuseMax's Table I, derived: the 3-pass cascade (PyTorch / FLAT), the
// 2-pass cascade (TileFlow: per-partition max, numerator and denominator,
// then corrections with the global max), and the 1-pass cascade
// (FlashAttention-2, FuseMax cascade 5). Also sigmoid (1), linear attention
// as usually written (2) and in the associated order (1).
// RUN: attn-opt %s --cascade-pass-count --verify-diagnostics | FileCheck %s

// expected-remark @+2 {{passes(e) = 1}}
// expected-remark @+1 {{passes(m) = 3; after pass 1 hold QK: B*H*M*P, GM: B*H*P; after pass 2 hold SN: B*H*M*P, SD: B*H*P}}
func.func @three_pass(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
// CHECK-LABEL: func.func @three_pass
// CHECK-SAME: cascade.passes = {e = 1 : i64, m = 3 : i64}
// CHECK: QK[{{.*}}cascade.pass = {e = 1 : i64, m = 1 : i64}
// CHECK: GM[{{.*}}cascade.pass = {e = 1 : i64, m = 1 : i64}
// CHECK: SN[{{.*}}cascade.pass = {e = 1 : i64, m = 2 : i64}
// CHECK: SD[{{.*}}cascade.pass = {e = 1 : i64, m = 2 : i64}
// CHECK: A[{{.*}}cascade.pass = {e = 1 : i64, m = 3 : i64}
// CHECK: AV[{{.*}}cascade.pass = {e = 1 : i64, m = 3 : i64}

// The partitioned rank's per-tile reductions (over m0) block only at tile
// granularity; the reductions over m1 of the per-tile results complete m.
// expected-remark @+2 {{passes(e) = 1}}
// expected-remark @+1 {{passes(m) = 2; after pass 1 hold LM: B*H*ceil(M/64)*P, SLD: B*H*ceil(M/64)*P, SLNV: B*H*ceil(M/64)*P*F, GM: B*H*P}}
func.func @two_pass(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  cascade.partition m = m1 * 64 + m0
  %BQK = cascade.einsum BQK[b, h, m1, m0, p] = %Q[b, h, p, e] * %K[b, h, m1 * 64 + m0, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?x?xf32>
  %LM = cascade.einsum LM[b, h, m1, p] = %BQK[b, h, m1, m0, p] reduce(m0: max) : (tensor<?x?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SLN = cascade.einsum SLN[b, h, m1, m0, p] = exp(%BQK[b, h, m1, m0, p] - %LM[b, h, m1, p]) : (tensor<?x?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?x?xf32>
  %SLD = cascade.einsum SLD[b, h, m1, p] = %SLN[b, h, m1, m0, p] reduce(m0: add) : (tensor<?x?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SLNV = cascade.einsum SLNV[b, h, m1, p, f] = %SLN[b, h, m1, m0, p] * %V[b, h, m1 * 64 + m0, f] reduce(m0: add) : (tensor<?x?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %LM[b, h, m1, p] reduce(m1: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %PRM = cascade.einsum PRM[b, h, m1, p] = exp(%LM[b, h, m1, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SLD[b, h, m1, p] * %PRM[b, h, m1, p] reduce(m1: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SNV = cascade.einsum SNV[b, h, p, f] = %SLNV[b, h, m1, p, f] * %PRM[b, h, m1, p] reduce(m1: add) : (tensor<?x?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %SNV[b, h, p, f] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
// CHECK-LABEL: func.func @two_pass
// CHECK-SAME: cascade.passes = {e = 1 : i64, m = 2 : i64}
// CHECK: GM[{{.*}}cascade.pass = {e = 1 : i64, m = 1 : i64}
// CHECK: PRM[{{.*}}cascade.pass = {e = 1 : i64, m = 2 : i64}
// CHECK: AV[{{.*}}cascade.pass = {e = 1 : i64, m = 2 : i64}

// Updates carried along the iterative rank are not barriers.
// expected-remark @+2 {{passes(e) = 1}}
// expected-remark @+1 {{passes(m) = 1; carried along m: RMn: B*H*P, RDn: B*H*P, RNVn: B*H*P*F}}
func.func @one_pass(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  cascade.partition m = m1 * 64 + m0
  %RM0 = cascade.einsum RM0[b, h, p] = -inf : () -> tensor<?x?x?xf32>
  %RD0 = cascade.einsum RD0[b, h, p] = 0.0 : () -> tensor<?x?x?xf32>
  %RNV0 = cascade.einsum RNV0[b, h, p, f] = 0.0 : () -> tensor<?x?x?x?xf32>
  %RM, %RD, %RNV = cascade.iterate m1 init(%rm = %RM0, %rd = %RD0, %rnv = %RNV0) : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32> {
    %BQK = cascade.einsum BQK[b, h, m0, p] = %Q[b, h, p, e] * %K[b, h, m1 * 64 + m0, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
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
  %AV = cascade.einsum AV[b, h, p, f] = %RNV[b, h, p, f] / %RD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
// CHECK-LABEL: func.func @one_pass
// CHECK-SAME: cascade.passes = {e = 1 : i64, m = 1 : i64}

// expected-remark @+2 {{passes(e) = 1}}
// expected-remark @+1 {{passes(m) = 1}}
func.func @sigmoid(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = 1.0 / (1.0 + exp(-(%S[b, h, m, p] - log(M)))) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// expected-remark @+2 {{passes(e) = 1}}
// expected-remark @+1 {{passes(m) = 2; after pass 1 hold S: B*H*M*P, D: B*H*P}}
func.func @linear_as_written(%PQ: tensor<?x?x?x?xf32>, %PK: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum S[b, h, m, p] = %PQ[b, h, p, e] * %PK[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %S[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %S[b, h, m, p] / %D[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// expected-remark @+2 {{passes(m) = 1}}
// expected-remark @+1 {{passes(e) = 1}}
func.func @linear_associated(%PQ: tensor<?x?x?x?xf32>, %PK: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %KV = cascade.einsum KV[b, h, e, f] = %PK[b, h, m, e] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %KS = cascade.einsum KS[b, h, e] = %PK[b, h, m, e] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %N = cascade.einsum N[b, h, p, f] = %PQ[b, h, p, e] * %KV[b, h, e, f] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %D = cascade.einsum D[b, h, p] = %PQ[b, h, p, e] * %KS[b, h, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %N[b, h, p, f] / %D[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}
