//===- PipelineFuzzer.cpp - libFuzzer: parse, rewrite, lower to LLVM ------===//
//
// A spec that parses and verifies goes through the GPU backend's kernel
// builder (scheduling, GpuPlan, the gpu/nvgpu kernel, on a copy), then
// cascade-minimize-passes (the special-value analysis and Z3 included) and
// the whole cascade-to-cpu pipeline down to the LLVM dialect, with every
// head dimension set to 16 (64 for the sm_90a kernels of odd-sized
// inputs, 80 for sizes of 6 mod 16: a state phase's value columns split
// over two blocks of 40): each step must succeed or fail with a
// diagnostic.
//
//===----------------------------------------------------------------------===//

#include "FuzzContext.h"

#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::cascade;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  registerAllPasses();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &context = fuzz::getFuzzContext();
  // MLIR's lexer relies on the NUL after the buffer that every file read
  // through MemoryBuffer has; libFuzzer's bytes have none.
  std::string text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  if (!module || failed(verify(*module)))
    return 0;
  // Head dimensions: the innermost dimension of every argument.
  CpuTargetOptions options;
  llvm::StringSet<> heads;
  for (auto function : module->getOps<func::FuncOp>()) {
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    if (failed(env))
      return 0;
    for (auto [arg, type] : llvm::enumerate(function.getArgumentTypes()))
      if (auto tensor = dyn_cast<RankedTensorType>(type); tensor && tensor.getRank())
        if (auto rank = env->getRankOfArgumentDim(arg, tensor.getRank() - 1))
          heads.insert(*rank);
  }
  for (auto &head : heads)
    options.headDims[head.getKey()] = 16;
  options.cpu = "x86-64-v3";
  // Small tiles (one warp, 16 keys) keep the kernels, and ASan's time on
  // them, small; every form is still built. Inputs of odd size take
  // sm_90a's warpgroup form instead: one warpgroup of 64 query rows and
  // head dimensions of 64 (swizzled stages, S by wgmma, TMA), or, for a
  // size of 3 mod 4, four warpgroups of 64 rows each and 64-key tiles,
  // whose stages pass 48 KiB: dynamic shared memory. A size of 5 mod 8
  // leaves the key tile to cascade-schedule-for-gpu, which schedules with
  // the default, plans, and may restore the spec and schedule it again.
  GpuTargetOptions gpu;
  bool warpgroup = size % 2 == 1;
  bool dynamicShared = size % 4 == 3;
  bool chosenKeyTile = size % 8 == 5;
  // Above 64 value columns GpuStatePlan splits them over blocks.
  bool splitColumns = size % 16 == 6;
  gpu.chip = warpgroup ? "sm_90a" : "sm_80";
  gpu.queryTile = !warpgroup ? 16 : dynamicShared ? 256 : 64;
  gpu.keyTile = chosenKeyTile ? 0 : dynamicShared ? 64 : 16;
  for (auto &head : heads)
    gpu.headDims[head.getKey()] = warpgroup ? 64 : splitColumns ? 80 : 16;
  for (auto function : module->getOps<func::FuncOp>())
    if (!function.isExternal())
      (void)buildGpuKernelModule(function, gpu);
  PassManager pm(&context);
  if (failed(buildCascadeToCpuPipeline(pm, options)))
    return 0;
  (void)pm.run(*module);
  return 0;
}
