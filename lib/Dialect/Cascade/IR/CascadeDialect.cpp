//===- CascadeDialect.cpp - Registration of the cascade dialect ----------===//
//
// Registers ops and attributes and holds the reduce-operator helpers.
//
//===----------------------------------------------------------------------===//

#include "cascade/Dialect/Cascade/IR/CascadeDialect.h"
#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "InfixBody.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::cascade;

#include "Cascade/CascadeDialect.cpp.inc"
#include "Cascade/CascadeEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "Cascade/CascadeAttrs.cpp.inc"

void CascadeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "Cascade/CascadeOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "Cascade/CascadeAttrs.cpp.inc"
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
