//===- CudaKit.h - A cuda-target check for a machine without Cascade ------===//
//
// `attn-run SPEC --target cuda --chip C --save-kit DIR` writes, without a
// GPU, everything a check on another machine's GPU needs: the cubin, the
// inputs' bytes as the kernel reads them, the launch (grid, block, shared
// memory, tensor maps, parameters in order) as JSON, and per output the
// fp64 reference on the rounded inputs and the bound each element passes
// under (.npy). scripts/gpu-kit.py replays it through libcuda with ctypes.
// The format is docs/GPU.md's "Check kits".
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_CUDAKIT_H
#define CASCADE_TOOLS_ATTNRUN_CUDAKIT_H

#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Support/Tensor.h"

#include <string>

namespace mlir::cascade {

struct CudaKitOptions {
  GpuTargetOptions target;
  /// Query rows the reference evaluates (0: all, or a sample when large).
  int64_t checkRows = 0;
  std::string directory;
  /// The spec file, recorded in the kit to say what it checks.
  std::string specPath;
};

int saveCudaKit(func::FuncOp function, llvm::ArrayRef<Tensor> inputs,
                const CudaKitOptions &options);

} // namespace mlir::cascade

#endif // CASCADE_TOOLS_ATTNRUN_CUDAKIT_H
