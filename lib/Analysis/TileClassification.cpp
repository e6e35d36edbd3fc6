//===- TileClassification.cpp - Empty, full and partial tile pairs --------===//
//
// For each predicate constraint, linear in the ranks,
//   a1 * m1 + a0 * m0 + c * p + sum_i o_i * r_i + R(extents) >= 0,
// over a query tile t (p in [t*Tq, t*Tq + Tq - 1]) and a key tile m1
// (m0 in [0, Tk - 1]), with the ranks r_i fixed for the work item:
//   some point holds   iff  a1 * m1 + G_max >= 0,
//   every point holds  iff  a1 * m1 + G_min >= 0,
// where G_max / G_min add to R + sum o_i r_i the largest / smallest value of
// a0 * m0 + c * p over the box (at its corners). With a1 > 0 each is a lower
// bound on m1 (ceildiv), with a1 < 0 an upper bound (floordiv). A tile is
// visited when it is inside the bounds of every constraint of some
// predicate (a conjunction) and full when inside the full bounds of every
// constraint of every predicate.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/TileClassification.h"
#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IntegerSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringSet.h"

#include <algorithm>
#include <set>

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// One constraint `expr >= 0` of a predicate as a linear form: a constant
/// coefficient per rank and a rest over the extents.
struct LinearConstraint {
  llvm::StringMap<int64_t> coefficients;
  AffineExpr rest; ///< Over the schedule's symbols.
};

} // namespace

/// Position of `name` in `names`, inserting it at the end if absent.
static unsigned getOrInsert(SmallVectorImpl<std::string> &names,
                            StringRef name) {
  auto it = llvm::find(names, name);
  if (it != names.end())
    return it - names.begin();
  names.push_back(name.str());
  return names.size() - 1;
}

/// `expr` (over `einsum`'s ranks and symbols) as a linear form with its
/// rest over the schedule's symbols, or failure when some rank's
/// coefficient is not a constant (a division or modulo of a rank, a
/// product with an extent).
static FailureOr<LinearConstraint>
getLinearForm(EinsumOp einsum, AffineExpr expr,
              SmallVectorImpl<std::string> &symbols) {
  LinearConstraint form;
  AffineExpr rest;
  if (failed(einsum.getRankCoefficients(expr, form.coefficients, rest)))
    return failure();
  SmallVector<AffineExpr> remapped;
  for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
    remapped.push_back(getAffineSymbolExpr(getOrInsert(symbols, symbol),
                                           expr.getContext()));
  form.rest = rest.replaceSymbols(remapped);
  return form;
}

/// A text that two constraints share exactly when their linear forms are
/// equal.
static std::string getKey(const LinearConstraint &form, unsigned numSymbols) {
  SmallVector<std::string> terms;
  for (auto &entry : form.coefficients)
    if (entry.getValue() != 0)
      terms.push_back(std::to_string(entry.getValue()) + "*" +
                      entry.getKey().str());
  llvm::sort(terms);
  std::string rest;
  llvm::raw_string_ostream os(rest);
  simplifyAffineExpr(form.rest, 0, numSymbols).print(os);
  return llvm::join(terms, " + ") + " + " + rest + " >= 0";
}

namespace {

/// Builds the bound maps of one schedule.
class BoundBuilder {
public:
  /// `queryCut`, when given, is the partition of the query rank that a
  /// cascade.grid already cuts (the scheduled form): the predicates then
  /// use its outer rank (the query tile index) and inner rank (the row).
  BoundBuilder(MLIRContext *context, StringRef query, int64_t queryTile,
               StringRef keyOuter, StringRef keyInner, int64_t keyTile,
               PartitionOp queryCut)
      : context(context), query(query), queryTile(queryTile),
        keyOuter(keyOuter), keyInner(keyInner), keyTile(keyTile) {
    if (queryCut) {
      queryOuter = queryCut.getOuter().str();
      queryInner = queryCut.getInner().str();
      dims.push_back(queryOuter);
    } else {
      dims.push_back((query + "#tile").str());
    }
  }

