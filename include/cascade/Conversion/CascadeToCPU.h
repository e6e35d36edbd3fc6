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
  // The work grid, the query tile and the head dimensions' sizes are the
  // scheduled form's (cascade.grid), not options of the kernel.
  /// f32 lanes per vector register: 16 (AVX-512) or 8 (AVX2).
  int64_t vectorWidth = 16;
  /// Element type of the kernel's inputs and output (f32, f16, bf16);
  /// arithmetic is f32 throughout. Null means f32.
  Type storageType;
};

/// The element type a kernel argument of element type `spec` has in the
/// kernel ABI: integer tensors (the ids data comparisons read) keep their
/// own type (i32, i64); float tensors are in `storage`.
Type getKernelElementType(Type spec, Type storage);

/// Replaces `function` (a cascade in the scheduled form: its result is a
/// cascade.grid, its key rank streamed) by its kernel.
LogicalResult buildCpuKernel(func::FuncOp function,
                             const CpuKernelOptions &options);

/// The CPU target's options, typed: what attn-run, attn-compile, the
/// library and embedders fill, and what the passes of `cascade-to-cpu`
/// receive (no string round trip). Text reaches it at one place only: the
/// options of the registered `cascade-to-cpu` pipeline (CpuPipelineOptions).
struct CpuTargetOptions {
  /// Compile-time head dimension sizes (e=64, f=64).
  llvm::StringMap<int64_t> headDims;
  /// Query rows per work item, and key rows per step of the iterate.
  int64_t queryTile = 64;
  int64_t keyTile = 64;
  /// native, x86-64-v3 (AVX2), x86-64-v4 (AVX-512) or an x86-64 CPU name.
  std::string cpu = "native";
  /// f32, f16 or bf16: element type of the inputs and the output.
  std::string storageType = "f32";
};

/// The f32 lanes of a vector register for `cpu` (resolving "native").
int64_t getVectorWidthForCpu(llvm::StringRef cpu);

/// Checks `options`: a CPU that LLVM knows and that has AVX2 and FMA, a
/// storage type, tile sizes in [1, 4096]. Ranks that head-dims names but the
/// function does not have, or that are not head dimensions, are reported by
/// the kernel builder.
LogicalResult verifyCpuTargetOptions(const CpuTargetOptions &options,
                                     std::string &error);

/// `cascade-lower-to-cpu-kernel` and `cascade-build-cpu-shape-check` built
/// from typed options (attn-opt builds them from their textual options).
std::unique_ptr<Pass> createLowerToCpuKernelPass(const CpuTargetOptions &options);
std::unique_ptr<Pass>
createBuildCpuShapeCheckPass(const CpuTargetOptions &options);

/// Adds the passes of `cascade-to-cpu`: the shape check, pass minimisation,
/// streaming of the key rank, tile classification, the kernel, and the
/// upstream lowering to the LLVM dialect. Fails (with the reason on stderr)
/// when `options` does not verify; tools verify first and report at the
/// function.
LogicalResult buildCascadeToCpuPipeline(OpPassManager &pm,
                                        const CpuTargetOptions &options);

/// The function passes of that pipeline that produce the scheduled form the
/// kernel is built from (minimisation, streaming, tile classification, the
/// work grid, chunking), for a tool that wants to look at that form.
void addCpuSchedulingPasses(OpPassManager &functions,
                            const CpuTargetOptions &options);

/// Textual options of the registered `cascade-to-cpu` pipeline
/// (`attn-opt --pass-pipeline='builtin.module(cascade-to-cpu{...})'`).
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

/// The typed options `text` stands for, or the reason it is malformed
/// (`head-dims` entries that are not rank=N, or name a rank twice).
FailureOr<CpuTargetOptions> toCpuTargetOptions(const CpuPipelineOptions &text,
                                               std::string &error);

void registerCascadeToCpuPipeline();

} // namespace mlir::cascade

#endif // CASCADE_CONVERSION_CASCADETOCPU_H
