//===- GpuStatePlan.cpp - A schedule with a state phase on a GPU ----------===//

#include "cascade/Analysis/GpuStatePlan.h"

#include "cascade/Analysis/StepWindow.h"

#include "mlir/IR/AffineExprVisitor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::cascade;

/// Whether `expr` never decreases as dimension `dim` grows (every other
/// dimension and symbol held fixed).
static bool isNondecreasingIn(AffineExpr expr, unsigned dim) {
  if (!expr.isFunctionOfDim(dim))
    return true;
  auto binary = dyn_cast<AffineBinaryOpExpr>(expr);
  if (!binary)
    return true; // The dimension itself.
  AffineExpr lhs = binary.getLHS(), rhs = binary.getRHS();
  switch (expr.getKind()) {
  case AffineExprKind::Add:
    return isNondecreasingIn(lhs, dim) && isNondecreasingIn(rhs, dim);
  case AffineExprKind::Mul: {
    auto factor = dyn_cast<AffineConstantExpr>(rhs);
    return factor && factor.getValue() >= 0 && isNondecreasingIn(lhs, dim);
  }
  case AffineExprKind::FloorDiv:
  case AffineExprKind::CeilDiv: {
    auto divisor = dyn_cast<AffineConstantExpr>(rhs);
    return divisor && divisor.getValue() > 0 && isNondecreasingIn(lhs, dim);
  }
  default:
    return false;
  }
}

bool GpuStatePlan::appliesTo(func::FuncOp function) {
  auto grids = function.getBody().front().getOps<GridOp>();
  return std::distance(grids.begin(), grids.end()) > 1;
}

bool GpuStatePlan::isF32Result(unsigned index) const {
  auto yield = cast<YieldOp>(schedule->getGrid().getBodyBlock().getTerminator());
  return cast<RankedTensorType>(yield.getValues()[index].getType()).getRank() ==
         1;
}

const GpuStateRead *GpuStatePlan::getStateRead(EinsumOp reader,
                                               unsigned operand) const {
  for (const GpuStateRead &read : reads)
    if (read.reader == reader && read.operand == operand)
      return &read;
  return nullptr;
}

int64_t GpuStatePlan::getRingOffset(unsigned stack) const {
  return getOffset(stateIterate->getResult(stack));
}

SmallVector<int64_t> GpuStatePlan::getStackEntryShape(unsigned stack) const {
  IterateOp iterate = stateIterate;
  auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
  return getBufferShape(yield.getValues()[stack]);
}

SmallVector<WorkRankPlan> GpuStatePlan::getLaunchRanks() const {
  SmallVector<WorkRankPlan> ranks(schedule->getWork().ranks);
  if (columns)
    ranks.push_back({columns->rank, columns->resultDim, columns->width});
  return ranks;
}

SmallVector<StringRef> GpuStatePlan::getTileRanks(Value tile) {
  while (true) {
    if (auto argument = dyn_cast<BlockArgument>(tile)) {
      auto iterate = dyn_cast<IterateOp>(argument.getOwner()->getParentOp());
      if (!iterate)
        return {};
      tile = iterate.getInits()[argument.getArgNumber()];
      continue;
    }
    auto result = cast<OpResult>(tile);
    Operation *owner = result.getOwner();
    if (auto einsum = dyn_cast<EinsumOp>(owner))
      return llvm::to_vector(einsum.getOutput().getAsValueRange<StringAttr>());
    if (auto grid = dyn_cast<GridOp>(owner))
      return llvm::to_vector(
          cast<ArrayAttr>(grid.getOutputs()[result.getResultNumber()])
              .getAsValueRange<StringAttr>());
    auto iterate = dyn_cast<IterateOp>(owner);
    if (!iterate)
      return {};
    unsigned number = result.getResultNumber();
    if (number < iterate.getInits().size()) {
      tile = iterate.getInits()[number];
      continue;
    }
    // A stack: the step, then the entry's ranks.
    auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
    SmallVector<StringRef> ranks = {iterate.getRank()};
    llvm::append_range(ranks, getTileRanks(yield.getValues()[number]));
    return ranks;
  }
}

