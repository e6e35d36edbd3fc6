//===- GpuPlan.cpp - How a scheduled cascade maps onto an NVIDIA GPU ------===//

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Analysis/UnitBound.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"

#include <functional>

using namespace mlir;
using namespace mlir::cascade;

std::optional<GpuTarget> GpuTarget::byChip(StringRef chip) {
  GpuTarget target;
  target.chip = chip.str();
  if (chip == "sm_80") {
    target.computeCapability = 80;
    target.sharedMemoryPerBlockOptIn = 163 * 1024;
    target.sharedMemoryPerMultiprocessor = 164 * 1024;
  } else if (chip == "sm_86" || chip == "sm_89") {
    target.computeCapability = chip == "sm_86" ? 86 : 89;
    target.sharedMemoryPerBlockOptIn = 99 * 1024;
    target.sharedMemoryPerMultiprocessor = 100 * 1024;
  } else if (chip == "sm_90a") {
    target.computeCapability = 90;
    target.sharedMemoryPerBlockOptIn = 227 * 1024;
    target.sharedMemoryPerMultiprocessor = 228 * 1024;
  } else {
    return std::nullopt;
  }
  return target;
}

//===----------------------------------------------------------------------===//
// Body shapes
//===----------------------------------------------------------------------===//

static bool readsArgument(Value value) {
  if (isa<BlockArgument>(value))
    return true;
  Operation *op = value.getDefiningOp();
  return llvm::any_of(op->getOperands(), readsArgument);
}

bool mlir::cascade::isScaledProduct(EinsumOp einsum) {
  Block &body = einsum.getBodyBlock();
  if (body.getNumArguments() != 2)
    return false;
  // Walk down the multiplicative chain from the yielded value: exactly one
  // factor is a * b, every other factor (or divisor) reads no operand.
  Value value = body.getTerminator()->getOperand(0);
  while (true) {
    Operation *op = value.getDefiningOp();
    if (!op)
      return false;
    if (auto mul = dyn_cast<arith::MulFOp>(op)) {
      Value lhs = mul.getLhs(), rhs = mul.getRhs();
      auto a = dyn_cast<BlockArgument>(lhs), b = dyn_cast<BlockArgument>(rhs);
      if (a && b && a.getArgNumber() != b.getArgNumber())
        return true;
      bool lhsReads = readsArgument(lhs), rhsReads = readsArgument(rhs);
      if (lhsReads == rhsReads)
        return false;
      value = lhsReads ? lhs : rhs;
      continue;
    }
    if (auto div = dyn_cast<arith::DivFOp>(op)) {
      if (readsArgument(div.getRhs()))
        return false;
      value = div.getLhs();
      continue;
    }
    return false;
  }
}

/// Whether `value` of an Einsum body depends on its block argument
/// `index`.
static bool readsArgument(Value value, unsigned index) {
  if (auto argument = dyn_cast<BlockArgument>(value))
    return argument.getArgNumber() == index;
  return llvm::any_of(value.getDefiningOp()->getOperands(),
                      [&](Value operand) {
                        return readsArgument(operand, index);
                      });
}

/// Whether the body of `einsum` is `x + g` or `select(c, x, x + g)` in its
/// operand `index` (x; c and g not reading it). Then body(x) = x +
/// body(0) up to the sign of a zero sum, so a contraction producing x may
/// start from body(0).
static bool isAccumulationOf(EinsumOp einsum, unsigned index) {
  Block &body = einsum.getBodyBlock();
  Value x = body.getArgument(index);
  auto isSum = [&](Value value) {
    auto add = value.getDefiningOp<arith::AddFOp>();
    if (!add)
      return false;
    Value lhs = add.getLhs(), rhs = add.getRhs();
    return (lhs == x && !readsArgument(rhs, index)) ||
           (rhs == x && !readsArgument(lhs, index));
  };
  Value yielded = body.getTerminator()->getOperand(0);
  if (isSum(yielded))
    return true;
  auto select = yielded.getDefiningOp<arith::SelectOp>();
  return select && !readsArgument(select.getCondition(), index) &&
         select.getTrueValue() == x && isSum(select.getFalseValue());
}

/// Whether the body of a two-operand Einsum is exactly a * b.
static bool isPlainProduct(EinsumOp einsum) {
  Block &body = einsum.getBodyBlock();
  auto mul = body.getTerminator()->getOperand(0).getDefiningOp<arith::MulFOp>();
  return mul && isa<BlockArgument>(mul.getLhs()) &&
         isa<BlockArgument>(mul.getRhs()) && mul.getLhs() != mul.getRhs();
}

//===----------------------------------------------------------------------===//
// The plan
//===----------------------------------------------------------------------===//

static SmallVector<std::string> toStrings(ArrayAttr attr) {
  SmallVector<std::string> strings;
  for (StringRef s : attr.getAsValueRange<StringAttr>())
    strings.push_back(s.str());
  return strings;
}

/// The ranks index map `map` of `einsum` mentions.
static llvm::SmallSetVector<StringRef, 4> mentionedRanks(EinsumOp einsum,
                                                         AffineMap map) {
  llvm::SmallSetVector<StringRef, 4> ranks;
  auto names = einsum.getRanks().getAsValueRange<StringAttr>();
  SmallVector<StringRef> all(names.begin(), names.end());
  for (AffineExpr expr : map.getResults())
    expr.walk([&](AffineExpr e) {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        ranks.insert(all[dim.getPosition()]);
    });
  return ranks;
}

static bool isFunctionArgument(Value value) {
  auto argument = dyn_cast<BlockArgument>(value);
  return argument &&
         isa<func::FuncOp>(argument.getOwner()->getParentOp());
}

const FragmentLayout &GpuPlan::getLayout(Value value) const {
  auto it = layouts.find(value);
  assert(it != layouts.end() && "no layout planned for this value");
  return it->second;
}

