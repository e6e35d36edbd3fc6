//===- StateKernelBuilder.cpp - A state phase as a GPU kernel -------------===//
//
// The kernel of a schedule with a state phase, as GpuStatePlan lays it out;
// this builder reads the plan and decides nothing. One block per work item
// of the state phase (one (b, h), and one block of its value columns where
// the plan splits them), GpuStatePlan::kThreads threads:
//
//   1. the item's coordinates from the block id, every extent from the
//      arguments; the Einsums outside the grids (a decay rate per head) as
//      one value per thread;
//   2. the state phase's initial values, copied into the carried state's
//      buffers;
//   3. an scf.for over the query tiles carrying the state steps run so far:
//      per tile, the steps up to the last it reads (the plan's step map),
//      each the state iterate's body followed by a copy of its yields into
//      the carried buffers and, where the plan keeps rings of the stacks,
//      of each stack's entry into its ring's slot (step mod depth), where
//      the query grid's stacked reads find it; then the query grid's body,
//      its key iterate an
//      scf.for over the key tiles its tile schedule visits; then the tile's
//      results stored for the rows inside the query rank.
//
// Where the plan splits the output's columns (a rank f) over blocks, the
// block's coordinate along the last launch rank is its column block: every
// Einsum is evaluated at global columns (columnBase + the buffer's column),
// a buffer holds the block's columns, and a kernel argument is read at the
// global ones.
//
// Every tensor of the item is an f32 buffer in one shared-memory array at
// the plan's offset. Every Einsum is computed the way the interpreter
// defines it: output element i by thread i mod threads; per point the
// partition tails and the predicate, the operands loaded (under an scf.if,
// so that a point outside them reads nothing) and the body cloned; the
// reduced ranks folded by nested loops that track whether any point was
// reduced; the fill value where none was. A barrier follows each Einsum.
//
//===----------------------------------------------------------------------===//

#include "KernelCommon.h"

#include "cascade/Analysis/GpuStatePlan.h"
#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

class StateKernelBuilder {
public:
  StateKernelBuilder(func::FuncOp source, const GpuStatePlan &plan,
                     Type storage)
      : source(source), plan(plan), storage(storage), b(source.getContext()),
        loc(source.getLoc()) {}

  LogicalResult build();

private:
  const WorkPlan &work() const { return plan.getSchedule().getWork(); }
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  void createKernel();
  LogicalResult computeExtents();

  /// The coordinate of every rank of `einsum` from `at`.
  FailureOr<SmallVector<Value>> dimsOf(EinsumOp einsum,
                                      const llvm::StringMap<Value> &at);
  SmallVector<Value> symbolsOf(EinsumOp einsum);
  /// Whether the point `at` is in the domain: inside every partitioned rank
  /// and satisfying the predicate.
  Value pointHolds(EinsumOp einsum, ArrayRef<Value> dims);
  /// Operand `operand` of `einsum` at the point.
  Value loadOperand(EinsumOp einsum, unsigned operand, ArrayRef<Value> dims);
  /// The body at the point (operands loaded here).
  Value evaluateBody(EinsumOp einsum, ArrayRef<Value> dims);
  /// The reductions from `level` down at the point `at` (the output ranks
  /// set): the folded value and whether any point was folded.
  FailureOr<std::pair<Value, Value>> reduceFrom(EinsumOp einsum, int level,
                                                llvm::StringMap<Value> &at);
  /// The Einsum's value at the output point `at`, its fill where no point
  /// was reduced.
  FailureOr<Value> computePoint(EinsumOp einsum, llvm::StringMap<Value> &at);

