//===- PartitionRank.cpp - The scheduled form: query tiles, work grid -----===//
//
// softmax in one pass over m:
//   RM0[b,h,p] = -inf; ...; RM, RD, RNV = iterate m1 {...}
//   AV[b,h,p,f] = RNV / RD
// becomes, with query tiles of 64 rows and head dims e = f = 64,
//   partition p = p1 * 64 + p0
//   AV = grid [b, h, p1] tile_extents(e = 64, f = 64) -> ([b, h, p, f]) {
//     RM0[p0] = -inf; ...; RM, RD, RNV = iterate m1 {... Q[b,h,p1*64+p0,e] ...}
//     AV[p0, f] = RNV / RD;  yield AV }
// Every Einsum with the query rank moves into the grid, written over one
// work item: grid ranks leave its outputs, `p` becomes `p0` in tile-local
// tensors and `p1 * 64 + p0` in global reads. Einsums without the query
// rank stay outside and run once.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/Passes.h"

#include "llvm/ADT/SetVector.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEPARTITIONRANK
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// The ranks of a cascade tensor: its producer's output (an iterate's
/// carried value and result have its initial value's ranks).
SmallVector<StringRef> getTensorRanks(Value tensor) {
  if (auto arg = dyn_cast<BlockArgument>(tensor))
    if (auto iterate = dyn_cast<IterateOp>(arg.getOwner()->getParentOp()))
      tensor = iterate.getInits()[arg.getArgNumber()];
  EinsumOp source = getRankSource(tensor);
  if (!source)
    return {};
  return llvm::to_vector(source.getOutput().getAsValueRange<StringAttr>());
}

bool hasRank(Value tensor, StringRef rank) {
  return llvm::is_contained(getTensorRanks(tensor), rank);
}

class Scheduler {
public:
  Scheduler(func::FuncOp function, const RankEnvironment &env,
            StringRef query, int64_t tile)
      : function(function), env(env), query(query.str()), tile(tile) {}

  LogicalResult run(const llvm::StringMap<int64_t> &givenExtents);

private:
  LogicalResult chooseGrid(Value result,
                           const llvm::StringMap<int64_t> &givenExtents);
  LogicalResult rewriteEinsum(EinsumOp einsum, OpBuilder &builder);
  LogicalResult rewriteIterate(IterateOp iterate, OpBuilder &builder);
  LogicalResult rewriteBlockOps(Block &block, OpBuilder &builder);
  /// Whether `op` (outside the query grid) can run in a work item of the
  /// state grid: every rank it walks is a state grid rank or tile-local.
  bool fitsStateItem(Operation *op, ArrayRef<std::string> stateRanks);
  /// Moves the ops left outside the query grid that produce per-(b, h)
  /// state into a grid over the query grid's ranks but the query tile,
  /// placed before it (the state phase). Leaves them alone when none can.
  LogicalResult buildStateGrid(GridOp queryGrid, OpBuilder &builder);
  /// A grid over `ranks` before the builder's point holding `ops`
  /// rewritten over one work item, yielding the tiles of `results`.
  FailureOr<GridOp> buildGrid(OpBuilder &builder, Location loc,
                              ArrayRef<std::string> ranks,
                              DictionaryAttr extents, ArrayRef<Value> results,
                              ArrayRef<Operation *> ops);
  bool isTileLocalRank(StringRef rank) {
    return rank == inner || env.getPartitionOfInner(rank) ||
           tileExtents.count(rank);
  }

  func::FuncOp function;
  const RankEnvironment &env;
  std::string query;
  int64_t tile;
  std::string outer, inner;
  SmallVector<std::string> gridRanks;
  llvm::MapVector<StringRef, int64_t> tileExtents;
  /// Old value -> its tile-local replacement inside the grid.
  IRMapping local;
  /// Set while moving ops into the state grid.
  bool buildingStateGrid = false;
};

