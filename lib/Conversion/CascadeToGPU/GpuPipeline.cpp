//===- GpuPipeline.cpp - cascade-to-gpu and its kernel pass ---------------===//

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Analysis/GpuStatePlan.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Conversion/Passes.h"
#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADELOWERTOGPUKERNEL
#include "cascade/Conversion/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

LogicalResult
mlir::cascade::verifyGpuTargetOptions(const GpuTargetOptions &options,
                                      std::string &error) {
  if (!GpuTarget::byChip(options.chip)) {
    error = "unknown chip '" + options.chip +
            "' (sm_80, sm_86, sm_89 or sm_90a)";
    return failure();
  }
  if (options.storageType != "f16" && options.storageType != "bf16") {
    error = "the GPU backend's storage type is f16 or bf16 (tensor-core "
            "operands), not '" +
            options.storageType + "'";
    return failure();
  }
  if (options.queryTile != 0 &&
      (options.queryTile < 16 || options.queryTile > 256 ||
       options.queryTile % 16 != 0)) {
    error = "query-tile must be a multiple of 16 in [16, 256] (16 rows per "
            "warp; or 0: chosen), not " +
            std::to_string(options.queryTile);
    return failure();
  }
  if (options.keyTile != 0 &&
      (options.keyTile < 16 || options.keyTile > 256 ||
       options.keyTile % 16 != 0)) {
    error = "key-tile must be a multiple of 16 in [16, 256] (or 0: chosen "
            "from the head dimensions), not " +
            std::to_string(options.keyTile);
    return failure();
  }
  for (auto &entry : options.headDims)
    if (entry.getValue() < 16 || entry.getValue() > 256 ||
        entry.getValue() % 16 != 0) {
      error = "head dimension " + entry.getKey().str() + "=" +
              std::to_string(entry.getValue()) +
              ": the tensor cores need a multiple of 16 up to 256";
      return failure();
    }
  return success();
}

