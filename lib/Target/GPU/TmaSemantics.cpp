//===- TmaSemantics.cpp - TMA copies and mbarriers, as the PTX ISA says ---===//

#include "cascade/Target/GPU/TmaSemantics.h"

using namespace mlir::cascade::gpu;

uint32_t mlir::cascade::gpu::getTmaSharedAddress(uint32_t destination,
                                                 uint32_t offset,
                                                 int64_t swizzleBytes) {
  uint32_t address = destination + offset;
  if (swizzleBytes != 128)
    return address;
  return address ^ (((address >> 7) & 7) << 4);
}

void Mbarrier::init(int64_t count) {
  initialized = true;
  expected = pending = count;
  transactions = 0;
  phase = 0;
}

void Mbarrier::arriveExpectTx(int64_t bytes) {
  transactions += bytes;
  --pending;
  completePhaseIfDone();
}

void Mbarrier::completeTx(int64_t bytes) {
  transactions -= bytes;
  completePhaseIfDone();
}

void Mbarrier::completePhaseIfDone() {
  if (pending != 0 || transactions != 0)
    return;
  ++phase;
  pending = expected;
}
