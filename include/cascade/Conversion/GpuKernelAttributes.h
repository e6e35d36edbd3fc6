//===- GpuKernelAttributes.h - What a GPU kernel tells its host -*- C++ -*-===//
//
// Attribute names the GPU backend puts on the kernels it builds for the
// hosts that launch them (attn-run, the emulated driver, an AOT header).
// A header of its own so that the emulator reads them without the
// backend's headers.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_CONVERSION_GPUKERNELATTRIBUTES_H
#define CASCADE_CONVERSION_GPUKERNELATTRIBUTES_H

#include "llvm/ADT/StringRef.h"

namespace mlir::cascade {

/// The argument attribute of a kernel's tensor-map parameters (sm_90a's
/// TMA stages): {operand = the input it describes, box = the box per
/// dimension of that input, outermost first, swizzle = bytes}
/// (cascade/Target/GPU/TensorMap.h reads it).
constexpr llvm::StringLiteral kTensorMapAttrName = "cascade.tensor_map";

/// The shared-memory global a kernel with dynamic shared memory declares
/// (external, zero-length, 16-byte aligned): what gpu.dynamic_shared_memory
/// lowers to (docs/GPU.md, "Dynamic shared memory").
constexpr llvm::StringLiteral kDynamicSharedMemorySymbol =
    "__cascade_dynamic_shared_memory";

} // namespace mlir::cascade

#endif // CASCADE_CONVERSION_GPUKERNELATTRIBUTES_H
