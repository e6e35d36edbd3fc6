//===- IndexBounds.h - The structure of an index range question --*- C++ -*-===//
//
// The shape contract bounds every operand index over its Einsum's domain.
// It is evaluated twice, by the same rules: in C++ on concrete sizes
// (checkShapeContract, with the sizes in its messages) and as generated code
// in a CPU kernel's `<f>_check` (cascade-build-cpu-shape-check). What the
// two share is decided here, once: which predicate constraints narrow a
// rank, which `m1 * T + m0` pairs read as their parent rank `m`, and where
// a read tensor's dimension gets its size. Each evaluator only supplies the
// arithmetic (checked int64_t, or arith ops).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_INDEXBOUNDS_H
#define CASCADE_ANALYSIS_INDEXBOUNDS_H

#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include <optional>
#include <string>

namespace mlir::cascade {

/// A linear form over an Einsum's ranks (dims) and extents (symbols).
struct LinearForm {
  SmallVector<int64_t> dims;
  SmallVector<int64_t> symbols;
  int64_t constant = 0;
};

/// `expr` as a linear form, or nullopt when it divides (floordiv, mod, ...).
std::optional<LinearForm> getLinearForm(EinsumOp einsum, AffineExpr expr);

/// A predicate constraint that bounds a single rank, `coefficient * r + rest
/// >= 0` (or `== 0`), with `rest` linear in the extents; or, with no `dim`,
/// one on extents alone, which empties the domain when it fails. Constraints
/// relating two ranks are not among them (the contract is conservative
/// there).
struct NarrowingConstraint {
  std::optional<unsigned> dim;
  int64_t coefficient = 0;
  LinearForm rest; ///< dims all zero
  bool isEquality = false;
};
SmallVector<NarrowingConstraint> getNarrowingConstraints(EinsumOp einsum);

/// An index whose `k * (m1 * T + m0)` pairs read as `k * m`: the partition's
/// tail keeps `m1 * T + m0` below M, which bounding m1 and m0 separately
/// would miss. `remaining` holds the other terms.
struct PartitionedIndex {
  struct Pair {
    unsigned outer, inner;
    int64_t tile;
    std::string parent;
    int64_t coefficient;
  };
  SmallVector<Pair> pairs;
  LinearForm remaining;
};
/// Nullopt when `expr` is not linear or has no such pair.
std::optional<PartitionedIndex>
getPartitionedIndex(EinsumOp einsum, AffineExpr expr,
                    const RankEnvironment &env);

/// Where the size of dimension `dim` of a tensor an Einsum reads comes from:
/// a function argument's actual size, or the extent of the rank the
/// producing Einsum (or an iterate's initial value) writes there.
struct DimSizeSource {
  std::optional<unsigned> argument;
  std::string rank;
};
std::optional<DimSizeSource> getDimSizeSource(Value tensor, unsigned dim);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_INDEXBOUNDS_H