  /// Adds the bounds one constraint puts on m1 for some point / every point
  /// of a pair of tiles. Fails on a rank that is neither the query rank,
  /// the key ranks nor a rank fixed for the work item (`isFixed`).
  LogicalResult addConstraint(const LinearConstraint &constraint,
                              llvm::function_ref<bool(StringRef)> isFixed,
                              SmallVectorImpl<AffineExpr> &lower,
                              SmallVectorImpl<AffineExpr> &upper,
                              SmallVectorImpl<AffineExpr> &fullLower,
                              SmallVectorImpl<AffineExpr> &fullUpper,
                              std::string &why) {
    AffineExpr tile = getAffineDimExpr(0, context);
    AffineExpr first = tile * queryTile;
    AffineExpr last = first + (queryTile - 1);
    AffineExpr base = constraint.rest;
    int64_t a1 = 0, a0 = 0, c = 0, cInner = 0;
    for (auto &entry : constraint.coefficients) {
      StringRef rank = entry.getKey();
      int64_t k = entry.getValue();
      if (rank == keyOuter)
        a1 = k;
      else if (rank == keyInner)
        a0 = k;
      else if (rank == query)
        c = k;
      else if (!queryOuter.empty() && rank == queryOuter)
        base = base + tile * k;
      else if (!queryInner.empty() && rank == queryInner)
        cInner = k;
      else if (isFixed(rank))
        base = base + getAffineDimExpr(getOrInsert(dims, rank), context) * k;
      else {
        why = ("the predicate constrains rank '" + rank +
               "', which is neither the query rank, the key rank nor fixed "
               "for a work item")
                  .str();
        return failure();
      }
    }
    // A row's offset in its tile is in [0, queryTile - 1].
    AffineExpr most = base + (a0 > 0 ? a0 * (keyTile - 1) : 0) +
                      (c > 0 ? last * c : first * c) +
                      (cInner > 0 ? cInner * (queryTile - 1) : 0);
    AffineExpr least = base + (a0 < 0 ? a0 * (keyTile - 1) : 0) +
                       (c > 0 ? first * c : last * c) +
                       (cInner < 0 ? cInner * (queryTile - 1) : 0);
    if (a1 > 0) {
      lower.push_back((-most).ceilDiv(a1));
      fullLower.push_back((-least).ceilDiv(a1));
    } else if (a1 < 0) {
      upper.push_back(most.floorDiv(-a1) + 1);
      fullUpper.push_back(least.floorDiv(-a1) + 1);
    } else {
      // No bound on m1. Every point of every pair holds only if `least` is
      // a nonnegative constant; otherwise no tile is known to be full.
      auto constant = dyn_cast<AffineConstantExpr>(least);
      if (!constant || constant.getValue() < 0)
        fullUpper.push_back(getAffineConstantExpr(0, context));
    }
    return success();
  }

  AffineMap makeMap(ArrayRef<AffineExpr> results, unsigned numSymbols) {
    SmallVector<AffineExpr> simplified;
    for (AffineExpr e : results) {
      AffineExpr s = simplifyAffineExpr(e, dims.size(), numSymbols);
      if (!llvm::is_contained(simplified, s))
        simplified.push_back(s);
    }
    return AffineMap::get(dims.size(), numSymbols, simplified, context);
  }

  MLIRContext *context;
  std::string query, queryOuter, queryInner;
  int64_t queryTile;
  std::string keyOuter, keyInner;
  int64_t keyTile;
  SmallVector<std::string> dims;
};

/// The value of a tensor at "its point" in a step at which every masked
/// Einsum of the body has an empty domain.
struct StepValue {
  ExtendedValue value;
  std::optional<double> constant;
};

} // namespace

