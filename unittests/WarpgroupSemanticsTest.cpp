//===- WarpgroupSemanticsTest.cpp - wgmma's layouts, pinned by hand --------===//
//
// The matrix descriptor's fields, the K-major 128-byte-swizzled operand
// addresses and the m64nNk16 accumulator layout against entries computed by
// hand from the PTX ISA ("Matrix Descriptor Format", "Shared Memory Matrix
// Layout", "Register Fragments ... wgmma .m64nNk16"), then the product on
// integer-valued matrices (exact in fp32) against plain loops, with both
// operands written through the swizzle the way the Cascade kernels stage
// them (chunk c of row r at chunk c ^ (r % 8) of 128-byte rows).
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/WarpgroupSemantics.h"

#include "gtest/gtest.h"

#include <set>
#include <vector>

using namespace mlir::cascade::gpu;

namespace {

/// The descriptor the kernels build: 128-byte swizzle, 8-row groups 1024
/// bytes apart, the leading offset unused (16 bytes).
WgmmaDescriptor kernelDescriptor(uint32_t start) {
  WgmmaDescriptor d;
  d.startAddress = start;
  d.leadingByteOffset = 16;
  d.strideByteOffset = 1024;
  d.swizzle = WgmmaDescriptor::Swizzle::Bytes128;
  return d;
}

/// The address, or 0 and a test failure when it was refused.
uint32_t expectAddress(llvm::Expected<uint32_t> address) {
  if (!address) {
    ADD_FAILURE() << llvm::toString(address.takeError());
    return 0;
  }
  return *address;
}

TEST(WarpgroupSemantics, DescriptorFieldsAreWhereTheIsaPutsThem) {
  // start 0x400 >> 4 = 0x40 in bits 0-13, LBO 1 in 16-29, SBO 64 in 32-45,
  // swizzle 1 (128B) in 62-63.
  uint64_t bits = encodeWgmmaDescriptor(kernelDescriptor(0x400));
  EXPECT_EQ(bits, 0x40ull | 1ull << 16 | 64ull << 32 | 1ull << 62);
  WgmmaDescriptor back = decodeWgmmaDescriptor(bits | 5ull << 49);
  EXPECT_EQ(back.startAddress, 0x400u);
  EXPECT_EQ(back.leadingByteOffset, 16u);
  EXPECT_EQ(back.strideByteOffset, 1024u);
  EXPECT_EQ(back.baseOffset, 5u);
  EXPECT_EQ(back.swizzle, WgmmaDescriptor::Swizzle::Bytes128);
  // Bits 14-15 and 30-31 are not part of the address fields.
  EXPECT_EQ(decodeWgmmaDescriptor(0xc000ull).startAddress, 0u);
}

TEST(WarpgroupSemantics, KMajorAddressesFollowThe128ByteSwizzle) {
  WgmmaDescriptor d = kernelDescriptor(0);
  auto at = [&](unsigned row, unsigned k) {
    return expectAddress(getWgmmaKMajorAddress(d, row, k));
  };
  // Row 0 is unswizzled; row 1's chunk 0 moves to chunk 1 (byte 144).
  EXPECT_EQ(at(0, 0), 0u);
  EXPECT_EQ(at(0, 9), 18u);
  EXPECT_EQ(at(1, 0), 144u);
  // Row 9 = group 1 (1024) + row 1 (128), k = 8 is chunk 1: 1 ^ 1 = 0.
  EXPECT_EQ(at(9, 8), 1152u);
  // Row 7, k = 3: chunk 0 ^ 7 = 7, byte 6 of it: 7 * 128 + 7 * 16 + 6.
  EXPECT_EQ(at(7, 3), 7u * 128 + 7 * 16 + 6);
  // A later k-step advances the start by 32 bytes: chunk 2 of row 3 is at
  // chunk 2 ^ 3 = 1.
  d.startAddress = 32;
  EXPECT_EQ(at(3, 0), 3u * 128 + 1 * 16);
  // The other swizzles and a nonzero base offset are not modelled.
  d.swizzle = WgmmaDescriptor::Swizzle::Bytes64;
  llvm::Expected<uint32_t> refused = getWgmmaKMajorAddress(d, 0, 0);
  ASSERT_FALSE(static_cast<bool>(refused));
  EXPECT_NE(llvm::toString(refused.takeError()).find("128-byte"),
            std::string::npos);
}

TEST(WarpgroupSemantics, MNMajorAddressesFollowTheIsaOffsets) {
  // An N-major B as the kernels stage V: 64 head columns (n) per 128-byte
  // row, one row per key (k); 8 keys form a 1024-byte atom, the next 8 keys
  // are the stride byte offset (1024) on, the next 64 columns the leading
  // byte offset (a 64-row slab: 8192) on.
  WgmmaDescriptor d = kernelDescriptor(0);
  d.leadingByteOffset = 8192;
  auto at = [&](unsigned n, unsigned k) {
    return expectAddress(getWgmmaMNMajorAddress(d, n, k));
  };
  EXPECT_EQ(at(0, 0), 0u);
  EXPECT_EQ(at(1, 0), 2u);
  // n = 8 is chunk 1 of row 0, unswizzled.
  EXPECT_EQ(at(8, 0), 16u);
  // k = 1 is row 1: its chunk 0 sits at chunk 1 (byte 144), chunk 1 at 0.
  EXPECT_EQ(at(0, 1), 144u);
  EXPECT_EQ(at(8, 1), 128u);
  // k = 8: the next atom, by SBO; n = 64: the next slab, by LBO.
  EXPECT_EQ(at(0, 8), 1024u);
  EXPECT_EQ(at(64, 0), 8192u);
  // n = 70, k = 9: slab 1, atom 1, row 1, chunk 0 ^ 1 = 1, byte 12.
  EXPECT_EQ(at(70, 9), 8192u + 1024 + 128 + 16 + 12);
  // Row 5, n = 43: chunk 5 ^ 5 = 0, byte 6 of it.
  EXPECT_EQ(at(43, 5), 5u * 128 + 6);
  // A later k-step of 16 keys starts two atoms on.
  d.startAddress = 2048;
  EXPECT_EQ(at(0, 0), 2048u);
  EXPECT_EQ(at(0, 9), 2048u + 1024 + 128 + 16);
  d.swizzle = WgmmaDescriptor::Swizzle::None;
  llvm::Expected<uint32_t> refused = getWgmmaMNMajorAddress(d, 0, 0);
  ASSERT_FALSE(static_cast<bool>(refused));
  EXPECT_NE(llvm::toString(refused.takeError()).find("128-byte"),
            std::string::npos);
}

TEST(WarpgroupSemantics, AccumulatorLayoutIsMmaSyncsPerWarp) {
  // Thread 37: warp 1, lane 5, g = 1, q = 1.
  EXPECT_EQ(getWgmmaAccumulatorCoord(37, 0), (MatrixCoord{17, 2}));
  EXPECT_EQ(getWgmmaAccumulatorCoord(37, 1), (MatrixCoord{17, 3}));
  EXPECT_EQ(getWgmmaAccumulatorCoord(37, 2), (MatrixCoord{25, 2}));
  EXPECT_EQ(getWgmmaAccumulatorCoord(37, 5), (MatrixCoord{17, 11}));
  // Thread 127 (warp 3, lane 31), block 3 of n = 32: row 63, column 31.
  EXPECT_EQ(getWgmmaAccumulatorCoord(127, 15), (MatrixCoord{63, 31}));
  // Per warp, the same coordinates as mma.sync's C fragment.
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    for (unsigned i = 0; i < 4; ++i) {
      MatrixCoord mma = getMmaM16N8K16CCoord(lane, i);
      MatrixCoord wgmma = getWgmmaAccumulatorCoord(64 + lane, i);
      EXPECT_EQ(wgmma.row, mma.row + 32);
      EXPECT_EQ(wgmma.col, mma.col);
    }
  // m64n32: every element once.
  std::set<std::pair<unsigned, unsigned>> seen;
  for (unsigned t = 0; t < kWarpgroupSize; ++t)
    for (unsigned i = 0; i < 16; ++i) {
      MatrixCoord c = getWgmmaAccumulatorCoord(t, i);
      seen.insert({c.row, c.col});
    }
  EXPECT_EQ(seen.size(), 64u * 32);
}

/// A 16-bit shared window in which tiles are stored as the kernels stage
/// them: `rows` rows of 64 elements (128 bytes), chunk c of row r at
/// chunk c ^ (r % 8), starting at byte `start` (1024-aligned).
struct Window {
  std::vector<float> halves = std::vector<float>(8192, 0.0f);
  void store(uint32_t start, unsigned row, unsigned col, float value) {
    unsigned chunk = (col / 8) ^ (row % 8);
    halves[(start + row * 128 + chunk * 16 + (col % 8) * 2) / 2] = value;
  }
};

TEST(WarpgroupSemantics, ProductOfSwizzledTilesIsExactOnIntegers) {
  // A: 64 x 64 at byte 0, B^T: 32 x 64 at byte 8192; the k-step kk = 2
  // (columns 32..47) is what one wgmma reads, at start + 64 bytes.
  Window window;
  auto a = [](unsigned i, unsigned k) { return float((i * 3 + k) % 7) - 3; };
  auto bt = [](unsigned j, unsigned k) { return float((j + 2 * k) % 5) - 2; };
  for (unsigned i = 0; i < 64; ++i)
    for (unsigned k = 0; k < 64; ++k)
      window.store(0, i, k, a(i, k));
  for (unsigned j = 0; j < 32; ++j)
    for (unsigned k = 0; k < 64; ++k)
      window.store(8192, j, k, bt(j, k));
  unsigned reads = 0;
  auto read = [&](uint32_t address) -> llvm::Expected<float> {
    ++reads;
    return window.halves.at(address / 2);
  };
  WarpgroupRegisters c(kWarpgroupSize, llvm::SmallVector<float, 8>(16, 1.0f));
  uint64_t da = encodeWgmmaDescriptor(kernelDescriptor(64));
  uint64_t db = encodeWgmmaDescriptor(kernelDescriptor(8192 + 64));
  for (bool accumulate : {false, true}) {
    llvm::Expected<WarpgroupRegisters> d =
        wgmmaM64NK16(da, db, 32, c, accumulate, HalfType::F16, read);
    ASSERT_TRUE(static_cast<bool>(d)) << llvm::toString(d.takeError());
    for (unsigned t = 0; t < kWarpgroupSize; ++t)
      for (unsigned i = 0; i < 16; ++i) {
        MatrixCoord at = getWgmmaAccumulatorCoord(t, i);
        float expected = accumulate ? 1.0f : 0.0f;
        for (unsigned k = 32; k < 48; ++k)
          expected += a(at.row, k) * bt(at.col, k);
        ASSERT_EQ((*d)[t][i], expected) << "thread " << t << " element " << i;
      }
  }
  EXPECT_EQ(reads, 2u * (64 + 32) * 16);
}

TEST(WarpgroupSemantics, ProductWithAnNMajorBIsExactOnIntegers) {
  // O = P V as the sm_90a kernels run it: A = P (64 x 64, K-major, as
  // above) at byte 0; B = V stored keys x head (N-major): V's 32 keys x 128
  // head columns in two 64-column slabs of 32 rows (4096 bytes each) from
  // byte 8192. The k-step kk = 1 (keys 16..31) starts 2048 bytes into the
  // slabs and 32 bytes into P's rows.
  Window window;
  window.halves.assign(32768, 0.0f);
  auto p = [](unsigned i, unsigned k) { return float((i + 5 * k) % 9) - 4; };
  auto v = [](unsigned k, unsigned n) { return float((3 * k + n) % 7) - 3; };
  for (unsigned i = 0; i < 64; ++i)
    for (unsigned k = 0; k < 64; ++k)
      window.store(0, i, k, p(i, k));
  for (unsigned k = 0; k < 32; ++k)
    for (unsigned n = 0; n < 128; ++n)
      window.store(8192 + (n / 64) * 4096, k, n % 64, v(k, n));
  auto read = [&](uint32_t address) -> llvm::Expected<float> {
    return window.halves.at(address / 2);
  };
  WgmmaDescriptor b = kernelDescriptor(8192 + 2048);
  b.leadingByteOffset = 4096;
  WarpgroupRegisters c(kWarpgroupSize, llvm::SmallVector<float, 8>(64, 0.0f));
  llvm::Expected<WarpgroupRegisters> d = wgmmaM64NK16(
      encodeWgmmaDescriptor(kernelDescriptor(32)), encodeWgmmaDescriptor(b),
      128, c, false, HalfType::F16, read, WgmmaMajor::MN);
  ASSERT_TRUE(static_cast<bool>(d)) << llvm::toString(d.takeError());
  for (unsigned t = 0; t < kWarpgroupSize; ++t)
    for (unsigned i = 0; i < 64; ++i) {
      MatrixCoord at = getWgmmaAccumulatorCoord(t, i);
      float expected = 0;
      for (unsigned k = 16; k < 32; ++k)
        expected += p(at.row, k) * v(k, at.col);
      ASSERT_EQ((*d)[t][i], expected) << "thread " << t << " element " << i;
    }
  // Read as K-major, the same bytes give another product: the flag matters.
  llvm::Expected<WarpgroupRegisters> kMajor = wgmmaM64NK16(
      encodeWgmmaDescriptor(kernelDescriptor(32)), encodeWgmmaDescriptor(b),
      128, c, false, HalfType::F16, read, WgmmaMajor::K);
  ASSERT_TRUE(static_cast<bool>(kMajor));
  EXPECT_NE(*kMajor, *d);
}

TEST(WarpgroupSemantics, WgmmaRejectsBadShapesAndPassesReadErrorsOn) {
  auto read = [](uint32_t address) -> llvm::Expected<float> {
    if (address >= 4096)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "outside the window");
    return 0.0f;
  };
  uint64_t d = encodeWgmmaDescriptor(kernelDescriptor(0));
  WarpgroupRegisters c(kWarpgroupSize, llvm::SmallVector<float, 8>(4, 0.0f));
  llvm::Expected<WarpgroupRegisters> badN =
      wgmmaM64NK16(d, d, 12, c, true, HalfType::F16, read);
  ASSERT_FALSE(static_cast<bool>(badN));
  EXPECT_NE(llvm::toString(badN.takeError()).find("multiple of 8"),
            std::string::npos);
  llvm::Expected<WarpgroupRegisters> badC =
      wgmmaM64NK16(d, d, 16, c, true, HalfType::F16, read);
  ASSERT_FALSE(static_cast<bool>(badC));
  EXPECT_NE(llvm::toString(badC.takeError()).find("not 8"), std::string::npos);
  // A (64 rows = 8 groups of 1024 bytes) runs past the reader's window.
  c.assign(kWarpgroupSize, llvm::SmallVector<float, 8>(4, 0.0f));
  llvm::Expected<WarpgroupRegisters> outside =
      wgmmaM64NK16(d, d, 8, c, true, HalfType::F16, read);
  ASSERT_FALSE(static_cast<bool>(outside));
  EXPECT_NE(llvm::toString(outside.takeError()).find("outside the window"),
            std::string::npos);
}

} // namespace
