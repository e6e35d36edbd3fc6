//===- CascadeDialect.cpp - Registration of the cascade dialect ----------===//
//
// Registers ops and attributes and holds the reduce-operator helpers.
//
//===----------------------------------------------------------------------===//

#include "cascade/Dialect/Cascade/IR/CascadeDialect.h"
#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "InfixBody.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::cascade;

#include "cascade/Dialect/Cascade/IR/CascadeDialect.cpp.inc"
#include "cascade/Dialect/Cascade/IR/CascadeEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "cascade/Dialect/Cascade/IR/CascadeAttrs.cpp.inc"

void CascadeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "cascade/Dialect/Cascade/IR/CascadeOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "cascade/Dialect/Cascade/IR/CascadeAttrs.cpp.inc"
      >();
}

double mlir::cascade::getReduceIdentity(ReduceKind kind) {
  switch (kind) {
  case ReduceKind::add:
    return 0.0;
  case ReduceKind::mul:
    return 1.0;
  case ReduceKind::max:
    return -std::numeric_limits<double>::infinity();
  case ReduceKind::min:
    return std::numeric_limits<double>::infinity();
  }
  llvm_unreachable("unknown reduce kind");
}

double mlir::cascade::combineReduce(ReduceKind kind, double accumulator,
                                    double value) {
  switch (kind) {
  case ReduceKind::add:
    return accumulator + value;
  case ReduceKind::mul:
    return accumulator * value;
  // NaN propagates through max/min, as arith.maximumf/minimumf do.
  case ReduceKind::max:
    return (std::isnan(accumulator) || std::isnan(value))
               ? std::numeric_limits<double>::quiet_NaN()
               : std::max(accumulator, value);
  case ReduceKind::min:
    return (std::isnan(accumulator) || std::isnan(value))
               ? std::numeric_limits<double>::quiet_NaN()
               : std::min(accumulator, value);
  }
  llvm_unreachable("unknown reduce kind");
}

bool mlir::cascade::isValidRankName(StringRef name) {
  if (name.empty() || !llvm::isLower(name.front()))
    return false;
  // Words the equation syntax gives a meaning of its own, and the functions
  // an infix body may call.
  static const char *const keywords[] = {"reduce",   "where",   "else",
                                         "map",      "init",    "floordiv",
                                         "ceildiv",  "mod",     "inf",
                                         "nan"};
  if (llvm::is_contained(keywords, name) || detail::isInfixFunctionName(name))
    return false;
  return llvm::all_of(name, [](char c) {
    return llvm::isLower(c) || llvm::isDigit(c) || c == '_';
  });
}

std::string mlir::cascade::getExtentName(StringRef rank) {
  return rank.upper();
}

Value mlir::cascade::buildReduceCombine(OpBuilder &b, Location loc,
                                        ReduceKind kind, Value accumulator,
                                        Value value) {
  switch (kind) {
  case ReduceKind::add:
    return arith::AddFOp::create(b, loc, accumulator, value);
  case ReduceKind::mul:
    return arith::MulFOp::create(b, loc, accumulator, value);
  case ReduceKind::max:
    return arith::MaximumFOp::create(b, loc, accumulator, value);
  case ReduceKind::min:
    return arith::MinimumFOp::create(b, loc, accumulator, value);
  }
  llvm_unreachable("unknown reduce kind");
}

//===----------------------------------------------------------------------===//
// TileScheduleAttr
//===----------------------------------------------------------------------===//

KeyTileLoopBounds mlir::cascade::buildKeyTileBounds(OpBuilder &b,
                                                    Location loc,
                                                    TileScheduleAttr tiles,
                                                    ValueRange dims,
                                                    ValueRange symbols,
                                                    Value steps) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  // max (lower) or min (upper) of a map's results, clamped to [0, steps].
  auto bound = [&](AffineMap map, bool isLower) {
    Value result;
    for (AffineExpr expr : map.getResults()) {
      Value v = affine::expandAffineExpr(b, loc, expr, dims, symbols);
      result = !result ? v
               : isLower
                   ? arith::MaxSIOp::create(b, loc, result, v).getResult()
                   : arith::MinSIOp::create(b, loc, result, v).getResult();
    }
    result = arith::MaxSIOp::create(b, loc, result, zero);
    return arith::MinSIOp::create(b, loc, result, steps).getResult();
  };
  KeyTileLoopBounds bounds;
  for (Attribute attr : tiles.getRanges()) {
    auto range = cast<KeyRangeAttr>(attr);
    Value lower = bound(range.getLower(), true);
    Value upper = bound(range.getUpper(), false);
    bounds.visited.push_back({lower, upper});
    bounds.full.push_back({bound(range.getFullLower(), true),
                           bound(range.getFullUpper(), false)});
    bounds.first =
        bounds.first
            ? arith::MinSIOp::create(b, loc, bounds.first, lower).getResult()
            : lower;
    bounds.last =
        bounds.last
            ? arith::MaxSIOp::create(b, loc, bounds.last, upper).getResult()
            : upper;
  }
  return bounds;
}

