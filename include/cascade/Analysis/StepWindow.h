//===- StepWindow.h - An affine index as a base plus a bounded offset -*- C++ -*-===//
//
// Which stack entries a query tile reads. A read of a stacked state at
// `(p1 * 64 + p0 + M - P) floordiv 64` reads, over the tile's rows p0 in
// [0, 64), one of two steps: `(p1 * 64 + M - P) floordiv 64` plus 0 or 1.
// GpuStatePlan keeps only a window of the stack (a ring of its last R
// entries), so it needs every read of a tile as such a base, which may
// depend on the tile and the block's ranks only, plus a constant offset
// range.
//
// `boundOffsets` derives it by interval rules on the expression: a variable
// of the tile (a tile-local rank, the key tile within the tile's key range)
// contributes a range, the rest a base. Through `x floordiv c` a base keeps
// its exact form while the offset is one value; otherwise it becomes
// `base floordiv c` with the offsets widened by what the remainder of the
// base can add (the canonical form, in which two reads' bases compare
// equal syntactically where exact forms like `(x - 63) ceildiv 64` and
// `x floordiv 64` would not).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_STEPWINDOW_H
#define CASCADE_ANALYSIS_STEPWINDOW_H

#include "mlir/IR/AffineExpr.h"
#include "mlir/Support/LLVM.h"

#include <optional>

namespace mlir::cascade {

/// The values `base + k` for k in [lo, hi].
struct OffsetBound {
  AffineExpr base;
  int64_t lo = 0, hi = 0;
};

/// `expr`'s values as a base over `dimBounds`' and `symbols`' bases plus an
/// offset range, where dimension d takes the values of `dimBounds[d]`
/// (nullopt: a dimension `expr` must not use) and symbol s is `symbols[s]`.
/// `canonical` always moves a floordiv, ceildiv or mod's offset out of its
/// base (see the file comment). Nullopt where a rule does not apply (a
/// product of two variables, a divisor that is not a positive constant, a
/// dimension without bounds).
std::optional<OffsetBound>
boundOffsets(AffineExpr expr, ArrayRef<std::optional<OffsetBound>> dimBounds,
             ArrayRef<AffineExpr> symbols, bool canonical);

/// `bounds` rewritten over one common base, the first's: their bases must
/// differ from it by constants (after simplification over `numDims` and
/// `numSymbols`), which move into the offsets. Nullopt when two bases differ
/// by more.
std::optional<SmallVector<OffsetBound>>
alignBounds(ArrayRef<OffsetBound> bounds, unsigned numDims,
            unsigned numSymbols);

/// The smallest bound containing every one of `bounds`, which share one
/// base (alignBounds' result); nullopt when there are none.
std::optional<OffsetBound> hullOfAligned(ArrayRef<OffsetBound> bounds);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_STEPWINDOW_H
