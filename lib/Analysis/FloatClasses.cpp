//===- FloatClasses.cpp - Which special values a tensor may hold ----------===//
//
// A forward walk over the function (iterates to a fixpoint): the classes of
// each Einsum's body come from four satisfiability questions to Z3 in the
// extended-real model, one per kind of value.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <mutex>

using namespace mlir;
using namespace mlir::cascade;

namespace {

FloatClasses classOf(double value) {
  if (std::isnan(value))
    return kNaN;
  if (std::isinf(value))
    return value > 0 ? kPosInf : kNegInf;
  return kFinite;
}

/// The classes of a reduction over a nonempty domain of body values.
FloatClasses foldReduction(ReduceKind kind, FloatClasses body) {
  FloatClasses result = body;
  bool infinite = body & (kPosInf | kNegInf);
  switch (kind) {
  case ReduceKind::add:
    if ((body & kPosInf) && (body & kNegInf))
      result |= kNaN; // inf + -inf
    break;
  case ReduceKind::mul:
    if (infinite)
      result |= kPosInf | kNegInf | kNaN; // 0 * inf, a sign flip
    break;
  case ReduceKind::max:
  case ReduceKind::min:
    break;
  }
  return result;
}

} // namespace

FloatClassAnalysis::FloatClassAnalysis(func::FuncOp function) {
  for (BlockArgument argument : function.getArguments())
    values[argument] = kFinite;
  visitBlock(function.getBody().front());
}

FloatClasses FloatClassAnalysis::getClasses(Value tensor) const {
  auto it = values.find(tensor);
  return it == values.end() ? kAnyFloat : it->second;
}

FloatClasses FloatClassAnalysis::getClassesAsRead(EinsumOp reader,
                                                  unsigned operand) const {
  Value tensor = reader.getInputs()[operand];
  auto producer = tensor.getDefiningOp<EinsumOp>();
  if (!producer)
    return getClasses(tensor);
  auto it = einsums.find(producer.getOperation());
  if (it == einsums.end())
    return kAnyFloat;
  const EinsumClasses &classes = it->second;
  if (classes.emptyWhenRankEmpty &&
      llvm::all_of(*classes.emptyWhenRankEmpty, [&](const std::string &rank) {
        return reader.getRankPosition(rank) >= 0;
      }))
    return classes.body; // The reader's point has a coordinate of each.
  return classes.body | classes.fill;
}

void FloatClassAnalysis::visitBlock(Block &block) {
  for (Operation &op : block) {
    if (auto einsum = dyn_cast<EinsumOp>(op)) {
      visitEinsum(einsum);
      continue;
    }
    if (auto grid = dyn_cast<GridOp>(op)) {
      // A result holds its items' tiles.
      visitBlock(grid.getBodyBlock());
      auto yield = cast<YieldOp>(grid.getBodyBlock().getTerminator());
      for (auto [result, tile] : llvm::zip(grid.getResults(), yield.getValues()))
        values[result] = getClasses(tile);
      continue;
    }
    auto iterate = dyn_cast<IterateOp>(op);
    if (!iterate)
      continue;
    Block &body = iterate.getBodyBlock();
    for (auto [argument, init] :
         llvm::zip(body.getArguments(), iterate.getInits()))
      values[argument] = getClasses(init);
    // Four bits per value: the join grows at most four times per value.
    for (unsigned round = 0; round < 5 * body.getNumArguments() + 1; ++round) {
      visitBlock(body);
      auto yield = cast<YieldOp>(body.getTerminator());
      bool changed = false;
      for (auto [argument, yielded] :
           llvm::zip(body.getArguments(), yield.getValues())) {
        FloatClasses joined = values[argument] | getClasses(yielded);
        changed |= joined != values[argument];
        values[argument] = joined;
      }
      if (!changed)
        break;
    }
    for (auto [result, argument] :
         llvm::zip(iterate.getCarriedResults(), body.getArguments()))
      values[result] = values[argument];
    // A stacked result holds what its value held at some step.
    auto yield = cast<YieldOp>(body.getTerminator());
    for (auto [result, yielded] :
         llvm::zip(iterate.getStackedResults(),
                   yield.getValues().drop_front(iterate.getInits().size())))
      values[result] = getClasses(yielded);
  }
}

