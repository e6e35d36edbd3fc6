//===- EinsumLoopNest.cpp - One Einsum as a register-tiled vector loop nest ===//
//
// Inside a work item an Einsum computes a small static buffer. Its loop nest,
// as the schedule plan (SchedulePlan.h) lays it out:
//
//   for each outer buffer rank r (bounded by the coordinates inside r)
//     for u0 in steps of U over the row rank u
//       for each group of NV vectors along the vector rank v
//         U x NV accumulators (vector<VL x f32>) live in registers
//         for each reduced rank (outermost first, bounded likewise)
//           evaluate the body at the U x NV points, fold into accumulators
//         store
//
// The plan gives the ranks, VL, U x NV and each operand's access: broadcast
// scalars, contiguous vector loads, or a packed staging buffer (v innermost,
// zero-filled outside the tensor) filled here, before the key loop when the
// plan hoists it. This file only emits: the body is cloned with every scalar
// type widened to vector<VL x T>, the lanes running along v. What it reads
// from the body's shape itself: a body `x / c` or `x * c` with `c` free of
// operands and an `add` reduction reduces `x` and divides once at the end,
// and `a * b` folded by `add` becomes one math.fma (that is what turns
// Q K^T and P V into FMA streams).
//
//===----------------------------------------------------------------------===//

#include "KernelState.h"

#include "cascade/Transforms/EinsumBuilder.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AffineExprVisitor.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::cascade;
using namespace mlir::cascade::cpu;

//===----------------------------------------------------------------------===//
// KernelState helpers
//===----------------------------------------------------------------------===//

Value KernelState::getValidCount(StringRef rank) {
  if (PartitionOp query = getQueryPartition(); rank == query.getInner())
    return tileValid;
  if (PartitionOp key = getKeyPartition(); key && rank == key.getInner())
    return innerValid;
  return constantIndex(getLocalExtent(rank));
}