FragmentLayout GpuPlan::getKeyTileLayout() const {
  FragmentLayout layout;
  layout.kind = FragmentLayout::Kind::Tile;
  layout.columnRank = keyRank;
  layout.columns = schedule->getLocalExtent(keyRank);
  return layout;
}

const GpuEinsumPlan &GpuPlan::getEinsum(EinsumOp einsum) const {
  auto it = einsums.find(einsum.getOperation());
  assert(it != einsums.end() && "no GPU plan for this Einsum");
  return it->second;
}

int64_t
GpuPlan::layOutSharedMemory(SmallVectorImpl<int64_t> *offsets) const {
  // In declaration order, each buffer at its alignment (what the kernel
  // sets as llvm.align, or the offset of its view): a padded tile (D = 80)
  // before a swizzled one leaves a gap.
  int64_t bytes = 0;
  for (const StagePlan &stage : stages) {
    int64_t align = stage.getAlignment();
    bytes = (bytes + align - 1) / align * align;
    if (offsets)
      offsets->push_back(bytes);
    bytes += stage.getBytes() * (stage.perKeyStep ? keySlots : 1);
  }
  if (tileStage) {
    int64_t align = tileStage->getAlignment();
    bytes = (bytes + align - 1) / align * align;
    if (offsets)
      offsets->push_back(bytes);
    bytes += tileStage->getBytes();
  }
  // The mbarriers: 8 bytes each, 8-byte aligned.
  bytes = (bytes + 7) / 8 * 8;
  if (offsets)
    offsets->push_back(bytes);
  return bytes + 8 * getMbarrierCount();
}

int64_t GpuPlan::getSharedMemoryBytes() const {
  return layOutSharedMemory(nullptr);
}

SmallVector<int64_t> GpuPlan::getSharedMemoryOffsets() const {
  SmallVector<int64_t> offsets;
  layOutSharedMemory(&offsets);
  return offsets;
}

int64_t GpuPlan::getSharedBaseAlignment() const {
  int64_t align = 8;
  for (const StagePlan &stage : stages)
    align = std::max(align, stage.getAlignment());
  if (tileStage)
    align = std::max(align, tileStage->getAlignment());
  return align;
}

int64_t GpuPlan::getDynamicSharedMemoryBytes() const {
  if (!usesDynamicSharedMemory())
    return 0;
  // The base is 16-byte aligned; aligning it up skips at most this much.
  int64_t slack = std::max<int64_t>(
      getSharedBaseAlignment() - kDynamicSharedAlignment, 0);
  return getSharedMemoryBytes() + slack;
}

FailureOr<SchedulePlan>
mlir::cascade::computeGpuSchedule(func::FuncOp function,
                                  const GpuTarget &target) {
  TargetDescription description;
  description.name = target.chip;
  description.staging = TargetDescription::Staging::SharedMemory;
  // The CPU staging buffers do not exist on the GPU: the GPU plans check
  // shared memory against the tiles they stage.
  description.stagingLimitBytes = int64_t(1) << 40;
  return SchedulePlan::compute(function, description);
}