/// Whether every op of the body maps finite values to finite values in the
/// extended-real model (IeeeBodyEncoder), so that finite operands give a
/// finite result without asking Z3: + - * (a spec's divisions are by
/// nonzero values), max/min, select, comparisons, finite constants,
/// coordinates, extents, and functions finite on every real.
static bool preservesFiniteness(EinsumOp einsum) {
  for (Operation &op : einsum.getBodyBlock()) {
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      if (auto value = dyn_cast<FloatAttr>(constant.getValue()))
        if (!std::isfinite(value.getValueAsDouble()))
          return false;
      continue;
    }
    if (isa<YieldOp, IndexOp, ExtentOp, arith::AddFOp, arith::SubFOp,
            arith::MulFOp, arith::DivFOp, arith::NegFOp, arith::MaximumFOp,
            arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp,
            arith::SelectOp, arith::CmpFOp, arith::CmpIOp, arith::AndIOp,
            arith::OrIOp, arith::AddIOp, arith::SubIOp, arith::MulIOp,
            arith::FloorDivSIOp,
            arith::ExtFOp, arith::TruncFOp, arith::SIToFPOp, arith::UIToFPOp,
            arith::IndexCastOp, arith::ExtSIOp, arith::ExtUIOp, math::AbsFOp,
            math::FmaOp, math::ExpOp, math::Exp2Op, math::ExpM1Op,
            math::TanhOp, math::ErfOp, math::SinOp, math::CosOp,
            math::AtanOp>(op))
      continue;
    return false;
  }
  return true;
}

namespace {
/// The classes already proved for an Einsum's text and its operands'
/// classes. The analysis is rebuilt after every rewrite and by every pass
/// that needs it (tile classification, online rescaling, deferred
/// division), over mostly the same Einsums: without this, four Z3 queries
/// per Einsum per rebuild were most of a GPU compile (sinks + window at
/// D=128: 55% of cascade-to-gpu). Shared by the threads of a pass manager.
class BodyClassCache {
public:
  std::optional<FloatClasses> lookup(StringRef key) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = entries.find(key);
    if (it == entries.end())
      return std::nullopt;
    return it->second;
  }
  void insert(StringRef key, FloatClasses classes) {
    std::lock_guard<std::mutex> lock(mutex);
    // Bounded for long-lived hosts (the Python module, the fuzzers).
    if (entries.size() >= 4096)
      entries.clear();
    entries[key] = classes;
  }

private:
  std::mutex mutex;
  llvm::StringMap<FloatClasses> entries;
};

BodyClassCache &getBodyClassCache() {
  static BodyClassCache cache;
  return cache;
}

/// What the classes of `einsum`'s body depend on: the Einsum in generic
/// form (its body with the block's own value numbering, its ranks, which
/// the encoding assumes nonempty) and the classes its operands are read
/// with.
std::string getBodyClassKey(EinsumOp einsum,
                            ArrayRef<FloatClasses> operandClasses) {
  std::string key;
  llvm::raw_string_ostream os(key);
  einsum->print(
      os,
      OpPrintingFlags().printGenericOpForm().useLocalScope().assumeVerified());
  for (FloatClasses classes : operandClasses)
    os << " " << static_cast<unsigned>(classes);
  return key;
}
} // namespace

FloatClasses FloatClassAnalysis::classifyBody(EinsumOp einsum) {
  bool finiteOperands = true;
  SmallVector<FloatClasses> operandClasses;
  for (unsigned i = 0; i < einsum.getInputs().size(); ++i) {
    operandClasses.push_back(getClassesAsRead(einsum, i));
    finiteOperands &= operandClasses.back() == kFinite;
  }
  if (finiteOperands && preservesFiniteness(einsum))
    return kFinite;
  std::string key = getBodyClassKey(einsum, operandClasses);
  if (std::optional<FloatClasses> known = getBodyClassCache().lookup(key))
    return *known;
  FloatClasses possible = classifyBodyByProof(einsum);
  getBodyClassCache().insert(key, possible);
  return possible;
}

