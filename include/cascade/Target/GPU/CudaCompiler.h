//===- CudaCompiler.h - Ahead-of-time CUDA kernels from a spec ----*- C++ -*-===//
//
// `attn-compile --target cuda`: a spec through the GPU backend
// (cascade-to-gpu) and upstream's NVVM pipeline to PTX and a cubin
// (gpu-module-to-binary, which runs CUDA's ptxas), plus a C header with
// what a host needs to launch it: the kernel's name, the block size, the
// shared memory (static, or dynamic with the bytes to launch with), the
// grid (work items) as a function of the output's sizes, and the argument
// layout (docs/GPU.md, "ABI").
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_CUDACOMPILER_H
#define CASCADE_TARGET_GPU_CUDACOMPILER_H

#include "cascade/Conversion/CascadeToGPU.h"

#include <string>

namespace mlir::cascade {

/// What the launch of a compiled kernel needs.
struct CudaKernelInfo {
  std::string kernelName;
  int64_t threadsPerBlock = 0;
  /// The block's shared memory, and what a launch passes as dynamic shared
  /// memory (0: static; GpuKernelModule).
  int64_t sharedMemoryBytes = 0;
  int64_t dynamicSharedMemoryBytes = 0;
  /// The grid ranks in item order (the last fastest): which output
  /// dimension gives each extent, and the tile it is divided by (rounding
  /// up).
  SmallVector<std::pair<unsigned, int64_t>> workDims;
  /// The outputs (ranks, f32 or the storage type), the storage type, the
  /// inputs' element types.
  SmallVector<GpuKernelOutput> outputs;
  std::string storageType;
  SmallVector<std::string> argumentKinds;
};

/// The object upstream's NVVM pipeline and gpu-module-to-binary make of
/// `kernel` (a module from buildGpuKernelModule) in `format`: isa (PTX
/// text) or bin (a cubin). A located error at `loc` when it fails.
FailureOr<std::string> compileGpuKernelObject(ModuleOp kernel,
                                              const GpuTargetOptions &options,
                                              llvm::StringRef format,
                                              Location loc);

/// Compiles `function` for `options`; writes whichever of `ptxPath`,
/// `cubinPath` and `headerPath` is not empty. A located error when the
/// spec has no GPU form or upstream's pipeline fails.
FailureOr<CudaKernelInfo> compileCudaKernel(func::FuncOp function,
                                            const GpuTargetOptions &options,
                                            llvm::StringRef ptxPath,
                                            llvm::StringRef cubinPath,
                                            llvm::StringRef headerPath);

} // namespace mlir::cascade

#endif
