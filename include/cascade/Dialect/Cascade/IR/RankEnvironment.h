//===- RankEnvironment.h - Function-scoped rank names and extents -*- C++ -*-===//
//
// In a cascade, a rank name means the same index space in every Einsum of a
// function (FuseMax's notation). This class collects, for one function,
// where each rank's extent comes from: a dimension of a function argument,
// or a cascade.partition. The verifier, the interpreter and attn-run all
// ask it rather than re-deriving bindings.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_DIALECT_CASCADE_IR_RANKENVIRONMENT_H
#define CASCADE_DIALECT_CASCADE_IR_RANKENVIRONMENT_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace mlir::cascade {

/// Where a rank's extent comes from.
struct RankBinding {
  /// Argument: a dimension of a tensor argument. Scalar: the value of an
  /// integer argument marked `{cascade.extent_of = "w"}` (a runtime size
  /// such as a window, used as `W` in predicates and bodies; the rank
  /// indexes nothing). Partition*: declared by a cascade.partition.
  /// TileLocal: named only by a grid's `tile_extents`, a position inside a
  /// work item's tile with a compile-time extent (the second position rank
  /// of a scan within a key tile, cascade-chunk-gates).
  enum class Kind {
    Argument,
    Scalar,
    PartitionOuter,
    PartitionInner,
    TileLocal
  };
  Kind kind = Kind::Argument;
  /// For Kind::Argument: the argument and its dimension; for Kind::Scalar:
  /// the argument.
  unsigned argNumber = 0;
  unsigned dim = 0;
  /// For Kind::Scalar: the `cascade.default` the spec gives, if any.
  std::optional<int64_t> defaultValue;
  /// For partition ranks: the op that declares them.
  PartitionOp partition;
  /// The op (or function) whose text established the binding, for notes.
  Operation *origin = nullptr;
  /// The extent when it is known at compile time.
  std::optional<int64_t> staticExtent;
};

class RankEnvironment {
public:
  /// Collects the bindings of `function`. Conflicts (a rank with two static
  /// extents, a rank partitioned twice) make the result a failure; each is
  /// reported as an error at the op it arises at when that op is in
  /// `reportAt`, so that op verifiers report each conflict once.
  /// `reportedAny`, when given, tells whether any of those errors was
  /// emitted (a failure with none means the fault lies at another op).
  static FailureOr<RankEnvironment>
  build(FunctionOpInterface function,
        llvm::ArrayRef<Operation *> reportAt = {},
        bool *reportedAny = nullptr);

  /// The binding of `rank`, or null when nothing binds it.
  const RankBinding *lookup(llvm::StringRef rank) const;

  /// The static extent of `rank` if the environment knows one.
  std::optional<int64_t> getStaticExtent(llvm::StringRef rank) const;

  /// The partition whose inner rank is `rank`, if any.
  PartitionOp getPartitionOfInner(llvm::StringRef rank) const;
  /// The partition whose outer rank is `rank`, if any.
  PartitionOp getPartitionOfOuter(llvm::StringRef rank) const;

  /// The partitions whose inner rank appears in `ranks`. An Einsum over
  /// such a rank skips the points past the end of the parent, with the outer
  /// rank's coordinate taken from its own ranks or an enclosing iterate.
  llvm::SmallVector<PartitionOp>
  getPartitionsOfInnerRanks(llvm::ArrayRef<llvm::StringRef> ranks) const;

  /// The rank that names dimension `dim` of argument `argNumber`, if any.
  std::optional<llvm::StringRef> getRankOfArgumentDim(unsigned argNumber,
                                                      unsigned dim) const;

  /// Every (argument, dim, rank) where a bare rank indexes an argument's
  /// dimension, in the order found: a dimension indexed by two ranks
  /// (`D[b, m]` and `D[b, p]`) is listed for both, and binds both extents.
  llvm::ArrayRef<std::tuple<unsigned, unsigned, llvm::StringRef>>
  getArgumentDimUses() const {
    return uses;
  }

  /// All ranks, in the order their bindings were found.
  llvm::SmallVector<llvm::StringRef> getRankNames() const;

  /// Computes every extent from the concrete shapes of the function's
  /// arguments and the values of its scalar arguments (`scalarValues`,
  /// indexed by argument number; an absent value takes the spec's
  /// `cascade.default`). Fails with a message naming the argument when two
  /// arguments disagree on a rank's extent, or a scalar has no value or one
  /// below 1.
  FailureOr<llvm::StringMap<int64_t>>
  resolveExtents(llvm::ArrayRef<llvm::SmallVector<int64_t>> argumentShapes,
                 std::string &error,
                 llvm::ArrayRef<std::optional<int64_t>> scalarValues = {}) const;

  /// The rank whose extent scalar argument `argNumber` gives, if it is one.
  std::optional<llvm::StringRef> getRankOfScalarArgument(unsigned argNumber) const;

private:
  llvm::MapVector<llvm::StringRef, RankBinding> bindings;
  /// (argument, dim) -> rank, for every pure index of an argument dimension.
  llvm::DenseMap<std::pair<unsigned, unsigned>, llvm::StringRef> argumentDims;
  /// Every (argument, dim) that names a rank, with that rank, so that
  /// resolveExtents can check all of them, not only the first.
  llvm::SmallVector<std::tuple<unsigned, unsigned, llvm::StringRef>> uses;
};

} // namespace mlir::cascade

#endif // CASCADE_DIALECT_CASCADE_IR_RANKENVIRONMENT_H
