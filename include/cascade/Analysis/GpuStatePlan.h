//===- GpuStatePlan.h - A schedule with a state phase on a GPU ---*- C++ -*-===//
//
// The GPU form of a scheduled cascade with a state phase (linear attention
// and its relatives: the key-side state computed once per head, chunked
// causal states stacked per key tile; docs/LinearFamily.md). GpuPlan maps
// one query tile onto one block's tensor cores; this plan maps one work
// item of the state phase (one (b, h)) onto one block of CUDA cores, as the
// CPU kernel does and as Lightning Attention-2's forward kernel does:
//
//   - the block walks the query tiles of its head in order (the plan's
//     innerRanks), and advances the state phase's key iterate lazily: before
//     query tile t it runs the state steps up to the one the tile reads
//     (`getStepExpr`), so the stacked states of the schedule are never
//     materialised: the carried state after s steps is the stack's entry
//     s - 1. That is sound when every stacked read of the query grid reads
//     one step, uniform over the tile and nondecreasing in t, which compute
//     checks; reads of the final (unstacked) state run every step first;
//   - every tensor of the item is an f32 buffer in shared memory (its
//     tile shape), placed by liveness (`getOffset`): the buffers of values
//     never live at once share memory; the carried state lives for the
//     whole kernel;
//   - every Einsum is computed by the block's threads, output element i by
//     thread i mod threads, its reductions as loops, its body and
//     predicate per point as the interpreter evaluates them; a barrier
//     follows each Einsum.
//
// It is a correctness-first form: no tensor cores, B * H blocks. What a
// fast form adds (tensor-core state updates and inter-chunk products, a
// state kernel over the chunks in parallel) is in docs/GPU.md.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_GPUSTATEPLAN_H
#define CASCADE_ANALYSIS_GPUSTATEPLAN_H

#include "cascade/Analysis/GpuPlan.h"

namespace mlir::cascade {

/// Where a query-grid Einsum reads the state phase: operand `operand` of
/// `reader`, a result of the state grid that is the state iterate's carried
/// value `carried` (stacked: one entry per step; else the final value).
struct GpuStateRead {
  EinsumOp reader;
  unsigned operand = 0;
  unsigned carried = 0;
  bool stacked = false;
  /// The operand's dimensions that index the carried tile, in order (the
  /// others are the grid's ranks and, when stacked, the step).
  SmallVector<unsigned> tileDims;
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
  /// Threads per block: four warps, 32 elements of a 64 x 64 tile each.
  /// (With 256, ptxas -O3 spills a few bytes at D = 128 on sm_90a while
  /// using 48 registers; with 128 it does not.)
  static constexpr int64_t kThreads = 128;
  int64_t getThreadsPerBlock() const { return kThreads; }
  /// The state phase's key iterate.
  IterateOp getStateIterate() const { return stateIterate; }
  /// The step the query tile reads, as a map of (the query tile index,
  /// then the work ranks in order)[the function's rank extents, in
  /// getStepSymbols' order]: the tile needs `expr + 1` state steps. Null
  /// when the query grid reads only the final state (every step) or no
  /// state at all.
  AffineMap getStepMap() const { return stepMap; }
  ArrayRef<std::string> getStepSymbols() const { return stepSymbols; }
  /// Whether the query grid reads the final state (then every step runs
  /// before the first query tile).
  bool readsFinalState() const { return finalRead; }
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
  LogicalResult placeBuffers();

  GpuTarget target;
  std::optional<SchedulePlan> schedule;
  IterateOp stateIterate;
  AffineMap stepMap;
  SmallVector<std::string> stepSymbols;
  bool finalRead = false;
  SmallVector<GpuStateRead> reads;
  llvm::DenseMap<Value, int64_t> offsets;
  int64_t sharedFloats = 0;
};

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_GPUSTATEPLAN_H
