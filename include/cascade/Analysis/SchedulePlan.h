//===- SchedulePlan.h - How a scheduled cascade runs on a target --*- C++ -*-===//
//
// The scheduled form (a function whose result is a cascade.grid, its key rank
// streamed) says *what* a work item computes; the plan says *how*, for one
// target description, without creating any op:
//
//   - the work decomposition: the grid's ranks in item order (row-major,
//     the last fastest) and where each one's extent comes from, so that the
//     kernel's item loop, the host runner and the AOT header's
//     `<f>_work_items` all read one definition;
//   - the buffer plan: for every tensor a work item computes, whether it is
//     a kernel argument, its own staging buffer (which tile-local ranks, what
//     shape, how many bytes) or an alias of another buffer (an iterate's
//     carried buffer updated in place), plus the packed copies operands are
//     read through, and the total staging memory an item needs;
//   - per Einsum: the loop order (outer buffer ranks, the register tile's row
//     rank, the vector rank, then the reductions outermost first), the vector
//     rank and its lanes, the register tile (rows x vectors of accumulators)
//     and each operand's access kind (broadcast, contiguous, or packed into a
//     staging buffer, hoisted out of the key loop when it does not change per
//     key step).
//
// A target fills a TargetDescription (the CPU from its vector width; the GPU
// backend will fill the same struct with its own numbers), computes the plan
// once and its emitter only reads it. `cascade-annotate-plan` attaches the
// plan to the IR as `cascade.plan` attributes for lit tests.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_SCHEDULEPLAN_H
#define CASCADE_ANALYSIS_SCHEDULEPLAN_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace mlir::cascade {

/// What a plan needs to know about a target.
struct TargetDescription {
  /// Where a work item's buffers live.
  enum class Staging { Stack, SharedMemory };

  std::string name;
  /// f32 lanes of one vector (a register on a CPU).
  int64_t vectorLanes = 16;
  /// Accumulator vectors a register tile may keep live.
  int64_t accumulatorBudget = 24;
  /// At most this many vectors along the vector rank per register tile row
  /// (more rows, fewer vectors: a row reuses its broadcast operand).
  int64_t maxTileVectors = 6;
  Staging staging = Staging::Stack;
  /// Staging bytes one work item may use, and each buffer's alignment.
  int64_t stagingLimitBytes = 2 << 20;
  int64_t stagingAlignment = 64;

  /// An x86 CPU with `vectorWidth` f32 lanes (16: AVX-512, 8: AVX2, 4).
  /// 32 (AVX-512) or 16 (AVX2) vector registers: a register tile keeps 24
  /// or 12 accumulators, the rest hold operands. Buffers on the stack, at
  /// most 2 MiB per item (a thread's default stack is 8 MiB).
  static TargetDescription forCpu(int64_t vectorWidth);
  /// A description by name: "avx512", "avx2"; std::nullopt if unknown.
  static std::optional<TargetDescription> byName(llvm::StringRef name);

  /// The widest power-of-two lane count, up to a vector, dividing `extent`
  /// (head dimensions then need no vector tails).
  int64_t getLanesFor(int64_t extent) const;
};

/// One rank of the work grid and where its extent comes from: dimension
/// `resultDim` of the grid's result, divided (rounding up) by `tile` when the
/// grid rank is the outer rank of a partition of that dimension's rank.
struct WorkRankPlan {
  std::string rank;
  unsigned resultDim = 0;
  int64_t tile = 1;
};

/// The work items: points of the grid's ranks, row-major (last fastest).
///
/// With a state phase (a second grid, over the query grid's ranks but the
/// query tile: the key-side state of linear attention, `[b, h]`), an item is
/// one point of the state grid: it runs the state phase once, keeps the
/// state in its staging memory, then loops over `innerRanks` (the query
/// tiles of that (b, h)) running the query grid's body for each. The state
/// is computed once per (b, h) and never leaves the item, at the price of
/// B * H items instead of B * H * tiles.
struct WorkPlan {
  SmallVector<WorkRankPlan> ranks;
  /// Query grid ranks looped inside an item (the query tile's rank, with a
  /// state phase); empty otherwise.
  SmallVector<WorkRankPlan> innerRanks;
  /// The state phase's grid, if any.
  GridOp stateGrid;
  /// The partitions of the query rank (cut by a grid rank) and of the key
  /// rank (iterated inside an item); null when absent.
  PartitionOp queryPartition, keyPartition;
  /// Compile-time extents of the tile-local ranks that are not inner ranks
  /// of a partition (the grid's tile_extents: the head dimensions).
  llvm::StringMap<int64_t> tileExtents;
};

