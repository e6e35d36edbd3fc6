//===- ClassifyTiles.cpp - Attach #cascade.tiles to the key iterate --------===//
//
// The pass around classifyKeyTiles (lib/Analysis/TileClassification.cpp):
// finds the key iterate of each function (the iterate over the outer rank of
// a partition), the query rank (the option, or the result's second-to-last
// rank) and attaches the schedule. A cascade it cannot classify is left as
// it is: every key tile is then visited with masks, which is always correct.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/TileClassification.h"
#include "cascade/Transforms/Passes.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADECLASSIFYTILES
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

std::string mlir::cascade::getDefaultQueryRank(func::FuncOp function) {
  auto ret = dyn_cast<func::ReturnOp>(function.getBody().front().getTerminator());
  // The first result is the attention output O[..., p, f]; further results
  // (the log-sum-exp LSE[..., p]) share its query rank.
  if (!ret || ret.getNumOperands() == 0)
    return "";
  SmallVector<StringRef> ranks;
  Value result = ret.getOperand(0);
  if (auto grid = result.getDefiningOp<GridOp>()) {
    ranks = llvm::to_vector(
        cast<ArrayAttr>(grid.getOutputs()[cast<OpResult>(result).getResultNumber()])
            .getAsValueRange<StringAttr>());
  } else if (EinsumOp einsum = getRankSource(result)) {
    ranks = llvm::to_vector(einsum.getOutput().getAsValueRange<StringAttr>());
  }
  if (ranks.size() < 2)
    return "";
  return ranks[ranks.size() - 2].str();
}

namespace {
struct ClassifyTilesPass
    : public mlir::cascade::impl::CascadeClassifyTilesBase<ClassifyTilesPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (function.isExternal())
      return;
    if (queryTile < 1 || queryTile > kMaxTileExtent) {
      function.emitError("cascade-classify-tiles: query-tile must be in [1, ")
          << kMaxTileExtent << "], not " << static_cast<int64_t>(queryTile);
      return signalPassFailure();
    }
    TileClassificationRequest request;
    request.queryTile = static_cast<int64_t>(queryTile);
    request.queryRank =
        queryRank.empty() ? getDefaultQueryRank(function) : queryRank;
    for (Operation &op : function.getBody().front()) {
      auto iterate = dyn_cast<IterateOp>(op);
      if (!iterate)
        continue;
      PartitionOp partition;
      for (auto candidate : function.getOps<PartitionOp>())
        if (candidate.getOuter() == iterate.getRank())
          partition = candidate;
      if (!partition)
        continue;
      std::string why;
      if (request.queryRank.empty()) {
        if (emitRemarks)
          iterate.emitRemark("no tile schedule: no query rank (pass "
                             "query-rank=...)");
        continue;
      }
      FailureOr<TileScheduleAttr> tiles =
          classifyKeyTiles(iterate, partition, request, why);
      if (failed(tiles)) {
        iterate.removeTilesAttr();
        if (emitRemarks)
          iterate.emitRemark("no tile schedule: ") << why;
        continue;
      }
      iterate.setTilesAttr(*tiles);
      if (emitRemarks)
        iterate.emitRemark("tile schedule: ") << *tiles;
    }
  }
};
} // namespace