Value KernelState::constantIndex(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value KernelState::getCoordinate(StringRef rank,
                                 const llvm::StringMap<Value> &local) {
  auto it = local.find(rank);
  if (it != local.end())
    return it->second;
  auto fixedIt = fixed.find(rank);
  if (fixedIt != fixed.end())
    return fixedIt->second;
  // A partitioned rank: outer (fixed) * tile + inner (local).
  for (PartitionOp cut : {getKeyPartition(), getQueryPartition()}) {
    if (!cut || rank != cut.getRank())
      continue;
    auto inner = local.find(cut.getInner());
    auto outer = fixed.find(cut.getOuter());
    if (inner == local.end() || outer == fixed.end())
      return nullptr;
    Value scaled = arith::MulIOp::create(b, loc, outer->second,
                                         constantIndex(cut.getTile()));
    return arith::AddIOp::create(b, loc, scaled, inner->second);
  }
  return nullptr;
}

Value KernelState::allocateBuffer(ArrayRef<int64_t> shape, Type element) {
  OpBuilder::InsertionGuard guard(b);
  // At the start of the entry block: dominates every use.
  b.setInsertionPointToStart(allocaBlock);
  auto type = MemRefType::get(shape, element ? element : b.getF32Type());
  return memref::AllocaOp::create(
      b, loc, type,
      b.getI64IntegerAttr(plan->getTarget().stagingAlignment));
}

void cpu::copyBuffer(KernelState &state, Value from, Value to) {
  memref::CopyOp::create(state.b, state.loc, from, to);
}

//===----------------------------------------------------------------------===//
// The emitter
//===----------------------------------------------------------------------===//

namespace {

/// Whether `expr` mentions dimension `position`.
static bool mentionsDim(AffineExpr expr, unsigned position) {
  return expr.isFunctionOfDim(position);
}

/// How an operand is read at a point.
struct OperandAccess {
  enum class Kind { Broadcast, Contiguous } kind = Kind::Broadcast;
  Storage source;
  /// One expression per dimension of `source.buffer`, in the Einsum's rank
  /// space (global coordinates for globals, buffer ranks for locals).
  SmallVector<AffineExpr> indices;
};

/// A point of the register tile: local coordinates of the buffer ranks and
/// of the reduced ranks. The vector rank's entry is the first lane.
using Point = llvm::StringMap<Value>;

class EinsumLoopNest {
public:
  EinsumLoopNest(KernelState &state, EinsumOp einsum, const Storage &result)
      : s(state), b(state.b), loc(state.loc), einsum(einsum), result(result) {}

  LogicalResult emit();

private:
  /// Takes the loop nest and operand accesses from the plan.
  LogicalResult readPlan();
  LogicalResult prepareOperand(unsigned index, const OperandPlan &planned);
  LogicalResult prepareDataRead(unsigned index, const OperandPlan &planned);
  /// A packed operand or id read: the plan's pack, filled unless it holds
  /// its values already, read at the pack's own ranks.
  FailureOr<OperandAccess> readThroughPack(const OperandPlan &planned);
  FailureOr<Storage> fillPack(unsigned index);
  /// What the body's shape lets the emitter do: the FMA stream and the
  /// factors applied once after the reduction.
  LogicalResult planBody();

  void emitOuterLoops(unsigned level, Point &point);
  void emitUnrolledRows(Point &point);
  void emitTile(Point point, Value rowStart, int64_t rows);
  SmallVector<Value> emitReductions(unsigned level, Point &point,
                                    Value rowStart, int64_t rows,
                                    Value chunkStart,
                                    SmallVector<Value> accumulators);
  SmallVector<Value> emitLeaf(Point &point, Value rowStart, int64_t rows,
                              Value chunkStart, ArrayRef<Value> accumulators);

  // Evaluation at one point (u and v fixed to one row and one vector).
  Value loadOperand(unsigned index, const Point &point);
  /// The indices of `access`'s buffer at `point`.
  SmallVector<Value> getIndices(const OperandAccess &access,
                                const Point &point);
  SmallVector<Value> evaluateBody(ArrayRef<Value> wanted, const Point &point);
  Value evaluatePredicate(const Point &point);
  /// Per lane: every data comparison holds (null without comparisons).
  Value evaluateDataCompares(const Point &point);
  /// The ids data read `index` reads at `point`, one per lane.
  Value loadDataRead(unsigned index, const Point &point);
  /// Whether the mask is evaluated: there is one (an affine predicate or
  /// data comparisons), and the key tile is not one the schedule calls
  /// full.
  bool hasActivePredicate() { return !s.predicatesHold && einsum.hasMask(); }
  /// The predicate as one i1 when the plan tests it once per item
  /// (EinsumPlan::maskPerItem) and it is evaluated here; null otherwise.
  Value evaluateFixedPredicate();
  /// Writes `value` into every element of the result buffer.
  void fillResult(double value);
  /// `point` at row `row` of the register tile starting at `rowStart` and
  /// vector `chunk` of the group starting at `chunkStart`.
  Point tilePoint(const Point &point, Value rowStart, Value chunkStart,
                  int64_t row, int64_t chunk);
  Value laneCoordinates(StringRef rank, const Point &point, Type elementType);
  SmallVector<Value> globalDimValues(const Point &point);
  SmallVector<Value> symbolValues();
  Value splat(double value, Type elementType);

  VectorType vectorOf(Type type) { return VectorType::get({lanes}, type); }

  KernelState &s;
  OpBuilder &b;
  Location loc;
  EinsumOp einsum;
  const Storage &result;

  SmallVector<std::string> rankNames;
  std::string vectorRank, rowRank;
  SmallVector<std::string> outerRanks;
  int64_t lanes = 1, chunks = 1, chunksPerTile = 1, rowsPerTile = 1;
  /// Reduced ranks, outermost first, with their operators.
  SmallVector<std::pair<std::string, ReduceKind>> reductions;
  SmallVector<OperandAccess> accesses;
  /// The reads of the data comparisons, in data-input order.
  SmallVector<OperandAccess> dataAccesses;

  /// Root ops applied after the reduction (outermost last), and the value
  /// reduced in their place.
  SmallVector<std::pair<Operation *, unsigned>> peeledRoots;
  Value reducedValue;
  /// When the reduced value is a*b folded by add: its factors.
  Value fmaLeft, fmaRight;
  bool trackAny = false;
  Type elementType;
};

} // namespace

LogicalResult EinsumLoopNest::readPlan() {
  rankNames = llvm::to_vector(
      llvm::map_range(einsum.getRanks().getAsValueRange<StringAttr>(),
                      [](StringRef r) { return r.str(); }));
  elementType = einsum.getResult().getType().getElementType();
  if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16())
    return einsum.emitError("the CPU backend computes f32 (f16/bf16 tensors are "
                            "widened to f32), not ")
           << elementType;
  elementType = b.getF32Type();

  const EinsumPlan &planned = s.plan->getEinsum(einsum);
  vectorRank = planned.vectorRank;
  rowRank = planned.rowRank;
  outerRanks = planned.outerRanks;
  lanes = planned.lanes;
  chunks = planned.vectorsPerRow;
  chunksPerTile = planned.tileVectors;
  rowsPerTile = planned.tileRows;
  reductions = planned.reductions;
  for (auto [index, operand] : llvm::enumerate(planned.operands))
    if (failed(prepareOperand(index, operand)))
      return failure();
  // The ids are read only where the mask is evaluated.
  if (hasActivePredicate())
    for (auto [index, read] : llvm::enumerate(planned.dataReads))
      if (failed(prepareDataRead(index, read)))
        return failure();
  return planBody();
}

