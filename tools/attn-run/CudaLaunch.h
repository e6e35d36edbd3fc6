//===- CudaLaunch.h - What the cuda target launches, before a driver ------===//
//
// The cuda target's launch decided without touching a driver: the cubin,
// the grid, the global buffers with the bytes they start with, the tensor
// maps' encodings and the kernel's parameters in order. runOnCuda executes
// it on the loaded driver; --save-kit writes it out for a machine that has
// a GPU but no Cascade (scripts/gpu-kit.py replays it there).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_CUDALAUNCH_H
#define CASCADE_TOOLS_ATTNRUN_CUDALAUNCH_H

#include "GpuCheck.h"

#include "cascade/Target/GPU/TensorMap.h"

#include <string>
#include <vector>

namespace mlir::cascade {

struct CudaLaunchPlan {
  GpuTargetOptions target;
  llvm::StringMap<int64_t> extents;
  GpuKernelModule built;
  std::string cubin;
  /// The inputs rounded to the storage type (what the check compares on).
  GpuInputs stored;
  double compileSeconds = 0;
  int64_t blocks = 0;

  /// A global buffer: an input's bytes as the kernel reads them, or an
  /// output of `bytes` that starts as all ones (NaN in f16, bf16 and f32,
  /// so an element no block writes cannot pass).
  struct Buffer {
    size_t bytes = 0;
    bool isOutput = false;
    /// An input's bytes (empty for an output).
    std::vector<unsigned char> initial;
  };
  SmallVector<Buffer> buffers;

  /// A TMA stage's CUtensorMap over a buffer (sm_90a).
  struct TensorMap {
    unsigned buffer = 0;
    bool bf16 = false;
    gpu::TensorMapEncoding encoding;
  };
  SmallVector<TensorMap> tensorMaps;

  /// One kernel parameter: a memref descriptor of a buffer (flattened:
  /// allocated, aligned, offset, sizes, row-major strides), a scalar by
  /// value, or the device address of a tensor map.
  struct Parameter {
    enum class Kind { MemRef, Int64, Int32, Float, Double, TensorMap };
    Kind kind = Kind::Int64;
    /// The buffer (MemRef) or tensor map (TensorMap).
    unsigned index = 0;
    SmallVector<int64_t> shape;
    int64_t integer = 0;
    double real = 0;
  };
  SmallVector<Parameter> parameters;

  /// The outputs in the kernel's order: the buffer, shape and element type
  /// (f32 for a per-row statistic, else the storage type).
  struct Output {
    unsigned buffer = 0;
    SmallVector<int64_t> shape;
    bool isF32 = false;
  };
  SmallVector<Output> outputs;
};

/// Builds and compiles the kernel of `function` for `target` (chip given)
/// and lays out its launch on `inputs`. On failure `error` says why, or is
/// empty where a located diagnostic was already emitted.
FailureOr<CudaLaunchPlan> planCudaLaunch(func::FuncOp function,
                                         ArrayRef<Tensor> inputs,
                                         const GpuTargetOptions &target,
                                         std::string &error);

} // namespace mlir::cascade

#endif // CASCADE_TOOLS_ATTNRUN_CUDALAUNCH_H
