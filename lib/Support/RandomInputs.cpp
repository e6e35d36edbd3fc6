//===- RandomInputs.cpp - Seeded, portable random tensors -----------------===//

#include "cascade/Support/RandomInputs.h"

#include <cmath>

using namespace mlir::cascade;

namespace {
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1].
  double uniform() { return (static_cast<double>(next() >> 11) + 1.0) * 0x1p-53; }
};
} // namespace

Tensor mlir::cascade::makeRandomTensor(llvm::ArrayRef<int64_t> shape,
                                       uint64_t seed, unsigned argument,
                                       NpyDType dtype) {
  Tensor tensor(shape);
  SplitMix64 rng{seed * 0x100000001b3ULL + argument * 0x9e3779b97f4a7c15ULL};
  const double twoPi = 6.283185307179586;
  for (size_t i = 0; i < tensor.data.size(); i += 2) {
    double radius = std::sqrt(-2.0 * std::log(rng.uniform()));
    double angle = twoPi * rng.uniform();
    tensor.data[i] = radius * std::cos(angle);
    if (i + 1 < tensor.data.size())
      tensor.data[i + 1] = radius * std::sin(angle);
  }
  for (double &value : tensor.data) {
    if (dtype == NpyDType::Float32)
      value = static_cast<float>(value);
    else if (dtype == NpyDType::Float16)
      value = halfToDouble(doubleToHalf(value));
  }
  return tensor;
}

Tensor mlir::cascade::makeRandomSegmentIds(llvm::ArrayRef<int64_t> shape,
                                           uint64_t seed, unsigned argument,
                                           int64_t segments) {
  Tensor tensor(shape);
  if (shape.empty() || tensor.data.empty())
    return tensor;
  SplitMix64 rng{seed * 0x100000001b3ULL + argument * 0x9e3779b97f4a7c15ULL};
  int64_t length = shape.back();
  // A boundary after each position with probability segments / length, so
  // that a row holds about `segments` segments whatever its length.
  double boundary =
      length > 0 ? static_cast<double>(segments) / static_cast<double>(length)
                 : 0.0;
  for (size_t row = 0; row * length < tensor.data.size(); ++row) {
    int64_t id = 0;
    for (int64_t i = 0; i < length; ++i) {
      if (i > 0 && rng.uniform() <= boundary)
        ++id;
      tensor.data[row * length + i] = static_cast<double>(id);
    }
  }
  return tensor;
}
