// Rewrites whose law does not hold for the bodies at hand are refused with a
// warning that names the law and shows Z3's counterexample; the IR is left
// as it was.
// RUN: attn-opt %s --split-input-file --cascade-minimize-passes="remarks=false" --verify-diagnostics | FileCheck %s

// A squared normaliser: (x - a)^2 != (x - b)^2 * (b - a)^2, so the 2-pass
// form cannot be rescaled online.
// CHECK-LABEL: func.func @squared_normaliser
// CHECK-NOT: cascade.iterate
// CHECK: SN[b, h, m, p] = (%QK[b, h, m, p] - %GM[b, h, p]) * (%QK[b, h, m, p] - %GM[b, h, p])
func.func @squared_normaliser(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  // expected-warning @+1 {{cascade-online-rescale refused: the law f(x, a) = f(x, b) * f(b, a) (online rescaling: a partial result computed against one maximum can be corrected to another) does not hold for these bodies; Z3's counterexample:}}
  %SN = cascade.einsum SN[b, h, m, p] = (%QK[b, h, m, p] - %GM[b, h, p]) * (%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SNV = cascade.einsum SNV[b, h, p, f] = %SN[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %SNV[b, h, p, f] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// -----

// The max shift used inside a non-exponential function: tanh has no
// multiplicative law, so Z3 picks a tanh that breaks it.
// CHECK-LABEL: func.func @shift_inside_tanh
// CHECK-NOT: cascade.iterate
func.func @shift_inside_tanh(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  // expected-warning @+1 {{cascade-online-rescale refused: the law f(x, a) = f(x, b) * f(b, a)}}
  %SN = cascade.einsum SN[b, h, m, p] = tanh(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SNV = cascade.einsum SNV[b, h, p, f] = %SN[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %SNV : tensor<?x?x?x?xf32>
}

// -----

// exp with a temperature folded in after the shift still rescales, but a
// consumer that squares the normalised value is not linear in it.
// CHECK-LABEL: func.func @nonlinear_consumer
// CHECK-NOT: cascade.iterate
func.func @nonlinear_consumer(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  // expected-warning @+1 {{cascade-online-rescale refused: the law c(s * k, w) = c(s, w) * k}}
  %SNV = cascade.einsum SNV[b, h, p, f] = %SN[b, h, m, p] * %SN[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %SNV : tensor<?x?x?x?xf32>
}

// -----

// A division whose consumer applies exp to the quotient: exp(x / y) * v is
// not exp(x * v) / y, so the division cannot move past the reduction.
// CHECK-LABEL: func.func @division_under_exp
// CHECK: A[b, h, m, p] = %arg0[b, h, m, p] / %SD[b, h, p]
func.func @division_under_exp(%SN: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  // expected-warning @+1 {{cascade-defer-division refused: the law c(d(x, y), w) = d(c(x, w), y) (the producer commutes with the consumer's map) does not hold for these bodies; Z3's counterexample:}}
  %AV = cascade.einsum AV[b, h, p, f] = exp(%A[b, h, m, p]) * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// -----

// A numerator shifted before the division does not distribute over the sum.
// CHECK-LABEL: func.func @shifted_numerator
// CHECK: A[b, h, m, p] = (%arg0[b, h, m, p] - 1.0) / %SD[b, h, p]
func.func @shifted_numerator(%SN: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = (%SN[b, h, m, p] - 1.0) / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  // expected-warning @+1 {{cascade-defer-division refused: the law d(a add b, y) = d(a, y) add d(b, y) (the producer distributes over the reduction) does not hold}}
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// -----

// Reassociation needs the inner map to be a product: exp(a * b) is not.
// CHECK-LABEL: func.func @kernelised_scores
// CHECK: S[b, h, m, p] = exp(%arg0[b, h, p, e] * %arg1[b, h, m, e])
func.func @kernelised_scores(%PQ: tensor<?x?x?x?xf32>, %PK: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> attributes {cascade.typical_extents = {e = 64 : i64, f = 64 : i64}} {
  %S = cascade.einsum S[b, h, m, p] = exp(%PQ[b, h, p, e] * %PK[b, h, m, e]) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  // expected-warning @+1 {{cascade-reassociate refused: the law sum_m (sum_k g(a, b)) w = sum_k a (sum_m b w), which needs g(a, b) = a * b (the producer's map is the product of its operands) does not hold for these bodies; Z3's counterexample:}}
  %AV = cascade.einsum AV[b, h, p, f] = %S[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

// -----

// The division fused into the last sum: O = sum_m SN * V / SD reads SD, a
// sum over m the loop itself would compute, so no step could read it. The
// rewrite says so instead of building a loop that reads SD before it exists.
// CHECK-LABEL: func.func @divisor_from_the_same_loop
// CHECK-NOT: cascade.iterate
func.func @divisor_from_the_same_loop(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  // expected-warning @+1 {{cascade-online-rescale refused: operand #2 of O depends on a sum over 'm' that the same loop computes, so it is not known at the first key; divide after the sum instead}}
  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %O = cascade.einsum O[b, h, p, f] = %SN[b, h, m, p] * %V[b, h, m, f] / %SD[b, h, p] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %O : tensor<?x?x?x?xf32>
}
