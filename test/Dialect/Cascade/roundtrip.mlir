// Every form of the cascade ops prints back to text that parses to the same
// IR: custom form -> custom form, and generic form -> custom form.
// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// CHECK-LABEL: func.func @contraction
// CHECK: cascade.einsum [m, p] = %{{.*}}[p, e] * %{{.*}}[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
func.func @contraction(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %QK = cascade.einsum [m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %QK : tensor<?x?xf32>
}

// Infix bodies keep precedence, literals, functions, coordinates and extents.
// CHECK-LABEL: func.func @infix_body
// CHECK: cascade.einsum [m, p] = exp((%{{.*}}[m, p] - %{{.*}}[p]) / sqrt(E)) * (1.0 - 0.25 * p) + -(3.0) - (-inf) :
// CHECK: cascade.einsum [p] = max(%[[X:.*]][m, p], 0.0) + %[[X]][m, p] * %[[X]][m, p] reduce(m: add)
// CHECK: cascade.einsum [p] = %[[Y:.*]][p, p] - %[[Y]][p, 0] reduce(e: add)
func.func @infix_body(%QK: tensor<?x?xf32>, %GM: tensor<?xf32>, %Q: tensor<?x?xf32> {cascade.ranks = ["p", "e"]}) -> tensor<?x?xf32> {
  %SN = cascade.einsum [m, p] = exp((%QK[m, p] - %GM[p]) / sqrt(E)) * (1.0 - 0.25 * p) + -(3.0) - -inf : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  %S = cascade.einsum [p] = max(%SN[m, p], 0.0) + %SN[m, p] * %SN[m, p] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  %D = cascade.einsum [p] = %Q[p, p] - %Q[p, 0] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
  return %SN : tensor<?x?xf32>
}

// Predicates print as `lhs <= rhs` over ranks and extents; `else` survives.
// CHECK-LABEL: func.func @predicated
// CHECK: cascade.einsum [p] = %{{.*}}[m, p] reduce(m: max) where (m + P <= p + M) :
// CHECK: cascade.einsum [m, p] = exp(%{{.*}}[m, p]) where (m + P <= p + M, p <= m + 3, m mod 2 == 0) else -1.0E+4 :
func.func @predicated(%QK: tensor<?x?xf32>) -> tensor<?xf32> {
  %GM = cascade.einsum [p] = %QK[m, p] reduce(m: max) where (m <= p + M - P) : (tensor<?x?xf32>) -> tensor<?xf32>
  %SN = cascade.einsum [m, p] = exp(%QK[m, p]) where (m <= p + M - P, p - m < 4, m mod 2 == 0) else -1.0e4 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %GM : tensor<?xf32>
}

// A union of conjunctions prints as `where (...) or (...)`; `<>` (not
// equal) parses as two conjunctions, distributed over the others.
// CHECK-LABEL: func.func @unions
// CHECK: cascade.einsum [p] = %{{.*}}[m, p] reduce(m: max) where (m + P <= p + M, m <= 3) or (m + P <= p + M, p + M <= m + P + 255) :
// CHECK: cascade.einsum [m, p] = %{{.*}}[m, p] where (m + 1 <= p, m <= 7) or (p + 1 <= m, m <= 7) else 0.0 :
func.func @unions(%QK: tensor<?x?xf32>) -> tensor<?xf32> {
  %GM = cascade.einsum [p] = %QK[m, p] reduce(m: max) where (m <= p + M - P, m < 4) or (m <= p + M - P, p + M - P < m + 256) : (tensor<?x?xf32>) -> tensor<?xf32>
  %NE = cascade.einsum [m, p] = %QK[m, p] where (m <> p, m < 8) else 0.0 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %GM : tensor<?xf32>
}

// Anything that is not infix arithmetic prints in the map(...) region form.
// CHECK-LABEL: func.func @region_form
// CHECK: cascade.einsum [p] = map(%{{.*}}[m, p], %{{.*}}[p]) reduce(m: add) {
// CHECK-NEXT: ^bb0(%[[A:.*]]: f16, %[[B:.*]]: f32):
// CHECK: arith.extf %[[A]]
// CHECK: cascade.index m : index
// CHECK: arith.cmpi
// CHECK: arith.select
// CHECK: cascade.yield %{{.*}} : f32
// CHECK-NEXT: } : (tensor<?x?xf16>, tensor<?xf32>) -> tensor<?xf32>
func.func @region_form(%X: tensor<?x?xf16>, %Y: tensor<?xf32>) -> tensor<?xf32> {
  %R = cascade.einsum [p] = map(%X[m, p], %Y[p]) reduce(m: add) {
  ^bb0(%x: f16, %y: f32):
    %xf = arith.extf %x : f16 to f32
    %m = cascade.index m : index
    %c0 = arith.constant 0 : index
    %even = arith.cmpi eq, %m, %c0 : index
    %v = arith.select %even, %xf, %y : f32
    cascade.yield %v : f32
  } : (tensor<?x?xf16>, tensor<?xf32>) -> tensor<?xf32>
  return %R : tensor<?xf32>
}

// Fast-math flags and discardable attributes force the region form too.
// CHECK-LABEL: func.func @fastmath_body
// CHECK: map(%{{.*}}[p])
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<fast> : f32
func.func @fastmath_body(%X: tensor<?xf32>) -> tensor<?xf32> {
  %R = cascade.einsum [p] = map(%X[p]) {
  ^bb0(%x: f32):
    %y = arith.mulf %x, %x fastmath<fast> : f32
    cascade.yield %y : f32
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %R : tensor<?xf32>
}

// Several reductions, innermost first; semi-affine indices with extents.
// CHECK-LABEL: func.func @grouped
// CHECK: cascade.einsum [p] = %{{.*}}[b, h floordiv (H floordiv HKV), p] reduce(h: max, b: add) :
func.func @grouped(%K: tensor<?x?x?xf32> {cascade.ranks = ["b", "hkv", "p"]}, %Q: tensor<?x?x?xf32>) -> tensor<?xf32> {
  %S = cascade.einsum [b, h, p] = %Q[b, h, p] : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %R = cascade.einsum [p] = %K[b, h floordiv (H floordiv HKV), p] reduce(h: max, b: add) : (tensor<?x?x?xf32>) -> tensor<?xf32>
  return %R : tensor<?xf32>
}

// Partitioned and iterative ranks; Einsums with no operands fill a value.
// CHECK-LABEL: func.func @iterative
// CHECK: cascade.partition m = m1 * 16 + m0
// CHECK: %[[INIT:.*]] = cascade.einsum [p] = -inf : () -> tensor<?xf32>
// CHECK: cascade.iterate m1 init(%[[RM:.*]] = %[[INIT]]) : tensor<?xf32> {
// CHECK: cascade.einsum [p] = %{{.*}}[m1 * 16 + m0, p] reduce(m0: max) :
// CHECK: cascade.einsum [p] = max(%[[RM]][p], %{{.*}}[p]) :
// CHECK: cascade.yield %{{.*}} : tensor<?xf32>
func.func @iterative(%QK: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 16 + m0
  %init = cascade.einsum [p] = -inf : () -> tensor<?xf32>
  %max = cascade.iterate m1 init(%rm = %init) : tensor<?xf32> {
    %local = cascade.einsum [p] = %QK[m1 * 16 + m0, p] reduce(m0: max) : (tensor<?x?xf32>) -> tensor<?xf32>
    %next = cascade.einsum [p] = max(%rm[p], %local[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    cascade.yield %next : tensor<?xf32>
  }
  return %max : tensor<?xf32>
}

// Static shapes and other element types.
// CHECK-LABEL: func.func @static_f64
// CHECK: cascade.einsum [i] = %{{.*}}[i, j] * 2.0 reduce(j: mul) : (tensor<4x8xf64>) -> tensor<4xf64>
func.func @static_f64(%X: tensor<4x8xf64>) -> tensor<4xf64> {
  %R = cascade.einsum [i] = %X[i, j] * 2.0 reduce(j: mul) : (tensor<4x8xf64>) -> tensor<4xf64>
  return %R : tensor<4xf64>
}

// A tensor name prints before the output ranks and names the SSA value;
// iterate results and carried values are named after their initial values.
// CHECK-LABEL: func.func @named
// CHECK: %QK = cascade.einsum QK[m, p] = %{{.*}}[p, e] * %{{.*}}[m, e] reduce(e: add)
// CHECK: %GM = cascade.einsum GM[p] = %QK[m, p] reduce(m: max)
// CHECK: %RM, %{{.*}} = cascade.iterate m init(%rm = %RM0, %{{.*}} = %n)
// CHECK: %RMn = cascade.einsum RMn[p] = max(%rm[p], %QK[m, p])
func.func @named(%Q: tensor<?x?xf32>, %K: tensor<?x?xf32>) -> tensor<?xf32> {
  %a = cascade.einsum QK[m, p] = %Q[p, e] * %K[m, e] reduce(e: add) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %b = cascade.einsum GM[p] = %a[m, p] reduce(m: max) : (tensor<?x?xf32>) -> tensor<?xf32>
  %init = cascade.einsum RM0[p] = -inf : () -> tensor<?xf32>
  %count = cascade.einsum n[] = 0.0 : () -> tensor<f32>
  %r, %c = cascade.iterate m init(%x = %init, %y = %count) : tensor<?xf32>, tensor<f32> {
    %next = cascade.einsum RMn[p] = max(%x[p], %a[m, p]) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %next, %y : tensor<?xf32>, tensor<f32>
  }
  return %r : tensor<?xf32>
}

// A scalar argument gives the extent of a rank that indexes nothing; the
// predicate reads it as W.
// CHECK-LABEL: func.func @runtime_window
// CHECK-SAME: index {cascade.default = 256 : i64, cascade.extent_of = "w"}
// CHECK: reduce(m: max) where (m + P <= p + M, p + M + 1 <= m + P + W) :
func.func @runtime_window(%QK: tensor<?x?xf32>, %W: index {cascade.extent_of = "w", cascade.default = 256 : i64}) -> tensor<?xf32> {
  %GM = cascade.einsum [p] = %QK[m, p] reduce(m: max) where (m <= p + M - P, p + M - P < m + W) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %GM : tensor<?xf32>
}

// The scheduled form: a work grid over batch and query tiles, two results.
// CHECK-LABEL: func.func @work_grid
// CHECK: cascade.partition p = p1 * 8 + p0
// CHECK: %T, %S = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f], [b, p]) : tensor<?x?x?xf32>, tensor<?x?xf32> {
// CHECK: %[[T:.*]] = cascade.einsum T[p0, f] = %arg0[b, p1 * 8 + p0, f] * 2.0
// CHECK: %[[S:.*]] = cascade.einsum S[p0] = %[[T]][p0, f] reduce(f: add)
// CHECK: cascade.yield %[[T]], %[[S]] : tensor<?x?xf32>, tensor<?xf32>
// CHECK: return %T
func.func @work_grid(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O, %N = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f], [b, p]) : tensor<?x?x?xf32>, tensor<?x?xf32> {
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] * 2.0 : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    %S = cascade.einsum S[p0] = %T[p0, f] reduce(f: add) : (tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %T, %S : tensor<?x?xf32>, tensor<?xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// A scan: the carried state stacked per step, and a grid assembling it.
// CHECK-LABEL: func.func @stacked_steps
// CHECK: %H_steps = cascade.grid [b] tile_extents(f = 4) -> ([b, m1, f]) : tensor<?x?x?xf32> {
// CHECK: %H, %H_steps_0 = cascade.iterate m1 init(%h = %H0) : tensor<4xf32> stack tensor<?x4xf32> {
// CHECK: cascade.yield %[[N:.*]], %[[N]] : tensor<4xf32>, tensor<4xf32>
// CHECK: cascade.yield %H_steps_0 : tensor<?x4xf32>
func.func @stacked_steps(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition m = m1 * 8 + m0
  %S = cascade.grid [b] tile_extents(f = 4) -> ([b, m1, f]) : tensor<?x?x?xf32> {
    %H0 = cascade.einsum H0[f] = 0.0 : () -> tensor<4xf32>
    %H, %Hs = cascade.iterate m1 init(%h = %H0) : tensor<4xf32> stack tensor<?x4xf32> {
      %N = cascade.einsum H[f] = %h[f] + %X[b, m1 * 8 + m0, f] reduce(m0: add) : (tensor<4xf32>, tensor<?x?x?xf32>) -> tensor<4xf32>
      cascade.yield %N, %N : tensor<4xf32>, tensor<4xf32>
    }
    cascade.yield %Hs : tensor<?x4xf32>
  }
  return %S : tensor<?x?x?xf32>
}
