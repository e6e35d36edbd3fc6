//===- SplitSum.cpp - Distribute a contraction over a sum of terms --------===//
//
// Differential attention combines two normalised maps before V:
//
//   A[m,p]  = N1[m,p] / D1[p] - 0.5 * (N2[m,p] / D2[p])
//   AV[p,f] = A[m,p] * V[m,f]                 reduce m: add
//
// A reads both sums D1 and D2 over m, so AV is a third pass, and deferred
// division cannot move either division past the sum (A is not a quotient).
// Split by distributivity, sum_m (x - c y) v = sum_m x v - c sum_m y v:
//
//   A1 = N1 / D1;  AV1 = sum_m A1 V;  A2 = N2 / D2;  AV2 = sum_m A2 V
//   AV = AV1 - 0.5 * AV2
//
// and each term is a softmax of its own that the other rewrites bring to
// one pass; cascade-fuse-iterates then walks both in one key loop. An
// operand-free factor of a term (the 0.5, a lambda) moves to the
// combination, so each stream is a plain quotient again.
//
// Legal when the consumer's map is the product of its operands (or the
// identity), proved with Z3, and every operand involved is finite: the sums
// are reordered, which is exact on finite values only. The split costs one
// more contraction with V; cascade-minimize-passes tries it on a copy and
// keeps it only when it lowers the pass count.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Analysis/PassCount.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADESPLITSUM
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// One term of the producer's root sum: `factor * term`, the factor
/// operand-free (null when there is none).
struct Term {
  Value factor, term;
};

Term splitFactor(Value value) {
  if (auto mul = value.getDefiningOp<arith::MulFOp>()) {
    if (isOperandFree(mul.getLhs()) && !isOperandFree(mul.getRhs()))
      return {mul.getLhs(), mul.getRhs()};
    if (isOperandFree(mul.getRhs()) && !isOperandFree(mul.getLhs()))
      return {mul.getRhs(), mul.getLhs()};
  }
  return {Value(), value};
}

struct Site {
  EinsumOp consumer; // C = sum_r c(A, W)
  unsigned operand;  // C's operand that is A
  EinsumOp producer; // A = left +- right
  bool subtract;
  Term left, right;
};

std::optional<Site> matchSite(EinsumOp consumer) {
  if (consumer.getReductions().size() != 1 || consumer.hasMask() ||
      !consumer.getOuterRanks().empty() || consumer.getInputs().size() > 2 ||
      !consumer.getDataInputs().empty() || bodyReadsCoordinates(consumer))
    return std::nullopt;
  if (cast<ReductionAttr>(consumer.getReductions()[0]).getKind() !=
      ReduceKind::add)
    return std::nullopt;
  for (auto [i, input] : llvm::enumerate(consumer.getInputs())) {
    auto producer = input.getDefiningOp<EinsumOp>();
    if (!producer || producer->getBlock() != consumer->getBlock() ||
        !producer.getReductions().empty() || producer.hasMask() ||
        !producer.getDataInputs().empty() || !producer->hasOneUse() ||
        !producer.getOuterRanks().empty() || bodyReadsCoordinates(producer))
      continue;
    Value root = producer.getBodyBlock().getTerminator()->getOperand(0);
    Operation *sum = root.getDefiningOp();
    if (!isa_and_nonnull<arith::AddFOp, arith::SubFOp>(sum))
      continue;
    Term left = splitFactor(sum->getOperand(0));
    Term right = splitFactor(sum->getOperand(1));
    // Both terms must read operands: a constant term is no stream.
    if (isOperandFree(left.term) || isOperandFree(right.term))
      continue;
    return Site{consumer, static_cast<unsigned>(i), producer,
                isa<arith::SubFOp>(sum), left, right};
  }
  return std::nullopt;
}

LogicalResult checkLaws(Site site) {
  LawProver prover;
  std::string why;
  z3::expr s = prover.variable("s"), w = prover.variable("w");
  SmallVector<z3::expr> args(site.consumer.getInputs().size(), w);
  args[site.operand] = s;
  FailureOr<z3::expr> consumed = prover.apply(site.consumer, args, why);
  if (failed(consumed)) {
    site.consumer.emitWarning()
        << describeUnmodelled("cascade-split-sum", why);
    return failure();
  }
  z3::expr expected = args.size() == 2 ? s * w : s;
  ProofResult linear = prover.prove(*consumed, expected);
  if (linear.status != ProofStatus::Proved) {
    site.consumer.emitWarning() << describeRefusal(
        "cascade-split-sum",
        "sum_m c(x +- y, w) = sum_m c(x, w) +- sum_m c(y, w), which needs "
        "c(s, w) = s * w (the consumer multiplies by its other operand)",
        linear);
    return failure();
  }
  FloatClassAnalysis classes(site.consumer->getParentOfType<func::FuncOp>());
  if (failed(requireFiniteOperands(classes, site.producer, std::nullopt,
                                   site.consumer, "cascade-split-sum",
                                   "splitting the sum")) ||
      failed(requireFiniteOperands(classes, site.consumer, site.operand,
                                   site.consumer, "cascade-split-sum",
                                   "splitting the sum")))
    return failure();
  return success();
}

/// The operands of `from`'s body that `root` depends on, in order.
SmallVector<unsigned> getArgumentsUsed(EinsumOp from, Value root) {
  llvm::SmallSetVector<unsigned, 4> used;
  SmallVector<Value> worklist = {root};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (auto argument = dyn_cast<BlockArgument>(v)) {
      used.insert(argument.getArgNumber());
      continue;
    }
    if (seen.insert(v.getDefiningOp()).second)
      llvm::append_range(worklist, v.getDefiningOp()->getOperands());
  }
  SmallVector<unsigned> sorted(used.begin(), used.end());
  llvm::sort(sorted);
  return sorted;
}