  /// Linear f32 index into the shared array.
  Value sharedIndex(int64_t offset, ArrayRef<int64_t> shape,
                    ArrayRef<Value> indices);
  /// Distributes the `count` elements of a tile over the block's threads;
  /// `body` gets the linear element index.
  void forEachElement(int64_t count, function_ref<void(Value)> body);
  LogicalResult emitEinsum(EinsumOp einsum);
  void emitCopy(Value from, Value to);
  /// Copies `count` floats of the shared array from offset `source` to
  /// offset `target`, element i by thread i mod threads.
  void copyElements(int64_t count, Value source, Value target);
  LogicalResult emitOps(Block &block);
  LogicalResult emitQueryIterate(IterateOp iterate);
  /// After state step `step`: each stack's entry into its ring's slot.
  void emitRingStores(IterateOp iterate, Value step);
  LogicalResult emitStateSteps(Value from, Value to);
  /// One step of `iterate` at key tile `step`: its body, then its yields
  /// copied into the carried buffers, and a barrier.
  LogicalResult emitStep(IterateOp iterate, Value step);
  LogicalResult emitResultStore(unsigned index, Value tile);
  /// The block's column (in a buffer) of global column `global` of the
  /// split rank.
  Value localColumn(Value global) {
    return arith::SubIOp::create(b, loc, global, columnBase);
  }
  /// The coordinates in a buffer holding dimensions `dims` of `tile` of
  /// the element the map results `indexAt(d)` (global coordinates)
  /// address: the split rank's at the block's columns.
  SmallVector<Value> bufferIndices(Value tile, ArrayRef<unsigned> dims,
                                   function_ref<Value(unsigned)> indexAt);

  func::FuncOp source;
  const GpuStatePlan &plan;
  Type storage;
  OpBuilder b;
  Location loc;
  gpu::GPUFuncOp kernel;
  FailureOr<RankEnvironment> env = failure();
  Value shared, thread;
  /// With the columns split: this block's column block and its first
  /// column (null otherwise).
  Value columnBlock, columnBase;
  llvm::StringMap<Value> extents;
  /// Ranks fixed for the block, the query tile or the key step.
  llvm::StringMap<Value> fixed;
  /// The Einsums outside the grids: one value per thread.
  llvm::DenseMap<Value, Value> scalars;
};

} // namespace

void StateKernelBuilder::createKernel() {
  MLIRContext *context = source.getContext();
  gpu::GPUModuleOp gpuModule = createKernelModule(b, source);
  SmallVector<Type> inputs = kernelInputTypes(source, storage);
  for (auto [i, type] : llvm::enumerate(source.getResultTypes()))
    inputs.push_back(MemRefType::get(
        cast<RankedTensorType>(type).getShape(),
        plan.isF32Result(i) ? Type(b.getF32Type()) : storage));
  auto workgroup =
      gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup);
  int64_t floats = std::max<int64_t>(plan.getSharedMemoryBytes() / 4, 1);
  auto sharedType = MemRefType::get({floats}, b.getF32Type(),
                                    MemRefLayoutAttrInterface(), workgroup);
  bool dynamicShared = plan.usesDynamicSharedMemory();
  b.setInsertionPointToStart(gpuModule.getBody());
  if (dynamicShared)
    declareDynamicSharedMemory(b, loc);
  kernel = gpu::GPUFuncOp::create(
      b, loc, getGpuKernelName(source), b.getFunctionType(inputs, {}),
      dynamicShared ? TypeRange() : TypeRange(sharedType));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  kernel.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(plan.getThreadsPerBlock()), 1, 1}));
  b.setInsertionPointToStart(&kernel.getBody().front());
  if (dynamicShared) {
    // f32 buffers need 4-byte alignment; the base has 16.
    auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                 MemRefLayoutAttrInterface(), workgroup);
    Value memory = gpu::DynamicSharedMemoryOp::create(b, loc, bytes);
    shared = memref::ViewOp::create(b, loc, sharedType, memory, index(0),
                                    ValueRange{});
  } else {
    shared = kernel.getWorkgroupAttributions()[0];
  }
  thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
}

LogicalResult StateKernelBuilder::computeExtents() {
  env = RankEnvironment::build(source);
  if (failed(env))
    return failure();
  return computeKernelExtents(b, loc, *env, kernel, work(), extents);
}

