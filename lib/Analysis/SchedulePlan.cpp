//===- SchedulePlan.cpp - How a scheduled cascade runs on a target --------===//
//
// Reads the scheduled form and decides, for a target description, what the
// emitters used to decide while creating ops: see SchedulePlan.h. Nothing
// here creates an op; every decision is a field of the plan.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/SchedulePlan.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::cascade;

//===----------------------------------------------------------------------===//
// TargetDescription
//===----------------------------------------------------------------------===//

TargetDescription TargetDescription::forCpu(int64_t vectorWidth) {
  TargetDescription target;
  target.name = vectorWidth >= 16 ? "avx512" : vectorWidth == 8 ? "avx2"
                                                                : "sse";
  target.vectorLanes = vectorWidth;
  // 32 vector registers with AVX-512, 16 with AVX2 (and SSE): 3/4 of them
  // accumulate, the rest hold the broadcast and loaded operands.
  target.accumulatorBudget = vectorWidth >= 16 ? 24 : 12;
  target.maxTileVectors = 6;
  target.staging = Staging::Stack;
  target.stagingLimitBytes = 2 << 20;
  // Whole-cache-line rows for AVX-512 loads.
  target.stagingAlignment = 64;
  return target;
}

std::optional<TargetDescription>
TargetDescription::byName(llvm::StringRef name) {
  if (name == "avx512")
    return forCpu(16);
  if (name == "avx2")
    return forCpu(8);
  return std::nullopt;
}

int64_t TargetDescription::getLanesFor(int64_t extent) const {
  for (int64_t lanes = vectorLanes; lanes > 1; lanes /= 2)
    if (extent % lanes == 0)
      return lanes;
  return 1;
}

//===----------------------------------------------------------------------===//
// Small pieces
//===----------------------------------------------------------------------===//

/// Bytes of a staging buffer of `shape` with elements of `bytesPerElement`
/// (f32 for every buffer: arithmetic is f32 throughout).
static int64_t getStagingBytesOf(ArrayRef<int64_t> shape,
                                 int64_t bytesPerElement = 4) {
  int64_t elements = 1;
  for (int64_t extent : shape)
    elements *= extent;
  return elements * bytesPerElement;
}

int64_t BufferPlan::getBytes() const { return getStagingBytesOf(shape); }

int64_t PackPlan::getBytes() const {
  return getStagingBytesOf(shape, elementType.getIntOrFloatBitWidth() / 8);
}

SmallVector<std::string> EinsumPlan::getLoopOrder() const {
  SmallVector<std::string> order(outerRanks);
  if (!rowRank.empty())
    order.push_back(rowRank);
  if (!vectorRank.empty())
    order.push_back(vectorRank);
  for (auto &[rank, kind] : reductions)
    order.push_back(rank);
  return order;
}

static SmallVector<std::string> toStrings(ArrayAttr ranks) {
  return llvm::to_vector(llvm::map_range(
      ranks.getAsValueRange<StringAttr>(),
      [](StringRef rank) { return rank.str(); }));
}

/// `expr` is `d_position + rest` with rest free of d_position.
static bool isUnitStrideIn(AffineExpr expr, unsigned position,
                           unsigned numDims, unsigned numSymbols) {
  MLIRContext *context = expr.getContext();
  AffineExpr d = getAffineDimExpr(position, context);
  AffineExpr difference =
      simplifyAffineExpr(expr.replace(d, d + 1) - expr, numDims, numSymbols);
  auto constant = dyn_cast<AffineConstantExpr>(difference);
  return constant && constant.getValue() == 1;
}

/// The query or key partition whose inner rank `rank` is, if any.
static PartitionOp getPartitionOfInner(const WorkPlan &work, StringRef rank) {
  for (PartitionOp cut : {work.queryPartition, work.keyPartition})
    if (cut && rank == cut.getInner())
      return cut;
  return nullptr;
}

bool SchedulePlan::isTileLocal(StringRef rank) const {
  return getPartitionOfInner(work, rank) || work.tileExtents.count(rank);
}

int64_t SchedulePlan::getLocalExtent(StringRef rank) const {
  if (PartitionOp cut = getPartitionOfInner(work, rank))
    return cut.getTile();
  auto it = work.tileExtents.find(rank);
  return it == work.tileExtents.end() ? 1 : it->second;
}

bool SchedulePlan::isPartial(StringRef rank) const {
  return static_cast<bool>(getPartitionOfInner(work, rank));
}

const BufferPlan &SchedulePlan::getBuffer(Value value) const {
  auto it = buffers.find(value);
  assert(it != buffers.end() && "no buffer planned for this value");
  return it->second;
}

const EinsumPlan &SchedulePlan::getEinsum(EinsumOp einsum) const {
  auto it = einsums.find(einsum.getOperation());
  assert(it != einsums.end() && "no plan for this Einsum");
  return it->second;
}

int64_t SchedulePlan::getStagingBytes() const {
  int64_t bytes = 0;
  for (Value value : staged)
    bytes += getBuffer(value).getBytes();
  for (const PackPlan &pack : packs)
    bytes += pack.getBytes();
  return bytes;
}

