//===- Interpreter.h - fp64 reference interpreter for cascades ---*- C++ -*-===//
//
// Evaluates a function of cascade ops on concrete tensors in fp64: the oracle
// that every rewrite and every generated kernel is checked against.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_INTERPRETER_INTERPRETER_H
#define CASCADE_INTERPRETER_INTERPRETER_H

#include "cascade/Support/Tensor.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::cascade {

/// Evaluates `function` on `inputs` (one per argument, in order) and returns
/// its results. Everything is computed in fp64: casts between float types
/// are exact, and reductions fold in increasing coordinate order.
/// Problems with the inputs (a shape that disagrees with a rank's extent,
/// an index out of bounds, an op the interpreter does not know) are
/// reported as errors at the location of the op involved, and make the
/// result a failure.
///
/// With `options.sampledRank` set, only the points whose coordinate of that
/// rank is in `sampledCoordinates` are evaluated (the others hold their
/// Einsum's fill value): checking a few query rows of a large problem. This
/// is exact, and allowed, only when no Einsum reduces the rank or reads a
/// tensor at anything but the bare rank.
struct InterpretOptions {
  std::string sampledRank;
  llvm::SmallVector<int64_t> sampledCoordinates;
};
FailureOr<SmallVector<Tensor>>
interpretFunction(FunctionOpInterface function, ArrayRef<Tensor> inputs,
                  const InterpretOptions &options = {});

} // namespace mlir::cascade

#endif // CASCADE_INTERPRETER_INTERPRETER_H
