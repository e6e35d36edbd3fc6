//===- WarpSemanticsTest.cpp - The emulator's warp ops, pinned by hand -----===//
//
// The fragment layouts against entries of the PTX ISA's tables computed by
// hand ("Matrix fragments for mma.m16n8k16 with floating point type",
// "ldmatrix"), then the ops on integer-valued matrices (exact in fp32)
// against plain loops, the 16-bit rounding of operands, ldmatrix feeding
// mma (the property every tensor-core kernel relies on), the shuffle rules,
// and the errors a bad kernel gets.
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/WarpSemantics.h"

#include "gtest/gtest.h"
#include "llvm/ADT/bit.h"

#include <cmath>
#include <limits>
#include <set>
#include <vector>

using namespace mlir::cascade::gpu;

namespace {

using Matrix = std::vector<std::vector<float>>;

Matrix makeMatrix(unsigned rows, unsigned cols,
                  float (*value)(unsigned, unsigned)) {
  Matrix m(rows, std::vector<float>(cols));
  for (unsigned i = 0; i < rows; ++i)
    for (unsigned j = 0; j < cols; ++j)
      m[i][j] = value(i, j);
  return m;
}

/// Distributes `m` over the warp by `coord` (count elements per lane).
WarpRegisters scatter(const Matrix &m, unsigned count,
                      MatrixCoord (*coord)(unsigned, unsigned)) {
  WarpRegisters registers;
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    for (unsigned i = 0; i < count; ++i) {
      MatrixCoord at = coord(lane, i);
      registers[lane].push_back(m[at.row][at.col]);
    }
  return registers;
}

std::vector<MatrixCoord> fragment(MatrixCoord (*coord)(unsigned, unsigned),
                                  unsigned lane, unsigned count) {
  std::vector<MatrixCoord> coords;
  for (unsigned i = 0; i < count; ++i)
    coords.push_back(coord(lane, i));
  return coords;
}

TEST(WarpSemantics, MmaLayoutsMatchThePtxTables) {
  // Lane 0 (g = 0, t = 0), lane 5 (g = 1, t = 1), lane 31 (g = 7, t = 3).
  using C = MatrixCoord;
  EXPECT_EQ(fragment(getMmaM16N8K16ACoord, 0, 8),
            (std::vector<C>{{0, 0}, {0, 1}, {8, 0}, {8, 1}, {0, 8}, {0, 9},
                            {8, 8}, {8, 9}}));
  EXPECT_EQ(fragment(getMmaM16N8K16ACoord, 5, 8),
            (std::vector<C>{{1, 2}, {1, 3}, {9, 2}, {9, 3}, {1, 10}, {1, 11},
                            {9, 10}, {9, 11}}));
  EXPECT_EQ(fragment(getMmaM16N8K16ACoord, 31, 8),
            (std::vector<C>{{7, 6}, {7, 7}, {15, 6}, {15, 7}, {7, 14},
                            {7, 15}, {15, 14}, {15, 15}}));
  // B is K x N: (k, n).
  EXPECT_EQ(fragment(getMmaM16N8K16BCoord, 0, 4),
            (std::vector<C>{{0, 0}, {1, 0}, {8, 0}, {9, 0}}));
  EXPECT_EQ(fragment(getMmaM16N8K16BCoord, 6, 4),
            (std::vector<C>{{4, 1}, {5, 1}, {12, 1}, {13, 1}}));
  EXPECT_EQ(fragment(getMmaM16N8K16BCoord, 31, 4),
            (std::vector<C>{{6, 7}, {7, 7}, {14, 7}, {15, 7}}));
  EXPECT_EQ(fragment(getMmaM16N8K16CCoord, 0, 4),
            (std::vector<C>{{0, 0}, {0, 1}, {8, 0}, {8, 1}}));
  EXPECT_EQ(fragment(getMmaM16N8K16CCoord, 31, 4),
            (std::vector<C>{{7, 6}, {7, 7}, {15, 6}, {15, 7}}));
}

TEST(WarpSemantics, MmaLayoutsCoverEachElementOnce) {
  struct Layout {
    MatrixCoord (*coord)(unsigned, unsigned);
    unsigned count, rows, cols;
  };
  for (Layout layout : {Layout{getMmaM16N8K16ACoord, 8, 16, 16},
                        Layout{getMmaM16N8K16BCoord, 4, 16, 8},
                        Layout{getMmaM16N8K16CCoord, 4, 16, 8}}) {
    std::set<std::pair<unsigned, unsigned>> seen;
    for (unsigned lane = 0; lane < kWarpSize; ++lane)
      for (unsigned i = 0; i < layout.count; ++i) {
        MatrixCoord at = layout.coord(lane, i);
        EXPECT_LT(at.row, layout.rows);
        EXPECT_LT(at.col, layout.cols);
        EXPECT_TRUE(seen.insert({at.row, at.col}).second)
            << "(" << at.row << ", " << at.col << ") twice";
      }
    EXPECT_EQ(seen.size(), layout.rows * layout.cols);
  }
}

float smallA(unsigned i, unsigned k) { return float((i + 2 * k) % 5) - 2; }
float smallB(unsigned k, unsigned j) { return float((3 * k + j) % 7) - 3; }
float smallC(unsigned i, unsigned j) { return float(i) - float(j); }

TEST(WarpSemantics, MmaComputesTheProductExactlyOnIntegers) {
  Matrix a = makeMatrix(16, 16, smallA), b = makeMatrix(16, 8, smallB),
         c = makeMatrix(16, 8, smallC);
  for (HalfType type : {HalfType::F16, HalfType::BF16}) {
    llvm::Expected<WarpRegisters> d = mmaSyncM16N8K16(
        scatter(a, 8, getMmaM16N8K16ACoord), scatter(b, 4, getMmaM16N8K16BCoord),
        scatter(c, 4, getMmaM16N8K16CCoord), type);
    ASSERT_TRUE(bool(d)) << llvm::toString(d.takeError());
    for (unsigned lane = 0; lane < kWarpSize; ++lane)
      for (unsigned i = 0; i < 4; ++i) {
        MatrixCoord at = getMmaM16N8K16CCoord(lane, i);
        float expected = c[at.row][at.col];
        for (unsigned k = 0; k < 16; ++k)
          expected += a[at.row][k] * b[k][at.col];
        EXPECT_EQ((*d)[lane][i], expected) << "lane " << lane << " c" << i;
      }
  }
  // D[1][3] by hand: C = 1 - 3 = -2, plus sum_k A[1][k] B[k][3].
  float byHand = -2;
  for (unsigned k = 0; k < 16; ++k)
    byHand += smallA(1, k) * smallB(k, 3);
  llvm::Expected<WarpRegisters> d = mmaSyncM16N8K16(
      scatter(a, 8, getMmaM16N8K16ACoord), scatter(b, 4, getMmaM16N8K16BCoord),
      scatter(c, 4, getMmaM16N8K16CCoord), HalfType::F16);
  ASSERT_TRUE(bool(d));
  // (1, 3) is c1 of lane 4 g + t with g = 1, 2t + 1 = 3: lane 5.
  EXPECT_EQ((*d)[5][1], byHand);
}

TEST(WarpSemantics, MmaRoundsItsOperandsToSixteenBits) {
  Matrix a = makeMatrix(16, 16, [](unsigned, unsigned) { return 0.0f; });
  Matrix b = makeMatrix(16, 8, [](unsigned, unsigned) { return 0.0f; });
  Matrix c = makeMatrix(16, 8, [](unsigned, unsigned) { return 0.0f; });
  a[0][0] = 1.0001f; // f16 has 10 fraction bits: 1.0; bf16 too
  a[0][1] = 1.01f;   // f16: 1.0097656; bf16 (7 bits): 1.0078125
  b[0][0] = 1.0f;
  b[1][0] = 1.0f;
  c[0][0] = 0.25f;   // the accumulator is fp32: not rounded
  llvm::Expected<WarpRegisters> f16 = mmaSyncM16N8K16(
      scatter(a, 8, getMmaM16N8K16ACoord), scatter(b, 4, getMmaM16N8K16BCoord),
      scatter(c, 4, getMmaM16N8K16CCoord), HalfType::F16);
  llvm::Expected<WarpRegisters> bf16 = mmaSyncM16N8K16(
      scatter(a, 8, getMmaM16N8K16ACoord), scatter(b, 4, getMmaM16N8K16BCoord),
      scatter(c, 4, getMmaM16N8K16CCoord), HalfType::BF16);
  ASSERT_TRUE(bool(f16) && bool(bf16));
  EXPECT_EQ((*f16)[0][0], 0.25f + 1.0f + 1.0097656f);
  EXPECT_EQ((*bf16)[0][0], 0.25f + 1.0f + 1.0078125f);
  EXPECT_EQ(roundToHalf(70000.0f, HalfType::F16), INFINITY);
  EXPECT_EQ(roundToHalf(70000.0f, HalfType::BF16), 70144.0f);
  EXPECT_EQ(roundToHalf(-65504.0f, HalfType::F16), -65504.0f);
  EXPECT_TRUE(std::isnan(roundToHalf(NAN, HalfType::F16)));
  EXPECT_EQ(roundToHalf(1e-8f, HalfType::F16), 0.0f); // below 2^-24
}

TEST(WarpSemantics, MmaRejectsMisshapenFragments) {
  Matrix a = makeMatrix(16, 16, smallA), b = makeMatrix(16, 8, smallB),
         c = makeMatrix(16, 8, smallC);
  WarpRegisters shortA = scatter(a, 8, getMmaM16N8K16ACoord);
  shortA[7].pop_back();
  llvm::Expected<WarpRegisters> d = mmaSyncM16N8K16(
      shortA, scatter(b, 4, getMmaM16N8K16BCoord),
      scatter(c, 4, getMmaM16N8K16CCoord), HalfType::F16);
  ASSERT_FALSE(bool(d));
  EXPECT_EQ(llvm::toString(d.takeError()),
            "mma.sync operand A of lane 7 has 7 elements, not 8");
}

/// A row-major matrix in shared memory starting at `base`, `stride`
/// elements per row.
std::vector<double> toShared(const Matrix &m, int64_t base, int64_t stride) {
  std::vector<double> shared(base + m.size() * stride, -99.0);
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m[i].size(); ++j)
      shared[base + i * stride + j] = m[i][j];
  return shared;
}