FailureOr<OperandAccess>
EinsumLoopNest::readThroughPack(const OperandPlan &planned) {
  FailureOr<Storage> packed = fillPack(planned.pack);
  if (failed(packed))
    return failure();
  OperandAccess access;
  access.source = *packed;
  for (const std::string &rank : packed->bufferRanks)
    access.indices.push_back(
        getAffineDimExpr(einsum.getRankPosition(rank), b.getContext()));
  access.kind = planned.alongVector ? OperandAccess::Kind::Contiguous
                                    : OperandAccess::Kind::Broadcast;
  return access;
}

LogicalResult EinsumLoopNest::prepareOperand(unsigned index,
                                             const OperandPlan &planned) {
  Value operand = einsum.getInputs()[index];
  OperandAccess access;
  if (planned.kind == OperandPlan::Kind::Packed) {
    FailureOr<OperandAccess> packed = readThroughPack(planned);
    if (failed(packed))
      return failure();
    accesses.push_back(std::move(*packed));
    return success();
  }
  access.source = s.storage.lookup(operand);
  if (access.source.isGlobal) {
    AffineMap map =
        cast<AffineMapAttr>(einsum.getIndexingMaps()[index]).getValue();
    access.indices.assign(map.getResults().begin(), map.getResults().end());
  } else {
    // Read at bare ranks (the plan checked): its own, or another tile-local
    // rank of the same extent in the dimension of a buffer rank.
    AffineMap map =
        cast<AffineMapAttr>(einsum.getIndexingMaps()[index]).getValue();
    ArrayRef<std::string> tensorRanks = access.source.tensorRanks;
    for (const std::string &rank : access.source.bufferRanks) {
      auto *dim = llvm::find(tensorRanks, rank);
      access.indices.push_back(
          dim == tensorRanks.end()
              ? getAffineDimExpr(einsum.getRankPosition(rank), b.getContext())
              : map.getResult(dim - tensorRanks.begin()));
    }
  }
  access.kind = planned.kind == OperandPlan::Kind::Broadcast
                    ? OperandAccess::Kind::Broadcast
                    : OperandAccess::Kind::Contiguous;
  accesses.push_back(std::move(access));
  return success();
}

LogicalResult EinsumLoopNest::prepareDataRead(unsigned index,
                                              const OperandPlan &planned) {
  OperandAccess access;
  if (planned.kind == OperandPlan::Kind::Packed) {
    FailureOr<OperandAccess> packed = readThroughPack(planned);
    if (failed(packed))
      return failure();
    access = std::move(*packed);
  } else {
    // One id for the item or the key step, read from the argument.
    access.source = s.storage.lookup(einsum.getDataInputs()[index]);
    AffineMap map = einsum.getDataMap(index);
    access.indices.assign(map.getResults().begin(), map.getResults().end());
    access.kind = OperandAccess::Kind::Broadcast;
  }
  dataAccesses.push_back(std::move(access));
  return success();
}

/// Fills the plan's pack `index` (unless it holds its values already): the
/// part of its source an access touches, over the pack's ranks with the
/// vector rank innermost, zeros where a coordinate lies past the end of its
/// rank. A hoisted pack is made before the key loop.
FailureOr<Storage> EinsumLoopNest::fillPack(unsigned index) {
  const Storage &packed = s.packs[index];
  if (s.filledPacks.count(index))
    return packed;
  const PackPlan &pack = s.plan->getPacks()[index];
  const Storage &source = s.storage.lookup(pack.source);
  OpBuilder::InsertionGuard guard(b);
  if (pack.hoisted) {
    if (!s.hoistPoint)
      return einsum.emitError("a hoisted pack outside the key loop");
    b.restoreInsertionPoint(*s.hoistPoint);
  }

  // for each pack coordinate: pack[..] = inside ? source[..] : 0
  SmallVector<Value> ivs;
  Point point;
  for (const std::string &rank : pack.ranks) {
    auto loop = scf::ForOp::create(b, loc, s.constantIndex(0),
                                   s.constantIndex(s.getLocalExtent(rank)),
                                   s.constantIndex(1));
    b.setInsertionPointToStart(loop.getBody());
    ivs.push_back(loop.getInductionVar());
    point[rank] = loop.getInductionVar();
  }
  Value inside = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (const std::string &rank : pack.ranks)
    if (s.isPartial(rank) && source.isGlobal) {
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                       point[rank], s.getValidCount(rank));
      inside = arith::AndIOp::create(b, loc, inside, ok);
    }
  Type element = pack.elementType;
  auto branch = scf::IfOp::create(b, loc, TypeRange{element}, inside,
                                  /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(branch.thenBlock());
    // The pack's indices are in the rank space of the Einsum that planned
    // it, which has this Einsum's rank names (packs are shared only then).
    SmallVector<Value> sourceIndices;
    if (source.isGlobal) {
      SmallVector<Value> dims = globalDimValues(point);
      SmallVector<Value> symbols = symbolValues();
      for (AffineExpr expr : pack.indices)
        sourceIndices.push_back(
            affine::expandAffineExpr(b, loc, expr, dims, symbols));
    } else {
      for (AffineExpr expr : pack.indices)
        sourceIndices.push_back(
            point.lookup(rankNames[cast<AffineDimExpr>(expr).getPosition()]));
    }
    Value value = memref::LoadOp::create(b, loc, source.buffer, sourceIndices);
    if (value.getType() != element) // f16 and bf16 operands widen to f32
      value = arith::ExtFOp::create(b, loc, element, value);
    scf::YieldOp::create(b, loc, value);
    b.setInsertionPointToStart(branch.elseBlock());
    scf::YieldOp::create(
        b, loc, ValueRange{arith::ConstantOp::create(
                    b, loc, b.getZeroAttr(element))});
  }
  memref::StoreOp::create(b, loc, branch.getResult(0), packed.buffer, ivs);
  s.filledPacks.insert(index);
  return packed;
}

