//===- FuseIterates.cpp - Several key streams in one key loop ------------===//
//
// Two softmaxes over the same keys (differential attention) come out of
// online rescaling as two iterates, one per stream:
//
//   partition m = m1 * 64 + m0          partition m = m1_1 * 64 + m0_1
//   R1 = iterate m1 (...) {...}          R2 = iterate m1_1 (...) {...}
//
// Each walks every key once, but a kernel running them one after the other
// reads K and V twice and keeps one loop's state live across the other. When
// the second iterate does not depend on the first (no carried value, init
// or captured tensor of it comes from the first's results) and both cut the
// same rank into the same tiles, they become one iterate over m1 carrying
// both states: every step computes both streams from the same key tile.
// The second's ranks are renamed to the first's and its partition dropped.
//
// Fusion is exact: each stream's values are computed by the same ops in the
// same order, only interleaved with the other stream's.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEFUSEITERATES
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// The ops of `block` that `root` depends on, transitively (through its
/// operands and the values its regions capture), in block order.
SmallVector<Operation *> getDependencies(Operation *root, Block &block) {
  llvm::SetVector<Operation *> slice;
  SmallVector<Value> worklist(root->getOperands());
  auto addCaptured = [&](Operation *op) {
    llvm::SetVector<Value> captured;
    for (Region &region : op->getRegions())
      getUsedValuesDefinedAbove(region, captured);
    worklist.append(captured.begin(), captured.end());
  };
  addCaptured(root);
  while (!worklist.empty()) {
    Operation *def = worklist.pop_back_val().getDefiningOp();
    if (!def)
      continue;
    Operation *inBlock = block.findAncestorOpInBlock(*def);
    if (!inBlock || inBlock == root || !slice.insert(inBlock))
      continue;
    llvm::append_range(worklist, inBlock->getOperands());
    addCaptured(inBlock);
  }
  SmallVector<Operation *> ordered(slice.begin(), slice.end());
  llvm::sort(ordered, [](Operation *a, Operation *b) {
    return a->isBeforeInBlock(b);
  });
  return ordered;
}

bool hasMaskedEinsum(IterateOp iterate) {
  return iterate.getBody()
      .walk([](EinsumOp einsum) {
        return einsum.hasMask() ? WalkResult::interrupt()
                                : WalkResult::advance();
      })
      .wasInterrupted();
}

ArrayAttr renameAll(ArrayAttr names, const llvm::StringMap<std::string> &to) {
  SmallVector<Attribute> renamed;
  for (Attribute name : names) {
    auto it = to.find(cast<StringAttr>(name).getValue());
    renamed.push_back(it == to.end()
                          ? name
                          : StringAttr::get(names.getContext(), it->second));
  }
  return ArrayAttr::get(names.getContext(), renamed);
}

/// Renames ranks everywhere `einsum` names them: its rank list, output,
/// symbols, reductions, and the coordinates and extents its body reads.
void renameRanks(EinsumOp einsum, const llvm::StringMap<std::string> &to) {
  MLIRContext *context = einsum.getContext();
  einsum.setRanksAttr(renameAll(einsum.getRanks(), to));
  einsum.setOutputAttr(renameAll(einsum.getOutput(), to));
  einsum.setSymbolsAttr(renameAll(einsum.getSymbols(), to));
  SmallVector<Attribute> reductions;
  for (Attribute attr : einsum.getReductions()) {
    auto reduction = cast<ReductionAttr>(attr);
    auto it = to.find(reduction.getRank().getValue());
    reductions.push_back(
        it == to.end() ? attr
                       : ReductionAttr::get(context,
                                            StringAttr::get(context, it->second),
                                            reduction.getKind()));
  }
  einsum.setReductionsAttr(ArrayAttr::get(context, reductions));
  einsum.getBody().walk([&](Operation *op) {
    auto rank = op->getAttrOfType<StringAttr>("rank");
    if (!rank || !isa<IndexOp, ExtentOp>(op))
      return;
    auto it = to.find(rank.getValue());
    if (it != to.end())
      op->setAttr("rank", StringAttr::get(context, it->second));
  });
}

