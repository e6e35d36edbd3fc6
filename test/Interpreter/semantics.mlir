// The reference interpreter's semantics, checked on values computed by hand.
// Inputs only bind extents: each spec multiplies them by 0 and builds its
// data from rank coordinates, X[i, j] = 10 * i + j.
//
// RUN: attn-run %s --entry reductions --print | FileCheck %s --check-prefix=RED
// RUN: attn-run %s --entry nested_reductions --print | FileCheck %s --check-prefix=NEST
// RUN: attn-run %s --entry predicates --print | FileCheck %s --check-prefix=PRED
// RUN: attn-run %s --entry predicated_map --print | FileCheck %s --check-prefix=MAP
// RUN: attn-run %s --entry partition_tail --print | FileCheck %s --check-prefix=TAIL
// RUN: attn-run %s --entry iterate_carries --print | FileCheck %s --check-prefix=ITER
// RUN: attn-run %s --entry iterate_empty_tail --print | FileCheck %s --check-prefix=EMPTY
// RUN: attn-run %s --entry grouped_index --print | FileCheck %s --check-prefix=GROUP
// RUN: attn-run %s --entry region_body --print | FileCheck %s --check-prefix=REGION
// RUN: attn-run %s --entry math_ops --print | FileCheck %s --check-prefix=MATH
// RUN: attn-run %s --entry unsigned_ops --print | FileCheck %s --check-prefix=UNSIGNED
// RUN: attn-run %s --entry signed_index_ops --print | FileCheck %s --check-prefix=SIGNED

