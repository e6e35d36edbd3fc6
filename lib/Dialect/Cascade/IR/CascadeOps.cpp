//===- CascadeOps.cpp - Verifiers and small helpers of cascade ops --------===//
//
// Every structural rule of a cascade is checked here, each with a located
// diagnostic; the Einsum's textual syntax lives in EinsumAssembly.cpp.
//
//===----------------------------------------------------------------------===//

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::cascade;

//===----------------------------------------------------------------------===//
// custom<RankName>: a rank printed as a bare identifier.
//===----------------------------------------------------------------------===//

static ParseResult parseRankName(OpAsmParser &parser, StringAttr &rank) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef name;
  if (parser.parseKeyword(&name))
    return failure();
  if (!isValidRankName(name))
    return parser.emitError(loc, "'")
           << name
           << "' is not a valid rank name (a lower-case letter, then "
              "lower-case letters, digits or '_'; not a reserved word)";
  rank = parser.getBuilder().getStringAttr(name);
  return success();
}

static void printRankName(OpAsmPrinter &printer, Operation *, StringAttr rank) {
  printer << rank.getValue();
}

#define GET_OP_CLASSES
#include "cascade/Dialect/Cascade/IR/CascadeOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared lookups
//===----------------------------------------------------------------------===//

/// The enclosing cascade.iterate or cascade.grid that fixes `rank` for
/// `op`, or null.
static Operation *getEnclosingFixer(Operation *op, StringRef rank) {
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp()) {
    if (auto iterate = dyn_cast<IterateOp>(parent); iterate &&
                                                    iterate.getRank() == rank)
      return parent;
    if (auto grid = dyn_cast<GridOp>(parent); grid && grid.fixesRank(rank))
      return parent;
  }
  return nullptr;
}

/// Whether an enclosing cascade.iterate or cascade.grid fixes `rank`.
static bool isFixedByEnclosingIterate(Operation *op, StringRef rank) {
  return getEnclosingFixer(op, rank) != nullptr;
}

/// "cascade.iterate" or "cascade.grid", for messages about `fixer`.
static StringRef getFixerName(Operation *fixer) {
  return isa<GridOp>(fixer) ? "cascade.grid" : "cascade.iterate";
}

/// The rank environment of `op`'s function, for verifiers. Each conflict is
/// reported once, at the op it arises at (the first Einsum of a function
/// also reports the function's own argument-attribute conflicts). Returns
/// failure when `op` is at fault (with a diagnostic), and std::nullopt when
/// another op is: that op's verifier reports it, and `op` skips the checks
/// that need the environment.
static FailureOr<std::optional<RankEnvironment>>
getEnvironmentFor(Operation *op) {
  auto function = op->getParentOfType<FunctionOpInterface>();
  if (!function)
    return op->emitOpError(
        "must be inside a function: rank names are scoped to one");
  SmallVector<Operation *, 2> reportAt = {op};
  EinsumOp first;
  function.walk([&](EinsumOp einsum) {
    if (!first)
      first = einsum;
  });
  if (first && first.getOperation() == op)
    reportAt.push_back(function);
  bool reported = false;
  FailureOr<RankEnvironment> env =
      RankEnvironment::build(function, reportAt, &reported);
  if (succeeded(env))
    return std::optional<RankEnvironment>(std::move(*env));
  if (reported)
    return failure();
  return std::optional<RankEnvironment>();
}

//===----------------------------------------------------------------------===//
// EinsumOp
//===----------------------------------------------------------------------===//

void EinsumOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  // The printed SSA name follows the tensor's name: %QK = cascade.einsum QK[...].
  if (std::optional<StringRef> name = getName())
    setNameFn(getResult(), *name);
}

int64_t EinsumOp::getRankPosition(StringRef rank) {
  for (auto [i, name] : llvm::enumerate(getRanks()))
    if (cast<StringAttr>(name).getValue() == rank)
      return i;
  return -1;
}

bool EinsumOp::isReduced(StringRef rank) {
  return llvm::any_of(getReductions(), [&](Attribute attr) {
    return cast<ReductionAttr>(attr).getRank().getValue() == rank;
  });
}

SmallVector<StringRef> EinsumOp::getOuterRanks() {
  SmallVector<StringRef> outer;
  for (Attribute attr : getRanks()) {
    StringRef rank = cast<StringAttr>(attr).getValue();
    if (!isReduced(rank) &&
        !llvm::is_contained(getOutput().getAsValueRange<StringAttr>(), rank))
      outer.push_back(rank);
  }
  return outer;
}

bool EinsumOp::readsAtOwnPoint(unsigned index, ArrayRef<StringRef> ranks) {
  AffineMap map = cast<AffineMapAttr>(getIndexingMaps()[index]).getValue();
  if (map.getNumResults() != ranks.size())
    return false;
  for (auto [expr, rank] : llvm::zip(map.getResults(), ranks)) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim ||
        cast<StringAttr>(getRanks()[dim.getPosition()]).getValue() != rank)
      return false;
  }
  return true;
}

LogicalResult EinsumOp::getRankCoefficients(AffineExpr expr,
                                            llvm::StringMap<int64_t> &coefficients,
                                            AffineExpr &rest) {
  MLIRContext *context = expr.getContext();
  unsigned numDims = getRanks().size(), numSymbols = getSymbols().size();
  AffineExpr linear = getAffineConstantExpr(0, context);
  for (unsigned d = 0; d < numDims; ++d) {
    AffineExpr dim = getAffineDimExpr(d, context);
    auto step = dyn_cast<AffineConstantExpr>(simplifyAffineExpr(
        expr.replace(dim, dim + 1) - expr, numDims, numSymbols));
    if (!step)
      return failure();
    if (step.getValue() == 0)
      continue;
    coefficients[cast<StringAttr>(getRanks()[d]).getValue()] +=
        step.getValue();
    linear = linear + dim * step.getValue();
  }
  SmallVector<AffineExpr> zeros(numDims, getAffineConstantExpr(0, context));
  rest = simplifyAffineExpr(expr.replaceDims(zeros), numDims, numSymbols);
  // The steps are constant, but `expr` may still not be linear in the ranks
  // (d0 floordiv 2 steps by 0 or 1: not constant, already refused; a
  // product of ranks is not affine). The check keeps the claim exact.
  if (simplifyAffineExpr(expr - linear - rest, numDims, numSymbols) !=
      getAffineConstantExpr(0, context))
    return failure();
  return success();
}