LogicalResult EinsumLoopNest::planBody() {
  Block &body = einsum.getBodyBlock();
  for (Operation &op : body.without_terminator()) {
    if (isa<IndexOp, ExtentOp>(op))
      continue;
    Dialect *dialect = op.getDialect();
    if (!dialect || (dialect->getNamespace() != "arith" &&
                     dialect->getNamespace() != "math") ||
        op.getNumRegions() != 0)
      return op.emitError("the CPU backend vectorises bodies of arith and "
                          "math ops; it cannot lower '")
             << op.getName() << "'";
  }
  for (Operation &op : body.without_terminator())
    if (auto extent = dyn_cast<ExtentOp>(op))
      if (!s.extents.count(extent.getRank()))
        return extent.emitError("no extent known for rank '")
               << extent.getRank() << "'";
  for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
    if (!s.extents.count(symbol))
      return einsum.emitError("no extent known for rank '") << symbol << "'";

  Value root = body.getTerminator()->getOperand(0);
  bool allAdd = !reductions.empty() &&
                llvm::all_of(reductions, [](auto &r) {
                  return r.second == ReduceKind::add;
                });
  while (allAdd) {
    Operation *op = root.getDefiningOp();
    if (!op || op->getNumOperands() != 2)
      break;
    std::optional<unsigned> reduced;
    if (isa<arith::DivFOp, arith::MulFOp>(op) &&
        isOperandFree(op->getOperand(1)))
      reduced = 0;
    else if (isa<arith::MulFOp>(op) && isOperandFree(op->getOperand(0)))
      reduced = 1;
    if (!reduced)
      break;
    peeledRoots.push_back({op, *reduced});
    root = op->getOperand(*reduced);
  }
  reducedValue = root;
  if (allAdd)
    if (auto mul = root.getDefiningOp<arith::MulFOp>()) {
      fmaLeft = mul.getLhs();
      fmaRight = mul.getRhs();
    }

  if (hasActivePredicate()) {
    int64_t vPosition =
        vectorRank.empty() ? -1 : einsum.getRankPosition(vectorRank);
    for (IntegerSet conjunction : einsum.getDisjuncts())
      for (AffineExpr expr : conjunction.getConstraints())
        if (vPosition >= 0 && mentionsDim(expr, vPosition)) {
          AffineExpr d = getAffineDimExpr(vPosition, b.getContext());
          AffineExpr step = simplifyAffineExpr(
              expr.replace(d, d + 1) - expr, conjunction.getNumDims(),
              conjunction.getNumSymbols());
          if (!isa<AffineConstantExpr>(step))
            return einsum.emitError("the predicate is not affine in rank '")
                   << vectorRank << "', the rank the CPU backend vectorises";
        }
    if (!reductions.empty())
      trackAny = einsum.getFillValue() !=
                 getReduceIdentity(reductions.front().second);
  }
  return success();
}

Value EinsumLoopNest::splat(double value, Type type) {
  auto vectorType = vectorOf(type);
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vectorType, b.getFloatAttr(type, value)));
}

SmallVector<Value> EinsumLoopNest::symbolValues() {
  SmallVector<Value> values;
  for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
    values.push_back(s.extents.lookup(symbol));
  return values;
}

SmallVector<Value> EinsumLoopNest::globalDimValues(const Point &point) {
  SmallVector<Value> values;
  for (const std::string &rank : rankNames) {
    Value coordinate = s.getCoordinate(rank, point);
    values.push_back(coordinate ? coordinate : s.constantIndex(0));
  }
  return values;
}

Value EinsumLoopNest::laneCoordinates(StringRef rank, const Point &point,
                                      Type type) {
  Value scalar = s.getCoordinate(rank, point);
  Value lanesValue;
  if (rank == vectorRank && lanes > 1) {
    Value base = vector::BroadcastOp::create(b, loc, vectorOf(b.getIndexType()),
                                             scalar);
    Value step = vector::StepOp::create(b, loc, vectorOf(b.getIndexType()));
    lanesValue = arith::AddIOp::create(b, loc, base, step);
  } else {
    lanesValue = vector::BroadcastOp::create(
        b, loc, vectorOf(b.getIndexType()), scalar);
  }
  if (type.isIndex())
    return lanesValue;
  if (isa<IntegerType>(type))
    return arith::IndexCastOp::create(b, loc, vectorOf(type), lanesValue);
  Value asInteger =
      arith::IndexCastOp::create(b, loc, vectorOf(b.getI64Type()), lanesValue);
  return arith::SIToFPOp::create(b, loc, vectorOf(type), asInteger);
}