TEST(WarpSemantics, LdmatrixGivesTheLaneElementsOfThePtxTable) {
  // One 8x8 matrix with element (r, c) = 10 r + c, rows 24 elements apart.
  Matrix m = makeMatrix(8, 8, [](unsigned r, unsigned c) {
    return float(10 * r + c);
  });
  std::vector<double> shared = toShared(m, 16, 24);
  std::vector<int64_t> rows(kWarpSize, 0);
  for (unsigned lane = 0; lane < 8; ++lane)
    rows[lane] = 16 + 24 * lane;
  llvm::Expected<WarpRegisters> plain =
      ldmatrix(shared, rows, 1, /*transpose=*/false, HalfType::F16);
  llvm::Expected<WarpRegisters> trans =
      ldmatrix(shared, rows, 1, /*transpose=*/true, HalfType::F16);
  ASSERT_TRUE(bool(plain) && bool(trans));
  // Lane 13: row 13 / 4 = 3, columns 2 (13 % 4) + {0, 1} = 2, 3.
  EXPECT_EQ((*plain)[13], (llvm::SmallVector<float, 8>{32, 33}));
  EXPECT_EQ((*trans)[13], (llvm::SmallVector<float, 8>{23, 33}));
  EXPECT_EQ((*plain)[0], (llvm::SmallVector<float, 8>{0, 1}));
  EXPECT_EQ((*plain)[31], (llvm::SmallVector<float, 8>{76, 77}));
  EXPECT_EQ((*trans)[31], (llvm::SmallVector<float, 8>{67, 77}));
}

