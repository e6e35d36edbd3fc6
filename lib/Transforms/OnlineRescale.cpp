//===- OnlineRescale.cpp - The 2-pass max-shifted form into 1 pass --------===//
//
//   GM[p] = max_m X[m,p]   SN[m,p] = f(X[m,p], GM[p])   C_i = sum_m c_i(SN, W_i)
// becomes, with m = m1 * T + m0 and an iterate over m1 carrying RM and RC_i:
//   BX[m0,p]  = X at m1*T+m0          (X's producers moved into the loop)
//   LM[p]     = max_m0 BX[m0,p]
//   RM'[p]    = max(RM[p], LM[p])
//   SLN[m0,p] = f(BX[m0,p], RM'[p])
//   LC_i      = sum_m0 c_i(SLN, W_i at m1*T+m0)
//   PRM[p]    = RM[p] == RM'[p] ? 1 : f(RM[p], RM'[p])
//   RC_i'     = PRM == 0 ? LC_i : LC_i + RC_i * PRM
// Readers of G after the last C_i read the final RM (equal to G: a max
// rounds nothing), e.g. the log-sum-exp LSE = G + log(SD).
// This is FuseMax's cascade 5. Legal when f(x, a) = f(x, b) * f(b, a),
// f(a, a) = 1 and every c_i is linear in its SN operand (docs/Passes.md),
// and, over the extended reals, for the special values the scores can take.
// The guard in PRM keeps a row whose tiles so far are all masked (running
// max still -inf) from computing exp(-inf - -inf) = NaN; the guard in RC_i'
// drops the state of such a row when its first finite score arrives: that
// state is exp(-inf - -inf) = NaN when scores are -inf (a select to -inf in
// a body), and the spec gives those keys exp(-inf - max) = 0.
//
//===----------------------------------------------------------------------===//

#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>
#include <limits>

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEONLINERESCALE
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct Site {
  std::string rank;
  EinsumOp max;         // G
  EinsumOp normalised;  // N = f(X, G)
  unsigned xOperand;    // N's operand that is X
  SmallVector<EinsumOp> consumers; // C_i
  Value scores;         // X
  SmallVector<EinsumOp> moved;     // X's producers, in block order
  /// Set when the site matches but cannot become one loop: why.
  std::string blocked;
};

bool isIdentityBody(EinsumOp einsum) {
  auto yield = cast<YieldOp>(einsum.getBodyBlock().getTerminator());
  return einsum.getInputs().size() == 1 &&
         yield.getValues()[0] == einsum.getBodyBlock().getArgument(0);
}

bool hasRank(ArrayAttr names, StringRef rank) {
  return llvm::is_contained(names.getAsValueRange<StringAttr>(), rank);
}

/// The ranks (by name) through which `einsum` reads operand `i`, if every
/// index is a bare rank.
std::optional<SmallVector<StringRef>> getPlainIndices(EinsumOp einsum,
                                                      unsigned i) {
  SmallVector<StringRef> names;
  AffineMap map = cast<AffineMapAttr>(einsum.getIndexingMaps()[i]).getValue();
  for (AffineExpr expr : map.getResults()) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim)
      return std::nullopt;
    names.push_back(
        cast<StringAttr>(einsum.getRanks()[dim.getPosition()]).getValue());
  }
  return names;
}

