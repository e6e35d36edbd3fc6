//===- Npy.h - Reading and writing NumPy .npy files ---------------*- C++ -*-===//
//
// attn-run's input and output format: .npy version 1-3, C order, little
// endian float16, float32 or float64.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_SUPPORT_NPY_H
#define CASCADE_SUPPORT_NPY_H

#include "cascade/Support/Tensor.h"

#include "llvm/Support/Error.h"

namespace mlir::cascade {

/// Integer arrays (document ids of a data-dependent mask) are held exactly
/// in the fp64 tensor up to 2^53.
enum class NpyDType { Float16, Float32, Float64, Int32, Int64 };

/// "float16", "float32", "float64", "int32", "int64".
llvm::StringRef getNpyDTypeName(NpyDType dtype);

struct NpyArray {
  Tensor tensor;
  NpyDType dtype;
};

/// Reads `path`; every error message names the file and what is wrong.
llvm::Expected<NpyArray> readNpy(llvm::StringRef path);

/// Parses .npy bytes already in memory (`name` is used in messages).
llvm::Expected<NpyArray> parseNpy(llvm::StringRef bytes, llvm::StringRef name);

/// Writes `tensor` to `path`, rounding to `dtype`.
llvm::Error writeNpy(llvm::StringRef path, const Tensor &tensor,
                     NpyDType dtype);

/// IEEE binary16 <-> double, round to nearest even.
double halfToDouble(uint16_t bits);
uint16_t doubleToHalf(double value);

} // namespace mlir::cascade

#endif // CASCADE_SUPPORT_NPY_H
