//===- DeferDivision.cpp - Move a division past its consuming reduction ---===//
//
//   A[m,p] = d(SN[m,p], SD[p])            AV[p,f] = sum_m c(A[m,p], V[m,f])
// becomes
//   SNAV[p,f] = sum_m c(SN[m,p], V[m,f])  AV[p,f] = d(SNAV[p,f], SD[p])
//
// when SD does not vary with the reduced rank, d distributes over the
// reduce operator and d commutes with c (docs/Passes.md). A masked producer
// moves its mask into SNAV, and AV keeps its `else` value for output points
// whose domain is empty (fully masked rows) through the projected domain.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Analysis/PassCount.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"

#include <cmath>

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEDEFERDIVISION
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// One candidate: consumer operand `operandIndex` is produced by `producer`,
/// whose operand `varying` is the only one that depends on a reduced rank.
struct Site {
  EinsumOp consumer;
  unsigned operandIndex;
  EinsumOp producer;
  unsigned varying;
};

/// The producer's operand indices in the consumer's rank space.
SmallVector<SmallVector<AffineExpr>> translateProducerIndices(
    Site site, EinsumParts &space,
    llvm::StringMap<AffineExpr> &substitute) {
  AffineMap readMap = cast<AffineMapAttr>(
                          site.consumer.getIndexingMaps()[site.operandIndex])
                          .getValue();
  for (auto [j, rank] : llvm::enumerate(
           site.producer.getOutput().getAsValueRange<StringAttr>()))
    substitute[rank] = space.translate(readMap.getResult(j), site.consumer);
  SmallVector<SmallVector<AffineExpr>> indices;
  for (Attribute attr : site.producer.getIndexingMaps()) {
    SmallVector<AffineExpr> operandIndices;
    for (AffineExpr expr : cast<AffineMapAttr>(attr).getValue().getResults())
      operandIndices.push_back(
          space.translate(expr, site.producer, substitute));
    indices.push_back(operandIndices);
  }
  return indices;
}

std::optional<Site> matchSite(EinsumOp consumer, unsigned operandIndex) {
  auto producer =
      consumer.getInputs()[operandIndex].getDefiningOp<EinsumOp>();
  if (!producer || consumer.getReductions().empty() ||
      !producer.getReductions().empty() ||
      producer->getBlock() != consumer->getBlock() ||
      !producer.getOuterRanks().empty() || bodyReadsCoordinates(producer))
    return std::nullopt;
  if (llvm::count(consumer.getInputs(), producer.getResult()) != 1)
    return std::nullopt;
  // Only a division or scaling at the root of the producer's body, by
  // something that does not read the varying operand, is a candidate:
  // other maps (exp(x - g), (x - g)^2, ...) are not what this rewrite is
  // for, and reporting each as a refusal would be noise.
  Value root =
      cast<YieldOp>(producer.getBodyBlock().getTerminator()).getValues()[0];
  Operation *rootOp = root.getDefiningOp();
  if (!rootOp || !isa<arith::DivFOp, arith::MulFOp>(rootOp))
    return std::nullopt;
  ReduceKind kind =
      cast<ReductionAttr>(consumer.getReductions()[0]).getKind();
  for (Attribute attr : consumer.getReductions())
    if (cast<ReductionAttr>(attr).getKind() != kind)
      return std::nullopt;

  Site site{consumer, operandIndex, producer, 0};
  EinsumParts space(consumer.getContext());
  llvm::StringMap<AffineExpr> substitute;
  SmallVector<SmallVector<AffineExpr>> indices =
      translateProducerIndices(site, space, substitute);
  SmallVector<unsigned> reducedDims;
  for (Attribute attr : consumer.getReductions())
    reducedDims.push_back(cast<AffineDimExpr>(space.dim(
                              cast<ReductionAttr>(attr).getRank().getValue()))
                              .getPosition());
  SmallVector<unsigned> varying;
  for (auto [k, operandIndices] : llvm::enumerate(indices))
    if (llvm::any_of(operandIndices, [&](AffineExpr e) {
          return llvm::any_of(reducedDims,
                              [&](unsigned d) { return e.isFunctionOfDim(d); });
        }))
      varying.push_back(k);
  // The producer's mask must not depend on the reduced ranks only through
  // the varying operand: it moves into the new reduction, which is fine.
  if (varying.size() != 1 || producer.getInputs().size() < 2)
    return std::nullopt;
  site.varying = varying.front();
  BlockArgument x = producer.getBodyBlock().getArgument(site.varying);
  auto readsX = [&](Value v) {
    SetVector<Operation *> slice;
    if (v == x)
      return true;
    Operation *def = v.getDefiningOp();
    if (!def)
      return false;
    BackwardSliceOptions options;
    options.inclusive = true;
    (void)getBackwardSlice(def, &slice, options);
    return llvm::any_of(slice, [&](Operation *op) {
      return llvm::is_contained(op->getOperands(), Value(x));
    });
  };
  bool scalesByInvariant =
      isa<arith::DivFOp>(rootOp)
          ? !readsX(rootOp->getOperand(1))
          : (!readsX(rootOp->getOperand(0)) || !readsX(rootOp->getOperand(1)));
  if (!scalesByInvariant)
    return std::nullopt;
  return site;
}

