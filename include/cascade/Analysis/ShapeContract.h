//===- ShapeContract.h - The sizes a spec can be run at -----------*- C++ -*-===//
//
// A compiled kernel trusts its sizes: it reads `K[b, h floordiv (H floordiv
// HKV), m, e]` wherever the index says. The contract of a function is what
// its sizes must satisfy for every index of every operand to stay inside
// the operand at every point of every Einsum's domain, every divisor of an
// index to be positive, and the index arithmetic not to overflow 64 bits.
// `checkShapeContract` decides it for concrete sizes, before anything
// touches memory, and names the operand, the dimension, the index and the
// sizes when it fails (e.g. GQA with H = 3, HKV = 2).
//
// The domain is bounded rank by rank: 0 <= r < R, narrowed by predicate
// constraints on a single rank (`m >= 3`, `m + 5 < M`), with `m1 * T + m0`
// read as the parent rank `m` (the partition's tail keeps it below M). A
// constraint between two ranks (a causal mask) does not narrow it: a spec
// whose indices stay in bounds only because of such a mask is refused,
// with that reason in the message. Extents must already agree between
// arguments (RankEnvironment::resolveExtents).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_SHAPECONTRACT_H
#define CASCADE_ANALYSIS_SHAPECONTRACT_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::cascade {

/// Succeeds when `function` run with these argument shapes and the extents
/// they resolve to reads only inside its operands; otherwise `error` says
/// which operand, dimension and condition fail.
LogicalResult
checkShapeContract(func::FuncOp function,
                   llvm::ArrayRef<llvm::SmallVector<int64_t>> argumentShapes,
                   const llvm::StringMap<int64_t> &extents, std::string &error);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_SHAPECONTRACT_H