SmallVector<Value> EinsumLoopNest::getIndices(const OperandAccess &access,
                                              const Point &point) {
  SmallVector<Value> indices;
  if (access.source.isGlobal) {
    SmallVector<Value> dims = globalDimValues(point);
    SmallVector<Value> symbols = symbolValues();
    for (AffineExpr expr : access.indices)
      indices.push_back(affine::expandAffineExpr(b, loc, expr, dims, symbols));
  } else {
    for (AffineExpr expr : access.indices)
      indices.push_back(
          point.lookup(rankNames[cast<AffineDimExpr>(expr).getPosition()]));
  }
  return indices;
}

Value EinsumLoopNest::loadDataRead(unsigned index, const Point &point) {
  const OperandAccess &access = dataAccesses[index];
  SmallVector<Value> indices = getIndices(access, point);
  Type id = cast<MemRefType>(access.source.buffer.getType()).getElementType();
  if (access.kind == OperandAccess::Kind::Contiguous)
    return vector::LoadOp::create(b, loc, vectorOf(id), access.source.buffer,
                                  indices);
  Value value = memref::LoadOp::create(b, loc, access.source.buffer, indices);
  return vector::BroadcastOp::create(b, loc, vectorOf(id), value);
}

Value EinsumLoopNest::evaluateDataCompares(const Point &point) {
  Value all;
  for (auto [i, compare] : llvm::enumerate(einsum.getDataCompares())) {
    arith::CmpIPredicate predicate;
    switch (compare.getKind()) {
    case CompareKind::eq:
      predicate = arith::CmpIPredicate::eq;
      break;
    case CompareKind::le:
      predicate = arith::CmpIPredicate::sle;
      break;
    case CompareKind::lt:
      predicate = arith::CmpIPredicate::slt;
      break;
    }
    Value holds = arith::CmpIOp::create(b, loc, predicate,
                                        loadDataRead(2 * i, point),
                                        loadDataRead(2 * i + 1, point));
    all = all ? arith::AndIOp::create(b, loc, all, holds).getResult() : holds;
  }
  return all;
}

Value EinsumLoopNest::loadOperand(unsigned index, const Point &point) {
  const OperandAccess &access = accesses[index];
  SmallVector<Value> indices = getIndices(access, point);
  Type stored =
      cast<MemRefType>(access.source.buffer.getType()).getElementType();
  Value value;
  if (access.kind == OperandAccess::Kind::Contiguous) {
    value = vector::LoadOp::create(b, loc, vectorOf(stored),
                                   access.source.buffer, indices);
    if (!stored.isF32())
      value = arith::ExtFOp::create(b, loc, vectorOf(b.getF32Type()), value);
    return value;
  }
  value = memref::LoadOp::create(b, loc, access.source.buffer, indices);
  if (!stored.isF32())
    value = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  return vector::BroadcastOp::create(b, loc, vectorOf(b.getF32Type()), value);
}

SmallVector<Value> EinsumLoopNest::evaluateBody(ArrayRef<Value> wanted,
                                                const Point &point) {
  Block &body = einsum.getBodyBlock();
  // The ops `wanted` depends on.
  llvm::SmallPtrSet<Operation *, 16> needed;
  llvm::SmallDenseSet<unsigned, 8> neededArguments;
  SmallVector<Value> worklist(wanted.begin(), wanted.end());
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (auto argument = dyn_cast<BlockArgument>(v)) {
      neededArguments.insert(argument.getArgNumber());
      continue;
    }
    if (needed.insert(v.getDefiningOp()).second)
      llvm::append_range(worklist, v.getDefiningOp()->getOperands());
  }
  IRMapping mapping;
  for (unsigned argument : neededArguments)
    mapping.map(body.getArgument(argument), loadOperand(argument, point));
  for (Operation &op : body.without_terminator()) {
    if (!needed.count(&op))
      continue;
    Value replacement;
    if (auto index = dyn_cast<IndexOp>(op)) {
      replacement = laneCoordinates(index.getRank(), point, index.getType());
    } else if (auto extent = dyn_cast<ExtentOp>(op)) {
      Value scalar = s.extents.lookup(extent.getRank());
      Type type = extent.getType();
      if (isa<IntegerType>(type))
        scalar = arith::IndexCastOp::create(b, loc, type, scalar);
      else if (isa<FloatType>(type))
        scalar = arith::SIToFPOp::create(
            b, loc, type,
            arith::IndexCastOp::create(b, loc, b.getI64Type(), scalar));
      replacement = vector::BroadcastOp::create(b, loc, vectorOf(type), scalar);
    } else if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      auto typed = cast<TypedAttr>(constant.getValue());
      replacement = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vectorOf(typed.getType()), typed));
    }
    if (replacement) {
      mapping.map(op.getResult(0), replacement);
      continue;
    }
    Operation *clone = b.clone(op, mapping);
    for (OpResult result : clone->getResults())
      result.setType(vectorOf(result.getType()));
  }
  return llvm::to_vector(
      llvm::map_range(wanted, [&](Value v) { return mapping.lookup(v); }));
}