std::optional<Site> matchSite(EinsumOp max, const RankEnvironment &env) {
  if (max.getReductions().size() != 1 || !isIdentityBody(max) ||
      !max.getOuterRanks().empty() ||
      !isa<FunctionOpInterface>(max->getParentOp()))
    return std::nullopt;
  auto reduction = cast<ReductionAttr>(max.getReductions()[0]);
  StringRef rank = reduction.getRank().getValue();
  if (reduction.getKind() != ReduceKind::max ||
      env.getPartitionOfInner(rank) || env.getPartitionOfOuter(rank))
    return std::nullopt;
  const RankBinding *binding = env.lookup(rank);
  if (!binding || binding->kind != RankBinding::Kind::Argument)
    return std::nullopt;
  Site site;
  site.rank = rank.str();
  site.max = max;
  site.scores = max.getInputs()[0];
  std::optional<SmallVector<StringRef>> maxIndices = getPlainIndices(max, 0);
  if (!maxIndices || max.getResult().use_empty())
    return std::nullopt;

  // N = f(X, G): map-only, reads X as G does and G at G's output. G's
  // first reader in block order is N; later readers (the log-sum-exp
  // LSE = G + log(SD)) read the loop's final running max, which equals G
  // exactly: a running max rounds nothing.
  EinsumOp normalised;
  for (Operation *user : max.getResult().getUsers())
    if (auto einsum = dyn_cast<EinsumOp>(user);
        einsum && einsum->getBlock() == max->getBlock() &&
        (!normalised || einsum->isBeforeInBlock(normalised)))
      normalised = einsum;
  if (!normalised || !normalised.getReductions().empty() ||
      normalised->getBlock() != max->getBlock() ||
      normalised.getInputs().size() != 2 ||
      bodyReadsCoordinates(normalised) || !normalised.getOuterRanks().empty())
    return std::nullopt;
  unsigned gOperand = normalised.getInputs()[0] == max.getResult() ? 0 : 1;
  unsigned xOperand = 1 - gOperand;
  if (normalised.getInputs()[xOperand] != site.scores ||
      normalised.getInputs()[gOperand] != max.getResult())
    return std::nullopt;
  std::optional<SmallVector<StringRef>> xIndices =
      getPlainIndices(normalised, xOperand);
  std::optional<SmallVector<StringRef>> gIndices =
      getPlainIndices(normalised, gOperand);
  SmallVector<StringRef> maxOutput =
      llvm::to_vector(max.getOutput().getAsValueRange<StringAttr>());
  if (!xIndices || *xIndices != *maxIndices || !gIndices ||
      *gIndices != maxOutput)
    return std::nullopt;
  site.normalised = normalised;
  site.xOperand = xOperand;

  // C_i = sum_m c_i(N, W): every user of N.
  for (Operation *user : normalised.getResult().getUsers()) {
    auto consumer = dyn_cast<EinsumOp>(user);
    if (!consumer || consumer->getBlock() != max->getBlock() ||
        consumer.getReductions().size() != 1 ||
        llvm::count(consumer.getInputs(), normalised.getResult()) != 1 ||
        !consumer.getOuterRanks().empty())
      return std::nullopt;
    auto r = cast<ReductionAttr>(consumer.getReductions()[0]);
    if (r.getRank().getValue() != rank || r.getKind() != ReduceKind::add ||
        consumer.getFillValue() != 0.0)
      return std::nullopt;
    for (StringRef outRank : maxOutput)
      if (!hasRank(consumer.getOutput(), outRank))
        return std::nullopt;
    unsigned nOperand = llvm::find(consumer.getInputs(),
                                   normalised.getResult()) -
                        consumer.getInputs().begin();
    std::optional<SmallVector<StringRef>> nIndices =
        getPlainIndices(consumer, nOperand);
    if (!nIndices || *nIndices != llvm::to_vector(normalised.getOutput()
                                                      .getAsValueRange<StringAttr>()))
      return std::nullopt;
    site.consumers.push_back(consumer);
  }
  if (site.consumers.empty())
    return std::nullopt;
  llvm::sort(site.consumers, [](EinsumOp a, EinsumOp b) {
    return a->isBeforeInBlock(b);
  });
  // A C_i's other operands are read inside the loop, at every key: none
  // may depend on the sums the loop computes (O = sum_m SN * V / SD, with
  // SD = sum_m SN, needs SD before its first key).
  llvm::SmallPtrSet<Operation *, 8> sums;
  for (EinsumOp consumer : site.consumers)
    sums.insert(consumer.getOperation());
  auto dependsOnSums = [&](Value value) {
    SmallVector<Value> pending = {value};
    llvm::SmallPtrSet<Operation *, 8> seen;
    while (!pending.empty()) {
      Operation *def = pending.pop_back_val().getDefiningOp();
      if (!def || !seen.insert(def).second)
        continue;
      if (sums.contains(def))
        return true;
      llvm::append_range(pending, def->getOperands());
    }
    return false;
  };
  for (EinsumOp consumer : site.consumers)
    for (auto [i, operand] : llvm::enumerate(consumer.getInputs()))
      if (operand != normalised.getResult() && dependsOnSums(operand)) {
        site.blocked =
            "operand #" + std::to_string(i) + " of " +
            (consumer.getName() ? consumer.getName()->str() : "a consumer") +
            " depends on a sum over '" + rank.str() +
            "' that the same loop computes, so it is not known at the first "
            "key; divide after the sum instead (a separate Einsum, as "
            "variants/softmax.mlir writes A = SN / SD)";
        return site;
      }

  // Every reader of a C_i, and every reader of G but N, comes after the
  // last C_i (where the loop goes) and reads the loop's final state.
  EinsumOp last = site.consumers.back();
  for (EinsumOp consumer : site.consumers)
    for (Operation *user : consumer.getResult().getUsers())
      if (user->getBlock() == last->getBlock() &&
          user->isBeforeInBlock(last))
        return std::nullopt;
  for (Operation *user : max.getResult().getUsers()) {
    if (user == normalised.getOperation())
      continue;
    if (user->getBlock() != last->getBlock())
      return std::nullopt;
    if (!last->isBeforeInBlock(user)) {
      auto reader = dyn_cast<EinsumOp>(user);
      site.blocked =
          "'" + (reader && reader.getName() ? reader.getName()->str()
                                            : std::string("an op")) +
          "' reads the max '" + max.getName().value_or("G").str() +
          "' before the last sum over '" + rank.str() +
          "', where the loop's final running max is not known yet; read it "
          "after the sums (as variants/softmax_lse.mlir's LSE does)";
      return site;
    }
  }

  // X's producers that only feed this site move into the loop.
  llvm::SetVector<Operation *> inSite;
  inSite.insert(max.getOperation());
  inSite.insert(normalised.getOperation());
  SmallVector<Value> worklist = {site.scores};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    auto producer = value.getDefiningOp<EinsumOp>();
    if (!producer)
      continue;
    if (producer->getBlock() != max->getBlock() ||
        !hasRank(producer.getOutput(), rank) ||
        !producer.getOuterRanks().empty() ||
        llvm::any_of(producer.getResult().getUsers(),
                     [&](Operation *u) { return !inSite.contains(u); }))
      return std::nullopt;
    if (!inSite.insert(producer.getOperation()))
      continue;
    site.moved.push_back(producer);
    for (Value operand : producer.getInputs())
      if (auto p = operand.getDefiningOp<EinsumOp>();
          p && hasRank(p.getOutput(), rank))
        worklist.push_back(operand);
  }
  llvm::sort(site.moved, [](EinsumOp a, EinsumOp b) {
    return a->isBeforeInBlock(b);
  });
  return site;
}