double EinsumOp::getFillValue() {
  if (std::optional<Attribute> fill = getFill())
    if (auto floatAttr = dyn_cast<FloatAttr>(*fill))
      return floatAttr.getValueAsDouble();
  if (getReductions().empty())
    return 0.0;
  return getReduceIdentity(
      cast<ReductionAttr>(getReductions().getValue().back()).getKind());
}

SmallVector<IntegerSet> EinsumOp::getDisjuncts() {
  SmallVector<IntegerSet> disjuncts;
  if (std::optional<ArrayAttr> predicate = getPredicate())
    for (Attribute attr : *predicate)
      disjuncts.push_back(cast<IntegerSetAttr>(attr).getValue());
  return disjuncts;
}

SmallVector<DataCompareAttr> EinsumOp::getDataCompares() {
  SmallVector<DataCompareAttr> compares;
  if (std::optional<ArrayAttr> predicate = getDataPredicate())
    for (Attribute attr : *predicate)
      compares.push_back(cast<DataCompareAttr>(attr));
  return compares;
}

AffineMap EinsumOp::getDataMap(unsigned i) {
  return cast<AffineMapAttr>((*getDataMaps())[i]).getValue();
}

SmallVector<std::pair<Value, AffineMap>> EinsumOp::getReads() {
  SmallVector<std::pair<Value, AffineMap>> reads;
  ArrayAttr maps = getIndexingMaps();
  size_t dataMaps = getDataMaps() ? getDataMaps()->size() : 0;
  if (maps.size() != getInputs().size() ||
      dataMaps != getDataInputs().size())
    return reads;
  for (auto [operand, map] : llvm::zip(getInputs(), maps))
    reads.push_back({operand, cast<AffineMapAttr>(map).getValue()});
  for (auto [i, operand] : llvm::enumerate(getDataInputs()))
    reads.push_back({operand, getDataMap(i)});
  return reads;
}

/// Checks that `names` are valid, distinct rank names.
static LogicalResult verifyRankNameList(Operation *op, ArrayAttr names,
                                        StringRef what) {
  llvm::SmallDenseSet<StringRef> seen;
  for (Attribute attr : names) {
    StringRef name = cast<StringAttr>(attr).getValue();
    if (!isValidRankName(name))
      return op->emitOpError() << "'" << name << "' in " << what
                               << " is not a valid rank name";
    if (!seen.insert(name).second)
      return op->emitOpError() << "rank '" << name << "' appears twice in "
                               << what;
  }
  return success();
}

/// Multiplication, division and modulo must have a constant or an extent on
/// one side: index expressions are (semi-)affine in the ranks.
static LogicalResult verifySemiAffine(Operation *op, AffineExpr expr,
                                      StringRef what) {
  auto binary = dyn_cast<AffineBinaryOpExpr>(expr);
  if (!binary)
    return success();
  if (failed(verifySemiAffine(op, binary.getLHS(), what)) ||
      failed(verifySemiAffine(op, binary.getRHS(), what)))
    return failure();
  switch (expr.getKind()) {
  case AffineExprKind::Mul:
    if (!binary.getLHS().isSymbolicOrConstant() &&
        !binary.getRHS().isSymbolicOrConstant())
      return op->emitOpError()
             << what << " multiplies two ranks; index expressions must be "
             << "affine in the ranks";
    return success();
  case AffineExprKind::FloorDiv:
  case AffineExprKind::CeilDiv:
  case AffineExprKind::Mod:
    if (!binary.getRHS().isSymbolicOrConstant())
      return op->emitOpError()
             << what << " divides by a rank; the divisor must be a "
             << "constant or an extent";
    if (auto divisor = dyn_cast<AffineConstantExpr>(binary.getRHS());
        divisor && divisor.getValue() < 1)
      return op->emitOpError() << what << " divides by " << divisor.getValue()
                               << "; the divisor must be positive";
    return success();
  default:
    return success();
  }
}

/// Read #i of `einsum` (`operandName` #i, indexed by `mapName` #i): the map
/// has one dim per rank and one symbol per extent, one result per tensor
/// dimension, and (semi-)affine results.
static LogicalResult verifyRead(EinsumOp einsum, Value operand, AffineMap map,
                                StringRef mapName, StringRef operandName,
                                size_t i) {
  auto type = cast<RankedTensorType>(operand.getType());
  size_t numRanks = einsum.getRanks().size();
  size_t numSymbols = einsum.getSymbols().size();
  if (map.getNumDims() != numRanks || map.getNumSymbols() != numSymbols)
    return einsum.emitOpError()
           << mapName << " #" << i << " has " << map.getNumDims()
           << " dims and " << map.getNumSymbols()
           << " symbols; expected one per rank (" << numRanks
           << ") and per extent (" << numSymbols << ")";
  if (map.getNumResults() != type.getRank())
    return einsum.emitOpError()
           << operandName << " #" << i << " is indexed by "
           << map.getNumResults() << " expressions but has tensor rank "
           << type.getRank();
  for (AffineExpr expr : map.getResults())
    if (failed(verifySemiAffine(einsum, expr,
                                "the index of " + operandName.str() + " #" +
                                    std::to_string(i))))
      return failure();
  return success();
}