/// Proves the three laws for the site's bodies; warns and returns failure
/// when one does not hold.
LogicalResult checkLaws(Site site) {
  LawProver prover;
  ReduceKind kind =
      cast<ReductionAttr>(site.consumer.getReductions()[0]).getKind();
  SmallVector<z3::expr> ys, ws;
  for (unsigned k = 0; k < site.producer.getInputs().size(); ++k)
    ys.push_back(prover.variable("y" + std::to_string(k)));
  for (unsigned j = 0; j < site.consumer.getInputs().size(); ++j)
    ws.push_back(prover.variable("w" + std::to_string(j)));
  std::string why;
  auto d = [&](const z3::expr &t) -> FailureOr<z3::expr> {
    SmallVector<z3::expr> args(ys);
    args[site.varying] = t;
    return prover.apply(site.producer, args, why);
  };
  auto c = [&](const z3::expr &t) -> FailureOr<z3::expr> {
    SmallVector<z3::expr> args(ws);
    args[site.operandIndex] = t;
    return prover.apply(site.consumer, args, why);
  };
  z3::expr x = prover.variable("x"), a = prover.variable("a"),
           b = prover.variable("b");
  auto refuse = [&](StringRef law, const ProofResult &result) {
    site.consumer.emitWarning()
        << describeRefusal("cascade-defer-division", law, result);
    return failure();
  };
  auto unmodelled = [&]() {
    site.consumer.emitWarning()
        << describeUnmodelled("cascade-defer-division", why);
    return failure();
  };

  FailureOr<z3::expr> dab = d(prover.combine(kind, a, b)), da = d(a), db = d(b);
  if (failed(dab) || failed(da) || failed(db))
    return unmodelled();
  ProofResult distributes = prover.prove(*dab, prover.combine(kind, *da, *db));
  if (distributes.status != ProofStatus::Proved)
    return refuse(("d(a " + stringifyReduceKind(kind) +
                   " b, y) = d(a, y) " + stringifyReduceKind(kind) +
                   " d(b, y) (the producer distributes over the reduction)")
                      .str(),
                  distributes);

  FailureOr<z3::expr> dx = d(x);
  if (failed(dx))
    return unmodelled();
  FailureOr<z3::expr> cdx = c(*dx), cx = c(x);
  if (failed(cdx) || failed(cx))
    return unmodelled();
  FailureOr<z3::expr> dcx = d(*cx);
  if (failed(dcx))
    return unmodelled();
  ProofResult commutes = prover.prove(*cdx, *dcx);
  if (commutes.status != ProofStatus::Proved)
    return refuse("c(d(x, y), w) = d(c(x, w), y) (the producer commutes with "
                  "the consumer's map)",
                  commutes);

  if (site.producer.hasMask()) {
    double identity = getReduceIdentity(kind);
    double fill = site.producer.getFillValue();
    if (!std::isfinite(identity) || !std::isfinite(fill)) {
      site.consumer.emitWarning()
          << "cascade-defer-division refused: the producer is masked and the "
             "law c(else, w) = identity needs finite values";
      return failure();
    }
    FailureOr<z3::expr> cfill = c(prover.constant(fill));
    if (failed(cfill))
      return unmodelled();
    ProofResult vanishes = prover.prove(*cfill, prover.constant(identity));
    if (vanishes.status != ProofStatus::Proved)
      return refuse("c(else, w) = identity (a masked element contributes "
                    "nothing to the reduction)",
                    vanishes);
  }
  return success();
}