void fuse(IterateOp first, IterateOp second, PartitionOp firstCut,
          PartitionOp secondCut, ArrayRef<Operation *> toHoist) {
  for (Operation *op : toHoist)
    op->moveBefore(first);
  OpBuilder builder(first);
  Location loc = builder.getFusedLoc({first.getLoc(), second.getLoc()});
  SmallVector<Value> inits(first.getInits());
  llvm::append_range(inits, second.getInits());
  IterateOp fused = createIterate(builder, loc, first.getRank(), inits);
  Block &body = fused.getBody().front();
  unsigned firstCount = first.getInits().size();
  SmallVector<Value> yielded;
  for (auto [offset, from] :
       {std::pair<unsigned, IterateOp>{0, first}, {firstCount, second}}) {
    Block &old = from.getBody().front();
    for (BlockArgument argument : old.getArguments())
      argument.replaceAllUsesWith(
          body.getArgument(offset + argument.getArgNumber()));
    auto yield = cast<YieldOp>(old.getTerminator());
    llvm::append_range(yielded, yield.getValues());
    body.getOperations().splice(body.end(), old.getOperations(), old.begin(),
                                Block::iterator(yield));
  }
  llvm::StringMap<std::string> renames;
  renames[secondCut.getOuter()] = firstCut.getOuter().str();
  renames[secondCut.getInner()] = firstCut.getInner().str();
  fused.getBody().walk([&](EinsumOp einsum) { renameRanks(einsum, renames); });
  builder.setInsertionPointToEnd(&body);
  YieldOp::create(builder, loc, yielded);
  first.replaceAllUsesWith(fused.getResults().take_front(firstCount));
  second.replaceAllUsesWith(fused.getResults().drop_front(firstCount));
  first.erase();
  second.erase();
  // The second partition named ranks of the second loop only.
  bool stillUsed =
      fused->getParentOfType<func::FuncOp>()
          .walk([&](EinsumOp einsum) {
            for (StringRef rank :
                 einsum.getRanks().getAsValueRange<StringAttr>())
              if (rank == secondCut.getOuter() || rank == secondCut.getInner())
                return WalkResult::interrupt();
            return WalkResult::advance();
          })
          .wasInterrupted();
  if (!stillUsed)
    secondCut.erase();
}

} // namespace

bool mlir::cascade::fuseIteratesOnce(func::FuncOp function) {
  Block &block = function.getBody().front();
  llvm::StringMap<PartitionOp> byOuter;
  for (PartitionOp cut : block.getOps<PartitionOp>())
    byOuter[cut.getOuter()] = cut;
  SmallVector<IterateOp> iterates(block.getOps<IterateOp>());
  for (auto [i, first] : llvm::enumerate(iterates))
    for (IterateOp second : llvm::drop_begin(iterates, i + 1)) {
      PartitionOp firstCut = byOuter.lookup(first.getRank());
      PartitionOp secondCut = byOuter.lookup(second.getRank());
      if (!firstCut || !secondCut || firstCut == secondCut ||
          firstCut.getRank() != secondCut.getRank() ||
          firstCut.getTile() != secondCut.getTile())
        continue;
      // A tile schedule or a mask belongs to one loop's keys; fusing masked
      // streams would need one schedule for both (not done).
      if (first.getTiles() || second.getTiles() || hasMaskedEinsum(first) ||
          hasMaskedEinsum(second))
        continue;
      SmallVector<Operation *> needed = getDependencies(second, block);
      if (llvm::is_contained(needed, first.getOperation()))
        continue;
      SmallVector<Operation *> toHoist;
      for (Operation *op : needed)
        if (first->isBeforeInBlock(op))
          toHoist.push_back(op);
      fuse(first, second, firstCut, secondCut, toHoist);
      return true;
    }
  return false;
}

namespace {
struct FuseIteratesPass
    : public mlir::cascade::impl::CascadeFuseIteratesBase<FuseIteratesPass> {
  void runOnOperation() override {
    while (fuseIteratesOnce(getOperation())) {
    }
  }
};
} // namespace