LogicalResult EinsumOp::verify() {
  if (std::optional<StringRef> name = getName()) {
    bool valid = !name->empty() &&
                 (llvm::isAlpha(name->front()) || name->front() == '_') &&
                 llvm::all_of(*name, [](char c) {
                   return llvm::isAlnum(c) || c == '_';
                 });
    if (!valid)
      return emitOpError() << "name '" << *name
                           << "' must be an identifier (letters, digits, '_')";
  }
  ArrayAttr ranks = getRanks();
  if (failed(verifyRankNameList(*this, ranks, "'ranks'")) ||
      failed(verifyRankNameList(*this, getSymbols(), "'symbols'")) ||
      failed(verifyRankNameList(*this, getOutput(), "the output")))
    return failure();

  auto ranksContain = [&](StringRef rank) {
    return getRankPosition(rank) >= 0;
  };
  for (StringRef rank : getOutput().getAsValueRange<StringAttr>())
    if (!ranksContain(rank))
      return emitOpError() << "output rank '" << rank
                           << "' is missing from 'ranks'";
  auto resultType = cast<RankedTensorType>(getResult().getType());
  if (resultType.getRank() != static_cast<int64_t>(getOutput().size()))
    return emitOpError() << "result has tensor rank " << resultType.getRank()
                         << " but the output names " << getOutput().size()
                         << " ranks";

  llvm::SmallDenseSet<StringRef> reduced;
  for (Attribute attr : getReductions()) {
    StringRef rank = cast<ReductionAttr>(attr).getRank().getValue();
    if (!ranksContain(rank))
      return emitOpError() << "reduced rank '" << rank
                           << "' is missing from 'ranks'";
    if (llvm::is_contained(getOutput().getAsValueRange<StringAttr>(), rank))
      return emitOpError() << "rank '" << rank
                           << "' is reduced but also appears in the output";
    if (!reduced.insert(rank).second)
      return emitOpError() << "rank '" << rank << "' is reduced twice";
  }

  for (Attribute attr : getOutput())
    if (Operation *fixer =
            getEnclosingFixer(*this, cast<StringAttr>(attr).getValue()))
      return emitOpError() << "output rank '"
                           << cast<StringAttr>(attr).getValue()
                           << "' is fixed by an enclosing "
                           << getFixerName(fixer);
  for (StringRef rank : reduced)
    if (Operation *fixer = getEnclosingFixer(*this, rank))
      return emitOpError() << "reduced rank '" << rank
                           << "' is fixed by an enclosing "
                           << getFixerName(fixer);
  for (StringRef rank : getOuterRanks())
    if (!isFixedByEnclosingIterate(*this, rank))
      return emitOpError() << "rank '" << rank
                           << "' is neither an output rank, nor reduced, nor "
                              "fixed by an enclosing cascade.iterate or "
                              "cascade.grid";

  ArrayAttr maps = getIndexingMaps();
  if (maps.size() != getInputs().size())
    return emitOpError() << "has " << getInputs().size() << " operands but "
                         << maps.size() << " indexing maps";
  for (auto [i, operand, mapAttr] : llvm::enumerate(getInputs(), maps))
    if (failed(verifyRead(*this, operand,
                          cast<AffineMapAttr>(mapAttr).getValue(),
                          "indexing map", "operand", i)))
      return failure();

  size_t dataMaps = getDataMaps() ? getDataMaps()->size() : 0;
  size_t compares = getDataCompares().size();
  if (getDataInputs().size() != dataMaps ||
      getDataInputs().size() != 2 * compares)
    return emitOpError() << "has " << getDataInputs().size()
                         << " data inputs, " << dataMaps << " data maps and "
                         << compares
                         << " data comparisons; expected two inputs and two "
                            "maps per comparison";
  if (getDataPredicate() && compares == 0)
    return emitOpError("data predicate has no comparison (omit it instead)");
  for (auto [i, operand] : llvm::enumerate(getDataInputs()))
    if (failed(verifyRead(*this, operand, getDataMap(i), "data map",
                          "data input", i)))
      return failure();
  for (unsigned i = 0; i < compares; ++i)
    if (getDataInputs()[2 * i].getType() !=
        getDataInputs()[2 * i + 1].getType())
      return emitOpError() << "data comparison #" << i
                           << " compares reads of different types "
                           << getDataInputs()[2 * i].getType() << " and "
                           << getDataInputs()[2 * i + 1].getType();

  if (std::optional<ArrayAttr> predicate = getPredicate())
    if (predicate->empty())
      return emitOpError("predicate has no conjunction (omit it instead)");
  for (IntegerSet conjunction : getDisjuncts()) {
    if (conjunction.getNumDims() != ranks.size() ||
        conjunction.getNumSymbols() != getSymbols().size())
      return emitOpError() << "predicate has " << conjunction.getNumDims()
                           << " dims and " << conjunction.getNumSymbols()
                           << " symbols; expected one per rank ("
                           << ranks.size() << ") and per extent ("
                           << getSymbols().size() << ")";
    for (AffineExpr expr : conjunction.getConstraints())
      if (failed(verifySemiAffine(*this, expr, "the predicate")))
        return failure();
  }

  if (std::optional<Attribute> fill = getFill()) {
    auto floatAttr = dyn_cast<FloatAttr>(*fill);
    if (!floatAttr || floatAttr.getType() != resultType.getElementType())
      return emitOpError() << "'else' value must be a float of the result's "
                              "element type "
                           << resultType.getElementType();
  }
  if (!isa<FloatType>(resultType.getElementType()))
    return emitOpError() << "result element type must be a float, got "
                         << resultType.getElementType();

  // Function-scoped rules: every rank has a known extent, and static sizes
  // agree with it.
  FailureOr<std::optional<RankEnvironment>> maybeEnv = getEnvironmentFor(*this);
  if (failed(maybeEnv))
    return failure();
  if (!*maybeEnv)
    return success(); // Another op's conflict; it reports it.
  RankEnvironment *env = &**maybeEnv;
  auto checkBound = [&](StringRef rank, StringRef role) -> LogicalResult {
    if (env->lookup(rank))
      return success();
    return emitOpError() << "the extent of " << role << " '" << rank
                         << "' is unknown: no function argument dimension is "
                            "indexed by it alone, no 'cascade.ranks' argument "
                            "attribute names it, and no cascade.partition "
                            "declares it";
  };
  for (StringRef rank : ranks.getAsValueRange<StringAttr>())
    if (failed(checkBound(rank, "rank")))
      return failure();
  for (StringRef rank : getSymbols().getAsValueRange<StringAttr>())
    if (failed(checkBound(rank, "rank")))
      return failure();

  auto checkStaticSize = [&](Type type, AffineExpr expr, unsigned dim,
                             const Twine &what) -> LogicalResult {
    auto tensor = cast<RankedTensorType>(type);
    auto dimExpr = dyn_cast<AffineDimExpr>(expr);
    if (!dimExpr || tensor.isDynamicDim(dim))
      return success();
    StringRef rank = cast<StringAttr>(ranks[dimExpr.getPosition()]).getValue();
    std::optional<int64_t> extent = env->getStaticExtent(rank);
    if (!extent || *extent == tensor.getDimSize(dim))
      return success();
    return emitOpError() << what << " dimension " << dim << " has size "
                         << tensor.getDimSize(dim) << " but rank '" << rank
                         << "' has extent " << *extent;
  };
  for (auto [i, read] : llvm::enumerate(getReads())) {
    std::string what =
        i < getInputs().size()
            ? "operand #" + std::to_string(i)
            : "data input #" + std::to_string(i - getInputs().size());
    for (auto [dim, expr] : llvm::enumerate(read.second.getResults()))
      if (failed(checkStaticSize(read.first.getType(), expr, dim, what)))
        return failure();
  }
  for (auto [dim, rank] :
       llvm::enumerate(getOutput().getAsValueRange<StringAttr>()))
    if (failed(checkStaticSize(
            resultType,
            getAffineDimExpr(getRankPosition(rank), getContext()), dim,
            "result")))
      return failure();

  // A partition's inner rank only means something next to its outer rank.
  SmallVector<StringRef> rankNames =
      llvm::to_vector(ranks.getAsValueRange<StringAttr>());
  for (StringRef rank : rankNames) {
    PartitionOp partition = env->getPartitionOfInner(rank);
    if (partition && !llvm::is_contained(rankNames, partition.getOuter()) &&
        !isFixedByEnclosingIterate(*this, partition.getOuter()))
      return emitOpError()
             << "rank '" << rank << "' is the inner rank of partition '"
             << partition.getRank() << " = " << partition.getOuter() << " * "
             << partition.getTile() << " + " << partition.getInner()
             << "' and needs its outer rank '" << partition.getOuter()
             << "' as a rank of this Einsum (iterated, reduced or fixed by "
                "an enclosing cascade.iterate or cascade.grid)";
  }

  // Extents read by the body must be known too.
  for (Operation &op : getBodyBlock())
    if (auto extent = dyn_cast<ExtentOp>(op))
      if (failed(checkBound(extent.getRank(), "rank")))
        return failure();
  return success();
}

