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

int mlir::cascade::checkGpuOutputs(func::FuncOp function,
                                   const GpuInputs &inputs,
                                   ArrayRef<Tensor> outputs,
                                   ArrayRef<GpuKernelOutput> described,
                                   const llvm::StringMap<int64_t> &extents,
                                   int64_t checkRows) {
  int64_t m = 1;
  for (auto &entry : extents)
    m = std::max(m, entry.getValue());
  // Large problems: sample query rows so the fp64 reference stays within
  // seconds (it takes about 90 ns per output element and key). The first
  // output (the attention output) decides.
  const Tensor &first = outputs.front();
  ArrayRef<std::string> firstRanks = described.front().ranks;
  bool hasQueryRank = firstRanks.size() >= 2;
  std::string queryRank =
      hasQueryRank ? firstRanks[firstRanks.size() - 2] : std::string();
  int64_t queryExtent =
      hasQueryRank ? first.shape[first.shape.size() - 2] : 1;
  int64_t rows = checkRows;
  double work = static_cast<double>(first.getNumElements()) * 2 * m;
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
  if (failed(reference))
    return fail("the reference interpreter failed");
  if (reference->size() != outputs.size())
    return fail("the kernel wrote " + llvm::Twine(outputs.size()) +
                " outputs but the spec has " + llvm::Twine(reference->size()) +
                " results");
  std::vector<bool> isSampled(queryExtent, false);
  for (int64_t r : sampled)
    isSampled[r] = true;

  double eps32 = std::ldexp(1.0, -24);
  bool isF16 = inputs.half == gpu::HalfType::F16;
  double epsHalf = isF16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  double factor = 16 * eps32 * std::sqrt(static_cast<double>(2 * m));
  double floor = isF16 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -126);
  int status = 0;
  for (auto [index, output, expected, description] :
       llvm::enumerate(outputs, *reference, described)) {
    if (expected.shape != output.shape)
      return fail("the kernel's output #" + llvm::Twine(index) + " is " +
                  output.getShapeString() + " but the reference's " +
                  expected.getShapeString());
    // Elements compared together: a row of the head dimension for the
    // attention output, each value alone for a per-row statistic.
    int64_t width = description.isF32 || output.shape.empty()
                        ? 1
                        : output.shape.back();
    auto *queryDim = llvm::find(description.ranks, queryRank);
    bool tracksQuery = hasQueryRank && queryDim != description.ranks.end();
    int64_t failures = 0, bad = 0, same = 0, firstBad = -1, checked = 0;
    double worst = 0;
    auto failAt = [&](int64_t at) {
      ++failures;
      if (firstBad < 0)
        firstBad = at;
    };
    for (int64_t row = 0; width && row < output.getNumElements() / width;
         ++row) {
      const double *got = &output.data[row * width];
      const double *ref = &expected.data[row * width];
      int64_t query =
          tracksQuery
              ? queryCoordinateOf(output.shape,
                                  queryDim - description.ranks.begin(),
                                  row * width)
              : 0;
      if (tracksQuery && !isSampled[query]) {
        // No reference for this row: a NaN or Inf has nothing to agree with.
        for (int64_t c = 0; c < width; ++c)
          if (!std::isfinite(got[c])) {
            ++bad;
            failAt(row * width + c);
          }
        continue;
      }
      double rowMax = 0;
      for (int64_t c = 0; c < width; ++c)
        if (std::isfinite(ref[c]))
          rowMax = std::max(rowMax, std::fabs(ref[c]));
      for (int64_t c = 0; c < width; ++c) {
        int64_t at = row * width + c;
        ++checked;
        if (!std::isfinite(got[c]) || !std::isfinite(ref[c])) {
          if ((std::isnan(got[c]) && std::isnan(ref[c])) || got[c] == ref[c]) {
            ++same;
            continue;
          }
          ++bad;
          failAt(at);
          continue;
        }
        // A statistic stored as f32 (LSE = M + log L): M is exact given the
        // scores, whose f32 error scales with |ref|; a relative error d of
        // the sum L is an absolute error d of log L, hence the 1.
        double tolerance =
            description.isF32
                ? factor * (std::fabs(ref[c]) + 1) + floor
                : factor * (std::fabs(ref[c]) + rowMax) +
                      2 * epsHalf * std::fabs(ref[c]) +
                      2 * epsHalf * inputs.inputMax + floor;
        double err = std::fabs(got[c] - ref[c]);
        worst = std::max(worst, err / tolerance);
        if (!(err <= tolerance))
          failAt(at);
      }
    }
    llvm::outs() << "attn-run: check ";
    if (outputs.size() > 1)
      llvm::outs() << "output #" << index << " ";
    llvm::outs() << "against the fp64 reference: " << checked << " elements";
    if (checked < output.getNumElements())
      llvm::outs() << " (" << sampled.size() << " sampled query rows; the "
                   << "others checked for NaN/Inf)";
    llvm::outs() << "; worst error/tolerance " << llvm::format("%.3g", worst);
    if (description.isF32)
      llvm::outs() << " (tol = 16 eps32 sqrt(2N) (|ref| + 1))";
    else
      llvm::outs() << " (tol = 16 eps32 sqrt(2N) (|ref| + rowmax|ref|) + 2 "
                   << "eps_h |ref| + 2 eps_h max|input|)";
    llvm::outs() << "; " << bad << " NaN/Inf";
    if (same)
      llvm::outs() << " (and " << same
                   << " where the reference has the same)";
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