/// Clones what `root` depends on in `from`'s body, with `from`'s arguments
/// `arguments[k]` bound to `values[k]`.
Value cloneSubtree(OpBuilder &b, EinsumOp from, Value root,
                   ArrayRef<unsigned> arguments, ValueRange values) {
  IRMapping mapping;
  for (auto [k, argument] : llvm::enumerate(arguments))
    mapping.map(from.getBodyBlock().getArgument(argument), values[k]);
  llvm::SmallPtrSet<Operation *, 16> needed;
  SmallVector<Value> worklist = {root};
  while (!worklist.empty()) {
    Operation *def = worklist.pop_back_val().getDefiningOp();
    if (def && needed.insert(def).second)
      llvm::append_range(worklist, def->getOperands());
  }
  for (Operation &op : from.getBodyBlock().without_terminator())
    if (needed.count(&op))
      b.clone(op, mapping);
  return mapping.lookupOrDefault(root);
}

SmallVector<std::string> outputOf(EinsumOp einsum) {
  SmallVector<std::string> names;
  for (StringRef r : einsum.getOutput().getAsValueRange<StringAttr>())
    names.push_back(r.str());
  return names;
}

/// `sum_r c(term, W)`: the producer's term as an Einsum of its own, then
/// the consumer reading it in place of the producer.
EinsumOp buildStream(Site site, Value term, StringRef suffix,
                     OpBuilder &builder) {
  EinsumOp producer = site.producer, consumer = site.consumer;
  MLIRContext *context = consumer.getContext();
  Location loc = producer.getLoc();
  Type element = cast<RankedTensorType>(producer.getType()).getElementType();

  SmallVector<unsigned> used = getArgumentsUsed(producer, term);
  EinsumParts termParts(context);
  termParts.output = outputOf(producer);
  for (unsigned j : used)
    termParts.addOperandOf(producer, j);
  termParts.name = getUniqueEinsumName(
      consumer, producer.getName().value_or("A").str() + suffix.str());
  termParts.elementType = element;
  EinsumOp termOp = termParts.build(
      builder, loc, [&](OpBuilder &b, Location, ValueRange args) {
        return cloneSubtree(b, producer, term, used, args);
      });

  EinsumParts streamParts(context);
  streamParts.output = outputOf(consumer);
  for (unsigned k = 0; k < consumer.getInputs().size(); ++k)
    streamParts.addOperandOf(consumer, k);
  streamParts.getOperandsMutable()[site.operand] = termOp.getResult();
  for (Attribute attr : consumer.getReductions()) {
    auto r = cast<ReductionAttr>(attr);
    streamParts.reductions.push_back({r.getRank().str(), r.getKind()});
  }
  streamParts.name = getUniqueEinsumName(
      consumer, consumer.getName().value_or("C").str() + suffix.str());
  streamParts.elementType =
      cast<RankedTensorType>(consumer.getType()).getElementType();
  return streamParts.build(builder, consumer.getLoc(),
                           [&](OpBuilder &b, Location, ValueRange args) {
                             return inlineBody(b, consumer, args);
                           });
}

void rewrite(Site site) {
  EinsumOp producer = site.producer, consumer = site.consumer;
  OpBuilder builder(consumer);
  EinsumOp left = buildStream(site, site.left.term, "1", builder);
  EinsumOp right = buildStream(site, site.right.term, "2", builder);

  // C = [f1 *] C1 +- [f2 *] C2, elementwise over C's output.
  EinsumParts parts(consumer.getContext());
  parts.output = outputOf(consumer);
  for (EinsumOp stream : {left, right}) {
    SmallVector<AffineExpr> indices;
    for (const std::string &rank : parts.output)
      indices.push_back(parts.dim(rank));
    parts.addOperand(stream.getResult(), indices);
  }
  parts.name = consumer.getName().value_or("").str();
  if (consumer.getFill())
    parts.fill = consumer.getFillValue();
  parts.elementType =
      cast<RankedTensorType>(consumer.getType()).getElementType();
  EinsumOp combined = parts.build(
      builder, consumer.getLoc(),
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        auto scaled = [&](const Term &term, Value value) -> Value {
          if (!term.factor)
            return value;
          Value factor = cloneSubtree(b, producer, term.factor, {}, {});
          return arith::MulFOp::create(b, loc, factor, value);
        };
        Value lhs = scaled(site.left, args[0]);
        Value rhs = scaled(site.right, args[1]);
        if (site.subtract)
          return arith::SubFOp::create(b, loc, lhs, rhs);
        return arith::AddFOp::create(b, loc, lhs, rhs);
      });
  consumer.getResult().replaceAllUsesWith(combined.getResult());
  consumer.erase();
  producer.erase();
}

} // namespace

bool mlir::cascade::splitSumAt(func::FuncOp function, unsigned index,
                               bool &exhausted) {
  exhausted = false;
  unsigned seen = 0;
  SmallVector<EinsumOp> consumers;
  function.walk([&](EinsumOp e) { consumers.push_back(e); });
  for (EinsumOp consumer : consumers) {
    std::optional<Site> site = matchSite(consumer);
    if (!site || seen++ != index)
      continue;
    if (failed(checkLaws(*site)))
      return false;
    rewrite(*site);
    return true;
  }
  exhausted = true;
  return false;
}

namespace {
struct SplitSumPass
    : public mlir::cascade::impl::CascadeSplitSumBase<SplitSumPass> {
  void runOnOperation() override {
    // Refused sites keep their place in the walk order: skip past them.
    for (unsigned index = 0;;) {
      bool exhausted = false;
      if (!splitSumAt(getOperation(), index, exhausted)) {
        if (exhausted)
          return;
        ++index;
      }
    }
  }
};
} // namespace
