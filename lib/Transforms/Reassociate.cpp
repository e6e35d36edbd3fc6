//===- Reassociate.cpp - Reorder a chain of two contractions --------------===//
//
//   S[m,p] = sum_e A[p,e] * B[m,e]     C[p,f] = sum_m S[m,p] * W[m,f]
// becomes
//   T[e,f] = sum_m B[m,e] * W[m,f]     C[p,f] = sum_e A[p,e] * T[e,f]
//
// (linear attention: phi(Q) (phi(K)^T V)). The law is associativity of the
// two sums with distributivity of * over +, which holds when S's map is the
// product of its operands and C's map is S times W (or S alone); both are
// proved with Z3 for the actual bodies. The cost model and the choice are
// described in docs/Passes.md.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Analysis/PassCount.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/Passes.h"


namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEREASSOCIATE
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct Site {
  EinsumOp consumer;       // C
  unsigned sOperand;       // C's operand that is S
  EinsumOp producer;       // S
  unsigned aOperand;       // S's operand that does not vary with r
  std::string reduced;     // r
  std::string contracted;  // k
};

std::optional<SmallVector<std::string>> plainIndices(EinsumOp e, unsigned i) {
  SmallVector<std::string> names;
  AffineMap map = cast<AffineMapAttr>(e.getIndexingMaps()[i]).getValue();
  for (AffineExpr expr : map.getResults()) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim)
      return std::nullopt;
    names.push_back(cast<StringAttr>(e.getRanks()[dim.getPosition()]).str());
  }
  return names;
}

bool allPlain(EinsumOp e) {
  for (unsigned i = 0; i < e.getInputs().size(); ++i)
    if (!plainIndices(e, i))
      return false;
  return true;
}

std::optional<Site> matchSite(EinsumOp consumer) {
  if (consumer.getReductions().size() != 1 || consumer.hasMask() ||
      !consumer.getOuterRanks().empty() || consumer.getInputs().size() > 2 ||
      !allPlain(consumer) || bodyReadsCoordinates(consumer))
    return std::nullopt;
  auto reduction = cast<ReductionAttr>(consumer.getReductions()[0]);
  if (reduction.getKind() != ReduceKind::add)
    return std::nullopt;
  for (unsigned i = 0; i < consumer.getInputs().size(); ++i) {
    auto producer = consumer.getInputs()[i].getDefiningOp<EinsumOp>();
    if (!producer || producer->getBlock() != consumer->getBlock() ||
        producer.getReductions().size() != 1 || producer.hasMask() ||
        producer.getInputs().size() != 2 || !producer.getOuterRanks().empty() ||
        !allPlain(producer) || bodyReadsCoordinates(producer) ||
        llvm::count(consumer.getInputs(), producer.getResult()) != 1)
      continue;
    auto inner = cast<ReductionAttr>(producer.getReductions()[0]);
    if (inner.getKind() != ReduceKind::add)
      continue;
    // C reads S by S's own rank names, and k is not a rank of C.
    SmallVector<std::string> output;
    for (StringRef r : producer.getOutput().getAsValueRange<StringAttr>())
      output.push_back(r.str());
    if (*plainIndices(consumer, i) != output ||
        consumer.getRankPosition(inner.getRank().getValue()) >= 0)
      continue;
    std::string r = reduction.getRank().str();
    std::string k = inner.getRank().str();
    if (!llvm::is_contained(output, r))
      continue;
    // Exactly one of S's operands varies with r; the other is A.
    SmallVector<std::string> first = *plainIndices(producer, 0);
    SmallVector<std::string> second = *plainIndices(producer, 1);
    bool firstVaries = llvm::is_contained(first, r);
    bool secondVaries = llvm::is_contained(second, r);
    if (firstVaries == secondVaries)
      continue;
    // W must not read k.
    if (consumer.getInputs().size() == 2 &&
        llvm::is_contained(*plainIndices(consumer, 1 - i), k))
      continue;
    return Site{consumer, i, producer, firstVaries ? 1u : 0u, r, k};
  }
  return std::nullopt;
}