LogicalResult
Scheduler::chooseGrid(Value result,
                      const llvm::StringMap<int64_t> &givenExtents) {
  // The head dimensions: the innermost rank of every float tensor argument
  // and of the result. Their extents are fixed at compile time. Integer
  // tensors (the ids of data comparisons, `D[b, m]`) are read per position
  // and have no head dimension.
  llvm::SetVector<StringRef> heads;
  for (auto [arg, type] : llvm::enumerate(function.getArgumentTypes())) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || tensor.getRank() < 1 ||
        !isa<FloatType>(tensor.getElementType()))
      continue;
    if (std::optional<StringRef> rank =
            env.getRankOfArgumentDim(arg, tensor.getRank() - 1))
      heads.insert(*rank);
  }
  SmallVector<StringRef> resultRanks = getTensorRanks(result);
  if (resultRanks.size() < 2)
    return function.emitError("cascade-partition-rank: the result needs a "
                              "query rank and a head dimension");
  heads.insert(resultRanks.back());
  for (auto &entry : givenExtents)
    if (!heads.contains(entry.getKey()))
      return function.emitError("cascade-partition-rank: a tile extent is "
                                "given for '")
             << entry.getKey()
             << "', which is not a head dimension of this function (the "
                "innermost dimension of an argument or of the result: "
             << llvm::join(heads, ", ") << ")";
  for (StringRef rank : heads) {
    if (rank == query)
      return function.emitError("cascade-partition-rank: the query rank '")
             << query << "' is also a head dimension (the innermost rank of "
             << "an argument or of the result)";
    std::optional<int64_t> extent = env.getStaticExtent(rank);
    auto given = givenExtents.find(rank);
    if (given != givenExtents.end()) {
      if (extent && *extent != given->second)
        return function.emitError("cascade-partition-rank: tile-extents "
                                  "gives '")
               << rank << "' the extent " << given->second
               << " but the function's types give " << *extent;
      extent = given->second;
    }
    if (!extent)
      return function.emitError("cascade-partition-rank: head dimension '")
             << rank << "' needs a compile-time size in a work item: pass "
             << "tile-extents=" << rank << "=N (cascade-to-cpu's head-dims; "
             << "attn-run takes it from --dims)";
    tileExtents[rank] = *extent;
  }
  if (!llvm::is_contained(resultRanks, StringRef(query)))
    return function.emitError("cascade-partition-rank: the result has no "
                              "query rank '")
           << query << "'";
  for (StringRef rank : resultRanks) {
    if (tileExtents.count(rank))
      continue;
    gridRanks.push_back(rank == query ? outer : rank.str());
  }
  return success();
}