TEST(WarpSemantics, LdmatrixX4LoadsTheMmaAFragment) {
  // A 16x16 tile of A, row stride 24: lanes 0-15 address rows 0-15 at
  // column 0, lanes 16-31 the same rows at column 8 (matrices: rows 0-7 /
  // 8-15 of columns 0-7, then of columns 8-15: a0a1, a2a3, a4a5, a6a7).
  Matrix a = makeMatrix(16, 16, smallA);
  std::vector<double> shared = toShared(a, 0, 24);
  std::vector<int64_t> rows(kWarpSize);
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    rows[lane] = 24 * (lane % 16) + 8 * (lane / 16);
  llvm::Expected<WarpRegisters> loaded =
      ldmatrix(shared, rows, 4, /*transpose=*/false, HalfType::F16);
  ASSERT_TRUE(bool(loaded));
  EXPECT_EQ(*loaded, scatter(a, 8, getMmaM16N8K16ACoord));
}

TEST(WarpSemantics, LdmatrixX2LoadsTheMmaBFragment) {
  // B (16 x 8, k x n) stored k-major (row-major B) needs .trans; stored
  // n-major (B^T row-major) it does not. Both give the B fragment.
  Matrix b = makeMatrix(16, 8, smallB);
  Matrix bt = makeMatrix(8, 16, [](unsigned n, unsigned k) {
    return smallB(k, n);
  });
  std::vector<double> kMajor = toShared(b, 0, 8), nMajor = toShared(bt, 0, 16);
  std::vector<int64_t> kRows(kWarpSize, 0), nRows(kWarpSize, 0);
  for (unsigned lane = 0; lane < 16; ++lane) {
    kRows[lane] = 8 * lane;                      // rows k = 0..15
    nRows[lane] = 16 * (lane % 8) + 8 * (lane / 8); // n rows, k halves
  }
  llvm::Expected<WarpRegisters> viaTrans =
      ldmatrix(kMajor, kRows, 2, /*transpose=*/true, HalfType::F16);
  llvm::Expected<WarpRegisters> plain =
      ldmatrix(nMajor, nRows, 2, /*transpose=*/false, HalfType::F16);
  ASSERT_TRUE(bool(viaTrans) && bool(plain));
  WarpRegisters expected = scatter(b, 4, getMmaM16N8K16BCoord);
  EXPECT_EQ(*viaTrans, expected);
  EXPECT_EQ(*plain, expected);
}

