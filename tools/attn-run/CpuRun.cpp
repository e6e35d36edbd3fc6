//===- CpuRun.cpp - attn-run's CPU target: run, check, benchmark ----------===//
//
// --check: the reference interpreter (fp64) runs on the inputs rounded to
// the kernel's storage type, on every query row or, for large problems, on
// a sample of rows (the first, the last, and evenly spaced ones between).
// An element passes when |out - ref| <= tol with
//
//   tol = 16 * eps32 * sqrt(M + E) * (|ref| + rowmax|ref|) + 2 * eps_out * |ref|
//
// i.e. the forward error bound of the dot products and sums involved
// (sqrt(n) growth for n-term fp32 sums, relative to the row's magnitude),
// with a safety factor for exp's polynomial (a few ulp) and the
// normalisation; eps_out is the storage type's rounding of the output; an
// absolute floor (2^-126, or 2^-25 for f16 output) covers subnormal results.
// A NaN or Inf in the output fails unless the reference has the same value
// there (a spec can be NaN, e.g. softmax over a row of -inf scores).
//
//===----------------------------------------------------------------------===//

#include "CpuRun.h"
#include "Outputs.h"
#include "InputExtents.h"
#include "FmaPeak.h"
#include "OpenBlasBaseline.h"
#include "RunMetrics.h"

#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Compare.h"
#include "cascade/Support/Npy.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringSet.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "mlir/IR/IntegerSet.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>

using namespace mlir;
using namespace mlir::cascade;

namespace {

int fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
}

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/// Whether the CPU pipeline's schedule of `function` walks past key tiles
/// through a stacked state (cascade-chunk applied): its kernel then does
/// not compute the quadratic form's contractions the count above names.
bool isChunkedByCpuPipeline(func::FuncOp function,
                            const CpuTargetOptions &target) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(function.getLoc());
  module->push_back(function.clone());
  PassManager pm(function.getContext());
  addCpuSchedulingPasses(pm.nest<func::FuncOp>(), target);
  ScopedDiagnosticHandler silence(function.getContext(),
                                  [](Diagnostic &) { return success(); });
  if (failed(pm.run(*module)))
    return false;
  return module
      ->walk([](IterateOp iterate) {
        return iterate.getNumStacked() ? WalkResult::interrupt()
                                       : WalkResult::advance();
      })
      .wasInterrupted();
}


