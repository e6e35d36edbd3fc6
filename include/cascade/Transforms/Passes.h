//===- Passes.h - Cascade's passes --------------------------------*- C++ -*-===//
//
// Declarations generated from include/cascade/Transforms/Passes.td, and the
// rewrite entry points the passes (and embedders) call.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TRANSFORMS_PASSES_H
#define CASCADE_TRANSFORMS_PASSES_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::cascade {

#define GEN_PASS_DECL
#include "cascade/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "cascade/Transforms/Passes.h.inc"

/// Sites (consumer Einsums) where a rewrite was refused, so that a driver
/// that repeats the rewrites reports each refusal once.
using RefusedSites = llvm::DenseSet<Operation *>;

/// Each applies its rewrite at the first legal site of `function` and
/// returns whether it changed anything. A site whose law does not hold gets
/// a warning naming the law and Z3's counterexample, is left unchanged and
/// is added to `refused`.
bool deferDivisionOnce(func::FuncOp function, RefusedSites &refused);
bool onlineRescaleOnce(func::FuncOp function, int64_t tileSize,
                       RefusedSites &refused);
bool reassociateOnce(func::FuncOp function,
                     const llvm::StringMap<int64_t> &assumedExtents,
                     RefusedSites &refused);

/// Distributes the `index`-th contraction (in walk order) whose operand is
/// a sum of terms over those terms (SplitSum.cpp); false with `exhausted`
/// set when there are fewer sites, false alone when the laws fail (with a
/// warning at the consumer).
bool splitSumAt(func::FuncOp function, unsigned index, bool &exhausted);
/// Merges two independent iterates over the same partitioned rank into one
/// (FuseIterates.cpp); returns whether it did.
bool fuseIteratesOnce(func::FuncOp function);

/// Parses `rank=N` entries; reports malformed ones at `loc`.
FailureOr<llvm::StringMap<int64_t>>
parseAssumedExtents(Location loc, llvm::ArrayRef<std::string> entries);

/// The extents reassociation assumes for `function`: its
/// `cascade.typical_extents` attribute (e.g. `{e = 64, f = 64}`, typical head
/// dimensions a spec declares), overridden by `rank=N` entries.
FailureOr<llvm::StringMap<int64_t>>
getAssumedExtents(func::FuncOp function, llvm::ArrayRef<std::string> entries);

/// The query rank the scheduling passes default to: the second-to-last rank
/// of the function's one result (`p` of `AV[b, h, p, f]`), or "" when there
/// is none.
std::string getDefaultQueryRank(func::FuncOp function);

} // namespace mlir::cascade

#endif // CASCADE_TRANSFORMS_PASSES_H
