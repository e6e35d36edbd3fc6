//===- Passes.h - Conversions out of the cascade dialect ---------*- C++ -*-===//
//
// Declarations generated from include/cascade/Conversion/Passes.td: the CPU
// backend's passes, their option structs and registration. The typed entry
// points (a pass built from CpuTargetOptions, the cascade-to-cpu pipeline)
// are in CascadeToCPU.h.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_CONVERSION_PASSES_H
#define CASCADE_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <string>

namespace mlir::cascade {

#define GEN_PASS_DECL
#include "cascade/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "cascade/Conversion/Passes.h.inc"

} // namespace mlir::cascade

#endif // CASCADE_CONVERSION_PASSES_H
