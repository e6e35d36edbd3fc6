// RUN: attn-opt %s --cascade-gpu-exp-to-exp2 | FileCheck %s

// exp(x) becomes exp2(x * log2(e)): a multiply and an ex2 per element, on
// vectors and scalars.
// CHECK-LABEL: func.func @shifted
// CHECK-SAME: (%[[A:.*]]: vector<2x2xf32>, %[[B:.*]]: vector<2x2xf32>)
// CHECK-DAG: %[[L:.*]] = arith.constant dense<1.44269502> : vector<2x2xf32>
// CHECK-DAG: %[[D:.*]] = arith.subf %[[A]], %[[B]]
// CHECK: %[[X:.*]] = arith.mulf %[[D]], %[[L]]
// CHECK: %[[E:.*]] = math.exp2 %[[X]]
// CHECK: return %[[E]]
func.func @shifted(%a: vector<2x2xf32>, %b: vector<2x2xf32>) -> vector<2x2xf32> {
  %d = arith.subf %a, %b : vector<2x2xf32>
  %e = math.exp %d : vector<2x2xf32>
  return %e : vector<2x2xf32>
}

// CHECK-LABEL: func.func @plain
// CHECK: %[[L:.*]] = arith.constant 1.44269502 : f32
// CHECK: %[[X:.*]] = arith.mulf %{{.*}}, %[[L]] : f32
// CHECK: math.exp2 %[[X]] : f32
func.func @plain(%x: f32) -> f32 {
  %e = math.exp %x : f32
  return %e : f32
}

// f64 and f16 exps are left alone (the kernels compute in f32).
// CHECK-LABEL: func.func @other_types
// CHECK: math.exp %{{.*}} : f64
// CHECK: math.exp %{{.*}} : f16
func.func @other_types(%x: f64, %y: f16) -> (f64, f16) {
  %e = math.exp %x : f64
  %f = math.exp %y : f16
  return %e, %f : f64, f16
}
