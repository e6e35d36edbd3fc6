//===- StreamRank.cpp - Walk a 1-pass key rank tile by tile ------------===//
//
// sigmoid: S[m,p] = Q.K; A[m,p] = sigma(S); AV[p,f] = sum_m A V
// becomes
//   partition m = m1 * 64 + m0
//   RAV0 = 0
//   RAV = iterate m1 (rav = RAV0) {
//     S[m0,p] = Q[p,e] K[m1*64+m0,e]; A[m0,p] = sigma(S)
//     LAV[p,f] = sum_m0 A V[m1*64+m0,f];  rav' = rav + LAV }
// which is the shape the backends compile: one key tile per step.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/Passes.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADESTREAMRANK
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

bool involvesRank(EinsumOp einsum, StringRef rank) {
  return llvm::is_contained(einsum.getOutput().getAsValueRange<StringAttr>(),
                            rank) ||
         einsum.isReduced(rank);
}

/// The ranks that index the innermost dimension of some argument: head
/// dimensions, which the backends take as compile-time sizes (a learned
/// feature map W[h, e, r] names `e` in its middle and Q[b, h, p, e] in its
/// innermost dimension; `e` is still a head dimension).
llvm::StringSet<> findInnermostRanks(func::FuncOp function,
                                     const RankEnvironment &env) {
  llvm::StringSet<> ranks;
  for (auto [arg, type] : llvm::enumerate(function.getArgumentTypes()))
    if (auto shaped = dyn_cast<ShapedType>(type);
        shaped && shaped.hasRank() && shaped.getRank() > 0)
      if (std::optional<StringRef> rank =
              env.getRankOfArgumentDim(arg, shaped.getRank() - 1))
        ranks.insert(*rank);
  return ranks;
}

/// The reduced ranks bound to a dimension of an argument that is not its
/// innermost one (nor any other argument's innermost one): the dynamically
/// sized ranks a kernel must walk.
SmallVector<std::string> findStreamCandidates(func::FuncOp function,
                                              const RankEnvironment &env) {
  SmallVector<std::string> candidates;
  llvm::StringSet<> innermost = findInnermostRanks(function, env);
  function.walk([&](EinsumOp einsum) {
    for (Attribute attr : einsum.getReductions()) {
      StringRef rank = cast<ReductionAttr>(attr).getRank().getValue();
      const RankBinding *binding = env.lookup(rank);
      if (!binding || binding->kind != RankBinding::Kind::Argument)
        continue;
      auto type = cast<ShapedType>(
          function.getArgumentTypes()[binding->argNumber]);
      if (binding->dim + 1 == type.getRank() || binding->staticExtent ||
          innermost.contains(rank))
        continue;
      if (!llvm::is_contained(candidates, rank.str()))
        candidates.push_back(rank.str());
    }
  });
  return candidates;
}