FloatClasses FloatClassAnalysis::classifyBodyByProof(EinsumOp einsum) {
  LawProver prover;
  SmallVector<ExtendedValue> operands;
  for (unsigned i = 0; i < einsum.getInputs().size(); ++i)
    operands.push_back(prover.extendedVariable("x" + std::to_string(i),
                                               getClassesAsRead(einsum, i)));
  std::string why;
  FailureOr<ExtendedValue> result =
      prover.applyExtended(einsum, operands, why, /*isSpec=*/true);
  if (failed(result))
    return kAnyFloat;
  FloatClasses possible = 0;
  for (FloatClasses bit : {kFinite, kPosInf, kNegInf, kNaN}) {
    ProofResult never = prover.proveExtended(
        !prover.extended().inClasses(*result, bit),
        prover.getContext().bool_val(true));
    if (never.status != ProofStatus::Proved)
      possible |= bit;
  }
  return possible;
}

void FloatClassAnalysis::visitEinsum(EinsumOp einsum) {
  EinsumClasses classes;
  classes.body = classifyBody(einsum);
  // Reductions fold innermost first; each sees a nonempty fiber here.
  for (Attribute attr : einsum.getReductions())
    classes.body =
        foldReduction(cast<ReductionAttr>(attr).getKind(), classes.body);

  // Where can the domain be empty? A predicate can empty it anywhere; a
  // reduced rank empties it when its extent is 0, except a partition's
  // inner rank under an iterate over the outer one (every tile has a point).
  FloatClasses fill = classOf(einsum.getFillValue());
  if (einsum.hasMask()) {
    classes.fill = fill;
  } else if (!einsum.getReductions().empty()) {
    auto function = einsum->getParentOfType<func::FuncOp>();
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    SmallVector<StringRef> outer = einsum.getOuterRanks();
    SmallVector<std::string> mayBeEmpty;
    for (Attribute attr : einsum.getReductions()) {
      StringRef rank = cast<ReductionAttr>(attr).getRank().getValue();
      PartitionOp partition =
          succeeded(env) ? env->getPartitionOfInner(rank) : PartitionOp();
      if (partition && llvm::is_contained(outer, partition.getOuter()))
        continue;
      mayBeEmpty.push_back(rank.str());
    }
    if (!mayBeEmpty.empty()) {
      classes.fill = fill;
      classes.emptyWhenRankEmpty = mayBeEmpty;
    }
  }
  einsums[einsum.getOperation()] = classes;
  values[einsum.getResult()] = classes.body | classes.fill;
}

LogicalResult mlir::cascade::checkFiniteOperands(
    const FloatClassAnalysis &classes, EinsumOp reader,
    std::optional<unsigned> skip, std::string &why) {
  for (unsigned i = 0; i < reader.getInputs().size(); ++i) {
    if (skip && i == *skip)
      continue;
    FloatClasses read = classes.getClassesAsRead(reader, i);
    if (read == kFinite)
      continue;
    why = "operand #" + std::to_string(i) + " of '" +
          reader.getName().value_or("?").str() + "' may be " +
          describeClasses(read);
    return failure();
  }
  return success();
}

LogicalResult mlir::cascade::requireFiniteOperands(
    const FloatClassAnalysis &classes, EinsumOp reader,
    std::optional<unsigned> skip, Operation *reportAt, StringRef rewrite,
    StringRef what) {
  std::string why;
  if (succeeded(checkFiniteOperands(classes, reader, skip, why)))
    return success();
  reportAt->emitWarning() << rewrite << " refused: " << what
                          << " is exact only for finite values, and " << why;
  return failure();
}
