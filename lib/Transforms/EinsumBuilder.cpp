//===- EinsumBuilder.cpp - Building Einsums from named ranks --------------===//

#include "cascade/Transforms/EinsumBuilder.h"

#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Analysis/FlatLinearValueConstraints.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/IntegerSet.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::cascade;

static unsigned findOrAppend(SmallVectorImpl<std::string> &names,
                             StringRef name) {
  for (auto [i, existing] : llvm::enumerate(names))
    if (existing == name)
      return i;
  names.push_back(name.str());
  return names.size() - 1;
}

AffineExpr EinsumParts::dim(StringRef rank) {
  return getAffineDimExpr(findOrAppend(ranks, rank), context);
}

AffineExpr EinsumParts::extent(StringRef rank) {
  return getAffineSymbolExpr(findOrAppend(symbols, rank), context);
}

AffineExpr EinsumParts::translate(AffineExpr expr, EinsumOp from,
                                  const llvm::StringMap<AffineExpr> &substitute) {
  // Only the ranks and extents `expr` uses join this Einsum's lists.
  SmallVector<AffineExpr> dims, syms;
  AffineExpr unused = getAffineConstantExpr(0, context);
  for (auto [i, rank] :
       llvm::enumerate(from.getRanks().getAsValueRange<StringAttr>())) {
    if (!expr.isFunctionOfDim(i)) {
      dims.push_back(unused);
      continue;
    }
    auto it = substitute.find(rank);
    dims.push_back(it != substitute.end() ? it->second : dim(rank));
  }
  for (auto [i, rank] :
       llvm::enumerate(from.getSymbols().getAsValueRange<StringAttr>()))
    syms.push_back(expr.isFunctionOfSymbol(i) ? extent(rank) : unused);
  return expr.replaceDimsAndSymbols(dims, syms);
}

void EinsumParts::addOperandOf(EinsumOp from, unsigned i,
                               const llvm::StringMap<AffineExpr> &substitute) {
  AffineMap map =
      cast<AffineMapAttr>(from.getIndexingMaps()[i]).getValue();
  SmallVector<AffineExpr> indices;
  for (AffineExpr expr : map.getResults())
    indices.push_back(translate(expr, from, substitute));
  addOperand(from.getInputs()[i], indices);
}

void EinsumParts::addDisjunction(ArrayRef<Conjunction> alternatives) {
  SmallVector<Conjunction> product;
  for (const Conjunction &existing : disjuncts) {
    for (const Conjunction &alternative : alternatives) {
      Conjunction both = existing;
      llvm::append_range(both.constraints, alternative.constraints);
      llvm::append_range(both.equalities, alternative.equalities);
      product.push_back(std::move(both));
    }
  }
  disjuncts = std::move(product);
}

void EinsumParts::addPredicateOf(EinsumOp from,
                                 const llvm::StringMap<AffineExpr> &substitute) {
  SmallVector<Conjunction> alternatives;
  for (IntegerSet set : from.getDisjuncts()) {
    Conjunction conjunction;
    for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
      conjunction.constraints.push_back(
          translate(set.getConstraint(i), from, substitute));
      conjunction.equalities.push_back(set.isEq(i));
    }
    alternatives.push_back(std::move(conjunction));
  }
  if (!alternatives.empty())
    addDisjunction(alternatives);
  for (auto [i, compare] : llvm::enumerate(from.getDataCompares())) {
    auto translated = [&](unsigned j) {
      SmallVector<AffineExpr> indices;
      for (AffineExpr expr : from.getDataMap(j).getResults())
        indices.push_back(translate(expr, from, substitute));
      return indices;
    };
    addDataCompare(compare.getKind(), from.getDataInputs()[2 * i],
                   translated(2 * i), from.getDataInputs()[2 * i + 1],
                   translated(2 * i + 1));
  }
}

