//===- FloatClasses.h - Which special values a tensor may hold --*- C++ -*-===//
//
// Decides, for every tensor of a cascade, whether its elements may be
// finite, +inf, -inf or NaN, given that the function's arguments are finite
// (the input contract, docs/Passes.md). Sources of special values are found
// in the bodies (a select to -inf, exp of +inf, log of 0) by asking Z3 about
// the extended-real model (IeeeBodyEncoder), in reductions (a sum of +inf
// and -inf), and in empty domains (the -inf of an empty max).
//
// An empty domain's value reaches a reader only where the reader's own point
// does not prove the domain nonempty: `SN[m, p] = exp(QK - GM[p])` reads
// `GM = max_m QK` at points that have an `m`, so GM is never the -inf of an
// empty max there. `getClassesAsRead` gives the classes a reader sees.
//
// The spec is assumed never to divide by zero at a point of its domain
// (where it does, it has no value to preserve), as in the rewrites' laws.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_FLOATCLASSES_H
#define CASCADE_ANALYSIS_FLOATCLASSES_H

#include "cascade/Analysis/IeeeBodyEncoder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::cascade {

class FloatClassAnalysis {
public:
  explicit FloatClassAnalysis(func::FuncOp function);

  /// Every kind of value the tensor may hold at any of its elements.
  FloatClasses getClasses(Value tensor) const;
  /// What `reader` may see of its operand `operand` at points of its domain.
  FloatClasses getClassesAsRead(EinsumOp reader, unsigned operand) const;

private:
  struct EinsumClasses {
    FloatClasses body = kAnyFloat; ///< Where the domain is not empty.
    FloatClasses fill = 0;         ///< Where it is (0 if it never is).
    /// When not empty: the domain is empty exactly when one of these
    /// reduced ranks has extent 0 (no predicate restricts it).
    std::optional<llvm::SmallVector<std::string>> emptyWhenRankEmpty;
  };
  void visitBlock(Block &block);
  void visitEinsum(EinsumOp einsum);
  FloatClasses classifyBody(EinsumOp einsum);
  /// Four Z3 queries (classifyBody caches their answer).
  FloatClasses classifyBodyByProof(EinsumOp einsum);

  llvm::DenseMap<Value, FloatClasses> values;
  llvm::DenseMap<Operation *, EinsumClasses> einsums;
};

/// Succeeds when every operand of `reader` but `skip` is finite as read;
/// otherwise warns at `reportAt` "<rewrite> refused: <what> is exact only
/// for finite values, and operand #i of '<reader>' may be ...". Rewrites
/// that reorder sums (reassociation, splitting a sum) need finite values.
/// The same check without a diagnostic: on failure `why` names the operand
/// and its classes ("operand #1 of 'A' may be {finite, -inf}").
LogicalResult checkFiniteOperands(const FloatClassAnalysis &classes,
                                  EinsumOp reader, std::optional<unsigned> skip,
                                  std::string &why);

LogicalResult requireFiniteOperands(const FloatClassAnalysis &classes,
                                    EinsumOp reader,
                                    std::optional<unsigned> skip,
                                    Operation *reportAt,
                                    llvm::StringRef rewrite,
                                    llvm::StringRef what);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_FLOATCLASSES_H
