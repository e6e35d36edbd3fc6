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
#include "Outputs.h"

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Npy.h"
#include "cascade/Target/GPU/Emulator.h"
#include "cascade/Target/GPU/TensorMap.h"
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
  SmallVector<SmallVector<int64_t>> outShapes =
      getGpuOutputShapes(*built, *extents);
  int64_t blocks = built->getNumBlocks(outShapes.front());
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
  buffers.reserve(inputs.size() + outShapes.size());
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
  size_t firstOutput = buffers.size();
  // NaN until written: an element no block writes fails the check.
  for (auto [shape, described] : llvm::zip(outShapes, built->outputs)) {
    cascade::gpu::EmulatorBuffer out;
    out.elementType = described.isF32 ? Type(builder.getF32Type()) : storage;
    out.shape = shape;
    out.data.assign(Tensor::numElementsOf(shape),
                    std::numeric_limits<double>::quiet_NaN());
    buffers.push_back(std::move(out));
  }
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
    for (size_t i = firstOutput; i < buffers.size(); ++i) {
      cascade::gpu::EmulatorArgument result;
      result.buffer = &buffers[i];
      ordered.push_back(result);
    }
    arguments = ordered;
  }
  // The tensor maps of TMA stages (sm_90a), encoded as a host must (the
  // driver's limits checked) over the inputs they describe.
  FailureOr<SmallVector<cascade::gpu::TensorMapParameter>> mapParameters =
      cascade::gpu::getTensorMapParameters(kernel);
  if (failed(mapParameters))
    return fail("the kernel's tensor maps (the error above)");
  std::vector<cascade::gpu::EmulatorTensorMap> tensorMaps;
  tensorMaps.reserve(mapParameters->size());
  for (const cascade::gpu::TensorMapParameter &parameter : *mapParameters) {
    cascade::gpu::EmulatorBuffer *described =
        arguments[parameter.operand].buffer;
    llvm::Expected<cascade::gpu::TensorMapEncoding> encoding =
        cascade::gpu::encodeTensorMap(
            parameter, described->shape,
            described->elementType.getIntOrFloatBitWidth() / 8);
    if (!encoding)
      return fail(llvm::toString(encoding.takeError()));
    cascade::gpu::EmulatorTensorMap &map = tensorMaps.emplace_back();
    map.buffer = described;
    map.box = parameter.box;
    map.swizzleBytes = parameter.swizzleBytes;
    if (arguments.size() <= parameter.argument)
      arguments.resize(parameter.argument + 1);
    arguments[parameter.argument].tensorMap = &map;
  }
  cascade::gpu::LaunchGeometry geometry;
  geometry.grid = {blocks, 1, 1};
  geometry.block = {threads, 1, 1};
  geometry.dynamicSharedBytes = built->dynamicSharedMemoryBytes;
  start = std::chrono::steady_clock::now();
  cascade::gpu::EmulatorStatistics executed;
  if (blocks > 0 && failed(cascade::gpu::emulateKernel(kernel, geometry,
                                                       arguments, &executed)))
    return fail("the emulator stopped (the error above)");
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  SmallVector<Tensor> outputs;
  for (auto [i, shape] : llvm::enumerate(outShapes))
    outputs.emplace_back(shape).data = buffers[firstOutput + i].data;
  llvm::outs() << "attn-run: @" << function.getSymName()
               << " target=cuda-emulator chip=" << target.chip
               << " storage=" << target.storageType << " blocks=" << blocks
               << " threads=" << threads << " shared=" << sharedBytes
               << (built->dynamicSharedMemoryBytes ? " (dynamic)" : "")
               << " -> " << describeShapes(outputs)
               << llvm::format(" compile=%.3fs emulate=%.3fs", compileSeconds,
                               seconds)
               << " nonfinite=" << countNonFinite(outputs) << "\n";
  // The work the schedule did, in warp instructions (per-thread 16-byte
  // copies): how skipped tiles show without a GPU.
  llvm::outs() << "attn-run: executed mma.sync=" << executed.mmaSync
               << " ldmatrix=" << executed.ldmatrix
               << " cp.async=" << executed.asyncCopies
               << " shuffles=" << executed.shuffles
               << " wgmma=" << executed.wgmma
               << " tma=" << executed.tmaCopies << "\n";
  if (options.printValues)
    printOutputs(outputs);
  if (!options.outputPath.empty())
    if (llvm::Error err =
            writeOutputs(outputs, options.outputPath, NpyDType::Float32))
      return fail(llvm::toString(std::move(err)));
  if (!options.check)
    return 0;

  return checkGpuOutputs(function, stored, outputs, built->outputs,
                         *extents, /*checkRows=*/0);
}