int check(func::FuncOp function, CpuKernel &kernel, const Tensor &actual,
          const CpuRunOptions &options, const llvm::StringMap<int64_t> &extents) {
  const CpuKernelInterface &interface = kernel.getInterface();
  std::string queryRank = interface.resultRanks[interface.resultRanks.size() - 2];
  std::string headRank = interface.resultRanks.back();
  int64_t queryExtent = actual.shape[actual.shape.size() - 2];
  // Large problems: sample rows so the fp64 reference stays within seconds.
  int64_t m = 1;
  for (auto &entry : extents)
    if (!llvm::is_contained(interface.resultRanks, entry.getKey().str()))
      m = std::max(m, entry.getValue());
  int64_t e = extents.lookup(headRank);
  int64_t rows = options.checkRows;
  double work = static_cast<double>(actual.getNumElements()) * (m + e);
  if (rows == 0 && work > 2e8)
    rows = std::max<int64_t>(4, static_cast<int64_t>(2e8 / (work / queryExtent)));
  SmallVector<int64_t> sampled = sampleRows(queryExtent, rows);
  InterpretOptions interpretOptions;
  if (static_cast<int64_t>(sampled.size()) < queryExtent) {
    interpretOptions.sampledRank = queryRank;
    interpretOptions.sampledCoordinates = sampled;
  }
  // The reference takes about 90 ns per output element and key or head
  // coordinate (measured on softmax, D=64): say what is coming when it
  // will take more than a few seconds.
  double seconds = 90e-9 * work * sampled.size() / std::max<int64_t>(1, queryExtent);
  if (seconds > 2)
    llvm::errs() << llvm::format("attn-run: check: the fp64 reference on %zu "
                                 "of %lld query rows (about %.0f s)...\n",
                                 sampled.size(), (long long)queryExtent,
                                 seconds);
  FailureOr<SmallVector<Tensor>> reference =
      interpretFunction(function, kernel.getRoundedInputs(), interpretOptions);
  if (failed(reference))
    return fail("the reference interpreter failed");
  const Tensor &expected = reference->front();

  double eps32 = std::ldexp(1.0, -24);
  double epsOut = interface.storageType == "f16"    ? std::ldexp(1.0, -11)
                  : interface.storageType == "bf16" ? std::ldexp(1.0, -8)
                                                    : eps32;
  double factor = 16 * eps32 * std::sqrt(static_cast<double>(m + e));
  // An absolute floor for results near the bottom of the range: f32
  // arithmetic may flush subnormals (error up to the smallest normal,
  // 2^-126), and an f16 output rounds subnormals to 2^-24 steps.
  double floor = interface.storageType == "f16" ? std::ldexp(1.0, -25)
                                                : std::ldexp(1.0, -126);

  int64_t width = actual.shape.back();
  int64_t rowsTotal = width ? actual.getNumElements() / width : 0;
  std::vector<bool> isSampled(queryExtent, false);
  for (int64_t r : sampled)
    isSampled[r] = true;
  int64_t checked = 0, failures = 0, nonFinite = 0, sameNonFinite = 0,
          firstFailure = -1;
  double worstRatio = 0;
  auto failAt = [&](int64_t index) {
    ++failures;
    if (firstFailure < 0)
      firstFailure = index;
  };
  for (int64_t row = 0; row < rowsTotal; ++row) {
    int64_t query = row % queryExtent;
    const double *out = &actual.data[row * width];
    if (!isSampled[query]) {
      // No reference for this row: a NaN or Inf has nothing to agree with.
      for (int64_t c = 0; c < width; ++c)
        if (!std::isfinite(out[c])) {
          ++nonFinite;
          failAt(row * width + c);
        }
      continue;
    }
    const double *ref = &expected.data[row * width];
    double rowMax = 0;
    for (int64_t c = 0; c < width; ++c)
      if (std::isfinite(ref[c]))
        rowMax = std::max(rowMax, std::fabs(ref[c]));
    for (int64_t c = 0; c < width; ++c) {
      ++checked;
      if (!std::isfinite(out[c]) || !std::isfinite(ref[c])) {
        // NaN where the reference is NaN (the spec's own value, e.g. a row
        // whose scores are all -inf), or the same infinity, agrees.
        if ((std::isnan(out[c]) && std::isnan(ref[c])) || out[c] == ref[c]) {
          ++sameNonFinite;
          continue;
        }
        ++nonFinite;
        failAt(row * width + c);
        continue;
      }
      double tolerance = factor * (std::fabs(ref[c]) + rowMax) +
                         2 * epsOut * std::fabs(ref[c]) + floor;
      double error = std::fabs(out[c] - ref[c]);
      worstRatio = std::max(worstRatio, error / tolerance);
      if (!(error <= tolerance))
        failAt(row * width + c);
    }
  }
  llvm::outs() << "attn-run: check against the fp64 reference: " << checked
               << " elements in " << sampled.size() << " of " << queryExtent
               << " query rows; worst error/tolerance "
               << llvm::format("%.3g", worstRatio) << " (tol = 16 eps32 sqrt(M+E) "
               << "(|ref| + rowmax|ref|) + 2 eps_out |ref| + "
               << llvm::format("%g", floor) << "); " << nonFinite
               << " NaN/Inf";
  if (sameNonFinite)
    llvm::outs() << " (and " << sameNonFinite
                 << " where the reference has the same)";
  llvm::outs() << ": ";
  if (failures == 0) {
    llvm::outs() << "PASS\n";
    return 0;
  }
  llvm::outs() << "FAIL: " << failures << " out of tolerance; first at "
               << formatIndex(actual, firstFailure) << ": "
               << llvm::format("%.9g vs %.9g", actual.data[firstFailure],
                               expected.data[firstFailure])
               << "\n";
  return 1;
}

} // namespace

