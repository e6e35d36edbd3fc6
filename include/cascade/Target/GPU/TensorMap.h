//===- TensorMap.h - The tensor maps of a kernel's TMA stages ---*- C++ -*-===//
//
// On sm_90a a stage that TMA fills reads its global operand through a
// tensor map (CUtensorMap, 128 bytes) that the host encodes before the
// launch and passes by a pointer to global memory (docs/GPU.md, "ABI").
// The kernel says what each map must describe in the argument attribute
// `cascade.tensor_map` (GpuKernelAttributes.h); this file reads it and turns
// it, with the operand's run-time shape, into cuTensorMapEncodeTiled's
// arguments, so that attn-run's cuda target, the emulator's runner and the
// emulated driver encode the same map.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_TENSORMAP_H
#define CASCADE_TARGET_GPU_TENSORMAP_H

#include "cascade/Conversion/GpuKernelAttributes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>

namespace mlir::cascade::gpu {

/// A tensor-map parameter of a kernel.
struct TensorMapParameter {
  /// The kernel argument holding the pointer to the map.
  unsigned argument = 0;
  /// The input (kernel argument) whose memory the map describes.
  unsigned operand = 0;
  /// The box per dimension of the operand, outermost first.
  SmallVector<int64_t> box;
  /// The shared-memory swizzle span in bytes (128; 0: none).
  int64_t swizzleBytes = 0;
};

/// The tensor-map parameters of `kernel` in argument order; a located error
/// for a malformed attribute.
FailureOr<SmallVector<TensorMapParameter>>
getTensorMapParameters(mlir::gpu::GPUFuncOp kernel);

/// cuTensorMapEncodeTiled's arguments, innermost dimension first as the
/// driver takes them.
struct TensorMapEncoding {
  unsigned rank = 0;
  std::array<uint64_t, 5> dims{};
  /// Byte strides of dimensions 1 .. rank - 1 (dimension 0 is contiguous).
  std::array<uint64_t, 4> strides{};
  std::array<uint32_t, 5> box{}, elementStrides{};
  unsigned elementBytes = 2;
  int64_t swizzleBytes = 0;
};

/// The encoding of `parameter` over a row-major operand of `shape`
/// (outermost first) with `elementBytes`-byte elements. Empty dimensions
/// are encoded as 1 (the driver wants 1 or more; a kernel never reads a
/// tile of an empty operand). Fails, saying which, where the driver's
/// limits are not met: rank 1 to 5, dimensions up to 2^32, strides
/// multiples of 16 bytes below 2^40, a box of 1 to 256 per dimension and
/// an inner box row within the swizzle span.
llvm::Expected<TensorMapEncoding>
encodeTensorMap(const TensorMapParameter &parameter, ArrayRef<int64_t> shape,
                unsigned elementBytes);

} // namespace mlir::cascade::gpu

#endif // CASCADE_TARGET_GPU_TENSORMAP_H
