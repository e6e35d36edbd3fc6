//===- StepWindowTest.cpp - Offset bounds contain every value they bound --===//
//
// boundOffsets on the index forms the state-phase GPU plan meets (a row's
// key tile, the key tiles a query tile visits, an exact step), pinned by
// hand, and checked exhaustively: for every tile index, extent and
// tile-local value in a range, the expression's value lies within the
// bound's base plus [lo, hi].
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/StepWindow.h"

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

class StepWindowTest : public ::testing::Test {
protected:
  MLIRContext context;
  // d0: the query tile (a base), d1: a row of the 64-row tile ([0, 63]);
  // s0, s1: the extents M and P.
  AffineExpr t = getAffineDimExpr(0, &context);
  AffineExpr row = getAffineDimExpr(1, &context);
  AffineExpr m = getAffineSymbolExpr(0, &context);
  AffineExpr p = getAffineSymbolExpr(1, &context);
  SmallVector<std::optional<OffsetBound>> dims = {
      OffsetBound{t, 0, 0},
      OffsetBound{getAffineConstantExpr(0, &context), 0, 63}};
  SmallVector<AffineExpr> symbols = {m, p};

  int64_t evaluate(AffineExpr expr, ArrayRef<int64_t> dims,
                   ArrayRef<int64_t> symbols) {
    auto constants = [&](ArrayRef<int64_t> values) {
      return llvm::map_to_vector(values, [&](int64_t value) {
        return getAffineConstantExpr(value, &context);
      });
    };
    AffineExpr folded =
        expr.replaceDimsAndSymbols(constants(dims), constants(symbols));
    return cast<AffineConstantExpr>(folded).getValue();
  }

  /// Every value of `expr` over tiles 0..5, rows 0..63, M and P in
  /// 0..140 lies in the bound.
  void expectContains(AffineExpr expr, const OffsetBound &bound) {
    for (int64_t tile = 0; tile < 6; ++tile)
      for (int64_t keys = 0; keys <= 140; keys += 7)
        for (int64_t queries = 0; queries <= keys; queries += 5) {
          int64_t base = evaluate(bound.base, {tile, 0}, {keys, queries});
          for (int64_t r = 0; r < 64; ++r) {
            int64_t value = evaluate(expr, {tile, r}, {keys, queries});
            ASSERT_LE(base + bound.lo, value)
                << "t=" << tile << " row=" << r << " M=" << keys
                << " P=" << queries;
            ASSERT_LE(value, base + bound.hi)
                << "t=" << tile << " row=" << r << " M=" << keys
                << " P=" << queries;
          }
        }
  }
};

TEST_F(StepWindowTest, RowKeyTileIsTheFirstRowsOrTheNext) {
  // A row's key tile: (64 t + row + M - P) floordiv 64 is q or q + 1.
  AffineExpr expr = (t * 64 + row + m - p).floorDiv(64);
  for (bool canonical : {false, true}) {
    std::optional<OffsetBound> bound =
        boundOffsets(expr, dims, symbols, canonical);
    ASSERT_TRUE(bound);
    EXPECT_EQ(bound->base, (t * 64 + m - p).floorDiv(64));
    EXPECT_EQ(bound->lo, 0);
    EXPECT_EQ(bound->hi, 1);
    expectContains(expr, *bound);
  }
}

TEST_F(StepWindowTest, ExactStepKeepsItsForm) {
  // Causal linear attention's step: one value per tile, kept as written.
  AffineExpr expr = (t * 64 + m - p + 1).floorDiv(64) - 1;
  std::optional<OffsetBound> exact =
      boundOffsets(expr, dims, symbols, /*canonical=*/false);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->base, (t * 64 + m - p + 1).floorDiv(64));
  EXPECT_EQ(exact->lo, -1);
  EXPECT_EQ(exact->hi, -1);
  expectContains(expr, *exact);
  // Canonical: over q, one wider.
  std::optional<OffsetBound> canonical =
      boundOffsets(expr, dims, symbols, /*canonical=*/true);
  ASSERT_TRUE(canonical);
  EXPECT_EQ(canonical->base, (t * 64 + m - p).floorDiv(64));
  EXPECT_EQ(canonical->lo, -1);
  EXPECT_EQ(canonical->hi, 0);
  expectContains(expr, *canonical);
}

TEST_F(StepWindowTest, CeilDivOverTheSameBase) {
  // The first key tile a causal query tile visits: (64 t + M - P - 63)
  // ceildiv 64 is exactly q; the last, (64 t + M - P + 63) floordiv 64, is
  // q or q + 1.
  AffineExpr first = (t * 64 + m - p - 63).ceilDiv(64);
  AffineExpr last = (t * 64 + m - p + 63).floorDiv(64);
  std::optional<OffsetBound> from = boundOffsets(first, dims, symbols, true);
  std::optional<OffsetBound> to = boundOffsets(last, dims, symbols, true);
  ASSERT_TRUE(from && to);
  EXPECT_EQ(from->base, to->base);
  EXPECT_EQ(from->lo, 0);
  EXPECT_EQ(from->hi, 0);
  EXPECT_EQ(to->lo, 0);
  EXPECT_EQ(to->hi, 1);
  expectContains(first, *from);
  expectContains(last, *to);
}

TEST_F(StepWindowTest, ModAndNegativeFactors) {
  AffineExpr remainder = (t * 64 + row + m - p) % 64;
  std::optional<OffsetBound> bound =
      boundOffsets(remainder, dims, symbols, false);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->lo, 0);
  EXPECT_EQ(bound->hi, 63);
  expectContains(remainder, *bound);
  AffineExpr back = (m - row * 2).floorDiv(8);
  bound = boundOffsets(back, dims, symbols, false);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->lo, -16); // (-126) floordiv 8
  EXPECT_EQ(bound->hi, 0);
  expectContains(back, *bound);
}

TEST_F(StepWindowTest, UnboundedFormsAreRefused) {
  // A row times an extent, a divisor that is not a constant, a dimension
  // without bounds.
  EXPECT_FALSE(boundOffsets(row * m, dims, symbols, false));
  EXPECT_FALSE(boundOffsets(t.floorDiv(m), dims, symbols, false));
  AffineExpr unknown = getAffineDimExpr(2, &context);
  EXPECT_FALSE(boundOffsets(unknown + t, dims, symbols, false));
  // A product of two bases without offsets is a base.
  std::optional<OffsetBound> product = boundOffsets(t * m, dims, symbols, false);
  ASSERT_TRUE(product);
  EXPECT_EQ(product->lo, 0);
  EXPECT_EQ(product->hi, 0);
}

TEST_F(StepWindowTest, AlignmentShiftsByConstantsOnly) {
  AffineExpr q = (t * 64 + m - p).floorDiv(64);
  std::optional<SmallVector<OffsetBound>> aligned =
      alignBounds({OffsetBound{q, 0, 1}, OffsetBound{q - 1, 0, 0},
                   OffsetBound{q + 2, -1, -1}},
                  2, 2);
  ASSERT_TRUE(aligned);
  EXPECT_EQ((*aligned)[1].lo, -1);
  EXPECT_EQ((*aligned)[2].hi, 1);
  std::optional<OffsetBound> hull = hullOfAligned(*aligned);
  ASSERT_TRUE(hull);
  EXPECT_EQ(hull->lo, -1);
  EXPECT_EQ(hull->hi, 1);
  // 64 t drifts away from q as t grows.
  EXPECT_FALSE(alignBounds({OffsetBound{q, 0, 0}, OffsetBound{t * 64, 0, 0}},
                           2, 2));
}

} // namespace