//===----------------------------------------------------------------------===//
// The work decomposition
//===----------------------------------------------------------------------===//

LogicalResult SchedulePlan::planWork(func::FuncOp function) {
  auto returnOp =
      cast<func::ReturnOp>(function.getBody().front().getTerminator());
  grid = returnOp.getNumOperands() >= 1
             ? returnOp.getOperand(0).getDefiningOp<GridOp>()
             : GridOp();
  if (!grid)
    return returnOp.emitError(
        "the plan covers the scheduled form: the function's results must "
        "be a cascade.grid's (run cascade-partition-rank)");
  // Several results (O and its log-sum-exp) come from one grid, in order:
  // the work items are laid out over the first one.
  if (returnOp.getOperands() != ValueRange(grid.getResults()))
    return returnOp.emitError("the plan covers functions whose results are "
                              "one grid's results, in order");
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return function.emitError("the ranks of this function are inconsistent");

  for (NamedAttribute entry : grid.getTileExtents())
    work.tileExtents[entry.getName().getValue()] =
        cast<IntegerAttr>(entry.getValue()).getInt();
  for (auto other : function.getBody().front().getOps<GridOp>()) {
    if (other == grid)
      continue;
    if (work.stateGrid)
      return other.emitError("the plan covers one state phase (a grid "
                             "before the query grid), not two");
    work.stateGrid = other;
    // The state phase's tile-local ranks (a scan's second position rank).
    for (NamedAttribute entry : other.getTileExtents())
      work.tileExtents.try_emplace(
          entry.getName().getValue(),
          cast<IntegerAttr>(entry.getValue()).getInt());
  }
  SmallVector<std::string> resultRanks = toStrings(
      cast<ArrayAttr>(grid.getOutputs()[0]));
  for (StringRef rank : grid.getRanks().getAsValueRange<StringAttr>()) {
    WorkRankPlan item;
    item.rank = rank.str();
    StringRef inResult = rank;
    if (PartitionOp partition = env->getPartitionOfOuter(rank)) {
      if (work.queryPartition)
        return grid.emitError("the plan tiles one rank of the work grid, "
                              "not '")
               << work.queryPartition.getRank() << "' and '"
               << partition.getRank() << "'";
      work.queryPartition = partition;
      item.tile = partition.getTile();
      inResult = partition.getRank();
    }
    auto *found = llvm::find(resultRanks, inResult);
    // The grid's verifier makes every result cover every grid rank.
    if (found == resultRanks.end())
      return grid.emitError("the result does not cover work rank '")
             << rank << "'";
    item.resultDim = found - resultRanks.begin();
    work.ranks.push_back(item);
  }
  if (!work.queryPartition)
    return grid.emitError("a work grid needs a query tile: a grid rank "
                          "that cuts a rank (cascade.partition p = p1 * T + "
                          "p0)");
  if (GridOp state = work.stateGrid) {
    // Items are the state grid's points; the query tiles are looped inside.
    SmallVector<std::string> expected;
    for (const WorkRankPlan &rank : work.ranks)
      if (rank.tile == 1)
        expected.push_back(rank.rank);
    if (toStrings(state.getRanks()) != expected)
      return state.emitError("a state phase runs over the query grid's "
                             "ranks but the query tile (")
             << llvm::join(expected, ", ") << "), in that order";
    if (!state->isBeforeInBlock(grid))
      return state.emitError("the state phase must come before the query "
                             "grid");
    SmallVector<WorkRankPlan> items;
    for (WorkRankPlan &rank : work.ranks)
      (rank.tile == 1 ? items : work.innerRanks).push_back(rank);
    work.ranks = std::move(items);
  }
  for (auto partition : function.getBody().front().getOps<PartitionOp>()) {
    if (partition == work.queryPartition)
      continue;
    if (work.keyPartition)
      return partition.emitError(
          "a work item streams one partitioned key rank; '")
             << work.keyPartition.getRank() << "' is streamed already";
    work.keyPartition = partition;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The buffer plan
//===----------------------------------------------------------------------===//

void SchedulePlan::stage(Value value, SmallVector<std::string> tensorRanks) {
  BufferPlan buffer;
  buffer.kind = BufferPlan::Kind::Staged;
  buffer.tensorRanks = std::move(tensorRanks);
  for (const std::string &rank : buffer.tensorRanks)
    if (isTileLocal(rank)) {
      buffer.ranks.push_back(rank);
      buffer.shape.push_back(getLocalExtent(rank));
    }
  buffers[value] = std::move(buffer);
  staged.push_back(value);
}

/// Whether `einsum` (inside an iterate) may write the carried buffer of
/// `argument` in place: elementwise, reading it only at its own point, and
/// nothing after it reads the old value.
static bool canWriteInPlace(EinsumOp einsum, BlockArgument argument) {
  if (!einsum.getReductions().empty())
    return false;
  for (OpOperand &use : argument.getUses()) {
    Operation *user = use.getOwner();
    if (user == einsum) {
      AffineMap map = cast<AffineMapAttr>(
                          einsum.getIndexingMaps()[use.getOperandNumber()])
                          .getValue();
      ArrayAttr output = einsum.getOutput();
      if (map.getNumResults() != output.size())
        return false;
      for (auto [expr, rank] : llvm::zip(map.getResults(), output)) {
        auto dim = dyn_cast<AffineDimExpr>(expr);
        if (!dim || einsum.getRanks()[dim.getPosition()] != rank)
          return false;
      }
      continue;
    }
    if (isa<YieldOp>(user))
      continue;
    // Every other reader must come before the in-place write.
    if (!user->isBeforeInBlock(einsum))
      return false;
  }
  return true;
}

LogicalResult SchedulePlan::planBuffers(func::FuncOp function) {
  for (BlockArgument argument : function.getArguments())
    if (isa<RankedTensorType>(argument.getType())) {
      BufferPlan buffer;
      buffer.kind = BufferPlan::Kind::Argument;
      buffers[argument] = buffer;
    }

  // Program order, into the grid's and the iterates' bodies.
  std::function<LogicalResult(Block &)> planBlock =
      [&](Block &block) -> LogicalResult {
    for (Operation &op : block) {
      if (isa<PartitionOp, func::ReturnOp, YieldOp>(op))
        continue;
      if (auto nested = dyn_cast<GridOp>(op)) {
        // The query grid and the state phase (planWork checked there are
        // no others): a result is the tile its item yields.
        if (failed(planBlock(nested.getBodyBlock())))
          return failure();
        auto yield = cast<YieldOp>(nested.getBodyBlock().getTerminator());
        for (auto [result, tile, ranks] : llvm::zip(
                 nested.getResults(), yield.getValues(), nested.getOutputs())) {
          BufferPlan alias;
          alias.kind = BufferPlan::Kind::Alias;
          alias.aliasOf = tile;
          alias.tensorRanks = toStrings(cast<ArrayAttr>(ranks));
          buffers[result] = alias;
        }
        continue;
      }
      if (auto iterate = dyn_cast<IterateOp>(op)) {
        if (!work.keyPartition ||
            iterate.getRank() != work.keyPartition.getOuter())
          return iterate.emitError("a work item iterates the outer rank of "
                                   "the key partition only");
        if (keyLoop)
          return iterate.emitError("a work item has one key loop");
        Block &body = iterate.getBodyBlock();
        for (auto [init, argument] :
             llvm::zip(iterate.getInits(), body.getArguments())) {
          auto it = buffers.find(init);
          if (it == buffers.end() ||
              it->second.kind == BufferPlan::Kind::Argument)
            return iterate.emitError("a work item carries tensors it "
                                     "computes, not arguments");
          SmallVector<std::string> ranks = it->second.tensorRanks;
          // An init used only here is updated in place.
          if (init.hasOneUse()) {
            BufferPlan alias;
            alias.kind = BufferPlan::Kind::Alias;
            alias.aliasOf = init;
            alias.tensorRanks = ranks;
            buffers[argument] = alias;
          } else {
            stage(argument, ranks);
            buffers[argument].copiedFromInit = true;
          }
        }
        keyLoop = iterate;
        if (failed(planBlock(body)) || failed(planDataBounds(iterate)))
          return failure();
        keyLoop = nullptr;
        for (auto [result, argument] :
             llvm::zip(iterate.getCarriedResults(), body.getArguments())) {
          BufferPlan alias;
          alias.kind = BufferPlan::Kind::Alias;
          alias.aliasOf = argument;
          alias.tensorRanks = buffers[argument].tensorRanks;
          buffers[result] = alias;
        }
        if (iterate.getNumStacked() != 0 &&
            iterate->getParentOp() != work.stateGrid)
          return iterate.emitError("a work item stacks the steps of the "
                                   "state phase's iterate only");
        auto yield = cast<YieldOp>(body.getTerminator());
        for (auto [result, yielded] : llvm::zip(
                 iterate.getStackedResults(),
                 yield.getValues().drop_front(iterate.getInits().size()))) {
          // The step's own buffer (a carried tensor updated in place is an
          // alias of its init's).
          const BufferPlan &step = getOwnBuffer(yielded);
          BufferPlan stacked;
          stacked.kind = BufferPlan::Kind::Stacked;
          stacked.tensorRanks = {iterate.getRank().str()};
          llvm::append_range(stacked.tensorRanks, step.tensorRanks);
          stacked.ranks = {iterate.getRank().str()};
          llvm::append_range(stacked.ranks, step.ranks);
          stacked.shape = {ShapedType::kDynamic};
          llvm::append_range(stacked.shape, step.shape);
          buffers[result] = stacked;
        }
        continue;
      }
      auto einsum = dyn_cast<EinsumOp>(op);
      if (!einsum)
        return op.emitError("a work item runs cascade ops only, not '")
               << op.getName() << "'";
      SmallVector<std::string> ranks = toStrings(einsum.getOutput());
      std::optional<BlockArgument> carried;
      if (auto iterate = dyn_cast<IterateOp>(einsum->getParentOp())) {
        // Only the carried values have a block argument to write into; the
        // stacked ones that follow them are per-step outputs.
        auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
        for (auto [i, yielded] : llvm::enumerate(
                 yield.getValues().take_front(iterate.getInits().size())))
          if (yielded == einsum.getResult() &&
              canWriteInPlace(einsum, iterate.getBodyBlock().getArgument(i))) {
            carried = iterate.getBodyBlock().getArgument(i);
            break;
          }
      }
      if (carried) {
        BufferPlan alias;
        alias.kind = BufferPlan::Kind::Alias;
        alias.aliasOf = *carried;
        alias.tensorRanks = ranks;
        buffers[einsum.getResult()] = alias;
      } else {
        stage(einsum.getResult(), ranks);
      }
      if (failed(planEinsum(einsum)))
        return failure();
    }
    return success();
  };
  return planBlock(function.getBody().front());
}

//===----------------------------------------------------------------------===//
// Einsum loop nests
//===----------------------------------------------------------------------===//

LogicalResult SchedulePlan::planEinsum(EinsumOp einsum) {
  EinsumPlan plan;
  plan.inKeyLoop = static_cast<bool>(keyLoop);
  GridOp enclosing = einsum->getParentOfType<GridOp>();
  plan.perItem = !enclosing;
  plan.inStatePhase = enclosing && enclosing == work.stateGrid;
  auto isFixed = [&](StringRef rank) {
    return grid.fixesRank(rank) ||
           (keyLoop && rank == keyLoop.getRank());
  };
  if (einsum.getPredicate() && einsum.getDataCompares().empty()) {
    plan.maskPerItem = true;
    for (IntegerSet conjunction : einsum.getDisjuncts())
      for (AffineExpr expr : conjunction.getConstraints())
        for (auto [position, rank] : llvm::enumerate(
                 einsum.getRanks().getAsValueRange<StringAttr>()))
          if (expr.isFunctionOfDim(position) &&
              (isTileLocal(rank) || !isFixed(rank) || einsum.isReduced(rank)))
            plan.maskPerItem = false;
  }
  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
    if (!isTileLocal(rank) && !isFixed(rank))
      return einsum.emitError("rank '")
             << rank << "' of this Einsum is neither a work rank, the query "
                "tile, the key tile nor a head dimension (stream the key "
                "rank with cascade-stream-rank)";

  // The output's tile-local ranks: the last is the vector rank, the one
  // before it the register tile's rows, the others plain loops.
  SmallVector<std::string> bufferRanks;
  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
    if (isTileLocal(rank))
      bufferRanks.push_back(rank.str());
  if (!bufferRanks.empty()) {
    plan.vectorRank = bufferRanks.back();
    int64_t extent = getLocalExtent(plan.vectorRank);
    plan.lanes = target.getLanesFor(extent);
    plan.vectorsPerRow = extent / plan.lanes;
  }
  if (bufferRanks.size() >= 2)
    plan.rowRank = bufferRanks[bufferRanks.size() - 2];
  for (size_t i = 0; i + 2 < bufferRanks.size(); ++i)
    plan.outerRanks.push_back(bufferRanks[i]);

  for (Attribute attr : llvm::reverse(einsum.getReductions())) {
    auto reduction = cast<ReductionAttr>(attr);
    StringRef rank = reduction.getRank().getValue();
    if (!isTileLocal(rank))
      return einsum.emitError("rank '")
             << rank
             << "' cannot be reduced inside a work item: only the key "
                "rank's tile, the query tile and compile-time head "
                "dimensions are loops there (stream the key rank with "
                "cascade-stream-rank)";
    plan.reductions.push_back({rank.str(), reduction.getKind()});
  }

  // The register tile: with reductions, rows x vectors accumulators in
  // flight (an FMA's latency times its pipes needs at least 8 independent
  // chains), as many vectors per row as divide the row, then as many rows
  // as the budget allows.
  if (!plan.reductions.empty() && !plan.vectorRank.empty()) {
    int64_t budget = target.accumulatorBudget;
    for (int64_t candidate = std::min<int64_t>(plan.vectorsPerRow, budget / 2);
         candidate >= 1; --candidate)
      if (plan.vectorsPerRow % candidate == 0 &&
          candidate <= target.maxTileVectors) {
        plan.tileVectors = candidate;
        break;
      }
    if (!plan.rowRank.empty())
      plan.tileRows = std::max<int64_t>(
          1, std::min<int64_t>(budget / plan.tileVectors,
                               getLocalExtent(plan.rowRank)));
  }

  for (unsigned i = 0; i < einsum.getInputs().size(); ++i)
    if (failed(planOperand(einsum, plan, i)))
      return failure();
  for (unsigned i = 0; i < einsum.getDataInputs().size(); ++i)
    if (failed(planDataRead(einsum, plan, i)))
      return failure();
  einsums[einsum.getOperation()] = std::move(plan);
  return success();
}

/// Whether an index expression over `rankNames` changes from one key step
/// to the next (it mentions a rank of the key partition).
static bool dependsOnKeyStep(ArrayRef<AffineExpr> indices,
                             ArrayRef<std::string> rankNames,
                             PartitionOp keyPartition) {
  if (!keyPartition)
    return false;
  for (AffineExpr expr : indices)
    for (auto [position, rank] : llvm::enumerate(rankNames))
      if (expr.isFunctionOfDim(position) &&
          (rank == keyPartition.getInner() || rank == keyPartition.getOuter() ||
           rank == keyPartition.getRank()))
        return true;
  return false;
}

const BufferPlan &SchedulePlan::getOwnBuffer(Value value) const {
  const BufferPlan *at = &getBuffer(value);
  while (at->kind == BufferPlan::Kind::Alias)
    at = &getBuffer(at->aliasOf);
  return *at;
}

LogicalResult SchedulePlan::checkRenamedRead(EinsumOp einsum,
                                             StringRef sourceRank,
                                             StringRef readAt) const {
  if (!isTileLocal(sourceRank) || !isTileLocal(readAt) || isPartial(readAt) ||
      getLocalExtent(sourceRank) != getLocalExtent(readAt))
    return failure();
  if (!isPartial(sourceRank))
    return success();
  // The source's rows past the valid count of a partial tile are never
  // written: every conjunction of the predicate must keep `readAt` among
  // the valid rows, by `readAt <= sourceRank` (sourceRank an output rank,
  // whose loop stops at the valid count) or `outer * T + readAt < N` for
  // the source's partition.
  PartitionOp cut = getPartitionOfInner(work, sourceRank);
  SmallVector<IntegerSet> disjuncts = einsum.getDisjuncts();
  if (disjuncts.empty() || !einsum.getDataCompares().empty())
    return failure();
  for (IntegerSet conjunction : disjuncts) {
    bool bounded = false;
    for (unsigned c = 0; c < conjunction.getNumConstraints() && !bounded;
         ++c) {
      if (conjunction.isEq(c))
        continue;
      llvm::StringMap<int64_t> coefficients;
      AffineExpr symbolic;
      if (failed(einsum.getRankCoefficients(conjunction.getConstraint(c),
                                            coefficients, symbolic)))
        continue;
      auto constant = dyn_cast<AffineConstantExpr>(symbolic);
      if (coefficients.size() == 2 && coefficients.lookup(readAt) == -1 &&
          coefficients.lookup(sourceRank) == 1 && constant &&
          constant.getValue() == 0 &&
          llvm::is_contained(einsum.getOutput().getAsValueRange<StringAttr>(),
                             sourceRank))
        bounded = true;
      // -(outer * T + readAt) + N - 1 >= 0.
      if (coefficients.size() == 2 && coefficients.lookup(readAt) == -1 &&
          coefficients.lookup(cut.getOuter()) == -cut.getTile()) {
        unsigned numDims = einsum.getRanks().size(),
                 numSymbols = einsum.getSymbols().size();
        for (auto [i, name] : llvm::enumerate(
                 einsum.getSymbols().getAsValueRange<StringAttr>()))
          if (name == cut.getRank() &&
              simplifyAffineExpr(
                  symbolic - getAffineSymbolExpr(i, einsum.getContext()) + 1,
                  numDims, numSymbols) ==
                  getAffineConstantExpr(0, einsum.getContext()))
            bounded = true;
      }
    }
    if (!bounded)
      return failure();
  }
  return success();
}

LogicalResult SchedulePlan::planOperand(EinsumOp einsum, EinsumPlan &plan,
                                        unsigned index) {
  Value operand = einsum.getInputs()[index];
  auto it = buffers.find(operand);
  if (it == buffers.end())
    return einsum.emitError("operand #")
           << index << " is not computed inside the work item";
  const BufferPlan &source = it->second;
  // Stacked steps are read like an argument: at the operand's own indices.
  BufferPlan::Kind own = getOwnBuffer(operand).kind;
  bool isArgument = source.kind == BufferPlan::Kind::Argument ||
                    own == BufferPlan::Kind::Stacked;
  SmallVector<std::string> rankNames = toStrings(einsum.getRanks());
  AffineMap map =
      cast<AffineMapAttr>(einsum.getIndexingMaps()[index]).getValue();
  unsigned numDims = map.getNumDims(), numSymbols = map.getNumSymbols();

  SmallVector<AffineExpr> indices;
  if (isArgument) {
    indices.assign(map.getResults().begin(), map.getResults().end());
  } else {
    // Tensors of the work item are read at their own coordinates: cascade
    // rank names mean one index space throughout a function.
    for (auto [dim, rank] : llvm::enumerate(source.tensorRanks)) {
      auto dimExpr = dyn_cast<AffineDimExpr>(map.getResult(dim));
      StringRef readAt =
          dimExpr ? StringRef(rankNames[dimExpr.getPosition()]) : "";
      if (dimExpr && readAt != rank &&
          succeeded(checkRenamedRead(einsum, rank, readAt)))
        ; // Another tile-local rank walking the same tile (a scan).
      else if (!dimExpr || readAt != rank)
        return einsum.emitError("operand #")
               << index << " is read at an index other than a bare rank "
               << "in dimension " << dim
               << "; a work item reads the tensors it computes at their own "
                  "rank '"
               << rank << "' (or at another tile-local rank of the same "
                  "extent that the predicate keeps inside the tile)";
      if (isTileLocal(rank))
        indices.push_back(dimExpr);
    }
  }

  OperandPlan access;
  int64_t vPosition =
      plan.vectorRank.empty() ? -1 : einsum.getRankPosition(plan.vectorRank);
  bool mentionsVector = false, onlyInnermost = true;
  for (auto [dim, expr] : llvm::enumerate(indices)) {
    if (vPosition < 0 || !expr.isFunctionOfDim(vPosition))
      continue;
    mentionsVector = true;
    if (dim + 1 != indices.size() ||
        !isUnitStrideIn(expr, vPosition, numDims, numSymbols))
      onlyInnermost = false;
  }
  // A contiguous read of an argument along a partial rank could run past
  // the tensor's end in the last tile: it is packed (zeros outside).
  if (!mentionsVector) {
    access.kind = OperandPlan::Kind::Broadcast;
  } else if (onlyInnermost && (!isArgument || !isPartial(plan.vectorRank))) {
    access.kind = OperandPlan::Kind::Contiguous;
  } else {
    PackPlan pack;
    pack.source = operand;
    pack.reader = einsum;
    pack.indices = indices;
    for (AffineExpr expr : indices)
      for (auto [position, rank] : llvm::enumerate(rankNames))
        if (expr.isFunctionOfDim(position) && rank != plan.vectorRank &&
            !grid.fixesRank(rank) &&
            !(keyLoop && rank == keyLoop.getRank()) &&
            !llvm::is_contained(pack.ranks, rank)) {
          if (!isTileLocal(rank))
            return einsum.emitError("cannot pack operand #")
                   << index << " indexed by rank '" << rank
                   << "' for vector loads";
          pack.ranks.push_back(rank);
        }
    pack.ranks.push_back(plan.vectorRank);
    for (const std::string &rank : pack.ranks)
      pack.shape.push_back(getLocalExtent(rank));
    // Made once before the key loop unless the source or the index changes
    // per key step.
    bool dependsOnStep =
        (keyLoop && operand.getParentBlock() == &keyLoop.getBodyBlock()) ||
        dependsOnKeyStep(indices, rankNames, work.keyPartition);
    pack.hoisted = keyLoop && !dependsOnStep;

    pack.elementType = Float32Type::get(einsum.getContext());
    access.kind = OperandPlan::Kind::Packed;
    access.pack = addPack(std::move(pack));
  }
  plan.operands.push_back(access);
  return success();
}

unsigned SchedulePlan::addPack(PackPlan pack) {
  // Shared with an earlier identical pack: the same source, the same
  // indices over the same rank names, the same pack ranks.
  auto sameAs = [&](const PackPlan &other) {
    if (other.source != pack.source || other.ranks != pack.ranks ||
        other.hoisted != pack.hoisted ||
        other.elementType != pack.elementType ||
        other.indices.size() != pack.indices.size())
      return false;
    if (toStrings(EinsumOp(other.reader).getRanks()) !=
        toStrings(EinsumOp(pack.reader).getRanks()))
      return false;
    return llvm::equal(other.indices, pack.indices);
  };
  auto *existing = llvm::find_if(packs, sameAs);
  unsigned index = existing - packs.begin();
  if (existing == packs.end())
    packs.push_back(std::move(pack));
  return index;
}

LogicalResult SchedulePlan::planDataRead(EinsumOp einsum, EinsumPlan &plan,
                                         unsigned index) {
  Value ids = einsum.getDataInputs()[index];
  auto it = buffers.find(ids);
  if (it == buffers.end() || it->second.kind != BufferPlan::Kind::Argument)
    return einsum.emitError("data input #")
           << index << " must be an argument of the function (a tensor of "
              "ids), not a tensor the work item computes";
  SmallVector<std::string> rankNames = toStrings(einsum.getRanks());
  AffineMap map = einsum.getDataMap(index);
  // Ids are read over whole tiles (their ranges, their packs) regardless of
  // the predicate, so every index must stay inside at every coordinate of
  // its ranks: a bare rank, or a partitioned one (m1 * T + m0), whose
  // extent the shape check binds to the dimension it indexes.
  auto isWholeRank = [&](AffineExpr expr) {
    if (isa<AffineDimExpr>(expr))
      return true;
    for (PartitionOp cut : {work.queryPartition, work.keyPartition}) {
      if (!cut)
        continue;
      auto position = [&](StringRef rank) {
        return static_cast<unsigned>(llvm::find(rankNames, rank) -
                                     rankNames.begin());
      };
      unsigned outer = position(cut.getOuter()), inner = position(cut.getInner());
      if (outer < rankNames.size() && inner < rankNames.size() &&
          expr == getAffineDimExpr(outer, einsum.getContext()) *
                          static_cast<int64_t>(cut.getTile()) +
                      getAffineDimExpr(inner, einsum.getContext()))
        return true;
    }
    return false;
  };
  for (auto [dim, expr] : llvm::enumerate(map.getResults()))
    if (!isWholeRank(expr))
      return einsum.emitError("data input #")
             << index << " is read at an index other than a rank in "
             << "dimension " << dim
             << "; the CPU backend reads ids over whole tiles, so it takes "
                "`%D[b, m]`-style reads (bare ranks) only";
  PackPlan pack;
  pack.source = ids;
  pack.reader = einsum;
  pack.indices.assign(map.getResults().begin(), map.getResults().end());
  pack.elementType = cast<ShapedType>(ids.getType()).getElementType();
  bool alongVector = false;
  for (auto [i, rank] : llvm::enumerate(rankNames)) {
    unsigned position = i;
    if (!llvm::any_of(pack.indices, [&](AffineExpr expr) {
          return expr.isFunctionOfDim(position);
        }))
      continue;
    if (grid.fixesRank(rank) || (keyLoop && rank == keyLoop.getRank()))
      continue;
    if (!isTileLocal(rank))
      return einsum.emitError("data input #")
             << index << " is read at rank '" << rank
             << "', which is neither fixed for a work item nor a rank of "
                "its tiles";
    if (rank == plan.vectorRank)
      alongVector = true;
    else
      pack.ranks.push_back(rank);
  }
  OperandPlan access;
  if (pack.ranks.empty() && !alongVector) {
    // One id for the item or the key step: read where it is used.
    plan.dataReads.push_back(access);
    return success();
  }
  if (alongVector)
    pack.ranks.push_back(plan.vectorRank);
  for (const std::string &rank : pack.ranks)
    pack.shape.push_back(getLocalExtent(rank));
  pack.hoisted = plan.inKeyLoop &&
                 !dependsOnKeyStep(pack.indices, rankNames, work.keyPartition);
  access.kind = OperandPlan::Kind::Packed;
  access.alongVector = alongVector;
  access.pack = addPack(std::move(pack));
  plan.dataReads.push_back(access);
  return success();
}

LogicalResult SchedulePlan::planDataBounds(IterateOp iterate) {
  std::optional<TileScheduleAttr> tiles = iterate.getTiles();
  if (!tiles || !tiles->getData() || tiles->getData().empty())
    return success();
  DataBoundsPlan bounds;
  for (auto einsum : iterate.getBodyBlock().getOps<EinsumOp>())
    if (!einsum.getDataCompares().empty()) {
      bounds.reader = einsum;
      break;
    }
  if (!bounds.reader)
    return iterate.emitError("the tile schedule lists data comparisons but "
                             "no Einsum of the key loop has them");
  EinsumOp reader = bounds.reader;
  SmallVector<std::string> rankNames = toStrings(reader.getRanks());
  std::string query = work.queryPartition ? work.queryPartition.getInner().str()
                                          : std::string();
  std::string key = work.keyPartition.getInner().str();
  for (unsigned i = 0; i < reader.getDataInputs().size(); ++i) {
    AffineMap map = reader.getDataMap(i);
    std::string varies;
    for (auto [i, rank] : llvm::enumerate(rankNames)) {
      unsigned position = i;
      if (!llvm::any_of(map.getResults(), [&](AffineExpr expr) {
            return expr.isFunctionOfDim(position);
          }))
        continue;
      if (grid.fixesRank(rank) || rank == iterate.getRank())
        continue;
      if ((rank != query && rank != key) || !varies.empty())
        return reader.emitError("data input #")
               << i << " varies with rank '" << rank
               << "'; a tile's id bounds are taken over the query tile's "
                  "rows or the key tile's keys, so a read may vary with '"
               << query << "' or '" << key << "', not both or others";
      varies = rank;
    }
    bounds.varies.push_back(varies);
  }
  dataBounds = std::move(bounds);
  return success();
}

//===----------------------------------------------------------------------===//
// The whole plan
//===----------------------------------------------------------------------===//

FailureOr<SchedulePlan>
SchedulePlan::compute(func::FuncOp function, const TargetDescription &target) {
  SchedulePlan plan(target);
  plan.function = function;
  if (failed(plan.planWork(function)) || failed(plan.planBuffers(function)))
    return failure();
  int64_t bytes = plan.getStagingBytes();
  if (bytes > target.stagingLimitBytes)
    return function.emitError("the kernel's buffers take ")
           << bytes << " bytes of "
           << (target.staging == TargetDescription::Staging::Stack
                   ? "stack"
                   : "shared memory")
           << " per work item, more than the " << target.stagingLimitBytes
           << " allowed: lower the query tile or the key tile";
  return plan;
}

//===----------------------------------------------------------------------===//
// The plan as attributes
//===----------------------------------------------------------------------===//

static ArrayAttr getStringArray(Builder &b, ArrayRef<std::string> strings) {
  return b.getStrArrayAttr(llvm::to_vector(llvm::map_range(
      strings, [](const std::string &s) { return StringRef(s); })));
}

void SchedulePlan::annotate() const {
  Builder b(GridOp(grid).getContext());
  SmallVector<std::string> items, inner;
  for (const WorkRankPlan &rank : work.innerRanks)
    inner.push_back(rank.rank + " < ceildiv(out." +
                    std::to_string(rank.resultDim) + ", " +
                    std::to_string(rank.tile) + ")");
  for (const WorkRankPlan &rank : work.ranks) {
    std::string dim = "out." + std::to_string(rank.resultDim);
    items.push_back(rank.tile == 1 ? dim
                                   : "ceildiv(" + dim + ", " +
                                         std::to_string(rank.tile) + ")");
  }
  SmallVector<NamedAttribute> gridPlan = {
      b.getNamedAttr("target", b.getStringAttr(target.name)),
      b.getNamedAttr("staging",
                     b.getStringAttr(target.staging ==
                                             TargetDescription::Staging::Stack
                                         ? "stack"
                                         : "shared")),
      b.getNamedAttr("staging_bytes", b.getI64IntegerAttr(getStagingBytes())),
      b.getNamedAttr("buffers", b.getI64IntegerAttr(staged.size())),
      b.getNamedAttr("packs", b.getI64IntegerAttr(packs.size())),
      b.getNamedAttr("work_ranks",
                     getStringArray(b, llvm::to_vector(llvm::map_range(
                                           work.ranks, [](auto &r) {
                                             return r.rank;
                                           })))),
      b.getNamedAttr("work_extents", getStringArray(b, items)),
  };
  if (!inner.empty())
    gridPlan.push_back(
        b.getNamedAttr("loops_in_item", getStringArray(b, inner)));
  GridOp(grid)->setAttr("cascade.plan", b.getDictionaryAttr(gridPlan));
  // The heap buffers of stacked steps, over their ranks.
  if (GridOp state = work.stateGrid)
    state.walk([&](IterateOp iterate) {
      SmallVector<Attribute> stacked;
      for (Value result : iterate.getStackedResults())
        stacked.push_back(getStringArray(b, getBuffer(result).ranks));
      if (!stacked.empty())
        iterate->setAttr("cascade.plan",
                         b.getDictionaryAttr({b.getNamedAttr(
                             "stacked_on_heap", b.getArrayAttr(stacked))}));
    });
  if (dataBounds) {
    // Which tile each read's id range is taken over ("" : fixed).
    Operation *loop = dataBounds->reader->getParentOp();
    loop->setAttr("cascade.plan",
                  b.getDictionaryAttr({b.getNamedAttr(
                      "data_bounds", getStringArray(b, dataBounds->varies))}));
  }

  for (auto &[op, plan] : einsums) {
    auto einsum = cast<EinsumOp>(op);
    const BufferPlan &result = getBuffer(einsum.getResult());
    auto describe = [&](const OperandPlan &operand) -> std::string {
      switch (operand.kind) {
      case OperandPlan::Kind::Broadcast:
        return "broadcast";
      case OperandPlan::Kind::Contiguous:
        return "contiguous";
      case OperandPlan::Kind::Packed: {
        const PackPlan &pack = packs[operand.pack];
        std::string text = "packed#" + std::to_string(operand.pack) + "[" +
                           llvm::join(pack.ranks, ",") + "]";
        if (!pack.elementType.isF32()) {
          llvm::raw_string_ostream os(text);
          os << " " << pack.elementType;
        }
        if (!operand.alongVector)
          text += " broadcast";
        return text + (pack.hoisted ? " hoisted" : "");
      }
      }
      llvm_unreachable("unknown access kind");
    };
    SmallVector<std::string> access, dataAccess;
    for (const OperandPlan &operand : plan.operands)
      access.push_back(describe(operand));
    for (const OperandPlan &read : plan.dataReads)
      dataAccess.push_back(describe(read));
    SmallVector<std::string> reductions;
    for (auto &[rank, kind] : plan.reductions)
      reductions.push_back(rank + ":" + stringifyReduceKind(kind).str());
    SmallVector<NamedAttribute> entries = {
        b.getNamedAttr("buffer",
                       result.kind == BufferPlan::Kind::Alias
                           ? Attribute(b.getStringAttr("in place"))
                           : Attribute(getStringArray(b, result.ranks))),
        b.getNamedAttr("loops", getStringArray(b, plan.getLoopOrder())),
        b.getNamedAttr("reductions", getStringArray(b, reductions)),
        b.getNamedAttr("vector", b.getStringAttr(plan.vectorRank)),
        b.getNamedAttr("lanes", b.getI64IntegerAttr(plan.lanes)),
        b.getNamedAttr("register_tile",
                       b.getDenseI64ArrayAttr({plan.tileRows,
                                               plan.tileVectors})),
        b.getNamedAttr("access", getStringArray(b, access)),
    };
    if (!dataAccess.empty())
      entries.push_back(
          b.getNamedAttr("data_access", getStringArray(b, dataAccess)));
    if (plan.perItem)
      entries.push_back(b.getNamedAttr("per_item", b.getUnitAttr()));
    if (plan.inStatePhase)
      entries.push_back(b.getNamedAttr("state_phase", b.getUnitAttr()));
    if (plan.maskPerItem)
      entries.push_back(b.getNamedAttr("mask_per_item", b.getUnitAttr()));
    einsum->setAttr("cascade.plan", b.getDictionaryAttr(entries));
  }
}
