//===- KernelState.h - What the CPU lowering knows at a point ------*- C++ -*-===//
//
// The CPU lowering turns one cascade function into a kernel over work items
// (one item = fixed batch ranks and one tile of the query rank). Inside an
// item every tensor of the cascade lives in a small static buffer on the
// stack, indexed by its "buffer ranks": the tiled query rank, the inner rank
// of the key partition and the compile-time head dimensions. The other ranks
// are fixed for the item (b, h) or for a step of the key iterate (m1).
//
// KernelBuilder.cpp builds the function-level structure and fills this state;
// EinsumLoopNest.cpp emits one Einsum as a register-tiled vector loop nest
// from it.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_CONVERSION_CASCADETOCPU_KERNELSTATE_H
#define CASCADE_LIB_CONVERSION_CASCADETOCPU_KERNELSTATE_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <map>
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
  /// Where stack buffers are allocated (the kernel's entry block).
  Block *allocaBlock = nullptr;
  /// Lanes of an f32 vector register (16 with AVX-512, 8 with AVX2).
  int64_t vectorWidth = 16;
  /// Accumulator vectors a register tile may keep live.
  int64_t accumulatorBudget = 24;

  /// Compile-time extents (head dimensions).
  llvm::StringMap<int64_t> staticExtents;
  /// Every rank's extent as an index value.
  llvm::StringMap<Value> extents;
  /// Coordinates fixed for the current work item or iterate step.
  llvm::StringMap<Value> fixed;

  /// The partition the work grid cuts (p = p1 * queryTile + p0): `p1` is
  /// fixed per work item, `p0` (the tiled rank) is a buffer rank. The
  /// tile's index and how many of its rows lie inside `p`.
  PartitionOp queryPartition;
  std::string tiledRank;
  int64_t queryTile = 64;
  Value tileIndex, tileValid;

  /// Set while emitting a key step that the iterate's tile schedule calls
  /// full: every predicate holds, so none is evaluated.
  bool predicatesHold = false;

  /// The key partition (m = m1 * tile + m0), if any, and how many inner
  /// coordinates of the current step lie inside the rank.
  mutable PartitionOp partition;
  Value innerValid;

  /// Storage of every lowered cascade tensor.
  llvm::DenseMap<Value, Storage> storage;

  /// While emitting the body of the key iterate: the point before its loop,
  /// where packs that do not depend on the step are hoisted to, and the
  /// iterate's body block (values defined there depend on the step).
  std::optional<OpBuilder::InsertPoint> hoistPoint;
  Block *iterateBody = nullptr;
  /// Packed copies already made, by (source, access, vector rank).
  std::map<std::pair<void *, std::string>, Storage> packs;
  /// The keys of `packs` made inside the key loop's body: valid only in the
  /// copy of the body that made them (a scheduled iterate emits its body
  /// once for full and once for partial tiles).
  std::vector<std::pair<void *, std::string>> stepPacks;
  /// Drops the packs of the body copy emitted last.
  void forgetStepPacks() {
    for (auto &key : stepPacks)
      packs.erase(key);
    stepPacks.clear();
  }

  bool isBufferRank(llvm::StringRef rank) const;
  /// Static extent of a buffer rank inside one item.
  int64_t getLocalExtent(llvm::StringRef rank) const;
  /// Whether some coordinates of a buffer rank may lie past its end.
  bool isPartial(llvm::StringRef rank) const;
  /// How many coordinates of a buffer rank are inside the rank (index).
  Value getValidCount(llvm::StringRef rank);
  /// The cascade coordinate of `rank` given the local coordinates of the
  /// buffer ranks at the current point; null if it is not determined.
  Value getCoordinate(llvm::StringRef rank,
                      const llvm::StringMap<Value> &local);

  /// The widest power-of-two lane count, up to a register, dividing
  /// `extent` (so head dimensions need no vector tails).
  int64_t getLanesFor(int64_t extent) const;
  Value constantIndex(int64_t value);
  /// A zero-initialised-free stack buffer of f32 with `shape`.
  Value allocateBuffer(ArrayRef<int64_t> shape);
  /// Storage for a local tensor with output ranks `tensorRanks`.
  Storage allocateTensor(ArrayRef<std::string> tensorRanks);
};

/// Emits `einsum` into `result` (a local buffer of its output ranks) at the
/// builder's insertion point.
LogicalResult emitEinsum(KernelState &state, EinsumOp einsum,
                         const Storage &result);

/// Vectorised copy of a local buffer into another with the same shape.
void copyBuffer(KernelState &state, Value from, Value to);

} // namespace mlir::cascade::cpu

#endif // CASCADE_LIB_CONVERSION_CASCADETOCPU_KERNELSTATE_H