//===----------------------------------------------------------------------===//
// One point of an Einsum
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<Value>>
StateKernelBuilder::dimsOf(EinsumOp einsum, const llvm::StringMap<Value> &at) {
  SmallVector<Value> dims;
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
    Value value = at.lookup(rank);
    if (!value)
      value = fixed.lookup(rank);
    if (!value)
      return einsum.emitError("no coordinate for rank '")
             << rank << "' in the state-phase kernel";
    dims.push_back(value);
  }
  return dims;
}

SmallVector<Value> StateKernelBuilder::symbolsOf(EinsumOp einsum) {
  SmallVector<Value> values;
  for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
    values.push_back(extents.lookup(symbol));
  return values;
}

Value StateKernelBuilder::pointHolds(EinsumOp einsum, ArrayRef<Value> dims) {
  Value all = arith::ConstantIntOp::create(b, loc, 1, 1);
  auto conjoin = [&](Value holds) {
    all = arith::AndIOp::create(b, loc, all, holds);
  };
  // Past the end of a partitioned rank: outer * tile + inner >= extent.
  SmallVector<StringRef> ranks =
      llvm::to_vector(einsum.getRanks().getAsValueRange<StringAttr>());
  for (PartitionOp partition : env->getPartitionsOfInnerRanks(ranks)) {
    int64_t inner = einsum.getRankPosition(partition.getInner());
    int64_t outerPosition = einsum.getRankPosition(partition.getOuter());
    Value outer = outerPosition >= 0 ? dims[outerPosition]
                                     : fixed.lookup(partition.getOuter());
    Value coordinate = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, outer, index(partition.getTile())),
        dims[inner]);
    conjoin(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                  coordinate,
                                  extents.lookup(partition.getRank())));
  }
  // Past the split rank's extent, in the last column block.
  const std::optional<GpuColumnSplit> &columns = plan.getColumnSplit();
  if (columns && columns->hasTail())
    if (int64_t column = einsum.getRankPosition(columns->rank); column >= 0)
      conjoin(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                    dims[column], index(columns->extent)));
  if (Value holds = buildAffinePredicate(b, loc, einsum, dims, symbolsOf(einsum)))
    conjoin(holds);
  return all;
}

Value StateKernelBuilder::sharedIndex(int64_t offset, ArrayRef<int64_t> shape,
                                      ArrayRef<Value> indices) {
  Value linear = index(0);
  for (auto [extent, at] : llvm::zip(shape, indices))
    linear = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, linear, index(extent)), at);
  return arith::AddIOp::create(b, loc, linear, index(offset));
}

SmallVector<Value>
StateKernelBuilder::bufferIndices(Value tile, ArrayRef<unsigned> dims,
                                  function_ref<Value(unsigned)> indexAt) {
  std::optional<unsigned> column = plan.getColumnDim(tile);
  SmallVector<Value> indices;
  for (unsigned dim : dims)
    indices.push_back(dim == column ? localColumn(indexAt(dim))
                                    : indexAt(dim));
  return indices;
}

