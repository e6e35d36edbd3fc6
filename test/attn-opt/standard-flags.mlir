// attn-opt is an mlir-opt: the standard flags and upstream passes work on
// cascades.
// RUN: attn-opt %s --pass-pipeline='builtin.module(func.func(cse,canonicalize))' --mlir-print-ir-after-all 2>&1 | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: attn-opt %s --mlir-timing 2>&1 | FileCheck %s --check-prefix=TIMING

// CHECK: IR Dump After CSE
// CHECK: IR Dump After Canonicalizer
// CHECK: func.func @twice
// CHECK: %QK = cascade.einsum QK[m, p]
// CHECK-NOT: cascade.einsum
// CHECK: return %QK, %QK
// GENERIC: "cascade.einsum"(%{{.*}}, %{{.*}}) <{indexing_maps = [#map, #map1], name = "QK", operandSegmentSizes = array<i32: 2, 0>, output = ["m", "p"], ranks = ["m", "p", "e"], reductions = [#cascade.reduction<"e", add>], symbols = []}>
// TIMING: Execution time report
func.func @twice(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>) {
  %a = cascade.einsum QK[m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %b = cascade.einsum QK[m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %unused = cascade.einsum U[p] = %Q[p, e] reduce(e: max) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %a, %b : tensor<?x?xf32>, tensor<?x?xf32>
}