LogicalResult checkLaws(Site site) {
  LawProver prover;
  std::string why;
  auto f = [&](const z3::expr &x, const z3::expr &g) -> FailureOr<z3::expr> {
    SmallVector<z3::expr> args = {x, x};
    args[site.xOperand] = x;
    args[1 - site.xOperand] = g;
    return prover.apply(site.normalised, args, why);
  };
  auto refuse = [&](StringRef law, const ProofResult &result) {
    site.normalised.emitWarning()
        << describeRefusal("cascade-online-rescale", law, result);
    return failure();
  };
  auto unmodelled = [&]() {
    site.normalised.emitWarning()
        << describeUnmodelled("cascade-online-rescale", why);
    return failure();
  };
  z3::expr x = prover.variable("x"), a = prover.variable("a"),
           b = prover.variable("b");
  FailureOr<z3::expr> fxa = f(x, a), fxb = f(x, b), fba = f(b, a),
                      faa = f(a, a);
  if (failed(fxa) || failed(fxb) || failed(fba) || failed(faa))
    return unmodelled();
  ProofResult rescales = prover.prove(*fxa, *fxb * *fba);
  if (rescales.status != ProofStatus::Proved)
    return refuse("f(x, a) = f(x, b) * f(b, a) (online rescaling: a partial "
                  "result computed against one maximum can be corrected to "
                  "another)",
                  rescales);
  ProofResult unit = prover.prove(*faa, prover.constant(1.0));
  if (unit.status != ProofStatus::Proved)
    return refuse("f(a, a) = 1 (an unchanged maximum needs no correction)",
                  unit);

  for (EinsumOp consumer : site.consumers) {
    unsigned nOperand =
        llvm::find(consumer.getInputs(), site.normalised.getResult()) -
        consumer.getInputs().begin();
    SmallVector<z3::expr> ws;
    for (unsigned j = 0; j < consumer.getInputs().size(); ++j)
      ws.push_back(prover.variable("w" + std::to_string(j)));
    auto c = [&](const z3::expr &t) -> FailureOr<z3::expr> {
      SmallVector<z3::expr> args(ws);
      args[nOperand] = t;
      return prover.apply(consumer, args, why);
    };
    z3::expr s = prover.variable("s"), k = prover.variable("k");
    FailureOr<z3::expr> scaled = c(s * k), plain = c(s);
    if (failed(scaled) || failed(plain))
      return unmodelled();
    ProofResult linear = prover.prove(*scaled, *plain * k);
    if (linear.status != ProofStatus::Proved) {
      consumer.emitWarning() << describeRefusal(
          "cascade-online-rescale",
          "c(s * k, w) = c(s, w) * k (the consumer is linear in the "
          "normalised operand, so a correction factor can be applied to its "
          "partial sum)",
          linear);
      return failure();
    }
    if (site.normalised.hasMask()) {
      double fill = site.normalised.getFillValue();
      if (!std::isfinite(fill))
        return refuse("c(else, w) = 0", {ProofStatus::Unknown, "infinite 'else' value"});
      FailureOr<z3::expr> masked = c(prover.constant(fill));
      if (failed(masked))
        return unmodelled();
      ProofResult vanishes = prover.prove(*masked, prover.constant(0.0));
      if (vanishes.status != ProofStatus::Proved)
        return refuse("c(else, w) = 0 (a masked element contributes nothing "
                      "to the sum)",
                      vanishes);
    }
  }
  return success();
}

