//===- Compare.h - Element-wise comparison of results -------------*- C++ -*-===//
//
// How attn-run decides that two results agree: |a - b| <= atol + rtol * |b|
// elementwise, where b is the reference, and any NaN or Inf in either is a
// disagreement (attention outputs are finite by construction).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_SUPPORT_COMPARE_H
#define CASCADE_SUPPORT_COMPARE_H

#include "cascade/Support/Tensor.h"

namespace mlir::cascade {

struct Comparison {
  bool shapesMatch = true;
  double maxAbsError = 0.0;
  double maxRelError = 0.0;
  int64_t mismatches = 0;
  /// Elements where one side is NaN or infinite and the other is not the
  /// same special value (NaN where the reference is NaN agrees).
  int64_t nonFinite = 0;
  /// Elements where both sides are the same NaN or infinity.
  int64_t sameNonFinite = 0;
  /// The first element that fails, or -1.
  int64_t firstFailure = -1;
  bool agree() const {
    return shapesMatch && mismatches == 0 && nonFinite == 0;
  }
};

Comparison compareTensors(const Tensor &actual, const Tensor &reference,
                          double rtol, double atol);

/// Number of NaN and infinite elements.
int64_t countNonFinite(const Tensor &tensor);

/// "[1, 0, 3]": the coordinates of flat index `flat`.
std::string formatIndex(const Tensor &tensor, int64_t flat);

} // namespace mlir::cascade

#endif // CASCADE_SUPPORT_COMPARE_H