LogicalResult EinsumOp::verifyRegions() {
  Block &block = getBodyBlock();
  // Depth of the body's def-use graph, in one forward walk (no recursion).
  llvm::DenseMap<Operation *, unsigned> depth;
  for (Operation &op : block) {
    unsigned d = 1;
    for (Value operand : op.getOperands())
      if (Operation *def = operand.getDefiningOp())
        d = std::max(d, depth.lookup(def) + 1);
    depth[&op] = d;
    if (d > kMaxBodyDepth)
      return op.emitOpError() << "makes the Einsum body more than "
                              << kMaxBodyDepth
                              << " operations deep; split it into several "
                                 "Einsums";
  }
  if (block.getNumArguments() != getInputs().size())
    return emitOpError() << "body has " << block.getNumArguments()
                         << " arguments but the Einsum has "
                         << getInputs().size() << " operands";
  for (auto [i, arg, operand] :
       llvm::enumerate(block.getArguments(), getInputs())) {
    Type elementType = cast<RankedTensorType>(operand.getType()).getElementType();
    if (arg.getType() != elementType)
      return emitOpError() << "body argument #" << i << " has type "
                           << arg.getType() << " but operand #" << i
                           << " has element type " << elementType;
  }
  for (Operation &op : block.without_terminator()) {
    bool allowed = isa<IndexOp, ExtentOp>(op) ||
                   isa<arith::ArithDialect, math::MathDialect>(op.getDialect());
    if (!allowed || op.getNumRegions() != 0)
      return op.emitOpError()
             << "is not allowed in an Einsum body: bodies hold scalar arith "
                "and math ops, cascade.index and cascade.extent";
    for (Type type : llvm::concat<Type>(op.getOperandTypes(),
                                        op.getResultTypes()))
      if (!type.isIntOrIndexOrFloat())
        return op.emitOpError()
               << "in an Einsum body must work on scalars, not " << type;
  }
  auto yield = dyn_cast<YieldOp>(block.getTerminator());
  if (!yield)
    return emitOpError("body must end with cascade.yield");
  Type elementType =
      cast<RankedTensorType>(getResult().getType()).getElementType();
  if (yield.getValues().size() != 1 ||
      yield.getValues()[0].getType() != elementType)
    return yield.emitOpError()
           << "must yield one value of the result's element type "
           << elementType;
  return success();
}

//===----------------------------------------------------------------------===//
// IndexOp, ExtentOp
//===----------------------------------------------------------------------===//

LogicalResult IndexOp::verify() {
  auto einsum = (*this)->getParentOfType<EinsumOp>();
  if (einsum.getRankPosition(getRank()) < 0)
    return emitOpError() << "reads rank '" << getRank()
                         << "', which is not a rank of the enclosing Einsum";
  return success();
}

LogicalResult ExtentOp::verify() {
  if (!isValidRankName(getRank()))
    return emitOpError() << "'" << getRank() << "' is not a valid rank name";
  return success();
}

//===----------------------------------------------------------------------===//
// PartitionOp
//===----------------------------------------------------------------------===//

LogicalResult PartitionOp::verify() {
  for (StringRef name : {getRank(), getOuter(), getInner()})
    if (!isValidRankName(name))
      return emitOpError() << "'" << name << "' is not a valid rank name";
  if (getRank() == getOuter() || getRank() == getInner() ||
      getOuter() == getInner())
    return emitOpError("needs three distinct rank names");
  if (!isa<FunctionOpInterface>((*this)->getParentOp()))
    return emitOpError("must be at the top level of a function: it declares "
                       "ranks for the whole function");
  return failure(failed(getEnvironmentFor(*this)));
}