void EinsumParts::addDataCompare(CompareKind kind, Value lhs,
                                 ArrayRef<AffineExpr> lhsIndices, Value rhs,
                                 ArrayRef<AffineExpr> rhsIndices) {
  for (unsigned i = 0; i < dataCompares.size(); ++i)
    if (dataCompares[i] == kind && dataOperands[2 * i] == lhs &&
        dataOperands[2 * i + 1] == rhs &&
        ArrayRef<AffineExpr>(dataIndexExprs[2 * i]) == lhsIndices &&
        ArrayRef<AffineExpr>(dataIndexExprs[2 * i + 1]) == rhsIndices)
      return;
  dataCompares.push_back(kind);
  dataOperands.push_back(lhs);
  dataOperands.push_back(rhs);
  dataIndexExprs.emplace_back(lhsIndices.begin(), lhsIndices.end());
  dataIndexExprs.emplace_back(rhsIndices.begin(), rhsIndices.end());
}

EinsumOp EinsumParts::build(
    OpBuilder &builder, Location loc,
    llvm::function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  // Output and reduced ranks must be listed even if no index uses them.
  for (const std::string &rank : output)
    (void)dim(rank);
  for (auto &[rank, kind] : reductions)
    (void)dim(rank);

  SmallVector<Attribute> maps;
  for (ArrayRef<AffineExpr> indices : indexExprs)
    maps.push_back(AffineMapAttr::get(
        AffineMap::get(ranks.size(), symbols.size(), indices, context)));
  SmallVector<Attribute> reductionAttrs;
  for (auto &[rank, kind] : reductions)
    reductionAttrs.push_back(
        ReductionAttr::get(context, builder.getStringAttr(rank), kind));
  auto toRefs = [](ArrayRef<std::string> names) {
    return SmallVector<StringRef>(names.begin(), names.end());
  };

  OperationState state(loc, EinsumOp::getOperationName());
  state.addOperands(operands);
  state.addOperands(dataOperands);
  state.addAttribute("operandSegmentSizes",
                     builder.getDenseI32ArrayAttr(
                         {static_cast<int32_t>(operands.size()),
                          static_cast<int32_t>(dataOperands.size())}));
  if (!dataCompares.empty()) {
    SmallVector<Attribute> dataMaps, compares;
    for (ArrayRef<AffineExpr> indices : dataIndexExprs)
      dataMaps.push_back(AffineMapAttr::get(
          AffineMap::get(ranks.size(), symbols.size(), indices, context)));
    for (CompareKind kind : dataCompares)
      compares.push_back(DataCompareAttr::get(context, kind));
    state.addAttribute("data_maps", builder.getArrayAttr(dataMaps));
    state.addAttribute("data_predicate", builder.getArrayAttr(compares));
  }
  state.addAttribute("ranks", builder.getStrArrayAttr(toRefs(ranks)));
  state.addAttribute("symbols", builder.getStrArrayAttr(toRefs(symbols)));
  state.addAttribute("output", builder.getStrArrayAttr(toRefs(output)));
  state.addAttribute("indexing_maps", builder.getArrayAttr(maps));
  state.addAttribute("reductions", builder.getArrayAttr(reductionAttrs));
  // A conjunction without constraints always holds, and so does the
  // predicate; identical conjunctions are listed once.
  bool alwaysHolds = llvm::any_of(disjuncts, [](const Conjunction &c) {
    return c.constraints.empty();
  });
  if (!alwaysHolds) {
    SmallVector<Attribute> sets;
    for (const Conjunction &conjunction : disjuncts) {
      Attribute set = IntegerSetAttr::get(
          IntegerSet::get(ranks.size(), symbols.size(),
                          conjunction.constraints, conjunction.equalities));
      if (!llvm::is_contained(sets, set))
        sets.push_back(set);
    }
    state.addAttribute("predicate", builder.getArrayAttr(sets));
  }
  if (fill)
    state.addAttribute("fill", builder.getFloatAttr(elementType, *fill));
  if (!name.empty())
    state.addAttribute("name", builder.getStringAttr(name));
  SmallVector<int64_t> shape;
  for (const std::string &rank : output) {
    auto known = staticExtents.find(rank);
    shape.push_back(known != staticExtents.end() ? known->second
                                                 : ShapedType::kDynamic);
  }
  state.addTypes(RankedTensorType::get(shape, elementType));
  state.addRegion();
  auto einsum = cast<EinsumOp>(builder.create(state));

  Block *block = new Block();
  einsum.getBody().push_back(block);
  for (Value operand : operands)
    block->addArgument(cast<RankedTensorType>(operand.getType()).getElementType(),
                       loc);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(block);
  Value result = body(builder, loc, block->getArguments());
  YieldOp::create(builder, loc, ValueRange{result});
  return einsum;
}

