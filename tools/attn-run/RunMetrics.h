//===- RunMetrics.h - FLOP counts and reference sampling ---------*- C++ -*-===//
//
// Shared by attn-run's compiled targets (cpu, cuda-emulator, cuda): the
// FLOPs a benchmark reports against, and the query rows the fp64
// reference evaluates on large problems.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_RUNMETRICS_H
#define CASCADE_TOOLS_ATTNRUN_RUNMETRICS_H

#include "cascade/Support/Tensor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::cascade {

/// FLOPs of the contractions the kernel computes: `function` after
/// cascade-minimize-passes (e.g. linear attention reassociated to
/// phi(Q) (phi(K)^T V)), 2 per point of the domain of every Einsum that
/// folds a product with `add`; those over both the query and the key rank
/// scaled by `visible`. For softmax this is the usual 4 B H P M D.
double countContractionFlops(func::FuncOp function, StringRef query,
                             StringRef key,
                             const llvm::StringMap<int64_t> &extents,
                             double visible);

/// The fraction of (query, key) pairs the spec's mask keeps, measured on a
/// grid of up to 256 x 256 evenly spaced pairs (other ranks at 0), from the
/// first masked Einsum that relates `query` and `key`; 1 when none does.
/// Data comparisons are evaluated on `inputs` (the ids the kernel gets).
double getVisibleFraction(func::FuncOp function, StringRef query,
                          StringRef key, const llvm::StringMap<int64_t> &extents,
                          ArrayRef<Tensor> inputs);

/// What a benchmark divides by: the contraction FLOPs of a run whose output
/// has `outputShape` over `resultRanks`, and the visible fraction of the
/// score matrix they were scaled by.
struct BenchmarkFlops {
  double flops = 0;
  double visible = 1.0;
};
BenchmarkFlops countBenchmarkFlops(func::FuncOp function,
                                   ArrayRef<std::string> resultRanks,
                                   ArrayRef<int64_t> outputShape,
                                   const llvm::StringMap<int64_t> &extents,
                                   const llvm::StringMap<int64_t> &headDims,
                                   ArrayRef<Tensor> inputs);

/// `wanted` query rows out of `extent` for the reference to evaluate: the
/// first, the last and evenly spaced ones between (all when `wanted` is 0
/// or at least `extent`).
SmallVector<int64_t> sampleRows(int64_t extent, int64_t wanted);

} // namespace mlir::cascade

#endif