//===----------------------------------------------------------------------===//
// IterateOp
//===----------------------------------------------------------------------===//

ParseResult IterateOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr rank;
  if (parseRankName(parser, rank))
    return failure();
  result.addAttribute(getRankAttrName(result.name), rank);

  SmallVector<OpAsmParser::Argument> carried;
  SmallVector<OpAsmParser::UnresolvedOperand> inits;
  if (succeeded(parser.parseOptionalKeyword("init"))) {
    auto parseOne = [&]() -> ParseResult {
      OpAsmParser::Argument arg;
      OpAsmParser::UnresolvedOperand init;
      if (parser.parseArgument(arg) || parser.parseEqual() ||
          parser.parseOperand(init))
        return failure();
      carried.push_back(arg);
      inits.push_back(init);
      return success();
    };
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren, parseOne))
      return failure();
  }
  SmallVector<Type> types;
  if (!inits.empty()) {
    SMLoc typesLoc = parser.getCurrentLocation();
    if (parser.parseColonTypeList(types))
      return failure();
    if (types.size() != inits.size())
      return parser.emitError(typesLoc)
             << "expected " << inits.size() << " types, one per carried value";
    for (auto [arg, type] : llvm::zip(carried, types))
      arg.type = type;
    if (parser.resolveOperands(inits, types, parser.getNameLoc(),
                               result.operands))
      return failure();
  }
  result.addTypes(types);
  // Stacked results: one tensor per stacked value, over the iterated rank.
  if (succeeded(parser.parseOptionalKeyword("stack"))) {
    SmallVector<Type> stacked;
    if (parser.parseTypeList(stacked))
      return failure();
    result.addTypes(stacked);
  }
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  Region *body = result.addRegion();
  if (parser.parseRegion(*body, carried))
    return failure();
  IterateOp::ensureTerminator(*body, parser.getBuilder(), result.location);
  return success();
}

void IterateOp::print(OpAsmPrinter &p) {
  p << ' ' << getRank();
  if (!getInits().empty()) {
    p << " init(";
    llvm::interleaveComma(
        llvm::zip(getBodyBlock().getArguments(), getInits()), p,
        [&](auto pair) {
          p.printRegionArgument(std::get<0>(pair), {}, /*omitType=*/true);
          p << " = " << std::get<1>(pair);
        });
    p << ") : ";
    llvm::interleaveComma(getInits().getTypes(), p);
  }
  if (getNumStacked() != 0) {
    p << " stack ";
    llvm::interleaveComma(getStackedResults().getTypes(), p);
  }
  p.printOptionalAttrDictWithKeyword((*this)->getAttrs(), {"rank"});
  p << ' ';
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false,
                /*printBlockTerminators=*/!getResults().empty());
}

/// The name of a carried value, from its initial value's tensor name with a
/// trailing "0" dropped (RM0 -> RM), as in FuseMax's RM[m1 = 0].
static std::optional<std::string> getCarriedName(Value init) {
  auto einsum = init.getDefiningOp<EinsumOp>();
  if (!einsum || !einsum.getName())
    return std::nullopt;
  StringRef name = *einsum.getName();
  if (name.size() > 1 && name.back() == '0')
    name = name.drop_back();
  return name.str();
}

void IterateOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  // Results are the final carried values: %RM for init RM0.
  for (auto [result, init] : llvm::zip(getCarriedResults(), getInits()))
    if (std::optional<std::string> name = getCarriedName(init))
      setNameFn(result, *name);
  // Stacked results after the value stacked: %RKV_steps.
  auto yield = dyn_cast<YieldOp>(getBodyBlock().getTerminator());
  if (!yield || yield.getValues().size() != getResults().size())
    return;
  for (auto [result, value] : llvm::zip(
           getStackedResults(),
           yield.getValues().drop_front(getInits().size()))) {
    auto einsum = value.getDefiningOp<EinsumOp>();
    if (einsum && einsum.getName())
      setNameFn(result, (*einsum.getName() + "_steps").str());
  }
}

void IterateOp::getAsmBlockArgumentNames(Region &region,
                                         OpAsmSetValueNameFn setNameFn) {
  // Block arguments are the current carried values, in lower case: %rm.
  for (auto [arg, init] : llvm::zip(region.getArguments(), getInits()))
    if (std::optional<std::string> name = getCarriedName(init))
      setNameFn(arg, StringRef(*name).lower());
}

LogicalResult IterateOp::verifyRegions() {
  if (!isValidRankName(getRank()))
    return emitOpError() << "'" << getRank() << "' is not a valid rank name";
  Block &block = getBodyBlock();
  if (block.getNumArguments() != getInits().size())
    return emitOpError() << "carries " << block.getNumArguments()
                         << " values but has " << getInits().size()
                         << " initial values; every carried value needs one "
                            "in init(...)";
  if (getResults().size() < getInits().size())
    return emitOpError() << "has " << getResults().size()
                         << " results but carries " << getInits().size()
                         << " values";
  for (auto [i, arg, init, result] : llvm::enumerate(
           block.getArguments(), getInits(), getCarriedResults()))
    if (arg.getType() != init.getType() || result.getType() != init.getType())
      return emitOpError() << "carried value #" << i
                           << " changes type: initial " << init.getType()
                           << ", carried " << arg.getType() << ", result "
                           << result.getType();
  auto yield = cast<YieldOp>(block.getTerminator());
  if (yield.getValues().size() != getResults().size())
    return yield.emitOpError()
           << "yields " << yield.getValues().size() << " values but the "
           << "iterate carries " << getInits().size() << " and stacks "
           << getNumStacked()
           << "; every carried value needs an initial value in init(...) "
              "and every stacked one a type after 'stack'";
  for (auto [i, value, init] :
       llvm::enumerate(yield.getValues().take_front(getInits().size()),
                       getInits()))
    if (value.getType() != init.getType())
      return yield.emitOpError() << "yields " << value.getType()
                                 << " for carried value #" << i
                                 << ", which has type " << init.getType();
  for (auto [i, value, result] :
       llvm::enumerate(yield.getValues().drop_front(getInits().size()),
                       getStackedResults())) {
    auto step = cast<RankedTensorType>(value.getType());
    auto stacked = cast<RankedTensorType>(result.getType());
    if (stacked.getRank() != step.getRank() + 1 ||
        stacked.getShape().drop_front() != step.getShape() ||
        stacked.getElementType() != step.getElementType())
      return emitOpError() << "stacked result #" << i << " has type "
                           << stacked << " but stacks the yielded " << step
                           << ": it needs the iterated rank as a new "
                              "leading dimension and the step's shape after";
    if (!value.getDefiningOp<EinsumOp>() ||
        !getBody().isAncestor(value.getParentRegion()))
      return yield.emitOpError()
             << "stacks value #" << i
             << ", which is not an Einsum of the body: a stacked value "
                "names its ranks through the Einsum that computes it";
  }
  if (getNumStacked() != 0 && getTiles())
    return emitOpError("stacks values but has a tile schedule: a schedule "
                       "skips steps, and a stacked result needs every one");
  if (isFixedByEnclosingIterate(*this, getRank()))
    return emitOpError() << "iterates rank '" << getRank()
                         << "', which an enclosing cascade.iterate already "
                            "fixes";
  auto function = (*this)->getParentOfType<FunctionOpInterface>();
  if (!function)
    return emitOpError("must be inside a function");
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (succeeded(env) && !env->lookup(getRank()))
    return emitOpError() << "iterates rank '" << getRank()
                         << "', whose extent is unknown: no function argument "
                            "or cascade.partition binds it";
  if (std::optional<TileScheduleAttr> tiles = getTiles())
    return verifyTileSchedule(*tiles, succeeded(env) ? &*env : nullptr);
  return success();
}

