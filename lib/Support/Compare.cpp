//===- Compare.cpp - Element-wise comparison of results -------------------===//

#include "cascade/Support/Compare.h"

#include <cmath>

using namespace mlir::cascade;

Comparison mlir::cascade::compareTensors(const Tensor &actual,
                                         const Tensor &reference, double rtol,
                                         double atol) {
  Comparison result;
  if (actual.shape != reference.shape) {
    result.shapesMatch = false;
    return result;
  }
  for (size_t i = 0; i < actual.data.size(); ++i) {
    double a = actual.data[i], b = reference.data[i];
    if (!std::isfinite(a) || !std::isfinite(b)) {
      if ((std::isnan(a) && std::isnan(b)) || a == b) {
        ++result.sameNonFinite;
        continue;
      }
      ++result.nonFinite;
      if (result.firstFailure < 0)
        result.firstFailure = i;
      continue;
    }
    double absError = std::fabs(a - b);
    double relError = absError / std::max(std::fabs(b), 1e-300);
    result.maxAbsError = std::max(result.maxAbsError, absError);
    if (std::fabs(b) > 0)
      result.maxRelError = std::max(result.maxRelError, relError);
    if (absError > atol + rtol * std::fabs(b)) {
      ++result.mismatches;
      if (result.firstFailure < 0)
        result.firstFailure = i;
    }
  }
  return result;
}

int64_t mlir::cascade::countNonFinite(const Tensor &tensor) {
  int64_t count = 0;
  for (double value : tensor.data)
    count += !std::isfinite(value);
  return count;
}

std::string mlir::cascade::formatIndex(const Tensor &tensor, int64_t flat) {
  llvm::SmallVector<int64_t> index(tensor.shape.size(), 0);
  for (int64_t d = static_cast<int64_t>(tensor.shape.size()) - 1; d >= 0; --d) {
    int64_t size = tensor.shape[d] ? tensor.shape[d] : 1;
    index[d] = flat % size;
    flat /= size;
  }
  Tensor view;
  view.shape = index;
  return view.getShapeString();
}