LogicalResult Scheduler::rewriteEinsum(EinsumOp einsum, OpBuilder &builder) {
  MLIRContext *context = function.getContext();
  auto isGridRank = [&](StringRef rank) {
    return llvm::is_contained(gridRanks, rank);
  };
  for (Attribute attr : einsum.getReductions()) {
    StringRef rank = cast<ReductionAttr>(attr).getRank().getValue();
    if (rank == query || isGridRank(rank))
      return einsum.emitError("cascade-partition-rank: this Einsum reduces '")
             << rank << "', which the work grid splits across work items; "
             << "a work item cannot see the other items' rows";
  }
  EinsumParts parts(context);
  parts.name = einsum.getName().value_or("").str();
  // Tile-local ranks have static extents: the result type says so.
  parts.staticExtents[inner] = tile;
  for (auto &[rank, extent] : tileExtents)
    parts.staticExtents[rank] = extent;
  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
    if (PartitionOp cut = env.getPartitionOfInner(rank))
      parts.staticExtents[rank] = cut.getTile();
  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>()) {
    if (isGridRank(rank))
      continue;
    parts.output.push_back(rank == query ? inner : rank.str());
  }
  for (Attribute attr : einsum.getReductions()) {
    auto r = cast<ReductionAttr>(attr);
    parts.reductions.push_back({r.getRank().str(), r.getKind()});
  }
  // A work item walks only tile-local ranks (the scheduled form's rule, see
  // GridOp's verifier); say what to change before building anything.
  SmallVector<std::string> walked = parts.output;
  for (auto &reduction : parts.reductions)
    walked.push_back(reduction.first);
  for (const std::string &rank : walked)
    if (rank != inner && !env.getPartitionOfInner(rank) &&
        !tileExtents.count(rank))
      return einsum.emitError("cascade-partition-rank: this Einsum walks '")
             << rank << "', which is not tile-local in a work item: stream "
             << "it first (cascade-minimize-passes, cascade-stream-rank) or, "
             << "if it is a head dimension, give tile-extents=" << rank
             << "=N";
  llvm::StringMap<AffineExpr> global;
  // Only an Einsum over the query rank gets p1, p0 (state ops have none; a
  // key-side feature map inside the key loop, phi(K) of causal linear
  // attention, has none either: p0 would be a rank it never walks).
  bool overQuery = llvm::any_of(einsum.getRanks(), [&](Attribute rank) {
    return cast<StringAttr>(rank).getValue() == query;
  });
  if (!buildingStateGrid && overQuery)
    global[query] = parts.dim(outer) * tile + parts.dim(inner);

  for (auto [j, operand, mapAttr] :
       llvm::enumerate(einsum.getInputs(), einsum.getIndexingMaps())) {
    Value tileValue = local.lookupOrNull(operand);
    if (!tileValue) {
      parts.addOperandOf(einsum, j, global);
      continue;
    }
    // A tile-local tensor holds only this work item's rows: it must be read
    // at the bare grid and query ranks, and loses the grid ranks.
    AffineMap map = cast<AffineMapAttr>(mapAttr).getValue();
    SmallVector<StringRef> ranks = getTensorRanks(operand);
    SmallVector<AffineExpr> indices;
    for (auto [k, expr] : llvm::enumerate(map.getResults())) {
      StringRef rank = ranks[k];
      if (rank != query && !isGridRank(rank)) {
        indices.push_back(parts.translate(expr, einsum, global));
        continue;
      }
      auto dimExpr = dyn_cast<AffineDimExpr>(expr);
      if (!dimExpr || cast<StringAttr>(einsum.getRanks()[dimExpr.getPosition()])
                              .getValue() != rank)
        return einsum.emitError("cascade-partition-rank: this Einsum reads "
                                "operand #")
               << j << " in dimension " << k << " (its rank '" << rank
               << "') other than at '" << rank
               << "' itself: a work item would need another item's rows";
      if (rank == query)
        indices.push_back(parts.dim(inner));
    }
    parts.addOperand(tileValue, indices);
  }
  parts.addPredicateOf(einsum, global);
  if (einsum.getFill())
    parts.fill = einsum.getFillValue();
  parts.elementType =
      cast<RankedTensorType>(einsum.getType()).getElementType();
  // Coordinates the body reads must be ranks of the new Einsum.
  einsum.getBody().walk([&](IndexOp index) {
    if (index.getRank() == query) {
      (void)parts.dim(outer);
      (void)parts.dim(inner);
    } else {
      (void)parts.dim(index.getRank());
    }
  });
  auto rewriteIndex = [&](OpBuilder &b, IndexOp index) -> Value {
    return rewritePartitionedIndex(b, index, query, outer, tile, inner);
  };
  EinsumOp rewritten = parts.build(builder, einsum.getLoc(),
                                   [&](OpBuilder &b, Location, ValueRange args) {
    return inlineBody(b, einsum, args, rewriteIndex);
  });
  local.map(einsum.getResult(), rewritten.getResult());
  return success();
}

LogicalResult Scheduler::rewriteIterate(IterateOp iterate, OpBuilder &builder) {
  SmallVector<Value> inits;
  for (Value init : iterate.getInits()) {
    Value mapped = local.lookupOrNull(init);
    if (!mapped)
      return iterate.emitError("cascade-partition-rank: a carried value of "
                               "this iterate starts from a tensor outside "
                               "the work grid");
    inits.push_back(mapped);
  }
  IterateOp rewritten =
      createIterate(builder, iterate.getLoc(), iterate.getRank(), inits);
  if (std::optional<TileScheduleAttr> tiles = iterate.getTiles()) {
    // The query tile index of the classification is now the grid's `p1`.
    if (tiles->getQuery().getValue() != query ||
        tiles->getQueryTile() != tile)
      return iterate.emitError("cascade-partition-rank: the tile schedule "
                               "of this iterate uses query tiles of ")
             << tiles->getQueryTile() << " rows of '"
             << tiles->getQuery().getValue() << "', not " << tile
             << " rows of '" << query
             << "': classify with the same query-tile and query-rank";
    SmallVector<Attribute> dims(tiles->getDims().begin(),
                                tiles->getDims().end());
    dims.front() = builder.getStringAttr(outer);
    rewritten.setTilesAttr(TileScheduleAttr::get(
        builder.getContext(), tiles->getQuery(), tiles->getQueryTile(),
        builder.getArrayAttr(dims), tiles->getSymbols(), tiles->getRanges(),
        tiles->getData()));
  }
  for (auto [old, now] : llvm::zip(iterate.getBodyBlock().getArguments(),
                                   rewritten.getBodyBlock().getArguments()))
    local.map(old, now);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&rewritten.getBodyBlock());
  if (failed(rewriteBlockOps(iterate.getBodyBlock(), builder)))
    return failure();
  auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
  SmallVector<Value> yielded;
  for (Value value : yield.getValues())
    yielded.push_back(local.lookup(value));
  YieldOp::create(builder, yield.getLoc(), yielded);
  for (auto [old, now] : llvm::zip(iterate.getResults(), rewritten.getResults()))
    local.map(old, now);
  return success();
}

