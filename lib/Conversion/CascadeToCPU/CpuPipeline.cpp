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
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/TargetParser/Host.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADELOWERTOCPUKERNEL
#define GEN_PASS_DEF_CASCADEAPPROXIMATEMATH
#include "Cascade/CascadePasses.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

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
    for (func::FuncOp function : functions)
      if (failed(buildCpuKernel(function, options)))
        return signalPassFailure();
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

int64_t mlir::cascade::getVectorWidthForCpu(StringRef cpu) {
  if (cpu == "x86-64-v4")
    return 16;
  if (cpu == "x86-64-v3")
    return 8;
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  return features.lookup("avx512f") ? 16 : 8;
}

LogicalResult mlir::cascade::buildCascadeToCpuPipeline(
    OpPassManager &pm, const CpuPipelineOptions &options) {
  std::string dims = llvm::join(options.headDims, ",");
  std::string text =
      "func.func(cascade-minimize-passes{remarks=false tile-size=" +
      std::to_string(options.keyTile) + "}," +
      "cascade-stream-rank{tile-size=" + std::to_string(options.keyTile) +
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
  PassPipelineRegistration<CpuPipelineOptions>(
      "cascade-to-cpu",
      "compile cascades to CPU kernels in the LLVM dialect (docs/CPU.md)",
      [](OpPassManager &pm, const CpuPipelineOptions &options) {
        return buildCascadeToCpuPipeline(pm, options);
      });
}
