//===- GpuPlan.h - How a scheduled cascade maps onto an NVIDIA GPU -*- C++ -*-===//
//
// The GPU half of the schedule plan. A work item of the scheduled form (one
// query tile of one head) becomes one thread block; the plan says, without
// creating any op, how every tensor of the item and every Einsum maps onto
// the block's warps and the tensor cores, for one chip:
//
//   - the block: query-tile rows / 16 warps (mma.sync m16n8k16: each warp
//     owns 16 rows of the tile), the grid of blocks from SchedulePlan's work
//     decomposition;
//   - per tensor, its register layout (FragmentLayout): a tile over the
//     query rows and one column rank held as mma accumulator fragments
//     (each lane: rows g and g + 8 of its warp's 16, columns 2t, 2t + 1 of
//     every 8-column block, g = lane / 4, t = lane % 4), a per-row vector
//     (the two rows a lane holds), or nothing else;
//   - per Einsum, its GPU form (GpuEinsumPlan): a contraction of two global
//     operands over a head rank (S = Q K^T: both staged in shared memory,
//     ldmatrix + mma.sync, the query side's fragments loaded once per
//     item), a contraction of a register tile with a global operand over
//     the key rank (O = P V: P converted from accumulator to operand layout
//     in registers, V staged and read with ldmatrix.trans), a row reduction
//     (per-lane partials, then shuffles within the quad), or an elementwise
//     map on fragments;
//   - the shared-memory staging buffers (which operand, which rows, when they
//     are loaded: once per item or per key step, with cp.async), their
//     XOR swizzle (wgmma's 128-byte swizzle), the block's shared-memory
//     layout and whether it is static (up to 48 KiB) or dynamic (up to the
//     chip's opt-in limit);
//   - on sm_90a, S = Q K^T by wgmma.mma_async from the swizzled stages
//     (WarpgroupShared) where the block is whole warpgroups, O = P V by
//     wgmma with P stored to a swizzled shared tile (WarpgroupStaged)
//     where the key tile is a multiple of 64 as well, and the
//     swizzled stages filled by TMA on mbarriers (StagePlan::tma) where a
//     tensor map describes their operand.
//
// A cascade whose schedule has no GPU form yet gets a located error that
// says what is missing. The GPU emitter (lib/Conversion/CascadeToGPU) reads
// this plan and decides nothing; `cascade-annotate-plan{target=sm_80}`
// prints it for lit tests.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_GPUPLAN_H
#define CASCADE_ANALYSIS_GPUPLAN_H

#include "cascade/Analysis/SchedulePlan.h"

#include <optional>
#include <string>