std::optional<unsigned> GpuStatePlan::getColumnDim(Value tile) const {
  if (!columns)
    return std::nullopt;
  SmallVector<StringRef> ranks = getTileRanks(tile);
  auto at = llvm::find(ranks, columns->rank);
  if (at == ranks.end())
    return std::nullopt;
  return at - ranks.begin();
}

SmallVector<int64_t> GpuStatePlan::getBufferShape(Value tile) const {
  SmallVector<int64_t> shape(
      cast<RankedTensorType>(tile.getType()).getShape());
  if (std::optional<unsigned> dim = getColumnDim(tile))
    shape[*dim] = columns->width;
  return shape;
}

int64_t GpuStatePlan::getOffset(Value value) const {
  auto it = offsets.find(value);
  assert(it != offsets.end() && "a tensor the plan placed no buffer for");
  return it->second;
}

LogicalResult GpuStatePlan::checkStateGrid() {
  WorkPlan work = schedule->getWork();
  GridOp state = work.stateGrid;
  if (!work.keyPartition || !work.queryPartition)
    return state.emitError("the GPU backend needs the query and the key rank "
                           "partitioned (cascade-partition-rank)");
  for (Operation &op : state.getBodyBlock()) {
    if (isa<EinsumOp, YieldOp>(op))
      continue;
    auto iterate = dyn_cast<IterateOp>(op);
    if (!iterate || stateIterate)
      return op.emitError("no GPU form yet for a state phase other than "
                          "initial values and one key iterate");
    stateIterate = iterate;
  }
  if (!stateIterate || stateIterate.getRank() != work.keyPartition.getOuter())
    return state.emitError("no GPU form yet for a state phase without a key "
                           "iterate over '")
           << work.keyPartition.getOuter() << "'";
  // Einsums after the iterate would read the final state before the query
  // tiles run: none is expected, and the lazy walk has no place for them.
  for (Operation *op = stateIterate->getNextNode(); op; op = op->getNextNode())
    if (isa<EinsumOp>(op))
      return op->emitError("no GPU form yet for an Einsum after the state "
                           "phase's key iterate");
  for (Operation &op : stateIterate.getBodyBlock())
    if (!isa<EinsumOp, YieldOp>(op))
      return op.emitError("no GPU form yet for '")
             << op.getName() << "' in the state phase's key iterate";
  for (Operation &op : schedule->getGrid().getBodyBlock())
    if (isa<GridOp>(op))
      return op.emitError("no GPU form yet for a nested grid");
  return success();
}

LogicalResult GpuStatePlan::findStateReads() {
  WorkPlan work = schedule->getWork();
  GridOp state = work.stateGrid;
  GridOp grid = schedule->getGrid();
  auto stateYield = cast<YieldOp>(state.getBodyBlock().getTerminator());
  auto iterateYield =
      cast<YieldOp>(stateIterate.getBodyBlock().getTerminator());
  unsigned carriedCount = stateIterate.getInits().size();
  llvm::StringSet<> workRanks;
  for (const WorkRankPlan &rank : work.ranks)
    workRanks.insert(rank.rank);
  SmallVector<std::pair<EinsumOp, AffineExpr>> stepReads;
  WalkResult walked = grid.getBodyBlock().walk([&](EinsumOp einsum) {
    for (auto [operand, input] : llvm::enumerate(einsum.getInputs())) {
      auto result = dyn_cast<OpResult>(input);
      if (!result || result.getOwner() != state.getOperation())
        continue;
      GpuStateRead read;
      read.reader = einsum;
      read.operand = operand;
      // The grid result is an iterate result: carried i, or stacked j
      // (the carried value it equals).
      auto iterateResult =
          cast<OpResult>(stateYield.getValues()[result.getResultNumber()]);
      unsigned number = iterateResult.getResultNumber();
      read.stacked = number >= carriedCount;
      read.carried = number;
      if (read.stacked) {
        Value entry = iterateYield.getValues()[number];
        read.carried =
            llvm::find(iterateYield.getValues().take_front(carriedCount),
                       entry) -
            iterateYield.getValues().begin();
      }
      auto ranks = cast<ArrayAttr>(
          state.getOutputs()[result.getResultNumber()]);
      std::optional<unsigned> stepDim;
      for (auto [d, rank] :
           llvm::enumerate(ranks.getAsValueRange<StringAttr>())) {
        if (workRanks.contains(rank))
          continue;
        if (read.stacked && rank == stateIterate.getRank())
          stepDim = d;
        else
          read.tileDims.push_back(d);
      }
      if (!read.stacked) {
        finalRead = true;
        reads.push_back(std::move(read));
        continue;
      }
      if (!stepDim) {
        einsum.emitError("a stacked state read without the step dimension");
        return WalkResult::interrupt();
      }
      read.stack = number;
      read.stepDim = *stepDim;
      AffineMap map =
          cast<AffineMapAttr>(einsum.getIndexingMaps()[operand]).getValue();
      stepReads.push_back({einsum, map.getResult(*stepDim)});
      reads.push_back(std::move(read));
    }
    return WalkResult::advance();
  });
  if (walked.wasInterrupted())
    return failure();
  if (stepReads.empty())
    return success();
  if (finalRead)
    return grid.emitError("no GPU form yet for a query grid that reads both "
                          "the final state and stacked steps");
  return boundStateSteps(stepReads);
}