Value EinsumLoopNest::evaluatePredicate(const Point &point) {
  SmallVector<Value> dims = globalDimValues(point);
  SmallVector<Value> symbols = symbolValues();
  int64_t vPosition =
      vectorRank.empty() ? -1 : einsum.getRankPosition(vectorRank);
  auto maskType = vectorOf(b.getI1Type());
  // Per lane: one of the conjunctions has all its constraints hold.
  Value mask;
  for (IntegerSet conjunction : einsum.getDisjuncts()) {
    Value all;
    for (unsigned i = 0; i < conjunction.getNumConstraints(); ++i) {
      AffineExpr expr = conjunction.getConstraint(i);
      auto compare = conjunction.isEq(i) ? arith::CmpIPredicate::eq
                                         : arith::CmpIPredicate::sge;
      Value holds;
      Value base = affine::expandAffineExpr(b, loc, expr, dims, symbols);
      if (vPosition >= 0 && mentionsDim(expr, vPosition) && lanes > 1) {
        AffineExpr d = getAffineDimExpr(vPosition, b.getContext());
        int64_t step =
            cast<AffineConstantExpr>(
                simplifyAffineExpr(expr.replace(d, d + 1) - expr,
                                   conjunction.getNumDims(),
                                   conjunction.getNumSymbols()))
                .getValue();
        auto indexVector = vectorOf(b.getIndexType());
        Value laneSteps = arith::MulIOp::create(
            b, loc, vector::StepOp::create(b, loc, indexVector),
            arith::ConstantOp::create(
                b, loc,
                DenseElementsAttr::get(indexVector, b.getIndexAttr(step))));
        Value values = arith::AddIOp::create(
            b, loc, vector::BroadcastOp::create(b, loc, indexVector, base),
            laneSteps);
        Value zero = arith::ConstantOp::create(
            b, loc, DenseElementsAttr::get(indexVector, b.getIndexAttr(0)));
        holds = arith::CmpIOp::create(b, loc, compare, values, zero);
      } else {
        Value scalar = arith::CmpIOp::create(b, loc, compare, base,
                                             s.constantIndex(0));
        holds = vector::BroadcastOp::create(b, loc, maskType, scalar);
      }
      all = all ? arith::AndIOp::create(b, loc, all, holds) : holds;
    }
    if (!all) // A conjunction without constraints always holds.
      all = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(maskType, b.getBoolAttr(true)));
    mask = mask ? arith::OrIOp::create(b, loc, mask, all) : all;
  }
  // The data comparisons are conjoined to the affine predicate (which is
  // absent, i.e. true, in a data-only mask).
  if (Value data = evaluateDataCompares(point))
    mask = mask ? arith::AndIOp::create(b, loc, mask, data).getResult() : data;
  return mask;
}

Point EinsumLoopNest::tilePoint(const Point &point, Value rowStart,
                                Value chunkStart, int64_t row, int64_t chunk) {
  Point at = point;
  if (!rowRank.empty())
    at[rowRank] = row == 0 ? rowStart
                           : arith::AddIOp::create(b, loc, rowStart,
                                                   s.constantIndex(row));
  if (!vectorRank.empty())
    at[vectorRank] = arith::MulIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, chunkStart, s.constantIndex(chunk)),
        s.constantIndex(lanes));
  return at;
}

//===----------------------------------------------------------------------===//
// Loops
//===----------------------------------------------------------------------===//

LogicalResult EinsumLoopNest::emit() {
  // A predicate over ranks the work item (or key step) fixes holds for the
  // whole result or for none of it: test it once, run the loop nest
  // unmasked where it holds and write the else value where it does not.
  // Its operands may then be read at indices that exist only where it
  // holds (cascade-chunk's state of the past key tiles).
  if (Value holds = evaluateFixedPredicate()) {
    auto branch = scf::IfOp::create(b, loc, holds, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.elseBlock());
    fillResult(einsum.getFillValue());
    b.setInsertionPointToStart(branch.thenBlock());
    bool held = s.predicatesHold;
    s.predicatesHold = true;
    LogicalResult emitted = emit();
    s.predicatesHold = held;
    return emitted;
  }
  if (failed(readPlan()))
    return failure();
  Point point;
  emitOuterLoops(0, point);
  return success();
}

