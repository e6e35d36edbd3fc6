//===- EinsumAssembly.cpp - The equation syntax of cascade.einsum ---------===//
//
// Parses and prints
//   AV[p, f] = %A[m, p] * %V[m, f] reduce(m: add) where (m <= p) else 0.0
// Ranks are bare names, extents are their upper case (`M` is the extent of
// `m`). Bodies made of float arithmetic print infix (InfixBody.h); any other
// body prints as a region after `map(...)`. Both forms round-trip.
//
//===----------------------------------------------------------------------===//

#include "AffineSyntax.h"
#include "InfixBody.h"

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IntegerSet.h"

using namespace mlir;
using namespace mlir::cascade;
using namespace mlir::cascade::detail;

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
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren, [&] {
          return infix.parseNewAccess();
        }))
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

  // where (constraint, ...) [or (constraint, ...)]*, in disjunctive normal
  // form: a `<>` inside a conjunction splits it in two.
  struct Conjunction {
    SmallVector<AffineExpr> constraints;
    SmallVector<bool> equalities;
  };
  SmallVector<Conjunction> disjuncts;
  constexpr size_t kMaxDisjuncts = 16;
  // Data comparisons: `and %D[b, m] == %D[b, p]` after the affine groups,
  // or alone after `where`. Their reads are data inputs, not body operands.
  SmallVector<OperandAccess> dataAccesses;
  SmallVector<CompareKind> dataCompares;
  InfixParser dataParser(parser, names, dataAccesses);
  auto parseDataCompare = [&]() -> ParseResult {
    if (dataParser.parseNewAccess())
      return failure();
    SMLoc loc = parser.getCurrentLocation();
    CompareKind kind;
    bool swap = false;
    if (succeeded(parser.parseOptionalLess())) {
      kind = succeeded(parser.parseOptionalEqual()) ? CompareKind::le
                                                    : CompareKind::lt;
    } else if (succeeded(parser.parseOptionalGreater())) {
      kind = succeeded(parser.parseOptionalEqual()) ? CompareKind::le
                                                    : CompareKind::lt;
      swap = true;
    } else if (succeeded(parser.parseOptionalEqual()) &&
               succeeded(parser.parseOptionalEqual())) {
      kind = CompareKind::eq;
    } else {
      return parser.emitError(loc, "expected '==', '<=', '<', '>=' or '>' "
                                   "between two integer reads");
    }
    if (dataParser.parseNewAccess())
      return failure();
    if (swap)
      std::swap(dataAccesses[dataAccesses.size() - 2], dataAccesses.back());
    dataCompares.push_back(kind);
    return success();
  };
  auto parseDataCompares = [&]() -> ParseResult {
    while (succeeded(parser.parseOptionalKeyword("and")))
      if (parseDataCompare())
        return failure();
    return success();
  };
  bool hasWhere = succeeded(parser.parseOptionalKeyword("where"));
  // A `(` after `where` opens the first affine group (consumed here to tell
  // the forms apart); anything else starts `%D[...] == %D[...] [and ...]`.
  bool hasGroups = hasWhere && succeeded(parser.parseOptionalLParen());
  if (hasWhere && !hasGroups)
    if (parseDataCompare() || parseDataCompares())
      return failure();
  if (hasGroups) {
    AffineParser affine(parser, names);
    bool firstGroup = true;
    do {
      SMLoc groupLoc = parser.getCurrentLocation();
      SmallVector<Conjunction> group(1);
      auto parseConstraint = [&]() -> ParseResult {
        AffineExpr expr;
        bool isEquality = false;
        std::optional<AffineExpr> alternative;
        if (affine.parseConstraint(expr, isEquality, alternative))
          return failure();
        size_t count = group.size();
        if (alternative) {
          SmallVector<Conjunction> copies(group);
          group.append(copies.begin(), copies.end());
        }
        for (size_t i = 0; i < group.size(); ++i) {
          group[i].constraints.push_back(i < count ? expr : *alternative);
          group[i].equalities.push_back(isEquality);
        }
        return success();
      };
      // The first group's `(` is already consumed (see above).
      if (firstGroup && succeeded(parser.parseOptionalRParen()))
        return parser.emitError(groupLoc, "a 'where' group needs at least "
                                          "one constraint (omit 'where' for "
                                          "no mask)");
      if (firstGroup) {
        if (parser.parseCommaSeparatedList(parseConstraint) ||
            parser.parseRParen())
          return failure();
      } else if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren,
                                                parseConstraint)) {
        return failure();
      }
      firstGroup = false;
      if (group.front().constraints.empty())
        return parser.emitError(groupLoc, "a 'where' group needs at least "
                                          "one constraint (omit 'where' for "
                                          "no mask)");
      disjuncts.append(group.begin(), group.end());
      if (disjuncts.size() > kMaxDisjuncts)
        return parser.emitError(groupLoc, "the predicate has more than ")
               << kMaxDisjuncts
               << " conjunctions once '<>' is expanded; split the Einsum";
    } while (succeeded(parser.parseOptionalKeyword("or")));
    if (parseDataCompares())
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
    SMLoc regionLoc = parser.getCurrentLocation();
    if (parser.parseRegion(*body, args, /*enableNameShadowing=*/false))
      return failure();
    if (!body->hasOneBlock())
      return parser.emitError(regionLoc, "the body of the map(...) form must "
                                         "be one block ending in cascade.yield");
    // Coordinates read in the region are ranks of the Einsum too.
    for (Operation &op : body->front())
      if (auto index = dyn_cast<IndexOp>(op))
        names.dim(index.getRank());
  }

  SMLoc typeLoc = parser.getCurrentLocation();
  FunctionType type;
  if (parser.parseColonType(type))
    return failure();
  if (type.getNumInputs() != accesses.size() + dataAccesses.size())
    return parser.emitError(typeLoc)
           << "expected " << accesses.size() + dataAccesses.size()
           << " operand types, one per distinct operand access and one per "
              "read of a data comparison";
  if (type.getNumResults() != 1)
    return parser.emitError(typeLoc, "expected one result type");
  ArrayRef<Type> bodyTypes = type.getInputs().take_front(accesses.size());
  ArrayRef<Type> dataTypes = type.getInputs().drop_front(accesses.size());
  for (auto [access, operandType] : llvm::zip(accesses, bodyTypes))
    if (parser.resolveOperand(access.value, operandType, result.operands))
      return failure();
  for (auto [access, operandType] : llvm::zip(dataAccesses, dataTypes)) {
    auto tensor = dyn_cast<RankedTensorType>(operandType);
    if (!tensor || !tensor.getElementType().isSignlessInteger())
      return parser.emitError(access.loc)
             << "a data comparison reads integer tensors (e.g. "
                "tensor<?x?xi32> document ids), got "
             << operandType;
    if (parser.resolveOperand(access.value, operandType, result.operands))
      return failure();
  }
  result.addAttribute("operandSegmentSizes",
                      builder.getDenseI32ArrayAttr(
                          {static_cast<int32_t>(accesses.size()),
                           static_cast<int32_t>(dataAccesses.size())}));
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

  auto makeMaps = [&](ArrayRef<OperandAccess> list) {
    SmallVector<Attribute> maps;
    for (const OperandAccess &access : list) {
      SmallVector<AffineExpr> indices;
      for (AffineExpr expr : access.indices)
        indices.push_back(
            expr.replaceDimsAndSymbols(dimReplacements, symbolReplacements));
      maps.push_back(AffineMapAttr::get(AffineMap::get(
          canonical.size(), names.symbols.size(), indices, ctx)));
    }
    return maps;
  };
  SmallVector<Attribute> maps = makeMaps(accesses);
  if (!dataCompares.empty()) {
    result.addAttribute("data_maps", builder.getArrayAttr(makeMaps(dataAccesses)));
    SmallVector<Attribute> compares;
    for (CompareKind kind : dataCompares)
      compares.push_back(DataCompareAttr::get(ctx, kind));
    result.addAttribute("data_predicate", builder.getArrayAttr(compares));
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
  if (!disjuncts.empty()) {
    SmallVector<Attribute> sets;
    for (Conjunction &conjunction : disjuncts) {
      SmallVector<AffineExpr> remapped;
      for (AffineExpr expr : conjunction.constraints)
        remapped.push_back(simplifyAffineExpr(
            expr.replaceDimsAndSymbols(dimReplacements, symbolReplacements),
            canonical.size(), names.symbols.size()));
      sets.push_back(IntegerSetAttr::get(
          IntegerSet::get(canonical.size(), names.symbols.size(), remapped,
                          conjunction.equalities)));
    }
    result.addAttribute("predicate", builder.getArrayAttr(sets));
  }
  if (fill) {
    if (!isa<FloatType>(elementType))
      return parser.emitError(typeLoc, "'else' needs a float result type");
    result.addAttribute("fill", builder.getFloatAttr(elementType, *fill));
  }

  if (!regionForm) {
    for (auto [access, operandType] : llvm::zip(accesses, bodyTypes)) {
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
    for (Type operandType : bodyTypes)
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
  for (auto [i, set] : llvm::enumerate(getDisjuncts())) {
    p << (i == 0 ? " where (" : " or (");
    IntegerSet conjunction = set;
    llvm::interleaveComma(
        llvm::seq<unsigned>(0, conjunction.getNumConstraints()), p,
        [&](unsigned c) {
          p << affine.printConstraint(
              conjunction.getConstraint(c), conjunction.isEq(c),
              conjunction.getNumDims(), conjunction.getNumSymbols());
        });
    p << ")";
  }
  for (auto [i, compare] : llvm::enumerate(getDataCompares())) {
    p << (i == 0 && !getPredicate() ? " where " : " and ");
    auto printRead = [&](unsigned j) {
      p.printOperand(getDataInputs()[j]);
      p << "[";
      llvm::interleaveComma(getDataMap(j).getResults(), p, [&](AffineExpr e) {
        p << affine.print(e);
      });
      p << "]";
    };
    printRead(2 * i);
    switch (compare.getKind()) {
    case CompareKind::eq:
      p << " == ";
      break;
    case CompareKind::le:
      p << " <= ";
      break;
    case CompareKind::lt:
      p << " < ";
      break;
    }
    printRead(2 * i + 1);
  }
  if (std::optional<Attribute> fill = getFill())
    if (auto floatAttr = dyn_cast<FloatAttr>(*fill))
      p << " else " << printLiteral(floatAttr);
  p.printOptionalAttrDictWithKeyword(
      (*this)->getAttrs(),
      {"ranks", "symbols", "output", "indexing_maps", "reductions",
       "predicate", "fill", "name", "data_maps", "data_predicate",
       "operandSegmentSizes"});
  if (!infixForm) {
    p << ' ';
    p.printRegion(getBody(), /*printEntryBlockArgs=*/true,
                  /*printBlockTerminators=*/true);
  }
  p << " : ";
  p.printFunctionalType((*this)->getOperandTypes(), (*this)->getResultTypes());
}

std::string mlir::cascade::printIndexExpr(EinsumOp einsum, AffineExpr expr) {
  return detail::AffinePrinter(einsum.getRanks(), einsum.getSymbols())
      .print(expr);
}
