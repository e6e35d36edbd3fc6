//===- AffineSyntax.h - Affine expressions over rank names ------*- C++ -*-===//
//
// Index expressions and predicates are written with rank names for dims and
// upper-case extents for symbols (`m1 * 64 + m0`, `m <= p + M - P`). This
// parses them into AffineExprs and prints them back, for EinsumAssembly.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_DIALECT_CASCADE_IR_AFFINESYNTAX_H
#define CASCADE_LIB_DIALECT_CASCADE_IR_AFFINESYNTAX_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/OpImplementation.h"

#include <string>

namespace mlir::cascade::detail {

/// How deeply the text parsers recurse (parentheses, unary minus, function
/// calls) and how deep an Einsum body may be: recursive parsing, printing
/// and lowering of a body stay far inside any thread's stack. The verifier
/// enforces the body depth for IR built by any means (EinsumOp).
constexpr unsigned kMaxParseNesting = 256;

/// Binding strengths shared by the affine and the infix body printers.
constexpr int kNegPrecedence = 3;
constexpr int kPrimaryPrecedence = 4;

/// Counts one level of recursion for as long as it lives.
struct NestingGuard {
  explicit NestingGuard(unsigned &depth) : depth(depth) { ++depth; }
  ~NestingGuard() { --depth; }
  unsigned &depth;
};

/// Names seen while parsing, numbered provisionally by first appearance;
/// EinsumOp::parse renumbers them (outputs, reduced, others) at the end.
struct NameTable {
  SmallVector<std::string> dims;
  SmallVector<std::string> symbols;

  unsigned dim(StringRef name) { return lookupOrAdd(dims, name); }
  unsigned symbol(StringRef name) { return lookupOrAdd(symbols, name); }

  static unsigned lookupOrAdd(SmallVector<std::string> &names,
                              StringRef name) {
    for (auto [i, existing] : llvm::enumerate(names))
      if (existing == name)
        return i;
    names.push_back(name.str());
    return names.size() - 1;
  }
};

/// Parses a (semi-)affine expression over rank names (dims) and extents
/// (upper-case names, symbols).
class AffineParser {
public:
  AffineParser(OpAsmParser &parser, NameTable &names)
      : parser(parser), names(names), ctx(parser.getContext()) {}

  ParseResult parseSum(AffineExpr &result) {
    if (parseProduct(result))
      return failure();
    while (true) {
      AffineExpr rhs;
      if (succeeded(parser.parseOptionalPlus())) {
        if (parseProduct(rhs))
          return failure();
        result = result + rhs;
      } else if (succeeded(parser.parseOptionalMinus())) {
        if (parseProduct(rhs))
          return failure();
        result = result - rhs;
      } else {
        return success();
      }
    }
  }

  /// `lhs (<= | >= | == | < | >) rhs` as a constraint `expr >= 0` or
  /// `expr == 0`; `lhs <> rhs` (not equal: MLIR's lexer has no `!=`) as the
  /// alternatives `expr >= 0` or `*alternative >= 0`.
  ParseResult parseConstraint(AffineExpr &expr, bool &isEquality,
                              std::optional<AffineExpr> &alternative) {
    AffineExpr lhs, rhs;
    if (parseSum(lhs))
      return failure();
    SMLoc loc = parser.getCurrentLocation();
    enum { LE, LT, GE, GT, EQ, NE } relation;
    if (succeeded(parser.parseOptionalLess()))
      relation = succeeded(parser.parseOptionalEqual())     ? LE
                 : succeeded(parser.parseOptionalGreater()) ? NE
                                                            : LT;
    else if (succeeded(parser.parseOptionalGreater()))
      relation = succeeded(parser.parseOptionalEqual()) ? GE : GT;
    else if (succeeded(parser.parseOptionalEqual()) &&
             succeeded(parser.parseOptionalEqual()))
      relation = EQ;
    else
      return parser.emitError(
          loc, "expected '<=', '<', '>=', '>', '==' or '<>' (not equal)");
    if (parseSum(rhs))
      return failure();
    alternative.reset();
    isEquality = relation == EQ;
    switch (relation) {
    case NE:
      expr = rhs - lhs - 1;
      alternative = lhs - rhs - 1;
      break;
    case LE:
      expr = rhs - lhs;
      break;
    case LT:
      expr = rhs - lhs - 1;
      break;
    case GE:
      expr = lhs - rhs;
      break;
    case GT:
      expr = lhs - rhs - 1;
      break;
    case EQ:
      expr = lhs - rhs;
      break;
    }
    return success();
  }

private:
  ParseResult parseProduct(AffineExpr &result) {
    if (parseUnary(result))
      return failure();
    while (true) {
      SMLoc loc = parser.getCurrentLocation();
      AffineExprKind kind;
      if (succeeded(parser.parseOptionalStar()))
        kind = AffineExprKind::Mul;
      else if (succeeded(parser.parseOptionalKeyword("floordiv")))
        kind = AffineExprKind::FloorDiv;
      else if (succeeded(parser.parseOptionalKeyword("ceildiv")))
        kind = AffineExprKind::CeilDiv;
      else if (succeeded(parser.parseOptionalKeyword("mod")))
        kind = AffineExprKind::Mod;
      else
        return success();
      AffineExpr rhs;
      if (parseUnary(rhs))
        return failure();
      bool rhsOk = rhs.isSymbolicOrConstant();
      if (kind == AffineExprKind::Mul && !rhsOk && !result.isSymbolicOrConstant())
        return parser.emitError(loc, "cannot multiply two ranks: index "
                                     "expressions are affine in the ranks");
      if (kind != AffineExprKind::Mul && !rhsOk)
        return parser.emitError(loc, "the divisor must be a constant or an "
                                     "extent, not a rank");
      if (auto divisor = dyn_cast<AffineConstantExpr>(rhs);
          divisor && kind != AffineExprKind::Mul && divisor.getValue() < 1)
        return parser.emitError(loc, "the divisor must be positive");
      result = getAffineBinaryOpExpr(kind, result, rhs);
    }
  }