FailureOr<GpuPlan> GpuPlan::compute(func::FuncOp function,
                                    const GpuTarget &target) {
  FailureOr<SchedulePlan> schedule = computeGpuSchedule(function, target);
  if (failed(schedule))
    return failure();
  GpuPlan plan(target, std::move(*schedule));
  WorkPlan work = plan.schedule->getWork();
  GridOp grid = plan.schedule->getGrid();
  if (work.stateGrid)
    return work.stateGrid.emitError(
        "no GPU form yet for a state phase (the key-side state of linear "
        "attention computed once per head); the CPU backend runs it");
  if (!work.queryPartition || !work.keyPartition)
    return grid.emitError("the GPU backend needs the query and the key rank "
                          "partitioned (cascade-partition-rank, "
                          "cascade-stream-rank)");
  plan.rowRank = work.queryPartition.getInner().str();
  plan.keyRank = work.keyPartition.getInner().str();
  int64_t queryTile = work.queryPartition.getTile();
  if (queryTile % 16 != 0 || queryTile < 16 || queryTile > 256)
    return grid.emitError("the GPU backend gives each warp 16 query rows "
                          "(mma.sync m16n8k16): the query tile must be a "
                          "multiple of 16 up to 256, not ")
           << queryTile;
  if (work.keyPartition.getTile() % 16 != 0)
    return grid.emitError("the GPU backend contracts keys 16 at a time "
                          "(mma.sync k = 16): the key tile must be a "
                          "multiple of 16, not ")
           << work.keyPartition.getTile();
  plan.warps = queryTile / 16;
  // Einsums outside the grid run in every block, over ranks the block
  // fixes: one value each (ALiBi's slope of the block's head).
  for (Operation &op : function.getBody().front())
    if (auto einsum = dyn_cast<EinsumOp>(op))
      if (failed(plan.planBlockScalar(einsum)))
        return failure();
  if (failed(plan.planBlock(grid.getBodyBlock())))
    return failure();
  auto yield = cast<YieldOp>(grid.getBodyBlock().getTerminator());
  for (auto [i, tile, ranks] :
       llvm::enumerate(yield.getValues(), grid.getOutputs())) {
    auto it = plan.layouts.find(tile);
    GpuResultPlan result;
    result.tile = tile;
    for (StringRef rank : cast<ArrayAttr>(ranks).getAsValueRange<StringAttr>())
      result.ranks.push_back(rank.str());
    bool isTile = it != plan.layouts.end() &&
                  it->second.kind == FragmentLayout::Kind::Tile &&
                  it->second.columnRank != plan.keyRank;
    bool isRows = it != plan.layouts.end() &&
                  it->second.kind == FragmentLayout::Kind::Rows;
    if (i == 0 && !isTile)
      return grid.emitError("the GPU backend writes a first result over the "
                            "query rows and a head dimension (the "
                            "attention output)");
    if (!isTile && !isRows)
      return grid.emitError("the GPU backend writes result #")
             << i << " over the query rows and a head dimension, or one "
             << "value per query row (a log-sum-exp)";
    result.kind = it->second.kind;
    plan.results.push_back(std::move(result));
  }
  plan.selectWarpgroupMma();
  plan.selectAccumulation();
  plan.selectTma();
  // A fragments of per-item tiles (the queries) stay in registers when
  // they fit beside what the key loop keeps live (softmax, D = 64: 16 + 68;
  // differential attention keeps the first query's), and are
  // read from shared memory at every step otherwise (D = 128: 32 + 100).
  int64_t hoisted = plan.keyLoopRegisters;
  for (StagePlan &stage : plan.stages) {
    if (stage.perKeyStep || stage.rowRank != plan.rowRank)
      continue;
    // Only mma.sync reads A from registers (wgmma reads the stage).
    bool readByMmaSync = llvm::any_of(plan.einsums, [&](auto &entry) {
      const GpuEinsumPlan &einsum = entry.second;
      return einsum.kind == GpuEinsumPlan::Kind::MmaShared &&
             &plan.stages[einsum.stageA] == &stage;
    });
    if (!readByMmaSync)
      continue;
    int64_t registers = stage.width / 16 * 4;
    if (hoisted + registers <= kFragmentRegisterBudget) {
      stage.hoistFragments = true;
      hoisted += registers;
    }
  }
  // Double-buffer the key-side tiles when both copies fit, and fill the
  // swizzled stages by TMA where selectTma found a tensor map for them:
  // the first of these layouts that keeps kBlocksPerMultiprocessor blocks
  // on an SM wins, else the first the chip allows at all. Up to 48 KiB the
  // shared memory is static; beyond, dynamic (sm_90a, D = 128: the tiles
  // take exactly 48 KiB and the mbarriers 24 bytes more).
  SmallVector<StagePlan> withTma = plan.stages;
  SmallVector<StagePlan> withoutTma = plan.stages;
  for (StagePlan &stage : withoutTma)
    stage.tma = false;
  int64_t sharedPerBlock =
      target.sharedMemoryPerMultiprocessor / kBlocksPerMultiprocessor -
      GpuTarget::kReservedSharedMemoryPerBlock;
  auto fits = [&](int64_t limit) {
    return plan.getLaunchSharedMemoryBytes() <= limit;
  };
  auto choose = [&](int64_t limit) {
    for (int64_t slots : {2, 1}) {
      plan.keySlots = slots;
      for (const SmallVector<StagePlan> *candidate : {&withTma, &withoutTma}) {
        plan.stages = *candidate;
        if (fits(limit))
          return true;
      }
    }
    return false;
  };
  int64_t optIn = target.sharedMemoryPerBlockOptIn;
  if (!choose(std::min(sharedPerBlock, optIn)) && !choose(optIn))
    return grid.emitError("the staged tiles need ")
           << plan.getLaunchSharedMemoryBytes()
           << " bytes of shared memory, more than the "
           << optIn << " a block may use on "
           << target.chip << " (with dynamic shared memory); use smaller "
           << "query or key tiles";
  return plan;
}

LogicalResult GpuPlan::planBlock(Block &block) {
  for (Operation &op : block) {
    if (isa<YieldOp, PartitionOp>(op))
      continue;
    if (auto iterate = dyn_cast<IterateOp>(op)) {
      if (iterate.getNumStacked() != 0)
        return iterate.emitError("no GPU form yet for an iterate that stacks "
                                 "its steps (chunked linear attention)");
      Block &body = iterate.getBodyBlock();
      for (auto [init, argument] :
           llvm::zip(iterate.getInits(), body.getArguments())) {
        auto it = layouts.find(init);
        if (it == layouts.end())
          return iterate.emitError("a carried value the work item does not "
                                   "compute has no GPU form");
        layouts[argument] = it->second;
      }
      if (failed(planBlock(body)))
        return failure();
      for (auto [result, argument] :
           llvm::zip(iterate.getCarriedResults(), body.getArguments()))
        layouts[result] = getLayout(argument);
      int64_t carried = 0, largest = 0;
      for (BlockArgument argument : body.getArguments())
        carried += getLayout(argument).getRegisters();
      for (Operation &inner : body)
        if (auto einsum = dyn_cast<EinsumOp>(inner))
          largest = std::max(largest,
                             getLayout(einsum.getResult()).getRegisters());
      keyLoopRegisters = std::max(keyLoopRegisters, carried + largest);
      keyLoopCarried = std::max(keyLoopCarried, carried);
      continue;
    }
    auto einsum = dyn_cast<EinsumOp>(op);
    if (!einsum)
      return op.emitError("no GPU form for '") << op.getName() << "'";
    if (failed(planEinsum(einsum)))
      return failure();
  }
  return success();
}

LogicalResult GpuPlan::planBlockScalar(EinsumOp einsum) {
  GpuEinsumPlan plan;
  plan.kind = GpuEinsumPlan::Kind::Map;
  plan.output.kind = FragmentLayout::Kind::Scalar;
  if (!einsum.getReductions().empty() || einsum.hasMask())
    return einsum.emitError("no GPU form yet for an Einsum outside the work "
                            "grid that reduces or masks");
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
    if (schedule->isTileLocal(rank))
      return einsum.emitError("no GPU form yet for an Einsum outside the "
                              "work grid over rank '")
             << rank << "'";
  for (unsigned i = 0; i < einsum.getInputs().size(); ++i)
    if (failed(checkElementOperand(einsum, i, plan.output)))
      return failure();
  layouts[einsum.getResult()] = plan.output;
  einsums[einsum.getOperation()] = plan;
  return success();
}

