//===- MinimizePasses.cpp - Apply the pass-reducing rewrites to a fixpoint ===//
//
// Division is deferred first (it turns the 3-pass form into the 2-pass form
// that online rescaling expects), then online rescaling, then
// reassociation, then independent key loops are fused; the round repeats
// until no rewrite applies. Then, while some rank still needs several
// passes, contractions over a sum of terms are split (differential
// attention) where that, followed by the other rewrites, lowers the count.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/IR/Diagnostics.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEMINIMIZEPASSES
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct MinimizePassesPass
    : public mlir::cascade::impl::CascadeMinimizePassesBase<MinimizePassesPass> {
  using CascadeMinimizePassesBase::CascadeMinimizePassesBase;

  void runToFixpoint(func::FuncOp function,
                     const llvm::StringMap<int64_t> &assumed,
                     RefusedSites &refused) {
    bool changed = true;
    while (changed) {
      changed = false;
      while (deferDivisionOnce(function, refused))
        changed = true;
      while (onlineRescaleOnce(function, tileSize, refused))
        changed = true;
      while (reassociateOnce(function, assumed, refused))
        changed = true;
      while (fuseIteratesOnce(function))
        changed = true;
    }
  }

  /// Splitting a contraction over a sum (SplitSum.cpp) adds a contraction:
  /// each site is tried on a copy, silenced, with the other rewrites run
  /// after it, and kept only when the most passes over a rank go down.
  void splitSumsThatSavePasses(func::FuncOp function,
                               const llvm::StringMap<int64_t> &assumed,
                               RefusedSites &refused) {
    MLIRContext *context = function.getContext();
    for (unsigned index = 0;;) {
      unsigned before = CascadePassCount::computeMaxPasses(function);
      if (before <= 1)
        return;
      bool exhausted = false, applied = false;
      unsigned after = before;
      {
        ScopedDiagnosticHandler silence(context,
                                        [](Diagnostic &) { return success(); });
        func::FuncOp trial = function.clone();
        RefusedSites trialRefused;
        applied = splitSumAt(trial, index, exhausted);
        if (applied) {
          runToFixpoint(trial, assumed, trialRefused);
          after = CascadePassCount::computeMaxPasses(trial);
        }
        trial.erase();
      }
      if (exhausted)
        return;
      if (!applied || after >= before) {
        ++index;
        continue;
      }
      bool unused;
      if (!splitSumAt(function, index, unused))
        return;
      runToFixpoint(function, assumed, refused);
      index = 0;
    }
  }

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (tileSize < 1) {
      emitError(function.getLoc())
          << "cascade-minimize-passes: tile-size must be at least 1, got "
          << static_cast<int64_t>(tileSize);
      return signalPassFailure();
    }
    FailureOr<llvm::StringMap<int64_t>> assumed =
        getAssumedExtents(function, sizes);
    if (failed(assumed))
      return signalPassFailure();
    FailureOr<CascadePassCount> before = CascadePassCount::compute(function);
    if (failed(before))
      return signalPassFailure();

    RefusedSites refused;
    runToFixpoint(function, *assumed, refused);
    splitSumsThatSavePasses(function, *assumed, refused);

    FailureOr<CascadePassCount> after = CascadePassCount::compute(function);
    if (failed(after))
      return signalPassFailure();
    if (!emitRemarks)
      return;
    for (const RankPasses &info : before->getRanks()) {
      unsigned now = after->getPasses(info.rank);
      emitRemark(function.getLoc())
          << "passes(" << info.rank << "): " << info.passes << " -> "
          << (now ? now : 1);
    }
    // Where a rank keeps several passes, say which dependency holds each
    // barrier, at the Einsum that waits.
    for (const RankPasses &info : after->getRanks())
      if (info.passes > 1)
        for (const BarrierDependency &dependency :
             CascadePassCount::getBarrierDependencies(info))
          explainBarrier(info, dependency, refused);
  }

  static void explainBarrier(const RankPasses &info,
                             const BarrierDependency &dependency,
                             const RefusedSites &refused) {
    InFlightDiagnostic remark = dependency.consumer->emitRemark();
    remark << "cascade-minimize-passes: rank '" << info.rank << "' keeps "
           << info.passes << " passes: '"
           << CascadePassCount::getTensorName(
                  dependency.consumer->getResult(0))
           << "' (pass " << dependency.afterPass + 1 << ") reads '"
           << CascadePassCount::getTensorName(dependency.held)
           << "', complete only after pass " << dependency.afterPass;
    if (dependency.reduction &&
        dependency.reduction != dependency.held.getDefiningOp())
      remark << " (it depends on '"
             << CascadePassCount::getTensorName(
                    dependency.reduction->getResult(0))
             << "', a full reduction over '" << info.rank << "')";
    else if (dependency.reduction)
      remark << " (a full reduction over '" << info.rank << "')";
    // The rewrites record the Einsum whose law failed: the reader of the
    // held tensor, the held tensor's producer, or (deferred division) the
    // sum that reads the reader.
    Operation *held = dependency.held.getDefiningOp();
    bool wasRefused = refused.contains(dependency.consumer) ||
                      (held && refused.contains(held)) ||
                      llvm::any_of(dependency.consumer->getUsers(),
                                   [&](Operation *user) {
                                     return refused.contains(user);
                                   });
    if (wasRefused)
      remark << "; a rewrite that would remove it was refused here (see its "
                "warning)";
    else
      remark << "; no rewrite removes it: deferred division needs the "
                "reader to divide by it, online rescaling needs exp(x - m) "
                "with m a max over the rank, reassociation needs it to be a "
                "factor of a contraction";
  }
};

} // namespace
