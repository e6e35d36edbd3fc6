//===- KernelBuilder.cpp - A cascade function as a CPU kernel over work items ===//
//
// The kernel made from `@f(Q, K, V) -> AV[b, h, p, f]` is
//
//   func @f(%Q: memref<?x?x?xExT, strided>, ..., %out: memref<...>,
//           %begin: index, %end: index) attributes {llvm.emit_c_interface}
//
// and computes work items [begin, end): item = ((b * H) + h) * tiles(P) + t
// covers query rows [t * tile, (t + 1) * tile) of head (b, h). The function
// is in the scheduled form (cascade-partition-rank): the items are the
// points of its cascade.grid [b, h, p1] in row-major order, the tile is the
// partition p = p1 * tile + p0 and the head dimensions are the grid's
// tile_extents; this builder reads them and decides none. A host (attn-run,
// or a program using the generated header) splits the items over threads;
// the kernel itself is sequential, like one CUDA block.
//
// Inside an item: Einsums before the key iterate (and, for now, those
// outside the grid) run once, the iterate becomes an scf.for over the key
// tiles (m1) with carried buffers, and the result buffer is copied (and
// converted) into `out` for the rows inside P.
//
//===----------------------------------------------------------------------===//

#include "KernelState.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::cascade;
using namespace mlir::cascade::cpu;

namespace {

class KernelBuilder {
public:
  KernelBuilder(func::FuncOp source, const CpuKernelOptions &options)
      : source(source), options(options), builder(source.getContext()),
        state(builder, source.getLoc()) {}

  LogicalResult build();

private:
  LogicalResult checkInterface();
  MemRefType getArgumentType(int64_t rank, int64_t innermost);
  LogicalResult emitBlock(Block &block);
  LogicalResult emitIterate(IterateOp iterate);
  LogicalResult emitScheduledSteps(IterateOp iterate, TileScheduleAttr tiles,
                                   Value steps,
                                   function_ref<LogicalResult(Value)> emitStep);
  void emitResultCopy(Value out);
  Value getExtentOf(const RankBinding &binding);
  /// Whether `einsum` (inside an iterate) may write the carried buffer of
  /// `argument` in place: elementwise, reading it only at its own point,
  /// and nothing after it reads the old value.
  bool canWriteInPlace(EinsumOp einsum, BlockArgument argument);

  func::FuncOp source;
  const CpuKernelOptions &options;
  OpBuilder builder;
  KernelState state;
  std::optional<RankEnvironment> env;
  func::FuncOp kernel;
  /// The returned value (the grid's result), the grid, the tile its body
  /// yields and the result's ranks.
  Value resultValue;
  GridOp grid;
  Value tileValue;
  SmallVector<StringRef> resultRanks;
  SmallVector<std::string> workRanks;
  std::string headRankOfResult;
  Type storageType;
};

} // namespace

MemRefType KernelBuilder::getArgumentType(int64_t rank, int64_t innermost) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic);
  SmallVector<int64_t> strides(rank, ShapedType::kDynamic);
  shape.back() = innermost;
  strides.back() = 1;
  auto layout = StridedLayoutAttr::get(builder.getContext(),
                                       ShapedType::kDynamic, strides);
  return MemRefType::get(shape, storageType, layout);
}