LogicalResult GpuPlan::planEinsum(EinsumOp einsum) {
  const SchedulePlan &base = *schedule;
  GpuEinsumPlan plan;
  SmallVector<std::string> output = toStrings(einsum.getOutput());
  if (!llvm::is_contained(output, rowRank))
    return einsum.emitError("no GPU form yet for a tensor of a work item "
                            "that is not over the query rows '")
           << rowRank << "' (the GPU backend keeps every tensor in the "
           << "registers of the warp that owns its rows)";
  if (output.size() > 2)
    return einsum.emitError("no GPU form for a tensor over more than the "
                            "query rows and one other rank");
  plan.output.kind = FragmentLayout::Kind::Rows;
  for (const std::string &rank : output) {
    if (rank == rowRank)
      continue;
    if (!base.isTileLocal(rank))
      return einsum.emitError("rank '") << rank << "' is not tile-local";
    plan.output.kind = FragmentLayout::Kind::Tile;
    plan.output.columnRank = rank;
    plan.output.columns = base.getLocalExtent(rank);
    if (plan.output.columns % 8 != 0)
      return einsum.emitError("the GPU backend holds tiles in 8-column "
                              "blocks (mma accumulators): rank '")
             << rank << "' has extent " << plan.output.columns
             << ", not a multiple of 8";
  }
  // Data comparisons (document ids) are read element by element, like a
  // global operand, at the point's row and key.
  for (auto [i, data] : llvm::enumerate(einsum.getDataInputs())) {
    if (!isFunctionArgument(data))
      return einsum.emitError("data input #")
             << i << " is computed by the work item (no GPU form yet)";
    for (StringRef rank : mentionedRanks(einsum, einsum.getDataMap(i)))
      if (schedule->isTileLocal(rank) && rank != rowRank && rank != keyRank)
        return einsum.emitError("data input #")
               << i << " varies with rank '" << rank << "' (no GPU form yet)";
  }

  auto reductions = einsum.getReductions().getValue();
  FragmentLayout keyTile = getKeyTileLayout();
  if (reductions.empty()) {
    plan.kind = GpuEinsumPlan::Kind::Map;
    for (unsigned i = 0; i < einsum.getInputs().size(); ++i)
      if (failed(checkElementOperand(einsum, i, plan.output)))
        return failure();
  } else if (reductions.size() == 1) {
    auto reduction = cast<ReductionAttr>(reductions.front());
    StringRef reduced = reduction.getRank().getValue();
    plan.contracted = reduced.str();
    bool isRows = plan.output.kind == FragmentLayout::Kind::Rows;
    if (reduced == keyRank && isRows) {
      plan.kind = GpuEinsumPlan::Kind::RowReduce;
      plan.tracksAny =
          einsum.getFillValue() != getReduceIdentity(reduction.getKind());
      for (unsigned i = 0; i < einsum.getInputs().size(); ++i)
        if (failed(checkElementOperand(einsum, i, keyTile)))
          return failure();
    } else if (reduced == keyRank && !isRows) {
      plan.kind = GpuEinsumPlan::Kind::MmaRegisters;
      if (failed(planMmaRegisters(einsum, plan)))
        return failure();
    } else if (!isRows && plan.output.columnRank == keyRank &&
               base.isTileLocal(reduced)) {
      plan.kind = GpuEinsumPlan::Kind::MmaShared;
      if (failed(planMmaShared(einsum, plan)))
        return failure();
    } else {
      return einsum.emitError("no GPU form yet for a reduction of rank '")
             << reduced << "' into [" << llvm::join(output, ", ") << "]";
    }
    if (plan.kind != GpuEinsumPlan::Kind::RowReduce &&
        reduction.getKind() != ReduceKind::add)
      return einsum.emitError("the tensor cores contract with add only");
  } else {
    return einsum.emitError("no GPU form yet for an Einsum reducing several "
                            "ranks");
  }
  layouts[einsum.getResult()] = plan.output;
  einsums[einsum.getOperation()] = plan;
  return success();
}

LogicalResult GpuPlan::checkElementOperand(EinsumOp einsum, unsigned index,
                                           const FragmentLayout &context) {
  Value operand = einsum.getInputs()[index];
  AffineMap map = cast<AffineMapAttr>(einsum.getIndexingMaps()[index]).getValue();
  llvm::SmallSetVector<StringRef, 4> ranks = mentionedRanks(einsum, map);
  auto inContext = [&](StringRef rank) {
    return rank == rowRank ||
           (context.kind == FragmentLayout::Kind::Tile &&
            rank == context.columnRank);
  };
  if (isFunctionArgument(operand)) {
    // Read element by element at the coordinates of the point: each rank
    // it mentions is the point's row or column, or fixed for the block.
    for (StringRef rank : ranks)
      if (schedule->isTileLocal(rank) && !inContext(rank))
        return einsum.emitError("operand #")
               << index << " is read along rank '" << rank
               << "', which no lane holds at this point (no GPU form yet)";
    return success();
  }
  auto it = layouts.find(operand);
  if (it == layouts.end())
    return einsum.emitError("operand #")
           << index << " has no register layout (no GPU form yet)";
  const FragmentLayout &layout = it->second;
  SmallVector<StringRef> own;
  for (const std::string &rank : schedule->getBuffer(operand).tensorRanks)
    own.push_back(rank);
  if (!einsum.readsAtOwnPoint(index, own))
    return einsum.emitError("operand #")
           << index << " is read at another point than its own (a shifted "
           << "read of a register tile has no GPU form)";
  if (layout.kind == FragmentLayout::Kind::Rows &&
      context.kind == FragmentLayout::Kind::Scalar)
    return einsum.emitError("operand #")
           << index << " is over the query rows, read outside them";
  if (layout.kind == FragmentLayout::Kind::Tile &&
      (context.kind != FragmentLayout::Kind::Tile ||
       layout.columnRank != context.columnRank))
    return einsum.emitError("operand #")
           << index << " is a tile over '" << layout.columnRank
           << "' read where the lanes hold other columns";
  return success();
}

