//===- GpuEmulatorRun.h - attn-run's cuda-emulator target ---------*- C++ -*-===//

#ifndef CASCADE_TOOLS_ATTNRUN_GPUEMULATORRUN_H
#define CASCADE_TOOLS_ATTNRUN_GPUEMULATORRUN_H

#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Support/Tensor.h"

#include <string>

namespace mlir::cascade {

struct GpuEmulatorRunOptions {
  GpuTargetOptions target;
  bool check = false;
  bool printValues = false;
  /// Where to write the output as .npy (float32), if set.
  std::string outputPath;
};

/// Builds the GPU kernel of `function` for `options.target`, runs its IR
/// in the SIMT emulator on `inputs` and, with `check`, compares the output
/// with the fp64 reference; returns the process exit code.
int runOnGpuEmulator(func::FuncOp function, llvm::ArrayRef<Tensor> inputs,
                     const GpuEmulatorRunOptions &options);

} // namespace mlir::cascade

#endif
