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
// tile_extents. Everything else (which buffers exist, their shapes, which
// tensor is written in place, every Einsum's loop nest) is the schedule
// plan's (SchedulePlan.h), computed for the CPU target description; this
// builder reads it and decides none. Beside the kernel it adds
// `<f>_work_items(out)`, the plan's work decomposition as code: a host
// (attn-run's CpuKernel, or a program using the generated header) calls it
// and splits the items over threads; the kernel itself is sequential, like
// one CUDA block.
//
// Inside an item: Einsums outside every grid (a per-head slope) run first;
// a state phase (a grid over [b, h], linear attention's key-side state)
// runs once, and the item then loops over its query tiles. Per query tile,
// Einsums before the key iterate run once, the iterate becomes an scf.for
// over the key tiles (m1) with carried buffers, and the result buffer is
// copied (and converted) into `out` for the rows inside P.
//
//===----------------------------------------------------------------------===//

#include "KernelState.h"
#include "cascade/Analysis/SchedulePlan.h"
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
  /// A view with unit innermost stride; `innermost` is the static size of
  /// the innermost dimension (a head dimension) or dynamic.
  MemRefType getArgumentType(int64_t rank, int64_t innermost, Type element);
  LogicalResult emitBlock(Block &block);
  LogicalResult emitGrid(GridOp nested);
  LogicalResult emitIterate(IterateOp iterate);
  LogicalResult emitScheduledSteps(IterateOp iterate, TileScheduleAttr tiles,
                                   Value steps,
                                   function_ref<LogicalResult(Value)> emitStep);
  void emitResultCopy(Value out);
  /// How many keys of key tile `step` lie inside the key rank.
  Value buildKeysInTile(Value step);
  void copyIntoStep(Value from, Value stacked, Value step);
  /// The storage of every value the buffer plan names, allocated at the
  /// kernel's entry (aliases share their target's buffer).
  void allocatePlannedBuffers();
  Storage viewStackedAsGlobal(const Storage &stacked,
                              ArrayRef<std::string> tensorRanks);
  /// Heap buffers of the call (stacked steps), freed before it returns.
  SmallVector<Value> heapBuffers;
  Storage getPlannedStorage(Value value);
  /// `<f>_work_items(out)`, from the plan's work decomposition.
  void buildWorkItemsFunction(MemRefType outType);
  Value getExtentOf(const RankBinding &binding);

  func::FuncOp source;
  const CpuKernelOptions &options;
  OpBuilder builder;
  KernelState state;
  std::optional<RankEnvironment> env;
  std::optional<SchedulePlan> plan;
  func::FuncOp kernel;
  /// The returned value (the grid's result), the grid and the result's
  /// ranks.
  Value resultValue;
  GridOp grid;
  /// The kernel's output view.
  Value outView;
  SmallVector<StringRef> resultRanks;
  std::string headRankOfResult;
  Type storageType;
};

} // namespace