namespace mlir::cascade {

/// What the plan needs to know about an NVIDIA chip.
struct GpuTarget {
  /// sm_80, sm_86, sm_89 or sm_90a.
  std::string chip;
  /// 80, 86, 89, 90.
  int64_t computeCapability = 80;
  /// Static shared memory one block may declare (workgroup attributions;
  /// more needs dynamic shared memory and an opt-in at launch).
  int64_t staticSharedMemoryLimit = 48 * 1024;
  /// Shared memory per SM with the opt-in (163 KiB on sm_80, 99 KiB on
  /// sm_86/89, 227 KiB on sm_90a): what a multi-stage pipeline may use.
  int64_t sharedMemoryPerBlockOptIn = 163 * 1024;
  /// Shared memory per SM (164 KiB on sm_80, 100 KiB on sm_86/89, 228 KiB
  /// on sm_90a), of which each resident block also takes
  /// kReservedSharedMemoryPerBlock.
  int64_t sharedMemoryPerMultiprocessor = 164 * 1024;
  static constexpr int64_t kReservedSharedMemoryPerBlock = 1024;
  /// The chip by name; std::nullopt if unknown.
  static std::optional<GpuTarget> byChip(llvm::StringRef chip);
};

/// Where one tensor of a work item lives in a block's registers.
struct FragmentLayout {
  enum class Kind {
    /// 16 rows per warp (the warp's part of the query tile) x `columns` of
    /// `columnRank`, in mma accumulator layout: per lane, for each 8-column
    /// block j, (row g, cols 8j + 2t + {0,1}) and (row g + 8, same cols):
    /// 4 * columns / 8 f32 values.
    Tile,
    /// One value per query row: the lane's rows g and g + 8 (2 values;
    /// the 4 lanes of a quad hold the same).
    Rows,
    /// One value per block: an Einsum over ranks the block fixes (ALiBi's
    /// per-head slope), computed by every thread.
    Scalar,
  };
  Kind kind = Kind::Rows;
  std::string columnRank;
  int64_t columns = 0;
  /// f32 registers per lane.
  int64_t getRegisters() const {
    return kind == Kind::Tile ? columns / 2 : kind == Kind::Rows ? 2 : 1;
  }
};

/// A tile of a global operand staged in shared memory as f16/bf16 (one
/// buffer per slot when it is staged per key step, GpuPlan::getKeySlots):
/// `rows` rows (the tile-local rank `rowRank`) of `width` contiguous
/// elements (the head rank `headRank`, innermost in the operand).
struct StagePlan {
  /// The Einsum and operand it feeds.
  EinsumOp reader;
  unsigned operand = 0;
  std::string rowRank, headRank;
  int64_t rows = 0, width = 0;
  /// Loaded once per work item (before the key loop), or at every key step.
  bool perKeyStep = false;
  /// Swizzled: the tile is stored as width / 64 slabs, each `rows` rows of
  /// 64 elements (128 bytes), and 16-byte chunk c of a slab's row r at
  /// chunk c ^ (r % 8). That is bank-conflict free for ldmatrix and
  /// cp.async, and it is wgmma's K-major layout with the 128-byte swizzle
  /// (8-row groups 1024 bytes apart; the buffer is 1024-byte aligned), so
  /// the tensor cores of sm_90a read it by descriptor. Needs width to be a
  /// multiple of 64. Otherwise rows are padded by 8 elements.
  bool swizzled = false;
  /// 64-wide slabs of a swizzled tile (1 for a padded one).
  int64_t slabs = 1;
  /// For a per-item tile read as mma A operands: its fragments are loaded
  /// into registers once, before the key loop (when the registers the key
  /// loop keeps live leave room for them), rather than by ldmatrix at
  /// every step.
  bool hoistFragments = false;
  /// How the tile reaches shared memory. By default every thread issues
  /// 16-byte cp.async copies (rows past the rank's end zero-filled). With
  /// `tma` (sm_90a), one thread issues a cp.async.bulk.tensor per slab from
  /// a tensor map of the global operand (a kernel argument after the
  /// outputs, docs/GPU.md "ABI"), completing on an mbarrier; TMA writes the
  /// 128-byte swizzle of the slabs itself and zero-fills past the operand's
  /// end. Chosen when the operand is read row-major with the head rank
  /// innermost and the rows along one dimension (GpuPlan::selectTma).
  bool tma = false;
  /// For TMA: the global operand's dimension the stage's rows run along;
  /// its last dimension is the head rank.
  unsigned tmaRowDimension = 0;
  /// For TMA: the box per dimension of the global operand, outermost
  /// first: `rows` along the rows, 64 along the head rank (one slab), 1
  /// elsewhere.
  SmallVector<int64_t> getTmaBox() const;
  /// Elements per stored row: 64 in a slab, width + 8 when padded.
  int64_t rowPitch = 0;
  /// Rows of the buffer: `rows` per slab.
  int64_t getStoredRows() const { return slabs * rows; }
  int64_t getBytes() const { return getStoredRows() * rowPitch * 2; }
  /// The buffer's alignment: 1024 bytes for a swizzled tile (where the
  /// 128-byte swizzle repeats; wgmma descriptors assume base offset 0),
  /// 128 otherwise (cp.async and ldmatrix move 16-byte rows).
  int64_t getAlignment() const { return swizzled ? 1024 : 128; }
};

/// One result of the grid as the kernel writes it: argument number
/// (inputs + index) of the kernel, after the inputs, in the grid's order.
struct GpuResultPlan {
  /// The tile the grid yields.
  Value tile;
  /// The result tensor's ranks, in order.
  SmallVector<std::string> ranks;
  /// Tile: [..., query, head], the attention output, stored in the storage
  /// type. Rows: one value per query row (the log-sum-exp), stored as f32,
  /// as FlashAttention's LSE, by the first lane of each quad.
  FragmentLayout::Kind kind = FragmentLayout::Kind::Tile;
  bool isF32() const { return kind == FragmentLayout::Kind::Rows; }
};

/// The GPU form of one Einsum of a work item.
struct GpuEinsumPlan {
  enum class Kind {
    /// Elementwise over the output's layout (no reduction).
    Map,
    /// Reduces the key rank of a tile into a per-row vector: per-lane
    /// partials, then xor shuffles by 1 and 2 within each quad.
    RowReduce,
    /// Contracts a head rank of two global operands (S = Q K^T): A (the
    /// query side, rows x head) and B (the key side, keys x head) from
    /// shared memory by ldmatrix, mma.sync per 16x8x16 block.
    MmaShared,
    /// Contracts the key rank of a register tile with a global operand
    /// (O = P V): A from the tile's accumulators, converted in registers;
    /// B (keys x head) from shared memory by ldmatrix.trans.
    MmaRegisters,
    /// MmaShared on sm_90a: one warpgroup (4 warps, 64 query rows) per
    /// wgmma.mma_async m64nNk16 (N = the key tile), both operands read from
    /// their swizzled stages by shared-memory descriptor, the accumulator
    /// in registers in the Tile layout (per warp, mma.sync's C layout).
    WarpgroupShared,
    /// MmaRegisters on sm_90a, where the key tile is a multiple of 64: the
    /// register tile (P, masked and rounded as for mma.sync) is stored by
    /// each warpgroup's threads into its 64 rows of the block's tile stage
    /// (GpuPlan::getTileStage, K-major with the 128-byte swizzle), fenced
    /// for the async proxy, and one wgmma.mma_async m64nNk16 per 16 keys
    /// (N = the head columns) reads it as A and B (keys x head) from its
    /// stage as an N-major operand (layout row), both by descriptor.
    WarpgroupStaged,
  };
  Kind kind = Kind::Map;
  FragmentLayout output;
  /// For the two mma forms: which operand is A and which is B, the staged
  /// tiles (indices into GpuPlan::getStages(); -1 for a register A), the
  /// contracted rank. The body is a * b * s (isScaledProduct), s applied
  /// to the f32 accumulators.
  unsigned operandA = 0, operandB = 1;
  int64_t stageA = -1, stageB = -1;
  /// 8x8 matrices per ldmatrix of B: 4 serves two mma.sync at once (S =
  /// Q K^T: k-steps kk and kk + 1 of one 8-key block; P V: 8-column blocks
  /// j and j + 1 of one k-step), 2 serves one. A pair is loaded by x4 where
  /// the count of k-steps (of column blocks) is even, and the odd one out
  /// by x2.
  int64_t bMatricesPerLoad = 2;
  std::string contracted;
  bool isContraction() const { return kind >= Kind::MmaShared; }
  /// Whether a row reduction needs to know if any point was reduced (its
  /// `else` value differs from the operator's identity).
  bool tracksAny = false;
  /// A key contraction whose register operand (P) is not proved within
  /// [-1, 1] (isWithinUnit: Based's polynomial, ReLU's scores): in f16,
  /// each row of it is multiplied by a power of two that keeps it below
  /// 2^15 before it is rounded, the accumulator by the same before the
  /// tensor cores add to it and by the inverse after, so that no P
  /// overflows f16. Softmax's P = exp(S - rowmax) and sigmoids are proved.
  bool scalesOperandRows = false;
  /// A key contraction (MmaRegisters, WarpgroupStaged) whose body is a * b
  /// and whose only user is a Map over the same tile with body `x + g` in
  /// it (`select(c, x, x + g)` included: the online rescale `O * alpha +
  /// P V`): the contraction starts its accumulators from g (the map's body
  /// at x = 0) instead of from zero and its result is the map's, as
  /// FlashAttention rescales O and accumulates P V into it, so that the
  /// product and the running tile are never live side by side. Set on the
  /// contraction (the map) and on the map (the contraction, with the
  /// operand that reads it).
  EinsumOp accumulatesInto, accumulatedBy;
  unsigned accumulatorOperand = 0;
  /// For a contraction that accumulates into a map: the maps and row
  /// reductions after it in the block that g needs (one-pass softmax's
  /// rescale factor), in order; the kernel emits them before the
  /// contraction. None reads the contraction.
  SmallVector<EinsumOp> emittedBefore;
};

class GpuPlan {
public:
  /// The GPU plan of `function` (in the scheduled form) for `target`; a
  /// located error when the schedule has no GPU form (yet).
  static FailureOr<GpuPlan> compute(func::FuncOp function,
                                    const GpuTarget &target);

