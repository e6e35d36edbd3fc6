//===- CudaRun.cpp - attn-run's cuda target: run, check, benchmark --------===//
//
// The same kernel the emulator runs, compiled by upstream's NVVM pipeline
// and ptxas to a cubin, loaded through the CUDA driver and launched with
// the ABI docs/GPU.md gives (memref descriptors flattened, scalars by
// value). The inputs are those the emulator gets (rounded to the storage
// type), the check is the same, and the output buffer starts as NaN so that
// an element no block writes cannot pass.
//
//===----------------------------------------------------------------------===//

#include "CudaRun.h"
#include "GpuCheck.h"
#include "Outputs.h"
#include "RunMetrics.h"

#include "cascade/Support/Npy.h"
#include "cascade/Target/GPU/CudaCompiler.h"
#include "cascade/Target/GPU/CudaDriver.h"
#include "cascade/Target/GPU/TensorMap.h"
#include "cascade/Target/GPU/WarpSemantics.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::cascade;

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
}

/// A tensor's bytes as the kernel reads them: floats in the storage type,
/// integers in their own width.
static std::vector<unsigned char> toDeviceBytes(const Tensor &tensor,
                                                Type elementType,
                                                cascade::gpu::HalfType half) {
  std::vector<unsigned char> bytes;
  if (isa<FloatType>(elementType)) {
    bytes.resize(tensor.data.size() * 2);
    for (size_t i = 0; i < tensor.data.size(); ++i) {
      uint16_t bits = cascade::gpu::toHalfBits(static_cast<float>(tensor.data[i]), half);
      std::memcpy(&bytes[2 * i], &bits, 2);
    }
    return bytes;
  }
  unsigned width = elementType.getIntOrFloatBitWidth();
  bytes.resize(tensor.data.size() * (width / 8));
  for (size_t i = 0; i < tensor.data.size(); ++i) {
    if (width == 64) {
      int64_t value = static_cast<int64_t>(tensor.data[i]);
      std::memcpy(&bytes[8 * i], &value, 8);
    } else {
      int32_t value = static_cast<int32_t>(tensor.data[i]);
      std::memcpy(&bytes[4 * i], &value, 4);
    }
  }
  return bytes;
}

namespace {
/// Device buffers released when the run ends, however it ends.
struct DeviceBuffers {
  cuda::Driver &driver;
  SmallVector<cuda::DevicePointer> pointers;
  ~DeviceBuffers() {
    for (cuda::DevicePointer pointer : pointers)
      driver.release(pointer);
  }
};
} // namespace

