//===- KernelState.h - What the CPU lowering knows at a point ------*- C++ -*-===//
//
// The CPU lowering turns one cascade function into a kernel over work items
// (one item = fixed batch ranks and one tile of the query rank). Inside an
// item every tensor of the cascade lives in a small static buffer on the
// stack, indexed by its "buffer ranks": the tiled query rank, the inner rank
// of the key partition and the compile-time head dimensions. The other ranks
// are fixed for the item (b, h) or for a step of the key iterate (m1).
//
// Which buffers exist, their shapes, every Einsum's loops, register tile and
// operand accesses are the SchedulePlan's; this state holds the values the
// emission made for them. KernelBuilder.cpp builds the function-level
// structure and fills it; EinsumLoopNest.cpp emits one Einsum as a
// register-tiled vector loop nest from it.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_CONVERSION_CASCADETOCPU_KERNELSTATE_H
#define CASCADE_LIB_CONVERSION_CASCADETOCPU_KERNELSTATE_H

#include "cascade/Analysis/SchedulePlan.h"
#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace mlir::cascade::cpu {

/// Where the value of one cascade tensor lives inside a work item.
struct Storage {
  Value buffer;
  /// A kernel argument (global memory, indexed by global coordinates in the
  /// cascade's own index expressions) rather than a local buffer.
  bool isGlobal = false;
  /// For local buffers: the rank of each buffer dimension, in order.
  SmallVector<std::string> bufferRanks;
  /// For local buffers: the ranks of the tensor (the producer's output).
  SmallVector<std::string> tensorRanks;
};

struct KernelState {
  KernelState(OpBuilder &builder, Location loc) : b(builder), loc(loc) {}

  OpBuilder &b;
  Location loc;
  /// What to emit: the work decomposition, every buffer and pack, every
  /// Einsum's loop nest (SchedulePlan.h). The emitter decides none of it.
  const SchedulePlan *plan = nullptr;
  /// Where stack buffers are allocated (the kernel's entry block).
  Block *allocaBlock = nullptr;

  /// Every rank's extent as an index value.
  llvm::StringMap<Value> extents;
  /// Coordinates fixed for the current work item or iterate step.
  llvm::StringMap<Value> fixed;

  /// The query tile's index (p1) and how many of its rows lie inside `p`.
  Value tileIndex, tileValid;

  /// Set while emitting a key step that the iterate's tile schedule calls
  /// full: every predicate holds, so none is evaluated.
  bool predicatesHold = false;

  /// How many inner coordinates of the current key step lie inside the key
  /// rank.
  Value innerValid;

  /// Storage of every cascade tensor of the item (from the buffer plan).
  llvm::DenseMap<Value, Storage> storage;
  /// The staging buffer of each of the plan's packs, and which packs hold
  /// their values at the current point.
  SmallVector<Storage> packs;
  llvm::DenseSet<unsigned> filledPacks;

  /// While emitting the body of the key iterate: the point before its loop,
  /// where hoisted packs are made.
  std::optional<OpBuilder::InsertPoint> hoistPoint;
  /// Forgets the packs made per key step (a scheduled iterate emits its
  /// body once for full and once for partial tiles: each copy makes its
  /// own) and those made at the point of use outside the key loop.
  void forgetStepPacks() {
    for (auto [index, pack] : llvm::enumerate(plan->getPacks()))
      if (!pack.hoisted)
        filledPacks.erase(index);
  }

  PartitionOp getQueryPartition() const {
    return plan->getWork().queryPartition;
  }
  PartitionOp getKeyPartition() const { return plan->getWork().keyPartition; }
  bool isBufferRank(llvm::StringRef rank) const {
    return plan->isTileLocal(rank);
  }
  int64_t getLocalExtent(llvm::StringRef rank) const {
    return plan->getLocalExtent(rank);
  }
  bool isPartial(llvm::StringRef rank) const { return plan->isPartial(rank); }
  /// How many coordinates of a buffer rank are inside the rank (index).
  Value getValidCount(llvm::StringRef rank);
  /// The cascade coordinate of `rank` given the local coordinates of the
  /// buffer ranks at the current point; null if it is not determined.
  Value getCoordinate(llvm::StringRef rank,
                      const llvm::StringMap<Value> &local);

  Value constantIndex(int64_t value);
  /// A stack buffer with `shape` (not initialised), aligned as the target
  /// asks: f32 unless `element` says otherwise (the ids of an id pack).
  Value allocateBuffer(ArrayRef<int64_t> shape, Type element = nullptr);
};

/// The run-time class of key tiles by data comparisons (DataTileClass.cpp),
/// as the plan's DataBoundsPlan says: id ranges of the reads that vary with
/// the query tile (or with nothing) once before the key loop, of those that
/// vary with the key tile in every step.
class DataTileClassifier {
public:
  DataTileClassifier(KernelState &state, const DataBoundsPlan &plan);
  /// i1 values: some comparison can hold for no pair of the tiles (skip
  /// it); every comparison holds for every pair (no mask needed).
  using Class = DataCompareClass;
  /// Before the key loop: the ranges over the query tile's rows.
  void emitQueryRanges();
  /// In a key step (the key tile fixed in the state, `keyValid` of its
  /// keys inside the key rank): the key tile's ranges and the class.
  Class emitStepClass(Value keyValid);

private:
  /// [min, max] as i64 of data read `read` over `count` coordinates of the
  /// rank it varies with.
  std::pair<Value, Value> emitRange(unsigned read, Value count);

  KernelState &s;
  const DataBoundsPlan &plan;
  SmallVector<std::pair<Value, Value>> ranges;
};

/// Emits `einsum` into `result` (a local buffer of its output ranks) at the
/// builder's insertion point.
LogicalResult emitEinsum(KernelState &state, EinsumOp einsum,
                         const Storage &result);

/// Vectorised copy of a local buffer into another with the same shape.
void copyBuffer(KernelState &state, Value from, Value to);

} // namespace mlir::cascade::cpu

#endif // CASCADE_LIB_CONVERSION_CASCADETOCPU_KERNELSTATE_H