MemRefType KernelBuilder::getArgumentType(int64_t rank, int64_t innermost,
                                          Type element) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic);
  SmallVector<int64_t> strides(rank, ShapedType::kDynamic);
  shape.back() = innermost;
  strides.back() = 1;
  auto layout = StridedLayoutAttr::get(builder.getContext(),
                                       ShapedType::kDynamic, strides);
  return MemRefType::get(shape, element, layout);
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
  // Everything else a work item does is the plan's (which also refuses a
  // grid with more than one result).
  FailureOr<SchedulePlan> planned = SchedulePlan::compute(
      source, TargetDescription::forCpu(options.vectorWidth));
  if (failed(planned))
    return failure();
  plan = std::move(*planned);
  state.plan = &*plan;
  resultRanks = llvm::to_vector(
      cast<ArrayAttr>(grid.getOutputs()[0]).getAsValueRange<StringAttr>());
  if (resultRanks.size() < 2)
    return grid.emitError("the CPU backend needs a result with a work rank "
                          "and a head dimension");
  const llvm::StringMap<int64_t> &headDims = plan->getWork().tileExtents;

  // Every float argument and the result move whole rows of a head
  // dimension; integer tensors hold ids that only data comparisons read.
  for (auto [arg, type] : llvm::enumerate(source.getArgumentTypes())) {
    if (env->getRankOfScalarArgument(arg))
      continue; // A runtime extent: an index argument of the kernel.
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || tensor.getRank() < 1)
      return source.emitError("argument #")
             << arg << " must be a ranked tensor of rank >= 1 for the CPU "
                       "backend";
    if (auto integer = dyn_cast<IntegerType>(tensor.getElementType())) {
      if (integer.getWidth() != 32 && integer.getWidth() != 64)
        return source.emitError("argument #")
               << arg << " has elements of " << integer
               << "; the CPU backend reads ids of i32 or i64";
      for (OpOperand &use : source.getArgument(arg).getUses()) {
        auto einsum = dyn_cast<EinsumOp>(use.getOwner());
        // The data inputs follow the operands.
        if (einsum && use.getOperandNumber() >= einsum.getInputs().size())
          continue;
        return use.getOwner()->emitError("argument #")
               << arg << " (" << tensor
               << ") is read as a value; the CPU backend reads integer "
                  "tensors only in data comparisons (`%D[...] == %D[...]`)";
      }
      continue;
    }
    std::optional<StringRef> rank =
        env->getRankOfArgumentDim(arg, tensor.getRank() - 1);
    if (!rank || !headDims.count(*rank))
      return source.emitError("the innermost dimension of argument #")
             << arg << " must be a head dimension of the work grid (one of "
             << "its tile_extents)";
  }
  headRankOfResult = resultRanks.back();
  if (!headDims.count(headRankOfResult))
    return grid.emitError("the innermost rank of the result, '")
           << headRankOfResult << "', must be one of the grid's tile_extents";
  return success();
}

Value KernelBuilder::getExtentOf(const RankBinding &binding) {
  Value argument = kernel.getArgument(binding.argNumber);
  return memref::DimOp::create(builder, state.loc, argument, binding.dim);
}

/// The extent of work rank `rank` from the output view `out`: a dimension of
/// the output, in tiles for the query partition's outer rank.
static Value buildWorkRankExtent(OpBuilder &b, Location loc,
                                 const WorkRankPlan &rank, Value out) {
  Value size = memref::DimOp::create(b, loc, out, rank.resultDim);
  if (rank.tile == 1)
    return size;
  return arith::CeilDivSIOp::create(
      b, loc, size, arith::ConstantIndexOp::create(b, loc, rank.tile));
}

/// The extent of every work rank (in the plan's order) and the number of
/// work items, as the plan's work decomposition says. The count is -1 when
/// a size is negative or the product overflows int64. The kernel's item
/// loop and `<f>_work_items` (which the host runner and AOT callers call)
/// are both built from this one function.
static std::pair<SmallVector<Value>, Value>
buildWorkItemCount(OpBuilder &b, Location loc, const WorkPlan &work,
                   Value out) {
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  auto cmp = [&](arith::CmpIPredicate predicate, Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, loc, predicate, lhs, rhs).getResult();
  };
  SmallVector<Value> extents;
  Value items = constant(1);
  Value bad = arith::ConstantIntOp::create(b, loc, 0, 1);
  Value limit = constant(std::numeric_limits<int64_t>::max());
  for (const WorkRankPlan &rank : work.ranks) {
    Value size = buildWorkRankExtent(b, loc, rank, out);
    extents.push_back(size);
    bad = arith::OrIOp::create(
        b, loc, bad, cmp(arith::CmpIPredicate::slt, size, constant(0)));
    // items * size overflows when size > 0 and items > INT64_MAX / size.
    Value positive = cmp(arith::CmpIPredicate::sgt, size, constant(0));
    Value quotient = arith::DivSIOp::create(
        b, loc, limit, arith::MaxSIOp::create(b, loc, size, constant(1)));
    bad = arith::OrIOp::create(
        b, loc, bad,
        arith::AndIOp::create(
            b, loc, positive,
            cmp(arith::CmpIPredicate::sgt, items, quotient)));
    Value product = arith::MulIOp::create(
        b, loc, items, arith::MaxSIOp::create(b, loc, size, constant(0)));
    items = arith::SelectOp::create(b, loc, bad, constant(0), product);
  }
  Value count = arith::SelectOp::create(b, loc, bad, constant(-1), items);
  return {extents, count};
}