/// Where one tensor of a work item lives.
struct BufferPlan {
  enum class Kind {
    /// A kernel argument (global memory, read at global coordinates).
    Argument,
    /// Its own staging buffer over `ranks`.
    Staged,
    /// The buffer of `aliasOf` (an iterate's carried tensor written in
    /// place, an iterate's result, the grid's result).
    Alias,
    /// A stacked result of the state phase's iterate: one tile per step
    /// over `ranks` (the iterated rank, then the step's tile-local ranks),
    /// its leading extent known at run time only, so the work item holds
    /// it on the heap, not in staging memory. Its readers index it as they
    /// index an argument (global coordinates; the ranks the item fixes
    /// contribute nothing), so they may read it at any step.
    Stacked,
  };
  Kind kind = Kind::Staged;
  /// The ranks of the tensor (its producer's output ranks).
  SmallVector<std::string> tensorRanks;
  /// The tile-local ranks among them: the buffer's dimensions, in order.
  SmallVector<std::string> ranks;
  SmallVector<int64_t> shape;
  Value aliasOf;
  /// For a carried tensor with its own buffer: copied from its init.
  bool copiedFromInit = false;
  int64_t getBytes() const;
};

/// How an Einsum reads one operand.
struct OperandPlan {
  enum class Kind {
    /// Does not vary along the vector rank: one scalar, broadcast.
    Broadcast,
    /// Unit stride along the vector rank in its innermost dimension: vector
    /// loads straight from the source.
    Contiguous,
    /// Anything else: first copied into packed staging buffer `pack` (the
    /// vector rank innermost, zeros outside the tensor), then contiguous.
    Packed,
  };
  Kind kind = Kind::Broadcast;
  /// For Packed: the index into SchedulePlan::packs.
  unsigned pack = 0;
  /// For Packed: the pack's innermost rank is the vector rank (vector
  /// loads). Always so for operands; an id pack that does not vary along
  /// the vector rank is read one element at a time, broadcast.
  bool alongVector = true;
};

/// A packed copy of (part of) an operand, shared by every access that packs
/// the same source the same way.
struct PackPlan {
  Value source;
  /// The Einsum whose rank space `indices` are written in.
  EinsumOp reader;
  /// One expression per dimension of the source (its global index for an
  /// argument; the tile-local ranks for a staged tensor).
  SmallVector<AffineExpr> indices;
  /// The pack's dimensions: the tile-local ranks the indices mention, the
  /// vector rank last.
  SmallVector<std::string> ranks;
  SmallVector<int64_t> shape;
  /// What it holds: f32 for operands (arithmetic is f32 throughout), the
  /// ids' own integer type for the reads of data comparisons.
  Type elementType;
  /// Made once before the key loop (it does not change per key step), or
  /// at the point of use in every step.
  bool hoisted = false;
  int64_t getBytes() const;
};

/// The loop nest of one Einsum inside a work item.
struct EinsumPlan {
  /// Output buffer ranks: `outer` loops, then the register tile's `row` and
  /// `vector` ranks (each may be empty for low-rank outputs).
  SmallVector<std::string> outerRanks;
  std::string rowRank, vectorRank;
  /// Lanes of a vector along `vectorRank`, vectors per row of the buffer.
  int64_t lanes = 1, vectorsPerRow = 1;
  /// The register tile: rows x vectors of accumulators (1 x 1 without
  /// reductions: elementwise Einsums store each vector as it is computed).
  int64_t tileRows = 1, tileVectors = 1;
  /// Reduced ranks in loop order (outermost first) with their operators.
  SmallVector<std::pair<std::string, ReduceKind>> reductions;
  SmallVector<OperandPlan> operands;
  /// How each read of the data comparisons (`%D[b, m] == %D[b, p]`) is
  /// made: Packed (the ids of the tile, staged over the tile-local ranks the
  /// read mentions) or Broadcast (one id per work item or key step, read
  /// from the argument).
  SmallVector<OperandPlan> dataReads;
  /// Outside every grid: run by every work item (a per-head slope).
  bool perItem = false;
  /// In the state phase's grid: once per item, before its query tiles.
  bool inStatePhase = false;
  /// Inside the key iterate's body.
  bool inKeyLoop = false;
  /// The predicate mentions only ranks the item or the key step fixes (no
  /// rank of the loop nest): it is tested once, the loop nest runs unmasked
  /// where it holds and the else value is written where it does not, so an
  /// operand may be read at indices that exist only where it holds.
  bool maskPerItem = false;
  /// Every loop, outermost first.
  SmallVector<std::string> getLoopOrder() const;
};

