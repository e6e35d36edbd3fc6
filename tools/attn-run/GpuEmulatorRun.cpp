//===- GpuEmulatorRun.cpp - attn-run's cuda-emulator target --------------===//
//
// Compiles a spec with the GPU backend down to the kernel IR that upstream's
// NVVM pipeline turns into PTX (gpu / nvgpu / vector / memref / arith / math
// / scf), and runs that IR in the SIMT emulator (lib/Target/GPU) over every
// block of the launch, on the inputs rounded to the storage type. With
// --check the output is compared with the fp64 reference on the same
// rounded inputs, with an error bound that accounts for the tensor-core
// operands' precision (docs/GPU.md).
//
//===----------------------------------------------------------------------===//

#include "GpuEmulatorRun.h"
#include "GpuCheck.h"

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Npy.h"
#include "cascade/Target/GPU/Emulator.h"
#include "cascade/Target/GPU/WarpSemantics.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>

using namespace mlir;
using namespace mlir::cascade;

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
}

int mlir::cascade::runOnGpuEmulator(func::FuncOp function,
                                    ArrayRef<Tensor> inputs,
                                    const GpuEmulatorRunOptions &options) {
  std::string error;
  FailureOr<GpuRunSetup> setup =
      setUpGpuRun(function, inputs, options.target, error);
  if (failed(setup))
    return fail(error);
  const GpuTargetOptions &target = setup->target;
  const llvm::StringMap<int64_t> *extents = &setup->extents;
  cascade::gpu::HalfType half = setup->half;

  auto start = std::chrono::steady_clock::now();
  FailureOr<GpuKernelModule> built = buildGpuKernelModule(function, target);
  if (failed(built))
    return fail("no GPU kernel for @" + function.getSymName() + " on " +
                target.chip + " (the error above)");
  Builder builder(function.getContext());
  Type storage = half == cascade::gpu::HalfType::BF16
                     ? Type(builder.getBF16Type())
                     : Type(builder.getF16Type());
  SmallVector<int64_t> outShape;
  for (const std::string &rank : built->outputRanks)
    outShape.push_back(extents->lookup(rank));
  int64_t blocks = built->getNumBlocks(outShape);
  int64_t threads = built->threadsPerBlock;
  int64_t sharedBytes = built->sharedMemoryBytes;
  double compileSeconds = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count();
  OwningOpRef<ModuleOp> &module = built->module;
  mlir::gpu::GPUFuncOp kernel;
  module->walk([&](mlir::gpu::GPUFuncOp op) { kernel = op; });
  if (!kernel)
    return fail("no kernel was built");

  // Global memory: the inputs rounded as the GPU stores them.
  GpuInputs stored = roundInputsForGpu(function, inputs, half);
  std::vector<cascade::gpu::EmulatorBuffer> buffers;
  buffers.reserve(inputs.size() + 1);
  SmallVector<cascade::gpu::EmulatorArgument> arguments;
  for (auto [arg, input] : llvm::enumerate(stored.rounded)) {
    auto tensor = dyn_cast<RankedTensorType>(function.getArgumentTypes()[arg]);
    if (!tensor) {
      cascade::gpu::EmulatorArgument scalar;
      scalar.scalar = input.data.empty() ? 0 : input.data.front();
      arguments.push_back(scalar);
      continue;
    }
    cascade::gpu::EmulatorBuffer buffer;
    buffer.elementType = isa<FloatType>(tensor.getElementType())
                             ? storage
                             : tensor.getElementType();
    buffer.shape = input.shape;
    buffer.data = input.data;
    buffers.push_back(std::move(buffer));
  }
  cascade::gpu::EmulatorBuffer out;
  out.elementType = storage;
  out.shape = outShape;
  out.data.assign(Tensor::numElementsOf(outShape),
                  std::numeric_limits<double>::quiet_NaN());
  buffers.push_back(std::move(out));
  // Arguments in the kernel's order (buffers were pushed in that order).
  {
    SmallVector<cascade::gpu::EmulatorArgument> ordered;
    unsigned buffer = 0, scalar = 0;
    SmallVector<cascade::gpu::EmulatorArgument> scalarsOnly = arguments;
    for (Type type : function.getArgumentTypes()) {
      cascade::gpu::EmulatorArgument argument;
      if (isa<RankedTensorType>(type))
        argument.buffer = &buffers[buffer++];
      else
        argument = scalarsOnly[scalar++];
      ordered.push_back(argument);
    }
    cascade::gpu::EmulatorArgument result;
    result.buffer = &buffers.back();
    ordered.push_back(result);
    arguments = ordered;
  }
  cascade::gpu::LaunchGeometry geometry;
  geometry.grid = {blocks, 1, 1};
  geometry.block = {threads, 1, 1};
  start = std::chrono::steady_clock::now();
  cascade::gpu::EmulatorStatistics executed;
  if (blocks > 0 && failed(cascade::gpu::emulateKernel(kernel, geometry,
                                                       arguments, &executed)))
    return fail("the emulator stopped (the error above)");
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  Tensor output(outShape);
  output.data = buffers.back().data;
  int64_t nonFinite = 0;
  for (double value : output.data)
    nonFinite += !std::isfinite(value);
  llvm::outs() << "attn-run: @" << function.getSymName()
               << " target=cuda-emulator chip=" << target.chip
               << " storage=" << target.storageType << " blocks=" << blocks
               << " threads=" << threads << " shared=" << sharedBytes
               << " -> " << output.getShapeString()
               << llvm::format(" compile=%.3fs emulate=%.3fs", compileSeconds,
                               seconds)
               << " nonfinite=" << nonFinite << "\n";
  // The work the schedule did, in warp instructions (per-thread 16-byte
  // copies): how skipped tiles show without a GPU.
  llvm::outs() << "attn-run: executed mma.sync=" << executed.mmaSync
               << " ldmatrix=" << executed.ldmatrix
               << " cp.async=" << executed.asyncCopies
               << " shuffles=" << executed.shuffles << "\n";
  if (options.printValues)
    for (size_t i = 0; i < output.data.size(); ++i)
      llvm::outs() << llvm::format("%.10g", output.data[i])
                   << (((i + 1) % output.shape.back()) ? " " : "\n");
  if (!options.outputPath.empty())
    if (llvm::Error err = writeNpy(options.outputPath, output,
                                   NpyDType::Float32))
      return fail(llvm::toString(std::move(err)));
  if (!options.check)
    return 0;

  return checkGpuOutput(function, stored, output, built->outputRanks,
                        *extents, /*checkRows=*/0);
}