void KernelBuilder::buildWorkItemsFunction(MemRefType outType) {
  OpBuilder::InsertionGuard guard(builder);
  Location loc = state.loc;
  builder.setInsertionPointAfter(kernel);
  // The same view type as the shape check's: any sizes and strides.
  SmallVector<int64_t> dynamic(outType.getRank(), ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(builder.getContext(),
                                       ShapedType::kDynamic, dynamic);
  auto viewType = MemRefType::get(dynamic, storageType, layout);
  auto workItems = func::FuncOp::create(
      builder, loc, (source.getSymName() + "_work_items").str(),
      builder.getFunctionType({viewType}, {builder.getI64Type()}));
  workItems->setAttr("llvm.emit_c_interface", builder.getUnitAttr());
  builder.setInsertionPointToStart(workItems.addEntryBlock());
  Value count =
      buildWorkItemCount(builder, loc, plan->getWork(), workItems.getArgument(0))
          .second;
  func::ReturnOp::create(
      builder, loc,
      ValueRange{arith::IndexCastOp::create(builder, loc,
                                            builder.getI64Type(), count)});
}

Storage KernelBuilder::getPlannedStorage(Value value) {
  auto known = state.storage.find(value);
  if (known != state.storage.end())
    return known->second;
  const BufferPlan &planned = plan->getBuffer(value);
  Storage storage;
  switch (planned.kind) {
  case BufferPlan::Kind::Argument:
    storage.buffer = kernel.getArgument(cast<BlockArgument>(value).getArgNumber());
    storage.isGlobal = true;
    break;
  case BufferPlan::Kind::Staged:
    storage.buffer = state.allocateBuffer(planned.shape);
    storage.bufferRanks = planned.ranks;
    storage.tensorRanks = planned.tensorRanks;
    break;
  case BufferPlan::Kind::Alias:
    storage = getPlannedStorage(planned.aliasOf);
    storage.tensorRanks = planned.tensorRanks;
    if (plan->getBuffer(planned.aliasOf).kind == BufferPlan::Kind::Stacked)
      storage = viewStackedAsGlobal(storage, planned.tensorRanks);
    break;
  case BufferPlan::Kind::Stacked: {
    // On the heap: its leading extent (the key tiles) is a run-time value.
    // One buffer per kernel call, reused by the call's work items.
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToEnd(state.allocaBlock);
    auto type = MemRefType::get(planned.shape, builder.getF32Type());
    storage.buffer = memref::AllocOp::create(
        builder, state.loc, type,
        ValueRange{state.extents.lookup(planned.ranks.front())},
        builder.getI64IntegerAttr(plan->getTarget().stagingAlignment));
    storage.bufferRanks = planned.ranks;
    storage.tensorRanks = planned.tensorRanks;
    heapBuffers.push_back(storage.buffer);
    break;
  }
  }
  state.storage[value] = storage;
  return storage;
}

/// A view of the stacked buffer `stacked` over `tensorRanks` (the grid
/// result's: the item's fixed ranks, the iterated rank, the tile), so that
/// readers index it as an argument. The fixed ranks get stride 0: the item
/// holds only its own steps.
Storage KernelBuilder::viewStackedAsGlobal(const Storage &stacked,
                                           ArrayRef<std::string> tensorRanks) {
  auto type = cast<MemRefType>(stacked.buffer.getType());
  SmallVector<int64_t> rowMajor(type.getRank(), 1);
  for (int64_t d = type.getRank() - 2; d >= 0; --d)
    rowMajor[d] = rowMajor[d + 1] * type.getDimSize(d + 1);
  SmallVector<int64_t> shape, strides;
  SmallVector<OpFoldResult> sizes, strideValues;
  for (const std::string &rank : tensorRanks) {
    auto *at = llvm::find(stacked.bufferRanks, rank);
    int64_t stride =
        at == stacked.bufferRanks.end() ? 0 : rowMajor[at - stacked.bufferRanks.begin()];
    shape.push_back(ShapedType::kDynamic);
    strides.push_back(stride);
    sizes.push_back(state.extents.lookup(rank));
    strideValues.push_back(builder.getIndexAttr(stride));
  }
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointAfterValue(stacked.buffer);
  auto viewType = MemRefType::get(
      shape, type.getElementType(),
      StridedLayoutAttr::get(builder.getContext(), 0, strides));
  Storage view;
  view.buffer = memref::ReinterpretCastOp::create(
      builder, state.loc, viewType, stacked.buffer, builder.getIndexAttr(0),
      sizes, strideValues);
  view.isGlobal = true;
  return view;
}

void KernelBuilder::allocatePlannedBuffers() {
  for (auto &entry : plan->getBuffers())
    getPlannedStorage(entry.first);
  for (const PackPlan &pack : plan->getPacks()) {
    Storage storage;
    storage.buffer = state.allocateBuffer(pack.shape, pack.elementType);
    storage.bufferRanks = pack.ranks;
    storage.tensorRanks = pack.ranks;
    state.packs.push_back(storage);
  }
}

LogicalResult KernelBuilder::build() {
  storageType = options.storageType ? options.storageType
                                    : builder.getF32Type();
  if (failed(checkInterface()))
    return failure();
  Location loc = state.loc;
  const WorkPlan &work = plan->getWork();

  // Signature: inputs, the output, the work range.
  SmallVector<Type> argumentTypes;
  for (auto [arg, type] : llvm::enumerate(source.getArgumentTypes())) {
    if (env->getRankOfScalarArgument(arg)) {
      argumentTypes.push_back(builder.getIndexType());
      continue;
    }
    auto tensor = cast<RankedTensorType>(type);
    if (tensor.getElementType().isInteger()) {
      argumentTypes.push_back(getArgumentType(
          tensor.getRank(), ShapedType::kDynamic, tensor.getElementType()));
      continue;
    }
    StringRef head = *env->getRankOfArgumentDim(arg, tensor.getRank() - 1);
    argumentTypes.push_back(getArgumentType(
        tensor.getRank(), work.tileExtents.lookup(head), storageType));
  }
  int64_t resultRank = resultRanks.size();
  MemRefType outType = getArgumentType(
      resultRank, work.tileExtents.lookup(headRankOfResult), storageType);
  argumentTypes.push_back(outType);
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
      auto head = work.tileExtents.find(rank);
      state.extents[rank] = head != work.tileExtents.end()
                                ? state.constantIndex(head->second)
                                : getExtentOf(*binding);
    }
  }
  for (auto &[rank, extent] : work.tileExtents)
    if (!state.extents.count(rank))
      state.extents[rank] = state.constantIndex(extent);
  for (PartitionOp partition : {work.queryPartition, work.keyPartition}) {
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
  Value out = kernel.getArgument(source.getNumArguments());
  allocatePlannedBuffers();

  // The item loop over the plan's work decomposition, the last rank
  // varying fastest. [begin, end) is clamped to the items that exist: a
  // caller's range past the end (or before 0) computes nothing there
  // instead of writing outside `out`.
  Value begin = kernel.getArgument(kernel.getNumArguments() - 2);
  Value end = kernel.getArgument(kernel.getNumArguments() - 1);
  auto [workExtents, itemCount] =
      buildWorkItemCount(builder, loc, work, out);
  Value zero = state.constantIndex(0);
  itemCount = arith::MaxSIOp::create(builder, loc, itemCount, zero);
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
  for (size_t i = work.ranks.size(); i-- > 0;) {
    state.fixed[work.ranks[i].rank] =
        i == 0 ? rest
               : arith::RemUIOp::create(builder, loc, rest, workExtents[i]);
    if (i > 0)
      rest = arith::DivUIOp::create(builder, loc, rest, workExtents[i]);
  }
  outView = out;

  if (failed(emitBlock(source.getBody().front())))
    return failure();

  builder.setInsertionPointToEnd(entry);
  for (Value buffer : heapBuffers)
    memref::DeallocOp::create(builder, loc, buffer);
  func::ReturnOp::create(builder, loc);
  buildWorkItemsFunction(outType);
  source.erase();
  return success();
}