TEST(WarpSemantics, LdmatrixRejectsBadAddresses) {
  std::vector<double> shared(64, 0.0);
  std::vector<int64_t> rows(kWarpSize, 0);
  rows[3] = 4;
  llvm::Expected<WarpRegisters> misaligned =
      ldmatrix(shared, rows, 1, false, HalfType::F16);
  ASSERT_FALSE(bool(misaligned));
  EXPECT_EQ(llvm::toString(misaligned.takeError()),
            "ldmatrix row address of lane 3 (element 4) is not 16-byte "
            "aligned");
  rows[3] = 0;
  rows[9] = 64; // only read with .x2 or .x4
  EXPECT_TRUE(bool(ldmatrix(shared, rows, 1, false, HalfType::F16)));
  llvm::Expected<WarpRegisters> outside =
      ldmatrix(shared, rows, 2, false, HalfType::F16);
  ASSERT_FALSE(bool(outside));
  EXPECT_EQ(llvm::toString(outside.takeError()),
            "ldmatrix row of lane 9 (elements 64..71) is outside shared "
            "memory of 64 elements");
  llvm::Expected<WarpRegisters> three =
      ldmatrix(shared, rows, 3, false, HalfType::F16);
  ASSERT_FALSE(bool(three));
  EXPECT_EQ(llvm::toString(three.takeError()),
            "ldmatrix loads 1, 2 or 4 matrices, not 3");
}

std::vector<double> laneIds() {
  std::vector<double> values;
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    values.push_back(double(lane));
  return values;
}

TEST(WarpSemantics, ShuffleQuadReductionAsTheSoftmaxRowMaxUsesIt) {
  // The four lanes of a quad hold one row of an mma accumulator: xor 1
  // then xor 2 gives each lane the quad's sum.
  std::vector<double> values = laneIds();
  for (unsigned offset : {1u, 2u}) {
    llvm::Expected<ShuffleResult> swapped =
        shuffle(values, offset, 32, ShuffleMode::Xor);
    ASSERT_TRUE(bool(swapped));
    for (unsigned lane = 0; lane < kWarpSize; ++lane) {
      EXPECT_TRUE(swapped->valid[lane]);
      values[lane] += swapped->value[lane];
    }
  }
  for (unsigned lane = 0; lane < kWarpSize; ++lane) {
    unsigned first = lane / 4 * 4;
    EXPECT_EQ(values[lane], double(4 * first + 6)) << "lane " << lane;
  }
}

