//===- EinsumBuilder.h - Building Einsums from named ranks ---------*- C++ -*-===//
//
// The rewrites assemble new Einsums out of pieces of existing ones: operand
// indices and predicates translated between rank spaces (`m` becoming
// `m1 * 64 + m0`), and bodies inlined into each other. These helpers keep
// the rank and symbol bookkeeping of EinsumOp's attributes in one place.
// They are public: a program that builds a cascade in C++ (rather than
// parsing text) uses EinsumParts too (examples/embedding).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TRANSFORMS_EINSUMBUILDER_H
#define CASCADE_TRANSFORMS_EINSUMBUILDER_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

#include <map>
#include <optional>
#include <string>

namespace mlir::cascade {

/// An Einsum under construction, with ranks and extent symbols by name.
/// Affine expressions refer to positions in `ranks` and `symbols`; asking
/// for a name adds it.
class EinsumParts {
public:
  explicit EinsumParts(MLIRContext *context) : context(context) {}

  AffineExpr dim(llvm::StringRef rank);
  AffineExpr extent(llvm::StringRef rank);

  /// `expr` from the space of `from`, with the ranks in `substitute`
  /// replaced by the given expressions (already in this space).
  AffineExpr translate(AffineExpr expr, EinsumOp from,
                       const llvm::StringMap<AffineExpr> &substitute = {});

  /// Adds an operand read at `indices`.
  void addOperand(Value value, llvm::ArrayRef<AffineExpr> indices) {
    operands.push_back(value);
    indexExprs.emplace_back(indices.begin(), indices.end());
  }
  /// Adds operand `i` of `from`, its indices translated.
  void addOperandOf(EinsumOp from, unsigned i,
                    const llvm::StringMap<AffineExpr> &substitute = {});
  /// Conjoins the predicate of `from` (if any), translated: its
  /// disjunctions distribute over those already added, and its data
  /// comparisons (reads of integer tensors) join those already added.
  void addPredicateOf(EinsumOp from,
                      const llvm::StringMap<AffineExpr> &substitute = {});
  /// Conjoins the data comparison `kind(lhs[lhsIndices], rhs[rhsIndices])`
  /// (a no-op if the same comparison is already there).
  void addDataCompare(CompareKind kind, Value lhs,
                      llvm::ArrayRef<AffineExpr> lhsIndices, Value rhs,
                      llvm::ArrayRef<AffineExpr> rhsIndices);
  /// Conjoins `expr >= 0` (or `== 0`) to every conjunction.
  void addConstraint(AffineExpr expr, bool isEquality) {
    for (Conjunction &conjunction : disjuncts) {
      conjunction.constraints.push_back(expr);
      conjunction.equalities.push_back(isEquality);
    }
  }

  /// One conjunction of a predicate being built; the predicate holds where
  /// one of its conjunctions does.
  struct Conjunction {
    llvm::SmallVector<AffineExpr> constraints;
    llvm::SmallVector<bool> equalities;
  };
  /// Conjoins the disjunction of `alternatives` (distributing it).
  void addDisjunction(llvm::ArrayRef<Conjunction> alternatives);

  std::string name;
  llvm::SmallVector<std::string> output;
  llvm::SmallVector<std::pair<std::string, ReduceKind>> reductions;
  std::optional<double> fill;
  Type elementType;
  /// Output ranks whose extent is known at compile time (a tile of the
  /// scheduled form: a partition's inner rank, a head dimension): their
  /// dimensions of the result type are static; the others dynamic.
  llvm::StringMap<int64_t> staticExtents;

  /// Creates the op. `body` receives the block arguments (one per operand)
  /// and returns the value to yield.
  EinsumOp
  build(OpBuilder &builder, Location loc,
        llvm::function_ref<Value(OpBuilder &, Location, ValueRange)> body);