/// Whether `einsum` reads operand `index` at the point its producer's value
/// stands for: each index is the rank of the same name as the producer's
/// output rank in that position.
/// Proves that a step of `iterate` at which every Einsum with a predicate
/// has an empty domain yields every carried tensor unchanged.
static LogicalResult proveEmptyStepIsIdentity(IterateOp iterate,
                                              std::string &why) {
  auto function = iterate->getParentOfType<func::FuncOp>();
  FloatClassAnalysis classes(function);
  LawProver prover;
  IeeeBodyEncoder &ieee = prover.extended();
  llvm::DenseMap<Value, StepValue> values;
  llvm::DenseMap<Value, SmallVector<StringRef>> ranksOf;
  Block &body = iterate.getBodyBlock();
  for (auto [i, argument, init] :
       llvm::enumerate(body.getArguments(), iterate.getInits())) {
    FloatClasses argumentClasses = classes.getClasses(argument);
    if (!argumentClasses)
      argumentClasses = classes.getClasses(init);
    values.insert({argument,
                   StepValue{prover.extendedVariable(
                                 "carried" + std::to_string(i),
                                 argumentClasses ? argumentClasses : kAnyFloat),
                             std::nullopt}});
    if (auto producer = init.getDefiningOp<EinsumOp>())
      ranksOf[argument] =
          llvm::to_vector(producer.getOutput().getAsValueRange<StringAttr>());
  }
  unsigned fresh = 0;
  for (Operation &op : body.without_terminator()) {
    auto einsum = dyn_cast<EinsumOp>(op);
    if (!einsum) {
      why = "the iterate's body holds '" + op.getName().getStringRef().str() +
            "', not only Einsums";
      return failure();
    }
    ranksOf[einsum.getResult()] =
        llvm::to_vector(einsum.getOutput().getAsValueRange<StringAttr>());
    if (einsum.hasMask()) {
      double fill = einsum.getFillValue();
      values.insert({einsum.getResult(), StepValue{ieee.constant(fill), fill}});
      continue;
    }
    SmallVector<ExtendedValue> operands;
    bool allConstant = true;
    for (auto [j, input] : llvm::enumerate(einsum.getInputs())) {
      auto known = values.find(input);
      if (known != values.end() && known->second.constant) {
        operands.push_back(known->second.value);
        continue;
      }
      allConstant = false;
      auto ranks = ranksOf.find(input);
      if (known != values.end() && ranks != ranksOf.end() &&
          einsum.readsAtOwnPoint(j, ranks->second)) {
        operands.push_back(known->second.value);
        continue;
      }
      operands.push_back(prover.extendedVariable(
          "read" + std::to_string(fresh++),
          classes.getClassesAsRead(einsum, j)));
    }
    if (!einsum.getReductions().empty()) {
      // A reduction whose every term is the identity is the identity (an
      // empty decayed score times V: 0 * V with V finite is 0); anything
      // else is an unknown value of the step.
      std::optional<double> identity;
      for (Attribute attr : einsum.getReductions()) {
        double id = getReduceIdentity(cast<ReductionAttr>(attr).getKind());
        if (identity && *identity != id)
          identity.reset();
        else
          identity = id;
      }
      StepValue result{prover.extendedVariable(
                           "step" + std::to_string(fresh++), kAnyFloat),
                       std::nullopt};
      if (identity && (allConstant || llvm::any_of(einsum.getInputs(), [&](Value v) {
                         auto known = values.find(v);
                         return known != values.end() && known->second.constant;
                       }))) {
        FailureOr<ExtendedValue> term =
            prover.applyExtended(einsum, operands, why, /*isSpec=*/true);
        if (succeeded(term) &&
            prover
                    .proveExtended(ieee.same(*term, ieee.constant(*identity)),
                                   prover.getContext().bool_val(true))
                    .status == ProofStatus::Proved)
          result = StepValue{ieee.constant(*identity), *identity};
      }
      values.insert({einsum.getResult(), result});
      continue;
    }
    FailureOr<ExtendedValue> term =
        prover.applyExtended(einsum, operands, why, /*isSpec=*/true);
    if (failed(term))
      return failure();
    values.insert({einsum.getResult(), StepValue{*term, std::nullopt}});
  }
  auto yield = cast<YieldOp>(body.getTerminator());
  z3::expr claim = prover.getContext().bool_val(true);
  for (auto [yielded, argument] :
       llvm::zip(yield.getValues(), body.getArguments())) {
    if (!values.count(yielded)) {
      why = "the iterate yields a value computed outside its body";
      return failure();
    }
    claim = claim && ieee.same(values.find(yielded)->second.value,
                               values.find(argument)->second.value);
  }
  ProofResult result =
      prover.proveExtended(claim, prover.getContext().bool_val(true));
  if (result.status == ProofStatus::Proved)
    return success();
  why = "a step at which every predicate of the body is false does not "
        "provably leave the carried tensors unchanged";
  if (!result.counterexample.empty())
    why += " (counterexample: " + result.counterexample + ")";
  return failure();
}