LogicalResult KernelBuilder::checkInterface() {
  FailureOr<RankEnvironment> environment = RankEnvironment::build(source);
  if (failed(environment))
    return source.emitError("the ranks of this function are inconsistent");
  env = std::move(*environment);

  auto returnOp = cast<func::ReturnOp>(source.getBody().front().getTerminator());
  if (returnOp.getNumOperands() != 1)
    return source.emitError("the CPU backend compiles functions with one "
                            "result, not ")
           << returnOp.getNumOperands();
  // The work decomposition is the scheduled form's: the grid's ranks are
  // the work item, its tile extents the head dimensions, the partition it
  // cuts the query tile (cascade-partition-rank decides them).
  resultValue = returnOp.getOperand(0);
  grid = resultValue.getDefiningOp<GridOp>();
  if (!grid) {
    EinsumOp einsum = getRankSource(resultValue);
    if (einsum && einsum.getOutput().size() < 2)
      return einsum.emitError("the CPU backend needs a result with a "
                              "work rank and a head dimension");
    return returnOp.emitError(
        "the CPU backend compiles the scheduled form: the result must be a "
        "cascade.grid (run cascade-partition-rank; cascade-to-cpu does)");
  }
  if (grid.getNumResults() != 1)
    return grid.emitError("the CPU backend compiles a grid with one result");
  auto yield = cast<YieldOp>(grid.getBodyBlock().getTerminator());
  tileValue = yield.getValues()[0];
  resultRanks = llvm::to_vector(
      cast<ArrayAttr>(grid.getOutputs()[0]).getAsValueRange<StringAttr>());
  if (resultRanks.size() < 2)
    return grid.emitError("the CPU backend needs a result with a work rank "
                          "and a head dimension");

  for (NamedAttribute entry : grid.getTileExtents())
    state.staticExtents[entry.getName().getValue()] =
        cast<IntegerAttr>(entry.getValue()).getInt();
  // Every argument and the result move whole rows of a head dimension.
  for (auto [arg, type] : llvm::enumerate(source.getArgumentTypes())) {
    if (env->getRankOfScalarArgument(arg))
      continue; // A runtime extent: an index argument of the kernel.
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || tensor.getRank() < 1)
      return source.emitError("argument #")
             << arg << " must be a ranked tensor of rank >= 1 for the CPU "
                       "backend";
    std::optional<StringRef> rank =
        env->getRankOfArgumentDim(arg, tensor.getRank() - 1);
    if (!rank || !state.staticExtents.count(*rank))
      return source.emitError("the innermost dimension of argument #")
             << arg << " must be a head dimension of the work grid (one of "
             << "its tile_extents)";
  }
  headRankOfResult = resultRanks.back();
  if (!state.staticExtents.count(headRankOfResult))
    return grid.emitError("the innermost rank of the result, '")
           << headRankOfResult << "', must be one of the grid's tile_extents";

  PartitionOp queryPartition;
  for (StringRef rank : grid.getRanks().getAsValueRange<StringAttr>()) {
    workRanks.push_back(rank.str());
    if (PartitionOp partition = env->getPartitionOfOuter(rank)) {
      if (queryPartition)
        return grid.emitError("the CPU backend tiles one rank of the work "
                              "grid, not '")
               << queryPartition.getRank() << "' and '"
               << partition.getRank() << "'";
      queryPartition = partition;
    }
  }
  if (!queryPartition)
    return grid.emitError("the CPU backend needs a query tile: a grid rank "
                          "that cuts a rank (cascade.partition p = p1 * T + "
                          "p0)");
  state.queryPartition = queryPartition;
  state.tiledRank = queryPartition.getInner().str();
  state.queryTile = queryPartition.getTile();
  state.vectorWidth = options.vectorWidth;
  state.accumulatorBudget = options.vectorWidth >= 16 ? 24 : 12;

  for (Operation &op : source.getBody().front()) {
    auto partition = dyn_cast<PartitionOp>(op);
    if (!partition || partition == queryPartition)
      continue;
    if (state.partition)
      return partition.emitError(
          "the CPU backend streams one partitioned rank");
    state.partition = partition;
  }
  return success();
}

Value KernelBuilder::getExtentOf(const RankBinding &binding) {
  Value argument = kernel.getArgument(binding.argNumber);
  return memref::DimOp::create(builder, state.loc, argument, binding.dim);
}