  /// For replacing an operand after addOperandOf (same indices).
  llvm::SmallVectorImpl<Value> &getOperandsMutable() { return operands; }

private:
  MLIRContext *context;
  llvm::SmallVector<std::string> ranks;
  llvm::SmallVector<std::string> symbols;
  llvm::SmallVector<Value> operands;
  llvm::SmallVector<llvm::SmallVector<AffineExpr>> indexExprs;
  /// Data comparison i reads dataOperands[2 i] and [2 i + 1].
  llvm::SmallVector<Value> dataOperands;
  llvm::SmallVector<llvm::SmallVector<AffineExpr>> dataIndexExprs;
  llvm::SmallVector<CompareKind> dataCompares;
  /// Starts as one empty conjunction: no constraint, always true.
  llvm::SmallVector<Conjunction> disjuncts = {Conjunction()};
};

/// Clones the body of `from` at the builder's insertion point with its block
/// arguments bound to `arguments`, and returns the value it yields.
/// `rewriteIndex`, when given, may replace a cloned cascade.index (it
/// returns the replacement, or null to keep the op).
Value inlineBody(
    OpBuilder &builder, EinsumOp from, ValueRange arguments,
    llvm::function_ref<Value(OpBuilder &, IndexOp)> rewriteIndex = nullptr);

/// Creates `cascade.partition rank = outer * tile + inner`.
PartitionOp createPartition(OpBuilder &builder, Location loc,
                            llvm::StringRef rank, llvm::StringRef outer,
                            int64_t tile, llvm::StringRef inner);

/// Creates `cascade.iterate outer init(inits)` with an empty body block (one
/// argument per init); the caller fills it and adds the yield. `stacked`
/// are the types of the stacked results (yielded after the carried values).
IterateOp createIterate(OpBuilder &builder, Location loc, llvm::StringRef outer,
                        ValueRange inits, TypeRange stacked = {});

/// For inlineBody's `rewriteIndex` after partitioning `rank`: a cloned
/// `cascade.index rank` becomes `outer * tile + inner` in the index's type;
/// other indices are kept (null).
Value rewritePartitionedIndex(OpBuilder &builder, IndexOp index,
                              llvm::StringRef rank, llvm::StringRef outer,
                              int64_t tile, llvm::StringRef inner);

/// A name for a new Einsum, unused by the other Einsums of `scope`'s
/// function: `base`, or `base` followed by a number.
std::string getUniqueEinsumName(Operation *scope, llvm::StringRef base);

/// A rank name no binding of `scope`'s function uses yet.
std::string getUniqueRankName(Operation *scope, llvm::StringRef base);

/// Adds to `into` the constraints under which the domain of `einsum` (its
/// predicate, with 0 <= r < R for every rank in `eliminated`) has a point
/// for the remaining coordinates: the projection of the domain, by
/// Fourier-Motzkin elimination (exact for the unit coefficients masks use),
/// one conjunction of the predicate at a time (a union projects to the
/// union of the projections).
/// Constraints that every point satisfies anyway are dropped. The extents
/// of the eliminated ranks may be 0, so an unmasked Einsum gets `R >= 1` for
/// each eliminated rank R: a reduction over no keys keeps its `else`. Fails
/// when the projection cannot be written as an integer set.
LogicalResult addProjectedDomain(EinsumOp einsum,
                                 llvm::ArrayRef<std::string> eliminated,
                                 EinsumParts &into);

/// `sum_s c[s] * S + constant`, S the extent of rank s (a causal offset
/// such as `M - P`).
struct SymbolicOffset {
  std::map<std::string, int64_t> coefficients;
  int64_t constant = 0;
  bool operator==(const SymbolicOffset &other) const {
    return coefficients == other.coefficients && constant == other.constant;
  }
};

/// `expr` (over `einsum`'s ranks and symbols) as coefficients of rank
/// names and a rest linear in the symbols; fails if it is not linear.
LogicalResult getLinearForm(EinsumOp einsum, AffineExpr expr,
                            std::map<std::string, int64_t> &ranks,
                            SymbolicOffset &rest);

/// Whether the body of `einsum` reads a rank coordinate (cascade.index).
bool bodyReadsCoordinates(EinsumOp einsum);

/// Whether `value`, inside an Einsum body, depends on no operand and no
/// coordinate: a constant of the extents (a 1/sqrt(E) scale, a factor 0.5).
bool isOperandFree(Value value);

} // namespace mlir::cascade

#endif // CASCADE_TRANSFORMS_EINSUMBUILDER_H
