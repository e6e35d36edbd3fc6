//===- GpuCheck.h - GPU targets' inputs and check against fp64 ---*- C++ -*-===//
//
// What the cuda-emulator and cuda targets of attn-run share: the inputs
// rounded to the storage type the kernel reads, and --check, which
// compares a kernel's output with the fp64 reference on those same inputs
// under an error bound for f32 accumulation with f16 / bf16 operands
// (docs/GPU.md, "Tier 1").
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_GPUCHECK_H
#define CASCADE_TOOLS_ATTNRUN_GPUCHECK_H

#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Support/Tensor.h"
#include "cascade/Target/GPU/WarpSemantics.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::cascade {

/// What both GPU targets settle before building a kernel: the target
/// options completed with the head dimensions the inputs give and checked,
/// the extents of every rank, and the storage type.
struct GpuRunSetup {
  GpuTargetOptions target;
  llvm::StringMap<int64_t> extents;
  gpu::HalfType half = gpu::HalfType::F16;
};
FailureOr<GpuRunSetup> setUpGpuRun(func::FuncOp function,
                                   ArrayRef<Tensor> inputs,
                                   const GpuTargetOptions &target,
                                   std::string &error);

/// The inputs as a GPU kernel stores them: float tensors rounded to the
/// storage type, integer tensors and scalars unchanged.
struct GpuInputs {
  SmallVector<Tensor> rounded;
  /// The largest finite magnitude among the rounded float tensors.
  double inputMax = 0;
  gpu::HalfType half = gpu::HalfType::F16;
};
GpuInputs roundInputsForGpu(func::FuncOp function, ArrayRef<Tensor> inputs,
                            gpu::HalfType half);

/// Compares each of `outputs` (as `described`, the kernel's outputs in
/// order) with the fp64 reference on `inputs.rounded`, on `checkRows`
/// sampled query rows (0: all, or a sample when the reference would take
/// long); prints a verdict per output and returns the exit code.
/// The fp64 reference of a GPU run on the rounded inputs and, per element,
/// the bound it passes under (the file comment of GpuCheck.cpp): 0 where
/// the reference is not finite (matched exactly), NaN in query rows the
/// reference did not evaluate (sampled on large problems; only a NaN or
/// Inf fails there). `--save-kit` writes both for a check elsewhere.
struct GpuExpectation {
  SmallVector<Tensor> reference;
  SmallVector<Tensor> tolerance;
  /// Per output, the magnitude from which its element type rounds to
  /// infinity (f16: 65520; bf16: 2^128 (1 - 2^-9); f32 outputs: +inf): a
  /// reference whose bound reaches it may be stored as an infinity of its
  /// sign (an attention output beyond f16's range is Inf, not an error).
  SmallVector<double> overflowAt;
  int64_t sampledRows = 0, queryExtent = 0;
};
FailureOr<GpuExpectation>
computeGpuExpectation(func::FuncOp function, const GpuInputs &inputs,
                      ArrayRef<SmallVector<int64_t>> outputShapes,
                      ArrayRef<GpuKernelOutput> described,
                      const llvm::StringMap<int64_t> &extents,
                      int64_t checkRows);

/// Whether `got` passes against `ref` under `tolerance` as above: a NaN or
/// Inf only where the reference has the same value, or (an infinity of the
/// reference's sign) where |ref| + tolerance reaches `overflowAt`.
bool isWithinExpectation(double got, double ref, double tolerance,
                         double overflowAt);

/// Prints one line per output (elements checked, worst error/tolerance,
/// NaN/Inf) and returns 1 when any element fails.
int compareGpuOutputs(ArrayRef<Tensor> outputs,
                      const GpuExpectation &expectation,
                      ArrayRef<GpuKernelOutput> described);

/// computeGpuExpectation, then compareGpuOutputs.
int checkGpuOutputs(func::FuncOp function, const GpuInputs &inputs,
                    ArrayRef<Tensor> outputs,
                    ArrayRef<GpuKernelOutput> described,
                    const llvm::StringMap<int64_t> &extents,
                    int64_t checkRows);

/// The shape of each of `kernel`'s outputs for rank sizes `extents`.
SmallVector<SmallVector<int64_t>>
getGpuOutputShapes(const GpuKernelModule &kernel,
                   const llvm::StringMap<int64_t> &extents);

} // namespace mlir::cascade

#endif
