//===- CpuPipeline.cpp - The cascade-to-cpu pipeline and its small passes ===//
//
// cascade-to-cpu = our passes (fewest passes over the key rank, streaming,
// the kernel) followed by upstream MLIR's: canonicalisation, CSE, LICM,
// polynomial approximation of exp/tanh/log, and the standard conversions of
// scf, vector, math, arith, memref and func to the LLVM dialect.
//
//===----------------------------------------------------------------------===//

#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Conversion/Passes.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADELOWERTOCPUKERNEL
#define GEN_PASS_DEF_CASCADEAPPROXIMATEMATH
#include "cascade/Conversion/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct LowerToCpuKernel
    : public mlir::cascade::impl::CascadeLowerToCpuKernelBase<LowerToCpuKernel> {
  using Base::Base;
  explicit LowerToCpuKernel(const CpuTargetOptions &target) : typed(target) {}

  /// The kernel's options: from the typed target options when the pipeline
  /// built this pass, else from the textual ones.
  FailureOr<CpuKernelOptions> getKernelOptions() {
    CpuKernelOptions options;
    Builder builder(&getContext());
    std::string storage = storageType;
    if (typed) {
      options.vectorWidth = getVectorWidthForCpu(typed->cpu);
      storage = typed->storageType;
    } else {
      options.vectorWidth = vectorWidth;
    }
    if (storage == "f16")
      options.storageType = builder.getF16Type();
    else if (storage == "bf16")
      options.storageType = builder.getBF16Type();
    else if (storage == "f32")
      options.storageType = builder.getF32Type();
    else
      return getOperation().emitError(
                 "storage-type must be f32, f16 or bf16, not '")
             << storage << "'";
    if (options.vectorWidth != 4 && options.vectorWidth != 8 &&
        options.vectorWidth != 16)
      return getOperation().emitError("vector-width must be 4, 8 or 16");
    return options;
  }

  void runOnOperation() override {
    FailureOr<CpuKernelOptions> kernelOptions = getKernelOptions();
    if (failed(kernelOptions))
      return signalPassFailure();
    const CpuKernelOptions &options = *kernelOptions;
    SmallVector<func::FuncOp> functions;
    for (auto function : getOperation().getOps<func::FuncOp>())
      if (isCascadeFunction(function))
        functions.push_back(function);
    for (func::FuncOp function : functions) {
      // The plan bounds what one item stages (on the stack: any thread,
      // attn-run's or an AOT caller's with a default stack, can run it).
      if (failed(buildCpuKernel(function, options)))
        return signalPassFailure();
    }
  }

  std::optional<CpuTargetOptions> typed;
};

struct ApproximateMath
    : public mlir::cascade::impl::CascadeApproximateMathBase<ApproximateMath> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

/// The subtarget of `cpu` ("native": the host's CPU and features), or null
/// with `error` set when LLVM's x86 backend does not know the name.
static std::unique_ptr<llvm::MCSubtargetInfo>
getSubtarget(StringRef cpu, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string name = cpu == "native" ? llvm::sys::getHostCPUName().str()
                                     : cpu.str();
  std::string features;
  if (cpu == "native")
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      features += (features.empty() ? "" : ",") +
                  std::string(feature.getValue() ? "+" : "-") +
                  feature.getKey().str();
  // Ask a generic subtarget whether the name is known first: creating one
  // for an unknown name prints LLVM's own warning.
  std::unique_ptr<llvm::MCSubtargetInfo> generic(
      target->createMCSubtargetInfo(triple, "x86-64", ""));
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget;
  if (generic && generic->isCPUStringValid(name))
    subtarget.reset(target->createMCSubtargetInfo(triple, name, features));
  if (!subtarget) {
    error = "unknown CPU '" + cpu.str() +
            "': use native, x86-64-v3 (AVX2), x86-64-v4 (AVX-512) or an "
            "x86-64 CPU name LLVM knows (znver4, sapphirerapids, ...)";
    return nullptr;
  }
  return subtarget;
}

Type mlir::cascade::getKernelElementType(Type spec, Type storage) {
  return isa<IntegerType>(spec) ? spec : storage;
}

int64_t mlir::cascade::getVectorWidthForCpu(StringRef cpu) {
  std::string error;
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget = getSubtarget(cpu, error);
  return subtarget && subtarget->checkFeatures("+avx512f") ? 16 : 8;
}

LogicalResult mlir::cascade::verifyCpuTargetOptions(
    const CpuTargetOptions &options, std::string &error) {
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget =
      getSubtarget(options.cpu, error);
  if (!subtarget)
    return failure();
  if (!subtarget->checkFeatures("+avx2,+fma")) {
    error = "CPU '" + options.cpu +
            "' lacks AVX2 and FMA, which the CPU backend needs";
    return failure();
  }
  if (options.storageType != "f32" && options.storageType != "f16" &&
      options.storageType != "bf16") {
    error = "storage-type must be f32, f16 or bf16, not '" +
            options.storageType + "'";
    return failure();
  }
  if (options.queryTile < 1 || options.keyTile < 1) {
    error = "query-tile and key-tile must be at least 1, not " +
            std::to_string(options.queryTile) + " and " +
            std::to_string(options.keyTile);
    return failure();
  }
  // Products of tiles size the stack buffers; keep them far from overflow
  // (the kernel's actual stack use is checked once it is built).
  if (options.queryTile > kMaxTileExtent || options.keyTile > kMaxTileExtent) {
    error = "query-tile and key-tile must be at most " + std::to_string(kMaxTileExtent) + ", not " +
            std::to_string(options.queryTile) + " and " +
            std::to_string(options.keyTile);
    return failure();
  }
  for (auto &entry : options.headDims)
    if (entry.getValue() < 1) {
      error = "head-dims gives '" + entry.getKey().str() + "' the size " +
              std::to_string(entry.getValue()) + "; sizes are at least 1";
      return failure();
    }
  return success();
}

