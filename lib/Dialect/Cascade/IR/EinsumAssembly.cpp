//===- EinsumAssembly.cpp - The equation syntax of cascade.einsum ---------===//
//
// Parses and prints
//   [p, f] = %A[m, p] * %V[m, f] reduce(m: add) where (m <= p) else 0.0
// Ranks are bare names, extents are their upper case (`M` is the extent of
// `m`). Bodies made of float arithmetic print infix; any other body prints
// as a region after `map(...)`. Both forms round-trip.
//
//===----------------------------------------------------------------------===//

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IntegerSet.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <memory>

using namespace mlir;
using namespace mlir::cascade;

namespace {

//===----------------------------------------------------------------------===//
// The scalar operators an infix body may use, shared by parser and printer.
//===----------------------------------------------------------------------===//

struct InfixOperator {
  /// Spelling: a symbol for binary operators, a function name otherwise.
  const char *spelling;
  const char *opName;
  unsigned arity;
  /// Binding strength of symbolic binary operators; 0 for function calls.
  int precedence;
};

constexpr InfixOperator kInfixOperators[] = {
    {"+", "arith.addf", 2, 1},      {"-", "arith.subf", 2, 1},
    {"*", "arith.mulf", 2, 2},      {"/", "arith.divf", 2, 2},
    {"max", "arith.maximumf", 2, 0}, {"min", "arith.minimumf", 2, 0},
    {"pow", "math.powf", 2, 0},     {"exp", "math.exp", 1, 0},
    {"exp2", "math.exp2", 1, 0},    {"expm1", "math.expm1", 1, 0},
    {"log", "math.log", 1, 0},      {"log2", "math.log2", 1, 0},
    {"log1p", "math.log1p", 1, 0},  {"sqrt", "math.sqrt", 1, 0},
    {"rsqrt", "math.rsqrt", 1, 0},  {"tanh", "math.tanh", 1, 0},
    {"abs", "math.absf", 1, 0},     {"erf", "math.erf", 1, 0},
    {"sin", "math.sin", 1, 0},      {"cos", "math.cos", 1, 0},
};

constexpr int kNegPrecedence = 3;
constexpr int kPrimaryPrecedence = 4;

const InfixOperator *lookupFunction(StringRef name) {
  for (const InfixOperator &op : kInfixOperators)
    if (op.precedence == 0 && name == op.spelling)
      return &op;
  return nullptr;
}

const InfixOperator *lookupSymbol(StringRef symbol) {
  for (const InfixOperator &op : kInfixOperators)
    if (op.precedence != 0 && symbol == op.spelling)
      return &op;
  return nullptr;
}

const InfixOperator *lookupOpName(StringRef opName) {
  for (const InfixOperator &op : kInfixOperators)
    if (opName == op.opName)
      return &op;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Rank names <-> affine dims and symbols while parsing.
//===----------------------------------------------------------------------===//

/// Names seen while parsing, numbered provisionally by first appearance;
/// `canonicalize` renumbers them (outputs, reduced, others) at the end.
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
  /// `expr == 0`.
  ParseResult parseConstraint(AffineExpr &expr, bool &isEquality) {
    AffineExpr lhs, rhs;
    if (parseSum(lhs))
      return failure();
    SMLoc loc = parser.getCurrentLocation();
    enum { LE, LT, GE, GT, EQ } relation;
    if (succeeded(parser.parseOptionalLess()))
      relation = succeeded(parser.parseOptionalEqual()) ? LE : LT;
    else if (succeeded(parser.parseOptionalGreater()))
      relation = succeeded(parser.parseOptionalEqual()) ? GE : GT;
    else if (succeeded(parser.parseOptionalEqual()) &&
             succeeded(parser.parseOptionalEqual()))
      relation = EQ;
    else
      return parser.emitError(loc, "expected '<=', '<', '>=', '>' or '=='");
    if (parseSum(rhs))
      return failure();
    isEquality = relation == EQ;
    switch (relation) {
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
};

//===----------------------------------------------------------------------===//
// Infix body: parsed into a small tree, emitted as ops once types are known.
//===----------------------------------------------------------------------===//

struct ExprNode {
  enum class Kind { Literal, Operand, Coordinate, Extent, Operator };
  Kind kind;
  double literal = 0.0;
  unsigned operand = 0;
  std::string rank;
  const InfixOperator *op = nullptr;
  SmallVector<std::unique_ptr<ExprNode>, 2> children;
  SMLoc loc;
};

/// An operand access `%X[i, j]` as it appears in the text.
struct OperandAccess {
  OpAsmParser::UnresolvedOperand value;
  SmallVector<AffineExpr> indices;
  SMLoc loc;
};

class InfixParser {
public:
  InfixParser(OpAsmParser &parser, NameTable &names,
              SmallVector<OperandAccess> &operands)
      : parser(parser), names(names), affine(parser, names),
        operands(operands) {}

  ParseResult parseExpr(std::unique_ptr<ExprNode> &result) {
    if (parseTerm(result))
      return failure();
    while (true) {
      const InfixOperator *op = nullptr;
      SMLoc loc = parser.getCurrentLocation();
      if (succeeded(parser.parseOptionalPlus()))
        op = lookupSymbol("+");
      else if (succeeded(parser.parseOptionalMinus()))
        op = lookupSymbol("-");
      else
        return success();
      std::unique_ptr<ExprNode> rhs;
      if (parseTerm(rhs))
        return failure();
      result = makeOperator(op, loc, std::move(result), std::move(rhs));
    }
  }

  /// Parses one access `%X[...]`, merging repeats of the same access into
  /// one operand. Used by the map(...) form too.
  ParseResult parseOperandAccess(OpAsmParser::UnresolvedOperand value,
                                 SMLoc loc, unsigned &index,
                                 bool mergeRepeats) {
    OperandAccess access{value, {}, loc};
    auto parseIndex = [&]() -> ParseResult {
      AffineExpr expr;
      if (affine.parseSum(expr))
        return failure();
      access.indices.push_back(expr);
      return success();
    };
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                       parseIndex))
      return failure();
    if (mergeRepeats) {
      for (auto [i, existing] : llvm::enumerate(operands)) {
        if (existing.value.name == value.name &&
            existing.value.number == value.number &&
            existing.indices == access.indices) {
          index = i;
          return success();
        }
      }
    }
    operands.push_back(std::move(access));
    index = operands.size() - 1;
    return success();
  }

private:
  std::unique_ptr<ExprNode> makeOperator(const InfixOperator *op, SMLoc loc,
                                         std::unique_ptr<ExprNode> lhs,
                                         std::unique_ptr<ExprNode> rhs) {
    auto node = std::make_unique<ExprNode>();
    node->kind = ExprNode::Kind::Operator;
    node->op = op;
    node->loc = loc;
    node->children.push_back(std::move(lhs));
    if (rhs)
      node->children.push_back(std::move(rhs));
    return node;
  }

  ParseResult parseTerm(std::unique_ptr<ExprNode> &result) {
    if (parseUnary(result))
      return failure();
    while (true) {
      const InfixOperator *op = nullptr;
      SMLoc loc = parser.getCurrentLocation();
      if (succeeded(parser.parseOptionalStar()))
        op = lookupSymbol("*");
      else if (succeeded(parser.parseOptionalSlash()))
        op = lookupSymbol("/");
      else
        return success();
      std::unique_ptr<ExprNode> rhs;
      if (parseUnary(rhs))
        return failure();
      result = makeOperator(op, loc, std::move(result), std::move(rhs));
    }
  }

  ParseResult parseUnary(std::unique_ptr<ExprNode> &result) {
    SMLoc loc = parser.getCurrentLocation();
    if (failed(parser.parseOptionalMinus()))
      return parsePrimary(result);
    // `-2.0` is a literal; `-(2.0)` and `-x` negate.
    if (parseUnary(result))
      return failure();
    if (result->kind == ExprNode::Kind::Literal && !result->op &&
        result->loc.getPointer() == loc.getPointer() + 1) {
      result->literal = -result->literal;
      result->loc = loc;
      return success();
    }
    auto node = std::make_unique<ExprNode>();
    node->kind = ExprNode::Kind::Operator;
    node->op = nullptr; // negation
    node->loc = loc;
    node->children.push_back(std::move(result));
    result = std::move(node);
    return success();
  }

  ParseResult parsePrimary(std::unique_ptr<ExprNode> &result) {
    SMLoc loc = parser.getCurrentLocation();
    result = std::make_unique<ExprNode>();
    result->loc = loc;
    if (succeeded(parser.parseOptionalLParen())) {
      if (parseExpr(result) || parser.parseRParen())
        return failure();
      return success();
    }
    OpAsmParser::UnresolvedOperand value;
    OptionalParseResult hasOperand = parser.parseOptionalOperand(value);
    if (hasOperand.has_value()) {
      if (failed(*hasOperand))
        return failure();
      result->kind = ExprNode::Kind::Operand;
      return parseOperandAccess(value, loc, result->operand,
                                /*mergeRepeats=*/true);
    }
    StringRef name;
    if (succeeded(parser.parseOptionalKeyword(&name)))
      return parseName(name, loc, result);
    int64_t integer;
    OptionalParseResult hasInteger = parser.parseOptionalInteger(integer);
    result->kind = ExprNode::Kind::Literal;
    if (hasInteger.has_value()) {
      result->literal = static_cast<double>(integer);
      return *hasInteger;
    }
    return parser.parseFloat(result->literal);
  }

  ParseResult parseName(StringRef name, SMLoc loc,
                        std::unique_ptr<ExprNode> &result) {
    if (name == "inf" || name == "nan") {
      result->kind = ExprNode::Kind::Literal;
      result->literal = name == "inf" ? INFINITY : NAN;
      return success();
    }
    if (succeeded(parser.parseOptionalLParen())) {
      const InfixOperator *fn = lookupFunction(name);
      if (!fn)
        return parser.emitError(loc, "unknown function '")
               << name << "' in an Einsum body; use the map(...) form with "
               << "a region for other operations";
      result->kind = ExprNode::Kind::Operator;
      result->op = fn;
      for (unsigned i = 0; i < fn->arity; ++i) {
        std::unique_ptr<ExprNode> arg;
        if ((i > 0 && parser.parseComma()) || parseExpr(arg))
          return failure();
        result->children.push_back(std::move(arg));
      }
      return parser.parseRParen();
    }
    if (llvm::isUpper(name.front())) {
      std::string rank = name.lower();
      if (!isValidRankName(rank) || getExtentName(rank) != name)
        return parser.emitError(loc, "'")
               << name << "' is not the extent of a valid rank name";
      result->kind = ExprNode::Kind::Extent;
      result->rank = rank;
      return success();
    }
    if (!isValidRankName(name))
      return parser.emitError(loc, "'") << name << "' is not a valid rank name";
    result->kind = ExprNode::Kind::Coordinate;
    result->rank = name.str();
    names.dim(name);
    return success();
  }

  OpAsmParser &parser;
  NameTable &names;
  AffineParser affine;
  SmallVector<OperandAccess> &operands;
};

/// Emits the ops of an infix body into `block`, in post-order.
Value emitExpr(OpBuilder &builder, Location loc, const ExprNode &node,
               Block &block, Type elementType) {
  switch (node.kind) {
  case ExprNode::Kind::Literal:
    return arith::ConstantOp::create(
        builder, loc, elementType, builder.getFloatAttr(elementType, node.literal));
  case ExprNode::Kind::Operand:
    return block.getArgument(node.operand);
  case ExprNode::Kind::Coordinate:
    return IndexOp::create(builder, loc, elementType, node.rank);
  case ExprNode::Kind::Extent:
    return ExtentOp::create(builder, loc, elementType, node.rank);
  case ExprNode::Kind::Operator: {
    SmallVector<Value, 2> operands;
    for (const auto &child : node.children)
      operands.push_back(emitExpr(builder, loc, *child, block, elementType));
    OperationState state(loc, node.op ? node.op->opName : "arith.negf");
    state.addOperands(operands);
    state.addTypes(elementType);
    return builder.create(state)->getResult(0);
  }
  }
  llvm_unreachable("unknown expression kind");
}

//===----------------------------------------------------------------------===//
// Printing helpers
//===----------------------------------------------------------------------===//

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

std::string printLiteral(FloatAttr attr) {
  APFloat value = attr.getValue();
  if (value.isNaN())
    return "nan";
  if (value.isInfinity())
    return value.isNegative() ? "-inf" : "inf";
  SmallString<32> text;
  value.toString(text);
  std::string result = text.str().str();
  // Keep the token a float literal: `2` -> `2.0`, `1E+10` -> `1.0E+10`.
  size_t exponent = result.find_first_of("eE");
  if (result.find('.') == std::string::npos)
    result.insert(exponent == std::string::npos ? result.size() : exponent,
                  ".0");
  return result;
}

/// Prints an Einsum body infix when it is a tree of infix operators over
/// the body arguments, in the op order and operand order the parser would
/// rebuild; otherwise reports that the region form is needed.
class InfixPrinter {
public:
  InfixPrinter(EinsumOp op, OpAsmPrinter &printer, const AffinePrinter &affine)
      : op(op), printer(printer), affine(affine),
        elementType(
            cast<RankedTensorType>(op.getResult().getType()).getElementType()) {}