FailureOr<int64_t> GpuPlan::stage(EinsumOp einsum, unsigned operand,
                                  StringRef stageRows, bool perKeyStep) {
  AffineMap map =
      cast<AffineMapAttr>(einsum.getIndexingMaps()[operand]).getValue();
  auto names = toStrings(einsum.getRanks());
  auto inner = dyn_cast<AffineDimExpr>(map.getResults().back());
  if (!inner)
    return einsum.emitError("operand #")
           << operand << " is staged for the tensor cores, so its innermost "
           << "index must be a head rank (contiguous rows)";
  StringRef head = names[inner.getPosition()];
  llvm::SmallSetVector<StringRef, 4> ranks = mentionedRanks(einsum, map);
  for (StringRef rank : ranks)
    if (schedule->isTileLocal(rank) && rank != head && rank != stageRows)
      return einsum.emitError("operand #")
             << operand << " varies with rank '" << rank
             << "' besides its rows and head rank (no GPU form yet)";
  for (AffineExpr expr : map.getResults().drop_back())
    if (expr.isFunctionOfDim(inner.getPosition()))
      return einsum.emitError("operand #")
             << operand << " reads its head rank '" << head
             << "' in more than its innermost index";
  // The same tile read the same way by another contraction (differential
  // attention's two P V products) is staged once.
  for (auto [i, other] : llvm::enumerate(stages)) {
    EinsumOp reader = other.reader;
    if (reader.getInputs()[other.operand] == einsum.getInputs()[operand] &&
        reader.getIndexingMaps()[other.operand] ==
            einsum.getIndexingMaps()[operand] &&
        reader.getRanks() == einsum.getRanks() &&
        reader.getSymbols() == einsum.getSymbols() &&
        other.rowRank == stageRows && other.perKeyStep == perKeyStep)
      return static_cast<int64_t>(i);
  }
  StagePlan plan;
  plan.reader = einsum;
  plan.operand = operand;
  plan.rowRank = stageRows.str();
  plan.headRank = head.str();
  plan.rows = schedule->getLocalExtent(stageRows);
  plan.width = schedule->getLocalExtent(head);
  if (plan.width % 16 != 0)
    return einsum.emitError("head rank '")
           << head << "' has extent " << plan.width
           << "; the tensor cores need a multiple of 16";
  plan.perKeyStep = perKeyStep;
  plan.swizzled = plan.width % 64 == 0;
  plan.slabs = plan.swizzled ? plan.width / 64 : 1;
  plan.rowPitch = plan.swizzled ? 64 : plan.width + 8;
  stages.push_back(plan);
  return static_cast<int64_t>(stages.size() - 1);
}

LogicalResult GpuPlan::planMmaShared(EinsumOp einsum, GpuEinsumPlan &plan) {
  if (einsum.getInputs().size() != 2 || !isScaledProduct(einsum))
    return einsum.emitError("no GPU form yet for a contraction of '")
           << plan.contracted << "' whose body is not a * b times a "
           << "constant (apply feature maps in their own Einsum)";
  int64_t queryOperand = -1, keyOperand = -1;
  for (unsigned i = 0; i < 2; ++i) {
    if (!isFunctionArgument(einsum.getInputs()[i]))
      return einsum.emitError("no GPU form yet for a contraction of '")
             << plan.contracted << "' with an operand the work item computes";
    AffineMap map =
        cast<AffineMapAttr>(einsum.getIndexingMaps()[i]).getValue();
    llvm::SmallSetVector<StringRef, 4> ranks = mentionedRanks(einsum, map);
    if (ranks.contains(rowRank) && !ranks.contains(keyRank))
      queryOperand = i;
    else if (ranks.contains(keyRank) && !ranks.contains(rowRank))
      keyOperand = i;
  }
  if (queryOperand < 0 || keyOperand < 0)
    return einsum.emitError("the tensor cores need one operand over the "
                            "query rows and one over the keys");
  for (IntegerSet set : einsum.getDisjuncts())
    for (AffineExpr constraint : set.getConstraints())
      if (constraint.isFunctionOfDim(
              einsum.getRankPosition(plan.contracted)))
        return einsum.emitError("the predicate reads the contracted rank '")
               << plan.contracted << "' (no GPU form)";
  plan.operandA = queryOperand;
  plan.operandB = keyOperand;
  bool queryPerStep = false;
  {
    AffineMap map = cast<AffineMapAttr>(einsum.getIndexingMaps()[queryOperand])
                        .getValue();
    PartitionOp keys = schedule->getWork().keyPartition;
    queryPerStep = mentionedRanks(einsum, map).contains(keys.getOuter());
  }
  FailureOr<int64_t> a = stage(einsum, queryOperand, rowRank, queryPerStep);
  if (failed(a))
    return failure();
  FailureOr<int64_t> b = stage(einsum, keyOperand, keyRank, true);
  if (failed(b))
    return failure();
  if (stages[*a].headRank != plan.contracted ||
      stages[*b].headRank != plan.contracted)
    return einsum.emitError("both operands must read the contracted rank '")
           << plan.contracted << "' innermost";
  plan.stageA = *a;
  plan.stageB = *b;
  // Two k-steps of 16 per ldmatrix.x4 (head dims 64 and 128: all pairs;
  // 80: two pairs and one x2).
  plan.bMatricesPerLoad = stages[*b].width / 16 >= 2 ? 4 : 2;
  return success();
}

