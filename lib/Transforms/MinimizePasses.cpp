//===- MinimizePasses.cpp - Apply the pass-reducing rewrites to a fixpoint ===//
//
// Division is deferred first (it turns the 3-pass form into the 2-pass form
// that online rescaling expects), then online rescaling, then
// reassociation; the round repeats until no rewrite applies.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"
#include "cascade/Transforms/Passes.h"

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
    bool changed = true;
    while (changed) {
      changed = false;
      while (deferDivisionOnce(function, refused))
        changed = true;
      while (onlineRescaleOnce(function, tileSize, refused))
        changed = true;
      while (reassociateOnce(function, *assumed, refused))
        changed = true;
    }

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
  }
};

} // namespace