  const GpuTarget &getTarget() const { return target; }
  /// The work decomposition and buffers, from the target-independent plan.
  const SchedulePlan &getSchedule() const { return *schedule; }
  int64_t getWarps() const { return warps; }
  int64_t getThreadsPerBlock() const { return warps * 32; }
  /// The query tile's rank (rows of every fragment) and the key tile's.
  llvm::StringRef getRowRank() const { return rowRank; }
  llvm::StringRef getKeyRank() const { return keyRank; }
  const FragmentLayout &getLayout(Value value) const;
  /// The layout of a tile over the query rows and the key tile's keys (S,
  /// P): what row reductions and P V read.
  FragmentLayout getKeyTileLayout() const;
  const GpuEinsumPlan &getEinsum(EinsumOp einsum) const;
  ArrayRef<StagePlan> getStages() const { return stages; }
  /// Whether an Einsum is a WarpgroupShared or WarpgroupStaged
  /// contraction: the kernel then fences generic-proxy writes of the stages
  /// (cp.async) before the tensor cores read them through the async proxy.
  bool usesWarpgroupMma() const;
  /// The shared tile that WarpgroupStaged contractions store their register
  /// operand to, as a swizzled stage that no copy fills: the block's query
  /// rows (`rows`, `rowRank`) by the key tile (`width`, `headRank` = the
  /// key rank) in 64-key slabs; `reader` is the first such contraction.
  /// Laid out after the stages, before the mbarriers. std::nullopt when
  /// no contraction is WarpgroupStaged.
  const std::optional<StagePlan> &getTileStage() const { return tileStage; }
  /// Whether some stage is filled by TMA; the kernel then keeps mbarriers
  /// (getMbarrierCount) in shared memory after the stages.
  bool usesTma() const;
  /// Whether some stage is filled by cp.async (the kernel then commits and
  /// waits on cp.async groups).
  bool usesCpAsync() const;
  /// The TMA stages in order: the kernel's tensor-map arguments.
  SmallVector<unsigned> getTmaStages() const;
  /// mbarriers of a kernel with TMA stages: one for the per-item tiles,
  /// one per key slot.
  int64_t getMbarrierCount() const { return usesTma() ? 1 + keySlots : 0; }
  /// The grid's results in order; the first is the attention output, whose
  /// shape lays out the work items.
  ArrayRef<GpuResultPlan> getResults() const { return results; }
  /// The block's shared memory: every stage, the per-key-step ones once
  /// per slot, each at its alignment, then the tile stage, then the
  /// mbarriers.
  int64_t getSharedMemoryBytes() const;
  /// The byte offsets in that layout of every stage (its first slot), then
  /// of the tile stage if there is one, then of the mbarriers: the
  /// workgroup attributions' places when the memory
  /// is static, the kernel's memref.view shifts from its aligned base when
  /// it is dynamic.
  SmallVector<int64_t> getSharedMemoryOffsets() const;
  /// Whether the block's shared memory is dynamic: more than the 48 KiB a
  /// kernel may declare statically, up to the chip's opt-in limit. The
  /// kernel then carves its stages out of gpu.dynamic_shared_memory, from
  /// a base it aligns at run time to getSharedBaseAlignment (the PTX
  /// declaration promises kDynamicSharedAlignment only), and the host
  /// raises the kernel's dynamic shared memory limit and launches with
  /// getDynamicSharedMemoryBytes.
  bool usesDynamicSharedMemory() const {
    return getSharedMemoryBytes() > target.staticSharedMemoryLimit;
  }
  /// Bytes a block of this kernel occupies: its static shared memory, or
  /// its launch's dynamic shared memory.
  int64_t getLaunchSharedMemoryBytes() const {
    return usesDynamicSharedMemory() ? getDynamicSharedMemoryBytes()
                                     : getSharedMemoryBytes();
  }
  /// The blocks per SM the layout is chosen to keep: two 128-thread blocks
  /// are what the registers allow once a kernel uses more than 168 of them
  /// (most do at D = 128), so more shared memory than half an SM's would
  /// cost occupancy that the deeper pipeline does not buy back.
  static constexpr int64_t kBlocksPerMultiprocessor = 2;
  /// The largest alignment a stage needs (1024 for a swizzled tile).
  int64_t getSharedBaseAlignment() const;
  /// What a launch passes as its dynamic shared memory: the layout's bytes
  /// plus the slack of aligning the base; 0 when the memory is static.
  int64_t getDynamicSharedMemoryBytes() const;
  /// The alignment of the dynamic shared memory global
  /// (NVVM::kSharedMemoryAlignmentBit, what convert-gpu-to-nvvm looks for;
  /// `.align 16` in PTX).
  static constexpr int64_t kDynamicSharedAlignment = 16;
  /// Buffers of each per-key-step stage: 2 when they fit, so that the tiles
  /// of step i + 1 are copied (cp.async) while step i computes; else 1.
  int64_t getKeySlots() const { return keySlots; }
  /// f32 registers per lane the key loop keeps live across steps (the
  /// carried fragments) plus its largest tile: what hoisting A fragments
  /// competes with.
  int64_t getKeyLoopRegisters() const { return keyLoopRegisters; }
  /// Registers per lane a kernel may keep in fragments before ptxas spills
  /// (255 per thread, less addresses, predicates and temporaries).
  static constexpr int64_t kFragmentRegisterBudget = 96;
  /// f32 registers per lane a key step needs, as the key tile is chosen
  /// (cascade-schedule-for-gpu): the carried fragments, plus per score
  /// contraction two key tiles where P V takes P's operand fragments from
  /// registers (mma.sync: the scores and P live together), one where P is
  /// stored to shared memory from the scores' registers (WarpgroupStaged).
  /// Softmax at D = 128 with 64 keys on sm_90a: 68 + 32; differential
  /// attention (two maps, two running outputs) at D = 64 with 64 keys:
  /// 72 + 2 x 32 on sm_90a, 72 + 4 x 32 on sm_80.
  int64_t getKeyStepRegisters() const;
  /// The same for a schedule of this spec with `keys` keys per step: the
  /// carried fragments do not depend on it, and a staged P V stays staged
  /// at multiples of 64 (mma.sync below).
  int64_t getKeyStepRegisters(int64_t keys) const;
  /// The most getKeyStepRegisters may be for a chosen key tile: at 200
  /// ptxas spilled or used all 255 registers (differential attention: at
  /// D = 128 with 64 keys on sm_90a 92 bytes of spills, with 32 keys 255
  /// registers; at D = 64 with 64 keys on sm_80 255).
  static constexpr int64_t kKeyStepRegisterBudget = 176;