void GpuPlan::selectWarpgroupMma() {
  // wgmma needs sm_90a, whole warpgroups (4 warps: 64 query rows each),
  // both tiles in the swizzled layout its descriptors address, and N (the
  // key tile) a multiple of 8 up to 256.
  if (target.computeCapability < 90 || warps % 4 != 0)
    return;
  auto fitsN = [](int64_t n) { return n % 8 == 0 && n >= 8 && n <= 256; };
  for (auto &[op, plan] : einsums) {
    if (plan.kind != GpuEinsumPlan::Kind::MmaShared)
      continue;
    const StagePlan &a = stages[plan.stageA], &b = stages[plan.stageB];
    if (a.swizzled && b.swizzled && fitsN(plan.output.columns))
      plan.kind = GpuEinsumPlan::Kind::WarpgroupShared;
  }
  // P V: wgmma reads A from shared memory only (MLIR 22's
  // nvvm.wgmma.mma_async has no register-A form), so P goes through a
  // swizzled tile of query rows x the key tile, 64 keys per slab: the key
  // tile must be a multiple of 64. V's stage (keys x head in 64-column
  // slabs) is already an N-major operand with the 128-byte swizzle.
  int64_t keyTile = schedule->getLocalExtent(keyRank);
  if (keyTile % 64 != 0)
    return;
  // Deterministic: the tile stage's reader is the first contraction in
  // program order.
  GridOp grid = schedule->getGrid();
  grid.walk([&](EinsumOp einsum) {
    auto it = einsums.find(einsum.getOperation());
    if (it == einsums.end())
      return;
    GpuEinsumPlan &plan = it->second;
    if (plan.kind != GpuEinsumPlan::Kind::MmaRegisters ||
        !stages[plan.stageB].swizzled || !fitsN(plan.output.columns))
      return;
    plan.kind = GpuEinsumPlan::Kind::WarpgroupStaged;
    if (tileStage)
      return;
    StagePlan tile;
    tile.reader = einsum;
    tile.operand = plan.operandA;
    tile.rowRank = rowRank;
    tile.headRank = keyRank;
    tile.rows = warps * 16;
    tile.width = keyTile;
    tile.swizzled = true;
    tile.slabs = keyTile / 64;
    tile.rowPitch = 64;
    tileStage = tile;
  });
}

void GpuPlan::selectAccumulation() {
  for (auto &[op, plan] : einsums) {
    if (plan.kind != GpuEinsumPlan::Kind::MmaRegisters &&
        plan.kind != GpuEinsumPlan::Kind::WarpgroupStaged)
      continue;
    auto contraction = cast<EinsumOp>(op);
    Value product = contraction.getResult();
    if (!isPlainProduct(contraction) || !product.hasOneUse())
      continue;
    auto map = dyn_cast<EinsumOp>(*product.getUsers().begin());
    if (!map || map->getBlock() != op->getBlock())
      continue;
    GpuEinsumPlan &mapPlan = einsums.find(map.getOperation())->second;
    // A map over the same tile, everywhere (no predicate: its fill value
    // would replace the sum), reading the product once.
    if (mapPlan.kind != GpuEinsumPlan::Kind::Map ||
        mapPlan.output.kind != FragmentLayout::Kind::Tile ||
        mapPlan.output.columnRank != plan.output.columnRank ||
        !map.getDisjuncts().empty() || !map.getDataCompares().empty() ||
        llvm::count(map.getInputs(), product) != 1)
      continue;
    unsigned x = llvm::find(map.getInputs(), product) - map.getInputs().begin();
    if (!isAccumulationOf(map, x))
      continue;
    // g is evaluated before the contraction: its operands must exist then.
    // Maps and row reductions after the contraction that do not read it
    // (one-pass softmax's exp(m - m') follows P V) move before it.
    SmallVector<EinsumOp> moved;
    std::function<bool(Value)> ready = [&](Value input) -> bool {
      if (input == product)
        return false;
      Operation *def = input.getDefiningOp();
      if (!def || def->getBlock() != contraction->getBlock() ||
          def->isBeforeInBlock(contraction))
        return true;
      auto einsum = dyn_cast<EinsumOp>(def);
      if (!einsum || def == map.getOperation())
        return false;
      if (llvm::is_contained(moved, einsum))
        return true;
      GpuEinsumPlan::Kind kind = einsums.find(def)->second.kind;
      if (kind != GpuEinsumPlan::Kind::Map &&
          kind != GpuEinsumPlan::Kind::RowReduce)
        return false;
      if (!llvm::all_of(einsum.getInputs(), ready))
        return false;
      moved.push_back(einsum);
      return true;
    };
    bool allReady = llvm::all_of(map.getInputs(), [&](Value input) {
      return input == product || ready(input);
    });
    if (!allReady)
      continue;
    // In program order, so that each follows what it reads.
    llvm::sort(moved, [](EinsumOp x, EinsumOp y) {
      return x->isBeforeInBlock(y);
    });
    plan.emittedBefore = std::move(moved);
    plan.accumulatesInto = map;
    mapPlan.accumulatedBy = contraction;
    mapPlan.accumulatorOperand = x;
  }
}

SmallVector<int64_t> StagePlan::getTmaBox() const {
  EinsumOp einsum = reader;
  auto map = cast<AffineMapAttr>(einsum.getIndexingMaps()[operand]).getValue();
  SmallVector<int64_t> box(map.getNumResults(), 1);
  box[tmaRowDimension] = rows;
  box.back() = 64;
  return box;
}