Value EinsumLoopNest::evaluateFixedPredicate() {
  if (!hasActivePredicate() || !s.plan->getEinsum(einsum).maskPerItem)
    return nullptr;
  // The plan checked that every rank the predicate mentions is fixed.
  SmallVector<Value> dims;
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
    Value fixed = s.fixed.lookup(rank);
    dims.push_back(fixed ? fixed : s.constantIndex(0));
  }
  SmallVector<Value> symbols = symbolValues();
  Value zero = s.constantIndex(0);
  Value any;
  for (IntegerSet conjunction : einsum.getDisjuncts()) {
    Value all = arith::ConstantIntOp::create(b, loc, 1, 1);
    for (auto [i, expr] : llvm::enumerate(conjunction.getConstraints())) {
      Value value = affine::expandAffineExpr(b, loc, expr, dims, symbols);
      Value holds = arith::CmpIOp::create(
          b, loc,
          conjunction.isEq(i) ? arith::CmpIPredicate::eq
                              : arith::CmpIPredicate::sge,
          value, zero);
      all = arith::AndIOp::create(b, loc, all, holds);
    }
    any = any ? arith::OrIOp::create(b, loc, any, all).getResult() : all;
  }
  return any;
}

void EinsumLoopNest::fillResult(double value) {
  OpBuilder::InsertionGuard guard(b);
  auto type = cast<MemRefType>(result.buffer.getType());
  SmallVector<Value> indices;
  for (int64_t size : type.getShape()) {
    auto loop = scf::ForOp::create(b, loc, s.constantIndex(0),
                                   s.constantIndex(size), s.constantIndex(1));
    b.setInsertionPointToStart(loop.getBody());
    indices.push_back(loop.getInductionVar());
  }
  Value constant = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), value));
  memref::StoreOp::create(b, loc, constant, result.buffer, indices);
}

void EinsumLoopNest::emitOuterLoops(unsigned level, Point &point) {
  if (level == outerRanks.size())
    return emitUnrolledRows(point);
  OpBuilder::InsertionGuard guard(b);
  const std::string &rank = outerRanks[level];
  auto loop = scf::ForOp::create(b, loc, s.constantIndex(0),
                                 s.getValidCount(rank), s.constantIndex(1));
  b.setInsertionPointToStart(loop.getBody());
  point[rank] = loop.getInductionVar();
  emitOuterLoops(level + 1, point);
}

void EinsumLoopNest::emitUnrolledRows(Point &point) {
  if (rowRank.empty())
    return emitTile(point, nullptr, 1);
  OpBuilder::InsertionGuard guard(b);
  Value valid = s.getValidCount(rowRank);
  Value one = s.constantIndex(1);
  Value fullEnd = s.constantIndex(0);
  if (rowsPerTile > 1) {
    Value step = s.constantIndex(rowsPerTile);
    fullEnd = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, valid, step), step);
    auto full =
        scf::ForOp::create(b, loc, s.constantIndex(0), fullEnd, step);
    b.setInsertionPointToStart(full.getBody());
    emitTile(point, full.getInductionVar(), rowsPerTile);
    b.setInsertionPointAfter(full);
  }
  auto rest = scf::ForOp::create(b, loc, fullEnd, valid, one);
  b.setInsertionPointToStart(rest.getBody());
  emitTile(point, rest.getInductionVar(), 1);
}