// RED: -> [3],[3],[3],[3]
// RED-NEXT: {{^}}6 46 86{{$}}
// RED-NEXT: {{^}}3 13 23{{$}}
// RED-NEXT: {{^}}0 10 20{{$}}
// RED-NEXT: {{^}}0 17160 212520{{$}}
func.func @reductions(%S: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %X = cascade.einsum [i, j] = 10.0 * i + j + 0.0 * %S[i, j] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %sum = cascade.einsum [i] = %X[i, j] reduce(j: add) : (tensor<3x4xf32>) -> tensor<3xf32>
  %max = cascade.einsum [i] = %X[i, j] reduce(j: max) : (tensor<3x4xf32>) -> tensor<3xf32>
  %min = cascade.einsum [i] = %X[i, j] reduce(j: min) : (tensor<3x4xf32>) -> tensor<3xf32>
  %mul = cascade.einsum [i] = %X[i, j] reduce(j: mul) : (tensor<3x4xf32>) -> tensor<3xf32>
  return %sum, %max, %min, %mul : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// Reductions nest innermost first. With X[i, j] = (i - j)^2:
// min over i of (max over j) is 4; max over j of (min over i) is 1.
// NEST: -> [],[]
// NEST-NEXT: {{^}}4{{$}}
// NEST-NEXT: {{^}}1{{$}}
func.func @nested_reductions(%S: tensor<3x4xf32>) -> (tensor<f32>, tensor<f32>) {
  %X = cascade.einsum [i, j] = (i - j) * (i - j) + 0.0 * %S[i, j] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %a = cascade.einsum [] = %X[i, j] reduce(j: max, i: min) : (tensor<3x4xf32>) -> tensor<f32>
  %b = cascade.einsum [] = %X[i, j] reduce(i: min, j: max) : (tensor<3x4xf32>) -> tensor<f32>
  return %a, %b : tensor<f32>, tensor<f32>
}

// A predicate drops points from reductions; an output point with nothing
// left gets the identity of the reduction (-inf for max, 0 for add), or
// the `else` value.
// PRED: -> [3],[3],[3]
// PRED-NEXT: {{^}}-inf 10 21{{$}}
// PRED-NEXT: {{^}}0 10 41{{$}}
// PRED-NEXT: {{^}}-1 10 21{{$}}
func.func @predicates(%S: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %X = cascade.einsum [i, j] = 10.0 * i + j + 0.0 * %S[i, j] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %max = cascade.einsum [i] = %X[i, j] reduce(j: max) where (j <= i - 1) : (tensor<3x4xf32>) -> tensor<3xf32>
  %sum = cascade.einsum [i] = %X[i, j] reduce(j: add) where (j <= i - 1) : (tensor<3x4xf32>) -> tensor<3xf32>
  %else = cascade.einsum [i] = %X[i, j] reduce(j: max) where (j < i) else -1.0 : (tensor<3x4xf32>) -> tensor<3xf32>
  return %max, %sum, %else : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// Without reductions a filtered point holds `else` (0 by default), and the
// body is not evaluated there: no 0/0 appears.
// MAP: -> [2, 3]
// MAP-NEXT: {{^}}7 7 0{{$}}
// MAP-NEXT: {{^}}7 7 7{{$}}
func.func @predicated_map(%S: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %Z = cascade.einsum [i, j] = 0.0 * %S[i, j] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %R = cascade.einsum [i, j] = 7.0 + %Z[i, j] / %Z[i, j] * 0.0 + 0.0 * (1.0 / %Z[i, j]) * 0.0 where (j <= i + 1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %Y = cascade.einsum [i, j] = 7.0 + 0.0 * %S[i, j] where (j <= i + 1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %Y : tensor<2x3xf32>
}

// M = 10 in tiles of 4: the last tile holds 2 points, and points past M are
// outside the rank. Sum of 0..9 is 45, not 0..11 (66); the padded entries
// of a [m1, m0] tensor hold the fill.
// TAIL: -> [],[3, 4]
// TAIL-NEXT: {{^}}45{{$}}
// TAIL-NEXT: {{^}}0 1 2 3{{$}}
// TAIL-NEXT: {{^}}4 5 6 7{{$}}
// TAIL-NEXT: {{^}}8 9 0 0{{$}}
func.func @partition_tail(%S: tensor<10xf32>) -> (tensor<f32>, tensor<?x?xf32>) {
  cascade.partition m = m1 * 4 + m0
  %X = cascade.einsum [m] = m + 0.0 * %S[m] : (tensor<10xf32>) -> tensor<10xf32>
  %T = cascade.einsum [] = %X[m1 * 4 + m0] reduce(m0: add, m1: add) : (tensor<10xf32>) -> tensor<f32>
  %B = cascade.einsum [m1, m0] = %X[m1 * 4 + m0] : (tensor<10xf32>) -> tensor<?x?xf32>
  return %T, %B : tensor<f32>, tensor<?x?xf32>
}

// An iterate over m1 carries the running max and the running sum across
// tiles of X[m] = (m * 7) mod 10 for m < 10 (tiles of 4: 3 steps), and counts
// its steps.
// ITER: -> [],[],[]
// ITER-NEXT: {{^}}9{{$}}
// ITER-NEXT: {{^}}45{{$}}
// ITER-NEXT: {{^}}3{{$}}
func.func @iterate_carries(%S: tensor<10xf32>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  cascade.partition m = m1 * 4 + m0
  %X = cascade.einsum [m] = map(%S[m]) {
  ^bb0(%s: f32):
    %m = cascade.index m : index
    %c7 = arith.constant 7 : index
    %c10 = arith.constant 10 : index
    %t = arith.muli %m, %c7 : index
    %r = arith.remsi %t, %c10 : index
    %i = arith.index_cast %r : index to i64
    %f = arith.sitofp %i : i64 to f32
    cascade.yield %f : f32
  } : (tensor<10xf32>) -> tensor<10xf32>
  %max0 = cascade.einsum [] = -inf : () -> tensor<f32>
  %sum0 = cascade.einsum [] = 0.0 : () -> tensor<f32>
  %n0 = cascade.einsum [] = 0.0 : () -> tensor<f32>
  %max, %sum, %n = cascade.iterate m1 init(%rm = %max0, %rs = %sum0, %rn = %n0) : tensor<f32>, tensor<f32>, tensor<f32> {
    %lm = cascade.einsum [] = %X[m1 * 4 + m0] reduce(m0: max) : (tensor<10xf32>) -> tensor<f32>
    %ls = cascade.einsum [] = %X[m1 * 4 + m0] reduce(m0: add) : (tensor<10xf32>) -> tensor<f32>
    %nm = cascade.einsum [] = max(%rm[], %lm[]) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %ns = cascade.einsum [] = %rs[] + %ls[] : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %nn = cascade.einsum [] = %rn[] + 1.0 : (tensor<f32>) -> tensor<f32>
    cascade.yield %nm, %ns, %nn : tensor<f32>, tensor<f32>, tensor<f32>
  }
  return %max, %sum, %n : tensor<f32>, tensor<f32>, tensor<f32>
}

// M = 1 with tiles of 64: one step whose tile holds one point.
// EMPTY: -> []
// EMPTY-NEXT: {{^}}1{{$}}
func.func @iterate_empty_tail(%S: tensor<1xf32>) -> tensor<f32> {
  cascade.partition m = m1 * 64 + m0
  %c0 = cascade.einsum [] = 0.0 : () -> tensor<f32>
  %c = cascade.iterate m1 init(%acc = %c0) : tensor<f32> {
    %n = cascade.einsum [] = 1.0 + 0.0 * %S[m1 * 64 + m0] reduce(m0: add) : (tensor<1xf32>) -> tensor<f32>
    %next = cascade.einsum [] = %acc[] + %n[] : (tensor<f32>, tensor<f32>) -> tensor<f32>
    cascade.yield %next : tensor<f32>
  }
  return %c : tensor<f32>
}

// GQA-style indexing: h reads group h floordiv (H floordiv G), G bound by a
// 'cascade.ranks' attribute. K[g] = 100 * g.
// GROUP: -> [6]
// GROUP-NEXT: {{^}}0 0 0 100 100 100{{$}}
func.func @grouped_index(%Q: tensor<6xf32>, %K: tensor<2xf32> {cascade.ranks = ["g"]}) -> tensor<6xf32> {
  %KV = cascade.einsum [g] = 100.0 * g + 0.0 * %K[g] : (tensor<2xf32>) -> tensor<2xf32>
  %R = cascade.einsum [h] = %KV[h floordiv (H floordiv G)] + 0.0 * %Q[h] : (tensor<2xf32>, tensor<6xf32>) -> tensor<6xf32>
  return %R : tensor<6xf32>
}

// Region bodies: comparisons, selects, integer arithmetic, extents, and
// casts between float types (exact in fp64).
// REGION: -> [5]
// REGION-NEXT: {{^}}5 -1 5 -3 5{{$}}
func.func @region_body(%S: tensor<5xf16>) -> tensor<5xf32> {
  %R = cascade.einsum [i] = map(%S[i]) {
  ^bb0(%s: f16):
    %i = cascade.index i : i64
    %n = cascade.extent i : f32
    %c2 = arith.constant 2 : i64
    %r = arith.remsi %i, %c2 : i64
    %c0 = arith.constant 0 : i64
    %even = arith.cmpi eq, %r, %c0 : i64
    %z = arith.extf %s : f16 to f32
    %zero = arith.subf %z, %z : f32
    %if = arith.sitofp %i : i64 to f32
    %neg = arith.negf %if : f32
    %odd = arith.addf %neg, %zero : f32
    %nz = arith.cmpf oge, %zero, %zero : f32
    %ok = arith.andi %even, %nz : i1
    %v = arith.select %ok, %n, %odd : f32
    cascade.yield %v : f32
  } : (tensor<5xf16>) -> tensor<5xf32>
  return %R : tensor<5xf32>
}

// Scalar math beyond the infix set, each value known exactly.
// MATH: -> [8]
// MATH-NEXT: {{^}}3 2 -1 3.141592654 3 1 1024 1{{$}}
func.func @math_ops(%S: tensor<8xf64>) -> tensor<8xf64> {
  %R = cascade.einsum [k] = map(%S[k]) {
  ^bb0(%s: f64):
    %k = cascade.index k : index
    %zero = arith.subf %s, %s : f64
    %half = arith.constant 2.5 : f64
    %minus = arith.constant -1.5 : f64
    %one = arith.constant 1.0 : f64
    %c27 = arith.constant 27.0 : f64
    %two = arith.constant 2.0 : f64
    %i10 = arith.constant 10 : i32
    %four = arith.constant 4.0 : f64
    %v0 = math.round %half : f64
    %v1 = math.roundeven %half : f64
    %v2 = math.trunc %minus : f64
    %at = math.atan2 %one, %one : f64
    %v3 = arith.mulf %at, %four : f64
    %v4 = math.cbrt %c27 : f64
    %v5 = math.erfc %zero : f64
    %v6 = math.fpowi %two, %i10 : f64, i32
    %nan = arith.divf %zero, %zero : f64
    %isnan = math.isnan %nan : f64
    %v7 = arith.uitofp %isnan : i1 to f64
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %c6 = arith.constant 6 : index
    %c7 = arith.constant 7 : index
    %is1 = arith.cmpi eq, %k, %c1 : index
    %is2 = arith.cmpi eq, %k, %c2 : index
    %is3 = arith.cmpi eq, %k, %c3 : index
    %is4 = arith.cmpi eq, %k, %c4 : index
    %is5 = arith.cmpi eq, %k, %c5 : index
    %is6 = arith.cmpi eq, %k, %c6 : index
    %is7 = arith.cmpi eq, %k, %c7 : index
    %r1 = arith.select %is1, %v1, %v0 : f64
    %r2 = arith.select %is2, %v2, %r1 : f64
    %r3 = arith.select %is3, %v3, %r2 : f64
    %r4 = arith.select %is4, %v4, %r3 : f64
    %r5 = arith.select %is5, %v5, %r4 : f64
    %r6 = arith.select %is6, %v6, %r5 : f64
    %r7 = arith.select %is7, %v7, %r6 : f64
    cascade.yield %r7 : f64
  } : (tensor<8xf64>) -> tensor<8xf64>
  return %R : tensor<8xf64>
}

// Unsigned integer ops on coordinates: ceildiv(i, 2) * 10 + max(i, 2) mod 3.
// UNSIGNED: -> [5]
// UNSIGNED-NEXT: {{^}}2 12 12 20 21{{$}}
func.func @unsigned_ops(%S: tensor<5xf32>) -> tensor<5xf32> {
  %R = cascade.einsum [i] = map(%S[i]) {
  ^bb0(%s: f32):
    %i = cascade.index i : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c10 = arith.constant 10 : index
    %q = arith.ceildivui %i, %c2 : index
    %tens = arith.muli %q, %c10 : index
    %m = arith.maxui %i, %c2 : index
    %r = arith.remui %m, %c3 : index
    %sum = arith.addi %tens, %r : index
    %n = arith.index_castui %sum : index to i64
    %f = arith.uitofp %n : i64 to f32
    cascade.yield %f : f32
  } : (tensor<5xf32>) -> tensor<5xf32>
  return %R : tensor<5xf32>
}

// Negative index constants are signed (a decayed state's boundary in
// cascade-chunk computes i * -1 and floordivsi): for i = 0..4,
// floordivsi(i * -1 - 1, 3) * 10 + i = -10, -9, -8, -17, -16.
// SIGNED: -> [5]
// SIGNED-NEXT: {{^}}-10 -9 -8 -17 -16{{$}}
func.func @signed_index_ops(%S: tensor<5xf32>) -> tensor<5xf32> {
  %R = cascade.einsum [i] = map(%S[i]) {
  ^bb0(%s: f32):
    %i = cascade.index i : index
    %cm1 = arith.constant -1 : index
    %c3 = arith.constant 3 : index
    %c10 = arith.constant 10 : index
    %n = arith.muli %i, %cm1 : index
    %b = arith.addi %n, %cm1 : index
    %q = arith.floordivsi %b, %c3 : index
    %t = arith.muli %q, %c10 : index
    %r = arith.addi %t, %i : index
    %w = arith.index_cast %r : index to i64
    %f = arith.sitofp %w : i64 to f32
    cascade.yield %f : f32
  } : (tensor<5xf32>) -> tensor<5xf32>
  return %R : tensor<5xf32>
}
