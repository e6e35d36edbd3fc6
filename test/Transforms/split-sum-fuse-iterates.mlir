// cascade-split-sum distributes a contraction over a sum of terms;
// cascade-fuse-iterates walks independent key streams in one iterate;
// cascade-minimize-passes splits only where that lowers the pass count.
// RUN: attn-opt %s --split-input-file --cascade-split-sum --verify-diagnostics | FileCheck %s --check-prefix=SPLIT
// RUN: attn-opt %s --split-input-file --cascade-minimize-passes="remarks=false" 2>&1 | FileCheck %s --check-prefix=MIN
// RUN: attn-opt %S/../../variants/differential.mlir --cascade-minimize-passes 2>&1 | FileCheck %s --check-prefix=DIFF

// Differential attention as written: one iterate over m1 carrying both
// streams (max, sum and numerator each), the second's ranks renamed.
// DIFF: remark: passes(m): 3 -> 1
// DIFF: cascade.partition m = m1 * 64 + m0
// DIFF-NOT: cascade.partition
// DIFF: cascade.iterate m1 init(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) :
// DIFF: BS1[b, h, m0, p] =
// DIFF: BS2[b, h, m0, p] =
// DIFF-NOT: cascade.iterate
// DIFF: AV[b, h, p, f] = %AV1[b, h, p, f] - 0.5 * %AV2[b, h, p, f]

// The factor 0.5 moves to the combination; each term reads only its own
// operands.
// SPLIT-LABEL: func.func @two_terms
// SPLIT: %[[A1:.*]] = cascade.einsum A1[b, h, m, p] = %{{.*}}[b, h, m, p] / %{{.*}}[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
// SPLIT: %[[C1:.*]] = cascade.einsum AV1[b, h, p, f] = %[[A1]][b, h, m, p] * %{{.*}}[b, h, m, f] reduce(m: add)
// SPLIT: %[[A2:.*]] = cascade.einsum A2[b, h, m, p] = %{{.*}}[b, h, m, p] / %{{.*}}[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
// SPLIT: %[[C2:.*]] = cascade.einsum AV2[b, h, p, f] = %[[A2]][b, h, m, p] * %{{.*}}[b, h, m, f] reduce(m: add)
// SPLIT: cascade.einsum AV[b, h, p, f] = %[[C1]][b, h, p, f] - 0.5 * %[[C2]][b, h, p, f]
func.func @two_terms(%N1: tensor<?x?x?x?xf32>, %D1: tensor<?x?x?xf32>, %N2: tensor<?x?x?x?xf32>, %D2: tensor<?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %A = cascade.einsum A[b, h, m, p] = %N1[b, h, m, p] / %D1[b, h, p] - 0.5 * (%N2[b, h, m, p] / %D2[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// -----

// A consumer that is not linear in the sum (a max over m) is refused with
// Z3's counterexample: max_m (x + y) is not max_m x + max_m y.
// SPLIT-LABEL: func.func @not_linear
// SPLIT: A[b, h, m, p] = %{{.*}}[b, h, m, p] + %{{.*}}[b, h, m, p]
func.func @not_linear(%X: tensor<?x?x?x?xf32>, %Y: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %A = cascade.einsum A[b, h, m, p] = %X[b, h, m, p] + %Y[b, h, m, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  // expected-warning @+1 {{cascade-split-sum refused: the law sum_m c(x +- y, w) = sum_m c(x, w) +- sum_m c(y, w), which needs c(s, w) = s * w (the consumer multiplies by its other operand) does not hold}}
  %AV = cascade.einsum AV[b, h, p, f] = exp(%A[b, h, m, p]) * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// -----

// Already one pass: minimize-passes does not split (the split would add a
// contraction and save nothing).
// MIN-LABEL: func.func @nothing_to_save
// MIN: A[b, h, m, p] = %{{.*}}[b, h, m, p] + %{{.*}}[b, h, m, p]
// MIN-NOT: AV1
func.func @nothing_to_save(%X: tensor<?x?x?x?xf32>, %Y: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %A = cascade.einsum A[b, h, m, p] = %X[b, h, m, p] + %Y[b, h, m, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