LogicalResult KernelBuilder::emitGrid(GridOp nested) {
  // The state phase: its body runs once at the start of the item, its
  // results stay in the item's buffers.
  if (nested != grid)
    return emitBlock(nested.getBodyBlock());
  // The query grid: the item loop is (part of) its grid; the ranks the plan
  // loops inside an item (the query tiles, after a state phase) are loops
  // here, then the body and the copy of its tile into `out`.
  OpBuilder::InsertionGuard guard(builder);
  Location loc = state.loc;
  for (const WorkRankPlan &rank : plan->getWork().innerRanks) {
    Value extent = buildWorkRankExtent(builder, loc, rank, outView);
    auto loop = scf::ForOp::create(builder, loc, state.constantIndex(0),
                                   extent, state.constantIndex(1));
    builder.setInsertionPointToStart(loop.getBody());
    state.fixed[rank.rank] = loop.getInductionVar();
  }
  PartitionOp query = state.getQueryPartition();
  Value tile = state.constantIndex(query.getTile());
  state.tileIndex = state.fixed.lookup(query.getOuter());
  Value tileStart = arith::MulIOp::create(builder, loc, state.tileIndex, tile);
  state.tileValid = arith::MinUIOp::create(
      builder, loc, tile,
      arith::SubIOp::create(builder, loc,
                            state.extents.lookup(query.getRank()), tileStart));
  if (failed(emitBlock(nested.getBodyBlock())))
    return failure();
  emitResultCopy(outView);
  // Packs made inside the query tile loop do not reach past it.
  state.forgetStepPacks();
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
      if (failed(emitGrid(nested)))
        return failure();
      continue;
    }
    auto einsum = dyn_cast<EinsumOp>(op);
    if (!einsum)
      return op.emitError("the CPU backend lowers cascade ops only, not '")
             << op.getName() << "'";
    // Into the buffer the plan gives it: its own, or a carried buffer it
    // updates in place.
    if (failed(emitEinsum(state, einsum, state.storage.lookup(einsum.getResult()))))
      return failure();
  }
  return success();
}