/// The laws again over the extended reals, for the values the scores,
/// the running maxima and the consumers' other operands can take. With the
/// running state RC = sum over the keys seen of c(f(x, RM), w), a step from
/// RM to RM' > RM multiplies RC by PRM = f(RM, RM') or, when PRM = 0, drops
/// it; both are exact for every key x <= RM seen so far when
///   (a) PRM is finite (scaling a sum by it distributes over its terms),
///   (b) PRM != 0  =>  c(f(x, RM), w) * PRM = c(f(x, RM'), w),
///   (c) PRM == 0  =>  c(f(x, RM'), w) = 0,
/// and a NaN score, which makes the spec's maximum NaN, makes every term
/// NaN: (d) f(x, NaN) = NaN and c(NaN, w) = NaN. A masked element must
/// contribute nothing: (e) c(else, w) = 0. docs/Passes.md has the argument.
LogicalResult checkSpecialValues(Site site) {
  auto function = site.max->getParentOfType<func::FuncOp>();
  FloatClassAnalysis classes(function);
  FloatClasses scores = classes.getClasses(site.scores);
  FloatClasses ordered = (scores | kNegInf) & ~kNaN;
  std::string caseText = "scores that may be " + describeClasses(scores);

  for (EinsumOp consumer : site.consumers) {
    LawProver prover;
    IeeeBodyEncoder &ieee = prover.extended();
    std::string why;
    unsigned nOperand =
        llvm::find(consumer.getInputs(), site.normalised.getResult()) -
        consumer.getInputs().begin();
    SmallVector<ExtendedValue> ws;
    for (unsigned j = 0; j < consumer.getInputs().size(); ++j)
      ws.push_back(prover.extendedVariable(
          "w" + std::to_string(j),
          j == nOperand ? kAnyFloat : classes.getClassesAsRead(consumer, j)));
    auto f = [&](const ExtendedValue &x,
                 const ExtendedValue &g) -> FailureOr<ExtendedValue> {
      SmallVector<ExtendedValue> args = {x, x};
      args[1 - site.xOperand] = g;
      return prover.applyExtended(site.normalised, args, why, false);
    };
    auto c = [&](const ExtendedValue &s) -> FailureOr<ExtendedValue> {
      SmallVector<ExtendedValue> args(ws);
      args[nOperand] = s;
      return prover.applyExtended(consumer, args, why, true);
    };
    auto refuse = [&](StringRef law, const ProofResult &result) {
      consumer.emitWarning() << describeRefusal(
          "cascade-online-rescale",
          (law + " over the extended reals, for " + caseText).str(), result);
      return failure();
    };
    auto unmodelled = [&]() {
      consumer.emitWarning()
          << describeUnmodelled("cascade-online-rescale", why);
      return failure();
    };

    ExtendedValue x = prover.extendedVariable("x", scores & ~kNaN);
    ExtendedValue rm = prover.extendedVariable("RM", ordered);
    ExtendedValue rmNext = prover.extendedVariable("RM'", ordered);
    FailureOr<ExtendedValue> prm = f(rm, rmNext), fxOld = f(x, rm),
                             fxNew = f(x, rmNext);
    if (failed(prm) || failed(fxOld) || failed(fxNew))
      return unmodelled();
    FailureOr<ExtendedValue> termOld = c(*fxOld), termNew = c(*fxNew);
    if (failed(termOld) || failed(termNew))
      return unmodelled();
    z3::expr step = ieee.lessEqual(x, rm) && ieee.less(rm, rmNext);

    ProofResult finiteScale = prover.proveExtended(ieee.isFinite(*prm), step);
    if (finiteScale.status != ProofStatus::Proved)
      return refuse("PRM = f(RM, RM') is finite for RM < RM'", finiteScale);
    ProofResult rescales = prover.proveExtended(
        ieee.same(ieee.multiply(*termOld, *prm), *termNew),
        step && !ieee.isZero(*prm));
    if (rescales.status != ProofStatus::Proved)
      return refuse("c(f(x, RM), w) * f(RM, RM') = c(f(x, RM'), w) for "
                    "x <= RM < RM'",
                    rescales);
    ProofResult dropped = prover.proveExtended(
        ieee.same(*termNew, ieee.finite(prover.getContext().real_val(0))),
        step && ieee.isZero(*prm));
    if (dropped.status != ProofStatus::Proved)
      return refuse("f(RM, RM') = 0 => c(f(x, RM'), w) = 0 for x <= RM < RM'",
                    dropped);

    if (scores & kNaN) {
      ExtendedValue any = prover.extendedVariable("a", kAnyFloat);
      FailureOr<ExtendedValue> fNan = f(any, ieee.nan());
      FailureOr<ExtendedValue> cNan = c(ieee.nan());
      if (failed(fNan) || failed(cNan))
        return unmodelled();
      ProofResult propagates = prover.proveExtended(
          ieee.isNaN(*fNan) && ieee.isNaN(*cNan),
          prover.getContext().bool_val(true));
      if (propagates.status != ProofStatus::Proved)
        return refuse("f(x, NaN) = NaN and c(NaN, w) = NaN (a NaN score "
                      "makes the whole row NaN, as in the spec)",
                      propagates);
    }
    if (site.normalised.hasMask()) {
      FailureOr<ExtendedValue> masked =
          c(ieee.constant(site.normalised.getFillValue()));
      if (failed(masked))
        return unmodelled();
      ProofResult vanishes = prover.proveExtended(
          ieee.same(*masked, ieee.finite(prover.getContext().real_val(0))),
          prover.getContext().bool_val(true));
      if (vanishes.status != ProofStatus::Proved)
        return refuse("c(else, w) = 0", vanishes);
    }
  }
  return success();
}

