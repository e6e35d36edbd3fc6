// The GPU plan of softmax and causal softmax: one block of 4 warps per
// 64-row query tile, S = Q K^T from shared memory (query fragments hoisted
// into registers), the row max and sum by quad shuffles, P V with P from the
// accumulators, accumulating into the rescaled running output (RSNAV: the
// map O * alpha + P V is not a separate tile), the key-side tiles staged
// per step in swizzled shared memory, double-buffered (two slots: 8 KiB of
// queries + 2 x 16 KiB).
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=64,f=64},cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s

// CHECK: cascade.grid [b, h, p1]
// CHECK-SAME: cascade.gpu_plan = {chip = "sm_80", key_slots = 2 : i64, key_step_registers = 100 : i64, results = ["[b, h, p, f] storage tile"], shared_bytes = 40960 : i64, stages = ["p0xe 64x64 per-item swizzled fragments-hoisted", "m0xe 64x64 per-key-step swizzled", "m0xf 64x64 per-key-step swizzled"], threads = 128 : i64, warps = 4 : i64}
// CHECK: %BQK = cascade.einsum BQK[m0, p0]
// CHECK-SAME: gpu_plan = {a = "operand#0 ldmatrix", b = "operand#1 ldmatrix.x4", form = "mma_shared", layout = "tile[m0=64]"}
// CHECK: %LM = cascade.einsum LM[p0]
// CHECK-SAME: gpu_plan = {form = "row_reduce", layout = "rows"}
// CHECK: %LSN = cascade.einsum LSN[m0, p0]
// CHECK-SAME: gpu_plan = {form = "map", layout = "tile[m0=64]"}
// CHECK: %LSNAV = cascade.einsum LSNAV[p0, f]
// CHECK-SAME: gpu_plan = {a = "operand#0 registers", accumulates_into = "RSNAV", b = "operand#1 ldmatrix.x4.trans", form = "mma_registers", layout = "tile[f=64]"}
// CHECK: %RSNAV_{{[0-9]+}} = cascade.einsum RSNAV[p0, f]
// CHECK-SAME: gpu_plan = {accumulated_by_contraction, form = "map", layout = "tile[f=64]"}
// CHECK: %AV_0 = cascade.einsum AV[p0, f]
// CHECK-SAME: gpu_plan = {form = "map", layout = "tile[f=64]"}

// The log-sum-exp beside the output: one grid with two results, the second
// one value per query row, written in f32; LSE reads the loop's final
// running max and sum.
// RUN: attn-opt %variants/softmax_lse.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=64,f=64},cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s --check-prefix=LSE
// LSE: %AV, %LSE = cascade.grid [b, h, p1]
// LSE-SAME: results = ["[b, h, p, f] storage tile", "[b, h, p] f32 rows"]
// LSE: %LSE_1 = cascade.einsum LSE[p0] = %RM[p0] + log(%RSD[p0])
// LSE-SAME: gpu_plan = {form = "map", layout = "rows"}
// LSE: return %AV, %LSE

// sm_90a: the block is one warpgroup, so S = Q K^T is one wgmma.mma_async
// m64n64k16 per k-step with both operands read by descriptor from their
// swizzled stages (no query fragments in registers), and so is P V: P is
// stored to its own swizzled 64 x 64 tile (8 KiB after the stages, before
// the mbarriers) and read as A, V's stage as an N-major B. 49176 bytes:
// dynamic shared memory.
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=64,f=64},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=SM90
// SM90: cascade.gpu_plan = {chip = "sm_90a", dynamic_shared_bytes = 50184 : i64, key_slots = 2 : i64, key_step_registers = 68 : i64, results = ["[b, h, p, f] storage tile"], shared_bytes = 49176 : i64, stages = ["p0xe 64x64 per-item swizzled tma", "m0xe 64x64 per-key-step swizzled tma", "m0xf 64x64 per-key-step swizzled tma"], threads = 128 : i64, tile_stage = "p0xm0 64x64 swizzled from registers", warps = 4 : i64}
// SM90: %BQK = cascade.einsum BQK[m0, p0]
// SM90-SAME: gpu_plan = {a = "operand#0 descriptor", b = "operand#1 descriptor", form = "wgmma_shared", layout = "tile[m0=64]"}
// SM90: %LSNAV = cascade.einsum LSNAV[p0, f]
// SM90-SAME: gpu_plan = {a = "operand#0 tile stage descriptor", accumulates_into = "RSNAV", b = "operand#1 descriptor n-major", form = "wgmma_staged", layout = "tile[f=64]"}