FailureOr<CpuTargetOptions>
mlir::cascade::toCpuTargetOptions(const CpuPipelineOptions &text,
                                  std::string &error) {
  CpuTargetOptions options;
  for (const std::string &entry : text.headDims) {
    auto [rank, value] = StringRef(entry).split('=');
    rank = rank.trim();
    int64_t size;
    if (rank.empty() || value.trim().getAsInteger(10, size)) {
      error = "head-dims entry '" + entry + "' is not rank=N";
      return failure();
    }
    if (!options.headDims.try_emplace(rank, size).second) {
      error = "head-dims names '" + rank.str() + "' twice";
      return failure();
    }
  }
  options.queryTile = text.queryTile;
  options.keyTile = text.keyTile;
  options.cpu = text.cpu;
  options.storageType = text.storageType;
  return options;
}

std::unique_ptr<Pass>
mlir::cascade::createLowerToCpuKernelPass(const CpuTargetOptions &options) {
  return std::make_unique<LowerToCpuKernel>(options);
}

void mlir::cascade::addCpuSchedulingPasses(OpPassManager &functions,
                                           const CpuTargetOptions &options) {
  // Gated linear attention: scheduled and chunked in one step, from the
  // spec (its prefix sums would otherwise be a second quadratic key loop).
  CascadeChunkGatesOptions gates;
  gates.queryTile = options.queryTile;
  gates.keyTile = options.keyTile;
  for (auto &entry : options.headDims)
    gates.tileExtents.push_back(entry.getKey().str() + "=" +
                                std::to_string(entry.getValue()));
  functions.addPass(createCascadeChunkGates(gates));
  CascadeMinimizePassesOptions minimize;
  minimize.tileSize = options.keyTile;
  minimize.emitRemarks = false;
  functions.addPass(createCascadeMinimizePasses(minimize));
  CascadeStreamRankOptions stream;
  stream.tileSize = options.keyTile;
  functions.addPass(createCascadeStreamRank(stream));
  CascadeClassifyTilesOptions classify;
  classify.queryTile = options.queryTile;
  functions.addPass(createCascadeClassifyTiles(classify));
  // The scheduled form: the work grid and tile extents the kernel reads.
  CascadePartitionRankOptions schedule;
  schedule.queryTile = options.queryTile;
  for (auto &entry : options.headDims)
    schedule.tileExtents.push_back(entry.getKey().str() + "=" +
                                   std::to_string(entry.getValue()));
  functions.addPass(createCascadePartitionRank(schedule));
  // Causal linear attention: past key tiles through a stacked state.
  functions.addPass(createCascadeChunk());
}

LogicalResult
mlir::cascade::buildCascadeToCpuPipeline(OpPassManager &pm,
                                         const CpuTargetOptions &options) {
  std::string error;
  if (failed(verifyCpuTargetOptions(options, error))) {
    // The pipeline has no location to report at; tools call
    // verifyCpuTargetOptions first and report at the function.
    llvm::errs() << "cascade-to-cpu: error: " << error << "\n";
    return failure();
  }
  pm.addPass(createBuildCpuShapeCheckPass(options));
  addCpuSchedulingPasses(pm.nest<func::FuncOp>(), options);
  pm.addPass(createLowerToCpuKernelPass(options));
  // Upstream cleanups, then the standard conversions to the LLVM dialect.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createLoopInvariantCodeMotionPass());
  pm.addPass(createCascadeApproximateMath());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // floordivsi and ceildivsi (a decayed state's boundary) have no direct
  // LLVM lowering.
  pm.addPass(arith::createArithExpandOpsPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  return success();
}

void mlir::cascade::registerCascadeToCpuPipeline() {
  // Not PassPipelineRegistration: it drops the builder's result, and a
  // pipeline with bad options must fail, not run without its passes.
  registerPassPipeline(
      "cascade-to-cpu",
      "compile cascades to CPU kernels in the LLVM dialect (docs/CPU.md)",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        CpuPipelineOptions textual;
        if (failed(textual.parseFromString(text)))
          return failure();
        std::string error;
        FailureOr<CpuTargetOptions> options =
            toCpuTargetOptions(textual, error);
        if (failed(options) || failed(verifyCpuTargetOptions(*options, error)))
          return errorHandler("cascade-to-cpu: " + error);
        return buildCascadeToCpuPipeline(pm, *options);
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> handler) {
        handler(CpuPipelineOptions());
      });
}