  bool canPrint() {
    Block &block = op.getBodyBlock();
    auto yield = dyn_cast<YieldOp>(block.getTerminator());
    if (!yield || yield.getValues().size() != 1)
      return false;
    // Repeated accesses are merged by the parser, so each (value, map) pair
    // must be a distinct operand.
    for (unsigned i = 0; i < op.getInputs().size(); ++i)
      for (unsigned j = 0; j < i; ++j)
        if (op.getInputs()[i] == op.getInputs()[j] &&
            op.getIndexingMaps()[i] == op.getIndexingMaps()[j])
          return false;
    if (!visit(yield.getValues()[0]))
      return false;
    if (firstUses.size() != block.getNumArguments())
      return false;
    for (auto [i, arg] : llvm::enumerate(firstUses))
      if (arg != i)
        return false;
    SmallVector<Operation *> bodyOps;
    for (Operation &inner : block.without_terminator())
      bodyOps.push_back(&inner);
    return bodyOps == postOrder;
  }

  std::string print(Value value, int minPrecedence) {
    if (auto arg = dyn_cast<BlockArgument>(value))
      return printAccess(arg.getArgNumber());
    Operation *def = value.getDefiningOp();
    if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
      std::string text = printLiteral(cast<FloatAttr>(constant.getValue()));
      // A negative literal is a unary minus to the reader; under a negation
      // any literal keeps parens so that it does not fold into one.
      bool parens = (text.front() == '-' && minPrecedence > 1) ||
                    minPrecedence > kPrimaryPrecedence;
      return parens ? "(" + text + ")" : text;
    }
    if (auto index = dyn_cast<IndexOp>(def))
      return index.getRank().str();
    if (auto extent = dyn_cast<ExtentOp>(def))
      return getExtentName(extent.getRank());
    if (isa<arith::NegFOp>(def)) {
      Operation *child = def->getOperand(0).getDefiningOp();
      // `-2.0` would reparse as a literal, so a negated literal keeps parens.
      int childPrecedence = child && isa<arith::ConstantOp>(child)
                                ? kPrimaryPrecedence + 1
                                : kNegPrecedence;
      std::string text = "-" + print(def->getOperand(0), childPrecedence);
      return kNegPrecedence < minPrecedence ? "(" + text + ")" : text;
    }
    const InfixOperator *infix = lookupOpName(def->getName().getStringRef());
    if (infix->precedence == 0) {
      std::string text = std::string(infix->spelling) + "(";
      for (auto [i, operand] : llvm::enumerate(def->getOperands()))
        text += (i ? ", " : "") + print(operand, 0);
      return text + ")";
    }
    std::string text = print(def->getOperand(0), infix->precedence) + " " +
                       infix->spelling + " " +
                       print(def->getOperand(1), infix->precedence + 1);
    return infix->precedence < minPrecedence ? "(" + text + ")" : text;
  }

