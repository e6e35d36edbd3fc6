//===- Outputs.h - attn-run's results: summary, --print, --output -*- C++ -*-===//
//
// Every target (ref, cpu, cuda-emulator, cuda) reports, prints and writes
// its results the same way, one or several (the log-sum-exp beside the
// output).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_OUTPUTS_H
#define CASCADE_TOOLS_ATTNRUN_OUTPUTS_H

#include "cascade/Support/Npy.h"
#include "cascade/Support/Tensor.h"

#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::cascade {

/// The results' shapes, comma-separated, for the summary line.
std::string describeShapes(ArrayRef<Tensor> outputs);

/// NaN and Inf elements over all of `outputs`.
int64_t countNonFinite(ArrayRef<Tensor> outputs);

/// --print: each result's values, one row of its innermost dimension per
/// line.
void printOutputs(ArrayRef<Tensor> outputs);

/// --output PATH: the first result to PATH, result i to PATH's stem +
/// "_i.npy".
llvm::Error writeOutputs(ArrayRef<Tensor> outputs, llvm::StringRef path,
                         NpyDType dtype);

} // namespace mlir::cascade

#endif