void EinsumLoopNest::emitTile(Point point, Value rowStart, int64_t rows) {
  OpBuilder::InsertionGuard guard(b);
  Value chunkStart = s.constantIndex(0);
  if (chunks > chunksPerTile) {
    auto loop = scf::ForOp::create(b, loc, s.constantIndex(0),
                                   s.constantIndex(chunks),
                                   s.constantIndex(chunksPerTile));
    b.setInsertionPointToStart(loop.getBody());
    chunkStart = loop.getInductionVar();
  }
  int64_t perRow = chunksPerTile;
  auto pointAt = [&](int64_t row, int64_t chunk) {
    return tilePoint(point, rowStart, chunkStart, row, chunk);
  };
  auto store = [&](Value value, const Point &at) {
    SmallVector<Value> indices;
    for (const std::string &rank : result.bufferRanks)
      indices.push_back(at.lookup(rank));
    // A 0-d buffer (every rank fixed for the work item, e.g. a per-head
    // ALiBi slope) holds one scalar, lane 0.
    if (indices.empty()) {
      memref::StoreOp::create(
          b, loc, vector::ExtractOp::create(b, loc, value, ArrayRef<int64_t>{0}),
          result.buffer);
      return;
    }
    vector::StoreOp::create(b, loc, value, result.buffer, indices);
  };

  if (reductions.empty()) {
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t chunk = 0; chunk < perRow; ++chunk) {
        Point at = pointAt(row, chunk);
        Value value = evaluateBody(
            einsum.getBodyBlock().getTerminator()->getOperand(0), at)[0];
        if (hasActivePredicate())
          value = arith::SelectOp::create(b, loc, evaluatePredicate(at), value,
                                          splat(einsum.getFillValue(),
                                                elementType));
        store(value, at);
      }
    return;
  }

  SmallVector<Value> accumulators;
  double identity = getReduceIdentity(reductions.front().second);
  for (int64_t i = 0; i < rows * perRow; ++i)
    accumulators.push_back(splat(identity, elementType));
  if (trackAny)
    for (int64_t i = 0; i < rows * perRow; ++i)
      accumulators.push_back(arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vectorOf(b.getI1Type()), false)));
  accumulators =
      emitReductions(0, point, rowStart, rows, chunkStart, accumulators);

  for (int64_t row = 0; row < rows; ++row)
    for (int64_t chunk = 0; chunk < perRow; ++chunk) {
      Point at = pointAt(row, chunk);
      Value value = accumulators[row * perRow + chunk];
      for (auto [root, reducedOperand] : llvm::reverse(peeledRoots)) {
        Value scaleSource = root->getOperand(1 - reducedOperand);
        IRMapping mapping;
        mapping.map(scaleSource, evaluateBody(scaleSource, at)[0]);
        mapping.map(root->getOperand(reducedOperand), value);
        Operation *clone = b.clone(*root, mapping);
        clone->getResult(0).setType(vectorOf(elementType));
        value = clone->getResult(0);
      }
      if (trackAny)
        value = arith::SelectOp::create(
            b, loc, accumulators[rows * perRow + row * perRow + chunk], value,
            splat(einsum.getFillValue(), elementType));
      store(value, at);
    }
}

SmallVector<Value>
EinsumLoopNest::emitReductions(unsigned level, Point &point, Value rowStart,
                               int64_t rows, Value chunkStart,
                               SmallVector<Value> accumulators) {
  if (level == reductions.size())
    return emitLeaf(point, rowStart, rows, chunkStart, accumulators);
  const auto &[rank, kind] = reductions[level];
  auto loop = scf::ForOp::create(b, loc, s.constantIndex(0),
                                 s.getValidCount(rank), s.constantIndex(1),
                                 accumulators);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  point[rank] = loop.getInductionVar();
  SmallVector<Value> carried(loop.getRegionIterArgs().begin(),
                             loop.getRegionIterArgs().end());
  SmallVector<Value> next;
  bool innerKindDiffers = level + 1 < reductions.size() &&
                          reductions[level + 1].second != kind;
  if (innerKindDiffers) {
    // A different inner operator folds its own partial result first.
    size_t values = rows * chunksPerTile;
    SmallVector<Value> fresh(carried);
    double identity = getReduceIdentity(reductions[level + 1].second);
    for (size_t i = 0; i < values; ++i)
      fresh[i] = splat(identity, elementType);
    SmallVector<Value> inner =
        emitReductions(level + 1, point, rowStart, rows, chunkStart, fresh);
    next = inner;
    for (size_t i = 0; i < values; ++i)
      next[i] = buildReduceCombine(b, loc, kind, carried[i], inner[i]);
  } else {
    next = emitReductions(level + 1, point, rowStart, rows, chunkStart,
                          carried);
  }
  scf::YieldOp::create(b, loc, next);
  point.erase(rank);
  return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
}

SmallVector<Value> EinsumLoopNest::emitLeaf(Point &point, Value rowStart,
                                            int64_t rows, Value chunkStart,
                                            ArrayRef<Value> accumulators) {
  SmallVector<Value> next(accumulators.begin(), accumulators.end());
  ReduceKind kind = reductions.back().second;
  int64_t perRow = chunksPerTile;
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t chunk = 0; chunk < perRow; ++chunk) {
      Point at = tilePoint(point, rowStart, chunkStart, row, chunk);
      size_t slot = row * perRow + chunk;
      Value accumulator = accumulators[slot];
      Value updated;
      if (fmaLeft) {
        SmallVector<Value> factors = evaluateBody({fmaLeft, fmaRight}, at);
        updated = math::FmaOp::create(b, loc, factors[0], factors[1],
                                      accumulator);
      } else {
        Value value = evaluateBody(reducedValue, at)[0];
        updated = buildReduceCombine(b, loc, kind, accumulator, value);
      }
      if (hasActivePredicate()) {
        Value mask = evaluatePredicate(at);
        updated = arith::SelectOp::create(b, loc, mask, updated, accumulator);
        if (trackAny) {
          size_t anySlot = rows * perRow + slot;
          next[anySlot] =
              arith::OrIOp::create(b, loc, accumulators[anySlot], mask);
        }
      }
      next[slot] = updated;
    }
  return next;
}

LogicalResult cpu::emitEinsum(KernelState &state, EinsumOp einsum,
                              const Storage &result) {
  return EinsumLoopNest(state, einsum, result).emit();
}