  /// `%X[i, j]` for operand `operand`, with the SSA name the printer uses.
  std::string printAccess(unsigned operand) {
    std::string text;
    llvm::raw_string_ostream os(text);
    printer.printOperand(op.getInputs()[operand], os);
    AffineMap map = cast<AffineMapAttr>(op.getIndexingMaps()[operand]).getValue();
    os << "[";
    llvm::interleaveComma(map.getResults(), os,
                          [&](AffineExpr expr) { os << affine.print(expr); });
    os << "]";
    return text;
  }

private:
  bool visit(Value value) {
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      if (!llvm::is_contained(firstUses, arg.getArgNumber()))
        firstUses.push_back(arg.getArgNumber());
      return arg.getType() == elementType;
    }
    Operation *def = value.getDefiningOp();
    if (!def || def->getBlock() != &op.getBodyBlock() || !value.hasOneUse() ||
        value.getType() != elementType || !isInfixOp(def))
      return false;
    for (Value operand : def->getOperands())
      if (!visit(operand))
        return false;
    postOrder.push_back(def);
    return true;
  }

  bool isInfixOp(Operation *def) {
    if (auto fastMath = dyn_cast<arith::ArithFastMathInterface>(def))
      if (fastMath.getFastMathFlagsAttr() &&
          fastMath.getFastMathFlagsAttr().getValue() !=
              arith::FastMathFlags::none)
        return false;
    if (auto constant = dyn_cast<arith::ConstantOp>(def))
      return isa<FloatAttr>(constant.getValue());
    if (isa<IndexOp, ExtentOp, arith::NegFOp>(def))
      return def->getDiscardableAttrs().empty();
    const InfixOperator *infix = lookupOpName(def->getName().getStringRef());
    return infix && def->getNumOperands() == infix->arity &&
           def->getDiscardableAttrs().empty();
  }

  EinsumOp op;
  OpAsmPrinter &printer;
  const AffinePrinter &affine;
  Type elementType;
  SmallVector<unsigned> firstUses;
  SmallVector<Operation *> postOrder;
};

} // namespace