LogicalResult GpuStatePlan::boundStateSteps(
    ArrayRef<std::pair<EinsumOp, AffineExpr>> stepReads) {
  WorkPlan work = schedule->getWork();
  GridOp grid = schedule->getGrid();
  MLIRContext *context = grid.getContext();
  StringRef queryOuter = work.queryPartition.getOuter();
  unsigned numDims = 1 + work.ranks.size();
  // The map's variables: the query tile index, then the work ranks; the
  // extents by name.
  auto blockDim = [&](StringRef rank) -> std::optional<AffineExpr> {
    if (rank == queryOuter)
      return getAffineDimExpr(0, context);
    auto at = llvm::find_if(
        work.ranks, [&](const WorkRankPlan &w) { return w.rank == rank; });
    if (at == work.ranks.end())
      return std::nullopt;
    return getAffineDimExpr(1 + (at - work.ranks.begin()), context);
  };
  auto symbolExpr = [&](StringRef name) {
    auto at = llvm::find(stepSymbols, name);
    if (at == stepSymbols.end()) {
      stepSymbols.push_back(name.str());
      at = stepSymbols.end() - 1;
    }
    return getAffineSymbolExpr(at - stepSymbols.begin(), context);
  };
  auto exact = [](AffineExpr base) { return OffsetBound{base, 0, 0}; };
  // The key tiles a query tile visits (its tile schedule's ranges): for
  // each range a lower and an upper bound over one base.
  auto keyWindow = [&](IterateOp iterate) -> std::optional<OffsetBound> {
    std::optional<TileScheduleAttr> tiles = iterate.getTiles();
    if (!tiles)
      return std::nullopt;
    SmallVector<std::optional<OffsetBound>> dims;
    for (auto [i, rank] :
         llvm::enumerate(tiles->getDims().getAsValueRange<StringAttr>())) {
      std::optional<AffineExpr> dim =
          i == 0 ? getAffineDimExpr(0, context) : blockDim(rank);
      dims.push_back(dim ? std::optional(exact(*dim)) : std::nullopt);
    }
    SmallVector<AffineExpr> symbols;
    for (StringRef name : tiles->getSymbols().getAsValueRange<StringAttr>())
      symbols.push_back(symbolExpr(name));
    SmallVector<OffsetBound> ranges;
    for (Attribute attribute : tiles->getRanges()) {
      auto range = cast<KeyRangeAttr>(attribute);
      std::optional<OffsetBound> narrowest;
      for (AffineExpr lower : range.getLower().getResults())
        for (AffineExpr upper : range.getUpper().getResults()) {
          std::optional<OffsetBound> from =
              boundOffsets(lower, dims, symbols, /*canonical=*/true);
          std::optional<OffsetBound> to =
              boundOffsets(upper, dims, symbols, /*canonical=*/true);
          if (!from || !to)
            continue;
          auto shift = dyn_cast<AffineConstantExpr>(simplifyAffineExpr(
              to->base - from->base, numDims, stepSymbols.size()));
          if (!shift)
            continue;
          OffsetBound visited{from->base, from->lo,
                              to->hi + shift.getValue() - 1};
          if (!narrowest ||
              visited.hi - visited.lo < narrowest->hi - narrowest->lo)
            narrowest = visited;
        }
      if (!narrowest)
        return std::nullopt;
      if (narrowest->lo <= narrowest->hi)
        ranges.push_back(*narrowest);
    }
    std::optional<SmallVector<OffsetBound>> aligned =
        alignBounds(ranges, numDims, stepSymbols.size());
    return aligned ? hullOfAligned(*aligned) : std::nullopt;
  };
  auto tileExtent = [&](StringRef rank) -> std::optional<int64_t> {
    if (rank == work.queryPartition.getInner())
      return work.queryPartition.getTile();
    if (rank == work.keyPartition.getInner())
      return work.keyPartition.getTile();
    auto at = work.tileExtents.find(rank);
    if (at == work.tileExtents.end())
      return std::nullopt;
    return at->second;
  };
  // One read's steps: the block's ranks as bases, a tile-local rank over
  // its tile, the key tile over the tiles the query tile visits.
  auto boundRead = [&](EinsumOp einsum, AffineExpr step,
                       bool canonical) -> std::optional<OffsetBound> {
    SmallVector<std::optional<OffsetBound>> dims;
    for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
      if (std::optional<AffineExpr> dim = blockDim(rank)) {
        dims.push_back(exact(*dim));
        continue;
      }
      auto iterate = einsum->getParentOfType<IterateOp>();
      if (iterate && iterate.getRank() == rank) {
        dims.push_back(keyWindow(iterate));
        continue;
      }
      std::optional<int64_t> extent = tileExtent(rank);
      dims.push_back(extent ? std::optional(OffsetBound{
                                  getAffineConstantExpr(0, context), 0,
                                  *extent - 1})
                            : std::nullopt);
    }
    SmallVector<AffineExpr> symbols;
    for (StringRef name : einsum.getSymbols().getAsValueRange<StringAttr>())
      symbols.push_back(symbolExpr(name));
    return boundOffsets(step, dims, symbols, canonical);
  };
  // Exact bases first (a single read keeps its step as written); where two
  // reads' bases differ by more than a constant, the canonical forms.
  std::optional<SmallVector<OffsetBound>> aligned;
  for (bool canonical : {false, true}) {
    SmallVector<OffsetBound> bounds;
    for (auto [reader, step] : stepReads) {
      EinsumOp einsum = reader;
      std::optional<OffsetBound> bound = boundRead(einsum, step, canonical);
      if (!bound)
        return einsum.emitError(
            "no GPU form yet for a stacked state read whose step is not the "
            "query tile's plus a bounded offset (it must depend on the query "
            "tile, the block's ranks and the extents, and within the tile "
            "only on tile-local ranks or the key tiles it visits)");
      bounds.push_back(*bound);
    }
    aligned = alignBounds(bounds, numDims, stepSymbols.size());
    if (aligned)
      break;
  }
  if (!aligned)
    return grid.emitError("no GPU form yet for stacked state reads whose "
                          "steps are not within a fixed window of one query "
                          "tile");
  OffsetBound window = *hullOfAligned(*aligned);
  if (!isNondecreasingIn(window.base, 0))
    return EinsumOp(stepReads.front().first).emitError(
        "no GPU form yet for a stacked state read whose step can decrease "
        "from one query tile to the next");
  stepMap = AffineMap::get(
      numDims, stepSymbols.size(),
      simplifyAffineExpr(window.base + window.hi, numDims,
                         stepSymbols.size()));
  // With the steps up to the window's last run, a stack read down to offset
  // lo keeps the entries from there: a ring of hi - lo + 1. Where every
  // read is of one step of a carried value, the carried state is that
  // entry and no ring is needed.
  unsigned carriedCount = stateIterate.getInits().size();
  bool carriedOnly = window.lo == window.hi;
  for (auto [read, bound] : llvm::zip(
           llvm::make_filter_range(
               reads, [](const GpuStateRead &read) { return read.stacked; }),
           *aligned)) {
    int64_t &depth = ringDepths[read.stack];
    depth = std::max(depth, window.hi - bound.lo + 1);
    carriedOnly &= read.carried < carriedCount;
  }
  if (carriedOnly)
    ringDepths.clear();
  return success();
}

