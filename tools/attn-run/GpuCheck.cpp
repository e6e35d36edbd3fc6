//===- GpuCheck.cpp - GPU targets' inputs and check against fp64 ----------===//
//
// The bound an element passes under:
//
//   tol = 16 eps32 sqrt(2N) (|ref| + rowmax|ref|)   f32 accumulation, as
//                                                   on the CPU
//       + 2 eps_h |ref|                             the output's rounding
//       + 2 eps_h max|input|                        operands the kernel
//                                                   rounds itself (P before
//                                                   P V: a normalised row
//                                                   is off by at most
//                                                   eps_h max|V|)
//       + floor                                     subnormal results
//
// A per-row statistic kept in f32 (the log-sum-exp) passes under
// 16 eps32 sqrt(2N) (|ref| + 1) + floor: no storage rounding, and the
// error of log L is the relative error of L.
//
// A NaN or Inf fails unless the reference has the same value there.
//
//===----------------------------------------------------------------------===//

#include "GpuCheck.h"
#include "InputExtents.h"
#include "RunMetrics.h"

#include "cascade/Interpreter/Interpreter.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::cascade;

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
}

FailureOr<GpuRunSetup> mlir::cascade::setUpGpuRun(
    func::FuncOp function, ArrayRef<Tensor> inputs,
    const GpuTargetOptions &target, std::string &error) {
  FailureOr<InputExtents> sizes = resolveInputExtents(function, inputs, error);
  if (failed(sizes))
    return failure();
  // The kernels evaluate masks in i32 (docs/GPU.md, "Registers"): exact
  // while a mask's value fits, which extents below 2^30 guarantee for
  // masks that add two coordinates or extents and subtract two.
  for (auto &entry : sizes->extents)
    if (entry.getValue() >= (int64_t(1) << 30)) {
      error = "rank '" + entry.getKey().str() + "' has extent " +
              std::to_string(entry.getValue()) +
              "; the GPU kernels take extents below 2^30";
      return failure();
    }
  GpuRunSetup setup;
  setup.target = target;
  setup.extents = sizes->extents;
  for (auto &entry : sizes->headDims)
    setup.target.headDims[entry.getKey()] = entry.getValue();
  if (failed(verifyGpuTargetOptions(setup.target, error)))
    return failure();
  setup.half = setup.target.storageType == "bf16" ? gpu::HalfType::BF16
                                                  : gpu::HalfType::F16;
  return setup;
}

GpuInputs mlir::cascade::roundInputsForGpu(func::FuncOp function,
                                           ArrayRef<Tensor> inputs,
                                           gpu::HalfType half) {
  GpuInputs result;
  result.half = half;
  for (auto [arg, input] : llvm::enumerate(inputs)) {
    Tensor copy = input;
    auto tensor = dyn_cast<RankedTensorType>(function.getArgumentTypes()[arg]);
    if (tensor && isa<FloatType>(tensor.getElementType()))
      for (double &value : copy.data) {
        value = gpu::roundToHalf(static_cast<float>(value), half);
        if (std::isfinite(value))
          result.inputMax = std::max(result.inputMax, std::fabs(value));
      }
    result.rounded.push_back(std::move(copy));
  }
  return result;
}

/// The query coordinate of every element of a tensor of `shape` whose
/// dimension `queryDim` is the query rank.
static int64_t queryCoordinateOf(ArrayRef<int64_t> shape, unsigned queryDim,
                                 int64_t at) {
  int64_t stride = 1;
  for (unsigned d = queryDim + 1; d < shape.size(); ++d)
    stride *= shape[d];
  return (at / stride) % shape[queryDim];
}

