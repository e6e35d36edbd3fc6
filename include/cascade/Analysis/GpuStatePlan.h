//===- GpuStatePlan.h - A schedule with a state phase on a GPU ---*- C++ -*-===//
//
// The GPU form of a scheduled cascade with a state phase (linear attention
// and its relatives: the key-side state computed once per head, chunked
// causal states stacked per key tile; docs/LinearFamily.md). GpuPlan maps
// one query tile onto one block's tensor cores; this plan maps one work
// item of the state phase (one (b, h), and one block of its value columns
// where they are split) onto one block of CUDA cores, as the
// CPU kernel does and as Lightning Attention-2's forward kernel does:
//
//   - the block walks the query tiles of its head in order (the plan's
//     innerRanks), and advances the state phase's key iterate lazily: before
//     query tile t it runs the state steps up to the last one it reads
//     (`getStepMap`), so the stacks of the schedule are never
//     materialised: where every stacked read of a tile reads one step of
//     a carried value, the carried state after s steps is the stack's
//     entry s - 1; where the reads of a tile span a window of R steps
//     (GLA's rows and key tiles straddle two chunks) or read a per-step
//     value that is not carried (GLA's chunk-local prefix sums), each
//     stack keeps a ring of its last R entries. compute checks that the
//     window's base never decreases from one tile to the next; reads of
//     the final (unstacked) state run every step first;
//   - every tensor of the item is an f32 buffer in shared memory (its
//     tile shape), placed by liveness (`getOffset`): the buffers of values
//     never live at once share memory; the carried state lives for the
//     whole kernel;
//   - every Einsum is computed by the block's threads, output element i by
//     thread i mod threads, its reductions as loops, its body and
//     predicate per point as the interpreter evaluates them; a barrier
//     follows each Einsum;
//   - where a rank of the output (the value head dimension f) is never
//     reduced and every local tensor that has it is indexed by it as is,
//     its columns are split over blocks (`getColumnSplit`, as fla's chunk
//     kernels split V's columns): a block holds `width` columns of every
//     tensor that has the rank, and recomputes the tensors that do not
//     (the scores, the gates' prefix sums). That is B * H * blocks items,
//     and the state (e x f) shrinks by the split, which is what brings
//     gla to D = 128.
//
// It is a correctness-first form: no tensor cores. What a fast form adds
// (tensor-core state updates and inter-chunk products, a state kernel over
// the chunks in parallel) is in docs/GPU.md.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_GPUSTATEPLAN_H
#define CASCADE_ANALYSIS_GPUSTATEPLAN_H

#include "cascade/Analysis/GpuPlan.h"

#include <map>

namespace mlir::cascade {

/// Where a query-grid Einsum reads the state phase: operand `operand` of
/// `reader`, a result of the state grid that is the state iterate's carried
/// value `carried` (stacked: one entry per step; else the final value). A
/// stack of a per-step value that is not carried has `carried` at least the
/// number of carried values.
struct GpuStateRead {
  EinsumOp reader;
  unsigned operand = 0;
  unsigned carried = 0;
  bool stacked = false;
  /// The operand's dimensions that index the carried tile, in order (the
  /// others are the grid's ranks and, when stacked, the step).
  SmallVector<unsigned> tileDims;
  /// When stacked: the state iterate's result read (its stack) and the
  /// operand's dimension that is the step.
  unsigned stack = 0;
  unsigned stepDim = 0;
};

/// The split of a rank's columns over blocks: block c holds columns
/// [c * width, (c + 1) * width) of every tensor of the item that has the
/// rank (the last block's past `extent` are outside the domain).
struct GpuColumnSplit {
  std::string rank;
  /// The rank's compile-time extent (the head dimension) and the columns
  /// per block.
  int64_t extent = 0;
  int64_t width = 0;
  /// The dimension of the first output that is the rank (its launch
  /// extent).
  unsigned resultDim = 0;
  int64_t getBlocks() const { return (extent + width - 1) / width; }
  /// Whether the last block has columns past the extent.
  bool hasTail() const { return extent % width != 0; }
};

class GpuStatePlan {
public:
  /// The plan of `function` (scheduled, with a state phase) for `target`;
  /// a located error when it has no GPU form (yet).
  static FailureOr<GpuStatePlan> compute(func::FuncOp function,
                                         const GpuTarget &target);

  /// Whether `function` (scheduled) has a state phase: a grid before the
  /// query grid. Such a function takes this plan, not GpuPlan.
  static bool appliesTo(func::FuncOp function);

