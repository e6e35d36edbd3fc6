//===- CascadeToCPU.h - Lowering cascades to CPU kernels ----------*- C++ -*-===//
//
// The CPU backend: a 1-pass cascade becomes a kernel over work items (see
// docs/CPU.md for the kernel ABI), lowered through scf/vector/memref to the
// LLVM dialect. `cascade-to-cpu` is the whole pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_CONVERSION_CASCADETOCPU_H
#define CASCADE_CONVERSION_CASCADETOCPU_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::cascade {

struct CpuKernelOptions {
  /// Compile-time sizes of head dimensions (ranks that are the innermost
  /// dimension of an argument or of the result), e.g. e=64, f=64.
  llvm::StringMap<int64_t> headDims;
  /// Rows of the query rank per work item.
  int64_t queryTile = 64;
  /// f32 lanes per vector register: 16 (AVX-512) or 8 (AVX2).
  int64_t vectorWidth = 16;
  /// Element type of the kernel's inputs and output (f32, f16, bf16);
  /// arithmetic is f32 throughout. Null means f32.
  Type storageType;
};

/// Replaces `function` (a cascade whose key rank is streamed) by its kernel.
LogicalResult buildCpuKernel(func::FuncOp function,
                             const CpuKernelOptions &options);

/// Options of the `cascade-to-cpu` pipeline.
struct CpuPipelineOptions : public PassPipelineOptions<CpuPipelineOptions> {
  ListOption<std::string> headDims{
      *this, "head-dims",
      llvm::cl::desc("compile-time head dimension sizes, rank=N")};
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("query rows per work item"),
                            llvm::cl::init(64)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("key rows per step of the iterate"),
                          llvm::cl::init(64)};
  Option<std::string> cpu{
      *this, "cpu",
      llvm::cl::desc("x86-64-v4 (AVX-512), x86-64-v3 (AVX2) or native"),
      llvm::cl::init("native")};
  Option<std::string> storageType{
      *this, "storage-type",
      llvm::cl::desc("element type of inputs and output: f32, f16, bf16"),
      llvm::cl::init("f32")};
};

/// The f32 lanes of a vector register for `cpu` (resolving "native").
int64_t getVectorWidthForCpu(llvm::StringRef cpu);

/// Checks the pipeline's options: a CPU that LLVM knows and that has AVX2
/// and FMA, a storage type, tile sizes in [1, 4096], head dimensions named
/// once. Ranks that head-dims names but the function does not have, or that
/// are not head dimensions, are reported by the kernel builder.
LogicalResult verifyCpuPipelineOptions(const CpuPipelineOptions &options,
                                       std::string &error);

/// Adds the passes of `cascade-to-cpu`: pass minimisation, streaming of the
/// key rank, the kernel, and the upstream lowering to the LLVM dialect.
LogicalResult buildCascadeToCpuPipeline(OpPassManager &pm,
                               const CpuPipelineOptions &options);
void registerCascadeToCpuPipeline();

} // namespace mlir::cascade

#endif // CASCADE_CONVERSION_CASCADETOCPU_H