/// A tile schedule skips steps per query tile, so every carried tensor must
/// have one value per query row, and the maps may refer only to ranks that
/// are fixed for a work item (not to the key ranks the iterate walks).
LogicalResult IterateOp::verifyTileSchedule(TileScheduleAttr tiles,
                                            const RankEnvironment *env) {
  StringRef query = tiles.getQuery().getValue();
  if (env && !env->lookup(query))
    return emitOpError() << "#cascade.tiles names query rank '" << query
                         << "', which no argument or partition binds";
  if (tiles.getDims().empty())
    return emitOpError("#cascade.tiles needs the query tile index as its "
                       "first dim");
  // In the scheduled form the query tile is the outer rank of the query's
  // partition, fixed by the grid, and the carried tensors hold the rows of
  // one tile (the partition's inner rank).
  StringRef tileDim = cast<StringAttr>(tiles.getDims()[0]).getValue();
  StringRef rowRank = query;
  if (env) {
    if (PartitionOp partition = env->getPartitionOfOuter(tileDim)) {
      if (partition.getRank() != query ||
          static_cast<int64_t>(partition.getTile()) != tiles.getQueryTile())
        return emitOpError()
               << "#cascade.tiles uses query tiles of " << tiles.getQueryTile()
               << " rows of '" << query << "' but its tile index '" << tileDim
               << "' comes from partition '" << partition.getRank() << " = "
               << partition.getOuter() << " * " << partition.getTile() << " + "
               << partition.getInner() << "'";
      auto grid = (*this)->getParentOfType<GridOp>();
      if (!grid || !grid.fixesRank(tileDim))
        return emitOpError() << "#cascade.tiles is indexed by '" << tileDim
                             << "', which no enclosing cascade.grid fixes";
      rowRank = partition.getInner();
    } else if (tileDim != (query + "#tile").str()) {
      return emitOpError() << "#cascade.tiles: the query tile index '"
                           << tileDim << "' must be \"" << query
                           << "#tile\" or the outer rank of a partition of '"
                           << query << "' that a cascade.grid fixes";
    }
  }
  for (auto [i, init] : llvm::enumerate(getInits())) {
    auto einsum = init.getDefiningOp<EinsumOp>();
    if (!einsum ||
        !llvm::is_contained(einsum.getOutput().getAsValueRange<StringAttr>(),
                            rowRank))
      return emitOpError() << "carried value #" << i
                           << " has no rank '" << rowRank
                           << "': a tile schedule skips key tiles per query "
                              "tile, so every carried tensor must hold one "
                              "value per query row";
  }
  // Full tiles run without predicates, so a data comparison the schedule
  // does not list would be dropped on them.
  for (auto einsum : getBodyBlock().getOps<EinsumOp>()) {
    if (!einsum.hasMask())
      continue;
    ArrayAttr compares = einsum.getDataPredicate().value_or(ArrayAttr());
    if (compares != tiles.getData())
      return emitOpError()
             << "#cascade.tiles lists data comparisons "
             << (tiles.getData() ? Attribute(tiles.getData())
                                 : Attribute(StringAttr::get(getContext(),
                                                             "none")))
             << " but the masked Einsum "
             << einsum.getName().value_or("(unnamed)") << " has "
             << (compares ? Attribute(compares)
                          : Attribute(StringAttr::get(getContext(), "none")))
             << "; every masked Einsum of a classified body must carry the "
                "comparisons the schedule classifies at run time";
  }
  for (Attribute attr : llvm::concat<const Attribute>(
           tiles.getDims().getValue().drop_front(),
           tiles.getSymbols().getValue())) {
    StringRef rank = cast<StringAttr>(attr).getValue();
    if (rank == getRank())
      return emitOpError() << "#cascade.tiles bounds the key tiles by '"
                           << rank << "', the rank this iterate walks";
    if (env && !env->lookup(rank))
      return emitOpError() << "#cascade.tiles refers to rank '" << rank
                           << "', which no argument or partition binds";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// GridOp
//===----------------------------------------------------------------------===//

/// `[a, b, c]`: a list of rank names.
static ParseResult parseRankList(OpAsmParser &parser, ArrayAttr &ranks) {
  SmallVector<Attribute> names;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        StringAttr name;
        if (parseRankName(parser, name))
          return failure();
        names.push_back(name);
        return success();
      }))
    return failure();
  ranks = parser.getBuilder().getArrayAttr(names);
  return success();
}