int mlir::cascade::runOnCpu(func::FuncOp function, ArrayRef<Tensor> inputs,
                            const CpuRunOptions &options) {
  std::string error;
  FailureOr<InputExtents> sizes = resolveInputExtents(function, inputs, error);
  if (failed(sizes))
    return fail(error);
  const llvm::StringMap<int64_t> *extents = &sizes->extents;
  // Head dimensions are compile-time: taken from the float inputs.
  CpuTargetOptions target = options.target;
  for (auto &entry : sizes->headDims)
    target.headDims[entry.getKey()] = entry.getValue();
  FailureOr<CpuKernelInterface> interface =
      getCpuKernelInterface(function, target);
  if (failed(interface))
    return 1;
  StringRef resultHead = interface->resultRanks.back();
  if (!target.headDims.count(resultHead)) {
    auto it = extents->find(resultHead);
    if (it == extents->end())
      return fail("no input gives the size of head dimension '" + resultHead +
                  "'");
    target.headDims[resultHead] = it->second;
  }

  FailureOr<std::unique_ptr<CpuKernel>> kernel =
      CpuKernel::compile(function, target);
  if (failed(kernel))
    return fail("compilation of @" + function.getSymName() + " failed");
  if (failed((*kernel)->prepare(inputs, error)))
    return fail(error);
  double start = now();
  (*kernel)->run(options.threads);
  double seconds = now() - start;
  Tensor output = (*kernel)->getOutput();
  llvm::outs() << "attn-run: @" << function.getSymName() << " target=cpu cpu="
               << target.cpu << " storage=" << target.storageType
               << " threads=" << options.threads << " items="
               << (*kernel)->getNumWorkItems() << " -> "
               << output.getShapeString()
               << llvm::format(" compile=%.3fs time=%.3fms",
                               (*kernel)->getCompileSeconds(), seconds * 1e3)
               << " nonfinite=" << countNonFinite(output) << "\n";
  if (options.printValues)
    printOutputs(output);
  if (!options.outputPath.empty())
    if (llvm::Error err =
            writeOutputs(output, options.outputPath, NpyDType::Float32))
      return fail(llvm::toString(std::move(err)));

  int status = 0;
  if (options.check)
    status = check(function, **kernel, output, options, *extents);

  if (options.bench) {
    const CpuKernelInterface &in = (*kernel)->getInterface();
    BenchmarkFlops counted =
        countBenchmarkFlops(function, in.resultRanks, output.shape, *extents,
                            target.headDims, inputs);
    double flops = counted.flops, visible = counted.visible;
    bool causal = visible < 1.0;
    auto timeIt = [&](auto &&body) {
      for (int i = 0; i < options.warmup; ++i)
        body();
      std::vector<double> times;
      for (int i = 0; i < options.repeat; ++i) {
        double t0 = now();
        body();
        times.push_back(now() - t0);
      }
      return median(times);
    };
    double ours = timeIt([&] { (*kernel)->run(options.threads); });
    llvm::outs() << "attn-run: bench @" << function.getSymName()
                 << llvm::format(": median %.3f ms over %d runs (%d warm-up), ",
                                 ours * 1e3, options.repeat, options.warmup)
                 << llvm::format("%.1f GFLOP/s", flops / ours * 1e-9);
    FmaPeak peak = measureFmaPeak(options.threads);
    if (peak.gflops > 0)
      llvm::outs() << llvm::format(", %.1f%% of the measured %s FMA peak "
                                   "(%.1f GFLOP/s on %d threads)",
                                   100.0 * flops / ours * 1e-9 / peak.gflops,
                                   peak.isa, peak.gflops, options.threads);
    llvm::outs() << " (FLOPs = 2 per multiply-add of the contractions "
                    "after cascade-minimize-passes; 4*B*H*P*M*D for softmax"
                 << (causal ? llvm::formatv(", times the {0:F4} of (query, "
                                            "key) pairs the mask keeps",
                                            visible)
                                  .str()
                            : std::string())
                 << (isChunkedByCpuPipeline(function, target)
                         ? "; cascade-chunk computes the past key tiles "
                           "through per-tile states, so this counts the "
                           "quadratic form's FLOPs: an effective rate"
                         : "")
                 << ")\n";
    if (options.baseline == "openblas") {
      if (inputs.size() != 3 || inputs[0].getRank() != 4)
        return fail("--baseline openblas needs Q, K, V of rank 4 (SDPA layout)");
      SmallVector<Tensor> rounded = (*kernel)->getRoundedInputs();
      BaselineScore score = function.getSymName().contains("sigmoid")
                                ? BaselineScore::Sigmoid
                                : BaselineScore::Softmax;
      OpenBlasAttention baseline(rounded[0], rounded[1], rounded[2], score,
                                 causal);
      double theirs = timeIt([&] { baseline.run(options.threads); });
      Comparison agreement =
          compareTensors(output, baseline.getOutput(), 1e-2, 1e-3);
      llvm::outs() << "attn-run: bench openblas (sgemm, "
                   << (score == BaselineScore::Sigmoid ? "sigmoid" : "softmax")
                   << ", sgemm)"
                   << llvm::format(": median %.3f ms, %.1f GFLOP/s", theirs * 1e3,
                                   flops / theirs * 1e-9)
                   << llvm::format("; ratio ours/openblas %.2fx", theirs / ours)
                   << llvm::format("; max |ours - openblas| %.2e",
                                   agreement.maxAbsError)
                   << "\n";
    } else if (!options.baseline.empty()) {
      return fail("unknown --baseline '" + options.baseline +
                  "'; available: openblas");
    }
  }
  return status;
}
