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
#include "CudaLaunch.h"
#include "GpuCheck.h"
#include "Outputs.h"
#include "RunMetrics.h"

#include "cascade/Support/Npy.h"
#include "cascade/Target/GPU/CudaDriver.h"
#include "cascade/Target/GPU/TensorMap.h"
#include "cascade/Target/GPU/WarpSemantics.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>

using namespace mlir;
using namespace mlir::cascade;

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
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
  FailureOr<CudaLaunchPlan> planned =
      planCudaLaunch(function, inputs, target, error);
  if (failed(planned))
    return error.empty() ? 1 : fail(error);
  CudaLaunchPlan &plan = *planned;
  const GpuKernelModule *built = &plan.built;
  target = plan.target;
  cascade::gpu::HalfType half = plan.stored.half;
  int64_t blocks = plan.blocks;

  llvm::Expected<cuda::Kernel> kernel =
      driver.loadKernel(plan.cubin, built->kernelName);
  if (!kernel)
    return fail(llvm::toString(kernel.takeError()));
  auto unload = llvm::scope_exit([&] { driver.unload(*kernel); });

  // The plan's buffers, tensor maps and parameters on this device.
  DeviceBuffers buffers{driver, {}};
  SmallVector<cuda::DevicePointer> pointers;
  for (const CudaLaunchPlan::Buffer &buffer : plan.buffers) {
    llvm::Expected<cuda::DevicePointer> pointer = driver.allocate(buffer.bytes);
    if (!pointer)
      return fail(llvm::toString(pointer.takeError()));
    buffers.pointers.push_back(*pointer);
    pointers.push_back(*pointer);
    llvm::Error err =
        buffer.isOutput
            ? driver.fill(*pointer, 0xff, buffer.bytes)
            : driver.copyToDevice(*pointer, buffer.initial.data(), buffer.bytes);
    if (err)
      return fail(llvm::toString(std::move(err)));
  }
  SmallVector<cuda::DevicePointer> maps;
  for (const CudaLaunchPlan::TensorMap &map : plan.tensorMaps) {
    const cascade::gpu::TensorMapEncoding &encoding = map.encoding;
    llvm::Expected<cuda::DevicePointer> pointer = driver.createTensorMap(
        pointers[map.buffer], map.bf16, encoding.rank, encoding.dims.data(),
        encoding.strides.data(), encoding.box.data(),
        encoding.elementStrides.data(), encoding.swizzleBytes);
    if (!pointer)
      return fail(llvm::toString(pointer.takeError()));
    buffers.pointers.push_back(*pointer);
    maps.push_back(*pointer);
  }
  cuda::KernelParameters parameters;
  using Kind = CudaLaunchPlan::Parameter::Kind;
  for (const CudaLaunchPlan::Parameter &parameter : plan.parameters) {
    switch (parameter.kind) {
    case Kind::MemRef:
      parameters.addMemRef(pointers[parameter.index], parameter.shape);
      break;
    case Kind::Int64:
      parameters.addInt64(parameter.integer);
      break;
    case Kind::Int32:
      parameters.addInt32(static_cast<int32_t>(parameter.integer));
      break;
    case Kind::Float:
      parameters.addFloat(static_cast<float>(parameter.real));
      break;
    case Kind::Double:
      parameters.addDouble(parameter.real);
      break;
    case Kind::TensorMap:
      parameters.addInt64(static_cast<int64_t>(maps[parameter.index]));
      break;
    }
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
  auto start = std::chrono::steady_clock::now();
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
  for (const CudaLaunchPlan::Output &described : plan.outputs) {
    cuda::DevicePointer pointer = pointers[described.buffer];
    size_t elements = Tensor::numElementsOf(described.shape);
    Tensor &output = outputs.emplace_back(described.shape);
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
                               plan.compileSeconds, runSeconds * 1e3)
               << " nonfinite=" << countNonFinite(outputs) << "\n";
  if (options.printValues)
    printOutputs(outputs);
  if (!options.outputPath.empty())
    if (llvm::Error err =
            writeOutputs(outputs, options.outputPath, NpyDType::Float32))
      return fail(llvm::toString(std::move(err)));

  int status = 0;
  if (options.check)
    status = checkGpuOutputs(function, plan.stored, outputs, built->outputs,
                             plan.extents, options.checkRows);

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
        countBenchmarkFlops(function, built->outputs.front().ranks,
                            plan.outputs.front().shape, plan.extents,
                            target.headDims, plan.stored.rounded);
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
