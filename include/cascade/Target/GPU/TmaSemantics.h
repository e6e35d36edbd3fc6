//===- TmaSemantics.h - TMA copies and mbarriers, as the PTX ISA says -*- C++ -*-===//
//
// What the emulator needs of sm_90a's tensor memory accelerator and of the
// mbarrier objects its copies complete on, apart from the interpreter, so
// that unit tests pin them on hand-computed cases
// (unittests/TmaSemanticsTest.cpp):
//   * where `cp.async.bulk.tensor` puts each byte of a box in shared
//     memory: the box dense, its innermost dimension fastest, and with the
//     128-byte swizzle 16-byte chunk bits [4, 7) of the address XOR bits
//     [7, 10) (the pattern wgmma's 128-byte-swizzle descriptors read);
//   * an mbarrier's phases: a phase completes when its pending arrivals
//     and its transaction count both reach zero; `try_wait.parity p`
//     succeeds once the phase of parity p has completed, i.e. while the
//     current phase's parity differs from p.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_TMASEMANTICS_H
#define CASCADE_TARGET_GPU_TMASEMANTICS_H

#include <cstdint>

namespace mlir::cascade::gpu {

/// The shared address byte `offset` of a box lands at, for a copy to
/// `destination` with a swizzle span of `swizzleBytes` (0 or 128).
uint32_t getTmaSharedAddress(uint32_t destination, uint32_t offset,
                             int64_t swizzleBytes);

/// One mbarrier object.
class Mbarrier {
public:
  /// mbarrier.init: phase 0, `count` pending arrivals, no transactions.
  void init(int64_t count);
  bool isInitialized() const { return initialized; }
  /// mbarrier.arrive.expect_tx: the transaction count grows by `bytes`,
  /// then one arrival.
  void arriveExpectTx(int64_t bytes);
  /// complete-tx: `bytes` of an asynchronous copy have landed.
  void completeTx(int64_t bytes);
  /// The number of completed phases (the current phase's index).
  int64_t getPhase() const { return phase; }
  int64_t getPendingArrivals() const { return pending; }
  int64_t getTransactionBytes() const { return transactions; }
  /// try_wait.parity / test_wait.parity: whether the phase of parity
  /// `parity` (0 or 1) has completed.
  bool hasCompletedParity(unsigned parity) const {
    return static_cast<unsigned>(phase & 1) != parity;
  }

private:
  void completePhaseIfDone();
  bool initialized = false;
  int64_t expected = 0, pending = 0, transactions = 0, phase = 0;
};

} // namespace mlir::cascade::gpu

#endif // CASCADE_TARGET_GPU_TMASEMANTICS_H