LogicalResult KernelBuilder::build() {
  storageType = options.storageType ? options.storageType
                                    : builder.getF32Type();
  if (failed(checkInterface()))
    return failure();
  Location loc = state.loc;

  // Signature: inputs, the output, the work range.
  SmallVector<Type> argumentTypes;
  for (auto [arg, type] : llvm::enumerate(source.getArgumentTypes())) {
    if (env->getRankOfScalarArgument(arg)) {
      argumentTypes.push_back(builder.getIndexType());
      continue;
    }
    auto tensor = cast<RankedTensorType>(type);
    StringRef head = *env->getRankOfArgumentDim(arg, tensor.getRank() - 1);
    argumentTypes.push_back(
        getArgumentType(tensor.getRank(), state.staticExtents.lookup(head)));
  }
  int64_t resultRank = resultRanks.size();
  argumentTypes.push_back(getArgumentType(
      resultRank, state.staticExtents.lookup(headRankOfResult)));
  argumentTypes.push_back(builder.getIndexType());
  argumentTypes.push_back(builder.getIndexType());

  builder.setInsertionPoint(source);
  kernel = func::FuncOp::create(builder, loc, source.getSymName(),
                                builder.getFunctionType(argumentTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", builder.getUnitAttr());
  Block *entry = kernel.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  state.allocaBlock = entry;

  // Extents: argument dimensions, head dimensions, partition ranks.
  for (StringRef rank : env->getRankNames()) {
    const RankBinding *binding = env->lookup(rank);
    if (binding->kind == RankBinding::Kind::Scalar)
      state.extents[rank] = kernel.getArgument(binding->argNumber);
    if (binding->kind == RankBinding::Kind::Argument) {
      auto head = state.staticExtents.find(rank);
      state.extents[rank] = head != state.staticExtents.end()
                                ? state.constantIndex(head->second)
                                : getExtentOf(*binding);
    }
  }
  for (auto &[rank, extent] : state.staticExtents)
    if (!state.extents.count(rank))
      state.extents[rank] = state.constantIndex(extent);
  for (PartitionOp partition : {state.queryPartition, state.partition}) {
    if (!partition)
      continue;
    Value parent = state.extents.lookup(partition.getRank());
    if (!parent)
      return partition.emitError("no extent known for rank '")
             << partition.getRank() << "'";
    Value tile = state.constantIndex(partition.getTile());
    state.extents[partition.getInner()] = tile;
    state.extents[partition.getOuter()] =
        arith::CeilDivUIOp::create(builder, loc, parent, tile);
  }
  for (const std::string &rank : workRanks)
    if (!state.extents.count(rank))
      return grid.emitError("no argument gives the extent of work rank '")
             << rank << "'";
  Value out = kernel.getArgument(source.getNumArguments());
  for (auto [arg, value] : llvm::enumerate(source.getArguments())) {
    if (!isa<RankedTensorType>(value.getType()))
      continue; // A scalar: its value is the extent above.
    Storage storage;
    storage.buffer = kernel.getArgument(arg);
    storage.isGlobal = true;
    state.storage[value] = storage;
  }

  // The item loop: decompose the item into the grid's coordinates, the
  // last rank varying fastest.
  Value begin = kernel.getArgument(kernel.getNumArguments() - 2);
  Value end = kernel.getArgument(kernel.getNumArguments() - 1);
  // [begin, end) is clamped to the items that exist: a caller's range past
  // the end (or before 0) computes nothing there instead of writing
  // outside `out`.
  Value itemCount = state.constantIndex(1);
  for (const std::string &rank : workRanks)
    itemCount = arith::MulIOp::create(builder, loc, itemCount,
                                      state.extents.lookup(rank));
  Value zero = state.constantIndex(0);
  begin = arith::MinSIOp::create(
      builder, loc, arith::MaxSIOp::create(builder, loc, begin, zero),
      itemCount);
  end = arith::MaxSIOp::create(
      builder, loc, arith::MinSIOp::create(builder, loc, end, itemCount),
      begin);
  auto items = scf::ForOp::create(builder, loc, begin, end,
                                  state.constantIndex(1));
  builder.setInsertionPointToStart(items.getBody());
  Value rest = items.getInductionVar();
  for (size_t i = workRanks.size(); i-- > 0;) {
    Value extent = state.extents.lookup(workRanks[i]);
    state.fixed[workRanks[i]] =
        i == 0 ? rest : arith::RemUIOp::create(builder, loc, rest, extent);
    if (i > 0)
      rest = arith::DivUIOp::create(builder, loc, rest, extent);
  }
  Value tile = state.constantIndex(state.queryTile);
  state.tileIndex = state.fixed.lookup(state.queryPartition.getOuter());
  Value tileStart = arith::MulIOp::create(builder, loc, state.tileIndex, tile);
  state.tileValid = arith::MinUIOp::create(
      builder, loc, tile,
      arith::SubIOp::create(
          builder, loc, state.extents.lookup(state.queryPartition.getRank()),
          tileStart));

  if (failed(emitBlock(source.getBody().front())))
    return failure();
  emitResultCopy(out);

  builder.setInsertionPointToEnd(entry);
  func::ReturnOp::create(builder, loc);
  source.erase();
  return success();
}

LogicalResult KernelBuilder::emitBlock(Block &block) {
  for (Operation &op : block) {
    if (isa<PartitionOp, func::ReturnOp, YieldOp>(op))
      continue;
    if (auto iterate = dyn_cast<IterateOp>(op)) {
      if (failed(emitIterate(iterate)))
        return failure();
      continue;
    }
    if (auto nested = dyn_cast<GridOp>(op)) {
      // The item loop around the kernel is this grid's: its body is one
      // work item.
      if (nested != grid)
        return nested.emitError("the CPU backend compiles one work grid");
      if (failed(emitBlock(nested.getBodyBlock())))
        return failure();
      state.storage[grid.getResult(0)] = state.storage.lookup(tileValue);
      continue;
    }
    auto einsum = dyn_cast<EinsumOp>(op);
    if (!einsum)
      return op.emitError("the CPU backend lowers cascade ops only, not '")
             << op.getName() << "'";
    // Written in place into a carried buffer when that is safe.
    Storage result;
    bool inPlace = false;
    if (auto iterate = dyn_cast<IterateOp>(einsum->getParentOp())) {
      auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
      for (auto [i, yielded] : llvm::enumerate(yield.getValues()))
        if (yielded == einsum.getResult() &&
            canWriteInPlace(einsum, iterate.getBodyBlock().getArgument(i))) {
          result = state.storage[iterate.getBodyBlock().getArgument(i)];
          inPlace = true;
          break;
        }
    }
    // A scheduled key loop emits its body twice (full and partial tiles):
    // the second copy reuses the first one's buffers.
    auto earlier = state.storage.find(einsum.getResult());
    if (!inPlace && earlier != state.storage.end() &&
        !earlier->second.isGlobal) {
      result = earlier->second;
    } else if (!inPlace) {
      SmallVector<std::string> ranks = llvm::to_vector(llvm::map_range(
          einsum.getOutput().getAsValueRange<StringAttr>(),
          [](StringRef r) { return r.str(); }));
      for (const std::string &rank : ranks)
        if (!state.isBufferRank(rank) && !state.fixed.count(rank))
          return einsum.emitError("rank '")
                 << rank << "' is neither a work rank, the key tile nor a "
                            "head dimension; the CPU backend needs the key "
                            "rank streamed (cascade-stream-rank)";
      result = state.allocateTensor(ranks);
    }
    state.storage[einsum.getResult()] = result;
    if (failed(emitEinsum(state, einsum, result)))
      return failure();
  }
  return success();
}

bool KernelBuilder::canWriteInPlace(EinsumOp einsum, BlockArgument argument) {
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

LogicalResult KernelBuilder::emitIterate(IterateOp iterate) {
  Location loc = state.loc;
  if (!state.partition || iterate.getRank() != state.partition.getOuter())
    return iterate.emitError("the CPU backend iterates the outer rank of the "
                             "key partition only");
  Block &body = iterate.getBodyBlock();
  // Carried buffers: an init used only here is updated in place.
  for (auto [init, argument] : llvm::zip(iterate.getInits(), body.getArguments())) {
    Storage initStorage = state.storage.lookup(init);
    if (!initStorage.buffer || initStorage.isGlobal)
      return iterate.emitError("the CPU backend carries tensors computed in "
                               "the kernel only");
    Storage carried = initStorage;
    if (!init.hasOneUse()) {
      carried = state.allocateTensor(initStorage.tensorRanks);
      copyBuffer(state, initStorage.buffer, carried.buffer);
    }
    state.storage[argument] = carried;
  }

  Value steps = state.extents.lookup(state.partition.getOuter());
  state.iterateBody = &body;
  // One key step: the body for key tile `step`, then the carried buffers
  // take the yielded values.
  auto emitStep = [&](Value step) -> LogicalResult {
    state.fixed[state.partition.getOuter()] = step;
    Value tile = state.constantIndex(state.partition.getTile());
    Value first = arith::MulIOp::create(builder, loc, step, tile);
    state.innerValid = arith::MinUIOp::create(
        builder, loc, tile,
        arith::SubIOp::create(builder, loc,
                              state.extents.lookup(state.partition.getRank()),
                              first));
    state.forgetStepPacks();
    if (failed(emitBlock(body)))
      return failure();
    auto yield = cast<YieldOp>(body.getTerminator());
    for (auto [yielded, argument] :
         llvm::zip(yield.getValues(), body.getArguments())) {
      Value from = state.storage.lookup(yielded).buffer;
      Value to = state.storage.lookup(argument).buffer;
      if (from != to)
        copyBuffer(state, from, to);
    }
    return success();
  };

  std::optional<TileScheduleAttr> tiles = iterate.getTiles();
  if (!tiles) {
    auto loop = scf::ForOp::create(builder, loc, state.constantIndex(0), steps,
                                   state.constantIndex(1));
    // Packs that do not change per step go before the loop.
    builder.setInsertionPoint(loop);
    state.hoistPoint = builder.saveInsertionPoint();
    builder.setInsertionPointToStart(loop.getBody());
    if (failed(emitStep(loop.getInductionVar())))
      return failure();
    builder.setInsertionPointAfter(loop);
  } else if (failed(emitScheduledSteps(iterate, *tiles, steps, emitStep))) {
    return failure();
  }
  state.hoistPoint.reset();
  state.iterateBody = nullptr;
  state.forgetStepPacks();
  state.fixed.erase(state.partition.getOuter());
  for (auto [result, argument] : llvm::zip(iterate.getResults(), body.getArguments()))
    state.storage[result] = state.storage.lookup(argument);
  return success();
}

/// The key loop of an iterate with a tile schedule: a loop over the key
/// tiles some range of the schedule visits for this query tile, in key
/// order, each step emitted once without predicates (a tile inside some
/// range's full bounds) and once with them (partial tiles).
LogicalResult KernelBuilder::emitScheduledSteps(
    IterateOp iterate, TileScheduleAttr tiles, Value steps,
    function_ref<LogicalResult(Value)> emitStep) {
  Location loc = state.loc;
  StringRef queryRank = state.queryPartition.getRank();
  if (tiles.getQuery().getValue() != queryRank ||
      tiles.getQueryTile() != state.queryTile)
    return iterate.emitError("the tile schedule cuts rank '")
           << tiles.getQuery().getValue() << "' into tiles of "
           << tiles.getQueryTile() << " but the kernel cuts '" << queryRank
           << "' into tiles of " << state.queryTile
           << "; run cascade-classify-tiles with query-tile="
           << state.queryTile << " (or drop the attribute)";
  SmallVector<Value> dims = {state.tileIndex};
  for (StringRef rank :
       llvm::drop_begin(tiles.getDims().getAsValueRange<StringAttr>())) {
    Value value = state.fixed.lookup(rank);
    if (!value)
      return iterate.emitError("the tile schedule's bounds depend on rank '")
             << rank << "', which is not fixed for a work item";
    dims.push_back(value);
  }
  SmallVector<Value> symbols;
  for (StringRef rank : tiles.getSymbols().getAsValueRange<StringAttr>()) {
    Value value = state.extents.lookup(rank);
    if (!value)
      return iterate.emitError("no extent known for rank '") << rank << "'";
    symbols.push_back(value);
  }
  Value zero = state.constantIndex(0);
  // max (lower) or min (upper) of a map's results, clamped to [0, steps].
  auto bound = [&](AffineMap map, bool isLower) {
    Value result;
    for (AffineExpr expr : map.getResults()) {
      Value v = affine::expandAffineExpr(builder, loc, expr, dims, symbols);
      result = !result ? v
               : isLower ? arith::MaxSIOp::create(builder, loc, result, v)
                                 .getResult()
                         : arith::MinSIOp::create(builder, loc, result, v)
                               .getResult();
    }
    result = arith::MaxSIOp::create(builder, loc, result, zero);
    return arith::MinSIOp::create(builder, loc, result, steps).getResult();
  };
  // The loop runs over the key tiles from the first range's lowest to the
  // last range's highest in key order, as the iterate does (several ranges
  // may overlap and come in any order); between ranges of a union it skips
  // the tiles no range visits.
  SmallVector<std::pair<Value, Value>> visited, full;
  Value first, last;
  for (Attribute attr : tiles.getRanges()) {
    auto range = cast<KeyRangeAttr>(attr);
    Value lower = bound(range.getLower(), true);
    Value upper = bound(range.getUpper(), false);
    visited.push_back({lower, upper});
    full.push_back({bound(range.getFullLower(), true),
                    bound(range.getFullUpper(), false)});
    first = first ? arith::MinSIOp::create(builder, loc, first, lower)
                        .getResult()
                  : lower;
    last = last ? arith::MaxSIOp::create(builder, loc, last, upper).getResult()
                : upper;
  }
  auto loop =
      scf::ForOp::create(builder, loc, first, last, state.constantIndex(1));
  OpBuilder::InsertionGuard guard(builder);
  // Packs that do not change per step go before the loop.
  builder.setInsertionPoint(loop);
  state.hoistPoint = builder.saveInsertionPoint();
  builder.setInsertionPointToStart(loop.getBody());
  Value step = loop.getInductionVar();
  auto inAny = [&](ArrayRef<std::pair<Value, Value>> intervals) {
    Value any;
    for (auto [from, to] : intervals) {
      Value in = arith::AndIOp::create(
          builder, loc,
          arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::sge, step,
                                from),
          arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::slt, step,
                                to));
      any = any ? arith::OrIOp::create(builder, loc, any, in) : in;
    }
    return any;
  };
  if (visited.size() > 1) {
    auto inSomeRange = scf::IfOp::create(builder, loc, inAny(visited),
                                         /*withElseRegion=*/false);
    builder.setInsertionPointToStart(inSomeRange.thenBlock());
  }
  auto isFull = scf::IfOp::create(builder, loc, inAny(full),
                                  /*withElseRegion=*/true);
  builder.setInsertionPointToStart(isFull.thenBlock());
  state.predicatesHold = true;
  LogicalResult emitted = emitStep(step);
  state.predicatesHold = false;
  if (failed(emitted))
    return failure();
  builder.setInsertionPointToStart(isFull.elseBlock());
  return emitStep(step);
}

void KernelBuilder::emitResultCopy(Value out) {
  Location loc = state.loc;
  const Storage &result = state.storage.lookup(resultValue);
  // Loops over the buffer ranks inside their extents; the innermost (the
  // head dimension) moves whole vectors.
  OpBuilder::InsertionGuard guard(builder);
  llvm::StringMap<Value> local;
  ArrayRef<std::string> ranks = result.bufferRanks;
  for (const std::string &rank : ranks.drop_back()) {
    auto loop = scf::ForOp::create(builder, loc, state.constantIndex(0),
                                   state.getValidCount(rank),
                                   state.constantIndex(1));
    builder.setInsertionPointToStart(loop.getBody());
    local[rank] = loop.getInductionVar();
  }
  int64_t width = state.getLocalExtent(ranks.back());
  int64_t lanes = state.getLanesFor(width);
  auto inner = scf::ForOp::create(builder, loc, state.constantIndex(0),
                                  state.constantIndex(width),
                                  state.constantIndex(lanes));
  builder.setInsertionPointToStart(inner.getBody());
  local[ranks.back()] = inner.getInductionVar();
  SmallVector<Value> from, to;
  for (const std::string &rank : ranks)
    from.push_back(local[rank]);
  for (StringRef rank : resultRanks)
    to.push_back(state.getCoordinate(rank, local));
  Value value = vector::LoadOp::create(
      builder, loc, VectorType::get({lanes}, builder.getF32Type()),
      result.buffer, from);
  if (!storageType.isF32())
    value = arith::TruncFOp::create(
        builder, loc, VectorType::get({lanes}, storageType), value);
  vector::StoreOp::create(builder, loc, value, out, to);
}

LogicalResult mlir::cascade::buildCpuKernel(func::FuncOp function,
                                            const CpuKernelOptions &options) {
  return KernelBuilder(function, options).build();
}
