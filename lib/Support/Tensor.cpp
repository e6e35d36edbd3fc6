//===- Tensor.cpp - Dense fp64 tensors ------------------------------------===//

#include "cascade/Support/Tensor.h"

#include <cmath>

#include <unistd.h>

using namespace mlir::cascade;

std::optional<int64_t>
Tensor::checkedNumElements(llvm::ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape)
    if (size < 0 || __builtin_mul_overflow(count, size, &count))
      return std::nullopt;
  return count;
}

std::optional<std::string>
Tensor::checkAllocation(llvm::ArrayRef<int64_t> shape, size_t elementBytes) {
  Tensor view;
  view.shape.assign(shape.begin(), shape.end());
  std::string what = "a tensor of shape " + view.getShapeString();
  for (int64_t size : shape)
    if (size < 0)
      return what + " has a negative size";
  std::optional<int64_t> count = checkedNumElements(shape);
  int64_t bytes;
  if (!count || __builtin_mul_overflow(*count, static_cast<int64_t>(elementBytes),
                                       &bytes))
    return what + " has more elements than 64 bits can count";
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && pageSize > 0 &&
      static_cast<double>(bytes) > static_cast<double>(pages) * pageSize)
    return what + " needs " + std::to_string(bytes) +
           " bytes, more than this machine's " +
           std::to_string(static_cast<int64_t>(pages) * pageSize);
  return std::nullopt;
}

std::string Tensor::getShapeString() const {
  std::string text = "[";
  for (auto [i, size] : llvm::enumerate(shape))
    text += (i ? ", " : "") + std::to_string(size);
  return text + "]";
}

std::optional<int64_t> Tensor::getScalarInteger() const {
  if (!shape.empty() || data.size() != 1)
    return std::nullopt;
  double value = data[0];
  // |value| <= 2^53: every integer there is exact in fp64 and in int64.
  if (value != std::trunc(value) || std::abs(value) > 9007199254740992.0)
    return std::nullopt;
  return static_cast<int64_t>(value);
}