/// Builds the partition, the initial state and the loop, points the
/// consumers' readers at the loop's results and erases the site. The site
/// was matched and its laws proved, so nothing here can fail.
void rewrite(Site site, int64_t tile) {
  EinsumOp max = site.max, normalised = site.normalised;
  MLIRContext *context = max.getContext();
  auto function = max->getParentOfType<func::FuncOp>();
  Location loc = normalised.getLoc();
  std::string outer = getUniqueRankName(max, site.rank + "1");
  std::string inner = getUniqueRankName(max, site.rank + "0");
  Type elementType = cast<RankedTensorType>(max.getType()).getElementType();

  OpBuilder builder(context);
  builder.setInsertionPointToStart(&function.getBody().front());
  createPartition(builder, loc, site.rank, outer, tile, inner);

  EinsumOp last = site.consumers.back();
  builder.setInsertionPointAfter(last);

  auto outputOf = [](EinsumOp e) {
    SmallVector<std::string> names;
    for (StringRef r : e.getOutput().getAsValueRange<StringAttr>())
      names.push_back(r.str());
    return names;
  };
  auto constantBody = [&](double value) {
    return [=](OpBuilder &b, Location l, ValueRange) -> Value {
      return arith::ConstantOp::create(b, l, b.getFloatAttr(elementType, value));
    };
  };
  // Initial state: RM = -inf, RC_i = 0.
  SmallVector<Value> inits;
  SmallVector<std::string> stateNames;
  {
    EinsumParts parts(context);
    parts.name = getUniqueEinsumName(max, "RM0");
    parts.output = outputOf(max);
    parts.elementType = elementType;
    inits.push_back(parts.build(builder, loc,
                                constantBody(-std::numeric_limits<double>::infinity())));
    stateNames.push_back("RM");
  }
  for (EinsumOp consumer : site.consumers) {
    EinsumParts parts(context);
    std::string base = "R" + consumer.getName().value_or("C").str();
    parts.name = getUniqueEinsumName(max, base + "0");
    parts.output = outputOf(consumer);
    parts.elementType =
        cast<RankedTensorType>(consumer.getType()).getElementType();
    inits.push_back(parts.build(builder, loc, constantBody(0.0)));
    stateNames.push_back(base);
  }

  IterateOp iterate = createIterate(builder, loc, outer, inits);
  Block *body = &iterate.getBodyBlock();
  builder.setInsertionPointToStart(body);

  // r -> m1 * T + m0 for values outside the loop; r -> m0 for tile values.
  auto substitutions = [&](EinsumParts &parts) {
    llvm::StringMap<AffineExpr> global, local;
    global[site.rank] = parts.dim(outer) * tile + parts.dim(inner);
    local[site.rank] = parts.dim(inner);
    return std::make_pair(global, local);
  };
  auto rewriteIndex = [&](OpBuilder &b, IndexOp index) -> Value {
    return rewritePartitionedIndex(b, index, site.rank, outer, tile, inner);
  };
  auto renameOutput = [&](EinsumOp e) {
    SmallVector<std::string> names = outputOf(e);
    for (std::string &n : names)
      if (n == site.rank)
        n = inner;
    return names;
  };
  auto copyReductions = [&](EinsumOp e, EinsumParts &parts) {
    for (Attribute attr : e.getReductions()) {
      auto r = cast<ReductionAttr>(attr);
      std::string name = r.getRank().str();
      parts.reductions.push_back({name == site.rank ? inner : name, r.getKind()});
    }
  };

  // The moved producers of X, per tile.
  IRMapping tileValues;
  auto addOperands = [&](EinsumOp e, EinsumParts &parts) {
    auto [global, local] = substitutions(parts);
    for (unsigned j = 0; j < e.getInputs().size(); ++j) {
      Value operand = e.getInputs()[j];
      if (Value local0 = tileValues.lookupOrNull(operand)) {
        parts.addOperandOf(e, j, local);
        parts.getOperandsMutable().back() = local0;
      } else {
        parts.addOperandOf(e, j, global);
      }
    }
    parts.addPredicateOf(e, global);
  };
  for (EinsumOp e : site.moved) {
    EinsumParts parts(context);
    parts.name = getUniqueEinsumName(max, "B" + e.getName().value_or("X").str());
    parts.output = renameOutput(e);
    copyReductions(e, parts);
    (void)parts.dim(outer);
    addOperands(e, parts);
    parts.fill = e.getFill() ? std::optional<double>(e.getFillValue()) : std::nullopt;
    parts.elementType = cast<RankedTensorType>(e.getType()).getElementType();
    EinsumOp moved = parts.build(builder, e.getLoc(), [&](OpBuilder &b, Location, ValueRange args) {
      return inlineBody(b, e, args, rewriteIndex);
    });
    tileValues.map(e.getResult(), moved.getResult());
  }

  // LM = max over the tile.
  EinsumParts lmParts(context);
  lmParts.name = getUniqueEinsumName(max, "LM");
  lmParts.output = outputOf(max);
  lmParts.reductions.push_back({inner, ReduceKind::max});
  (void)lmParts.dim(outer);
  addOperands(max, lmParts);
  lmParts.elementType = elementType;
  EinsumOp localMax = lmParts.build(builder, max.getLoc(), [&](OpBuilder &b, Location, ValueRange args) {
    return args[0];
  });

  // RM' = max(RM, LM).
  // A per-step map over `output` (m1 fixed by the iterate), reading each
  // value by its bare ranks: RM', PRM and RC_i'.
  using Read = std::pair<Value, SmallVector<std::string>>;
  auto buildStepMap =
      [&](StringRef base, ArrayRef<std::string> output, ArrayRef<Read> reads,
          Type type, Location at,
          llvm::function_ref<Value(OpBuilder &, Location, ValueRange)> bodyFn) {
        EinsumParts parts(context);
        parts.name = getUniqueEinsumName(max, base);
        parts.output.assign(output.begin(), output.end());
        (void)parts.dim(outer);
        for (const auto &[value, ranks] : reads) {
          SmallVector<AffineExpr> indices;
          for (const std::string &r : ranks)
            indices.push_back(parts.dim(r));
          parts.addOperand(value, indices);
        }
        parts.elementType = type;
        return parts.build(builder, at, bodyFn);
      };
  SmallVector<std::string> stateRanks = outputOf(max);
  EinsumOp runningMax = buildStepMap(
      "RM", stateRanks,
      {{body->getArgument(0), stateRanks}, {localMax.getResult(), stateRanks}},
      elementType, max.getLoc(), [&](OpBuilder &b, Location l, ValueRange args) -> Value {
    return arith::MaximumFOp::create(b, l, args[0], args[1]);
  });

  // SLN = f(X_tile, RM').
  tileValues.map(max.getResult(), runningMax.getResult());
  EinsumParts slnParts(context);
  slnParts.name = getUniqueEinsumName(max, "L" + normalised.getName().value_or("N").str());
  slnParts.output = renameOutput(normalised);
  (void)slnParts.dim(outer);
  addOperands(normalised, slnParts);
  if (normalised.getFill())
    slnParts.fill = normalised.getFillValue();
  slnParts.elementType = cast<RankedTensorType>(normalised.getType()).getElementType();
  EinsumOp tileNormalised = slnParts.build(builder, loc, [&](OpBuilder &b, Location, ValueRange args) {
    return inlineBody(b, normalised, args);
  });
  tileValues.map(normalised.getResult(), tileNormalised.getResult());

  // PRM = RM == RM' ? 1 : f(RM, RM').
  EinsumOp correction = buildStepMap(
      "PRM", stateRanks,
      {{body->getArgument(0), stateRanks}, {runningMax.getResult(), stateRanks}},
      elementType, loc, [&](OpBuilder &b, Location l, ValueRange args) -> Value {
    SmallVector<Value> fArgs = {args[0], args[0]};
    fArgs[site.xOperand] = args[0];
    fArgs[1 - site.xOperand] = args[1];
    Value factor = inlineBody(b, normalised, fArgs);
    Value same = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, args[0], args[1]);
    Value one = arith::ConstantOp::create(b, l, b.getFloatAttr(elementType, 1.0));
    return arith::SelectOp::create(b, l, same, one, factor);
  });

  // LC_i = sum over the tile; RC_i' = LC_i + RC_i * PRM.
  SmallVector<Value> yielded = {runningMax.getResult()};
  for (auto [i, consumer] : llvm::enumerate(site.consumers)) {
    EinsumParts lcParts(context);
    lcParts.name = getUniqueEinsumName(max, "L" + consumer.getName().value_or("C").str());
    lcParts.output = outputOf(consumer);
    copyReductions(consumer, lcParts);
    (void)lcParts.dim(outer);
    addOperands(consumer, lcParts);
    lcParts.elementType = cast<RankedTensorType>(consumer.getType()).getElementType();
    // (A structured binding cannot be captured in C++17.)
    EinsumOp inlined = consumer;
    EinsumOp local = lcParts.build(builder, consumer.getLoc(), [&](OpBuilder &b, Location, ValueRange args) {
      return inlineBody(b, inlined, args, rewriteIndex);
    });
    SmallVector<std::string> consumerRanks = outputOf(consumer);
    EinsumOp updated = buildStepMap(
        stateNames[i + 1], consumerRanks,
        {{local.getResult(), consumerRanks},
         {body->getArgument(i + 1), consumerRanks},
         {correction.getResult(), stateRanks}},
        lcParts.elementType, consumer.getLoc(),
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
      // PRM == 0: the state so far is dropped, not scaled (it may be the
      // NaN of exp(-inf - -inf) for keys the spec gives weight 0).
      Value scaled = arith::MulFOp::create(b, l, args[1], args[2]);
      Value sum = arith::AddFOp::create(b, l, args[0], scaled);
      Value zero = arith::ConstantOp::create(
          b, l, b.getFloatAttr(args[2].getType(), 0.0));
      Value drop = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                         args[2], zero);
      return arith::SelectOp::create(b, l, drop, args[0], sum);
    });
    yielded.push_back(updated.getResult());
  }
  YieldOp::create(builder, loc, yielded);

  for (auto [i, consumer] : llvm::enumerate(site.consumers))
    consumer.getResult().replaceAllUsesWith(iterate.getResult(i + 1));
  for (EinsumOp consumer : llvm::reverse(site.consumers))
    consumer.erase();
  normalised.erase();
  max.getResult().replaceAllUsesWith(iterate.getResult(0));
  max.erase();
  for (EinsumOp e : llvm::reverse(site.moved))
    e.erase();
}

} // namespace

