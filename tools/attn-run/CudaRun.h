//===- CudaRun.h - attn-run's cuda target: run, check, benchmark -*- C++ -*-===//

#ifndef CASCADE_TOOLS_ATTNRUN_CUDARUN_H
#define CASCADE_TOOLS_ATTNRUN_CUDARUN_H

#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Support/Tensor.h"

#include <string>

namespace mlir::cascade {

struct CudaRunOptions {
  GpuTargetOptions target;
  /// Whether --chip was given; otherwise the device's chip is used.
  bool chipGiven = false;
  bool check = false;
  /// Query rows the reference evaluates (0: all, or a sample when large).
  int64_t checkRows = 0;
  bool bench = false;
  int warmup = 2;
  int repeat = 10;
  bool printValues = false;
  std::string outputPath;
};

/// Compiles `function` to a cubin, runs it on the GPU through the CUDA
/// driver (loaded at run time, lib/Target/GPU/CudaDriver.cpp) on `inputs`
/// and does what `options` asks; returns the process exit code.
int runOnCuda(func::FuncOp function, llvm::ArrayRef<Tensor> inputs,
              const CudaRunOptions &options);

} // namespace mlir::cascade

#endif
