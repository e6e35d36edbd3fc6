//===- CudaLaunch.cpp - What the cuda target launches, before a driver ----===//
//
// The ABI is docs/GPU.md's: the spec's arguments in order (tensors as
// memref descriptors, runtime scalars by value in the kernel's type), then
// the outputs, then on sm_90a one tensor map per TMA stage.
//
//===----------------------------------------------------------------------===//

#include "CudaLaunch.h"

#include "cascade/Target/GPU/CudaCompiler.h"
#include "cascade/Target/GPU/WarpSemantics.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::cascade;

/// A tensor's bytes as the kernel reads them: floats in the storage type,
/// integers in their own width.
static std::vector<unsigned char> toDeviceBytes(const Tensor &tensor,
                                                Type elementType,
                                                cascade::gpu::HalfType half) {
  std::vector<unsigned char> bytes;
  if (isa<FloatType>(elementType)) {
    bytes.resize(tensor.data.size() * 2);
    for (size_t i = 0; i < tensor.data.size(); ++i) {
      uint16_t bits =
          cascade::gpu::toHalfBits(static_cast<float>(tensor.data[i]), half);
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

FailureOr<CudaLaunchPlan>
mlir::cascade::planCudaLaunch(func::FuncOp function, ArrayRef<Tensor> inputs,
                              const GpuTargetOptions &options,
                              std::string &error) {
  using Parameter = CudaLaunchPlan::Parameter;
  FailureOr<GpuRunSetup> setup = setUpGpuRun(function, inputs, options, error);
  if (failed(setup))
    return failure();
  CudaLaunchPlan plan;
  plan.target = setup->target;
  plan.extents = setup->extents;
  cascade::gpu::HalfType half = setup->half;

  auto start = std::chrono::steady_clock::now();
  FailureOr<GpuKernelModule> built =
      buildGpuKernelModule(function, plan.target);
  if (failed(built)) {
    error = "no GPU kernel for @" + function.getSymName().str() + " on " +
            plan.target.chip + " (the error above)";
    return failure();
  }
  FailureOr<std::string> cubin = compileGpuKernelObject(
      *built->module, plan.target, "bin", function.getLoc());
  if (failed(cubin))
    return failure();
  plan.cubin = std::move(*cubin);
  plan.compileSeconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  mlir::gpu::GPUFuncOp kernelOp;
  built->module->walk([&](mlir::gpu::GPUFuncOp op) { kernelOp = op; });
  if (!kernelOp) {
    error = "no kernel was built";
    return failure();
  }
  ArrayRef<Type> kernelTypes = kernelOp.getFunctionType().getInputs();

  SmallVector<SmallVector<int64_t>> outShapes =
      getGpuOutputShapes(*built, plan.extents);
  plan.blocks = built->getNumBlocks(outShapes.front());
  if (plan.blocks > std::numeric_limits<int32_t>::max()) {
    error = "the launch needs " + std::to_string(plan.blocks) +
            " blocks, more than gridDim.x holds (2^31 - 1)";
    return failure();
  }

  // Global memory and the parameters, in the kernel's argument order.
  plan.stored = roundInputsForGpu(function, inputs, half);
  SmallVector<unsigned> inputBuffers(plan.stored.rounded.size(), 0);
  for (auto [arg, input] : llvm::enumerate(plan.stored.rounded)) {
    Type type = function.getArgumentTypes()[arg];
    if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      CudaLaunchPlan::Buffer &buffer = plan.buffers.emplace_back();
      buffer.initial = toDeviceBytes(input, tensor.getElementType(), half);
      buffer.bytes = buffer.initial.size();
      inputBuffers[arg] = plan.buffers.size() - 1;
      Parameter &parameter = plan.parameters.emplace_back();
      parameter.kind = Parameter::Kind::MemRef;
      parameter.index = inputBuffers[arg];
      parameter.shape.assign(input.shape.begin(), input.shape.end());
      continue;
    }
    // A runtime scalar, by value in the kernel's type of it.
    double value = input.data.empty() ? 0 : input.data.front();
    Type kernelType = kernelTypes[arg];
    Parameter &parameter = plan.parameters.emplace_back();
    parameter.integer = static_cast<int64_t>(value);
    parameter.real = value;
    if (kernelType.isIndex() || kernelType.isInteger(64)) {
      parameter.kind = Parameter::Kind::Int64;
    } else if (kernelType.isInteger(32)) {
      parameter.kind = Parameter::Kind::Int32;
    } else if (kernelType.isF32()) {
      parameter.kind = Parameter::Kind::Float;
    } else if (kernelType.isF64()) {
      parameter.kind = Parameter::Kind::Double;
    } else {
      llvm::raw_string_ostream os(error);
      os << "argument #" << arg << " is a scalar of type " << kernelType
         << ", which the cuda target does not pass yet";
      return failure();
    }
  }
  for (auto [shape, described] : llvm::zip(outShapes, built->outputs)) {
    CudaLaunchPlan::Buffer &buffer = plan.buffers.emplace_back();
    buffer.bytes = Tensor::numElementsOf(shape) * (described.isF32 ? 4 : 2);
    buffer.isOutput = true;
    CudaLaunchPlan::Output &output = plan.outputs.emplace_back();
    output.buffer = plan.buffers.size() - 1;
    output.shape = shape;
    output.isF32 = described.isF32;
    Parameter &parameter = plan.parameters.emplace_back();
    parameter.kind = Parameter::Kind::MemRef;
    parameter.index = output.buffer;
    parameter.shape = shape;
  }
  // The tensor maps of the TMA stages (sm_90a), after the outputs: each a
  // pointer to its CUtensorMap in device memory.
  FailureOr<SmallVector<cascade::gpu::TensorMapParameter>> mapParameters =
      cascade::gpu::getTensorMapParameters(kernelOp);
  if (failed(mapParameters)) {
    error = "the kernel's tensor maps (the error above)";
    return failure();
  }
  for (const cascade::gpu::TensorMapParameter &mapParameter : *mapParameters) {
    llvm::Expected<cascade::gpu::TensorMapEncoding> encoding =
        cascade::gpu::encodeTensorMap(
            mapParameter, plan.stored.rounded[mapParameter.operand].shape, 2);
    if (!encoding) {
      error = llvm::toString(encoding.takeError());
      return failure();
    }
    CudaLaunchPlan::TensorMap &map = plan.tensorMaps.emplace_back();
    map.buffer = inputBuffers[mapParameter.operand];
    map.bf16 = half == cascade::gpu::HalfType::BF16;
    map.encoding = *encoding;
    Parameter &parameter = plan.parameters.emplace_back();
    parameter.kind = Parameter::Kind::TensorMap;
    parameter.index = plan.tensorMaps.size() - 1;
  }
  plan.built = std::move(*built);
  return plan;
}
