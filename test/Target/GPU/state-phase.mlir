// Causal linear attention on the GPU: its schedule has a state phase (the
// chunked key-side states, stacked per key tile), which GpuStatePlan maps
// onto one block per (b, h) on CUDA cores. The plan (annotated) and the
// kernel IR.
//
// RUN: attn-opt %variants/linear_causal.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64 remarks=false},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=64,f=64},cascade-chunk,cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s --check-prefix=PLAN
// RUN: attn-opt %variants/linear_causal.mlir --pass-pipeline="builtin.module(cascade-to-gpu{head-dims=e=64,f=64})" 2>/dev/null | FileCheck %s --check-prefix=KERNEL

// Query tile t reads the stacked state at step F(t) - 1 (the key tiles
// wholly before its first row): the block runs the state steps up to F(t)
// before the tile. The map's dimensions are (t, b, h), its symbols M and P.
// PLAN: #[[STEP:map[0-9]*]] = affine_map<(d0, d1, d2)[s0, s1] -> ((d0 * 64 + s0 - s1 + 1) floordiv 64 - 1)>
// The state phase: its initial values, then the carried state updated in
// place (the schedule plan's decision, shared with the CPU kernel).
// PLAN: HRD0[e] = 0.0 {{.*}}offset = 0 : i64
// PLAN: HRSAV0[e, f] = 0.0 {{.*}}offset = 64 : i64
// PLAN: PK[m0, e] = {{.*}}offset = 4160 : i64
// PLAN: HRD[e] = {{.*}}offset = 0 : i64
// PLAN: HRSAV[e, f] = {{.*}}offset = 64 : i64
// PLAN: cascade.grid [b, h, p1] {{.*}}cascade.gpu_plan = {chip = "sm_80", dynamic_shared_bytes = 82432 : i64, form = "state_phase", shared_memory_bytes = 82432 : i64, state_steps = #[[STEP]], threads = 128 : i64}
// The query grid's buffers reuse the state step's temporaries (never live
// at once): PQ takes PK's place.
// PLAN: PQ[p0, e] = {{.*}}offset = 4160 : i64
// PLAN: RD0[p0] = {{.*}}state_read = "stacked"
// PLAN: RSAV0[p0, f] = {{.*}}state_read = "stacked"

// KERNEL: gpu.module @linear_causal_gpu
// KERNEL: llvm.mlir.global external @__cascade_dynamic_shared_memory()
// KERNEL: gpu.func @linear_causal({{.*}}) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// KERNEL: gpu.dynamic_shared_memory
// KERNEL: memref.view {{.*}} to memref<20608xf32, #gpu.address_space<workgroup>>
// The query tiles, carrying the state steps run so far; before each, the
// state steps it still needs.
// KERNEL: scf.for {{.*}} iter_args(%[[DONE:.*]] = %{{.*}}) -> (index)
// KERNEL: scf.for %{{.*}} = %[[DONE]] to
// KERNEL: gpu.barrier
// KERNEL-NOT: nvgpu.
// KERNEL-NOT: nvvm.
// KERNEL: gpu.return
