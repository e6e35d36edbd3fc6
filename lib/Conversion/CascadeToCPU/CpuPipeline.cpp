//===- CpuPipeline.cpp - The cascade-to-cpu pipeline and its small passes ===//
//
// cascade-to-cpu = our passes (fewest passes over the key rank, streaming,
// the kernel) followed by upstream MLIR's: canonicalisation, CSE, LICM,
// polynomial approximation of exp/tanh/log, and the standard conversions of
// scf, vector, math, arith, memref and func to the LLVM dialect.
//
//===----------------------------------------------------------------------===//

#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADELOWERTOCPUKERNEL
#define GEN_PASS_DEF_CASCADEAPPROXIMATEMATH
#include "Cascade/CascadePasses.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// The stack one work item may use (a thread's default stack is 8 MiB).
constexpr int64_t kMaxStackBytes = 2 << 20;

struct LowerToCpuKernel
    : public mlir::cascade::impl::CascadeLowerToCpuKernelBase<LowerToCpuKernel> {
  using Base::Base;
  void runOnOperation() override {
    CpuKernelOptions options;
    FailureOr<llvm::StringMap<int64_t>> dims =
        parseAssumedExtents(getOperation().getLoc(), headDims);
    if (failed(dims))
      return signalPassFailure();
    options.headDims = std::move(*dims);
    options.queryTile = queryTile;
    options.vectorWidth = vectorWidth;
    Builder builder(&getContext());
    if (storageType == "f16")
      options.storageType = builder.getF16Type();
    else if (storageType == "bf16")
      options.storageType = builder.getBF16Type();
    else if (storageType == "f32")
      options.storageType = builder.getF32Type();
    else {
      getOperation().emitError("storage-type must be f32, f16 or bf16, not '")
          << storageType << "'";
      return signalPassFailure();
    }
    if (queryTile < 1 || (vectorWidth != 4 && vectorWidth != 8 &&
                          vectorWidth != 16)) {
      getOperation().emitError(
          "query-tile must be >= 1 and vector-width 4, 8 or 16");
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> functions;
    for (auto function : getOperation().getOps<func::FuncOp>())
      if (!function.isExternal() &&
          function.getBody().front().getOps<EinsumOp>().begin() !=
              function.getBody().front().getOps<EinsumOp>().end())
        functions.push_back(function);
    for (func::FuncOp function : functions) {
      std::string name = function.getSymName().str();
      Location loc = function.getLoc();
      if (failed(buildCpuKernel(function, options)))
        return signalPassFailure();
      // Every buffer of an item is on the stack: bound what one item takes
      // so that any thread (attn-run's, or an AOT caller's with a default
      // stack) can run it.
      auto kernel = getOperation().lookupSymbol<func::FuncOp>(name);
      int64_t bytes = 0;
      kernel.walk([&](memref::AllocaOp alloca) {
        MemRefType type = alloca.getType();
        if (type.hasStaticShape())
          bytes += type.getNumElements() *
                   ((type.getElementTypeBitWidth() + 7) / 8);
      });
      if (bytes > kMaxStackBytes) {
        emitError(loc) << "the kernel's buffers take " << bytes
                       << " bytes of stack per work item, more than the "
                       << kMaxStackBytes
                       << " allowed: lower query-tile (" << static_cast<int64_t>(queryTile)
                       << ") or the key tile";
        return signalPassFailure();
      }
    }
  }
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

int64_t mlir::cascade::getVectorWidthForCpu(StringRef cpu) {
  std::string error;
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget = getSubtarget(cpu, error);
  return subtarget && subtarget->checkFeatures("+avx512f") ? 16 : 8;
}

LogicalResult mlir::cascade::verifyCpuPipelineOptions(
    const CpuPipelineOptions &options, std::string &error) {
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget =
      getSubtarget(options.cpu, error);
  if (!subtarget)
    return failure();
  if (!subtarget->checkFeatures("+avx2,+fma")) {
    error = "CPU '" + options.cpu.getValue() +
            "' lacks AVX2 and FMA, which the CPU backend needs";
    return failure();
  }
  if (options.storageType != "f32" && options.storageType != "f16" &&
      options.storageType != "bf16") {
    error = "storage-type must be f32, f16 or bf16, not '" +
            options.storageType.getValue() + "'";
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
  if (options.queryTile > 4096 || options.keyTile > 4096) {
    error = "query-tile and key-tile must be at most 4096, not " +
            std::to_string(options.queryTile) + " and " +
            std::to_string(options.keyTile);
    return failure();
  }
  llvm::StringSet<> seen;
  for (const std::string &entry : options.headDims) {
    StringRef rank = StringRef(entry).split('=').first.trim();
    if (!seen.insert(rank).second) {
      error = "head-dims names '" + rank.str() + "' twice";
      return failure();
    }
  }
  return success();
}

LogicalResult mlir::cascade::buildCascadeToCpuPipeline(
    OpPassManager &pm, const CpuPipelineOptions &options) {
  std::string error;
  if (failed(verifyCpuPipelineOptions(options, error))) {
    // The pipeline has no location to report at; tools call
    // verifyCpuPipelineOptions first and report at the function.
    llvm::errs() << "cascade-to-cpu: error: " << error << "\n";
    return failure();
  }
  std::string dims = llvm::join(options.headDims, ",");
  std::string text =
      "cascade-build-cpu-shape-check{head-dims=" + dims +
      " query-tile=" + std::to_string(options.queryTile) +
      " storage-type=" + options.storageType.getValue() + "}," +
      "func.func(cascade-minimize-passes{remarks=false tile-size=" +
      std::to_string(options.keyTile) + "}," +
      "cascade-stream-rank{tile-size=" + std::to_string(options.keyTile) +
      "},cascade-classify-tiles{query-tile=" +
      std::to_string(options.queryTile) +
      "}),cascade-lower-to-cpu-kernel{head-dims=" + dims +
      " query-tile=" + std::to_string(options.queryTile) +
      " vector-width=" + std::to_string(getVectorWidthForCpu(options.cpu)) +
      " storage-type=" + options.storageType.getValue() +
      "},canonicalize,cse,func.func(loop-invariant-code-motion)," +
      "cascade-approximate-math,canonicalize,cse," +
      "convert-scf-to-cf,convert-vector-to-llvm,convert-math-to-llvm," +
      "expand-strided-metadata,lower-affine,finalize-memref-to-llvm," +
      "convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm," +
      "convert-cf-to-llvm,reconcile-unrealized-casts,canonicalize,cse";
  // Parsing fails only when a pass is not registered (a tool that did not
  // call registerAllPasses); the parser has reported which.
  return parsePassPipeline(text, pm);
}

void mlir::cascade::registerCascadeToCpuPipeline() {
  // Not PassPipelineRegistration: it drops the builder's result, and a
  // pipeline with bad options must fail, not run without its passes.
  registerPassPipeline(
      "cascade-to-cpu",
      "compile cascades to CPU kernels in the LLVM dialect (docs/CPU.md)",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        CpuPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        std::string error;
        if (failed(verifyCpuPipelineOptions(options, error)))
          return errorHandler("cascade-to-cpu: " + error);
        return buildCascadeToCpuPipeline(pm, options);
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> handler) {
        handler(CpuPipelineOptions());
      });
}