LogicalResult checkLaws(Site site) {
  LawProver prover;
  std::string why;
  z3::expr a = prover.variable("a"), b = prover.variable("b");
  z3::expr s = prover.variable("s"), w = prover.variable("w");
  FailureOr<z3::expr> product = prover.apply(site.producer, {a, b}, why);
  SmallVector<z3::expr> cArgs = {w, w};
  cArgs.resize(site.consumer.getInputs().size(), w);
  cArgs[site.sOperand] = s;
  FailureOr<z3::expr> consumed = prover.apply(site.consumer, cArgs, why);
  if (failed(product) || failed(consumed)) {
    site.consumer.emitWarning()
        << describeUnmodelled("cascade-reassociate", why);
    return failure();
  }
  ProofResult isProduct = prover.prove(*product, a * b);
  if (isProduct.status != ProofStatus::Proved) {
    site.consumer.emitWarning() << describeRefusal(
        "cascade-reassociate",
        "sum_m (sum_k g(a, b)) w = sum_k a (sum_m b w), which needs "
        "g(a, b) = a * b (the producer's map is the product of its operands)",
        isProduct);
    return failure();
  }
  // Reordering sums and products is exact on finite values only (an
  // infinite b with a zero a is NaN in one order and may be finite in the
  // other), so every operand involved must be finite.
  FloatClassAnalysis classes(
      site.consumer->getParentOfType<func::FuncOp>());
  if (failed(requireFiniteOperands(classes, site.producer, std::nullopt,
                                   site.consumer, "cascade-reassociate",
                                   "reordering the sums")) ||
      failed(requireFiniteOperands(classes, site.consumer, site.sOperand,
                                   site.consumer, "cascade-reassociate",
                                   "reordering the sums")))
    return failure();
  z3::expr expected = site.consumer.getInputs().size() == 2 ? s * w : s;
  ProofResult isLinear = prover.prove(*consumed, expected);
  if (isLinear.status != ProofStatus::Proved) {
    site.consumer.emitWarning() << describeRefusal(
        "cascade-reassociate",
        site.consumer.getInputs().size() == 2
            ? "c(s, w) = s * w (the consumer multiplies the product by its "
              "other operand)"
            : "c(s) = s (the consumer sums the product)",
        isLinear);
    return failure();
  }
  return success();
}

/// FLOPs of a chain as a sum of iteration-space sizes; each space is the
/// list of its ranks.
struct Cost {
  SmallVector<SmallVector<std::string>> spaces;
};

SmallVector<std::string> spaceOf(ArrayRef<std::string> a,
                                 ArrayRef<std::string> b) {
  SmallVector<std::string> all(a.begin(), a.end());
  for (const std::string &rank : b)
    if (!llvm::is_contained(all, rank))
      all.push_back(rank);
  return all;
}

enum class Choice { Better, Worse };

/// Compares two costs: numerically if every extent is known, otherwise by
/// the degree in the unknown extents (unknown extents are taken to be
/// sequence lengths, larger than any known one). Only a strict improvement
/// counts, so the rewrite and its inverse never undo each other.
Choice compare(const Cost &newCost, const Cost &oldCost,
               const RankEnvironment &env,
               const llvm::StringMap<int64_t> &assumed) {
  auto extent = [&](const std::string &rank) -> std::optional<int64_t> {
    if (std::optional<int64_t> e = env.getStaticExtent(rank))
      return e;
    if (auto it = assumed.find(rank); it != assumed.end())
      return it->second;
    return std::nullopt;
  };
  bool allKnown = true;
  auto total = [&](const Cost &cost, unsigned &degree) {
    double flops = 0;
    degree = 0;
    for (const auto &space : cost.spaces) {
      double points = 2;
      unsigned unknown = 0;
      for (const std::string &rank : space) {
        if (std::optional<int64_t> e = extent(rank))
          points *= *e;
        else
          ++unknown, allKnown = false;
      }
      flops += points;
      degree = std::max(degree, unknown);
    }
    return flops;
  };
  unsigned newDegree, oldDegree;
  double newFlops = total(newCost, newDegree);
  double oldFlops = total(oldCost, oldDegree);
  if (allKnown)
    return newFlops < oldFlops ? Choice::Better : Choice::Worse;
  if (newDegree == oldDegree && newDegree == 0)
    return Choice::Worse;
  if (newDegree != oldDegree)
    return newDegree < oldDegree ? Choice::Better : Choice::Worse;
  return Choice::Worse;
}