Value mlir::cascade::inlineBody(
    OpBuilder &builder, EinsumOp from, ValueRange arguments,
    llvm::function_ref<Value(OpBuilder &, IndexOp)> rewriteIndex) {
  IRMapping mapping;
  mapping.map(from.getBodyBlock().getArguments(), arguments);
  for (Operation &op : from.getBodyBlock().without_terminator()) {
    Operation *clone = builder.clone(op, mapping);
    if (auto index = dyn_cast<IndexOp>(clone); index && rewriteIndex) {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPoint(index);
      if (Value replacement = rewriteIndex(builder, index)) {
        index.getResult().replaceAllUsesWith(replacement);
        mapping.map(op.getResult(0), replacement);
        index.erase();
      }
    }
  }
  auto yield = cast<YieldOp>(from.getBodyBlock().getTerminator());
  return mapping.lookup(yield.getValues()[0]);
}

std::string mlir::cascade::getUniqueEinsumName(Operation *scope,
                                               StringRef base) {
  auto function = scope->getParentOfType<FunctionOpInterface>();
  if (!function)
    function = dyn_cast<FunctionOpInterface>(scope);
  llvm::StringSet<> used;
  function.walk([&](EinsumOp einsum) {
    if (std::optional<StringRef> name = einsum.getName())
      used.insert(*name);
  });
  if (!used.contains(base))
    return base.str();
  for (unsigned i = 1;; ++i) {
    std::string candidate = (base + Twine(i)).str();
    if (!used.contains(candidate))
      return candidate;
  }
}

std::string mlir::cascade::getUniqueRankName(Operation *scope, StringRef base) {
  auto function = scope->getParentOfType<FunctionOpInterface>();
  if (!function)
    function = dyn_cast<FunctionOpInterface>(scope);
  llvm::StringSet<> used;
  function.walk([&](Operation *op) {
    if (auto einsum = dyn_cast<EinsumOp>(op))
      for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
        used.insert(rank);
    if (auto partition = dyn_cast<PartitionOp>(op)) {
      used.insert(partition.getOuter());
      used.insert(partition.getInner());
    }
  });
  if (FailureOr<RankEnvironment> env = RankEnvironment::build(function);
      succeeded(env))
    for (StringRef rank : env->getRankNames())
      used.insert(rank);
  if (!used.contains(base))
    return base.str();
  for (unsigned i = 1;; ++i) {
    std::string candidate = (base + "_" + Twine(i)).str();
    if (!used.contains(candidate))
      return candidate;
  }
}

bool mlir::cascade::bodyReadsCoordinates(EinsumOp einsum) {
  return llvm::any_of(einsum.getBodyBlock(),
                      [](Operation &op) { return isa<IndexOp>(op); });
}

bool mlir::cascade::isOperandFree(Value value) {
  SmallVector<Value> worklist{value};
  llvm::SmallPtrSet<Operation *, 8> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (isa<BlockArgument>(v))
      return false;
    Operation *op = v.getDefiningOp();
    if (isa<IndexOp>(op))
      return false;
    if (seen.insert(op).second)
      llvm::append_range(worklist, op->getOperands());
  }
  return true;
}