  ParseResult parseUnary(AffineExpr &result) {
    NestingGuard guard(nesting);
    if (nesting > kMaxParseNesting)
      return parser.emitError(parser.getCurrentLocation(),
                              "index expression nested more than ")
             << kMaxParseNesting << " levels deep";
    if (succeeded(parser.parseOptionalMinus())) {
      if (parseUnary(result))
        return failure();
      result = -result;
      return success();
    }
    return parsePrimary(result);
  }

  ParseResult parsePrimary(AffineExpr &result) {
    SMLoc loc = parser.getCurrentLocation();
    if (succeeded(parser.parseOptionalLParen()))
      return failure(parseSum(result) || parser.parseRParen());
    int64_t constant;
    OptionalParseResult integer = parser.parseOptionalInteger(constant);
    if (integer.has_value()) {
      if (failed(*integer))
        return failure();
      result = getAffineConstantExpr(constant, ctx);
      return success();
    }
    StringRef name;
    if (parser.parseOptionalKeyword(&name))
      return parser.emitError(loc, "expected a rank, an extent, an integer "
                                   "or '('");
    if (llvm::isUpper(name.front())) {
      std::string rank = name.lower();
      if (!isValidRankName(rank) || getExtentName(rank) != name)
        return parser.emitError(loc, "'")
               << name << "' is not the extent of a valid rank name";
      result = getAffineSymbolExpr(names.symbol(rank), ctx);
      return success();
    }
    if (!isValidRankName(name))
      return parser.emitError(loc, "'") << name << "' is not a valid rank name";
    result = getAffineDimExpr(names.dim(name), ctx);
    return success();
  }

  OpAsmParser &parser;
  NameTable &names;
  MLIRContext *ctx;
  unsigned nesting = 0;
};


/// Prints an affine expression with rank names for dims and extents for
/// symbols.
class AffinePrinter {
public:
  AffinePrinter(ArrayAttr dims, ArrayAttr symbols)
      : dims(dims), symbols(symbols) {}