void GpuPlan::selectTma() {
  // A tensor map describes a row-major operand of rank <= 5 whose last
  // dimension is the head rank (16-byte strides: the head is a multiple of
  // 64 here) and whose rows run along one other dimension, at the tile's
  // first row plus a local row; every other dimension is fixed over the
  // tile. Its box is then one slab: `rows` x 64, at most 256 x 128 bytes.
  if (target.computeCapability < 90)
    return;
  for (StagePlan &stage : stages) {
    if (!stage.swizzled || stage.rows > 256)
      continue;
    EinsumOp einsum = stage.reader;
    AffineMap map =
        cast<AffineMapAttr>(einsum.getIndexingMaps()[stage.operand]).getValue();
    if (map.getNumResults() < 2 || map.getNumResults() > 5)
      continue;
    unsigned rowPos = einsum.getRankPosition(stage.rowRank);
    unsigned headPos = einsum.getRankPosition(stage.headRank);
    ArrayRef<AffineExpr> results = map.getResults();
    auto head = dyn_cast<AffineDimExpr>(results.back());
    if (!head || head.getPosition() != headPos)
      continue;
    std::optional<unsigned> rowDimension;
    bool describable = true;
    for (auto [i, expr] : llvm::enumerate(results.drop_back())) {
      if (expr.isFunctionOfDim(headPos)) {
        describable = false;
        break;
      }
      if (!expr.isFunctionOfDim(rowPos))
        continue;
      AffineExpr rest = simplifyAffineExpr(
          expr - getAffineDimExpr(rowPos, expr.getContext()),
          map.getNumDims(), map.getNumSymbols());
      if (rowDimension || rest.isFunctionOfDim(rowPos)) {
        describable = false;
        break;
      }
      rowDimension = i;
    }
    if (!describable || !rowDimension)
      continue;
    stage.tma = true;
    stage.tmaRowDimension = *rowDimension;
  }
}

bool GpuPlan::usesTma() const {
  return llvm::any_of(stages, [](const StagePlan &stage) { return stage.tma; });
}

bool GpuPlan::usesCpAsync() const {
  return llvm::any_of(stages,
                      [](const StagePlan &stage) { return !stage.tma; });
}

SmallVector<unsigned> GpuPlan::getTmaStages() const {
  SmallVector<unsigned> tmaStages;
  for (auto [i, stage] : llvm::enumerate(stages))
    if (stage.tma)
      tmaStages.push_back(i);
  return tmaStages;
}

bool GpuPlan::usesWarpgroupMma() const {
  return llvm::any_of(einsums, [](auto &entry) {
    return entry.second.kind == GpuEinsumPlan::Kind::WarpgroupShared ||
           entry.second.kind == GpuEinsumPlan::Kind::WarpgroupStaged;
  });
}

LogicalResult GpuPlan::planMmaRegisters(EinsumOp einsum, GpuEinsumPlan &plan) {
  if (einsum.getInputs().size() != 2 || !isScaledProduct(einsum))
    return einsum.emitError("no GPU form yet for a contraction of the keys "
                            "whose body is not a * b times a constant");
  int64_t tile = -1, global = -1;
  for (unsigned i = 0; i < 2; ++i)
    (isFunctionArgument(einsum.getInputs()[i]) ? global : tile) = i;
  if (tile < 0 || global < 0)
    return einsum.emitError("no GPU form yet for a contraction of the keys "
                            "that is not a register tile times a global "
                            "operand");
  FragmentLayout keyTile = getKeyTileLayout();
  if (failed(checkElementOperand(einsum, tile, keyTile)))
    return failure();
  if (getLayout(einsum.getInputs()[tile]).kind != FragmentLayout::Kind::Tile)
    return einsum.emitError("no GPU form yet for a contraction of the keys "
                            "with a per-row vector");
  for (IntegerSet set : einsum.getDisjuncts())
    for (AffineExpr constraint : set.getConstraints())
      if (constraint.isFunctionOfDim(
              einsum.getRankPosition(plan.output.columnRank)))
        return einsum.emitError("the predicate reads rank '")
               << plan.output.columnRank << "' (no GPU form)";
  FailureOr<int64_t> b = stage(einsum, global, keyRank, true);
  if (failed(b))
    return failure();
  if (stages[*b].headRank != plan.output.columnRank)
    return einsum.emitError("operand #")
           << global << " must read rank '" << plan.output.columnRank
           << "' innermost";
  plan.operandA = tile;
  plan.operandB = global;
  plan.stageB = *b;
  plan.scalesOperandRows = !isWithinUnit(einsum.getInputs()[tile]);
  // Two 8-column blocks per ldmatrix.x4.trans.
  plan.bMatricesPerLoad = plan.output.columns / 8 >= 2 ? 4 : 2;
  return success();
}

//===----------------------------------------------------------------------===//
// Annotation for lit tests
//===----------------------------------------------------------------------===//

static StringRef kindName(GpuEinsumPlan::Kind kind) {
  switch (kind) {
  case GpuEinsumPlan::Kind::Map: return "map";
  case GpuEinsumPlan::Kind::RowReduce: return "row_reduce";
  case GpuEinsumPlan::Kind::MmaShared: return "mma_shared";
  case GpuEinsumPlan::Kind::MmaRegisters: return "mma_registers";
  case GpuEinsumPlan::Kind::WarpgroupShared: return "wgmma_shared";
  case GpuEinsumPlan::Kind::WarpgroupStaged: return "wgmma_staged";
  }
  llvm_unreachable("unknown kind");
}

static std::string describe(const FragmentLayout &layout) {
  if (layout.kind == FragmentLayout::Kind::Rows)
    return "rows";
  if (layout.kind == FragmentLayout::Kind::Scalar)
    return "scalar";
  return "tile[" + layout.columnRank + "=" + std::to_string(layout.columns) +
         "]";
}