/// Whether every point of a conjunction of `einsum`'s predicate (with 0 <= r < R for every rank and
/// the facts the data reads imply) has a point with the same coordinates in
/// the non-eliminated ranks at which every data comparison of `einsum` reads
/// the same element twice (so `==` and `<=` hold). The witness solves
/// lhs index == rhs index for eliminated ranks of unit coefficient; the
/// check is a containment of polyhedra in the Einsum's rank space.
/// `symbolNames` starts as the Einsum's symbols and gains the extents the
/// facts name.
static LogicalResult checkReflexiveWitness(EinsumOp einsum,
                                           const RankEnvironment &env,
                                           ArrayRef<AffineExpr> constraints,
                                           ArrayRef<bool> equalities,
                                           ArrayRef<bool> isEliminated,
                                           SmallVectorImpl<std::string> &symbolNames) {
  MLIRContext *context = einsum.getContext();
  unsigned numDims = isEliminated.size();
  auto symbol = [&](StringRef rank) {
    return getAffineSymbolExpr(findOrAppend(symbolNames, rank), context);
  };
  // Hypotheses: the conjunction, rank bounds and the data reads' facts.
  SmallVector<AffineExpr> hypotheses(constraints);
  SmallVector<bool> hypothesisEqs(equalities);
  auto add = [&](AffineExpr expr, bool isEq) {
    hypotheses.push_back(expr);
    hypothesisEqs.push_back(isEq);
  };
  for (auto [i, rank] :
       llvm::enumerate(einsum.getRanks().getAsValueRange<StringAttr>())) {
    AffineExpr d = getAffineDimExpr(i, context);
    add(d, false);
    add(symbol(rank) - d - 1, false);
  }
  Block *entry =
      &einsum->getParentOfType<FunctionOpInterface>().getFunctionBody().front();
  for (auto [i, value] : llvm::enumerate(einsum.getDataInputs())) {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != entry)
      return failure();
    for (auto [dim, expr] : llvm::enumerate(einsum.getDataMap(i).getResults())) {
      std::optional<StringRef> rank =
          env.getRankOfArgumentDim(arg.getArgNumber(), dim);
      if (!rank)
        return failure();
      AffineExpr size = symbol(*rank);
      // In bounds, and a bare rank's extent is the dimension's size (the
      // shape check enforces both).
      AffineExpr index = expr.replaceSymbols(
          llvm::map_to_vector(einsum.getSymbols().getAsValueRange<StringAttr>(),
                              [&](StringRef r) { return symbol(r); }));
      add(index, false);
      add(size - index - 1, false);
      if (auto bare = dyn_cast<AffineDimExpr>(expr))
        add(symbol(cast<StringAttr>(einsum.getRanks()[bare.getPosition()])
                       .getValue()) -
                size,
            true);
    }
  }
  // Symbols of the conjunction and maps are the Einsum's own, which open
  // symbolNames in the same order.
  // The witness: eliminated ranks solved from lhs index == rhs index.
  SmallVector<AffineExpr> witness;
  for (unsigned i = 0; i < numDims; ++i)
    witness.push_back(getAffineDimExpr(i, context));
  SmallVector<bool> assigned(numDims, false);
  auto compares = einsum.getDataCompares();
  for (auto [c, compare] : llvm::enumerate(compares)) {
    if (compare.getKind() == CompareKind::lt ||
        einsum.getDataInputs()[2 * c] != einsum.getDataInputs()[2 * c + 1])
      return failure();
    AffineMap lhs = einsum.getDataMap(2 * c), rhs = einsum.getDataMap(2 * c + 1);
    for (auto [l, r] : llvm::zip(lhs.getResults(), rhs.getResults())) {
      AffineExpr difference = simplifyAffineExpr(
          (l - r).replaceDims(witness), numDims, lhs.getNumSymbols());
      if (auto constant = dyn_cast<AffineConstantExpr>(difference)) {
        if (constant.getValue() != 0)
          return failure();
        continue;
      }
      // difference = coefficient * d_j + rest, with d_j eliminated and not
      // yet assigned, coefficient +-1 and rest free of d_j.
      bool solved = false;
      for (unsigned j = 0; j < numDims && !solved; ++j) {
        if (!isEliminated[j] || assigned[j] ||
            !difference.isFunctionOfDim(j))
          continue;
        SmallVector<AffineExpr> zero(witness), one(witness);
        zero[j] = getAffineConstantExpr(0, context);
        one[j] = getAffineConstantExpr(1, context);
        AffineExpr rest = simplifyAffineExpr(difference.replaceDims(zero),
                                             numDims, lhs.getNumSymbols());
        auto coefficient = dyn_cast<AffineConstantExpr>(simplifyAffineExpr(
            difference.replaceDims(one) - rest, numDims, lhs.getNumSymbols()));
        if (!coefficient || std::abs(coefficient.getValue()) != 1 ||
            rest.isFunctionOfDim(j) || !difference.isPureAffine())
          continue;
        witness[j] = coefficient.getValue() == 1 ? -rest : rest;
        assigned[j] = true;
        solved = true;
      }
      if (!solved)
        return failure();
    }
  }
  // Every constraint of the domain at the witness point must be implied by
  // the hypotheses: hypotheses and its negation have no integer point.
  unsigned numSymbols = symbolNames.size();
  for (auto [expr, isEq] : llvm::zip(hypotheses, hypothesisEqs)) {
    AffineExpr atWitness = expr.replaceDims(witness);
    SmallVector<AffineExpr> negations = {-atWitness - 1};
    if (isEq)
      negations.push_back(atWitness - 1);
    for (AffineExpr negation : negations) {
      SmallVector<AffineExpr> test(hypotheses);
      SmallVector<bool> testEqs(hypothesisEqs);
      test.push_back(negation);
      testEqs.push_back(false);
      FlatLinearValueConstraints counterexample(
          IntegerSet::get(numDims, numSymbols, test, testEqs));
      if (!counterexample.isEmpty())
        return failure();
    }
  }
  return success();
}