LogicalResult streamRank(func::FuncOp function, int64_t tile) {
  Block &block = function.getBody().front();
  if (!block.getOps<IterateOp>().empty() ||
      !block.getOps<PartitionOp>().empty())
    return success();
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return failure();
  SmallVector<std::string> candidates = findStreamCandidates(function, *env);
  if (candidates.empty())
    return success();
  if (candidates.size() > 1)
    return function.emitError("cascade-stream-rank: more than one dynamically "
                              "sized rank is reduced (")
           << llvm::join(candidates, ", ") << "); a kernel streams one";
  std::string rank = candidates.front();

  // Classify the Einsums: over the rank (the loop), and outside it before
  // (prologue) or after (epilogue) the loop's results.
  SmallVector<EinsumOp> loop, prologue, epilogue;
  llvm::SmallPtrSet<Operation *, 16> inLoop, afterLoop;
  for (EinsumOp einsum : block.getOps<EinsumOp>()) {
    bool dependsOnLoop = llvm::any_of(einsum.getInputs(), [&](Value v) {
      Operation *def = v.getDefiningOp();
      return def && (inLoop.count(def) || afterLoop.count(def));
    });
    if (involvesRank(einsum, rank)) {
      for (Value input : einsum.getInputs()) {
        Operation *def = input.getDefiningOp();
        auto producer = dyn_cast_or_null<EinsumOp>(def);
        if (producer && inLoop.count(def) && producer.isReduced(rank))
          return einsum.emitError("cascade-stream-rank: this Einsum iterates '")
                 << rank << "' and reads '"
                 << producer.getName().value_or("a reduction")
                 << "', a reduction over it: the cascade still makes more "
                    "than one pass over '"
                 << rank << "' (run cascade-minimize-passes first)";
        if (def && afterLoop.count(def))
          return einsum.emitError("cascade-stream-rank: this Einsum iterates '")
                 << rank << "' after a reduction over it";
      }
      if (einsum.isReduced(rank)) {
        auto outermost = cast<ReductionAttr>(einsum.getReductions().getValue().back());
        if (outermost.getRank().getValue() != rank)
          return einsum.emitError("cascade-stream-rank: '")
                 << rank << "' must be the outermost reduction";
        if (einsum.getFillValue() != getReduceIdentity(outermost.getKind()))
          return einsum.emitError("cascade-stream-rank: an 'else' value other "
                                  "than the reduction's identity is not "
                                  "supported when streaming '")
                 << rank << "'";
      }
      loop.push_back(einsum);
      inLoop.insert(einsum);
    } else if (dependsOnLoop) {
      epilogue.push_back(einsum);
      afterLoop.insert(einsum);
    } else {
      prologue.push_back(einsum);
    }
  }
  for (EinsumOp einsum : loop)
    if (!einsum.isReduced(rank))
      for (Operation *user : einsum->getUsers())
        if (!inLoop.count(user))
          return user->emitError("cascade-stream-rank: this reads a tensor "
                                 "over '")
                 << rank << "' outside the Einsums that iterate it";

  MLIRContext *context = function.getContext();
  Location loc = function.getLoc();
  std::string outer = getUniqueRankName(function, rank + "1");
  std::string inner = getUniqueRankName(function, rank + "0");
  OpBuilder builder(context);
  builder.setInsertionPointToStart(&block);
  createPartition(builder, loc, rank, outer, tile, inner);
  // Prologue first, then the state, the loop, the epilogue.
  Operation *returnOp = block.getTerminator();
  for (EinsumOp einsum : prologue)
    einsum->moveBefore(returnOp);
  builder.setInsertionPoint(returnOp);

  auto names = [&](ArrayAttr ranks) {
    SmallVector<std::string> result;
    for (StringRef r : ranks.getAsValueRange<StringAttr>())
      result.push_back(r == rank ? inner : r.str());
    return result;
  };
  SmallVector<EinsumOp> reductions;
  SmallVector<Value> inits;
  for (EinsumOp einsum : loop) {
    if (!einsum.isReduced(rank))
      continue;
    reductions.push_back(einsum);
    EinsumParts parts(context);
    parts.name = getUniqueEinsumName(function,
                                     "R" + einsum.getName().value_or("C").str() + "0");
    parts.output = names(einsum.getOutput());
    parts.elementType = cast<RankedTensorType>(einsum.getType()).getElementType();
    auto kind = cast<ReductionAttr>(einsum.getReductions().getValue().back()).getKind();
    double identity = getReduceIdentity(kind);
    inits.push_back(parts.build(builder, einsum.getLoc(),
                                [&](OpBuilder &b, Location l, ValueRange) -> Value {
      return arith::ConstantOp::create(
          b, l, b.getFloatAttr(parts.elementType, identity));
    }));
  }
  IterateOp iterate = createIterate(builder, loc, outer, inits);
  Block *body = &iterate.getBodyBlock();
  builder.setInsertionPointToStart(body);

  IRMapping tileValues;
  SmallVector<Value> yielded;
  auto rewriteIndex = [&](OpBuilder &b, IndexOp index) -> Value {
    return rewritePartitionedIndex(b, index, rank, outer, tile, inner);
  };
  for (EinsumOp einsum : loop) {
    EinsumParts parts(context);
    bool reduces = einsum.isReduced(rank);
    parts.name = reduces ? getUniqueEinsumName(
                               function, "L" + einsum.getName().value_or("C").str())
                         : einsum.getName().value_or("").str();
    parts.output = names(einsum.getOutput());
    for (Attribute attr : einsum.getReductions()) {
      auto r = cast<ReductionAttr>(attr);
      parts.reductions.push_back(
          {r.getRank().getValue() == rank ? inner : r.getRank().str(), r.getKind()});
    }
    (void)parts.dim(outer);
    llvm::StringMap<AffineExpr> global, local;
    global[rank] = parts.dim(outer) * tile + parts.dim(inner);
    local[rank] = parts.dim(inner);
    for (unsigned j = 0; j < einsum.getInputs().size(); ++j) {
      Value operand = einsum.getInputs()[j];
      if (Value tileValue = tileValues.lookupOrNull(operand)) {
        parts.addOperandOf(einsum, j, local);
        parts.getOperandsMutable().back() = tileValue;
      } else {
        parts.addOperandOf(einsum, j, global);
      }
    }
    parts.addPredicateOf(einsum, global);
    if (einsum.getFill())
      parts.fill = einsum.getFillValue();
    parts.elementType = cast<RankedTensorType>(einsum.getType()).getElementType();
    EinsumOp moved = parts.build(builder, einsum.getLoc(),
                                 [&](OpBuilder &b, Location, ValueRange args) {
      return inlineBody(b, einsum, args, rewriteIndex);
    });
    tileValues.map(einsum.getResult(), moved.getResult());
    if (!reduces)
      continue;
    // R' = R (+) L, read at the output's own ranks.
    unsigned index = yielded.size();
    EinsumParts update(context);
    update.name = getUniqueEinsumName(function,
                                      "R" + einsum.getName().value_or("C").str());
    update.output = parts.output;
    (void)update.dim(outer);
    SmallVector<AffineExpr> indices;
    for (const std::string &r : update.output)
      indices.push_back(update.dim(r));
    update.addOperand(body->getArgument(index), indices);
    update.addOperand(moved.getResult(), indices);
    update.elementType = parts.elementType;
    auto kind = cast<ReductionAttr>(einsum.getReductions().getValue().back()).getKind();
    EinsumOp updated = update.build(builder, einsum.getLoc(),
                                    [&](OpBuilder &b, Location l, ValueRange args) {
      return buildReduceCombine(b, l, kind, args[0], args[1]);
    });
    yielded.push_back(updated.getResult());
  }
  YieldOp::create(builder, loc, yielded);

  for (auto [i, einsum] : llvm::enumerate(reductions))
    einsum.getResult().replaceAllUsesWith(iterate.getResult(i));
  for (EinsumOp einsum : epilogue)
    einsum->moveBefore(returnOp);
  for (EinsumOp einsum : llvm::reverse(loop))
    einsum.erase();
  return success();
}

struct StreamRankPass
    : public mlir::cascade::impl::CascadeStreamRankBase<StreamRankPass> {
  using Base::Base;
  void runOnOperation() override {
    if (tileSize < 1) {
      emitError(getOperation().getLoc())
          << "cascade-stream-rank: tile-size must be at least 1";
      return signalPassFailure();
    }
    if (failed(streamRank(getOperation(), tileSize)))
      signalPassFailure();
  }
};

} // namespace