static void printRankList(OpAsmPrinter &p, ArrayAttr ranks) {
  p << '[';
  llvm::interleaveComma(ranks.getAsValueRange<StringAttr>(), p);
  p << ']';
}

ParseResult GridOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  ArrayAttr ranks;
  if (parseRankList(parser, ranks))
    return failure();
  result.addAttribute(getRanksAttrName(result.name), ranks);

  SmallVector<NamedAttribute> extents;
  if (succeeded(parser.parseOptionalKeyword("tile_extents"))) {
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren, [&]() {
          StringAttr rank;
          int64_t extent;
          if (parseRankName(parser, rank) || parser.parseEqual() ||
              parser.parseInteger(extent))
            return failure();
          extents.push_back(
              builder.getNamedAttr(rank, builder.getI64IntegerAttr(extent)));
          return success();
        }))
      return failure();
  }
  result.addAttribute(getTileExtentsAttrName(result.name),
                      builder.getDictionaryAttr(extents));

  SmallVector<Attribute> outputs;
  if (parser.parseArrow() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren, [&]() {
        ArrayAttr ranksOfResult;
        if (parseRankList(parser, ranksOfResult))
          return failure();
        outputs.push_back(ranksOfResult);
        return success();
      }))
    return failure();
  result.addAttribute(getOutputsAttrName(result.name),
                      builder.getArrayAttr(outputs));
  SmallVector<Type> types;
  SMLoc typesLoc = parser.getCurrentLocation();
  if (parser.parseColonTypeList(types))
    return failure();
  if (types.size() != outputs.size())
    return parser.emitError(typesLoc)
           << "expected " << outputs.size() << " result types, one per "
           << "output, got " << types.size();
  result.addTypes(types);
  // Stacked results: one tensor per stacked value, over the iterated rank.
  if (succeeded(parser.parseOptionalKeyword("stack"))) {
    SmallVector<Type> stacked;
    if (parser.parseTypeList(stacked))
      return failure();
    result.addTypes(stacked);
  }
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  Region *body = result.addRegion();
  if (parser.parseRegion(*body, /*arguments=*/{}))
    return failure();
  if (body->empty())
    return parser.emitError(parser.getNameLoc(),
                            "cascade.grid needs a body ending in "
                            "cascade.yield");
  return success();
}

void GridOp::print(OpAsmPrinter &p) {
  p << ' ';
  printRankList(p, getRanks());
  if (!getTileExtents().empty()) {
    p << " tile_extents(";
    llvm::interleaveComma(getTileExtents(), p, [&](NamedAttribute entry) {
      p << entry.getName().getValue() << " = "
        << cast<IntegerAttr>(entry.getValue()).getInt();
    });
    p << ')';
  }
  p << " -> (";
  llvm::interleaveComma(getOutputs().getAsRange<ArrayAttr>(), p,
                        [&](ArrayAttr ranks) { printRankList(p, ranks); });
  p << ") : ";
  llvm::interleaveComma(getResultTypes(), p);
  p.printOptionalAttrDictWithKeyword(
      (*this)->getAttrs(), {getRanksAttrName(), getOutputsAttrName(),
                            getTileExtentsAttrName()});
  p << ' ';
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false,
                /*printBlockTerminators=*/true);
}

void GridOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  // A result is named after the tensor whose tiles it assembles.
  auto yield = dyn_cast<YieldOp>(getBodyBlock().getTerminator());
  if (!yield)
    return;
  for (auto [result, tile] : llvm::zip(getResults(), yield.getValues())) {
    // An iterate's result is named after its last update (the state RKV),
    // not after its initial value (RKV0).
    Value named = tile;
    StringRef suffix;
    if (auto iterate = tile.getDefiningOp<IterateOp>()) {
      named = cast<YieldOp>(iterate.getBodyBlock().getTerminator())
                  .getValues()[cast<OpResult>(tile).getResultNumber()];
      if (iterate.isStacked(tile))
        suffix = "_steps";
    }
    if (EinsumOp einsum = getRankSource(named))
      if (std::optional<StringRef> name = einsum.getName())
        setNameFn(result, (*name + suffix).str());
  }
}

bool GridOp::fixesRank(StringRef rank) {
  return llvm::is_contained(getRanks().getAsValueRange<StringAttr>(), rank);
}

std::optional<int64_t> GridOp::getTileExtent(StringRef rank) {
  if (auto extent = getTileExtents().getAs<IntegerAttr>(rank))
    return extent.getInt();
  return std::nullopt;
}

SmallVector<std::string> GridOp::getTileRanks(unsigned i,
                                              const RankEnvironment &env) {
  SmallVector<std::string> tileRanks;
  for (StringRef rank :
       cast<ArrayAttr>(getOutputs()[i]).getAsValueRange<StringAttr>()) {
    if (fixesRank(rank))
      continue;
    bool partitioned = false;
    for (StringRef gridRank : getRanks().getAsValueRange<StringAttr>()) {
      PartitionOp partition = env.getPartitionOfOuter(gridRank);
      if (partition && partition.getRank() == rank) {
        tileRanks.push_back(partition.getInner().str());
        partitioned = true;
      }
    }
    if (!partitioned)
      tileRanks.push_back(rank.str());
  }
  return tileRanks;
}