Value StateKernelBuilder::loadOperand(EinsumOp einsum, unsigned operand,
                                      ArrayRef<Value> dims) {
  Value input = einsum.getInputs()[operand];
  Type bodyType = einsum.getBodyBlock().getArgument(operand).getType();
  if (Value scalar = scalars.lookup(input))
    return convertScalar(b, loc, scalar, bodyType);
  AffineMap map =
      cast<AffineMapAttr>(einsum.getIndexingMaps()[operand]).getValue();
  SmallVector<Value> syms = symbolsOf(einsum);
  auto indexAt = [&](unsigned dim) {
    return affine::expandAffineExpr(b, loc, map.getResult(dim), dims, syms);
  };
  if (const GpuStateRead *read = plan.getStateRead(einsum, operand)) {
    // The grid result's tile dimensions (the block's columns of the split
    // rank), in the buffer of one step.
    SmallVector<Value> indices = bufferIndices(input, read->tileDims, indexAt);
    Value at;
    if (int64_t depth = read->stacked ? plan.getRingDepth(read->stack) : 0) {
      // The stack's entry at the step, in its ring. A step outside the
      // stack is never read (the read's predicate fails first), so the
      // unsigned remainder only keeps the address inside the ring.
      SmallVector<int64_t> shape = plan.getStackEntryShape(read->stack);
      Value slot = arith::RemUIOp::create(
          b, loc, indexAt(read->stepDim), index(depth));
      at = arith::AddIOp::create(
          b, loc, sharedIndex(plan.getRingOffset(read->stack), shape, indices),
          arith::MulIOp::create(b, loc, slot,
                                index(ShapedType::getNumElements(shape))));
    } else {
      // The carried state (after the steps the tile reads), whose buffer
      // is the grid result's tile dimensions.
      Value carried =
          plan.getStateIterate().getBodyBlock().getArgument(read->carried);
      at = sharedIndex(plan.getOffset(carried), plan.getBufferShape(carried),
                       indices);
    }
    return convertScalar(b, loc, memref::LoadOp::create(b, loc, shared, at),
                         bodyType);
  }
  if (auto argument = dyn_cast<BlockArgument>(input);
      argument && argument.getOwner()->getParentOp() == source) {
    SmallVector<Value> indices;
    for (unsigned dim = 0; dim < map.getNumResults(); ++dim)
      indices.push_back(indexAt(dim));
    Value global = kernel.getArgument(argument.getArgNumber());
    return convertScalar(b, loc, memref::LoadOp::create(b, loc, global, indices),
                         bodyType);
  }
  Value at = sharedIndex(
      plan.getOffset(input), plan.getBufferShape(input),
      bufferIndices(input, llvm::to_vector(llvm::seq(map.getNumResults())),
                    indexAt));
  return convertScalar(b, loc, memref::LoadOp::create(b, loc, shared, at),
                       bodyType);
}

Value StateKernelBuilder::evaluateBody(EinsumOp einsum, ArrayRef<Value> dims) {
  return cloneEinsumBody(
      b, loc, einsum,
      [&](unsigned i) { return loadOperand(einsum, i, dims); },
      [&](StringRef rank) { return dims[einsum.getRankPosition(rank)]; },
      extents);
}

FailureOr<std::pair<Value, Value>>
StateKernelBuilder::reduceFrom(EinsumOp einsum, int level,
                               llvm::StringMap<Value> &at) {
  Type f32 = b.getF32Type();
  if (level < 0) {
    FailureOr<SmallVector<Value>> dims = dimsOf(einsum, at);
    if (failed(dims))
      return failure();
    Value holds = pointHolds(einsum, *dims);
    // Nothing is read at a point outside the domain.
    auto branch = scf::IfOp::create(b, loc, TypeRange{f32}, holds, true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(branch.thenBlock());
      scf::YieldOp::create(b, loc, evaluateBody(einsum, *dims));
      b.setInsertionPointToStart(branch.elseBlock());
      scf::YieldOp::create(
          b, loc,
          ValueRange{arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0))});
    }
    return std::make_pair(branch.getResult(0), holds);
  }
  auto reduction = cast<ReductionAttr>(einsum.getReductions()[level]);
  StringRef rank = reduction.getRank().getValue();
  Value extent = extents.lookup(rank);
  if (!extent)
    return einsum.emitError("no extent for reduced rank '") << rank << "'";
  // Whether any point was reduced is carried as an i32, not an i1: the
  // hardware has 7 predicate registers, and ptxas spills the flags of
  // nested reductions to local memory when they are predicates.
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value none = arith::ConstantIntOp::create(b, loc, 0, 32);
  auto loop = scf::ForOp::create(b, loc, index(0), extent, index(1),
                                 ValueRange{zero, none});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  at[rank] = loop.getInductionVar();
  FailureOr<std::pair<Value, Value>> inner = reduceFrom(einsum, level - 1, at);
  at.erase(rank);
  if (failed(inner))
    return failure();
  Value accumulator = loop.getRegionIterArg(0), anyFlag = loop.getRegionIterArg(1);
  auto [value, has] = *inner;
  Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, anyFlag,
                                    arith::ConstantIntOp::create(b, loc, 0, 32));
  Value combined = arith::SelectOp::create(
      b, loc, any,
      buildReduceCombine(b, loc, reduction.getKind(), accumulator, value),
      value);
  scf::YieldOp::create(
      b, loc,
      ValueRange{arith::SelectOp::create(b, loc, has, combined, accumulator),
                 arith::OrIOp::create(
                     b, loc, anyFlag,
                     arith::ExtUIOp::create(b, loc, b.getI32Type(), has))});
  b.setInsertionPointAfter(loop);
  Value reduced = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne, loop.getResult(1),
      arith::ConstantIntOp::create(b, loc, 0, 32));
  return std::make_pair(loop.getResult(0), reduced);
}