void rewrite(Site site) {
  EinsumOp consumer = site.consumer, producer = site.producer;
  MLIRContext *context = consumer.getContext();
  OpBuilder builder(consumer);
  Location loc = consumer.getLoc();
  unsigned bOperand = 1 - site.aOperand;
  SmallVector<std::string> bRanks = *plainIndices(producer, bOperand);
  SmallVector<std::string> aRanks = *plainIndices(producer, site.aOperand);
  bool hasW = consumer.getInputs().size() == 2;
  SmallVector<std::string> wRanks;
  if (hasW)
    wRanks = *plainIndices(consumer, 1 - site.sOperand);

  // T = sum_r B * W, over the ranks of B and W other than r.
  EinsumParts tParts(context);
  for (const std::string &rank : spaceOf(bRanks, wRanks))
    if (rank != site.reduced)
      tParts.output.push_back(rank);
  auto read = [&](EinsumParts &parts, Value v, ArrayRef<std::string> ranks) {
    SmallVector<AffineExpr> indices;
    for (const std::string &r : ranks)
      indices.push_back(parts.dim(r));
    parts.addOperand(v, indices);
  };
  read(tParts, producer.getInputs()[bOperand], bRanks);
  if (hasW)
    read(tParts, consumer.getInputs()[1 - site.sOperand], wRanks);
  tParts.reductions.push_back({site.reduced, ReduceKind::add});
  std::string bName = CascadePassCount::getTensorName(producer.getInputs()[bOperand]);
  // B times W ("PKW", FuseMax would say KV), or B summed ("PKS").
  std::string wName = hasW ? "W" : "S";
  tParts.name = getUniqueEinsumName(consumer, bName + wName);
  tParts.elementType = cast<RankedTensorType>(consumer.getType()).getElementType();
  EinsumOp t = tParts.build(builder, loc, [&](OpBuilder &b, Location l, ValueRange args) -> Value {
    if (args.size() == 1)
      return args[0];
    return arith::MulFOp::create(b, l, args[0], args[1]);
  });

  // C = sum_k A * T.
  EinsumParts cParts(context);
  for (StringRef r : consumer.getOutput().getAsValueRange<StringAttr>())
    cParts.output.push_back(r.str());
  read(cParts, producer.getInputs()[site.aOperand], aRanks);
  read(cParts, t.getResult(), tParts.output);
  cParts.reductions.push_back({site.contracted, ReduceKind::add});
  cParts.name = consumer.getName().value_or("").str();
  if (consumer.getFill())
    cParts.fill = consumer.getFillValue();
  cParts.elementType = tParts.elementType;
  EinsumOp c = cParts.build(builder, loc, [&](OpBuilder &b, Location l, ValueRange args) -> Value {
    return arith::MulFOp::create(b, l, args[0], args[1]);
  });
  consumer.getResult().replaceAllUsesWith(c.getResult());
  consumer.erase();
  if (producer->use_empty())
    producer.erase();
}

Cost costBefore(Site site) {
  SmallVector<std::string> sOut, cOut;
  for (StringRef r : site.producer.getOutput().getAsValueRange<StringAttr>())
    sOut.push_back(r.str());
  for (StringRef r : site.consumer.getOutput().getAsValueRange<StringAttr>())
    cOut.push_back(r.str());
  return Cost{{spaceOf(sOut, {site.contracted}), spaceOf(cOut, {site.reduced})}};
}