namespace {

struct LowerToGpuKernel
    : public mlir::cascade::impl::CascadeLowerToGpuKernelBase<
          LowerToGpuKernel> {
  using Base::Base;
  explicit LowerToGpuKernel(const GpuTargetOptions &options) {
    chip = options.chip;
    storageType = options.storageType;
  }

  void runOnOperation() override {
    std::optional<GpuTarget> target = GpuTarget::byChip(chip);
    if (!target) {
      getOperation().emitError("cascade-lower-to-gpu-kernel: unknown chip '")
          << chip << "' (sm_80, sm_86, sm_89 or sm_90a)";
      return signalPassFailure();
    }
    Builder builder(&getContext());
    Type storage;
    if (storageType == "f16")
      storage = builder.getF16Type();
    else if (storageType == "bf16")
      storage = builder.getBF16Type();
    else {
      getOperation().emitError("storage-type must be f16 or bf16, not '")
          << storageType << "'";
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> functions;
    for (auto function : getOperation().getOps<func::FuncOp>())
      if (isCascadeFunction(function))
        functions.push_back(function);
    for (func::FuncOp function : functions) {
      if (GpuStatePlan::appliesTo(function)) {
        FailureOr<GpuStatePlan> plan = GpuStatePlan::compute(function, *target);
        if (failed(plan) ||
            failed(buildGpuStateKernel(function, *plan, storage)))
          return signalPassFailure();
        function.erase();
        continue;
      }
      FailureOr<GpuPlan> plan = GpuPlan::compute(function, *target);
      if (failed(plan) || failed(buildGpuKernel(function, *plan, storage)))
        return signalPassFailure();
      // The kernel replaces the spec, as on the CPU: what follows is
      // upstream's lowering of the gpu.module.
      function.erase();
    }
  }
};

} // namespace

std::unique_ptr<Pass>
mlir::cascade::createLowerToGpuKernelPass(const GpuTargetOptions &options) {
  return std::make_unique<LowerToGpuKernel>(options);
}

LogicalResult
mlir::cascade::buildCascadeToGpuPipeline(OpPassManager &pm,
                                         const GpuTargetOptions &options) {
  std::string error;
  if (failed(verifyGpuTargetOptions(options, error))) {
    llvm::errs() << "cascade-to-gpu: error: " << error << "\n";
    return failure();
  }
  // The same scheduled form as the CPU's (minimisation, streaming, tile
  // classification, the work grid), with the key tile chosen per function.
  pm.nest<func::FuncOp>().addPass(createScheduleForGpuPass(options));
  pm.addPass(createLowerToGpuKernelPass(options));
  pm.addPass(createCascadeGpuExpToExp2());
  // CSE first: the builder repeats index arithmetic per element, and the
  // canonicalizer takes about 3x as long on the unshared IR.
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  return success();
}

int64_t mlir::cascade::getGpuKeyTile(const GpuTargetOptions &options) {
  if (options.keyTile)
    return options.keyTile;
  int64_t widest = 0;
  for (auto &entry : options.headDims)
    widest = std::max(widest, entry.getValue());
  // On sm_90a, P V runs on wgmma with P stored to shared memory (no A
  // fragments in registers) where the key tile is a multiple of 64, so 64
  // keys fit beside a 128-wide output there.
  std::optional<GpuTarget> target = GpuTarget::byChip(options.chip);
  if (target && target->computeCapability >= 90 && widest <= 128)
    return 64;
  return widest > 64 ? 32 : 64;
}

int64_t GpuKernelModule::getNumBlocks(ArrayRef<int64_t> outputShape) const {
  int64_t blocks = 1;
  for (auto [dim, tile] : workDims)
    blocks *= (outputShape[dim] + tile - 1) / tile;
  return blocks;
}

FailureOr<GpuKernelModule>
mlir::cascade::buildGpuKernelModule(func::FuncOp function,
                                    const GpuTargetOptions &options) {
  std::string error;
  if (failed(verifyGpuTargetOptions(options, error)))
    return function.emitError("cascade-to-gpu: ") << error;
  MLIRContext *context = function.getContext();
  GpuKernelModule result;
  result.module = ModuleOp::create(function.getLoc());
  auto copy = cast<func::FuncOp>(function->clone());
  result.module->push_back(copy);
  PassManager schedule(context);
  schedule.nest<func::FuncOp>().addPass(createScheduleForGpuPass(options));
  if (failed(schedule.run(*result.module)))
    return failure();
  Builder builder(context);
  Type storage = options.storageType == "bf16"
                     ? Type(builder.getBF16Type())
                     : Type(builder.getF16Type());
  GpuTarget target = *GpuTarget::byChip(options.chip);
  result.kernelName = getGpuKernelName(copy);
  auto outputRanks = [&](unsigned i) {
    SmallVector<std::string> ranks;
    GridOp grid = cast<GridOp>(
        copy.getBody().front().getTerminator()->getOperand(i).getDefiningOp());
    for (StringRef rank : cast<ArrayAttr>(grid.getOutputs()[i])
                              .getAsValueRange<StringAttr>())
      ranks.push_back(rank.str());
    return ranks;
  };
  // What a launch needs, from either plan.
  auto describeLaunch = [&](const auto &plan,
                            ArrayRef<WorkRankPlan> launchRanks) {
    result.threadsPerBlock = plan.getThreadsPerBlock();
    result.sharedMemoryBytes = plan.getSharedMemoryBytes();
    result.dynamicSharedMemoryBytes = plan.getDynamicSharedMemoryBytes();
    for (const WorkRankPlan &rank : launchRanks)
      result.workDims.push_back({rank.resultDim, rank.tile});
  };
  if (GpuStatePlan::appliesTo(copy)) {
    FailureOr<GpuStatePlan> plan = GpuStatePlan::compute(copy, target);
    if (failed(plan) || failed(buildGpuStateKernel(copy, *plan, storage)))
      return failure();
    describeLaunch(*plan, plan->getLaunchRanks());
    for (unsigned i = 0; i < copy.getNumResults(); ++i)
      result.outputs.push_back({outputRanks(i), plan->isF32Result(i)});
  } else {
    FailureOr<GpuPlan> plan = GpuPlan::compute(copy, target);
    if (failed(plan) || failed(buildGpuKernel(copy, *plan, storage)))
      return failure();
    describeLaunch(*plan, plan->getSchedule().getWork().ranks);
    for (const GpuResultPlan &output : plan->getResults())
      result.outputs.push_back({output.ranks, output.isF32()});
  }
  copy.erase();
  PassManager cleanup(context);
  cleanup.addPass(createCascadeGpuExpToExp2());
  cleanup.addPass(createCSEPass());
  cleanup.addPass(createCanonicalizerPass());
  cleanup.addPass(createCSEPass());
  if (failed(cleanup.run(*result.module)))
    return failure();
  return result;
}

void mlir::cascade::addGpuToBinaryPasses(OpPassManager &pm,
                                         const GpuTargetOptions &options,
                                         StringRef format) {
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  // PTX 8.0 is what sm_90a's wgmma needs; CUDA 13's ptxas reads it.
  nvvm.cubinFeatures = "+ptx80";
  nvvm.cubinFormat = format.str();
  nvvm.optLevel = 3;
  // bf16 tensor-core ops upstream's NVGPU conversion cannot lower yet.
  pm.addPass(createCascadeBf16MmaToNVVM());
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

void mlir::cascade::registerCascadeToGpuPipeline() {
  registerPassPipeline(
      "cascade-to-gpu",
      "compile cascades to NVIDIA GPU kernels in gpu/nvgpu IR (docs/GPU.md)",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        GpuPipelineOptions textual;
        if (failed(textual.parseFromString(text)))
          return failure();
        GpuTargetOptions options;
        std::string error;
        if (failed(parseGpuHeadDims(textual.headDims, options.headDims, error)))
          return errorHandler("cascade-to-gpu: " + error);
        options.queryTile = textual.queryTile;
        options.keyTile = textual.keyTile;
        options.chip = textual.chip;
        options.storageType = textual.storageType;
        if (failed(verifyGpuTargetOptions(options, error)))
          return errorHandler("cascade-to-gpu: " + error);
        return buildCascadeToGpuPipeline(pm, options);
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> handler) {
        handler(GpuPipelineOptions());
      });
}