static std::string describe(const StagePlan &stage) {
  return stage.rowRank + "x" + stage.headRank + " " +
         std::to_string(stage.rows) + "x" + std::to_string(stage.width) +
         (stage.perKeyStep ? " per-key-step" : " per-item") +
         (stage.swizzled ? " swizzled" : " padded") +
         (stage.tma ? " tma" : "") +
         (stage.hoistFragments ? " fragments-hoisted" : "");
}

int64_t GpuPlan::getKeyStepRegisters() const {
  return getKeyStepRegisters(getKeyTileLayout().columns);
}

int64_t GpuPlan::getKeyStepRegisters(int64_t keys) const {
  int64_t scores = 0;
  bool staged = false;
  for (auto &entry : einsums) {
    if (entry.second.kind == GpuEinsumPlan::Kind::MmaShared ||
        entry.second.kind == GpuEinsumPlan::Kind::WarpgroupShared)
      ++scores;
    staged |= entry.second.kind == GpuEinsumPlan::Kind::WarpgroupStaged;
  }
  // mma.sync's P V keeps P's operand fragments beside the scores; the
  // staged form (a multiple of 64 keys) stores P to shared memory from the
  // scores' registers.
  int64_t tilesPerScore = staged && keys % 64 == 0 ? 1 : 2;
  // A key tile's fragment: keys / 2 f32 values per lane.
  return keyLoopCarried + tilesPerScore * scores * keys / 2;
}

void GpuPlan::annotate() const {
  GridOp grid = schedule->getGrid();
  Builder b(grid.getContext());
  SmallVector<Attribute> stageNames;
  for (const StagePlan &stage : stages)
    stageNames.push_back(b.getStringAttr(describe(stage)));
  // "[b, h, p, f] f16-or-bf16 tile" / "[b, h, p] f32 rows".
  SmallVector<Attribute> resultNames;
  for (const GpuResultPlan &result : results)
    resultNames.push_back(b.getStringAttr(
        "[" + llvm::join(result.ranks, ", ") + "] " +
        (result.isF32() ? "f32 rows" : "storage tile")));
  SmallVector<NamedAttribute> gridEntries = {
      b.getNamedAttr("chip", b.getStringAttr(target.chip)),
      b.getNamedAttr("warps", b.getI64IntegerAttr(warps)),
      b.getNamedAttr("threads", b.getI64IntegerAttr(getThreadsPerBlock())),
      b.getNamedAttr("shared_bytes",
                     b.getI64IntegerAttr(getSharedMemoryBytes())),
      b.getNamedAttr("key_slots", b.getI64IntegerAttr(keySlots)),
      b.getNamedAttr("key_step_registers",
                     b.getI64IntegerAttr(getKeyStepRegisters())),
      b.getNamedAttr("stages", b.getArrayAttr(stageNames)),
      b.getNamedAttr("results", b.getArrayAttr(resultNames)),
  };
  if (tileStage)
    gridEntries.push_back(
        b.getNamedAttr("tile_stage",
                       b.getStringAttr(tileStage->rowRank + "x" +
                                       tileStage->headRank + " " +
                                       std::to_string(tileStage->rows) + "x" +
                                       std::to_string(tileStage->width) +
                                       " swizzled from registers")));
  // Only a dynamic layout says so: what a launch passes for it.
  if (usesDynamicSharedMemory())
    gridEntries.push_back(
        b.getNamedAttr("dynamic_shared_bytes",
                       b.getI64IntegerAttr(getDynamicSharedMemoryBytes())));
  grid->setAttr("cascade.gpu_plan", b.getDictionaryAttr(gridEntries));
  for (auto &[op, plan] : einsums) {
    SmallVector<NamedAttribute> entries = {
        b.getNamedAttr("form", b.getStringAttr(kindName(plan.kind))),
        b.getNamedAttr("layout", b.getStringAttr(describe(plan.output)))};
    if (plan.isContraction()) {
      // How each operand reaches the tensor cores.
      std::string a, bHow;
      switch (plan.kind) {
      case GpuEinsumPlan::Kind::WarpgroupStaged:
        a = "tile stage descriptor";
        bHow = "descriptor n-major";
        break;
      case GpuEinsumPlan::Kind::WarpgroupShared:
        a = bHow = "descriptor";
        break;
      default:
        a = plan.stageA >= 0 ? "ldmatrix" : "registers";
        bHow = "ldmatrix.x" + std::to_string(plan.bMatricesPerLoad) +
               (plan.kind == GpuEinsumPlan::Kind::MmaRegisters ? ".trans"
                                                               : "");
      }
      entries.push_back(b.getNamedAttr(
          "a", b.getStringAttr("operand#" + std::to_string(plan.operandA) +
                               " " + a)));
      entries.push_back(b.getNamedAttr(
          "b", b.getStringAttr("operand#" + std::to_string(plan.operandB) +
                               " " + bHow)));
    }
    if (plan.tracksAny)
      entries.push_back(b.getNamedAttr("tracks_any", b.getUnitAttr()));
    if (plan.scalesOperandRows)
      entries.push_back(
          b.getNamedAttr("scales_operand_rows", b.getUnitAttr()));
    if (!plan.emittedBefore.empty()) {
      SmallVector<Attribute> names;
      for (EinsumOp moved : plan.emittedBefore)
        names.push_back(moved.getNameAttr());
      entries.push_back(
          b.getNamedAttr("emitted_before", b.getArrayAttr(names)));
    }
    if (plan.accumulatesInto)
      entries.push_back(b.getNamedAttr(
          "accumulates_into",
          EinsumOp(plan.accumulatesInto).getNameAttr()));
    if (plan.accumulatedBy)
      entries.push_back(b.getNamedAttr("accumulated_by_contraction",
                                       b.getUnitAttr()));
    op->setAttr("cascade.gpu_plan", b.getDictionaryAttr(entries));
  }
}
