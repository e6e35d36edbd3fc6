//===- Threads.cpp - Run a worker on several threads ----------------------===//

#include "cascade/Support/Threads.h"

#include <algorithm>
#include <thread>
#include <vector>

void mlir::cascade::runOnThreads(int threads,
                                 llvm::function_ref<void()> worker) {
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t)
    pool.emplace_back([worker] { worker(); });
  worker();
  for (std::thread &thread : pool)
    thread.join();
}