bool GpuStatePlan::isSplittable(StringRef rank) const {
  GridOp state = schedule->getWork().stateGrid;
  GridOp grid = schedule->getGrid();
  // A tensor of the item (a buffer, indexed at the block's columns), not a
  // kernel argument or a value outside the grids (read at global ones).
  auto isLocal = [&](Value value) {
    Operation *scope = isa<BlockArgument>(value)
                           ? cast<BlockArgument>(value).getOwner()->getParentOp()
                           : value.getDefiningOp();
    return scope && (state->isAncestor(scope) || grid->isAncestor(scope));
  };
  for (GridOp each : {state, grid}) {
    WalkResult walked = each.getBodyBlock().walk([&](EinsumOp einsum) {
      // A reduction over the rank needs every column in one block.
      for (Attribute attribute : einsum.getReductions())
        if (cast<ReductionAttr>(attribute).getRank().getValue() == rank)
          return WalkResult::interrupt();
      int64_t position = einsum.getRankPosition(rank);
      for (auto [operand, input] : llvm::enumerate(einsum.getInputs())) {
        if (!isLocal(input))
          continue;
        SmallVector<StringRef> ranks = getTileRanks(input);
        AffineMap map =
            cast<AffineMapAttr>(einsum.getIndexingMaps()[operand]).getValue();
        if (ranks.size() != map.getNumResults())
          return WalkResult::interrupt();
        // The block's columns of a tensor are read at the same columns;
        // nothing else of the tensor depends on the rank.
        for (auto [d, expr] : llvm::enumerate(map.getResults())) {
          bool uses = position >= 0 && expr.isFunctionOfDim(position);
          if (ranks[d] == rank
                  ? position < 0 ||
                        expr != getAffineDimExpr(position, grid.getContext())
                  : uses)
            return WalkResult::interrupt();
        }
      }
      return WalkResult::advance();
    });
    if (walked.wasInterrupted())
      return false;
  }
  return true;
}

