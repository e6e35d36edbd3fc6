//===- PassCount.h - Passes a cascade makes over each rank ---------*- C++ -*-===//
//
// FuseMax's pass analysis, derived from the dependencies of a cascade: a full
// reduction over a rank followed, along a dataflow path, by an Einsum that
// reads a fiber of that rank again is a barrier, and the number of passes
// over the rank is one more than the most barriers on any path. The exact
// definition, and how partitions and iterative ranks enter it, is in
// docs/Passes.md.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_PASSCOUNT_H
#define CASCADE_ANALYSIS_PASSCOUNT_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <string>

namespace mlir::cascade {

/// A tensor named in a report, with its size as a product of extents.
struct TensorFootprint {
  std::string name;
  std::string size;
};

/// What must survive from one pass over a rank to the next.
struct Barrier {
  /// The barrier lies between pass `afterPass` and pass `afterPass + 1`.
  unsigned afterPass = 0;
  /// Einsum results produced up to `afterPass` and read afterwards.
  std::vector<TensorFootprint> held;
  /// Function arguments read by Einsums both before and after the barrier.
  std::vector<TensorFootprint> reread;
};

/// The analysis result for one rank (a rank together with the ranks a
/// cascade.partition splits it into).
struct RankPasses {
  std::string rank;
  unsigned passes = 0;
  /// The pass of every Einsum (for Einsums that do not iterate the rank, the
  /// pass after which it can run).
  llvm::DenseMap<Operation *, unsigned> passOf;
  /// Einsums that iterate the rank (or one of its sub-ranks).
  llvm::DenseSet<Operation *> iterates;
  /// Einsums whose result is complete only at the end of their pass: a full
  /// reduction of the rank, or anything that reads such a result in the
  /// same pass.
  llvm::DenseSet<Operation *> completesPass;
  std::vector<Barrier> barriers;
  /// State carried from step to step by a cascade.iterate over the rank.
  std::vector<TensorFootprint> carried;
};

/// One dependency behind a barrier: `consumer` runs in pass
/// `afterPass + 1` over the rank and reads `held`, which is complete only at
/// the end of pass `afterPass` because it depends on `reduction`, a full
/// reduction of the rank (null when `held` is not an Einsum's result).
struct BarrierDependency {
  unsigned afterPass = 0;
  Operation *consumer = nullptr;
  Value held;
  Operation *reduction = nullptr;
};

class CascadePassCount {
public:
  /// Analyses `function`. Fails (with a diagnostic) only if its ranks are
  /// inconsistent, which a verified function never is.
  static FailureOr<CascadePassCount> compute(FunctionOpInterface function);

  /// One entry per rank that some Einsum reduces, in first-use order.
  llvm::ArrayRef<RankPasses> getRanks() const { return ranks; }
  /// The pass count of `rank`, or 0 if no Einsum reduces it.
  unsigned getPasses(llvm::StringRef rank) const;
  /// The entry with the most passes (on a tie, the one more Einsums
  /// iterate), or null.
  const RankPasses *getDominantRank() const;
  /// The most passes over any rank of `function` (0 when it reduces
  /// nothing or cannot be analysed): what the rewrites that try a change on
  /// a copy compare.
  static unsigned computeMaxPasses(FunctionOpInterface function);

  /// What holds each barrier of `info`: one entry per consumer and tensor
  /// it reads across the barrier, in program order. What remarks name when
  /// a rank keeps several passes.
  static std::vector<BarrierDependency>
  getBarrierDependencies(const RankPasses &info);
  /// The name reports use for `value` (the Einsum's name, `arg<N>`, or the
  /// carried-state name of an iterate result).
  static std::string getTensorName(Value value);
  /// The size of `value` as a product of extents, e.g. `B*H*M*P`.
  std::string getTensorSize(Value value) const;

private:
  FunctionOpInterface function;
  RankEnvironment environment;
  std::vector<RankPasses> ranks;
};

/// Writes the dependency graph of `function` as Graphviz DOT: Einsums as
/// nodes coloured by their pass over the analysis' dominant rank, function
/// arguments as input nodes, tensors on edges, barrier edges in red.
void writeCascadeDot(FunctionOpInterface function,
                     const CascadePassCount &analysis, llvm::raw_ostream &os);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_PASSCOUNT_H