FailureOr<Value> StateKernelBuilder::computePoint(EinsumOp einsum,
                                                  llvm::StringMap<Value> &at) {
  FailureOr<std::pair<Value, Value>> reduced = reduceFrom(
      einsum, static_cast<int>(einsum.getReductions().size()) - 1, at);
  if (failed(reduced))
    return failure();
  Value fill =
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(einsum.getFillValue()));
  return arith::SelectOp::create(b, loc, reduced->second, reduced->first, fill)
      .getResult();
}

//===----------------------------------------------------------------------===//
// Tiles
//===----------------------------------------------------------------------===//

void StateKernelBuilder::forEachElement(int64_t count,
                                        function_ref<void(Value)> body) {
  // A uniform loop (every thread the same trip count: the emulator runs no
  // other, and the barriers after it see converged warps), each thread's
  // element guarded where the count is not a multiple of the threads.
  int64_t threads = plan.getThreadsPerBlock();
  OpBuilder::InsertionGuard guard(b);
  if (count > threads) {
    auto loop =
        scf::ForOp::create(b, loc, index(0), index(count), index(threads));
    b.setInsertionPointToStart(loop.getBody());
  }
  Value base = count > threads
                   ? cast<scf::ForOp>(b.getInsertionBlock()->getParentOp())
                         .getInductionVar()
                   : index(0);
  Value linear = arith::AddIOp::create(b, loc, base, thread);
  if (count % threads != 0) {
    auto inside = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, linear,
                              index(count)),
        false);
    b.setInsertionPointToStart(inside.thenBlock());
  }
  body(linear);
}

/// The coordinates of element `linear` of a row-major tile of `shape`.
static SmallVector<Value> unflatten(OpBuilder &b, Location loc, Value linear,
                                    ArrayRef<int64_t> shape) {
  SmallVector<Value> coordinates(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    Value extent = arith::ConstantIndexOp::create(b, loc, shape[i]);
    coordinates[i] = i == 0 ? linear
                            : arith::RemUIOp::create(b, loc, linear, extent)
                                  .getResult();
    if (i > 0)
      linear = arith::DivUIOp::create(b, loc, linear, extent);
  }
  return coordinates;
}

LogicalResult StateKernelBuilder::emitEinsum(EinsumOp einsum) {
  SmallVector<int64_t> shape = plan.getBufferShape(einsum.getResult());
  std::optional<unsigned> column = plan.getColumnDim(einsum.getResult());
  int64_t offset = plan.getOffset(einsum.getResult());
  LogicalResult result = success();
  forEachElement(ShapedType::getNumElements(shape), [&](Value linear) {
    SmallVector<Value> coordinates = unflatten(b, loc, linear, shape);
    if (column)
      coordinates[*column] = arith::AddIOp::create(
          b, loc, columnBase, coordinates[*column]);
    llvm::StringMap<Value> at;
    for (auto [rank, coordinate] : llvm::zip(
             einsum.getOutput().getAsValueRange<StringAttr>(), coordinates))
      at[rank] = coordinate;
    FailureOr<Value> value = computePoint(einsum, at);
    if (failed(value)) {
      result = failure();
      return;
    }
    memref::StoreOp::create(
        b, loc, *value, shared,
        ValueRange{arith::AddIOp::create(b, loc, linear, index(offset))});
  });
  gpu::BarrierOp::create(b, loc);
  return result;
}