Cost costAfter(Site site) {
  SmallVector<std::string> bRanks = *plainIndices(site.producer, 1 - site.aOperand);
  SmallVector<std::string> wRanks;
  if (site.consumer.getInputs().size() == 2)
    wRanks = *plainIndices(site.consumer, 1 - site.sOperand);
  SmallVector<std::string> cOut;
  for (StringRef r : site.consumer.getOutput().getAsValueRange<StringAttr>())
    cOut.push_back(r.str());
  return Cost{{spaceOf(bRanks, wRanks), spaceOf(cOut, {site.contracted})}};
}

} // namespace

bool mlir::cascade::reassociateOnce(func::FuncOp function,
                                    const llvm::StringMap<int64_t> &assumed,
                                    RefusedSites &refused) {
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return false;
  SmallVector<EinsumOp> consumers;
  function.walk([&](EinsumOp e) { consumers.push_back(e); });
  for (auto [position, consumer] : llvm::enumerate(consumers)) {
    if (refused.contains(consumer))
      continue;
    std::optional<Site> site = matchSite(consumer);
    if (!site)
      continue;
    if (compare(costAfter(*site), costBefore(*site), *env, assumed) !=
        Choice::Better)
      continue;
    if (failed(checkLaws(*site))) {
      refused.insert(consumer);
      continue;
    }
    // Never trade FLOPs for passes: try it on a copy first.
    unsigned before = CascadePassCount::computeMaxPasses(function);
    func::FuncOp trial = function.clone();
    SmallVector<EinsumOp> trialConsumers;
    trial.walk([&](EinsumOp e) { trialConsumers.push_back(e); });
    std::optional<Site> trialSite = matchSite(trialConsumers[position]);
    rewrite(*trialSite);
    unsigned after = CascadePassCount::computeMaxPasses(trial);
    trial.erase();
    if (after > before)
      continue;
    rewrite(*site);
    return true;
  }
  return false;
}

FailureOr<llvm::StringMap<int64_t>>
mlir::cascade::parseAssumedExtents(Location loc, ArrayRef<std::string> entries) {
  llvm::StringMap<int64_t> extents;
  for (const std::string &entry : entries) {
    auto [rank, value] = StringRef(entry).split('=');
    int64_t extent;
    if (rank.empty() || value.getAsInteger(10, extent) || extent < 1)
      return emitError(loc) << "malformed size '" << entry
                            << "': expected rank=N with N >= 1";
    if (!extents.try_emplace(rank.trim(), extent).second)
      return emitError(loc) << "the size of '" << rank.trim()
                            << "' is given twice";
  }
  return extents;
}

FailureOr<llvm::StringMap<int64_t>>
mlir::cascade::getAssumedExtents(func::FuncOp function,
                                 ArrayRef<std::string> entries) {
  llvm::StringMap<int64_t> extents;
  if (auto typical =
          function->getAttrOfType<DictionaryAttr>("cascade.typical_extents")) {
    for (NamedAttribute entry : typical) {
      auto value = dyn_cast<IntegerAttr>(entry.getValue());
      if (!value || value.getInt() < 1)
        return function.emitError()
               << "'cascade.typical_extents' entry '" << entry.getName().strref()
               << "' must be a positive integer";
      extents[entry.getName().strref()] = value.getInt();
    }
  }
  FailureOr<llvm::StringMap<int64_t>> given =
      parseAssumedExtents(function.getLoc(), entries);
  if (failed(given))
    return failure();
  for (auto &entry : *given)
    extents[entry.getKey()] = entry.getValue();
  return extents;
}

namespace {
struct ReassociatePass
    : public mlir::cascade::impl::CascadeReassociateBase<ReassociatePass> {
  using CascadeReassociateBase::CascadeReassociateBase;
  void runOnOperation() override {
    FailureOr<llvm::StringMap<int64_t>> assumed =
        getAssumedExtents(getOperation(), sizes);
    if (failed(assumed))
      return signalPassFailure();
    RefusedSites refused;
    while (reassociateOnce(getOperation(), *assumed, refused)) {
    }
  }
};
} // namespace