LogicalResult KernelBuilder::emitIterate(IterateOp iterate) {
  Location loc = state.loc;
  // The plan checked that this is the key loop (the key partition's outer
  // rank) and gave each carried tensor a buffer: its init's, updated in
  // place, or its own, filled from the init here.
  PartitionOp key = state.getKeyPartition();
  Block &body = iterate.getBodyBlock();
  for (auto [init, argument] :
       llvm::zip(iterate.getInits(), body.getArguments()))
    if (plan->getBuffer(argument).copiedFromInit)
      copyBuffer(state, state.storage.lookup(init).buffer,
                 state.storage.lookup(argument).buffer);

  Value steps = state.extents.lookup(key.getOuter());
  // One key step: the body for key tile `step`, then the carried buffers
  // take the yielded values.
  auto emitStep = [&](Value step) -> LogicalResult {
    state.fixed[key.getOuter()] = step;
    state.innerValid = buildKeysInTile(step);
    state.forgetStepPacks();
    if (failed(emitBlock(body)))
      return failure();
    auto yield = cast<YieldOp>(body.getTerminator());
    // Stacked values first: a stacked value may be a carried one updated
    // in place, which the copies below do not change.
    for (auto [yielded, result] :
         llvm::zip(yield.getValues().drop_front(iterate.getInits().size()),
                   iterate.getStackedResults()))
      copyIntoStep(state.storage.lookup(yielded).buffer,
                   state.storage.lookup(result).buffer, step);
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
  state.forgetStepPacks();
  state.fixed.erase(key.getOuter());
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
  PartitionOp query = state.getQueryPartition();
  StringRef queryRank = query.getRank();
  if (tiles.getQuery().getValue() != queryRank ||
      tiles.getQueryTile() != static_cast<int64_t>(query.getTile()))
    return iterate.emitError("the tile schedule cuts rank '")
           << tiles.getQuery().getValue() << "' into tiles of "
           << tiles.getQueryTile() << " but the kernel cuts '" << queryRank
           << "' into tiles of " << query.getTile()
           << "; run cascade-classify-tiles with query-tile="
           << query.getTile() << " (or drop the attribute)";
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
  // The loop runs over the key tiles from the first range's lowest to the
  // last range's highest in key order, as the iterate does; between ranges
  // of a union it skips the tiles no range visits.
  KeyTileLoopBounds bounds =
      buildKeyTileBounds(builder, loc, tiles, dims, symbols, steps);
  SmallVector<std::pair<Value, Value>> visited = bounds.visited,
                                       full = bounds.full;
  Value first = bounds.first, last = bounds.last;
  // Data comparisons (ids): the plan says which read varies with which
  // tile; the query tile's id ranges are taken once, here.
  std::optional<DataTileClassifier> byIds;
  if (const std::optional<DataBoundsPlan> &ids = plan->getDataBounds();
      ids && ids->reader->getParentOp() == iterate) {
    byIds.emplace(state, *ids);
    byIds->emitQueryRanges();
  } else if (tiles.getData() && !tiles.getData().empty()) {
    return iterate.emitError("the tile schedule lists data comparisons the "
                             "plan has no id bounds for");
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
  Value visit = visited.size() > 1 ? inAny(visited) : Value();
  Value isFullTile = inAny(full);
  if (byIds) {
    // Skip the pair when some comparison never holds on it; it is full only
    // when the affine part and every comparison say so.
    state.fixed[state.getKeyPartition().getOuter()] = step;
    DataTileClassifier::Class byData =
        byIds->emitStepClass(buildKeysInTile(step));
    Value some = arith::XOrIOp::create(
        builder, loc, byData.never,
        arith::ConstantIntOp::create(builder, loc, 1, 1));
    visit = visit ? arith::AndIOp::create(builder, loc, visit, some).getResult()
                  : some;
    isFullTile = arith::AndIOp::create(builder, loc, isFullTile, byData.always);
  }
  if (visit) {
    auto inSomeRange = scf::IfOp::create(builder, loc, visit,
                                         /*withElseRegion=*/false);
    builder.setInsertionPointToStart(inSomeRange.thenBlock());
  }
  auto isFull = scf::IfOp::create(builder, loc, isFullTile,
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

/// Copies a step's tile `from` into coordinate `step` of the stacked
/// buffer `stacked`.
void KernelBuilder::copyIntoStep(Value from, Value stacked, Value step) {
  auto type = cast<MemRefType>(stacked.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), builder.getIndexAttr(0));
  offsets.front() = step;
  SmallVector<OpFoldResult> sizes = {builder.getIndexAttr(1)};
  for (int64_t size : type.getShape().drop_front())
    sizes.push_back(builder.getIndexAttr(size));
  SmallVector<OpFoldResult> strides(type.getRank(), builder.getIndexAttr(1));
  auto stepType = memref::SubViewOp::inferRankReducedResultType(
      type.getShape().drop_front(), type, offsets, sizes, strides);
  Value slice = memref::SubViewOp::create(
      builder, state.loc, cast<MemRefType>(stepType), stacked, offsets, sizes,
      strides);
  copyBuffer(state, from, slice);
}

Value KernelBuilder::buildKeysInTile(Value step) {
  PartitionOp key = state.getKeyPartition();
  Value tile = state.constantIndex(key.getTile());
  Value first = arith::MulIOp::create(builder, state.loc, step, tile);
  return arith::MinUIOp::create(
      builder, state.loc, tile,
      arith::SubIOp::create(builder, state.loc,
                            state.extents.lookup(key.getRank()), first));
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
  int64_t lanes = plan->getTarget().getLanesFor(width);
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
