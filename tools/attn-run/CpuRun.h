//===- CpuRun.h - attn-run's CPU target: run, check, benchmark ----*- C++ -*-===//

#ifndef CASCADE_TOOLS_ATTNRUN_CPURUN_H
#define CASCADE_TOOLS_ATTNRUN_CPURUN_H

#include "cascade/Support/Tensor.h"
#include "cascade/Target/CPU/CpuCompiler.h"

#include <optional>
#include <string>

namespace mlir::cascade {

struct CpuRunOptions {
  CpuTargetOptions target;
  int threads = 1;
  bool check = false;
  /// Query rows the reference evaluates when the problem is large (0: all).
  int64_t checkRows = 0;
  bool bench = false;
  int warmup = 2;
  int repeat = 10;
  std::string baseline;
  std::string outputPath;
  bool printValues = false;
};

/// Compiles `function` for the CPU, runs it on `inputs` and does what
/// `options` asks; returns the process exit code.
int runOnCpu(func::FuncOp function, llvm::ArrayRef<Tensor> inputs,
             const CpuRunOptions &options);

} // namespace mlir::cascade

#endif
