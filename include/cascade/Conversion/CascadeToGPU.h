//===- CascadeToGPU.h - Lowering cascades to NVIDIA GPU kernels ---*- C++ -*-===//
//
// The GPU backend (docs/GPU.md): a cascade in the scheduled form becomes a
// `gpu.module` holding one `gpu.func` kernel of gpu / nvgpu / vector /
// memref / arith / math / scf ops, one thread block per work item, mapped
// as the GpuPlan says (lib/Analysis/GpuPlan.cpp). That kernel IR is what the
// SIMT emulator runs and what upstream's NVVM pipeline turns into PTX and
// cubin.
//
// The kernel's ABI: `@<f>(%arg0, ..., %out)` with every tensor argument of
// the spec as a memref of the storage type (f16 or bf16; integer tensors
// keep their type), runtime scalars as they are, and the output memref;
// launch geometry: one block per work item (grid.x = the plan's items),
// 32 x warps threads (block.x), the shared memory static up to 48 KiB and
// dynamic beyond. A schedule with a state phase (the linear family) is
// mapped by GpuStatePlan instead: one block per (b, h) (and block of value
// columns, where they are split) of 128 threads on CUDA cores
// (buildGpuStateKernel), with the same ABI.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_CONVERSION_CASCADETOGPU_H
#define CASCADE_CONVERSION_CASCADETOGPU_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::cascade {

class GpuPlan;
class GpuStatePlan;

/// The GPU target's options, typed (what attn-run and attn-compile fill).
struct GpuTargetOptions {
  /// Compile-time head dimension sizes (e=64, f=64).
  llvm::StringMap<int64_t> headDims;
  /// Query rows per block (16 per warp) and keys per step; 0 is chosen per
  /// function (cascade-schedule-for-gpu). The key tile: getGpuKeyTile,
  /// then halved while the plan's key step needs too many registers. The
  /// query tile: kDefaultGpuQueryTile, or where the chosen key tile is
  /// below it and the schedule needs key tiles of at least the query tile
  /// (GLA's chunked gates, a state phase), the key tile.
  int64_t queryTile = 0;
  int64_t keyTile = 0;
  /// sm_80, sm_86, sm_89 or sm_90a.
  std::string chip = "sm_80";
  /// f16 or bf16: the element type of inputs and output (tensor-core
  /// operands); accumulation is f32.
  std::string storageType = "f16";
};

/// The query tile when none is given.
constexpr int64_t kDefaultGpuQueryTile = 64;

/// Checks `options` (a known chip, f16 or bf16, tiles in range).
LogicalResult verifyGpuTargetOptions(const GpuTargetOptions &options,
                                     std::string &error);

/// The key tile `options` asks for, or when it says 0, the one to start
/// from (cascade-schedule-for-gpu may halve it for a spec that keeps more
/// fragments, GpuPlan::getKeyStepRegisters): 64 keys for head
/// dimensions up to 64, 32 above (D = 128: the output accumulators take 64
/// registers per lane, a 64-key score tile 32 more, and with mma.sync's P
/// operand fragments masked variants spill at 255). On sm_90a, 64 up to
/// D = 128: P V runs on wgmma from shared memory there (WarpgroupStaged,
/// which needs a multiple of 64 keys) and P's fragments are not kept.
int64_t getGpuKeyTile(const GpuTargetOptions &options);

/// The kernel's name for a spec function.
std::string getGpuKernelName(func::FuncOp function);

/// Builds the kernel of `function` (in the scheduled form, planned as
/// `plan`) into a `gpu.module @<f>_gpu` placed after it; the function is
/// left in place (the host side reads it).
LogicalResult buildGpuKernel(func::FuncOp function, const GpuPlan &plan,
                             Type storageType);

/// The same for a schedule with a state phase (GpuStatePlan: one block per
/// (b, h) on CUDA cores, the state advanced lazily before each query tile).
LogicalResult buildGpuStateKernel(func::FuncOp function,
                                  const GpuStatePlan &plan, Type storageType);