void StateKernelBuilder::emitCopy(Value from, Value to) {
  int64_t source = plan.getOffset(from), target = plan.getOffset(to);
  if (source == target)
    return;
  copyElements(ShapedType::getNumElements(plan.getBufferShape(from)),
               index(source), index(target));
}

void StateKernelBuilder::copyElements(int64_t count, Value source,
                                      Value target) {
  forEachElement(count, [&](Value linear) {
    Value value = memref::LoadOp::create(
        b, loc, shared, ValueRange{arith::AddIOp::create(b, loc, linear, source)});
    memref::StoreOp::create(
        b, loc, value, shared,
        ValueRange{arith::AddIOp::create(b, loc, linear, target)});
  });
}

LogicalResult StateKernelBuilder::emitOps(Block &block) {
  for (Operation &op : block) {
    if (isa<YieldOp, PartitionOp>(op))
      continue;
    if (auto einsum = dyn_cast<EinsumOp>(op)) {
      if (failed(emitEinsum(einsum)))
        return failure();
      continue;
    }
    auto iterate = dyn_cast<IterateOp>(op);
    if (!iterate)
      return op.emitError("no GPU form for '") << op.getName() << "'";
    if (iterate == plan.getStateIterate())
      continue; // Run lazily, before each query tile.
    if (failed(emitQueryIterate(iterate)))
      return failure();
  }
  return success();
}

LogicalResult StateKernelBuilder::emitQueryIterate(IterateOp iterate) {
  Block &body = iterate.getBodyBlock();
  for (auto [init, argument] : llvm::zip(iterate.getInits(), body.getArguments()))
    emitCopy(init, argument);
  gpu::BarrierOp::create(b, loc);
  Value steps = extents.lookup(iterate.getRank());
  FailureOr<KeyTileLoopBounds> bounds = buildBlockKeyTileBounds(
      b, loc, iterate, work().queryPartition, fixed, extents, steps);
  if (failed(bounds))
    return failure();
  Value first = bounds->first, last = bounds->last;
  ArrayRef<std::pair<Value, Value>> visited = bounds->visited;
  auto loop = scf::ForOp::create(b, loc, first, last, index(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value step = loop.getInductionVar();
  // A union of ranges: the steps between them are skipped (uniformly, so
  // the barriers inside stay block-wide).
  if (visited.size() > 1) {
    Value any = arith::ConstantIntOp::create(b, loc, 0, 1);
    for (auto [from, to] : visited)
      any = arith::OrIOp::create(
          b, loc, any,
          arith::AndIOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, step,
                                    from),
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, step,
                                    to)));
    auto runs = scf::IfOp::create(b, loc, any, false);
    b.setInsertionPointToStart(runs.thenBlock());
  }
  return emitStep(iterate, step);
}

LogicalResult StateKernelBuilder::emitStep(IterateOp iterate, Value step) {
  Block &body = iterate.getBodyBlock();
  fixed[iterate.getRank()] = step;
  if (failed(emitOps(body)))
    return failure();
  auto yield = cast<YieldOp>(body.getTerminator());
  // The rings first: a stack's entry may be a buffer the carried copies
  // overwrite (an argument's); the rings are no one's source.
  if (iterate == plan.getStateIterate())
    emitRingStores(iterate, step);
  for (auto [value, argument] :
       llvm::zip(yield.getValues(), body.getArguments()))
    emitCopy(value, argument);
  gpu::BarrierOp::create(b, loc);
  fixed.erase(iterate.getRank());
  return success();
}