// At D = 128 with 32-key tiles (given: sm_90a's default is 64) the tiles
// take exactly 48 KiB and the mbarriers 24 bytes more: the layout is
// dynamic shared memory, launched with 1008 bytes more for aligning its
// base to 1024; sm_80 (no TMA, no mbarriers) stays static. 32 keys are
// not a multiple of 64, so P V stays mma.sync and there is no P tile.
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=32},cascade-stream-rank{tile-size=32},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=128,f=128},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: cascade.gpu_plan = {chip = "sm_90a", dynamic_shared_bytes = 50184 : i64, key_slots = 2 : i64, key_step_registers = 100 : i64, results = ["[b, h, p, f] storage tile"], shared_bytes = 49176 : i64, stages = ["p0xe 64x128 per-item swizzled tma", "m0xe 32x128 per-key-step swizzled tma", "m0xf 32x128 per-key-step swizzled tma"], threads = 128 : i64, warps = 4 : i64}
// DYNAMIC: %LSNAV = cascade.einsum LSNAV[p0, f]
// DYNAMIC-SAME: form = "mma_registers"
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=32},cascade-stream-rank{tile-size=32},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=128,f=128},cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s --check-prefix=STATIC
// STATIC: cascade.gpu_plan = {chip = "sm_80", key_slots = 2 : i64, key_step_registers = 100 : i64, results = ["[b, h, p, f] storage tile"], shared_bytes = 49152 : i64

// 64-key tiles at D = 128: two slots take 80 KiB. sm_80 has 164 KiB per
// SM, so two such blocks still fit (82928 launched bytes each, with 1 KiB
// reserved per block); sm_86 has 100 KiB, where the second slot would cost
// a block per SM, so the plan keeps one slot in 48 KiB of static shared
// memory rather than 80 KiB of dynamic.
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=128,f=128},cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s --check-prefix=TWOBLOCKS80
// TWOBLOCKS80: cascade.gpu_plan = {chip = "sm_80", dynamic_shared_bytes = 82928 : i64, key_slots = 2 : i64, key_step_registers = 132 : i64, results = ["[b, h, p, f] storage tile"], shared_bytes = 81920 : i64
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=128,f=128},cascade-annotate-plan{target=sm_86}))" 2>/dev/null | FileCheck %s --check-prefix=TWOBLOCKS86
// TWOBLOCKS86: cascade.gpu_plan = {chip = "sm_86", key_slots = 1 : i64, key_step_registers = 132 : i64, results = ["[b, h, p, f] storage tile"], shared_bytes = 49152 : i64

// With 32-row query tiles the block is 2 warps, not a warpgroup: mma.sync
// (its tiles are still filled by TMA).
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=32},cascade-stream-rank{tile-size=32},cascade-classify-tiles{query-tile=32},cascade-partition-rank{query-tile=32 tile-extents=e=64,f=64},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=HALF
// HALF: stages = ["p0xe 32x64 per-item swizzled tma fragments-hoisted", "m0xe 32x64 per-key-step swizzled tma", "m0xf 32x64 per-key-step swizzled tma"]
// HALF: %BQK = cascade.einsum BQK[m0, p0]
// HALF-SAME: form = "mma_shared"

// D = 80 for Q and K: their rows are padded, not in wgmma's layout, so S
// stays on mma.sync on sm_90a and cp.async fills them; V (f = 64) is
// swizzled, 1024-byte aligned after them and filled by TMA, whose three
// mbarriers follow (30744 bytes, what ptxas reports for this kernel).
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=32},cascade-stream-rank{tile-size=32},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=80,f=64},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=PADDED
// PADDED: shared_bytes = 30744 : i64, stages = ["p0xe 64x80 per-item padded fragments-hoisted", "m0xe 32x80 per-key-step padded", "m0xf 32x64 per-key-step swizzled tma"]
// PADDED: %BQK = cascade.einsum BQK[m0, p0]
// PADDED-SAME: form = "mma_shared"

