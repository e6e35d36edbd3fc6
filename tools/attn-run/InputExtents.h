//===- InputExtents.h - Sizes a compiled target takes from its inputs -*- C++ -*-===//

#ifndef CASCADE_TOOLS_ATTNRUN_INPUTEXTENTS_H
#define CASCADE_TOOLS_ATTNRUN_INPUTEXTENTS_H

#include "cascade/Support/Tensor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::cascade {

/// Every rank's extent on `inputs` (runtime scalars included), and the
/// head dimensions a compiled target fixes: the innermost size of every
/// float input (an integer tensor holds ids per position, not a head
/// dimension). Fails with `error` when the inputs disagree.
struct InputExtents {
  llvm::StringMap<int64_t> extents;
  llvm::StringMap<int64_t> headDims;
};
FailureOr<InputExtents> resolveInputExtents(func::FuncOp function,
                                            llvm::ArrayRef<Tensor> inputs,
                                            std::string &error);

} // namespace mlir::cascade

#endif