/// The scheduled form: every rank an Einsum inside `grid` walks is
/// tile-local. Reports the first Einsum that walks another rank, with what
/// to change.
static LogicalResult verifyTileLocal(GridOp grid, const RankEnvironment &env) {
  WalkResult walk = grid.getBody().walk([&](EinsumOp einsum) {
    SmallVector<StringRef> walked =
        llvm::to_vector(einsum.getOutput().getAsValueRange<StringAttr>());
    for (Attribute attr : einsum.getReductions())
      walked.push_back(cast<ReductionAttr>(attr).getRank().getValue());
    for (StringRef rank : walked) {
      if (env.getPartitionOfInner(rank) || grid.getTileExtent(rank))
        continue;
      einsum.emitOpError()
          << "walks rank '" << rank
          << "' inside a cascade.grid, but a work item may walk only "
             "tile-local ranks (the inner rank of a partition, or a rank "
             "with a compile-time extent in the grid's tile_extents); "
          << (einsum.isReduced(rank)
                  ? "stream it with cascade-minimize-passes (or "
                    "cascade-stream-rank) before scheduling"
                  : "add it to tile_extents or to the grid's ranks");
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

LogicalResult GridOp::verifyRegions() {
  if (failed(verifyRankNameList(*this, getRanks(), "the grid")))
    return failure();
  if (getRanks().empty())
    return emitOpError("needs at least one rank in its grid");
  if (getResults().empty())
    return emitOpError("needs at least one result: a work grid that "
                       "assembles nothing computes nothing");
  if (!isa<FunctionOpInterface>((*this)->getParentOp()))
    return emitOpError("must be at the top level of a function: the work "
                       "grid is the outermost decomposition of a cascade");
  for (NamedAttribute entry : getTileExtents()) {
    auto extent = dyn_cast<IntegerAttr>(entry.getValue());
    if (!isValidRankName(entry.getName().getValue()) || !extent ||
        extent.getInt() < 1)
      return emitOpError() << "tile_extents entry '"
                           << entry.getName().getValue()
                           << "' must name a rank and give an extent >= 1";
    if (fixesRank(entry.getName().getValue()))
      return emitOpError() << "rank '" << entry.getName().getValue()
                           << "' is both a grid rank and tile-local";
  }
  auto yield = dyn_cast<YieldOp>(getBodyBlock().getTerminator());
  if (!yield)
    return emitOpError("body must end in cascade.yield");
  if (yield.getValues().size() != getResults().size())
    return yield.emitOpError()
           << "yields " << yield.getValues().size()
           << " tiles but the grid has " << getResults().size() << " results";
  if (getOutputs().size() != getResults().size())
    return emitOpError() << "names the ranks of " << getOutputs().size()
                         << " results but has " << getResults().size();

  auto function = (*this)->getParentOfType<FunctionOpInterface>();
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return success(); // The op at fault reports it.
  for (StringRef rank : getRanks().getAsValueRange<StringAttr>())
    if (!env->lookup(rank))
      return emitOpError() << "grid rank '" << rank
                           << "' has no extent: no function argument or "
                              "cascade.partition binds it";
  for (NamedAttribute entry : getTileExtents()) {
    StringRef rank = entry.getName().getValue();
    if (!env->lookup(rank))
      return emitOpError() << "tile_extents names rank '" << rank
                           << "', which no function argument binds";
    std::optional<int64_t> known = env->getStaticExtent(rank);
    int64_t extent = cast<IntegerAttr>(entry.getValue()).getInt();
    if (known && *known != extent)
      return emitOpError() << "tile_extents gives rank '" << rank
                           << "' the extent " << extent
                           << " but the function's types give " << *known;
  }
  // A tile-local tensor's static dimension along a tile-extent rank is
  // that extent (cascade-partition-rank writes them; a hand-written grid
  // may leave them dynamic).
  WalkResult sizes = getBody().walk([&](EinsumOp einsum) {
    auto type = cast<RankedTensorType>(einsum.getResult().getType());
    for (auto [dim, rank] :
         llvm::enumerate(einsum.getOutput().getAsValueRange<StringAttr>())) {
      auto extent = dyn_cast_or_null<IntegerAttr>(getTileExtents().get(rank));
      if (!extent || type.isDynamicDim(dim) ||
          type.getDimSize(dim) == extent.getInt())
        continue;
      einsum.emitOpError()
          << "result dimension " << dim << " (rank '" << rank
          << "') has size " << type.getDimSize(dim)
          << " but the enclosing cascade.grid gives '" << rank
          << "' the tile extent " << extent.getInt();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (sizes.wasInterrupted())
    return failure();
  for (auto [i, outputsAttr, result, tile] :
       llvm::enumerate(getOutputs(), getResults(), yield.getValues())) {
    auto outputs = cast<ArrayAttr>(outputsAttr);
    if (failed(verifyRankNameList(*this, outputs, "the ranks of a result")))
      return failure();
    auto type = cast<RankedTensorType>(result.getType());
    if (type.getRank() != static_cast<int64_t>(outputs.size()))
      return emitOpError() << "result #" << i << " has tensor rank "
                           << type.getRank() << " but names "
                           << outputs.size() << " ranks";
    // Every work item writes its own part of the result: each grid rank
    // is a rank of the result or cuts one.
    for (StringRef rank : getRanks().getAsValueRange<StringAttr>()) {
      PartitionOp partition = env->getPartitionOfOuter(rank);
      bool covered =
          llvm::is_contained(outputs.getAsValueRange<StringAttr>(), rank) ||
          (partition && llvm::is_contained(
                            outputs.getAsValueRange<StringAttr>(),
                            partition.getRank()));
      if (!covered)
        return emitOpError() << "result #" << i << " has no rank for grid "
                             << "rank '" << rank
                             << "': every work item would write all of it";
    }
    std::optional<SmallVector<std::string>> ranks = getTensorRanks(tile);
    Operation *producer = tile.getDefiningOp();
    if (!ranks || !producer ||
        !getBody().isAncestor(producer->getParentRegion()))
      return yield.emitOpError()
             << "tile #" << i << " must be an Einsum (or cascade.iterate "
             << "result) of the grid's body";
    SmallVector<std::string> expected = getTileRanks(i, *env);
    SmallVector<std::string> actual = *ranks;
    if (expected != actual)
      return yield.emitOpError()
             << "tile #" << i << " has ranks [" << llvm::join(actual, ", ")
             << "] but result #" << i << " over ["
             << llvm::join(outputs.getAsValueRange<StringAttr>(), ", ")
             << "] needs tiles over [" << llvm::join(expected, ", ") << "]";
    if (cast<RankedTensorType>(tile.getType()).getElementType() !=
        type.getElementType())
      return yield.emitOpError()
             << "tile #" << i << " has element type "
             << cast<RankedTensorType>(tile.getType()).getElementType()
             << " but result #" << i << " has " << type.getElementType();
  }
  return verifyTileLocal(*this, *env);
}