int mlir::cascade::runOnCuda(func::FuncOp function, ArrayRef<Tensor> inputs,
                             const CudaRunOptions &options) {
  llvm::Expected<std::unique_ptr<cuda::Driver>> loaded = cuda::Driver::load();
  if (!loaded)
    return fail(llvm::toString(loaded.takeError()));
  cuda::Driver &driver = **loaded;
  int cc = driver.getComputeCapability();
  std::string device = driver.getDeviceName() + " (compute capability " +
                       std::to_string(cc / 10) + "." +
                       std::to_string(cc % 10) + ")";
  GpuTargetOptions target = options.target;
  if (!options.chipGiven) {
    target.chip = cuda::getChipForComputeCapability(cc);
    if (target.chip.empty())
      return fail("the GPU backend has no target for " + device +
                  "; it targets sm_80, sm_86, sm_89 and sm_90a");
  } else if (!cuda::chipRunsOn(target.chip, cc)) {
    return fail("code for " + target.chip + " does not run on " + device +
                "; leave --chip out to compile for the device");
  }

  std::string error;
  FailureOr<GpuRunSetup> setup = setUpGpuRun(function, inputs, target, error);
  if (failed(setup))
    return fail(error);
  target = setup->target;
  const llvm::StringMap<int64_t> &extents = setup->extents;
  cascade::gpu::HalfType half = setup->half;

  auto start = std::chrono::steady_clock::now();
  FailureOr<GpuKernelModule> built = buildGpuKernelModule(function, target);
  if (failed(built))
    return fail("no GPU kernel for @" + function.getSymName() + " on " +
                target.chip + " (the error above)");
  FailureOr<std::string> cubin = compileGpuKernelObject(
      *built->module, target, "bin", function.getLoc());
  if (failed(cubin))
    return 1;
  double compileSeconds = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count();
  mlir::gpu::GPUFuncOp kernelOp;
  built->module->walk([&](mlir::gpu::GPUFuncOp op) { kernelOp = op; });
  if (!kernelOp)
    return fail("no kernel was built");
  ArrayRef<Type> kernelTypes = kernelOp.getFunctionType().getInputs();

  llvm::Expected<cuda::Kernel> kernel =
      driver.loadKernel(*cubin, built->kernelName);
  if (!kernel)
    return fail(llvm::toString(kernel.takeError()));
  auto unload = llvm::scope_exit([&] { driver.unload(*kernel); });

  SmallVector<SmallVector<int64_t>> outShapes =
      getGpuOutputShapes(*built, extents);
  ArrayRef<int64_t> outShape = outShapes.front();
  int64_t blocks = built->getNumBlocks(outShape);
  if (blocks > std::numeric_limits<int32_t>::max())
    return fail("the launch needs " + llvm::Twine(blocks) +
                " blocks, more than gridDim.x holds (2^31 - 1)");

  // Global memory and the parameters, in the kernel's argument order.
  GpuInputs stored = roundInputsForGpu(function, inputs, half);
  DeviceBuffers buffers{driver, {}};
  cuda::KernelParameters parameters;
  SmallVector<cuda::DevicePointer> inputPointers(stored.rounded.size(), 0);
  for (auto [arg, input] : llvm::enumerate(stored.rounded)) {
    Type type = function.getArgumentTypes()[arg];
    if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      std::vector<unsigned char> bytes =
          toDeviceBytes(input, tensor.getElementType(), half);
      llvm::Expected<cuda::DevicePointer> pointer =
          driver.allocate(bytes.size());
      if (!pointer)
        return fail(llvm::toString(pointer.takeError()));
      buffers.pointers.push_back(*pointer);
      if (llvm::Error err =
              driver.copyToDevice(*pointer, bytes.data(), bytes.size()))
        return fail(llvm::toString(std::move(err)));
      parameters.addMemRef(*pointer, input.shape);
      inputPointers[arg] = *pointer;
      continue;
    }
    // A runtime scalar, by value in the kernel's type of it.
    double value = input.data.empty() ? 0 : input.data.front();
    Type kernelType = kernelTypes[arg];
    if (kernelType.isIndex() || kernelType.isInteger(64))
      parameters.addInt64(static_cast<int64_t>(value));
    else if (kernelType.isInteger(32))
      parameters.addInt32(static_cast<int32_t>(value));
    else if (kernelType.isF32())
      parameters.addFloat(static_cast<float>(value));
    else if (kernelType.isF64())
      parameters.addDouble(value);
    else {
      std::string name;
      llvm::raw_string_ostream os(name);
      os << kernelType;
      return fail("argument #" + llvm::Twine(arg) + " is a scalar of type " +
                  name + ", which the cuda target does not pass yet");
    }
  }
  SmallVector<cuda::DevicePointer> outPointers;
  for (auto [shape, described] : llvm::zip(outShapes, built->outputs)) {
    size_t bytes = Tensor::numElementsOf(shape) * (described.isF32 ? 4 : 2);
    llvm::Expected<cuda::DevicePointer> outPointer = driver.allocate(bytes);
    if (!outPointer)
      return fail(llvm::toString(outPointer.takeError()));
    buffers.pointers.push_back(*outPointer);
    outPointers.push_back(*outPointer);
    // All ones is NaN in f16, bf16 and f32: an element no block writes
    // fails.
    if (llvm::Error err = driver.fill(*outPointer, 0xff, bytes))
      return fail(llvm::toString(std::move(err)));
    parameters.addMemRef(*outPointer, shape);
  }
  // The tensor maps of the TMA stages (sm_90a), after the outputs: each a
  // pointer to its CUtensorMap in device memory.
  FailureOr<SmallVector<cascade::gpu::TensorMapParameter>> mapParameters =
      cascade::gpu::getTensorMapParameters(kernelOp);
  if (failed(mapParameters))
    return fail("the kernel's tensor maps (the error above)");
  for (const cascade::gpu::TensorMapParameter &parameter : *mapParameters) {
    llvm::Expected<cascade::gpu::TensorMapEncoding> encoding =
        cascade::gpu::encodeTensorMap(
            parameter, stored.rounded[parameter.operand].shape, 2);
    if (!encoding)
      return fail(llvm::toString(encoding.takeError()));
    llvm::Expected<cuda::DevicePointer> map = driver.createTensorMap(
        inputPointers[parameter.operand],
        half == cascade::gpu::HalfType::BF16, encoding->rank,
        encoding->dims.data(), encoding->strides.data(),
        encoding->box.data(), encoding->elementStrides.data(),
        encoding->swizzleBytes);
    if (!map)
      return fail(llvm::toString(map.takeError()));
    buffers.pointers.push_back(*map);
    parameters.addInt64(static_cast<int64_t>(*map));
  }

  cuda::LaunchConfig config;
  config.grid = {static_cast<unsigned>(blocks), 1, 1};
  config.block = {static_cast<unsigned>(built->threadsPerBlock), 1, 1};
  // 0 when the kernel's shared memory is static (up to 48 KiB).
  config.sharedBytes = static_cast<unsigned>(built->dynamicSharedMemoryBytes);
  if (config.sharedBytes > 48 * 1024)
    if (llvm::Error err =
            driver.allowDynamicSharedMemory(*kernel, config.sharedBytes))
      return fail(llvm::toString(std::move(err)));
  start = std::chrono::steady_clock::now();
  if (blocks > 0) {
    if (llvm::Error err = driver.launch(*kernel, config, parameters))
      return fail(llvm::toString(std::move(err)));
    if (llvm::Error err = driver.synchronize())
      return fail(llvm::toString(std::move(err)));
  }
  double runSeconds = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  SmallVector<Tensor> outputs;
  for (auto [shape, described, pointer] :
       llvm::zip(outShapes, built->outputs, outPointers)) {
    size_t elements = Tensor::numElementsOf(shape);
    Tensor &output = outputs.emplace_back(shape);
    if (described.isF32) {
      std::vector<float> values(elements);
      if (llvm::Error err =
              driver.copyToHost(values.data(), pointer, elements * 4))
        return fail(llvm::toString(std::move(err)));
      for (size_t k = 0; k < elements; ++k)
        output.data[k] = values[k];
    } else {
      std::vector<uint16_t> bits(elements);
      if (llvm::Error err =
              driver.copyToHost(bits.data(), pointer, elements * 2))
        return fail(llvm::toString(std::move(err)));
      for (size_t k = 0; k < elements; ++k)
        output.data[k] = cascade::gpu::fromHalfBits(bits[k], half);
    }
  }
  llvm::outs() << "attn-run: @" << function.getSymName()
               << " target=cuda chip=" << target.chip << " device='"
               << driver.getDeviceName() << "' storage=" << target.storageType
               << " blocks=" << blocks << " threads=" << built->threadsPerBlock
               << " shared=" << built->sharedMemoryBytes
               << (built->dynamicSharedMemoryBytes ? " (dynamic)" : "")
               << " -> "
               << describeShapes(outputs)
               << llvm::format(" compile=%.3fs first-run=%.3fms",
                               compileSeconds, runSeconds * 1e3)
               << " nonfinite=" << countNonFinite(outputs) << "\n";
  if (options.printValues)
    printOutputs(outputs);
  if (!options.outputPath.empty())
    if (llvm::Error err =
            writeOutputs(outputs, options.outputPath, NpyDType::Float32))
      return fail(llvm::toString(std::move(err)));

  int status = 0;
  if (options.check)
    status = checkGpuOutputs(function, stored, outputs, built->outputs,
                             extents, options.checkRows);

  if (options.bench && blocks > 0) {
    for (int i = 0; i < options.warmup; ++i)
      if (llvm::Error err = driver.launch(*kernel, config, parameters))
        return fail(llvm::toString(std::move(err)));
    std::vector<double> times;
    for (int i = 0; i < options.repeat; ++i) {
      llvm::Expected<double> ms =
          driver.timeLaunches(*kernel, config, parameters, 1);
      if (!ms)
        return fail(llvm::toString(ms.takeError()));
      times.push_back(*ms);
    }
    std::sort(times.begin(), times.end());
    size_t n = times.size();
    double median =
        n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    BenchmarkFlops counted =
        countBenchmarkFlops(function, built->outputs.front().ranks, outShape,
                            extents,
                            target.headDims, stored.rounded);
    llvm::outs() << llvm::format(
        "attn-run: bench: median %.4f ms (min %.4f) over %d runs, %.1f "
        "TFLOP/s (%.4g FLOP",
        median, times.front(), options.repeat,
        counted.flops / (median * 1e-3) / 1e12, counted.flops);
    if (counted.visible < 1.0)
      llvm::outs() << llvm::format(", times the %.4f of (query, key) pairs "
                                   "the mask keeps",
                                   counted.visible);
    llvm::outs() << ")\n";
  }
  return status;
}