LogicalResult mlir::cascade::addProjectedDomain(EinsumOp einsum,
                                                ArrayRef<std::string> eliminated,
                                                EinsumParts &into) {
  MLIRContext *context = einsum.getContext();
  SmallVector<std::string> rankNames, symbolNames;
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
    rankNames.push_back(rank.str());
  for (StringRef rank : einsum.getSymbols().getAsValueRange<StringAttr>())
    symbolNames.push_back(rank.str());

  // 0 <= r < R for every eliminated rank r.
  SmallVector<AffineExpr> rankBounds;
  SmallVector<unsigned> eliminatedPositions;
  for (const std::string &rank : eliminated) {
    int64_t position = einsum.getRankPosition(rank);
    if (position < 0)
      continue;
    eliminatedPositions.push_back(position);
    AffineExpr d = getAffineDimExpr(position, context);
    AffineExpr extent =
        getAffineSymbolExpr(findOrAppend(symbolNames, rank), context);
    rankBounds.push_back(d);
    rankBounds.push_back(extent - d - 1);
  }
  llvm::sort(eliminatedPositions, std::greater<unsigned>());
  SmallVector<std::string> kept(rankNames);
  for (unsigned position : eliminatedPositions)
    kept.erase(kept.begin() + position);
  // Every extent is at least 1, but those of the eliminated ranks, which
  // may be 0: then the domain is empty (no keys, M = 0) and the projection
  // keeps `M >= 1`.
  SmallVector<AffineExpr> basis;
  for (unsigned i = 0; i < symbolNames.size(); ++i) {
    bool eliminatedExtent = llvm::is_contained(eliminated, symbolNames[i]);
    basis.push_back(getAffineSymbolExpr(i, context) -
                    (eliminatedExtent ? 0 : 1));
  }
  auto makeSet = [&](ArrayRef<AffineExpr> exprs, ArrayRef<bool> eqs,
                     unsigned dims) {
    SmallVector<AffineExpr> all(exprs);
    SmallVector<bool> allEqs(eqs);
    for (AffineExpr b : basis) {
      all.push_back(b);
      allEqs.push_back(false);
    }
    return IntegerSet::get(dims, symbolNames.size(), all, allEqs);
  };
  // What holds anyway: extents >= 1 and 0 <= coordinate < extent.
  SmallVector<AffineExpr> bounds;
  for (unsigned i = 0; i < kept.size(); ++i) {
    AffineExpr d = getAffineDimExpr(i, context);
    bounds.push_back(d);
    if (llvm::is_contained(symbolNames, kept[i]))
      bounds.push_back(
          getAffineSymbolExpr(findOrAppend(symbolNames, kept[i]), context) -
          d - 1);
  }
  // The projection of one conjunction of the predicate, in `into`'s ranks,
  // without the constraints that hold anyway.
  auto project = [&](ArrayRef<AffineExpr> predicate, ArrayRef<bool> predicateEqs)
      -> FailureOr<EinsumParts::Conjunction> {
    SmallVector<AffineExpr> constraints(predicate);
    SmallVector<bool> equalities(predicateEqs);
    for (AffineExpr expr : constraints)
      if (!expr.isPureAffine())
        return failure();
    llvm::append_range(constraints, rankBounds);
    equalities.append(rankBounds.size(), false);
    FlatLinearValueConstraints domain(
        makeSet(constraints, equalities, rankNames.size()));
    for (unsigned position : eliminatedPositions)
      domain.projectOut(position);
    domain.removeRedundantConstraints();
    IntegerSet projected = domain.getAsIntegerSet(context);
    if (!projected)
      return failure();
    EinsumParts::Conjunction result;
    for (unsigned i = 0; i < projected.getNumConstraints(); ++i) {
      AffineExpr c = projected.getConstraint(i);
      bool isEq = projected.isEq(i);
      if (!isEq) {
        SmallVector<AffineExpr> test(bounds);
        test.push_back(-c - 1);
        FlatLinearValueConstraints negation(makeSet(
            test, SmallVector<bool>(test.size(), false), kept.size()));
        if (negation.isEmpty())
          continue; // implied
      }
      SmallVector<AffineExpr> dims, syms;
      for (const std::string &rank : kept)
        dims.push_back(into.dim(rank));
      for (const std::string &rank : symbolNames)
        syms.push_back(into.extent(rank));
      result.constraints.push_back(c.replaceDimsAndSymbols(dims, syms));
      result.equalities.push_back(isEq);
    }
    return result;
  };

  // Data comparisons cannot be projected; they vanish from the projection
  // when every point of the domain has, with the same kept coordinates, a
  // point where each comparison holds by reflexivity (it reads one element
  // twice), e.g. key m = p for `D[b, m] == D[b, p]`.
  SmallVector<IntegerSet> disjuncts = einsum.getDisjuncts();
  if (!einsum.getDataCompares().empty()) {
    auto function = einsum->getParentOfType<FunctionOpInterface>();
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    if (failed(env))
      return failure();
    SmallVector<bool> isEliminated(rankNames.size(), false);
    for (unsigned position : eliminatedPositions)
      isEliminated[position] = true;
    if (disjuncts.empty() &&
        failed(checkReflexiveWitness(einsum, *env, {}, {}, isEliminated,
                                     symbolNames)))
      return failure();
    for (IntegerSet conjunction : disjuncts)
      if (failed(checkReflexiveWitness(einsum, *env, conjunction.getConstraints(),
                                       conjunction.getEqFlags(), isEliminated,
                                       symbolNames)))
        return failure();
  }

  SmallVector<EinsumParts::Conjunction> alternatives;
  if (disjuncts.empty()) {
    FailureOr<EinsumParts::Conjunction> projected = project({}, {});
    if (failed(projected))
      return failure();
    alternatives.push_back(std::move(*projected));
  }
  for (IntegerSet set : disjuncts) {
    FailureOr<EinsumParts::Conjunction> projected =
        project(set.getConstraints(), set.getEqFlags());
    if (failed(projected))
      return failure();
    alternatives.push_back(std::move(*projected));
  }
  // A conjunction whose projection always holds makes the union hold.
  if (llvm::any_of(alternatives, [](const EinsumParts::Conjunction &c) {
        return c.constraints.empty();
      }))
    return success();
  into.addDisjunction(alternatives);
  return success();
}

