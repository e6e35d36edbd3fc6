//===- TmaSemanticsTest.cpp - TMA placement and mbarrier phases -----------===//
//
// The PTX ISA's rules the emulator's TMA copies and mbarriers follow, on
// hand-computed cases: the 128-byte swizzle of a box in shared memory (the
// layout of tensor-map swizzle mode 128B: 16-byte chunk c of 128-byte row r
// at chunk c ^ (r % 8), from a 1024-byte aligned base), and the phases of
// an mbarrier with arrivals and transaction bytes in either order.
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/TmaSemantics.h"

#include "gtest/gtest.h"

using namespace mlir::cascade::gpu;

TEST(TmaSemantics, NoSwizzleIsDense) {
  EXPECT_EQ(getTmaSharedAddress(2048, 0, 0), 2048u);
  EXPECT_EQ(getTmaSharedAddress(2048, 130, 0), 2178u);
}

TEST(TmaSemantics, Swizzle128ChunksOfRowZeroStayInPlace) {
  for (uint32_t offset = 0; offset < 128; offset += 2)
    EXPECT_EQ(getTmaSharedAddress(1024, offset, 128), 1024 + offset);
}

TEST(TmaSemantics, Swizzle128XorsTheChunkWithTheRow) {
  // Row 1, chunk 0 (byte 128) lands in chunk 1; row 3, chunk 5, byte 2
  // (offset 3*128 + 5*16 + 2 = 466) in chunk 5 ^ 3 = 6: 3*128 + 96 + 2.
  EXPECT_EQ(getTmaSharedAddress(1024, 128, 128), 1024u + 128 + 16);
  EXPECT_EQ(getTmaSharedAddress(1024, 466, 128), 1024u + 384 + 96 + 2);
  // Row 9 repeats row 1's pattern (the swizzle spans 8 rows, 1024 bytes).
  EXPECT_EQ(getTmaSharedAddress(1024, 9 * 128, 128), 1024u + 9 * 128 + 16);
}

TEST(TmaSemantics, Swizzle128ReadsTheAbsoluteAddress) {
  // A destination 128 bytes past a 1024-byte boundary starts at row 1's
  // pattern: the hardware swizzles address bits, not box offsets.
  EXPECT_EQ(getTmaSharedAddress(1024 + 128, 0, 128), 1024u + 128 + 16);
}

TEST(TmaSemantics, PhaseCompletesOnArrivalAndBytes) {
  Mbarrier barrier;
  EXPECT_FALSE(barrier.isInitialized());
  barrier.init(1);
  EXPECT_EQ(barrier.getPhase(), 0);
  // Phase 0 has not completed: parity 0 waits, parity 1 passes (it names
  // the phase before, which counts as complete).
  EXPECT_FALSE(barrier.hasCompletedParity(0));
  EXPECT_TRUE(barrier.hasCompletedParity(1));
  barrier.arriveExpectTx(4096);
  EXPECT_EQ(barrier.getPhase(), 0);
  EXPECT_EQ(barrier.getPendingArrivals(), 0);
  barrier.completeTx(2048);
  EXPECT_EQ(barrier.getPhase(), 0);
  barrier.completeTx(2048);
  EXPECT_EQ(barrier.getPhase(), 1);
  EXPECT_TRUE(barrier.hasCompletedParity(0));
  EXPECT_FALSE(barrier.hasCompletedParity(1));
  // The next phase starts with the full arrival count again.
  EXPECT_EQ(barrier.getPendingArrivals(), 1);
}

TEST(TmaSemantics, BytesMayLandBeforeTheyAreExpected) {
  Mbarrier barrier;
  barrier.init(1);
  barrier.completeTx(1024);
  EXPECT_EQ(barrier.getTransactionBytes(), -1024);
  EXPECT_EQ(barrier.getPhase(), 0);
  barrier.arriveExpectTx(1024);
  EXPECT_EQ(barrier.getPhase(), 1);
}

TEST(TmaSemantics, ArrivalWithNoBytesCompletes) {
  Mbarrier barrier;
  barrier.init(2);
  barrier.arriveExpectTx(0);
  EXPECT_EQ(barrier.getPhase(), 0);
  barrier.arriveExpectTx(0);
  EXPECT_EQ(barrier.getPhase(), 1);
}

TEST(TmaSemantics, TooFewExpectedBytesNeverComplete) {
  Mbarrier barrier;
  barrier.init(1);
  barrier.arriveExpectTx(1024);
  barrier.completeTx(2048);
  EXPECT_EQ(barrier.getPhase(), 0);
  EXPECT_EQ(barrier.getTransactionBytes(), -1024);
}
