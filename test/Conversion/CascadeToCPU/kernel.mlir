// The kernel the CPU backend makes from softmax: work items, the Q tile
// packed once per item (hoisted out of the key loop), Q K^T and P V as
// register tiles of vector FMAs, exp on vectors.
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline='builtin.module(func.func(cascade-minimize-passes{remarks=false},cascade-partition-rank{query-tile=32 tile-extents=e=64,f=64}),cascade-lower-to-cpu-kernel,canonicalize,cse)' | FileCheck %s

// CHECK-LABEL: func.func @softmax(
// CHECK-SAME: memref<?x?x?x64xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-SAME: %{{.*}}: index, %{{.*}}: index) attributes {llvm.emit_c_interface}
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<64x32xf32>
// CHECK: scf.for %[[ITEM:.*]] = %{{.*}} to %{{.*}} step
// The Q pack, zero-filled past the end of P, before the key loop.
// CHECK: scf.if
// CHECK: memref.load %arg0
// CHECK: scf.for %[[STEP:.*]] = %{{.*}} to %{{.*}} step
// Q K^T: 12 rows x 2 vectors of accumulators.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: math.exp {{.*}} : vector<16xf32>

// The whole pipeline reaches the LLVM dialect.
// RUN: attn-opt %variants/softmax_causal.mlir --pass-pipeline='builtin.module(cascade-to-cpu{head-dims=e=64,f=64 cpu=x86-64-v3})' | FileCheck %s --check-prefix=LLVM
// LLVM: llvm.func @softmax_causal(
// LLVM: llvm.intr.fma({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// LLVM: llvm.func @_mlir_ciface_softmax_causal(
// LLVM-NOT: math.exp

// Beside the kernel, the number of work items from the plan's work
// decomposition: B * H * ceildiv(P, 32), read from the output's sizes.
// CHECK-LABEL: func.func @softmax_work_items(
// CHECK-SAME: -> i64
// CHECK: memref.dim %arg0, %c0
// CHECK: memref.dim %arg0, %c1
// CHECK: %[[P:.*]] = memref.dim %arg0, %c2
// CHECK: arith.ceildivsi %[[P]], %c32
// CHECK: return {{.*}} : i64
