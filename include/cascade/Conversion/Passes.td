//===- Passes.td - Conversions out of the cascade dialect ----*- tablegen -*-===//
//
// The passes that turn cascades into target code, apart from the dialect's
// analyses and rewrites (include/cascade/Transforms/Passes.td), as upstream
// MLIR and CIRCT keep include/*/Conversion/Passes.td. Today: the CPU
// backend's kernel builder, its shape check and the math approximation;
// `cascade-to-cpu` (lib/Conversion/CascadeToCPU/CpuPipeline.cpp) chains them
// with upstream passes. docs/CPU.md describes the kernel.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_CONVERSION_PASSES_TD
#define CASCADE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def CascadeLowerToCpuKernel : Pass<"cascade-lower-to-cpu-kernel", "::mlir::ModuleOp"> {
  let summary = "turn each streamed cascade function into a CPU kernel over work items";
  let description = [{
    Replaces every function of cascade ops in the scheduled form
    (`cascade-partition-rank`: its result is a `cascade.grid`) by a kernel
    on memrefs: `(inputs..., out, begin, end)`, computing work items
    `[begin, end)`, the points of the grid in row-major order (one item is
    one query tile for fixed batch and head). The grid's `tile_extents` are
    the compile-time head dimensions. Inside an item every
    tensor lives in a stack buffer; each Einsum is a register-tiled loop nest
    over `vector<VL x f32>` with FMA accumulators; the key iterate is an
    `scf.for` over the key tiles. Which buffers, loops, register tiles and
    operand accesses is the schedule plan's (SchedulePlan, shown by
    `cascade-annotate-plan`), computed for the target description of the
    vector width; the kernel only reads it. Beside the kernel it adds
    `<f>_work_items(out) -> i64`: the number of work items (-1 when a size
    is negative or the count overflows), from the plan's work
    decomposition. docs/CPU.md describes the schedule and the ABI.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"16",
           "f32 lanes per vector register (16: AVX-512, 8: AVX2)">,
    Option<"storageType", "storage-type", "std::string", /*default=*/"\"f32\"",
           "element type of the kernel's inputs and output: f32, f16, bf16">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def CascadeScheduleForGpu : Pass<"cascade-schedule-for-gpu", "::mlir::func::FuncOp"> {
  let summary = "schedule a cascade for the GPU backend, choosing its key tile from the plan's registers";
  let description = [{
    Runs the scheduling passes the CPU backend uses (minimisation,
    streaming, tile classification, the work grid: `cascade-to-cpu`'s
    first half) on each cascade function, with the query tile and head
    dimensions given. The key tile is `key-tile` where given. Otherwise it
    starts from the chip's default for the head dimensions (64 keys; 32
    above D = 64 on sm_8x, whose P V keeps P's operand fragments in
    registers; sm_90a keeps 64 up to D = 128) and is halved, down to 16,
    while the scheduled function's GPU plan needs more than
    `GpuPlan::kKeyStepRegisterBudget` f32 registers per lane for a key step
    (`GpuPlan::getKeyStepRegisters`: the carried fragments and two key
    tiles per score contraction). Differential attention at D = 128, whose
    two maps each carry a running output, is the case: it gets 16 keys,
    where 64 spilled. The choice is visible in the scheduled IR (the key
    partition's tile) and in `cascade-annotate-plan`'s
    `key_step_registers`.

    The query tile is `query-tile` where given, else 64. The default key
    tile is the tensor cores'. Where it is below the query tile and the
    scheduling fails (GLA's chunked gates need key tiles of at least the
    query tile: gla at D = 128 on sm_80), the function is scheduled again,
    with the key tile's rows where the query tile was not given (32 x 32:
    four blocks of 32 value columns for gla) and else, where the key tile
    was not given, with the query tile's keys, and that schedule is kept
    if it has a state phase (CUDA cores, which the register budget does
    not bound); otherwise the first attempt's errors are reported.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "sm_80, sm_86, sm_89 or sm_90a">,
    ListOption<"headDims", "head-dims", "std::string",
               "compile-time head dimension sizes, rank=N">,
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"0",
           "query rows per block (0: chosen as above)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"0",
           "keys per step (0: chosen as above)">
  ];
}

def CascadeLowerToGpuKernel : Pass<"cascade-lower-to-gpu-kernel", "::mlir::ModuleOp"> {
  let summary = "build an NVIDIA GPU kernel (gpu.module) for each scheduled cascade function";
  let description = [{
    For every function of cascade ops in the scheduled form, computes the
    GPU plan (GpuPlan: one thread block per work item, 16 query rows per
    warp, tensors as mma.sync accumulator fragments, staged operands in
    shared memory; `cascade-annotate-plan{target=sm_80}` shows it) and
    builds from it a `gpu.module @<f>_gpu` with one `gpu.func @<f>` kernel
    of gpu / nvgpu / vector / memref / arith / math / scf ops: operand tiles
    copied to swizzled shared memory by cp.async, `nvgpu.ldmatrix` and
    `nvgpu.mma.sync` (m16n8k16, f32 accumulate) for the contractions, row
    reductions by quad shuffles, elementwise bodies on the fragments, the
    key iterate as an scf.for over the key tiles its tile schedule visits.
    The kernel replaces the spec function; the module gets
    `gpu.container_module`. A schedule without a GPU form gets a located
    error that says what is missing. docs/GPU.md describes the kernel.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "sm_80, sm_86, sm_89 or sm_90a">,
    Option<"storageType", "storage-type", "std::string", /*default=*/"\"f16\"",
           "element type of the kernel's inputs and output: f16 or bf16">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def CascadeBf16MmaToNVVM : Pass<"cascade-bf16-mma-to-nvvm"> {
  let summary = "lower bf16 nvgpu.mma.sync to nvvm.mma.sync before upstream's NVVM pipeline";
  let description = [{
    Upstream's NVGPU-to-NVVM conversion (MLIR 22) deduces the PTX operand
    type of `nvgpu.mma.sync` from the element type and knows f16, tf32 and
    integers but not bf16 ("failed to deduce operand PTX types"), although
    `nvvm.mma.sync` and PTX have `mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32`.
    This pass rewrites each m16n8k16 `nvgpu.mma.sync` with bf16 operands
    and f32 accumulators into `nvvm.mma.sync` with the PTX types given:
    the A and B registers packed two bf16 to an i32 (vector.bitcast), the
    accumulators as scalars, the result struct unpacked into the same
    `vector<2x2xf32>`. The kernel IR the emulator runs keeps the nvgpu op;
    this runs only on the way to PTX (addGpuToBinaryPasses).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::vector::VectorDialect"];
}

def CascadeGpuExpToExp2 : Pass<"cascade-gpu-exp-to-exp2"> {
  let summary = "rewrite f32 math.exp in GPU kernels into the exp2 form the hardware computes";
  let description = [{
    NVIDIA GPUs compute 2^x (`ex2.approx`); `math.exp` goes to libdevice's
    `__nv_expf`, which reduces the range with several FMAs around one
    `ex2`. This pass rewrites `exp(x)` into `exp2(x * log2e)` on the kernel
    IR: a multiply and an `ex2` per element. For `exp(s - m)` that is a
    subtract, a multiply and an `ex2`. IEEE special cases are kept: -inf
    gives 0, NaN stays NaN, +inf gives +inf. The relative error added is
    |x| eps32 from the rounded product. The emulator runs the rewritten
    kernel against the fp64 reference.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def CascadeBuildCpuShapeCheck : Pass<"cascade-build-cpu-shape-check", "::mlir::ModuleOp"> {
  let summary = "add <f>_check beside each cascade function";
  let description = [{
    The kernel a cascade function becomes trusts its arguments' sizes and
    strides. This pass adds, from the function as the spec writes it, two
    functions the kernel's caller (the JIT runner, or a program using the
    AOT header) calls first:

    * `<f>_check(inputs..., out) -> i32` over fully dynamic strided
      memrefs: 0 when every size is in [0, 2^31), every innermost stride is
      1, the head dimensions are the compiled ones, the arguments and the
      output agree on every rank's extent, and every index of every operand
      stays inside it at every point of every Einsum's domain (divisors
      positive); otherwise `k + 1` for the first failed condition `k`,
      whose text is entry `k` of the `cascade.check_messages` attribute.
      The same contract as `checkShapeContract` (lib/Analysis), evaluated
      by generated code: straight-line, no division by a value that may be
      zero.

    (`<f>_work_items(out)`, the number of work items, comes with the kernel
    from `cascade-lower-to-cpu-kernel`: it is the schedule plan's work
    decomposition.)
  }];
  let options = [
    ListOption<"headDims", "head-dims", "std::string",
               "compile-time head dimension sizes, rank=N">,
    Option<"storageType", "storage-type", "std::string", /*default=*/"\"f32\"",
           "element type of the kernel's inputs and output: f32, f16, bf16">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

def CascadeApproximateMath : Pass<"cascade-approximate-math"> {
  let summary = "replace exp, tanh, log, ... on vectors by polynomial approximations";
  let description = [{
    Applies upstream MLIR's polynomial approximations (the ones
    `mlir/Dialect/Math/Transforms/Approximation` provides, accurate to a few
    ulp in f32) so that `math.exp` on `vector<16xf32>` becomes straight-line
    FMA code instead of sixteen calls to libm.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // CASCADE_CONVERSION_PASSES_TD