DataCompareClass mlir::cascade::buildDataCompareClass(
    OpBuilder &b, Location loc, ArrayRef<DataCompareAttr> compares,
    ArrayRef<std::pair<Value, Value>> ranges) {
  assert(ranges.size() == 2 * compares.size() && "an lhs and rhs per compare");
  using P = arith::CmpIPredicate;
  auto cmp = [&](P predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, predicate, x, y).getResult();
  };
  auto any = [&](Value x, Value y) {
    return arith::OrIOp::create(b, loc, x, y).getResult();
  };
  auto both = [&](Value x, Value y) {
    return arith::AndIOp::create(b, loc, x, y).getResult();
  };
  DataCompareClass result;
  result.never = arith::ConstantIntOp::create(b, loc, 0, 1);
  result.always = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (auto [i, compare] : llvm::enumerate(compares)) {
    auto [lhsLow, lhsHigh] = ranges[2 * i];
    auto [rhsLow, rhsHigh] = ranges[2 * i + 1];
    Value never, always;
    switch (compare.getKind()) {
    case CompareKind::eq:
      // Disjoint ranges; one and the same id on both sides.
      never = any(cmp(P::slt, lhsHigh, rhsLow), cmp(P::slt, rhsHigh, lhsLow));
      always = both(both(cmp(P::eq, lhsLow, lhsHigh),
                         cmp(P::eq, rhsLow, rhsHigh)),
                    cmp(P::eq, lhsLow, rhsLow));
      break;
    case CompareKind::le:
      never = cmp(P::sgt, lhsLow, rhsHigh);
      always = cmp(P::sle, lhsHigh, rhsLow);
      break;
    case CompareKind::lt:
      never = cmp(P::sge, lhsLow, rhsHigh);
      always = cmp(P::slt, lhsHigh, rhsLow);
      break;
    }
    result.never = any(result.never, never);
    result.always = both(result.always, always);
  }
  return result;
}

LogicalResult
TileScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         StringAttr query, int64_t queryTile, ArrayAttr dims,
                         ArrayAttr symbols, ArrayAttr ranges,
                         ArrayAttr data) {
  if (data) {
    if (data.empty())
      return emitError() << "#cascade.tiles: 'data' lists no comparison "
                            "(omit it instead)";
    for (Attribute attr : data)
      if (!isa<DataCompareAttr>(attr))
        return emitError() << "#cascade.tiles: 'data' must list "
                              "#cascade.compare attributes, not "
                           << attr;
  }
  if (!query || !isValidRankName(query.getValue()))
    return emitError() << "#cascade.tiles needs a valid query rank name";
  // The CPU and GPU backends keep a query tile in registers or staging
  // memory; the same limit as the pipelines' query-tile option.
  if (queryTile < 1 || queryTile > kMaxTileExtent)
    return emitError() << "#cascade.tiles: query_tile must be in [1, " << kMaxTileExtent << "], "
                          "not "
                       << queryTile;
  // The query tile index: before scheduling a synthetic "p#tile"; in the
  // scheduled form the grid rank that cuts the query rank (`p1`, checked
  // against its partition by the iterate's verifier).
  std::string tileDim = (query.getValue() + "#tile").str();
  if (dims.empty() || !isa<StringAttr>(dims[0]) ||
      (cast<StringAttr>(dims[0]).getValue() != tileDim &&
       !isValidRankName(cast<StringAttr>(dims[0]).getValue())))
    return emitError() << "#cascade.tiles: the first of dims must be \""
                       << tileDim
                       << "\" or the rank of the query tiles, the query tile "
                          "index";
  for (Attribute dim : dims.getValue().drop_front())
    if (!isa<StringAttr>(dim) ||
        !isValidRankName(cast<StringAttr>(dim).getValue()))
      return emitError() << "#cascade.tiles: dims must name ranks, not "
                         << dim;
  for (Attribute symbol : symbols)
    if (!isa<StringAttr>(symbol) ||
        !isValidRankName(cast<StringAttr>(symbol).getValue()))
      return emitError() << "#cascade.tiles: symbols must name ranks (whose "
                            "extents they stand for), not "
                         << symbol;
  if (ranges.empty())
    return emitError() << "#cascade.tiles needs at least one key range";
  for (auto [i, attr] : llvm::enumerate(ranges)) {
    auto range = dyn_cast<KeyRangeAttr>(attr);
    if (!range)
      return emitError() << "#cascade.tiles: range #" << i
                         << " is not a #cascade.key_range";
    for (AffineMap map : {range.getLower(), range.getUpper(),
                          range.getFullLower(), range.getFullUpper()})
      if (!map || map.getNumDims() != dims.size() ||
          map.getNumSymbols() != symbols.size() || map.getNumResults() == 0)
        return emitError() << "#cascade.tiles: every map of range #" << i
                           << " must take " << dims.size() << " dims and "
                           << symbols.size()
                           << " symbols and have at least one result";
  }
  return success();
}