/// The three laws again over the extended reals, for the values the
/// operands can take (FloatClassAnalysis): the spec's divisions are assumed
/// to be by nonzero values, as everywhere, but infinities and NaN in the
/// numerator, the divisor or the consumer's other operands are not ruled out.
LogicalResult checkSpecialValues(Site site) {
  FloatClassAnalysis classes(site.consumer->getParentOfType<func::FuncOp>());
  LawProver prover;
  IeeeBodyEncoder &ieee = prover.extended();
  ReduceKind kind =
      cast<ReductionAttr>(site.consumer.getReductions()[0]).getKind();
  FloatClasses varying = classes.getClassesAsRead(site.producer, site.varying);
  SmallVector<ExtendedValue> ys, ws;
  for (unsigned k = 0; k < site.producer.getInputs().size(); ++k)
    ys.push_back(prover.extendedVariable(
        "y" + std::to_string(k), classes.getClassesAsRead(site.producer, k)));
  for (unsigned j = 0; j < site.consumer.getInputs().size(); ++j)
    ws.push_back(prover.extendedVariable(
        "w" + std::to_string(j),
        j == site.operandIndex ? kAnyFloat
                               : classes.getClassesAsRead(site.consumer, j)));
  std::string why;
  auto d = [&](const ExtendedValue &t, bool isSpec) {
    SmallVector<ExtendedValue> args(ys);
    args[site.varying] = t;
    return prover.applyExtended(site.producer, args, why, isSpec);
  };
  auto c = [&](const ExtendedValue &t) {
    SmallVector<ExtendedValue> args(ws);
    args[site.operandIndex] = t;
    return prover.applyExtended(site.consumer, args, why, true);
  };
  auto combine = [&](const ExtendedValue &a, const ExtendedValue &b) {
    switch (kind) {
    case ReduceKind::add:
      return ieee.add(a, b);
    case ReduceKind::mul:
      return ieee.multiply(a, b);
    case ReduceKind::max:
      return ieee.maximum(a, b);
    case ReduceKind::min:
      return ieee.minimum(a, b);
    }
    llvm_unreachable("unknown reduce operator");
  };
  std::string caseText = "a numerator that may be " + describeClasses(varying);
  auto refuse = [&](StringRef law, const ProofResult &result) {
    site.consumer.emitWarning() << describeRefusal(
        "cascade-defer-division",
        (law + " over the extended reals, for " + caseText).str(), result);
    return failure();
  };
  auto unmodelled = [&]() {
    site.consumer.emitWarning()
        << describeUnmodelled("cascade-defer-division", why);
    return failure();
  };
  z3::expr always = prover.getContext().bool_val(true);

  ExtendedValue a = prover.extendedVariable("a", varying),
                b = prover.extendedVariable("b", varying),
                x = prover.extendedVariable("x", varying);
  FailureOr<ExtendedValue> da = d(a, true), db = d(b, true),
                           dab = d(combine(a, b), false);
  if (failed(da) || failed(db) || failed(dab))
    return unmodelled();
  ProofResult distributes =
      prover.proveExtended(ieee.same(*dab, combine(*da, *db)), always);
  if (distributes.status != ProofStatus::Proved)
    return refuse("d(a (+) b, y) = d(a, y) (+) d(b, y)", distributes);

  FailureOr<ExtendedValue> dx = d(x, true), cx = c(x);
  if (failed(dx) || failed(cx))
    return unmodelled();
  FailureOr<ExtendedValue> cdx = c(*dx), dcx = d(*cx, false);
  if (failed(cdx) || failed(dcx))
    return unmodelled();
  ProofResult commutes = prover.proveExtended(ieee.same(*cdx, *dcx), always);
  if (commutes.status != ProofStatus::Proved)
    return refuse("c(d(x, y), w) = d(c(x, w), y)", commutes);

  if (site.producer.hasMask()) {
    FailureOr<ExtendedValue> masked =
        c(ieee.constant(site.producer.getFillValue()));
    if (failed(masked))
      return unmodelled();
    ProofResult vanishes = prover.proveExtended(
        ieee.same(*masked, ieee.constant(getReduceIdentity(kind))), always);
    if (vanishes.status != ProofStatus::Proved)
      return refuse("c(else, w) = identity", vanishes);
  }
  return success();
}

