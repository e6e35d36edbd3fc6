//===- Tensor.cpp - Dense fp64 tensors ------------------------------------===//

#include "cascade/Support/Tensor.h"

using namespace mlir::cascade;

std::string Tensor::getShapeString() const {
  std::string text = "[";
  for (auto [i, size] : llvm::enumerate(shape))
    text += (i ? ", " : "") + std::to_string(size);
  return text + "]";
}