bool mlir::cascade::onlineRescaleOnce(func::FuncOp function, int64_t tileSize,
                                      RefusedSites &refused) {
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return false;
  SmallVector<EinsumOp> candidates;
  function.walk([&](EinsumOp einsum) { candidates.push_back(einsum); });
  for (EinsumOp max : candidates) {
    if (refused.contains(max))
      continue;
    std::optional<Site> site = matchSite(max, *env);
    if (!site)
      continue;
    if (!site->blocked.empty()) {
      max.emitWarning() << "cascade-online-rescale refused: "
                        << site->blocked;
      refused.insert(max);
      continue;
    }
    if (failed(checkLaws(*site)) || failed(checkSpecialValues(*site))) {
      refused.insert(max);
      continue;
    }
    rewrite(*site, tileSize);
    return true;
  }
  return false;
}

namespace {
struct OnlineRescalePass
    : public mlir::cascade::impl::CascadeOnlineRescaleBase<OnlineRescalePass> {
  using CascadeOnlineRescaleBase::CascadeOnlineRescaleBase;
  void runOnOperation() override {
    if (tileSize < 1) {
      emitError(getOperation().getLoc())
          << "cascade-online-rescale: tile-size must be at least 1, got "
          << static_cast<int64_t>(tileSize);
      return signalPassFailure();
    }
    RefusedSites refused;
    while (onlineRescaleOnce(getOperation(), tileSize, refused)) {
    }
  }
};
} // namespace