void GpuStatePlan::findColumnRank() {
  const WorkPlan &work = schedule->getWork();
  auto outputs = cast<ArrayAttr>(schedule->getGrid().getOutputs()[0]);
  for (auto [d, rank] :
       llvm::enumerate(outputs.getAsValueRange<StringAttr>())) {
    auto extent = work.tileExtents.find(rank);
    if (extent == work.tileExtents.end() || !isSplittable(rank))
      continue;
    columns = GpuColumnSplit{rank.str(), extent->second, extent->second,
                             static_cast<unsigned>(d)};
    return;
  }
}

LogicalResult GpuStatePlan::placeBuffers() {
  GridOp state = schedule->getWork().stateGrid;
  GridOp grid = schedule->getGrid();
  // Program order: the state phase, then the query grid; an iterate spans
  // [begin, end] around its body. The state steps run before each query
  // tile's body, when none of the query grid's buffers is live, so their
  // temporaries may share memory with the query grid's.
  llvm::DenseMap<Operation *, int64_t> position;
  llvm::DenseMap<Operation *, int64_t> iterateEnd;
  int64_t next = 0;
  std::function<void(Block &)> number = [&](Block &block) {
    for (Operation &op : block) {
      position[&op] = next++;
      if (auto iterate = dyn_cast<IterateOp>(op)) {
        number(iterate.getBodyBlock());
        iterateEnd[&op] = next++;
      }
    }
  };
  number(state.getBodyBlock());
  number(grid.getBodyBlock());
  const int64_t forever = next + 1;

  struct Interval {
    Value value;
    int64_t start, end, floats;
  };
  SmallVector<Interval> intervals;
  llvm::DenseMap<Value, Value> aliasOf;
  // The last position `value` (defined at `start`) is read at: a read
  // inside an iterate the definition is outside of lasts until that
  // iterate ends (its next step reads it again).
  auto lastUse = [&](Value value, Operation *defScope) {
    int64_t end = 0;
    for (Operation *user : value.getUsers()) {
      if (isa<YieldOp>(user) && isa<GridOp>(user->getParentOp())) {
        // The query grid's yield: stored after the body.
        end = std::max(end, position.lookup(user));
        continue;
      }
      int64_t at = position.lookup(user);
      if (isa<YieldOp>(user))
        at = iterateEnd.lookup(user->getParentOp());
      for (Operation *scope = user->getParentOp(); scope;
           scope = scope->getParentOp()) {
        if (scope == defScope || isa<GridOp, func::FuncOp>(scope))
          break;
        if (isa<IterateOp>(scope))
          at = std::max(at, iterateEnd.lookup(scope));
      }
      end = std::max(end, at);
    }
    return end;
  };
  auto floatsOf = [&](Value value) -> FailureOr<int64_t> {
    if (!cast<RankedTensorType>(value.getType()).hasStaticShape())
      return failure();
    return ShapedType::getNumElements(getBufferShape(value));
  };
  auto add = [&](Value value, int64_t start, int64_t end) -> LogicalResult {
    FailureOr<int64_t> floats = floatsOf(value);
    if (failed(floats))
      return emitError(value.getLoc(), "no GPU form yet for a tensor of a "
                                       "work item with a run-time shape");
    intervals.push_back({value, start, end, *floats});
    return success();
  };
  LogicalResult result = success();
  auto visit = [&](Block &block, auto &self) -> void {
    for (Operation &op : block) {
      if (auto einsum = dyn_cast<EinsumOp>(op)) {
        if (failed(add(einsum.getResult(), position.lookup(&op),
                       lastUse(einsum.getResult(), op.getParentOp()))))
          result = failure();
        continue;
      }
      auto iterate = dyn_cast<IterateOp>(op);
      if (!iterate)
        continue;
      bool isState = iterate == stateIterate;
      for (auto [argument, carried] :
           llvm::zip(iterate.getBodyBlock().getArguments(),
                     iterate.getCarriedResults())) {
        int64_t end = isState ? forever
                              : std::max({iterateEnd.lookup(iterate),
                                          lastUse(argument, iterate),
                                          lastUse(carried, nullptr)});
        if (failed(add(argument, position.lookup(iterate), end)))
          result = failure();
        aliasOf[carried] = argument;
      }
      self(iterate.getBodyBlock(), self);
    }
  };
  visit(state.getBodyBlock(), visit);
  visit(grid.getBodyBlock(), visit);
  if (failed(result))
    return failure();
  // The rings of the stacks read, for the whole kernel.
  for (auto [stack, depth] : ringDepths)
    intervals.push_back(
        {stateIterate->getResult(stack), position.lookup(stateIterate),
         forever,
         depth * ShapedType::getNumElements(getStackEntryShape(stack))});
  // The schedule plan's in-place decisions (the CPU kernel's): a carried
  // value updated elementwise at its own point writes its argument's
  // buffer, and an init used only by its iterate is the argument's buffer.
  // Such values share one buffer, live over the union of their intervals,
  // and the copies between them vanish.
  llvm::DenseMap<Value, unsigned> byValue;
  for (auto [i, interval] : llvm::enumerate(intervals))
    byValue[interval.value] = i;
  auto rootOf = [&](Value value) {
    while (true) {
      auto it = schedule->getBuffers().find(value);
      if (it == schedule->getBuffers().end() ||
          it->second.kind != BufferPlan::Kind::Alias ||
          !byValue.count(it->second.aliasOf))
        return value;
      value = it->second.aliasOf;
    }
  };
  llvm::MapVector<Value, Interval> groups;
  for (const Interval &interval : intervals) {
    Value root = rootOf(interval.value);
    auto [it, inserted] = groups.try_emplace(root, interval);
    it->second.value = root;
    if (inserted)
      continue;
    if (it->second.floats != interval.floats)
      return emitError(interval.value.getLoc(),
                       "an in-place update of a tensor of another size");
    it->second.start = std::min(it->second.start, interval.start);
    it->second.end = std::max(it->second.end, interval.end);
  }
  SmallVector<Interval> merged;
  for (auto &[root, interval] : groups)
    merged.push_back(interval);
  // First fit, in order of definition; offsets 16-byte aligned.
  llvm::stable_sort(merged, [](const Interval &a, const Interval &b) {
    return a.start < b.start;
  });
  SmallVector<std::pair<int64_t, const Interval *>> placed;
  for (const Interval &interval : merged) {
    int64_t offset = 0;
    bool moved = true;
    while (moved) {
      moved = false;
      for (auto [at, other] : placed) {
        bool liveTogether =
            other->start <= interval.end && interval.start <= other->end;
        bool overlaps =
            at < offset + interval.floats && offset < at + other->floats;
        if (liveTogether && overlaps) {
          offset = llvm::alignTo(at + other->floats, 4);
          moved = true;
        }
      }
    }
    placed.push_back({offset, &interval});
    sharedFloats = std::max(sharedFloats, offset + interval.floats);
  }
  llvm::DenseMap<Value, int64_t> rootOffsets;
  for (auto [offset, interval] : placed)
    rootOffsets[interval->value] = offset;
  for (const Interval &interval : intervals)
    offsets[interval.value] = rootOffsets.lookup(rootOf(interval.value));
  for (auto [result, argument] : aliasOf)
    offsets[result] = offsets.lookup(argument);
  return success();
}

