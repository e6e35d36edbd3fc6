//===- Emulator.h - Run a GPU kernel's IR on the CPU ------------*- C++ -*-===//
//
// A SIMT emulator of the kernel IR that is translated to PTX (gpu.func
// bodies of gpu, nvgpu, vector, memref, arith, math and scf ops): the blocks
// of a launch one after another, the threads of a block in lock-step, with
// per-block shared memory (workgroup attributions and views of dynamic
// shared memory), barriers, warp shuffles
// and the warp-collective tensor-core ops of WarpSemantics.h. It is how the
// GPU backend is checked on machines without a GPU (docs/GPU.md).
//
// Lock-step execution makes every op a barrier, which would hide a missing
// gpu.barrier. So the emulator tracks, per element of shared memory, who
// wrote and read it since the last barrier, and reports a race when a
// thread touches an element another thread wrote (or, for a write, read)
// in the same barrier interval. Everything a kernel can get wrong --
// an out-of-bounds access, a race, a barrier or shuffle under divergent
// control flow, a loop whose bounds differ between threads, an op it does
// not model -- is a located error at the op, naming the block and thread.
//
// Not modelled (docs/GPU.md): timing, the memory consistency model beyond
// barrier intervals, global-memory races between blocks, and the
// accumulation order inside a tensor-core op (WarpSemantics.h).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_EMULATOR_H
#define CASCADE_TARGET_GPU_EMULATOR_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Support/LLVM.h"

#include <array>
#include <vector>

namespace mlir::cascade::gpu {

/// Global memory a kernel's memref argument points at: row-major `data` of
/// `shape`. Stores round to the element type (f16, bf16, f32; integers
/// wrap to their width), so the buffer holds what the GPU's would.
struct EmulatorBuffer {
  Type elementType;
  SmallVector<int64_t> shape;
  std::vector<double> data;
};

/// A tensor map (sm_90a's TMA) as a host encoded it: the buffer it
/// describes (row-major over its shape, out-of-bounds elements read as
/// zero), the box per dimension outermost first, and the swizzle span in
/// bytes (0 or 128).
struct EmulatorTensorMap {
  EmulatorBuffer *buffer = nullptr;
  SmallVector<int64_t> box;
  int64_t swizzleBytes = 0;
};

/// One kernel argument: a buffer for a memref parameter, a tensor map for
/// a tensor-map parameter (an `!llvm.ptr` with `cascade.tensor_map`), else
/// a scalar.
struct EmulatorArgument {
  EmulatorBuffer *buffer = nullptr;
  double scalar = 0;
  const EmulatorTensorMap *tensorMap = nullptr;
};

struct LaunchGeometry {
  std::array<int64_t, 3> grid = {1, 1, 1}, block = {1, 1, 1};
  /// Bytes of dynamic shared memory per block (cuLaunchKernel's
  /// sharedMemBytes): what a kernel's views of gpu.dynamic_shared_memory
  /// may cover.
  int64_t dynamicSharedBytes = 0;
};

/// Runs `kernel` over `geometry`. A block's threads are numbered x fastest
/// and grouped into warps of 32 consecutive threads. Fails with a located
/// error (see the file comment).
/// What a run executed, counted per warp instruction (one `mma.sync` of
/// one warp is 1) and per thread for copies: the work a schedule does, so
/// that tile skipping can be measured without a GPU.
struct EmulatorStatistics {
  int64_t mmaSync = 0, ldmatrix = 0, asyncCopies = 0, shuffles = 0,
          wgmma = 0, tmaCopies = 0;
};

LogicalResult emulateKernel(mlir::gpu::GPUFuncOp kernel,
                            const LaunchGeometry &geometry,
                            MutableArrayRef<EmulatorArgument> arguments,
                            EmulatorStatistics *statistics = nullptr);

} // namespace mlir::cascade::gpu

#endif // CASCADE_TARGET_GPU_EMULATOR_H