LogicalResult Scheduler::rewriteBlockOps(Block &block, OpBuilder &builder) {
  for (Operation &op : block.without_terminator()) {
    if (auto einsum = dyn_cast<EinsumOp>(op)) {
      if (failed(rewriteEinsum(einsum, builder)))
        return failure();
    } else if (auto iterate = dyn_cast<IterateOp>(op)) {
      if (failed(rewriteIterate(iterate, builder)))
        return failure();
    } else {
      return op.emitError("cascade-partition-rank: cannot move '")
             << op.getName() << "' into a work grid";
    }
  }
  return success();
}

LogicalResult Scheduler::run(const llvm::StringMap<int64_t> &givenExtents) {
  Block &block = function.getBody().front();
  auto returnOp = cast<func::ReturnOp>(block.getTerminator());

  // The ops of one work item: Einsums over the query rank, and iterates
  // carrying a tensor over it. The others run once, outside the grid.
  SmallVector<Operation *> inside;
  llvm::SmallPtrSet<Operation *, 16> isInside;
  for (Operation &op : block.without_terminator()) {
    bool tiled = false;
    if (auto einsum = dyn_cast<EinsumOp>(op))
      tiled = hasRank(einsum.getResult(), query);
    else if (auto iterate = dyn_cast<IterateOp>(op))
      tiled = llvm::any_of(iterate.getResults(),
                           [&](Value v) { return hasRank(v, query); });
    else if (isa<GridOp>(op))
      return success(); // Already scheduled.
    if (!tiled)
      continue;
    inside.push_back(&op);
    isInside.insert(&op);
  }
  if (inside.empty())
    return success();
  for (Operation &op : block.without_terminator()) {
    if (isInside.count(&op))
      continue;
    WalkResult walk = op.walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && isInside.count(def)) {
          nested->emitError("cascade-partition-rank: this reads '")
              << getRankSource(operand).getName().value_or("a tensor")
              << "', which is over the query rank '" << query
              << "' but is not itself: the query rank is still reduced or "
                 "read across tiles";
          return WalkResult::interrupt();
        }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
  }
  SmallVector<unsigned> tiledResults;
  for (auto [i, value] : llvm::enumerate(returnOp.getOperands()))
    if (Operation *def = value.getDefiningOp(); def && isInside.count(def))
      tiledResults.push_back(i);
  if (tiledResults.empty())
    return success();

  outer = getUniqueRankName(function, query + "1");
  inner = getUniqueRankName(function, query + "0");
  if (failed(chooseGrid(returnOp.getOperand(tiledResults.front()),
                        givenExtents)))
    return failure();

  OpBuilder builder(function.getContext());
  Location loc = function.getLoc();
  builder.setInsertionPointToStart(&block);
  createPartition(builder, loc, query, outer, tile, inner);

  builder.setInsertionPoint(returnOp);
  SmallVector<NamedAttribute> extents;
  for (auto &[rank, extent] : tileExtents)
    extents.push_back(builder.getNamedAttr(
        rank, builder.getI64IntegerAttr(extent)));
  SmallVector<Value> tiled;
  for (unsigned i : tiledResults)
    tiled.push_back(returnOp.getOperand(i));
  FailureOr<GridOp> built = buildGrid(builder, loc, gridRanks,
                                      builder.getDictionaryAttr(extents),
                                      tiled, inside);
  if (failed(built))
    return failure();
  GridOp grid = *built;
  for (auto [k, i] : llvm::enumerate(tiledResults))
    returnOp.setOperand(i, grid.getResult(k));
  for (Operation *op : llvm::reverse(inside))
    op->erase();
  return buildStateGrid(grid, builder);
}

