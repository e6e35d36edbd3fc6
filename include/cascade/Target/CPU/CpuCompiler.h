//===- CpuCompiler.h - JIT and AOT compilation of cascades for CPUs -*- C++ -*-===//
//
// Runs `cascade-to-cpu` on one function, then either JIT-compiles the result
// with MLIR's ExecutionEngine (CpuKernel) or writes an object file and a C
// header describing its ABI (emitCpuObject). docs/CPU.md documents the ABI.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_CPU_CPUCOMPILER_H
#define CASCADE_TARGET_CPU_CPUCOMPILER_H

#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Support/Tensor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

#include <memory>
#include <string>

namespace mlir::cascade {

/// What the kernel's interface looks like, derived from the spec.
struct CpuKernelInterface {
  std::string name;
  /// Rank of every input, and the ranks of the result (work ranks, then the
  /// head dimension).
  SmallVector<int64_t> inputRanks;
  /// Per input: the rank whose extent it gives when it is a scalar (an
  /// `int64_t` in the ABI, inputRanks 0), else empty.
  SmallVector<std::string> scalarRanks;
  /// Per input: the element type of its view: the storage type for float
  /// tensors, "i32" or "i64" for integer tensors (the ids data comparisons
  /// read, passed as they are), empty for scalars.
  SmallVector<std::string> elementTypes;
  SmallVector<std::string> resultRanks;
  int64_t queryTile = 64;
  std::string storageType;
  /// The head dimensions compiled in; inputs must have exactly these.
  llvm::StringMap<int64_t> headDims;
  /// What each nonzero status of `<name>_check` means (status k + 1:
  /// entry k); filled once the kernel is lowered.
  SmallVector<std::string> checkMessages;
};

/// The interface of `function` compiled with `options`, or a diagnostic.
FailureOr<CpuKernelInterface>
getCpuKernelInterface(func::FuncOp function, const CpuTargetOptions &options);

/// A module holding a lowered copy of `function` in the LLVM dialect.
FailureOr<OwningOpRef<ModuleOp>> lowerToLLVMDialect(
    func::FuncOp function, const CpuTargetOptions &options);

/// Writes an object file and a C header for `function`.
LogicalResult emitCpuObject(func::FuncOp function,
                            const CpuTargetOptions &options,
                            llvm::StringRef objectPath,
                            llvm::StringRef headerPath);

/// A caller's buffer as the kernel reads or writes it, without a copy: the
/// address of element [0, ..., 0], and sizes and strides in elements. A
/// runtime extent (an `index` argument of the spec) is a scalar instead.
struct CpuKernelView {
  void *data = nullptr;
  SmallVector<int64_t> sizes, strides;
  std::optional<int64_t> scalar;
};

/// What CpuKernel::runOnViews did.
enum class CpuRunStatus {
  Ok,
  /// The views do not fit the ABI (count, ranks, scalars, missing data).
  InvalidArgument,
  /// The kernel's generated `<f>_check` (or its work item count) refused
  /// the sizes and strides.
  ShapeMismatch,
};

/// A JIT-compiled kernel with its inputs and output in kernel layout.
class CpuKernel {
public:
  static FailureOr<std::unique_ptr<CpuKernel>>
  compile(func::FuncOp function, const CpuTargetOptions &options);

  /// Copies `inputs` into buffers of the storage type (integer inputs:
  /// int32 or int64, whole numbers in range) and sizes the output;
  /// fails (with a message) when the shapes disagree, differ from the
  /// compiled head dimensions, or break the spec's shape contract
  /// (checkShapeContract): the kernel never runs on sizes it would read
  /// out of bounds with.
  LogicalResult prepare(llvm::ArrayRef<Tensor> inputs, std::string &error);
  /// Runs every work item on `threads` threads.
  void run(int threads);
  /// Runs on the caller's buffers (elements of CpuKernelInterface's
  /// elementTypes, any
  /// strides): checks the views against the ABI (count, ranks, scalars),
  /// runs the kernel's own `<f>_check` on them (sizes, head dimensions,
  /// agreeing extents, every read in bounds, innermost strides 1), then
  /// every work item on `threads` threads. Says why in `error`, running
  /// nothing, when a check fails. Thread-safe: it touches no kernel state.
  CpuRunStatus runOnViews(llvm::ArrayRef<CpuKernelView> inputs,
                          const CpuKernelView &output, int threads,
                          std::string &error) const;
  /// The output, widened to fp64.
  Tensor getOutput() const;
  /// The inputs as the kernel sees them (rounded to the storage type).
  SmallVector<Tensor> getRoundedInputs() const;

  int64_t getNumWorkItems() const { return workItems; }
  double getCompileSeconds() const { return compileSeconds; }
  const CpuKernelInterface &getInterface() const { return interface; }

private:
  CpuKernel() = default;
  struct Buffer {
    SmallVector<int64_t> shape;
    /// f32, f16, bf16, i32 or i64 (CpuKernelInterface::elementTypes).
    std::string elementType;
    std::vector<uint8_t> bytes;
    /// Set for a scalar input: passed by value, not as a view.
    std::optional<int64_t> scalar;
  };
  /// The arguments of the entry, `<f>_check` and `<f>_work_items` for some
  /// views, as the C interface's packed wrappers take them: a pointer to
  /// each view's descriptor pointer (descriptor: allocated, aligned,
  /// offset, sizes..., strides...) or to a scalar's value, the output last.
  /// `arguments` points into the other members: never copied or moved.
  struct PackedArguments {
    SmallVector<SmallVector<int64_t>> descriptors;
    SmallVector<void *> pointers;
    SmallVector<int64_t> scalars;
    SmallVector<void *> arguments;
  };
  /// Packs `inputs` and `output` into `packed`; fails with `error` when the
  /// views do not fit the ABI (count, ranks, scalars, missing data).
  LogicalResult pack(llvm::ArrayRef<CpuKernelView> inputs,
                     const CpuKernelView &output, PackedArguments &packed,
                     std::string &error) const;
  /// A view of an owned buffer (row-major).
  static CpuKernelView viewOf(Buffer &buffer);
  /// `value` in `buffer`'s element type; fails when an id is not a whole
  /// number in range.
  static LogicalResult encode(const Tensor &value, Buffer &buffer,
                              std::string &error);
  /// A buffer's elements widened to fp64.
  Tensor decode(const Buffer &buffer) const;
  /// Runs `<f>_check` on packed `arguments` (the inputs, then the output's
  /// descriptor last), then `<f>_work_items` on the output.
  LogicalResult checkAndCountItems(llvm::ArrayRef<void *> arguments,
                                   int64_t &items, std::string &error) const;
  /// Runs items [0, items) on `threads` threads, handed out one at a time.
  void runItems(llvm::ArrayRef<void *> arguments, int64_t items,
                int threads) const;

  CpuKernelInterface interface;
  func::FuncOp spec;
  std::unique_ptr<ExecutionEngine> engine;
  void (*entry)(void **) = nullptr;
  void (*check)(void **) = nullptr;
  void (*countWorkItems)(void **) = nullptr;
  size_t elementBytes = 4;
  SmallVector<Buffer> inputs;
  Buffer output;
  /// The owned buffers, packed by prepare() for run().
  std::unique_ptr<PackedArguments> packed;
  int64_t workItems = 0;
  double compileSeconds = 0;
};

} // namespace mlir::cascade

#endif // CASCADE_TARGET_CPU_CPUCOMPILER_H