PartitionOp mlir::cascade::createPartition(OpBuilder &builder, Location loc,
                                           StringRef rank, StringRef outer,
                                           int64_t tile, StringRef inner) {
  OperationState state(loc, PartitionOp::getOperationName());
  state.addAttribute("rank", builder.getStringAttr(rank));
  state.addAttribute("outer", builder.getStringAttr(outer));
  state.addAttribute("tile", builder.getI64IntegerAttr(tile));
  state.addAttribute("inner", builder.getStringAttr(inner));
  return cast<PartitionOp>(builder.create(state));
}

IterateOp mlir::cascade::createIterate(OpBuilder &builder, Location loc,
                                       StringRef outer, ValueRange inits,
                                       TypeRange stacked) {
  OperationState state(loc, IterateOp::getOperationName());
  state.addAttribute("rank", builder.getStringAttr(outer));
  state.addOperands(inits);
  for (Value init : inits)
    state.addTypes(init.getType());
  state.addTypes(stacked);
  Region *region = state.addRegion();
  Block *body = new Block();
  region->push_back(body);
  for (Value init : inits)
    body->addArgument(init.getType(), loc);
  return cast<IterateOp>(builder.create(state));
}

Value mlir::cascade::rewritePartitionedIndex(OpBuilder &b, IndexOp index,
                                             StringRef rank, StringRef outer,
                                             int64_t tile, StringRef inner) {
  if (index.getRank() != rank)
    return nullptr;
  Location l = index.getLoc();
  Value o = IndexOp::create(b, l, b.getIndexType(), outer);
  Value i = IndexOp::create(b, l, b.getIndexType(), inner);
  Value t = arith::ConstantIndexOp::create(b, l, tile);
  Value coordinate =
      arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, o, t), i);
  Type type = index.getType();
  if (type.isIndex())
    return coordinate;
  if (isa<IntegerType>(type))
    return arith::IndexCastOp::create(b, l, type, coordinate);
  Value asInt = arith::IndexCastOp::create(b, l, b.getI64Type(), coordinate);
  return arith::SIToFPOp::create(b, l, type, asInt);
}

