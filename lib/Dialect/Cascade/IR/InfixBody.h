//===- InfixBody.h - Einsum bodies written as expressions -------*- C++ -*-===//
//
// `exp(%QK[m, p] - %GM[p]) / sqrt(E)`: the infix form of an Einsum body.
// The parser builds a small expression tree (types are known only at the
// end of the op), emitted as arith/math ops; the printer proves that a body
// is such a tree before printing it infix. For EinsumAssembly.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_DIALECT_CASCADE_IR_INFIXBODY_H
#define CASCADE_LIB_DIALECT_CASCADE_IR_INFIXBODY_H

#include "AffineSyntax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"

#include <cmath>
#include <memory>

namespace mlir::cascade::detail {

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

inline constexpr InfixOperator kInfixOperators[] = {
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


inline const InfixOperator *lookupFunction(StringRef name) {
  for (const InfixOperator &op : kInfixOperators)
    if (op.precedence == 0 && name == op.spelling)
      return &op;
  return nullptr;
}

/// Whether `name` is a function of the infix syntax (`exp`, `max`, ...).
inline bool isInfixFunctionName(StringRef name) {
  return lookupFunction(name) != nullptr;
}

inline const InfixOperator *lookupSymbol(StringRef symbol) {
  for (const InfixOperator &op : kInfixOperators)
    if (op.precedence != 0 && symbol == op.spelling)
      return &op;
  return nullptr;
}

inline const InfixOperator *lookupOpName(StringRef opName) {
  for (const InfixOperator &op : kInfixOperators)
    if (opName == op.opName)
      return &op;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Parsing
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
  /// Operators on the longest path to a leaf (bounded: see
  /// kMaxParseNesting and EinsumOp's verifier).
  unsigned height = 0;
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
      if (failed(checkHeight(*result)))
        return failure();
    }
  }

  /// Parses one access `%X[...]`, merging repeats of the same access into
  /// one operand. Used by the map(...) form too.
  /// Parses `%X[i, ...]` as a new access, never merged with an earlier one
  /// (the operands of the map(...) form, the reads of a data comparison).
  ParseResult parseNewAccess() {
    SMLoc loc = parser.getCurrentLocation();
    OpAsmParser::UnresolvedOperand value;
    unsigned index;
    return failure(parser.parseOperand(value) ||
                   parseOperandAccess(value, loc, index,
                                      /*mergeRepeats=*/false));
  }

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
    node->height = lhs->height + 1;
    node->children.push_back(std::move(lhs));
    if (rhs) {
      node->height = std::max(node->height, rhs->height + 1);
      node->children.push_back(std::move(rhs));
    }
    return node;
  }

  /// A body deeper than the verifier allows is refused while parsing, before
  /// anything recurses over it.
  ParseResult checkHeight(const ExprNode &node) {
    if (node.height <= kMaxBodyDepth)
      return success();
    return parser.emitError(node.loc, "Einsum body more than ")
           << kMaxBodyDepth
           << " operations deep; split it into several Einsums";
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
      if (failed(checkHeight(*result)))
        return failure();
    }
  }

  ParseResult parseUnary(std::unique_ptr<ExprNode> &result) {
    SMLoc loc = parser.getCurrentLocation();
    NestingGuard guard(nesting);
    if (nesting > kMaxParseNesting)
      return parser.emitError(loc, "Einsum body nested more than ")
             << kMaxParseNesting << " levels deep";
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
    node->height = result->height + 1;
    node->children.push_back(std::move(result));
    result = std::move(node);
    return checkHeight(*result);
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
        result->height = std::max(result->height, arg->height + 1);
        result->children.push_back(std::move(arg));
      }
      if (failed(checkHeight(*result)))
        return failure();
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
  unsigned nesting = 0;
};

/// Emits the ops of an infix body into `block`, in post-order.
inline Value emitExpr(OpBuilder &builder, Location loc, const ExprNode &node,
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
// Printing
//===----------------------------------------------------------------------===//

inline std::string printLiteral(FloatAttr attr) {
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

} // namespace mlir::cascade::detail

#endif // CASCADE_LIB_DIALECT_CASCADE_IR_INFIXBODY_H