/// How the key loop classifies its tiles by data comparisons at run time
/// (a tile schedule with `data`): from the minimum and maximum of every
/// read of `reader`'s comparisons, each over the rows of the query tile
/// (once per query tile) or the keys of the key tile (once per key step).
/// The iterate's verifier makes every masked Einsum of the loop share the
/// comparisons, so one reader's reads bound them all.
struct DataBoundsPlan {
  EinsumOp reader;
  /// Per data input of `reader`: the tile-local rank it varies with (the
  /// inner rank of the query or of the key partition), or empty when it is
  /// fixed for the work item.
  SmallVector<std::string> varies;
};

class SchedulePlan {
public:
  /// The plan of `function` (in the scheduled form) for `target`; a located
  /// error when the function is not in a form the plan covers.
  static FailureOr<SchedulePlan> compute(func::FuncOp function,
                                         const TargetDescription &target);

  const TargetDescription &getTarget() const { return target; }
  const WorkPlan &getWork() const { return work; }
  GridOp getGrid() const { return grid; }
  const BufferPlan &getBuffer(Value value) const;
  /// Every value's buffer (unordered).
  const llvm::DenseMap<Value, BufferPlan> &getBuffers() const {
    return buffers;
  }
  /// Whether the plan has a buffer (argument, staged or alias) for `value`.
  bool hasBuffer(Value value) const { return buffers.count(value); }
  const EinsumPlan &getEinsum(EinsumOp einsum) const;
  ArrayRef<PackPlan> getPacks() const { return packs; }
  /// The run-time tile classification by ids, when the key loop has one.
  const std::optional<DataBoundsPlan> &getDataBounds() const {
    return dataBounds;
  }
  /// Values with their own staging buffer, in program order.
  ArrayRef<Value> getStagedValues() const { return staged; }
  /// Staging bytes of one work item (staged buffers and packs).
  int64_t getStagingBytes() const;

  /// Tile-local ranks: the inner ranks of the query and key partitions and
  /// the grid's tile extents.
  bool isTileLocal(llvm::StringRef rank) const;
  /// Static extent of a tile-local rank (1 for any other rank).
  int64_t getLocalExtent(llvm::StringRef rank) const;
  /// Whether a tile-local rank may run past the end of its parent rank
  /// (the inner rank of a partition: the last tile is partial).
  bool isPartial(llvm::StringRef rank) const;
  /// Whether `einsum` may read a tensor of the work item whose rank is
  /// `sourceRank` at another tile-local rank `readAt` (the second position
  /// rank of a scan within a tile): same extent, and where the source's
  /// tile is partial, a predicate that keeps `readAt` among its valid rows.
  LogicalResult checkRenamedRead(EinsumOp einsum, llvm::StringRef sourceRank,
                                 llvm::StringRef readAt) const;

  /// Attaches the plan as `cascade.plan` dictionaries: on the grid (work
  /// decomposition, staging bytes, target) and on every Einsum (buffer,
  /// loop order, vector rank and lanes, register tile, operand accesses).
  void annotate() const;

private:
  explicit SchedulePlan(const TargetDescription &target) : target(target) {}
  LogicalResult planWork(func::FuncOp function);
  LogicalResult planBuffers(func::FuncOp function);
  LogicalResult planEinsum(EinsumOp einsum);
  LogicalResult planOperand(EinsumOp einsum, EinsumPlan &plan, unsigned index);
  /// The buffer `value`'s alias chain ends in (its own if not an alias).
  const BufferPlan &getOwnBuffer(Value value) const;
  LogicalResult planDataRead(EinsumOp einsum, EinsumPlan &plan, unsigned index);
  LogicalResult planDataBounds(IterateOp iterate);
  /// `pack`'s index, shared with an earlier identical pack.
  unsigned addPack(PackPlan pack);
  void stage(Value value, SmallVector<std::string> tensorRanks);

  TargetDescription target;
  func::FuncOp function;
  GridOp grid;
  WorkPlan work;
  IterateOp keyLoop;
  llvm::DenseMap<Value, BufferPlan> buffers;
  SmallVector<Value> staged;
  llvm::DenseMap<Operation *, EinsumPlan> einsums;
  SmallVector<PackPlan> packs;
  std::optional<DataBoundsPlan> dataBounds;
};

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_SCHEDULEPLAN_H
