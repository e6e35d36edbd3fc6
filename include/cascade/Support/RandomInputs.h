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

} // namespace mlir::cascade

#endif // CASCADE_SUPPORT_RANDOMINPUTS_H