bool Scheduler::fitsStateItem(Operation *op, ArrayRef<std::string> stateRanks) {
  auto fits = [&](EinsumOp einsum) {
    for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
      if (!llvm::is_contained(stateRanks, rank) && !isTileLocalRank(rank))
        return false;
    for (Attribute attr : einsum.getReductions())
      if (!isTileLocalRank(cast<ReductionAttr>(attr).getRank().getValue()))
        return false;
    return true;
  };
  if (auto einsum = dyn_cast<EinsumOp>(op))
    return fits(einsum);
  auto iterate = dyn_cast<IterateOp>(op);
  // A tile schedule is indexed by the query tile, which a state item lacks.
  if (!iterate || iterate.getTiles())
    return false;
  // The iterate's rank is fixed per step; its body is walked as usual.
  for (Operation &nested : iterate.getBodyBlock()) {
    auto einsum = dyn_cast<EinsumOp>(nested);
    if (einsum ? !fits(einsum) : !isa<YieldOp>(nested))
      return false;
  }
  return true;
}

FailureOr<GridOp> Scheduler::buildGrid(OpBuilder &builder, Location loc,
                                       ArrayRef<std::string> ranks,
                                       DictionaryAttr extents,
                                       ArrayRef<Value> results,
                                       ArrayRef<Operation *> ops) {
  SmallVector<Attribute> outputs;
  SmallVector<Type> types;
  for (Value value : results) {
    outputs.push_back(builder.getStrArrayAttr(getTensorRanks(value)));
    types.push_back(value.getType());
  }
  SmallVector<StringRef> rankRefs(ranks.begin(), ranks.end());
  OperationState state(loc, GridOp::getOperationName());
  state.addAttribute("ranks", builder.getStrArrayAttr(rankRefs));
  state.addAttribute("outputs", builder.getArrayAttr(outputs));
  state.addAttribute("tile_extents", extents);
  state.addTypes(types);
  state.addRegion()->push_back(new Block());
  auto grid = cast<GridOp>(builder.create(state));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&grid.getBodyBlock());
  for (Operation *op : ops) {
    LogicalResult rewritten =
        isa<EinsumOp>(op) ? rewriteEinsum(cast<EinsumOp>(op), builder)
                          : rewriteIterate(cast<IterateOp>(op), builder);
    if (failed(rewritten)) {
      grid.erase();
      return failure();
    }
  }
  SmallVector<Value> tiles;
  for (Value value : results)
    tiles.push_back(local.lookup(value));
  YieldOp::create(builder, loc, tiles);
  return grid;
}

