//===- StepWindow.cpp - An affine index as a base plus a bounded offset ---===//

#include "cascade/Analysis/StepWindow.h"

#include "mlir/IR/AffineExprVisitor.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::cascade;

static OffsetBound exact(AffineExpr base) { return {base, 0, 0}; }

std::optional<OffsetBound> mlir::cascade::boundOffsets(
    AffineExpr expr, ArrayRef<std::optional<OffsetBound>> dimBounds,
    ArrayRef<AffineExpr> symbols, bool canonical) {
  MLIRContext *context = expr.getContext();
  auto recurse = [&](AffineExpr sub) {
    return boundOffsets(sub, dimBounds, symbols, canonical);
  };
  switch (expr.getKind()) {
  case AffineExprKind::Constant: {
    int64_t value = cast<AffineConstantExpr>(expr).getValue();
    return OffsetBound{getAffineConstantExpr(0, context), value, value};
  }
  case AffineExprKind::DimId: {
    unsigned dim = cast<AffineDimExpr>(expr).getPosition();
    if (dim >= dimBounds.size() || !dimBounds[dim])
      return std::nullopt;
    return dimBounds[dim];
  }
  case AffineExprKind::SymbolId: {
    unsigned symbol = cast<AffineSymbolExpr>(expr).getPosition();
    if (symbol >= symbols.size())
      return std::nullopt;
    return exact(symbols[symbol]);
  }
  default:
    break;
  }
  auto binary = cast<AffineBinaryOpExpr>(expr);
  std::optional<OffsetBound> lhs = recurse(binary.getLHS());
  std::optional<OffsetBound> rhs = recurse(binary.getRHS());
  if (!lhs || !rhs)
    return std::nullopt;
  auto constantOf = [](const OffsetBound &bound) -> std::optional<int64_t> {
    auto zero = dyn_cast<AffineConstantExpr>(bound.base);
    if (zero && zero.getValue() == 0 && bound.lo == bound.hi)
      return bound.lo;
    return std::nullopt;
  };
  switch (expr.getKind()) {
  case AffineExprKind::Add:
    return OffsetBound{lhs->base + rhs->base, lhs->lo + rhs->lo,
                       lhs->hi + rhs->hi};
  case AffineExprKind::Mul: {
    std::optional<int64_t> factor = constantOf(*rhs);
    OffsetBound other = *lhs;
    if (!factor) {
      factor = constantOf(*lhs);
      other = *rhs;
    }
    if (!factor) {
      // A product of two bases without offsets is a base.
      if (lhs->lo != lhs->hi || rhs->lo != rhs->hi)
        return std::nullopt;
      return exact((lhs->base + lhs->lo) * (rhs->base + rhs->lo));
    }
    int64_t k = *factor;
    return OffsetBound{other.base * k, k >= 0 ? other.lo * k : other.hi * k,
                       k >= 0 ? other.hi * k : other.lo * k};
  }
  case AffineExprKind::FloorDiv:
  case AffineExprKind::CeilDiv:
  case AffineExprKind::Mod: {
    std::optional<int64_t> divisor = constantOf(*rhs);
    if (!divisor || *divisor <= 0)
      return std::nullopt;
    int64_t c = *divisor;
    if (lhs->lo == lhs->hi && !canonical) {
      AffineExpr value = lhs->base + lhs->lo;
      if (expr.getKind() == AffineExprKind::FloorDiv)
        return exact(value.floorDiv(c));
      if (expr.getKind() == AffineExprKind::CeilDiv)
        return exact(value.ceilDiv(c));
      return exact(value % c);
    }
    // base = q c + r with r in [0, c): (base + k) floordiv c is q plus
    // (r + k) floordiv c, between k floordiv c and (c - 1 + k) floordiv c;
    // likewise for ceildiv. A remainder is within [0, c).
    if (expr.getKind() == AffineExprKind::Mod)
      return OffsetBound{getAffineConstantExpr(0, context), 0, c - 1};
    AffineExpr quotient = lhs->base.floorDiv(c);
    if (expr.getKind() == AffineExprKind::FloorDiv)
      return OffsetBound{quotient, llvm::divideFloorSigned(lhs->lo, c),
                         llvm::divideFloorSigned(lhs->hi + c - 1, c)};
    return OffsetBound{quotient, llvm::divideCeilSigned(lhs->lo, c),
                       llvm::divideCeilSigned(lhs->hi + c - 1, c)};
  }
  default:
    return std::nullopt;
  }
}

std::optional<SmallVector<OffsetBound>>
mlir::cascade::alignBounds(ArrayRef<OffsetBound> bounds, unsigned numDims,
                           unsigned numSymbols) {
  SmallVector<OffsetBound> aligned;
  if (bounds.empty())
    return aligned;
  AffineExpr common =
      simplifyAffineExpr(bounds.front().base, numDims, numSymbols);
  for (const OffsetBound &bound : bounds) {
    auto shift = dyn_cast<AffineConstantExpr>(
        simplifyAffineExpr(bound.base - common, numDims, numSymbols));
    if (!shift)
      return std::nullopt;
    aligned.push_back({common, bound.lo + shift.getValue(),
                       bound.hi + shift.getValue()});
  }
  return aligned;
}

std::optional<OffsetBound>
mlir::cascade::hullOfAligned(ArrayRef<OffsetBound> bounds) {
  if (bounds.empty())
    return std::nullopt;
  OffsetBound hull = bounds.front();
  for (const OffsetBound &bound : bounds.drop_front()) {
    hull.lo = std::min(hull.lo, bound.lo);
    hull.hi = std::max(hull.hi, bound.hi);
  }
  return hull;
}