//===----------------------------------------------------------------------===//
// EinsumOp::parse
//===----------------------------------------------------------------------===//

ParseResult EinsumOp::parse(OpAsmParser &parser, OperationState &result) {
  MLIRContext *ctx = parser.getContext();
  Builder &builder = parser.getBuilder();
  NameTable names;
  SmallVector<std::string> outputRanks;

  // NAME? [ranks] =
  StringRef tensorName;
  if (succeeded(parser.parseOptionalKeyword(&tensorName)))
    result.addAttribute("name", parser.getBuilder().getStringAttr(tensorName));
  auto parseOutputRank = [&]() -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    StringRef name;
    if (parser.parseKeyword(&name))
      return failure();
    if (!isValidRankName(name))
      return parser.emitError(loc, "'") << name << "' is not a valid rank name";
    if (llvm::is_contained(outputRanks, name))
      return parser.emitError(loc, "rank '")
             << name << "' appears twice in the output";
    outputRanks.push_back(name.str());
    names.dim(name);
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                     parseOutputRank) ||
      parser.parseEqual())
    return failure();

  // Right-hand side: map(...) with a region later, or an infix expression.
  SmallVector<OperandAccess> accesses;
  InfixParser infix(parser, names, accesses);
  std::unique_ptr<ExprNode> expression;
  bool regionForm = succeeded(parser.parseOptionalKeyword("map"));
  if (regionForm) {
    auto parseAccess = [&]() -> ParseResult {
      SMLoc loc = parser.getCurrentLocation();
      OpAsmParser::UnresolvedOperand value;
      unsigned index;
      return failure(parser.parseOperand(value) ||
                     infix.parseOperandAccess(value, loc, index,
                                              /*mergeRepeats=*/false));
    };
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren,
                                       parseAccess))
      return failure();
  } else if (infix.parseExpr(expression)) {
    return failure();
  }

  // reduce(r: kind, ...)
  SmallVector<std::pair<std::string, ReduceKind>> reductions;
  if (succeeded(parser.parseOptionalKeyword("reduce"))) {
    auto parseReduction = [&]() -> ParseResult {
      SMLoc loc = parser.getCurrentLocation();
      StringRef rank, kindName;
      if (parser.parseKeyword(&rank) || parser.parseColon())
        return failure();
      SMLoc kindLoc = parser.getCurrentLocation();
      if (parser.parseKeyword(&kindName))
        return failure();
      if (!isValidRankName(rank))
        return parser.emitError(loc, "'") << rank << "' is not a valid rank name";
      std::optional<ReduceKind> kind = symbolizeReduceKind(kindName);
      if (!kind)
        return parser.emitError(kindLoc, "unknown reduce operator '")
               << kindName << "' (expected add, mul, max or min)";
      reductions.push_back({rank.str(), *kind});
      return success();
    };
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren,
                                       parseReduction))
      return failure();
  }

  // where (constraint, ...)
  SmallVector<AffineExpr> constraints;
  SmallVector<bool> equalities;
  if (succeeded(parser.parseOptionalKeyword("where"))) {
    AffineParser affine(parser, names);
    auto parseConstraint = [&]() -> ParseResult {
      AffineExpr expr;
      bool isEquality;
      if (affine.parseConstraint(expr, isEquality))
        return failure();
      constraints.push_back(expr);
      equalities.push_back(isEquality);
      return success();
    };
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren,
                                       parseConstraint))
      return failure();
  }

  // else <float>
  std::optional<double> fill;
  if (succeeded(parser.parseOptionalKeyword("else"))) {
    double value;
    bool negative = succeeded(parser.parseOptionalMinus());
    StringRef word;
    if (succeeded(parser.parseOptionalKeyword(&word))) {
      if (word != "inf" && word != "nan")
        return parser.emitError(parser.getCurrentLocation(),
                                "expected a float after 'else'");
      value = word == "inf" ? INFINITY : NAN;
    } else {
      int64_t integer;
      OptionalParseResult hasInteger = parser.parseOptionalInteger(integer);
      if (hasInteger.has_value()) {
        if (failed(*hasInteger))
          return failure();
        value = static_cast<double>(integer);
      } else if (parser.parseFloat(value)) {
        return failure();
      }
    }
    fill = negative ? -value : value;
  }

  // `attributes {...}`: a bare `{` would be the region of the map(...) form.
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  Region *body = result.addRegion();
  if (regionForm) {
    SmallVector<OpAsmParser::Argument> args;
    if (parser.parseRegion(*body, args, /*enableNameShadowing=*/false))
      return failure();
    // Coordinates read in the region are ranks of the Einsum too.
    for (Operation &op : body->front())
      if (auto index = dyn_cast<IndexOp>(op))
        names.dim(index.getRank());
  }

  SMLoc typeLoc = parser.getCurrentLocation();
  FunctionType type;
  if (parser.parseColonType(type))
    return failure();
  if (type.getNumInputs() != accesses.size())
    return parser.emitError(typeLoc)
           << "expected " << accesses.size()
           << " operand types, one per distinct operand access";
  if (type.getNumResults() != 1)
    return parser.emitError(typeLoc, "expected one result type");
  for (auto [access, operandType] : llvm::zip(accesses, type.getInputs()))
    if (parser.resolveOperand(access.value, operandType, result.operands))
      return failure();
  result.addTypes(type.getResults());
  auto resultType = dyn_cast<RankedTensorType>(type.getResult(0));
  if (!resultType)
    return parser.emitError(typeLoc, "the result must be a ranked tensor");
  Type elementType = resultType.getElementType();

  // Canonical rank order: outputs, reduced ranks, then the rest.
  SmallVector<std::string> canonical(outputRanks.begin(), outputRanks.end());
  for (auto &[rank, kind] : reductions) {
    names.dim(rank);
    if (!llvm::is_contained(canonical, rank))
      canonical.push_back(rank);
  }
  for (const std::string &rank : names.dims)
    if (!llvm::is_contained(canonical, rank))
      canonical.push_back(rank);
  SmallVector<AffineExpr> dimReplacements;
  for (const std::string &rank : names.dims)
    dimReplacements.push_back(getAffineDimExpr(
        llvm::find(canonical, rank) - canonical.begin(), ctx));
  SmallVector<AffineExpr> symbolReplacements;
  for (unsigned i = 0; i < names.symbols.size(); ++i)
    symbolReplacements.push_back(getAffineSymbolExpr(i, ctx));

  SmallVector<Attribute> maps;
  for (OperandAccess &access : accesses) {
    SmallVector<AffineExpr> indices;
    for (AffineExpr expr : access.indices)
      indices.push_back(
          expr.replaceDimsAndSymbols(dimReplacements, symbolReplacements));
    maps.push_back(AffineMapAttr::get(AffineMap::get(
        canonical.size(), names.symbols.size(), indices, ctx)));
  }
  SmallVector<StringRef> canonicalRefs(canonical.begin(), canonical.end());
  SmallVector<StringRef> symbolRefs(names.symbols.begin(), names.symbols.end());
  SmallVector<StringRef> outputRefs(outputRanks.begin(), outputRanks.end());
  result.addAttribute("ranks", builder.getStrArrayAttr(canonicalRefs));
  result.addAttribute("symbols", builder.getStrArrayAttr(symbolRefs));
  result.addAttribute("output", builder.getStrArrayAttr(outputRefs));
  result.addAttribute("indexing_maps", builder.getArrayAttr(maps));
  SmallVector<Attribute> reductionAttrs;
  for (auto &[rank, kind] : reductions)
    reductionAttrs.push_back(
        ReductionAttr::get(ctx, builder.getStringAttr(rank), kind));
  result.addAttribute("reductions", builder.getArrayAttr(reductionAttrs));
  if (!constraints.empty()) {
    SmallVector<AffineExpr> remapped;
    for (AffineExpr expr : constraints)
      remapped.push_back(simplifyAffineExpr(
          expr.replaceDimsAndSymbols(dimReplacements, symbolReplacements),
          canonical.size(), names.symbols.size()));
    result.addAttribute(
        "predicate",
        IntegerSetAttr::get(IntegerSet::get(canonical.size(),
                                            names.symbols.size(), remapped,
                                            equalities)));
  }
  if (fill) {
    if (!isa<FloatType>(elementType))
      return parser.emitError(typeLoc, "'else' needs a float result type");
    result.addAttribute("fill", builder.getFloatAttr(elementType, *fill));
  }

  if (!regionForm) {
    for (auto [access, operandType] : llvm::zip(accesses, type.getInputs())) {
      auto tensor = dyn_cast<RankedTensorType>(operandType);
      if (!tensor || tensor.getElementType() != elementType)
        return parser.emitError(access.loc)
               << "an infix body needs operands of the result's element type "
               << elementType << "; use the map(...) form with a region";
    }
    if (!isa<FloatType>(elementType))
      return parser.emitError(typeLoc, "an infix body needs a float result");
    Block *block = new Block();
    body->push_back(block);
    for (Type operandType : type.getInputs())
      block->addArgument(cast<RankedTensorType>(operandType).getElementType(),
                         result.location);
    OpBuilder bodyBuilder(ctx);
    bodyBuilder.setInsertionPointToStart(block);
    Value value = emitExpr(bodyBuilder, result.location, *expression, *block,
                           elementType);
    YieldOp::create(bodyBuilder, result.location, value);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// EinsumOp::print
//===----------------------------------------------------------------------===//

void EinsumOp::print(OpAsmPrinter &p) {
  AffinePrinter affine(getRanks(), getSymbols());
  p << ' ';
  if (std::optional<StringRef> name = getName())
    p << *name;
  p << "[";
  llvm::interleaveComma(getOutput().getAsValueRange<StringAttr>(), p);
  p << "] = ";
  InfixPrinter infix(*this, p, affine);
  bool infixForm = infix.canPrint();
  if (infixForm) {
    p << infix.print(
        cast<YieldOp>(getBodyBlock().getTerminator()).getValues()[0], 0);
  } else {
    p << "map(";
    llvm::interleaveComma(llvm::seq<unsigned>(0, getInputs().size()), p,
                          [&](unsigned i) { p << infix.printAccess(i); });
    p << ")";
  }
  if (!getReductions().empty()) {
    p << " reduce(";
    llvm::interleaveComma(getReductions(), p, [&](Attribute attr) {
      auto reduction = cast<ReductionAttr>(attr);
      p << reduction.getRank().getValue() << ": "
        << stringifyReduceKind(reduction.getKind());
    });
    p << ")";
  }
  if (std::optional<IntegerSet> predicate = getPredicate()) {
    p << " where (";
    llvm::interleaveComma(llvm::seq<unsigned>(0, predicate->getNumConstraints()),
                          p, [&](unsigned i) {
                            p << affine.printConstraint(
                                predicate->getConstraint(i),
                                predicate->isEq(i), predicate->getNumDims(),
                                predicate->getNumSymbols());
                          });
    p << ")";
  }
  if (std::optional<Attribute> fill = getFill())
    if (auto floatAttr = dyn_cast<FloatAttr>(*fill))
      p << " else " << printLiteral(floatAttr);
  p.printOptionalAttrDictWithKeyword((*this)->getAttrs(),
                          {"ranks", "symbols", "output", "indexing_maps",
                           "reductions", "predicate", "fill", "name"});
  if (!infixForm) {
    p << ' ';
    p.printRegion(getBody(), /*printEntryBlockArgs=*/true,
                  /*printBlockTerminators=*/true);
  }
  p << " : ";
  p.printFunctionalType(getInputs().getTypes(), (*this)->getResultTypes());
}