LogicalResult Scheduler::buildStateGrid(GridOp queryGrid, OpBuilder &builder) {
  SmallVector<std::string> stateRanks;
  for (const std::string &rank : gridRanks)
    if (rank != outer)
      stateRanks.push_back(rank);
  if (stateRanks.empty())
    return success();
  Block &block = function.getBody().front();

  // Candidates: the cascade ops outside the query grid whose every rank
  // fits a state item; then drop, until nothing changes, those that cannot
  // move: an iterate starting from a value that stays, a value read by an
  // op that stays (it would come before the grid that now makes it), and a
  // value the query grid reads without every state rank (a grid's result
  // covers its ranks; ALiBi's slopes SL[h] stay outside).
  llvm::SetVector<Operation *> moved;
  for (Operation &op : block.without_terminator())
    if (isa<EinsumOp, IterateOp>(op) && fitsStateItem(&op, stateRanks))
      moved.insert(&op);
  auto coversState = [&](Value value) {
    SmallVector<StringRef> ranks = getTensorRanks(value);
    return llvm::all_of(stateRanks, [&](const std::string &rank) {
      return llvm::is_contained(ranks, StringRef(rank));
    });
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation *op : SmallVector<Operation *>(moved.begin(), moved.end())) {
      bool stays = false;
      if (auto iterate = dyn_cast<IterateOp>(op))
        for (Value init : iterate.getInits())
          if (!moved.contains(init.getDefiningOp()))
            stays = true;
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers()) {
          Operation *top = block.findAncestorOpInBlock(*user);
          if (!top || moved.contains(top))
            continue;
          if (top != queryGrid.getOperation() || !coversState(result))
            stays = true;
        }
      if (stays) {
        moved.remove(op);
        changed = true;
      }
    }
  }
  if (moved.empty())
    return success();

  // The state grid's results: moved values the query grid reads.
  SmallVector<Value> exported;
  for (Operation *op : moved)
    for (Value result : op->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *user) {
            return !moved.contains(block.findAncestorOpInBlock(*user));
          }))
        exported.push_back(result);
  if (exported.empty())
    return success(); // Nothing the query phase reads: leave it.

  builder.setInsertionPoint(queryGrid);
  buildingStateGrid = true;
  FailureOr<GridOp> stateGrid =
      buildGrid(builder, function.getLoc(), stateRanks,
                queryGrid.getTileExtentsAttr(), exported, moved.getArrayRef());
  if (failed(stateGrid))
    return failure();
  for (auto [k, value] : llvm::enumerate(exported))
    value.replaceAllUsesWith(stateGrid->getResult(k));
  for (Operation *op : llvm::reverse(moved))
    op->erase();
  return success();
}

struct PartitionRankPass
    : public mlir::cascade::impl::CascadePartitionRankBase<PartitionRankPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    // Functions without a cascade (a kernel's generated shape check) have
    // nothing to schedule.
    if (!isCascadeFunction(function))
      return;
    // A function with a work grid is scheduled already (cascade-chunk-gates
    // schedules the cascades it rewrites).
    if (!function.getBody().front().getOps<GridOp>().empty())
      return;
    if (queryTile < 1 || queryTile > kMaxTileExtent) {
      function.emitError("cascade-partition-rank: query-tile must be in [1, ")
          << kMaxTileExtent << "], not " << static_cast<int64_t>(queryTile);
      return signalPassFailure();
    }
    FailureOr<llvm::StringMap<int64_t>> given =
        parseAssumedExtents(function.getLoc(), tileExtents);
    if (failed(given))
      return signalPassFailure();
    for (auto &entry : *given)
      if (entry.getValue() > kMaxTileExtent) {
        function.emitError("cascade-partition-rank: tile extent ")
            << entry.getKey() << "=" << entry.getValue()
            << " is larger than " << kMaxTileExtent;
        return signalPassFailure();
      }
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    if (failed(env))
      return signalPassFailure();
    std::string query =
        queryRank.empty() ? getDefaultQueryRank(function) : queryRank;
    if (query.empty()) {
      // Report at the Einsum that makes the result, when there is one.
      Operation *at = function;
      auto ret = cast<func::ReturnOp>(function.getBody().front().getTerminator());
      if (ret.getNumOperands() == 1)
        if (EinsumOp einsum = getRankSource(ret.getOperand(0)))
          at = einsum;
      at->emitError("cascade-partition-rank: no query rank: work items "
                    "need one result with a query rank and a head dimension "
                    "(or pass query-rank=...)");
      return signalPassFailure();
    }
    if (!env->lookup(query)) {
      function.emitError("cascade-partition-rank: '")
          << query << "' is not a rank of this function";
      return signalPassFailure();
    }
    if (env->getPartitionOfOuter(query) || env->getPartitionOfInner(query)) {
      function.emitError("cascade-partition-rank: the query rank '")
          << query << "' is itself part of a partition";
      return signalPassFailure();
    }
    for (PartitionOp partition : function.getOps<PartitionOp>())
      if (partition.getRank() == query) {
        function.emitError("cascade-partition-rank: the query rank '")
            << query << "' is already partitioned";
        return signalPassFailure();
      }
    Scheduler scheduler(function, *env, query, queryTile);
    if (failed(scheduler.run(*given)))
      signalPassFailure();
  }
};

} // namespace
