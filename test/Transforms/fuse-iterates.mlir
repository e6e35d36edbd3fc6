// cascade-fuse-iterates: independent loops over the same partitioned rank
// become one iterate (the second's ranks renamed, its partition dropped);
// a loop that reads the other's result stays apart.
// RUN: attn-opt %s --split-input-file --cascade-fuse-iterates | FileCheck %s

// CHECK-LABEL: func.func @independent
// CHECK: cascade.partition m = m1 * 64 + m0
// CHECK-NOT: cascade.partition
// CHECK: %[[A:[^,]*]], %[[B:.*]] = cascade.iterate m1 init(%{{.*}} = %Z, %{{.*}} = %I) :
// CHECK: L1[b, p] = %{{.*}}[b, m1 * 64 + m0, p] reduce(m0: add)
// CHECK: L2[b, p] = %{{.*}}[b, m1 * 64 + m0, p] reduce(m0: max)
// CHECK-NOT: cascade.iterate
// CHECK: O[b, p] = %[[A]][b, p] + %[[B]][b, p]
func.func @independent(%X: tensor<?x?x?xf32>, %Y: tensor<?x?x?xf32>) -> tensor<?x?xf32> {
  cascade.partition m = m1 * 64 + m0
  cascade.partition m = m1_1 * 64 + m0_1
  %Z = cascade.einsum Z[b, p] = 0.0 : () -> tensor<?x?xf32>
  %R1 = cascade.iterate m1 init(%r = %Z) : tensor<?x?xf32> {
    %L1 = cascade.einsum L1[b, p] = %X[b, m1 * 64 + m0, p] reduce(m0: add) : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    %N1 = cascade.einsum N1[b, p] = %r[b, p] + %L1[b, p] : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %N1 : tensor<?x?xf32>
  }
  %I = cascade.einsum I[b, p] = -inf : () -> tensor<?x?xf32>
  %R2 = cascade.iterate m1_1 init(%s = %I) : tensor<?x?xf32> {
    %L2 = cascade.einsum L2[b, p] = %Y[b, m1_1 * 64 + m0_1, p] reduce(m0_1: max) : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    %N2 = cascade.einsum N2[b, p] = max(%s[b, p], %L2[b, p]) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %N2 : tensor<?x?xf32>
  }
  %O = cascade.einsum O[b, p] = %R1[b, p] + %R2[b, p] : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %O : tensor<?x?xf32>
}

// -----

// The second loop starts from the first's result: two loops.
// CHECK-LABEL: func.func @dependent
// CHECK: cascade.partition m = m1_1 * 64 + m0_1
// CHECK: %[[R1:.*]] = cascade.iterate m1 init(
// CHECK: cascade.iterate m1_1 init(%{{.*}} = %[[R1]])
func.func @dependent(%X: tensor<?x?x?xf32>, %Y: tensor<?x?x?xf32>) -> tensor<?x?xf32> {
  cascade.partition m = m1 * 64 + m0
  cascade.partition m = m1_1 * 64 + m0_1
  %Z = cascade.einsum Z[b, p] = 0.0 : () -> tensor<?x?xf32>
  %R1 = cascade.iterate m1 init(%r = %Z) : tensor<?x?xf32> {
    %L1 = cascade.einsum L1[b, p] = %X[b, m1 * 64 + m0, p] reduce(m0: add) : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    %N1 = cascade.einsum N1[b, p] = %r[b, p] + %L1[b, p] : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %N1 : tensor<?x?xf32>
  }
  %R2 = cascade.iterate m1_1 init(%s = %R1) : tensor<?x?xf32> {
    %L2 = cascade.einsum L2[b, p] = %Y[b, m1_1 * 64 + m0_1, p] reduce(m0_1: add) : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    %N2 = cascade.einsum N2[b, p] = %s[b, p] + %L2[b, p] : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %N2 : tensor<?x?xf32>
  }
  return %R2 : tensor<?x?xf32>
}
