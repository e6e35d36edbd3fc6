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
#include "InputExtents.h"

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

/// `value` as the storage type holds it.
static double roundTo(double value, cascade::gpu::HalfType type) {
  return cascade::gpu::roundToHalf(static_cast<float>(value), type);
}

int mlir::cascade::runOnGpuEmulator(func::FuncOp function,
                                    ArrayRef<Tensor> inputs,
                                    const GpuEmulatorRunOptions &options) {
  std::string error;
  FailureOr<InputExtents> sizes = resolveInputExtents(function, inputs, error);
  if (failed(sizes))
    return fail(error);
  const llvm::StringMap<int64_t> *extents = &sizes->extents;
  GpuTargetOptions target = options.target;
  for (auto &entry : sizes->headDims)
    target.headDims[entry.getKey()] = entry.getValue();
  if (failed(verifyGpuTargetOptions(target, error)))
    return fail(error);
  cascade::gpu::HalfType half = target.storageType == "bf16" ? cascade::gpu::HalfType::BF16
                                                    : cascade::gpu::HalfType::F16;

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
  SmallVector<Tensor> rounded;
  std::vector<cascade::gpu::EmulatorBuffer> buffers;
  buffers.reserve(inputs.size() + 1);
  SmallVector<cascade::gpu::EmulatorArgument> arguments;
  double inputMax = 0;
  for (auto [arg, input] : llvm::enumerate(inputs)) {
    Type type = function.getArgumentTypes()[arg];
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor) {
      rounded.push_back(input);
      cascade::gpu::EmulatorArgument scalar;
      scalar.scalar = input.data.empty() ? 0 : input.data.front();
      arguments.push_back(scalar);
      continue;
    }
    Tensor copyOf = input;
    bool isFloat = isa<FloatType>(tensor.getElementType());
    if (isFloat)
      for (double &value : copyOf.data) {
        value = roundTo(value, half);
        if (std::isfinite(value))
          inputMax = std::max(inputMax, std::fabs(value));
      }
    rounded.push_back(copyOf);
    cascade::gpu::EmulatorBuffer buffer;
    buffer.elementType = isFloat ? storage : tensor.getElementType();
    buffer.shape = copyOf.shape;
    buffer.data = copyOf.data;
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
  if (blocks > 0 && failed(cascade::gpu::emulateKernel(kernel, geometry, arguments)))
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

  FailureOr<SmallVector<Tensor>> reference =
      interpretFunction(function, rounded, InterpretOptions());
  if (failed(reference))
    return fail("the reference interpreter failed");
  const Tensor &expected = reference->front();
  if (expected.shape != output.shape)
    return fail("the kernel's output is " + output.getShapeString() +
                " but the reference's " + expected.getShapeString());
  // The bound: fp32 accumulation as on the CPU; the output rounded to the
  // storage type; and the tensor-core operands the kernel rounds itself
  // (the probabilities P before P V): each within eps_op of its value, so
  // a normalised row is off by at most eps_op * max |V| <= eps_op * the
  // largest input.
  double eps32 = std::ldexp(1.0, -24);
  double epsHalf = half == cascade::gpu::HalfType::F16 ? std::ldexp(1.0, -11)
                                              : std::ldexp(1.0, -8);
  int64_t m = 1;
  for (auto &entry : *extents)
    m = std::max(m, entry.getValue());
  double factor = 16 * eps32 * std::sqrt(static_cast<double>(2 * m));
  double floor = half == cascade::gpu::HalfType::F16 ? std::ldexp(1.0, -24)
                                            : std::ldexp(1.0, -126);
  int64_t width = output.shape.empty() ? 1 : output.shape.back();
  int64_t failures = 0, bad = 0, same = 0, first = -1;
  double worst = 0;
  for (int64_t row = 0; width && row < output.getNumElements() / width;
       ++row) {
    const double *got = &output.data[row * width];
    const double *ref = &expected.data[row * width];
    double rowMax = 0;
    for (int64_t c = 0; c < width; ++c)
      if (std::isfinite(ref[c]))
        rowMax = std::max(rowMax, std::fabs(ref[c]));
    for (int64_t c = 0; c < width; ++c) {
      int64_t at = row * width + c;
      if (!std::isfinite(got[c]) || !std::isfinite(ref[c])) {
        if ((std::isnan(got[c]) && std::isnan(ref[c])) || got[c] == ref[c]) {
          ++same;
          continue;
        }
        ++bad;
        ++failures;
        if (first < 0)
          first = at;
        continue;
      }
      double tolerance = factor * (std::fabs(ref[c]) + rowMax) +
                         2 * epsHalf * std::fabs(ref[c]) +
                         2 * epsHalf * inputMax + floor;
      double err = std::fabs(got[c] - ref[c]);
      worst = std::max(worst, err / tolerance);
      if (!(err <= tolerance)) {
        ++failures;
        if (first < 0)
          first = at;
      }
    }
  }
  llvm::outs() << "attn-run: check against the fp64 reference: "
               << output.getNumElements() << " elements; worst "
               << "error/tolerance " << llvm::format("%.3g", worst)
               << " (tol = 16 eps32 sqrt(2N) (|ref| + rowmax|ref|) + 2 eps_h "
               << "|ref| + 2 eps_h max|input|); " << bad << " NaN/Inf";
  if (same)
    llvm::outs() << " (and " << same << " where the reference has the same)";
  llvm::outs() << ": ";
  if (failures == 0) {
    llvm::outs() << "PASS\n";
    return 0;
  }
  llvm::outs() << "FAIL: " << failures << " out of tolerance; first at "
               << first << ": "
               << llvm::format("%.9g vs %.9g", output.data[first],
                               expected.data[first])
               << "\n";
  return 1;
}