TEST(WarpSemantics, ShuffleValidityFollowsTheClamp) {
  std::vector<double> values = laneIds();
  llvm::Expected<ShuffleResult> down =
      shuffle(values, 3, 32, ShuffleMode::Down);
  llvm::Expected<ShuffleResult> up = shuffle(values, 3, 32, ShuffleMode::Up);
  llvm::Expected<ShuffleResult> idx = shuffle(values, 37, 32, ShuffleMode::Idx);
  llvm::Expected<ShuffleResult> narrow =
      shuffle(values, 8, 16, ShuffleMode::Xor);
  ASSERT_TRUE(bool(down) && bool(up) && bool(idx) && bool(narrow));
  EXPECT_TRUE(down->valid[28]);
  EXPECT_EQ(down->value[28], 31.0f);
  EXPECT_FALSE(down->valid[29]); // lane 32 does not exist: own value
  EXPECT_EQ(down->value[29], 29.0f);
  EXPECT_FALSE(up->valid[2]);
  EXPECT_EQ(up->value[2], 2.0f);
  EXPECT_TRUE(up->valid[3]);
  EXPECT_EQ(up->value[3], 0.0f);
  EXPECT_TRUE(idx->valid[20]);
  EXPECT_EQ(idx->value[20], 5.0f); // 37 reads its low 5 bits: lane 5
  EXPECT_TRUE(narrow->valid[3]);
  EXPECT_EQ(narrow->value[3], 11.0f);
  EXPECT_FALSE(narrow->valid[20]); // outside the 16 member lanes
  llvm::Expected<ShuffleResult> bad = shuffle(values, 1, 12, ShuffleMode::Xor);
  ASSERT_FALSE(bool(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "gpu.shuffle width 12 is not a power of two in 1..32");
}

TEST(WarpSemantics, ShuffleMovesIntegersExactly) {
  // A shuffle moves bits: 32-bit ids beyond float's 2^24 (document ids of
  // packed sequences, reduced by min/max across a warp) arrive unchanged.
  std::vector<double> values;
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    values.push_back(double((1 << 30) + 2 * lane + 1));
  llvm::Expected<ShuffleResult> swapped =
      shuffle(values, 16, 32, ShuffleMode::Xor);
  ASSERT_TRUE(bool(swapped));
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    EXPECT_EQ(swapped->value[lane], values[lane ^ 16]) << "lane " << lane;
}

} // namespace

// The host side converts whole tensors with toHalfBits / fromHalfBits; they
// must store exactly what APFloat's round-to-nearest-even conversion does
// (roundToHalf), on every class of value: normals, ties, subnormals, the
// overflow threshold, infinities and NaN.
TEST(WarpSemantics, HalfBitsRoundLikeAPFloat) {
  std::vector<float> values = {0.0f,      -0.0f,       1.0f,        -1.5f,
                               65504.0f,  65519.99f,   65520.0f,    -65536.0f,
                               1e-8f,     -3e-8f,      2.98e-8f,    5.96e-8f,
                               6.1e-5f,   6.103515625e-05f, 1.0f / 3, 1e30f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::denorm_min()};
  // Ties at both precisions: 1 + 2^-11 (f16) and 1 + 2^-8 (bf16), odd and
  // even neighbours.
  for (int k : {-11, -8})
    for (float base : {1.0f, 1.0f + std::ldexp(1.0f, k + 1)})
      values.push_back(base + std::ldexp(1.0f, k));
  uint32_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 1664525u + 1013904223u;
    // Random bit patterns over the whole range (NaNs skipped below).
    values.push_back(llvm::bit_cast<float>(state));
  }
  for (HalfType type : {HalfType::F16, HalfType::BF16})
    for (float x : values) {
      if (std::isnan(x))
        continue;
      float expected = roundToHalf(x, type);
      float roundTrip = fromHalfBits(toHalfBits(x, type), type);
      ASSERT_EQ(llvm::bit_cast<uint32_t>(roundTrip),
                llvm::bit_cast<uint32_t>(expected))
          << "x = " << x << " type " << (type == HalfType::F16 ? "f16" : "bf16");
    }
  float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(fromHalfBits(toHalfBits(nan, HalfType::F16), HalfType::F16)));
  EXPECT_TRUE(std::isnan(fromHalfBits(toHalfBits(nan, HalfType::BF16), HalfType::BF16)));
  EXPECT_EQ(toHalfBits(1.0f, HalfType::F16), 0x3c00);
  EXPECT_EQ(toHalfBits(1.0f, HalfType::BF16), 0x3f80);
  EXPECT_EQ(toHalfBits(-2.0f, HalfType::F16), 0xc000);
}