  const GpuTarget &getTarget() const { return target; }
  const SchedulePlan &getSchedule() const { return *schedule; }
  /// The split of the output's columns over blocks; none where no rank
  /// can be split (then a block holds every column).
  const std::optional<GpuColumnSplit> &getColumnSplit() const {
    return columns;
  }
  /// The launch's ranks in item order (the last fastest): the state
  /// phase's work ranks, then the column blocks when split (a rank whose
  /// coordinate is the column block, its extent the output's columns over
  /// the width).
  SmallVector<WorkRankPlan> getLaunchRanks() const;
  /// The ranks of a tile of the item (an Einsum's output ranks; an
  /// iterate's argument or result: its init's; a state grid result: the
  /// grid's output ranks), in order; empty for a kernel argument.
  static SmallVector<StringRef> getTileRanks(Value tile);
  /// The dimension of `tile` that is the split rank, if any.
  std::optional<unsigned> getColumnDim(Value tile) const;
  /// The shape of `tile`'s buffer: its type's, with `width` columns of
  /// the split rank.
  SmallVector<int64_t> getBufferShape(Value tile) const;
  /// Threads per block: four warps, 32 elements of a 64 x 64 tile each.
  /// (With 256, ptxas -O3 spills a few bytes at D = 128 on sm_90a while
  /// using 48 registers; with 128 it does not.)
  static constexpr int64_t kThreads = 128;
  /// Columns of the split rank per block to start from (fla's chunk
  /// kernels' value block), and the fewest a block is given to fit its
  /// buffers.
  static constexpr int64_t kColumnsPerBlock = 64;
  static constexpr int64_t kMinColumns = 8;
  int64_t getThreadsPerBlock() const { return kThreads; }
  /// The state phase's key iterate.
  IterateOp getStateIterate() const { return stateIterate; }
  /// The highest step the query tile reads, as a map of (the query tile
  /// index, then the work ranks in order)[the function's rank extents, in
  /// getStepSymbols' order]: the tile needs `expr + 1` state steps. Null
  /// when the query grid reads only the final state (every step) or no
  /// state at all.
  AffineMap getStepMap() const { return stepMap; }
  ArrayRef<std::string> getStepSymbols() const { return stepSymbols; }
  /// Whether the query grid reads the final state (then every step runs
  /// before the first query tile).
  bool readsFinalState() const { return finalRead; }
  /// The stacks (the state iterate's stacked results, by result number)
  /// that keep a ring of their last entries (entry s at slot s mod depth),
  /// in result order; none where
  /// stacked reads read the carried state itself.
  SmallVector<unsigned> getRingStacks() const {
    return llvm::to_vector(llvm::make_first_range(ringDepths));
  }
  /// The ring's depth of stack `stack`; 0 when it has no ring.
  int64_t getRingDepth(unsigned stack) const {
    auto at = ringDepths.find(stack);
    return at == ringDepths.end() ? 0 : at->second;
  }
  /// The f32 offset of the ring of the state iterate's result `stack`.
  int64_t getRingOffset(unsigned stack) const;
  /// The buffer shape of one entry of the state iterate's result `stack`
  /// (a ring slot).
  SmallVector<int64_t> getStackEntryShape(unsigned stack) const;
  /// The state read by operand `operand` of `reader`, or null.
  const GpuStateRead *getStateRead(EinsumOp reader, unsigned operand) const;
  /// The f32 offset of a tensor's buffer in the block's shared memory (the
  /// item's Einsum results and iterate arguments; an iterate's results
  /// share their arguments' buffers).
  int64_t getOffset(Value value) const;
  /// Bytes of shared memory: the largest extent of the placed buffers.
  int64_t getSharedMemoryBytes() const { return sharedFloats * 4; }
  bool usesDynamicSharedMemory() const {
    return getSharedMemoryBytes() > target.staticSharedMemoryLimit;
  }
  /// What a launch passes (the buffers need only f32 alignment, which the
  /// dynamic memory's 16 bytes give): the bytes when dynamic, else 0.
  int64_t getDynamicSharedMemoryBytes() const {
    return usesDynamicSharedMemory() ? getSharedMemoryBytes() : 0;
  }

  /// Whether the query grid's result `index` is stored as f32 (one value
  /// per query row: a log-sum-exp) rather than in the storage type.
  bool isF32Result(unsigned index) const;

  /// Attaches the plan as `cascade.gpu_plan` on both grids (form
  /// `state_phase`, threads, shared memory, the step read) and the buffer
  /// offsets on every Einsum.
  void annotate() const;

private:
  GpuStatePlan(const GpuTarget &target, SchedulePlan schedule)
      : target(target), schedule(std::move(schedule)) {}
  LogicalResult checkStateGrid();
  LogicalResult findStateReads();
  /// The window of steps a query tile's stacked reads span (stepMap,
  /// ringDepths).
  LogicalResult boundStateSteps(ArrayRef<std::pair<EinsumOp, AffineExpr>>
                                    stepReads);
  /// The first rank of the output that may be split over blocks
  /// (`columns`, its width to be chosen).
  void findColumnRank();
  bool isSplittable(StringRef rank) const;
  LogicalResult placeBuffers();

  GpuTarget target;
  std::optional<SchedulePlan> schedule;
  IterateOp stateIterate;
  AffineMap stepMap;
  SmallVector<std::string> stepSymbols;
  bool finalRead = false;
  std::map<unsigned, int64_t> ringDepths;
  std::optional<GpuColumnSplit> columns;
  SmallVector<GpuStateRead> reads;
  llvm::DenseMap<Value, int64_t> offsets;
  int64_t sharedFloats = 0;
};

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_GPUSTATEPLAN_H
