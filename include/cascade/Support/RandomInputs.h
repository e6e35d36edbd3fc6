//===- RandomInputs.h - Seeded, portable random tensors -----------*- C++ -*-===//
//
// attn-run's inputs when no .npy is given. The generator (splitmix64 and a
// Box-Muller transform written out here) gives the same numbers on every
// platform and standard library, so a seed names one data set everywhere.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_SUPPORT_RANDOMINPUTS_H
#define CASCADE_SUPPORT_RANDOMINPUTS_H

#include "cascade/Support/Npy.h"

namespace mlir::cascade {

/// A tensor of standard-normal values for argument `argument` under `seed`,
/// each rounded to `dtype` so that every target reads the same numbers.
Tensor makeRandomTensor(llvm::ArrayRef<int64_t> shape, uint64_t seed,
                        unsigned argument, NpyDType dtype);

/// Segment ids for argument `argument` under `seed`: along the last
/// dimension, non-decreasing integers 0, 1, 2, ... that start a new segment
/// at random positions, about `segments` of them per row, as the document
/// ids of packed sequences are. Each row (the other dimensions) draws its
/// own boundaries.
Tensor makeRandomSegmentIds(llvm::ArrayRef<int64_t> shape, uint64_t seed,
                            unsigned argument, int64_t segments);

} // namespace mlir::cascade

#endif // CASCADE_SUPPORT_RANDOMINPUTS_H