  /// Attaches the plan as `cascade.gpu_plan` dictionaries: on the grid
  /// (chip, warps, threads, shared memory, stages) and on every Einsum
  /// (form, layout, operands A and B, stages).
  void annotate() const;

private:
  GpuPlan(const GpuTarget &target, SchedulePlan schedule)
      : target(target), schedule(std::move(schedule)) {}
  LogicalResult planBlock(Block &block);
  LogicalResult planEinsum(EinsumOp einsum);
  LogicalResult planBlockScalar(EinsumOp einsum);
  LogicalResult planMmaShared(EinsumOp einsum, GpuEinsumPlan &plan);
  LogicalResult planMmaRegisters(EinsumOp einsum, GpuEinsumPlan &plan);
  /// Lays out the stages and mbarriers (see getSharedMemoryBytes); the
  /// offsets of the stages, the tile stage and the mbarriers into
  /// `offsets`.
  int64_t layOutSharedMemory(SmallVectorImpl<int64_t> *offsets) const;
  /// Moves the MmaShared contractions that sm_90a's wgmma can take to
  /// WarpgroupShared and the MmaRegisters ones to WarpgroupStaged (which
  /// adds the tile stage).
  void selectWarpgroupMma();
  /// Moves the swizzled stages whose global operand a tensor map can
  /// describe to TMA (sm_90a).
  void selectTma();
  /// Pairs each key contraction with the map it can accumulate into
  /// (GpuEinsumPlan::accumulatesInto).
  void selectAccumulation();
  /// Checks that operand `index` of `einsum` is either a tensor of the item
  /// read at its own point with a layout the output's covers, or a global
  /// argument read element by element.
  LogicalResult checkElementOperand(EinsumOp einsum, unsigned index,
                                    const FragmentLayout &context);
  FailureOr<int64_t> stage(EinsumOp einsum, unsigned operand,
                           llvm::StringRef rowRank, bool perKeyStep);

  GpuTarget target;
  std::optional<SchedulePlan> schedule;
  int64_t warps = 4;
  std::string rowRank, keyRank;
  llvm::DenseMap<Value, FragmentLayout> layouts;
  llvm::DenseMap<Operation *, GpuEinsumPlan> einsums;
  SmallVector<StagePlan> stages;
  std::optional<StagePlan> tileStage;
  SmallVector<GpuResultPlan> results;
  int64_t keyLoopRegisters = 0;
  /// The key loop's carried fragments (f32 registers per lane).
  int64_t keyLoopCarried = 0;
  int64_t keySlots = 1;
};

/// The target-independent schedule plan of `function` for a GPU: staging in
/// shared memory, whose limit the GPU plans check against the tiles they
/// stage (the CPU's staging buffers do not exist there).
FailureOr<SchedulePlan> computeGpuSchedule(func::FuncOp function,
                                           const GpuTarget &target);

/// Whether the body of a two-operand Einsum is `a * b * s` with `s` not
/// reading either operand (multiplied or divided in: Q.K / sqrt(E)); its
/// value is then the body at a = b = 1.
bool isScaledProduct(EinsumOp einsum);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_GPUPLAN_H