/// One output of a kernel: the spec's result of the same position.
struct GpuKernelOutput {
  /// Its ranks, in order.
  SmallVector<std::string> ranks;
  /// Stored as f32 (a per-row statistic such as the log-sum-exp) rather
  /// than in the storage type (the attention output).
  bool isF32 = false;
};

/// A spec function's kernel, alone in its module, with what launching it
/// needs (from the plan, which does not outlive the build).
struct GpuKernelModule {
  OwningOpRef<ModuleOp> module;
  std::string kernelName;
  int64_t threadsPerBlock = 0;
  /// The block's shared memory (the plan's layout), and what a launch
  /// passes as dynamic shared memory: 0 when the kernel declares it
  /// statically (up to 48 KiB), else the layout plus the slack of aligning
  /// its base (GpuPlan::getDynamicSharedMemoryBytes). Above 48 KiB the host
  /// first raises CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
  int64_t sharedMemoryBytes = 0;
  int64_t dynamicSharedMemoryBytes = 0;
  /// The grid ranks in item order (the last fastest): the dimension of the
  /// first output that gives each extent and the tile it is divided by
  /// (rounding up).
  SmallVector<std::pair<unsigned, int64_t>> workDims;
  /// The outputs, the kernel's last arguments in this order; the first is
  /// the attention output.
  SmallVector<GpuKernelOutput> outputs;
  /// The blocks of a launch whose first output has `shape`.
  int64_t getNumBlocks(ArrayRef<int64_t> outputShape) const;
};

/// Schedules a copy of `function`, plans it for `options.chip` and builds
/// its kernel (cleaned up by canonicalize and CSE): the IR the emulator
/// runs and upstream's NVVM pipeline compiles. Located errors on failure.
FailureOr<GpuKernelModule> buildGpuKernelModule(func::FuncOp function,
                                                const GpuTargetOptions &options);

/// The scheduling passes (shared with the CPU), then the kernel pass:
/// every cascade function gets its gpu.module.
LogicalResult buildCascadeToGpuPipeline(OpPassManager &pm,
                                        const GpuTargetOptions &options);

/// Upstream's NVVM pipeline after `cascade-to-gpu`: the gpu.modules to
/// NVVM, then `gpu-module-to-binary` in `format` (isa: PTX text; bin:
/// cubin; fatbin), ptxas at -O3.
void addGpuToBinaryPasses(OpPassManager &pm, const GpuTargetOptions &options,
                          llvm::StringRef format);

std::unique_ptr<Pass> createLowerToGpuKernelPass(const GpuTargetOptions &options);

/// `cascade-schedule-for-gpu` with `options`' chip, head dims and tiles.
std::unique_ptr<Pass> createScheduleForGpuPass(const GpuTargetOptions &options);

/// Parses `rank=N` entries into `headDims`; on failure `error` says which
/// entry is wrong.
LogicalResult parseGpuHeadDims(llvm::ArrayRef<std::string> entries,
                               llvm::StringMap<int64_t> &headDims,
                               std::string &error);

/// Textual options of the registered `cascade-to-gpu` pipeline.
struct GpuPipelineOptions : public PassPipelineOptions<GpuPipelineOptions> {
  ListOption<std::string> headDims{
      *this, "head-dims",
      llvm::cl::desc("compile-time head dimension sizes, rank=N")};
  Option<int64_t> queryTile{
      *this, "query-tile",
      llvm::cl::desc("query rows per block (0: 64, or the key tile where a "
                     "state phase needs key tiles of at least the query "
                     "tile)"),
      llvm::cl::init(0)};
  Option<int64_t> keyTile{
      *this, "key-tile",
      llvm::cl::desc("keys per step of the key loop (0: from the head dims)"),
      llvm::cl::init(0)};
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("sm_80, sm_86, sm_89 or sm_90a"),
                           llvm::cl::init("sm_80")};
  Option<std::string> storageType{
      *this, "storage-type",
      llvm::cl::desc("element type of inputs and output: f16 or bf16"),
      llvm::cl::init("f16")};
};

void registerCascadeToGpuPipeline();

} // namespace mlir::cascade

#endif // CASCADE_CONVERSION_CASCADETOGPU_H