/// The data comparisons every Einsum of `masked` has (a null attribute when
/// none has any), in the form a backend classifies at run time: each read
/// varies with the query rows or with the key tile, not both, and reads no
/// other rank than those and the work item's. Fails, with the reason in
/// `why`, when the Einsums differ in their comparisons or a read does not
/// separate.
static FailureOr<ArrayAttr>
getSharedDataCompares(ArrayRef<EinsumOp> masked, StringRef queryRank,
                      PartitionOp keyPartition,
                      function_ref<bool(StringRef)> isFixed, std::string &why) {
  std::optional<std::string> shared;
  ArrayAttr compares;
  for (EinsumOp einsum : masked) {
    std::string key;
    llvm::raw_string_ostream os(key);
    for (auto [i, compare] : llvm::enumerate(einsum.getDataCompares())) {
      os << stringifyCompareKind(compare.getKind()) << "(";
      for (unsigned j = 2 * i; j < 2 * i + 2; ++j) {
        Value value = einsum.getDataInputs()[j];
        os << value.getAsOpaquePointer() << "[";
        bool readsQuery = false, readsKey = false;
        for (AffineExpr expr : einsum.getDataMap(j).getResults()) {
          os << printIndexExpr(einsum, expr) << ",";
          for (auto [r, rank] : llvm::enumerate(
                   einsum.getRanks().getAsValueRange<StringAttr>())) {
            if (!expr.isFunctionOfDim(r))
              continue;
            if (rank == queryRank) {
              readsQuery = true;
            } else if (rank == keyPartition.getInner() ||
                       rank == keyPartition.getOuter()) {
              readsKey = true;
            } else if (!isFixed(rank)) {
              why = "a data comparison of " +
                    einsum.getName().value_or("an Einsum").str() +
                    " reads rank '" + rank.str() +
                    "', which is neither the query rank, nor the key rank, "
                    "nor fixed for a work item";
              return failure();
            }
          }
        }
        if (readsQuery && readsKey) {
          why = "a read of a data comparison of " +
                einsum.getName().value_or("an Einsum").str() +
                " varies with both the query and the key rank, so its range "
                "over a pair of tiles is not a per-tile minimum and maximum";
          return failure();
        }
        os << "]";
      }
      os << ")";
    }
    if (shared && *shared != key) {
      why = "the masked Einsums of the body do not share their data "
            "comparisons, so a pair on which one fails is not empty for all";
      return failure();
    }
    shared = key;
    if (!einsum.getDataCompares().empty())
      compares = *einsum.getDataPredicate();
  }
  return compares;
}