LogicalResult StateKernelBuilder::emitStateSteps(Value from, Value to) {
  auto loop = scf::ForOp::create(b, loc, from, to, index(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  return emitStep(plan.getStateIterate(), loop.getInductionVar());
}

void StateKernelBuilder::emitRingStores(IterateOp iterate, Value step) {
  auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
  for (unsigned stack : plan.getRingStacks()) {
    int64_t depth = plan.getRingDepth(stack);
    Value entry = yield.getValues()[stack];
    int64_t count = ShapedType::getNumElements(plan.getBufferShape(entry));
    Value slot = arith::AddIOp::create(
        b, loc, index(plan.getRingOffset(stack)),
        arith::MulIOp::create(
            b, loc, arith::RemUIOp::create(b, loc, step, index(depth)),
            index(count)));
    copyElements(count, index(plan.getOffset(entry)), slot);
  }
}

LogicalResult StateKernelBuilder::emitResultStore(unsigned resultIndex,
                                                  Value tile) {
  GridOp grid = plan.getSchedule().getGrid();
  Value out = kernel.getArgument(source.getNumArguments() + resultIndex);
  Type elementType = cast<MemRefType>(out.getType()).getElementType();
  SmallVector<StringRef> ranks = GpuStatePlan::getTileRanks(tile);
  SmallVector<int64_t> shape = plan.getBufferShape(tile);
  if (ranks.size() != shape.size())
    return grid.emitError("result #") << resultIndex << " is not a tile";
  PartitionOp query = work().queryPartition;
  int64_t offset = plan.getOffset(tile);
  const std::optional<GpuColumnSplit> &columns = plan.getColumnSplit();
  std::optional<unsigned> column = plan.getColumnDim(tile);
  LogicalResult result = success();
  forEachElement(ShapedType::getNumElements(shape), [&](Value linear) {
    SmallVector<Value> coordinates = unflatten(b, loc, linear, shape);
    Value inside = arith::ConstantIntOp::create(b, loc, 1, 1);
    if (column) {
      // The block's columns, inside the rank.
      coordinates[*column] = arith::AddIOp::create(b, loc, columnBase,
                                                   coordinates[*column]);
      if (columns->hasTail())
        inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                       coordinates[*column],
                                       index(columns->extent));
    } else if (columns) {
      // A result without the split rank (one value per row): every column
      // block computes it, the first stores it.
      inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                     columnBlock, index(0));
    }
    auto tileCoordinate = [&](StringRef rank) -> Value {
      auto at = llvm::find(ranks, rank);
      return at == ranks.end() ? Value() : coordinates[at - ranks.begin()];
    };
    SmallVector<Value> indices;
    for (StringRef rank : cast<ArrayAttr>(grid.getOutputs()[resultIndex])
                              .getAsValueRange<StringAttr>()) {
      if (rank == query.getRank()) {
        Value row = arith::AddIOp::create(
            b, loc,
            arith::MulIOp::create(b, loc, fixed.lookup(query.getOuter()),
                                  index(query.getTile())),
            tileCoordinate(query.getInner()));
        inside = arith::AndIOp::create(
            b, loc, inside,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row,
                                  extents.lookup(query.getRank())));
        indices.push_back(row);
      } else if (Value value = fixed.lookup(rank)) {
        indices.push_back(value);
      } else if (Value value = tileCoordinate(rank)) {
        indices.push_back(value);
      } else {
        grid.emitError("result #")
            << resultIndex << "'s rank '" << rank << "' is not in its tile";
        result = failure();
        return;
      }
    }
    auto branch = scf::IfOp::create(b, loc, inside, false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    Value value = memref::LoadOp::create(
        b, loc, shared,
        ValueRange{arith::AddIOp::create(b, loc, linear, index(offset))});
    memref::StoreOp::create(b, loc, convertScalar(b, loc, value, elementType),
                            out, indices);
  });
  return result;
}