FailureOr<GpuStatePlan> GpuStatePlan::compute(func::FuncOp function,
                                              const GpuTarget &target) {
  FailureOr<SchedulePlan> schedule = computeGpuSchedule(function, target);
  if (failed(schedule))
    return failure();
  GpuStatePlan plan(target, std::move(*schedule));
  if (!plan.schedule->getWork().stateGrid)
    return function.emitError("the state-phase GPU form needs a state phase");
  if (failed(plan.checkStateGrid()) || failed(plan.findStateReads()))
    return failure();
  int64_t optIn = target.sharedMemoryPerBlockOptIn;
  // The columns: up to 64 per block, as fla's chunk kernels split V, the
  // blocks as even as a multiple of 8 columns allows (a block's first
  // column starts a 16-byte run of a 16-bit row): 96 is two blocks of 48,
  // 160 three of 56 (the last 48). More blocks, down to kMinColumns
  // columns each, while the buffers do not fit. One block keeps every
  // column, as before.
  plan.findColumnRank();
  int64_t blocks =
      plan.columns ? llvm::divideCeil(plan.columns->extent, kColumnsPerBlock)
                   : 1;
  while (true) {
    if (plan.columns)
      plan.columns->width = std::min(
          plan.columns->extent,
          static_cast<int64_t>(llvm::alignTo(
              llvm::divideCeil(plan.columns->extent, blocks), kMinColumns)));
    plan.offsets.clear();
    plan.sharedFloats = 0;
    if (failed(plan.placeBuffers()))
      return failure();
    if (!plan.columns || plan.getSharedMemoryBytes() <= optIn ||
        plan.columns->width <= kMinColumns)
      break;
    blocks *= 2;
  }
  if (plan.columns && plan.columns->getBlocks() == 1)
    plan.columns.reset();
  // The form evaluates affine predicates only.
  WalkResult compares = function.walk([&](EinsumOp einsum) {
    if (einsum.getDataCompares().empty())
      return WalkResult::advance();
    einsum.emitError("no GPU form yet for data comparisons with a state "
                     "phase");
    return WalkResult::interrupt();
  });
  if (compares.wasInterrupted())
    return failure();
  // The carried state and the rings of its steps do not shrink with the
  // tiles: say so rather than suggest smaller ones.
  int64_t stateBytes = 0;
  IterateOp iterate = plan.stateIterate;
  auto stateYield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
  ValueRange carried =
      stateYield.getValues().take_front(iterate.getInits().size());
  for (Value argument : iterate.getBodyBlock().getArguments())
    stateBytes +=
        4 * ShapedType::getNumElements(plan.getBufferShape(argument));
  for (auto [stack, depth] : plan.ringDepths)
    if (llvm::is_contained(carried, stateYield.getValues()[stack]))
      stateBytes +=
          4 * depth * ShapedType::getNumElements(plan.getStackEntryShape(stack));
  if (stateBytes > optIn)
    return plan.schedule->getGrid().emitError("the state phase's carried "
                                              "state and the steps kept of "
                                              "it need ")
           << stateBytes << " bytes of shared memory whatever the tiles, more "
           << "than the " << optIn << " a block may use on " << target.chip
           << (plan.columns ? " with its columns of '" + plan.columns->rank +
                                  "' split " +
                                  std::to_string(plan.columns->width) +
                                  " per block"
                            : std::string(" (no rank of the output can be "
                                          "split over blocks: each is "
                                          "reduced or read at other "
                                          "columns)"));
  if (plan.getSharedMemoryBytes() > optIn)
    return plan.schedule->getGrid().emitError("the state phase's buffers need ")
           << plan.getSharedMemoryBytes()
           << " bytes of shared memory, more than the " << optIn
           << " a block may use on " << target.chip
           << "; use smaller query or key tiles";
  return plan;
}

