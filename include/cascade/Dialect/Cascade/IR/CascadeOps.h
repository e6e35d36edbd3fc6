//===- CascadeOps.h - Ops and attributes of the cascade dialect ---*- C++ -*-===//
//
// Declares the ops, enums and attributes generated from
// include/cascade/Dialect/Cascade/IR/CascadeOps.td, plus the reduce-operator helpers every
// consumer of a reduction needs (identity, combine).
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_DIALECT_CASCADE_IR_CASCADEOPS_H
#define CASCADE_DIALECT_CASCADE_IR_CASCADEOPS_H

#include "cascade/Dialect/Cascade/IR/CascadeDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/IntegerSet.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "cascade/Dialect/Cascade/IR/CascadeEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "cascade/Dialect/Cascade/IR/CascadeAttrs.h.inc"

namespace mlir::cascade {
class RankEnvironment;
} // namespace mlir::cascade

#define GET_OP_CLASSES
#include "cascade/Dialect/Cascade/IR/CascadeOps.h.inc"

namespace mlir::cascade {

/// The identity of a reduce operator: 0 for add, 1 for mul, -inf for max,
/// +inf for min.
double getReduceIdentity(ReduceKind kind);
/// `accumulator (op) value` for the reduction operator `kind`, on floats or
/// vectors of floats (max/min propagate NaN, like the interpreter).
Value buildReduceCombine(OpBuilder &builder, Location loc, ReduceKind kind,
                         Value accumulator, Value value);

/// The key-tile bounds a `#cascade.tiles` schedule gives one query tile, as
/// index values: per range, the tiles visited ([lower, upper): the largest
/// lower and the smallest upper result of its maps) and those run without
/// masks (the full bounds), each clamped to [0, steps); and the loop's
/// extent, from the lowest lower to the highest upper bound (ranges of a
/// union may overlap and come in any order). `dims` and `symbols` are the
/// values of the schedule's dims (the query tile index first) and symbols.
/// Both backends' key loops are built from it.
struct KeyTileLoopBounds {
  SmallVector<std::pair<Value, Value>> visited, full;
  Value first, last;
};
KeyTileLoopBounds buildKeyTileBounds(OpBuilder &builder, Location loc,
                                     TileScheduleAttr tiles, ValueRange dims,
                                     ValueRange symbols, Value steps);

/// What the ranges [min, max] of the two sides of data comparisons over a
/// (query tile, key tile) pair say about them, as i1 values: `never` when
/// some comparison holds for no pair of ids in its ranges (the pair is
/// skipped), `always` when every comparison holds for every pair (the pair
/// needs no mask). `ranges` holds each comparison's lhs and rhs range, in
/// the order of `compares`; the bounds are signless integers of one type,
/// compared as signed. The rule docs/Schedule.md states and the interpreter
/// executes (classifyByData); both backends' run-time tile classes are
/// built from it.
struct DataCompareClass {
  Value never, always;
};
DataCompareClass
buildDataCompareClass(OpBuilder &builder, Location loc,
                      ArrayRef<DataCompareAttr> compares,
                      ArrayRef<std::pair<Value, Value>> ranges);

/// Folds `value` into `accumulator` with the reduce operator.
double combineReduce(ReduceKind kind, double accumulator, double value);

/// Whether `name` is a valid rank name: a lower-case letter followed by
/// lower-case letters, digits or underscores. Upper case is reserved for
/// extents (`M` is the extent of `m`).
bool isValidRankName(llvm::StringRef name);

/// Evaluates the maps of a tile schedule's `range` (#cascade.tiles) for one query tile: the half-open visited
/// and full ranges of key tiles, clamped to [0, keyTiles). `dims` and
/// `symbols` are in the order of the schedule's `dims` and `symbols`.
struct KeyTileBounds {
  int64_t lower = 0, upper = 0, fullLower = 0, fullUpper = 0;
};
KeyTileBounds evaluateKeyRange(KeyRangeAttr range, ArrayRef<int64_t> dims,
                               ArrayRef<int64_t> symbols, int64_t keyTiles);

/// The largest tile (query or key rows) and compile-time tile extent (head
/// dimension) any pass, attribute or target accepts: products of them size
/// a work item's buffers, and this keeps those far from overflow (the
/// buffers' actual size is bounded again by the schedule plan).
constexpr int64_t kMaxTileExtent = 4096;

/// Whether `function` has a body holding a cascade (an Einsum anywhere in
/// it). Passes over every function skip the others: the `<f>_check` and
/// `<f>_work_items` a CPU lowering adds beside a cascade.
bool isCascadeFunction(FunctionOpInterface function);

/// The Einsum whose output ranks `tensor` has: its producer, or for a
/// result of a cascade.iterate the producer of its initial value; null when
/// neither is an Einsum.
/// For a stacked result of an iterate it is null (see getTensorRanks).
EinsumOp getRankSource(Value tensor);

/// The ranks of `tensor`'s dimensions: its rank source's output ranks, or
/// for a stacked iterate result the iterated rank followed by the stacked
/// value's ranks; none when no Einsum names them.
std::optional<SmallVector<std::string>> getTensorRanks(Value tensor);

/// The deepest an Einsum body may be: operations on its longest def-use
/// chain. Parsers, printers, the interpreter and the backends walk bodies
/// recursively; the verifier keeps that recursion bounded.
constexpr unsigned kMaxBodyDepth = 512;

/// The name an expression uses for the extent of `rank` (its upper case).
std::string getExtentName(llvm::StringRef rank);

/// `expr` (over `einsum`'s ranks and symbols) as the equation syntax writes
/// it: `h floordiv (H floordiv HKV)`.
std::string printIndexExpr(EinsumOp einsum, AffineExpr expr);

/// arith.cmpi over any integer model whose `<`, `==`, ... give the truth
/// value (the interpreter's int64_t, Z3's terms). Unsigned predicates
/// compare as signed: exact for the non-negative coordinates and extents
/// that bodies compare.
template <typename T>
auto compareIntegers(arith::CmpIPredicate predicate, const T &a, const T &b)
    -> decltype(a == b) {
  using P = arith::CmpIPredicate;
  switch (predicate) {
  case P::eq:
    return a == b;
  case P::ne:
    return a != b;
  case P::slt:
  case P::ult:
    return a < b;
  case P::sle:
  case P::ule:
    return a <= b;
  case P::sgt:
  case P::ugt:
    return a > b;
  case P::sge:
  case P::uge:
    return a >= b;
  }
  llvm_unreachable("unknown integer comparison");
}

} // namespace mlir::cascade

#endif // CASCADE_DIALECT_CASCADE_IR_CASCADEOPS_H