// FlashAttention-3's tile at D = 128: 128 query rows (two warpgroups, each
// 64 rows of P's tile) by 128 keys (P's rows two 64-key slabs): 192 KiB of
// shared memory, within sm_90a's 227 KiB opt-in.
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=128},cascade-stream-rank{tile-size=128},cascade-classify-tiles{query-tile=128},cascade-partition-rank{query-tile=128 tile-extents=e=128,f=128},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=FA3TILE
// FA3TILE: shared_bytes = 196632 : i64, stages = ["p0xe 128x128 per-item swizzled tma", "m0xe 128x128 per-key-step swizzled tma", "m0xf 128x128 per-key-step swizzled tma"], threads = 256 : i64, tile_stage = "p0xm0 128x128 swizzled from registers", warps = 8 : i64}
// FA3TILE: %LSNAV = cascade.einsum LSNAV[p0, f]
// FA3TILE-SAME: form = "wgmma_staged", layout = "tile[f=128]"

// One-pass softmax computes its rescale factor PRM after P V: the plan
// emits it before the contraction, which then accumulates into RNVn.
// RUN: attn-opt %variants/softmax_onepass.mlir --pass-pipeline="builtin.module(func.func(cascade-minimize-passes{tile-size=64},cascade-stream-rank{tile-size=64},cascade-classify-tiles{query-tile=64},cascade-partition-rank{query-tile=64 tile-extents=e=64,f=64},cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s --check-prefix=ONEPASS
// ONEPASS: %SLNV = cascade.einsum SLNV[p0, f]
// ONEPASS-SAME: accumulates_into = "RNVn", b = "operand#1 ldmatrix.x4.trans", emitted_before = ["PRM"], form = "mma_registers"
// ONEPASS: %PRM = cascade.einsum PRM[p0]
// ONEPASS: %RNVn = cascade.einsum RNVn[p0, f]
// ONEPASS-SAME: accumulated_by_contraction

// The key tile where none is given (cascade-schedule-for-gpu): the chip's
// default for the head dimensions, halved while a key step needs more than
// GpuPlan::kKeyStepRegisterBudget (176) f32 registers per lane. Softmax at
// D = 128 on sm_90a keeps 64 keys (68 carried + 32: P goes to shared
// memory from the scores' registers); differential attention carries two
// running outputs and has two score contractions: at D = 128 on sm_90a it
// needs 136 + 2 x 32 = 200 with 64 keys, and 136 + 4 x 16 = 200 with 32
// (P V on mma.sync below 64 keys keeps P's fragments too), so it gets 16
// (168), where 64 keys spilled; on sm_80 at D = 64, 72 + 4 x 32 = 200
// with 64 keys, so 32 (136).
// RUN: attn-opt %variants/softmax.mlir --pass-pipeline="builtin.module(func.func(cascade-schedule-for-gpu{chip=sm_90a head-dims=e=128,f=128},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=CHOSEN-SOFTMAX
// CHOSEN-SOFTMAX: cascade.partition m = m1 * 64 + m0
// CHOSEN-SOFTMAX: key_step_registers = 100 : i64
// RUN: attn-opt %variants/differential.mlir --pass-pipeline="builtin.module(func.func(cascade-schedule-for-gpu{chip=sm_90a head-dims=e=128,f=128},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=CHOSEN-DIFF128
// CHOSEN-DIFF128: cascade.partition m = m1 * 16 + m0
// CHOSEN-DIFF128: key_step_registers = 168 : i64
// RUN: attn-opt %variants/differential.mlir --pass-pipeline="builtin.module(func.func(cascade-schedule-for-gpu{chip=sm_80 head-dims=e=64,f=64},cascade-annotate-plan{target=sm_80}))" 2>/dev/null | FileCheck %s --check-prefix=CHOSEN-DIFF64
// CHOSEN-DIFF64: cascade.partition m = m1 * 32 + m0
// CHOSEN-DIFF64: key_step_registers = 136 : i64
// A key tile that is given is kept, whatever the registers.
// RUN: attn-opt %variants/differential.mlir --pass-pipeline="builtin.module(func.func(cascade-schedule-for-gpu{chip=sm_90a head-dims=e=128,f=128 key-tile=64},cascade-annotate-plan{target=sm_90a}))" 2>/dev/null | FileCheck %s --check-prefix=GIVEN
// GIVEN: cascade.partition m = m1 * 64 + m0
// GIVEN: key_step_registers = 200 : i64