LogicalResult mlir::cascade::getLinearForm(
    EinsumOp einsum, AffineExpr expr, std::map<std::string, int64_t> &ranks,
    SymbolicOffset &rest) {
  llvm::StringMap<int64_t> coefficients;
  AffineExpr symbolic;
  if (failed(einsum.getRankCoefficients(expr, coefficients, symbolic)))
    return failure();
  for (auto &entry : coefficients)
    ranks[entry.getKey().str()] = entry.getValue();
  // The rest: a constant coefficient per symbol, and a constant.
  unsigned numDims = einsum.getRanks().size();
  unsigned numSymbols = einsum.getSymbols().size();
  AffineExpr linear = getAffineConstantExpr(0, expr.getContext());
  for (unsigned s = 0; s < numSymbols; ++s) {
    AffineExpr symbol = getAffineSymbolExpr(s, expr.getContext());
    auto step = dyn_cast<AffineConstantExpr>(simplifyAffineExpr(
        symbolic.replace(symbol, symbol + 1) - symbolic, numDims, numSymbols));
    if (!step)
      return failure();
    if (step.getValue() != 0)
      rest.coefficients[cast<StringAttr>(einsum.getSymbols()[s])
                            .getValue()
                            .str()] = step.getValue();
    linear = linear + symbol * step.getValue();
  }
  auto constant = dyn_cast<AffineConstantExpr>(
      simplifyAffineExpr(symbolic - linear, numDims, numSymbols));
  if (!constant)
    return failure();
  rest.constant = constant.getValue();
  return success();
}