void GpuStatePlan::annotate() const {
  GridOp grid = schedule->getGrid();
  Builder b(grid.getContext());
  SmallVector<NamedAttribute> attributes = {
      b.getNamedAttr("chip", b.getStringAttr(target.chip)),
      b.getNamedAttr("form", b.getStringAttr("state_phase")),
      b.getNamedAttr("threads", b.getI64IntegerAttr(getThreadsPerBlock())),
      b.getNamedAttr("shared_memory_bytes",
                     b.getI64IntegerAttr(getSharedMemoryBytes())),
      b.getNamedAttr("state_steps",
                     stepMap ? Attribute(AffineMapAttr::get(stepMap))
                     : finalRead ? Attribute(b.getStringAttr("all"))
                                 : Attribute(b.getStringAttr("none")))};
  if (!ringDepths.empty()) {
    SmallVector<int64_t> depths;
    for (auto [stack, depth] : ringDepths)
      depths.push_back(depth);
    attributes.push_back(
        b.getNamedAttr("step_rings", b.getDenseI64ArrayAttr(depths)));
  }
  if (usesDynamicSharedMemory())
    attributes.push_back(b.getNamedAttr(
        "dynamic_shared_bytes", b.getI64IntegerAttr(getDynamicSharedMemoryBytes())));
  if (columns)
    attributes.push_back(b.getNamedAttr(
        "column_split",
        b.getDictionaryAttr(
            {b.getNamedAttr("rank", b.getStringAttr(columns->rank)),
             b.getNamedAttr("width", b.getI64IntegerAttr(columns->width)),
             b.getNamedAttr("blocks",
                            b.getI64IntegerAttr(columns->getBlocks()))})));
  grid->setAttr("cascade.gpu_plan", b.getDictionaryAttr(attributes));
  for (GridOp each : {schedule->getWork().stateGrid, grid})
    each.getBodyBlock().walk([&](EinsumOp einsum) {
      SmallVector<NamedAttribute> entry = {
          b.getNamedAttr("form", b.getStringAttr("simt")),
          b.getNamedAttr("offset",
                         b.getI64IntegerAttr(getOffset(einsum.getResult())))};
      for (auto [operand, input] : llvm::enumerate(einsum.getInputs()))
        if (const GpuStateRead *read = getStateRead(einsum, operand))
          entry.push_back(b.getNamedAttr(
              "state_read", b.getStringAttr(read->stacked ? "stacked"
                                                          : "final")));
      einsum->setAttr("cascade.gpu_plan", b.getDictionaryAttr(entry));
    });
}