bool rewrite(Site site) {
  EinsumOp consumer = site.consumer, producer = site.producer;
  MLIRContext *context = consumer.getContext();
  OpBuilder builder(consumer);
  Location loc = consumer.getLoc();

  // N = reduce c(x, w): the consumer with the varying operand read directly.
  EinsumParts numerator(context);
  llvm::StringMap<AffineExpr> substitute;
  SmallVector<SmallVector<AffineExpr>> producerIndices =
      translateProducerIndices(site, numerator, substitute);
  for (unsigned j = 0; j < consumer.getInputs().size(); ++j) {
    if (j == site.operandIndex)
      numerator.addOperand(producer.getInputs()[site.varying],
                           producerIndices[site.varying]);
    else
      numerator.addOperandOf(consumer, j);
  }
  numerator.addPredicateOf(consumer);
  numerator.addPredicateOf(producer, substitute);
  Value varyingValue = producer.getInputs()[site.varying];
  numerator.name = getUniqueEinsumName(
      consumer, CascadePassCount::getTensorName(varyingValue) +
                    consumer.getName().value_or("N").str());
  for (StringRef rank : consumer.getOutput().getAsValueRange<StringAttr>())
    numerator.output.push_back(rank.str());
  for (Attribute attr : consumer.getReductions()) {
    auto reduction = cast<ReductionAttr>(attr);
    numerator.reductions.push_back(
        {reduction.getRank().str(), reduction.getKind()});
  }
  for (StringRef rank : consumer.getOuterRanks())
    (void)numerator.dim(rank);
  numerator.elementType =
      cast<RankedTensorType>(consumer.getType()).getElementType();
  EinsumOp newNumerator = numerator.build(
      builder, loc, [&](OpBuilder &b, Location, ValueRange args) {
        return inlineBody(b, consumer, args);
      });

  // AV = d(N, y), over the consumer's output, where its domain is not
  // empty. The invariant operands' indices are in the numerator's space;
  // newNumerator has the same ranks, so translate from it by name.
  EinsumParts result(context);
  SmallVector<AffineExpr> outputIndices;
  for (StringRef rank : consumer.getOutput().getAsValueRange<StringAttr>()) {
    outputIndices.push_back(result.dim(rank));
    result.output.push_back(rank.str());
  }
  for (StringRef rank : consumer.getOuterRanks())
    (void)result.dim(rank);
  for (unsigned k = 0; k < producer.getInputs().size(); ++k) {
    if (k == site.varying) {
      result.addOperand(newNumerator.getResult(), outputIndices);
      continue;
    }
    SmallVector<AffineExpr> indices;
    for (AffineExpr expr : producerIndices[k])
      indices.push_back(result.translate(expr, newNumerator));
    result.addOperand(producer.getInputs()[k], indices);
  }
  SmallVector<std::string> reduced;
  for (auto &[rank, kind] : numerator.reductions)
    reduced.push_back(rank);
  if (failed(addProjectedDomain(newNumerator, reduced, result))) {
    consumer.emitWarning()
        << "cascade-defer-division refused: the rows whose masked domain is "
           "empty cannot be written as an integer set"
        << (newNumerator.getDataCompares().empty()
                ? ""
                : " (a data comparison leaves a row empty unless some key "
                  "reads the same element as the row, as `D[b, m] == "
                  "D[b, p]` does at m = p)")
        << ", so the deferred division could not keep their 'else' value";
    newNumerator.erase();
    return false;
  }
  result.name = consumer.getName().value_or("").str();
  result.fill = consumer.getFillValue();
  result.elementType = numerator.elementType;
  EinsumOp newResult =
      result.build(builder, loc, [&](OpBuilder &b, Location, ValueRange args) {
        return inlineBody(b, producer, args);
      });

  consumer.getResult().replaceAllUsesWith(newResult.getResult());
  consumer.erase();
  if (producer->use_empty())
    producer.erase();
  return true;
}

} // namespace

bool mlir::cascade::deferDivisionOnce(func::FuncOp function,
                                      RefusedSites &refused) {
  SmallVector<EinsumOp> consumers;
  function.walk([&](EinsumOp einsum) { consumers.push_back(einsum); });
  for (EinsumOp consumer : consumers) {
    if (refused.contains(consumer))
      continue;
    for (unsigned i = 0; i < consumer.getInputs().size(); ++i) {
      std::optional<Site> site = matchSite(consumer, i);
      if (!site)
        continue;
      if (failed(checkLaws(*site)) || failed(checkSpecialValues(*site)) ||
          !rewrite(*site)) {
        refused.insert(consumer);
        break;
      }
      return true;
    }
  }
  return false;
}

namespace {
struct DeferDivisionPass
    : public mlir::cascade::impl::CascadeDeferDivisionBase<DeferDivisionPass> {
  void runOnOperation() override {
    RefusedSites refused;
    while (deferDivisionOnce(getOperation(), refused)) {
    }
  }
};
} // namespace