FailureOr<GpuExpectation> mlir::cascade::computeGpuExpectation(
    func::FuncOp function, const GpuInputs &inputs,
    ArrayRef<SmallVector<int64_t>> outputShapes,
    ArrayRef<GpuKernelOutput> described,
    const llvm::StringMap<int64_t> &extents, int64_t checkRows) {
  int64_t m = 1;
  for (auto &entry : extents)
    m = std::max(m, entry.getValue());
  // Large problems: sample query rows so the fp64 reference stays within
  // seconds (it takes about 90 ns per output element and key). The first
  // output (the attention output) decides.
  ArrayRef<int64_t> first = outputShapes.front();
  ArrayRef<std::string> firstRanks = described.front().ranks;
  bool hasQueryRank = firstRanks.size() >= 2;
  std::string queryRank =
      hasQueryRank ? firstRanks[firstRanks.size() - 2] : std::string();
  int64_t queryExtent = hasQueryRank ? first[first.size() - 2] : 1;
  int64_t rows = checkRows;
  double work = static_cast<double>(Tensor::numElementsOf(first)) * 2 * m;
  if (rows == 0 && work > 2e8 && hasQueryRank)
    rows = std::max<int64_t>(4, static_cast<int64_t>(
                                    2e8 / (work / std::max<int64_t>(
                                                      1, queryExtent))));
  SmallVector<int64_t> sampled = sampleRows(queryExtent, rows);
  InterpretOptions interpretOptions;
  if (hasQueryRank && static_cast<int64_t>(sampled.size()) < queryExtent) {
    interpretOptions.sampledRank = queryRank;
    interpretOptions.sampledCoordinates = sampled;
    llvm::errs() << "attn-run: check: the fp64 reference on " << sampled.size()
                 << " of " << queryExtent << " query rows\n";
  }
  FailureOr<SmallVector<Tensor>> reference =
      interpretFunction(function, inputs.rounded, interpretOptions);
  if (failed(reference)) {
    fail("the reference interpreter failed");
    return failure();
  }
  if (reference->size() != outputShapes.size()) {
    fail("the kernel writes " + llvm::Twine(outputShapes.size()) +
         " outputs but the spec has " + llvm::Twine(reference->size()) +
         " results");
    return failure();
  }
  std::vector<bool> isSampled(queryExtent, false);
  for (int64_t r : sampled)
    isSampled[r] = true;

  GpuExpectation expectation;
  expectation.sampledRows = sampled.size();
  expectation.queryExtent = queryExtent;
  double eps32 = std::ldexp(1.0, -24);
  bool isF16 = inputs.half == gpu::HalfType::F16;
  double epsHalf = isF16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  double factor = 16 * eps32 * std::sqrt(static_cast<double>(2 * m));
  double floor = isF16 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -126);
  for (auto [index, shape, expected, description] :
       llvm::enumerate(outputShapes, *reference, described)) {
    if (ArrayRef<int64_t>(expected.shape) != ArrayRef<int64_t>(shape)) {
      fail("the kernel's output #" + llvm::Twine(index) + " is " +
           Tensor(shape).getShapeString() + " but the reference's " +
           expected.getShapeString());
      return failure();
    }
    Tensor &tolerance = expectation.tolerance.emplace_back(shape);
    expectation.overflowAt.push_back(
        description.isF32 ? std::numeric_limits<double>::infinity()
        : isF16           ? 65520.0
                          : std::ldexp(1.0 - std::ldexp(1.0, -9), 128));
    // Elements bounded together: a row of the head dimension for the
    // attention output, each value alone for a per-row statistic.
    int64_t width = description.isF32 || shape.empty() ? 1 : shape.back();
    auto *queryDim = llvm::find(description.ranks, queryRank);
    bool tracksQuery = hasQueryRank && queryDim != description.ranks.end();
    for (int64_t row = 0; width && row < expected.getNumElements() / width;
         ++row) {
      const double *ref = &expected.data[row * width];
      double *bound = &tolerance.data[row * width];
      int64_t query = tracksQuery
                          ? queryCoordinateOf(
                                shape, queryDim - description.ranks.begin(),
                                row * width)
                          : 0;
      if (tracksQuery && !isSampled[query]) {
        // No reference for this row: only a NaN or Inf fails there.
        std::fill(bound, bound + width, std::nan(""));
        continue;
      }
      double rowMax = 0;
      for (int64_t c = 0; c < width; ++c)
        if (std::isfinite(ref[c]))
          rowMax = std::max(rowMax, std::fabs(ref[c]));
      for (int64_t c = 0; c < width; ++c) {
        // A non-finite reference is matched exactly; no bound applies.
        if (!std::isfinite(ref[c])) {
          bound[c] = 0;
          continue;
        }
        // A statistic stored as f32 (LSE = M + log L): M is exact given
        // the scores, whose f32 error scales with |ref|; a relative error
        // d of the sum L is an absolute error d of log L, hence the 1.
        bound[c] = description.isF32
                       ? factor * (std::fabs(ref[c]) + 1) + floor
                       : factor * (std::fabs(ref[c]) + rowMax) +
                             2 * epsHalf * std::fabs(ref[c]) +
                             2 * epsHalf * inputs.inputMax + floor;
      }
    }
  }
  expectation.reference = std::move(*reference);
  return expectation;
}

