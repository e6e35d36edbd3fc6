// Six-dimensional operands: more than the five dimensions a tensor map
// describes, so on sm_90a the swizzled stages are filled by cp.async
// rather than TMA while S = Q K^T and P V stay on wgmma. cp.async writes through
// the generic proxy and wgmma reads through the async proxy: every
// cp.async wait is followed by fence.proxy.async before the barrier (the
// emulator reports a wgmma read of a stage without it). The library's
// variants all take TMA on sm_90a, so this is the spec that keeps the
// cp.async form checked.
// RUN: attn-opt %s --cascade-to-gpu="chip=sm_90a head-dims=e=64,f=64" | FileCheck %s
// CHECK-NOT: cascade.tensor_map
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.wgmma.mma_async
// RUN: attn-run %s --target cuda-emulator --chip sm_90a --check --dims x=2,y=1,b=1,h=2,p=70,m=133,e=64,f=64 | FileCheck %s --check-prefix=RUN64
// RUN64: shared=49152 ->
// RUN64: tma=0
// RUN64: 0 NaN/Inf: PASS
// RUN: attn-run %s --target cuda-emulator --chip sm_90a --check --dims x=1,y=2,b=1,h=1,p=70,m=133,e=128,f=128 | FileCheck %s --check-prefix=RUN128
// RUN128: shared=90112 (dynamic) ->
// RUN128: tma=0
// RUN128: 0 NaN/Inf: PASS
func.func @softmax6(%Q: tensor<?x?x?x?x?x?xf32>, %K: tensor<?x?x?x?x?x?xf32>, %V: tensor<?x?x?x?x?x?xf32>) -> tensor<?x?x?x?x?x?xf32> {
  %QK = cascade.einsum QK[x, y, b, h, m, p] = %Q[x, y, b, h, p, e] * %K[x, y, b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?x?x?xf32>, tensor<?x?x?x?x?x?xf32>) -> tensor<?x?x?x?x?x?xf32>
  %GM = cascade.einsum GM[x, y, b, h, p] = %QK[x, y, b, h, m, p] reduce(m: max) : (tensor<?x?x?x?x?x?xf32>) -> tensor<?x?x?x?x?xf32>
  %SN = cascade.einsum SN[x, y, b, h, m, p] = exp(%QK[x, y, b, h, m, p] - %GM[x, y, b, h, p]) : (tensor<?x?x?x?x?x?xf32>, tensor<?x?x?x?x?xf32>) -> tensor<?x?x?x?x?x?xf32>
  %SD = cascade.einsum SD[x, y, b, h, p] = %SN[x, y, b, h, m, p] reduce(m: add) : (tensor<?x?x?x?x?x?xf32>) -> tensor<?x?x?x?x?xf32>
  %A = cascade.einsum A[x, y, b, h, m, p] = %SN[x, y, b, h, m, p] / %SD[x, y, b, h, p] : (tensor<?x?x?x?x?x?xf32>, tensor<?x?x?x?x?xf32>) -> tensor<?x?x?x?x?x?xf32>
  %AV = cascade.einsum AV[x, y, b, h, p, f] = %A[x, y, b, h, m, p] * %V[x, y, b, h, m, f] reduce(m: add) : (tensor<?x?x?x?x?x?xf32>, tensor<?x?x?x?x?x?xf32>) -> tensor<?x?x?x?x?x?xf32>
  return %AV : tensor<?x?x?x?x?x?xf32>
}
