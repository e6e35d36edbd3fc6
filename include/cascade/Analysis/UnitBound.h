//===- UnitBound.h - Tensors whose values lie within [-1, 1] ----*- C++ -*-===//
//
// Whether every element of a tensor lies in [-1, 1] (or is NaN), proved
// from the shape of the cascade rather than assumed: what the GPU kernels
// need to know before they round a register tile (P) to f16 or bf16 as a
// tensor-core operand, where a larger value could overflow (f16's largest
// is 65504). The proof is conservative: a tensor it cannot prove bounded is
// treated as unbounded (the kernel then scales each row by a power of two,
// docs/GPU.md "Operands beyond f16's range").
//
// What it proves, per body value:
//   * a constant within [-1, 1]; -x, x * y, min/max(x, y), select(c, x, y)
//     of bounded values;
//   * 1 / (1 + exp(z)) for any z (a sigmoid: within [0, 1]);
//   * exp(x - y) where y is read from a row maximum of x's tensor over the
//     Einsum's own points: a `max` reduction of that tensor under the same
//     mask, or a `max` map of values one of which is (online softmax's
//     running maximum): x - y <= 0 there, so the exponential is in [0, 1].
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_UNITBOUND_H
#define CASCADE_ANALYSIS_UNITBOUND_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

namespace mlir::cascade {

/// Whether every element of `tensor` (an Einsum's result) lies in [-1, 1]
/// or is NaN, as far as the rules above prove it.
bool isWithinUnit(Value tensor);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_UNITBOUND_H
