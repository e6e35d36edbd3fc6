//===- Tensor.h - Dense fp64 tensors --------------------------------*- C++ -*-===//
//
// The value type of the interpreter, of .npy I/O and of comparisons: a
// row-major (C order) fp64 array with a shape. Inputs of any float type are
// widened to it.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_SUPPORT_TENSOR_H
#define CASCADE_SUPPORT_TENSOR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace mlir::cascade {

struct Tensor {
  llvm::SmallVector<int64_t> shape;
  std::vector<double> data;

  Tensor() = default;
  explicit Tensor(llvm::ArrayRef<int64_t> shape, double fill = 0.0)
      : shape(shape.begin(), shape.end()),
        data(static_cast<size_t>(numElementsOf(shape)), fill) {}

  Tensor(std::initializer_list<int64_t> shape, double fill = 0.0)
      : Tensor(llvm::ArrayRef<int64_t>(shape), fill) {}

  static int64_t numElementsOf(llvm::ArrayRef<int64_t> shape) {
    int64_t count = 1;
    for (int64_t size : shape)
      count *= size;
    return count;
  }
  int64_t getNumElements() const { return numElementsOf(shape); }

  /// The element count of `shape`, or nullopt when a size is negative or
  /// the count overflows int64.
  static std::optional<int64_t> checkedNumElements(llvm::ArrayRef<int64_t> shape);

  /// Why `shape` of `elementBytes`-byte elements cannot be allocated here
  /// (a negative size, a count or byte size that overflows, more bytes than
  /// this machine's memory), or nullopt when it can. Checked before
  /// allocating, since LLVM's out-of-memory handler aborts instead of
  /// throwing.
  static std::optional<std::string>
  checkAllocation(llvm::ArrayRef<int64_t> shape, size_t elementBytes);
  int64_t getRank() const { return shape.size(); }

  /// Row-major strides, in elements.
  llvm::SmallVector<int64_t> getStrides() const {
    llvm::SmallVector<int64_t> strides(shape.size(), 1);
    for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
      strides[i] = strides[i + 1] * shape[i + 1];
    return strides;
  }

  /// "[2, 4, 17, 64]"
  std::string getShapeString() const;

  /// A scalar argument (a runtime extent) travels as a 0-d tensor holding
  /// an integer: its value, or nullopt when this is not such a tensor (a
  /// rank, a fraction, or a value fp64 does not hold exactly).
  static Tensor ofScalar(int64_t value) {
    return Tensor(llvm::ArrayRef<int64_t>{}, static_cast<double>(value));
  }
  std::optional<int64_t> getScalarInteger() const;
};

} // namespace mlir::cascade

#endif // CASCADE_SUPPORT_TENSOR_H
