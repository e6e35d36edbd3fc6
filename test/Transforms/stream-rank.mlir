// RUN: attn-opt %variants/sigmoid.mlir --cascade-stream-rank=tile-size=32 | FileCheck %s
// RUN: attn-opt %variants/sigmoid.mlir --cascade-stream-rank=tile-size=7 -o %t.mlir
// RUN: attn-run %t.mlir --dims b=1,h=2,p=9,m=17,e=8,f=8 --compare %variants/sigmoid.mlir | FileCheck %s --check-prefix=NUM
// RUN: attn-opt %variants/linear_associated.mlir --cascade-stream-rank=tile-size=7 -o %t2.mlir
// RUN: attn-run %t2.mlir --dims b=1,h=2,p=9,m=17,e=8,f=8 --compare %variants/linear_associated.mlir | FileCheck %s --check-prefix=NUM
// RUN: not attn-opt %variants/softmax.mlir --cascade-stream-rank 2>&1 | FileCheck %s --check-prefix=MULTI
// hedgehog's W[h, e, r] names e in its middle dimension; Q names it
// innermost, so e is a head dimension and m the only rank streamed.
// RUN: attn-opt %variants/hedgehog.mlir --cascade-minimize-passes --cascade-stream-rank=tile-size=7 2>/dev/null | FileCheck %s --check-prefix=HEAD

// CHECK: cascade.partition m = m1 * 32 + m0
// CHECK: %[[INIT:.*]] = cascade.einsum RAV0[b, h, p, f] = 0.0
// CHECK: cascade.iterate m1 init(%[[R:.*]] = %[[INIT]])
// CHECK: cascade.einsum S[b, h, m0, p] = %arg0[b, h, p, e] * %arg1[b, h, m1 * 32 + m0, e]
// CHECK: cascade.einsum LAV[b, h, p, f] = {{.*}} reduce(m0: add)
// CHECK: cascade.einsum RAV[b, h, p, f] = %[[R]][b, h, p, f] + %LAV[b, h, p, f]
// NUM: AGREE
// MULTI: error: cascade-stream-rank: this Einsum iterates 'm' and reads 'GM', a reduction over it
// HEAD: cascade.partition m = m1 * 7 + m0
// HEAD-NOT: cascade.partition
// HEAD: cascade.iterate m1