KeyTileBounds mlir::cascade::evaluateKeyRange(KeyRangeAttr range,
                                              ArrayRef<int64_t> dims,
                                              ArrayRef<int64_t> symbols,
                                              int64_t keyTiles) {
  auto evaluate = [&](AffineMap map, bool isLower) {
    SmallVector<int64_t> values;
    MLIRContext *context = map.getContext();
    SmallVector<AffineExpr> dimValues, symbolValues;
    for (int64_t d : dims)
      dimValues.push_back(getAffineConstantExpr(d, context));
    for (int64_t s : symbols)
      symbolValues.push_back(getAffineConstantExpr(s, context));
    int64_t result = isLower ? INT64_MIN : INT64_MAX;
    for (AffineExpr expr : map.getResults()) {
      auto value = dyn_cast<AffineConstantExpr>(
          expr.replaceDimsAndSymbols(dimValues, symbolValues));
      // Every divisor is a positive constant, so the result folds.
      int64_t v = value ? value.getValue() : (isLower ? 0 : keyTiles);
      result = isLower ? std::max(result, v) : std::min(result, v);
    }
    return std::clamp<int64_t>(result, 0, keyTiles);
  };
  KeyTileBounds bounds;
  bounds.lower = evaluate(range.getLower(), true);
  bounds.upper = std::max(bounds.lower, evaluate(range.getUpper(), false));
  bounds.fullLower =
      std::clamp(evaluate(range.getFullLower(), true), bounds.lower,
                 bounds.upper);
  bounds.fullUpper = std::clamp(evaluate(range.getFullUpper(), false),
                                bounds.fullLower, bounds.upper);
  return bounds;
}

bool mlir::cascade::isCascadeFunction(FunctionOpInterface function) {
  return !function.isExternal() &&
         function->walk([](EinsumOp) { return WalkResult::interrupt(); })
             .wasInterrupted();
}

EinsumOp mlir::cascade::getRankSource(Value tensor) {
  if (auto iterate = tensor.getDefiningOp<IterateOp>()) {
    if (iterate.isStacked(tensor))
      return nullptr;
    tensor = iterate.getInits()[cast<OpResult>(tensor).getResultNumber()];
  }
  return tensor.getDefiningOp<EinsumOp>();
}

std::optional<SmallVector<std::string>>
mlir::cascade::getTensorRanks(Value tensor) {
  SmallVector<std::string> ranks;
  if (auto iterate = tensor.getDefiningOp<IterateOp>();
      iterate && iterate.isStacked(tensor)) {
    ranks.push_back(iterate.getRank().str());
    auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
    tensor = yield.getValues()[cast<OpResult>(tensor).getResultNumber()];
  }
  EinsumOp source = getRankSource(tensor);
  if (!source)
    return std::nullopt;
  for (StringRef rank : source.getOutput().getAsValueRange<StringAttr>())
    ranks.push_back(rank.str());
  return ranks;
}
