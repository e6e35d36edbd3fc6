// RUN: attn-opt %s --pass-pipeline='builtin.module(cascade-build-cpu-shape-check{head-dims=e=16,f=16})' | FileCheck %s
// The pass adds, beside the spec, <f>_check over fully dynamic descriptors
// (a status, with one message per condition); the spec itself is left for
// the kernel builder (which adds <f>_work_items from the schedule plan).

// CHECK-LABEL: func.func @gqa(
// CHECK-LABEL: func.func @gqa_check(
// CHECK-SAME: memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK-SAME: -> i32
// CHECK-SAME: cascade.check_messages = [
// CHECK-SAME: "argument #1: the innermost stride must be 1"
// CHECK-SAME: "argument #1: the innermost size (E) must be 16, as compiled"
// CHECK-SAME: "argument #2 dimension 2 (M) must equal argument #1 dimension 2"
// CHECK-SAME: "the divisor `H floordiv HKV` in `h floordiv (H floordiv HKV)` of QK must be positive"
// CHECK-SAME: "operand #1 (argument #1) of QK, dimension 1: the index `h floordiv (H floordiv HKV)` must stay inside the dimension at every point"
// A bare rank indexing the dimension it names is no condition of its own.
// CHECK-NOT: the index `m` must stay
// CHECK-SAME: llvm.emit_c_interface
// CHECK: arith.floordivsi
// CHECK: return %{{.*}} : i32
// CHECK-NOT: func.func @gqa_work_items(
func.func @gqa(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "hkv", "m", "e"]}, %V: tensor<?x?x?x?xf32> {cascade.ranks = ["b", "hkv", "m", "f"]}) -> tensor<?x?x?x?xf32> {
  %S = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h floordiv (H floordiv HKV), m, e] reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %O = cascade.einsum O[b, h, p, f] = %S[b, h, m, p] * %V[b, h floordiv (H floordiv HKV), m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %O : tensor<?x?x?x?xf32>
}

// The partitioned form (m1 * 16 + m0 read as m): no condition on the key
// index fails at the tail, so the 1-pass spec's reads of K are checked as m's.
// CHECK-LABEL: func.func @onepass_check(
// CHECK-SAME: "operand #1 (argument #1) of BQK, dimension 1: the index `m1 * 16 + m0` must stay inside the dimension at every point"
func.func @onepass(%Q: tensor<?x?x?xf32>, %K: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition m = m1 * 16 + m0
  %M0 = cascade.einsum M0[b, p, e] = 0.0 : () -> tensor<?x?x?xf32>
  %R = cascade.iterate m1 init(%acc = %M0) : tensor<?x?x?xf32> {
    %B = cascade.einsum BQK[b, p, e] = %Q[b, p, e] * %K[b, m1 * 16 + m0, e] reduce(m0: add) : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
    %N = cascade.einsum N[b, p, e] = %acc[b, p, e] + %B[b, p, e] : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
    cascade.yield %N : tensor<?x?x?xf32>
  }
  return %R : tensor<?x?x?xf32>
}