bool mlir::cascade::isWithinExpectation(double got, double ref,
                                        double tolerance, double overflowAt) {
  if (std::isnan(tolerance))
    return std::isfinite(got);
  if (std::isinf(got) && std::isfinite(ref) &&
      std::fabs(ref) + tolerance >= overflowAt)
    return std::signbit(got) == std::signbit(ref);
  if (!std::isfinite(got) || !std::isfinite(ref))
    return (std::isnan(got) && std::isnan(ref)) || got == ref;
  return std::fabs(got - ref) <= tolerance;
}

int mlir::cascade::compareGpuOutputs(ArrayRef<Tensor> outputs,
                                     const GpuExpectation &expectation,
                                     ArrayRef<GpuKernelOutput> described) {
  if (outputs.size() != expectation.reference.size())
    return fail("the kernel wrote " + llvm::Twine(outputs.size()) +
                " outputs but the spec has " +
                llvm::Twine(expectation.reference.size()) + " results");
  int status = 0;
  for (auto [index, output, expected, tolerance, overflowAt, description] :
       llvm::enumerate(outputs, expectation.reference, expectation.tolerance,
                       expectation.overflowAt, described)) {
    if (expected.shape != output.shape)
      return fail("the kernel's output #" + llvm::Twine(index) + " is " +
                  output.getShapeString() + " but the reference's " +
                  expected.getShapeString());
    int64_t failures = 0, bad = 0, same = 0, firstBad = -1, checked = 0;
    double worst = 0;
    for (int64_t at = 0; at < output.getNumElements(); ++at) {
      double got = output.data[at], ref = expected.data[at],
             bound = tolerance.data[at];
      bool sampled = !std::isnan(bound);
      checked += sampled;
      bool finite = std::isfinite(got) && std::isfinite(ref);
      if (!std::isfinite(got) || (sampled && !finite)) {
        if (sampled && isWithinExpectation(got, ref, bound, overflowAt))
          ++same;
        else
          ++bad;
      } else if (sampled) {
        worst = std::max(worst, std::fabs(got - ref) / bound);
      }
      if (!isWithinExpectation(got, ref, bound, overflowAt)) {
        ++failures;
        if (firstBad < 0)
          firstBad = at;
      }
    }
    llvm::outs() << "attn-run: check ";
    if (outputs.size() > 1)
      llvm::outs() << "output #" << index << " ";
    llvm::outs() << "against the fp64 reference: " << checked << " elements";
    if (checked < output.getNumElements())
      llvm::outs() << " (" << expectation.sampledRows
                   << " sampled query rows; the others checked for NaN/Inf)";
    llvm::outs() << "; worst error/tolerance " << llvm::format("%.3g", worst);
    if (description.isF32)
      llvm::outs() << " (tol = 16 eps32 sqrt(2N) (|ref| + 1))";
    else
      llvm::outs() << " (tol = 16 eps32 sqrt(2N) (|ref| + rowmax|ref|) + 2 "
                   << "eps_h |ref| + 2 eps_h max|input|)";
    llvm::outs() << "; " << bad << " NaN/Inf";
    if (same)
      llvm::outs() << " (and " << same
                   << " where the reference has the same, or is beyond the "
                      "storage type's range)";
    llvm::outs() << ": ";
    if (failures == 0) {
      llvm::outs() << "PASS\n";
      continue;
    }
    llvm::outs() << "FAIL: " << failures << " out of tolerance; first at "
                 << firstBad << ": "
                 << llvm::format("%.9g vs %.9g", output.data[firstBad],
                                 expected.data[firstBad])
                 << "\n";
    status = 1;
  }
  return status;
}

int mlir::cascade::checkGpuOutputs(func::FuncOp function,
                                   const GpuInputs &inputs,
                                   ArrayRef<Tensor> outputs,
                                   ArrayRef<GpuKernelOutput> described,
                                   const llvm::StringMap<int64_t> &extents,
                                   int64_t checkRows) {
  SmallVector<SmallVector<int64_t>> shapes;
  for (const Tensor &output : outputs)
    shapes.push_back(output.shape);
  FailureOr<GpuExpectation> expectation = computeGpuExpectation(
      function, inputs, shapes, described, extents, checkRows);
  if (failed(expectation))
    return 1;
  return compareGpuOutputs(outputs, *expectation, described);
}

SmallVector<SmallVector<int64_t>>
mlir::cascade::getGpuOutputShapes(const GpuKernelModule &kernel,
                                  const llvm::StringMap<int64_t> &extents) {
  SmallVector<SmallVector<int64_t>> shapes;
  for (const GpuKernelOutput &output : kernel.outputs) {
    SmallVector<int64_t> &shape = shapes.emplace_back();
    for (const std::string &rank : output.ranks)
      shape.push_back(extents.lookup(rank));
  }
  return shapes;
}