FailureOr<TileScheduleAttr>
mlir::cascade::classifyKeyTiles(IterateOp iterate, PartitionOp keyPartition,
                                const TileClassificationRequest &request,
                                std::string &why) {
  MLIRContext *context = iterate.getContext();
  if (iterate.getRank() != keyPartition.getOuter()) {
    why = "the iterate does not walk the outer rank of the key partition";
    return failure();
  }
  if (request.queryTile < 1 || request.queryTile > kMaxTileExtent) {
    why = "the query tile must be in [1, " + std::to_string(kMaxTileExtent) + "]";
    return failure();
  }
  // In the scheduled form a grid cuts the query rank: carried tensors
  // then hold the rows of one tile (the partition's inner rank).
  PartitionOp queryCut;
  if (auto grid = iterate->getParentOfType<GridOp>()) {
    auto function = iterate->getParentOfType<FunctionOpInterface>();
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    if (succeeded(env))
      for (StringRef rank : grid.getRanks().getAsValueRange<StringAttr>())
        if (PartitionOp cut = env->getPartitionOfOuter(rank);
            cut && cut.getRank() == request.queryRank)
          queryCut = cut;
    if (!queryCut) {
      why = "the enclosing cascade.grid does not cut the query rank '" +
            request.queryRank + "'";
      return failure();
    }
    if (queryCut.getTile() != request.queryTile) {
      why = "the grid cuts the query rank into tiles of " +
            std::to_string(queryCut.getTile()) + " rows, not " +
            std::to_string(request.queryTile);
      return failure();
    }
  }
  std::string rowRank =
      queryCut ? queryCut.getInner().str() : request.queryRank;
  SmallVector<EinsumOp> masked;
  for (Operation &op : iterate.getBodyBlock())
    if (auto einsum = dyn_cast<EinsumOp>(op))
      if (einsum.hasMask())
        masked.push_back(einsum);
  if (masked.empty()) {
    why = "no Einsum of the iterate's body has a predicate: every tile is "
          "full";
    return failure();
  }
  for (Value init : iterate.getInits()) {
    auto producer = init.getDefiningOp<EinsumOp>();
    if (!producer ||
        !llvm::is_contained(producer.getOutput().getAsValueRange<StringAttr>(),
                            rowRank)) {
      why = "a carried tensor has no rank '" + rowRank +
            "', so key tiles cannot be skipped per query tile";
      return failure();
    }
  }

  // Ranks fixed for a work item: those every carried tensor has, but the
  // query rank (batch, head; not a head dimension only some carry).
  llvm::StringSet<> fixed;
  for (auto [i, init] : llvm::enumerate(iterate.getInits())) {
    llvm::StringSet<> ranks;
    for (StringRef rank : init.getDefiningOp<EinsumOp>()
                              .getOutput()
                              .getAsValueRange<StringAttr>())
      if (i == 0 || fixed.contains(rank))
        ranks.insert(rank);
    fixed = std::move(ranks);
  }
  fixed.erase(rowRank);
  if (queryCut) {
    // The grid's ranks are fixed for a work item too (the query tile index
    // is the schedule's first dim already).
    for (StringRef rank : iterate->getParentOfType<GridOp>()
                              .getRanks()
                              .getAsValueRange<StringAttr>())
      if (rank != queryCut.getOuter())
        fixed.insert(rank);
    for (EinsumOp einsum : masked)
      if (!einsum.getDataCompares().empty()) {
        why = "data comparisons are classified before scheduling, not in a "
              "cascade.grid";
        return failure();
      }
  }
  auto isFixed = [&](StringRef rank) { return fixed.contains(rank); };

  BoundBuilder bounds(context, request.queryRank, request.queryTile,
                      keyPartition.getOuter(), keyPartition.getInner(),
                      keyPartition.getTile(), queryCut);
  SmallVector<std::string> symbols;
  unsigned keyExtent = getOrInsert(symbols, keyPartition.getRank());
  // Bounds per conjunction of each distinct predicate: the key tiles where
  // it holds somewhere, and those where it holds everywhere.
  struct ConjunctionBounds {
    SmallVector<AffineExpr> lower, upper, fullLower, fullUpper;
  };
  // Predicates are compared by their linear forms over rank names (the
  // Einsums of a step write the same mask over different rank lists).
  SmallVector<std::string> predicateKeys;
  std::vector<SmallVector<ConjunctionBounds, 2>> boundsOf;
  FailureOr<ArrayAttr> data = getSharedDataCompares(
      masked, request.queryRank, keyPartition, isFixed, why);
  if (failed(data))
    return failure();
  // The run-time rule reads the ids at the work item's fixed ranks (the
  // batch of `D[b, m]`), so they are dims of the schedule.
  for (EinsumOp einsum : masked)
    for (unsigned j = 0; j < einsum.getDataInputs().size(); ++j)
      for (AffineExpr expr : einsum.getDataMap(j).getResults())
        for (auto [r, rank] :
             llvm::enumerate(einsum.getRanks().getAsValueRange<StringAttr>()))
          if (expr.isFunctionOfDim(r) && isFixed(rank))
            getOrInsert(bounds.dims, rank);
  for (EinsumOp einsum : masked) {
    SmallVector<ConjunctionBounds, 2> conjunctions;
    SmallVector<std::string> conjunctionKeys;
    // Data comparisons alone: every key tile is visited (and classified at
    // run time), as by one conjunction without constraints.
    if (!einsum.getPredicate()) {
      conjunctions.emplace_back();
      conjunctionKeys.push_back("");
    }
    for (IntegerSet set : einsum.getDisjuncts()) {
      ConjunctionBounds &b = conjunctions.emplace_back();
      SmallVector<std::string> sideKeys;
      for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
        SmallVector<AffineExpr, 2> sides = {set.getConstraint(i)};
        if (set.isEq(i))
          sides.push_back(-set.getConstraint(i));
        for (AffineExpr side : sides) {
          FailureOr<LinearConstraint> form =
              getLinearForm(einsum, side, symbols);
          if (failed(form)) {
            why = "the predicate of " +
                  (einsum.getName() ? einsum.getName()->str()
                                    : std::string("an Einsum")) +
                  " is not linear in the ranks";
            return failure();
          }
          if (failed(bounds.addConstraint(*form, isFixed, b.lower, b.upper,
                                          b.fullLower, b.fullUpper, why)))
            return failure();
          sideKeys.push_back(getKey(*form, symbols.size()));
        }
      }
      llvm::sort(sideKeys);
      conjunctionKeys.push_back(llvm::join(sideKeys, ", "));
    }
    llvm::sort(conjunctionKeys);
    std::string key = llvm::join(conjunctionKeys, " or ");
    if (llvm::is_contained(predicateKeys, key))
      continue;
    predicateKeys.push_back(key);
    boundsOf.push_back(std::move(conjunctions));
  }
  if (failed(proveEmptyStepIsIdentity(iterate, why)))
    return failure();

  AffineExpr keyTiles = getAffineSymbolExpr(keyExtent, context)
                            .ceilDiv(keyPartition.getTile());
  AffineExpr zero = getAffineConstantExpr(0, context);
  auto withClamp = [&](ArrayRef<AffineExpr> results, AffineExpr clamp) {
    SmallVector<AffineExpr> all = {clamp};
    all.append(results.begin(), results.end());
    return all;
  };
  // One range per conjunction (a tile may be skipped only where every
  // conjunction of every predicate is empty). A tile of the range is full
  // where that conjunction holds everywhere and so does every other
  // predicate: through its only conjunction; a predicate with several
  // conjunctions holds everywhere only on a union of intervals, which one
  // interval cannot state, so it makes no tile of another range full.
  SmallVector<Attribute> ranges;
  std::set<std::pair<const void *, const void *>> seen;
  for (auto [j, conjunctions] : llvm::enumerate(boundsOf)) {
    for (ConjunctionBounds &b : conjunctions) {
      AffineMap lowerMap =
          bounds.makeMap(withClamp(b.lower, zero), symbols.size());
      AffineMap upperMap =
          bounds.makeMap(withClamp(b.upper, keyTiles), symbols.size());
      if (!seen.insert({lowerMap.getAsOpaquePointer(),
                        upperMap.getAsOpaquePointer()})
               .second)
        continue;
      SmallVector<AffineExpr> fl = withClamp(b.fullLower, zero);
      fl.append(b.lower.begin(), b.lower.end());
      SmallVector<AffineExpr> fu = withClamp(b.fullUpper, keyTiles);
      fu.append(b.upper.begin(), b.upper.end());
      for (auto [k, others] : llvm::enumerate(boundsOf)) {
        if (k == j)
          continue;
        if (others.size() != 1) {
          fu.push_back(zero);
          continue;
        }
        llvm::append_range(fl, others.front().fullLower);
        llvm::append_range(fu, others.front().fullUpper);
      }
      ranges.push_back(KeyRangeAttr::get(context, lowerMap, upperMap,
                                         bounds.makeMap(fl, symbols.size()),
                                         bounds.makeMap(fu, symbols.size())));
    }
  }
  Builder builder(context);
  SmallVector<StringRef> dimNames(bounds.dims.begin(), bounds.dims.end());
  SmallVector<StringRef> symbolNames(symbols.begin(), symbols.end());
  return TileScheduleAttr::get(
      context, builder.getStringAttr(request.queryRank), request.queryTile,
      builder.getStrArrayAttr(dimNames), builder.getStrArrayAttr(symbolNames),
      builder.getArrayAttr(ranges), *data);
}