LogicalResult StateKernelBuilder::build() {
  createKernel();
  if (failed(computeExtents()))
    return failure();
  SmallVector<WorkRankPlan> launch = plan.getLaunchRanks();
  SmallVector<Value> coordinates = computeBlockCoordinates(
      b, loc, kernel.getArgument(source.getNumArguments()), launch);
  for (auto [rank, coordinate] : llvm::zip(work().ranks, coordinates))
    fixed[rank.rank] = coordinate;
  if (const std::optional<GpuColumnSplit> &columns = plan.getColumnSplit()) {
    columnBlock = coordinates.back();
    columnBase =
        arith::MulIOp::create(b, loc, columnBlock, index(columns->width));
  }
  // The Einsums outside the grids: over ranks the block fixes, one value.
  for (Operation &op : source.getBody().front()) {
    auto einsum = dyn_cast<EinsumOp>(op);
    if (!einsum)
      continue;
    for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
      if (!fixed.count(rank))
        return einsum.emitError("no GPU form yet for an Einsum outside the "
                                "grids over rank '")
               << rank << "', which a block does not fix";
    llvm::StringMap<Value> at;
    FailureOr<Value> value = computePoint(einsum, at);
    if (failed(value))
      return failure();
    scalars[einsum.getResult()] = *value;
  }
  // The state phase's initial values, into the carried buffers.
  GridOp state = work().stateGrid;
  if (failed(emitOps(state.getBodyBlock())))
    return failure();
  IterateOp stateIterate = plan.getStateIterate();
  for (auto [init, argument] :
       llvm::zip(stateIterate.getInits(),
                 stateIterate.getBodyBlock().getArguments()))
    emitCopy(init, argument);
  gpu::BarrierOp::create(b, loc);
  // The query tiles in order, carrying the state steps run so far.
  PartitionOp query = work().queryPartition;
  Value stateSteps = extents.lookup(stateIterate.getRank());
  auto tiles = scf::ForOp::create(b, loc, index(0),
                                  extents.lookup(query.getOuter()), index(1),
                                  ValueRange{index(0)});
  b.setInsertionPointToStart(tiles.getBody());
  fixed[query.getOuter()] = tiles.getInductionVar();
  Value done = tiles.getRegionIterArg(0);
  Value needed = index(0);
  if (plan.readsFinalState()) {
    needed = stateSteps;
  } else if (AffineMap map = plan.getStepMap()) {
    SmallVector<Value> dims = {tiles.getInductionVar()};
    for (const WorkRankPlan &rank : work().ranks)
      dims.push_back(fixed.lookup(rank.rank));
    SmallVector<Value> syms;
    for (const std::string &name : plan.getStepSymbols())
      syms.push_back(extents.lookup(name));
    Value step =
        affine::expandAffineExpr(b, loc, map.getResult(0), dims, syms);
    // The tile reads the stack's entry `step`: the state after step + 1
    // steps, within [0, the steps there are] (where the step is out of
    // range, the read's predicate fails).
    needed = arith::MinSIOp::create(
        b, loc,
        arith::MaxSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, step, index(1)), index(0)),
        stateSteps);
  }
  if (failed(emitStateSteps(done, needed)))
    return failure();
  Value nowDone = arith::MaxSIOp::create(b, loc, done, needed);
  GridOp grid = plan.getSchedule().getGrid();
  if (failed(emitOps(grid.getBodyBlock())))
    return failure();
  auto yield = cast<YieldOp>(grid.getBodyBlock().getTerminator());
  for (auto [i, tile] : llvm::enumerate(yield.getValues()))
    if (failed(emitResultStore(i, tile)))
      return failure();
  // The next tile overwrites the buffers the stores read.
  gpu::BarrierOp::create(b, loc);
  scf::YieldOp::create(b, loc, ValueRange{nowDone});
  b.setInsertionPointAfter(tiles);
  gpu::ReturnOp::create(b, loc);
  return success();
}

LogicalResult mlir::cascade::buildGpuStateKernel(func::FuncOp function,
                                                 const GpuStatePlan &plan,
                                                 Type storageType) {
  StateKernelBuilder builder(function, plan, storageType);
  return builder.build();
}