  std::string print(AffineExpr expr, int minPrecedence = 0) const {
    std::string text;
    int precedence = kPrimaryPrecedence;
    switch (expr.getKind()) {
    case AffineExprKind::DimId:
      text = cast<StringAttr>(dims[cast<AffineDimExpr>(expr).getPosition()])
                 .getValue()
                 .str();
      break;
    case AffineExprKind::SymbolId:
      text = getExtentName(
          cast<StringAttr>(symbols[cast<AffineSymbolExpr>(expr).getPosition()])
              .getValue());
      break;
    case AffineExprKind::Constant: {
      int64_t value = cast<AffineConstantExpr>(expr).getValue();
      text = std::to_string(value);
      if (value < 0)
        precedence = kNegPrecedence;
      break;
    }
    case AffineExprKind::Add: {
      auto binary = cast<AffineBinaryOpExpr>(expr);
      precedence = 1;
      AffineExpr rhs = binary.getRHS();
      std::optional<AffineExpr> negated = getNegated(rhs);
      if (negated)
        text = print(binary.getLHS(), 1) + " - " + print(*negated, 2);
      else
        text = print(binary.getLHS(), 1) + " + " + print(rhs, 2);
      break;
    }
    case AffineExprKind::Mul: {
      auto binary = cast<AffineBinaryOpExpr>(expr);
      precedence = 2;
      auto constant = dyn_cast<AffineConstantExpr>(binary.getRHS());
      if (constant && constant.getValue() == -1) {
        precedence = kNegPrecedence;
        text = "-" + print(binary.getLHS(), kNegPrecedence);
      } else {
        text = print(binary.getLHS(), 2) + " * " + print(binary.getRHS(), 3);
      }
      break;
    }
    case AffineExprKind::FloorDiv:
    case AffineExprKind::CeilDiv:
    case AffineExprKind::Mod: {
      auto binary = cast<AffineBinaryOpExpr>(expr);
      precedence = 2;
      const char *word = expr.getKind() == AffineExprKind::FloorDiv ? "floordiv"
                         : expr.getKind() == AffineExprKind::CeilDiv
                             ? "ceildiv"
                             : "mod";
      text = print(binary.getLHS(), 2) + " " + word + " " +
             print(binary.getRHS(), 3);
      break;
    }
    }
    if (precedence < minPrecedence)
      return "(" + text + ")";
    return text;
  }

  /// Prints `expr >= 0` as `negative terms <= positive terms` (and
  /// `expr == 0` as `positive terms == negative terms`) when the parser
  /// rebuilds exactly `expr` from that text; as `expr >= 0` otherwise, so
  /// that printing is stable.
  std::string printConstraint(AffineExpr expr, bool isEquality,
                              unsigned numDims, unsigned numSymbols) const {
    SmallVector<AffineExpr> positive, negative;
    collectTerms(expr, positive, negative);
    auto sum = [&](ArrayRef<AffineExpr> terms) {
      AffineExpr total = getAffineConstantExpr(0, expr.getContext());
      for (auto [i, term] : llvm::enumerate(terms))
        total = i ? total + term : term;
      return total;
    };
    auto join = [&](ArrayRef<AffineExpr> terms) {
      if (terms.empty())
        return std::string("0");
      std::string text;
      for (auto [i, term] : llvm::enumerate(terms))
        text += (i ? " + " : "") + print(term, 2);
      return text;
    };
    AffineExpr rebuilt = simplifyAffineExpr(sum(positive) - sum(negative),
                                            numDims, numSymbols);
    if (rebuilt != expr)
      return print(expr) + (isEquality ? " == 0" : " >= 0");
    if (isEquality)
      return join(positive) + " == " + join(negative);
    return join(negative) + " <= " + join(positive);
  }

private:
  /// For `x * c` with c < 0, or a negative constant, the positive version.
  static std::optional<AffineExpr> getNegated(AffineExpr expr) {
    if (auto constant = dyn_cast<AffineConstantExpr>(expr))
      if (constant.getValue() < 0)
        return getAffineConstantExpr(-constant.getValue(), expr.getContext());
    if (expr.getKind() == AffineExprKind::Mul) {
      auto binary = cast<AffineBinaryOpExpr>(expr);
      if (auto constant = dyn_cast<AffineConstantExpr>(binary.getRHS()))
        if (constant.getValue() < 0)
          return constant.getValue() == -1
                     ? binary.getLHS()
                     : binary.getLHS() * (-constant.getValue());
    }
    return std::nullopt;
  }

  static void collectTerms(AffineExpr expr, SmallVectorImpl<AffineExpr> &pos,
                           SmallVectorImpl<AffineExpr> &neg) {
    if (expr.getKind() == AffineExprKind::Add) {
      auto binary = cast<AffineBinaryOpExpr>(expr);
      collectTerms(binary.getLHS(), pos, neg);
      collectTerms(binary.getRHS(), pos, neg);
      return;
    }
    if (std::optional<AffineExpr> negated = getNegated(expr))
      neg.push_back(*negated);
    else
      pos.push_back(expr);
  }

  ArrayAttr dims;
  ArrayAttr symbols;
};

} // namespace mlir::cascade::detail

#endif // CASCADE_LIB_DIALECT_CASCADE_IR_AFFINESYNTAX_H
