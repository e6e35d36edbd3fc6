//===- Threads.h - Run a worker on several threads ------------------*- C++ -*-===//

#ifndef CASCADE_SUPPORT_THREADS_H
#define CASCADE_SUPPORT_THREADS_H

#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::cascade {

/// Runs `worker` on `threads` threads (the caller's among them) and waits
/// for all; the worker takes its items from shared state, e.g. an atomic
/// counter.
void runOnThreads(int threads, llvm::function_ref<void()> worker);

} // namespace mlir::cascade

#endif
