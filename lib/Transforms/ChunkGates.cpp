//===- ChunkGates.cpp - Gated linear attention at linear cost ------------===//
//
// Gated linear attention (GLA) as a user writes it is quadratic twice over:
// the prefix sums of the log forget gates, and the scores that decay by
// their differences,
//
//   C[w, m, e] = g(G[w, u, e]) reduce(u: add) where (u <= m)
//   S[w, m, p] = body(X[w, p, e], Y[w, m, e], C[w, q, e], C[w, m, e])
//                reduce(e: add) where (m <= q),      q = p + M - P
//   O[w, p, f] = S[w, m, p] * V[w, m, f] reduce(m: add)
//
// with body(x, y, cq, ck) = x y exp(cq - ck) k for a constant k (a 1/sqrt(E)
// scale) and w the work item's ranks (b, h). This pass writes the chunked
// form with chunk-local prefix sums (GLA's normalisation: no prefix sum
// ever spans more than one key tile, so none grows with M and none is
// differenced against another of a different tile):
//
//   state phase, per (w), walking key tiles j of Tk keys once:
//     GL[m0, e] = g(G[w, j Tk + m0, e])        (0 past the end)
//     CL[m0, e] = sum_{u0 <= m0} GL[u0, e]     (the tile's own prefix sums)
//     GT[e]     = sum_u0 GL[u0, e]             (the tile's total)
//     H_j       = diag(exp(GT)) H_{j-1} + sum_m0 (Y exp(GT - CL))[m0]^T V[m0]
//     stacked: H_steps[w, j] = H_j, CL_steps[w, j] = CL
//   query phase, per (w, query tile t of Tq <= Tk rows):
//     CQ[p0, e] = CL_steps[w, q floordiv Tk, q mod Tk, e]
//     R0[p0, f] = body(X, H_steps[w, q floordiv Tk - 1], CQ, 0) reduce(e)
//     R = R0 + sum over the key tile of q: body(X, Y, CQ, CL_steps[w, m1])
//         * V, masked m <= q
//
// H_j holds sum_{m < (j + 1) Tk} exp(C_end(j) - C_m) Y_m^T V_m, so a row q
// in key tile j_q = q floordiv Tk reads H_{j_q - 1} scaled by exp(C_q -
// C_end(j_q - 1)) = exp(CQ), and the keys of its own tile through the
// tile-local differences CQ - CL. The row's key tile is one of the two the
// query tile touches (Tq <= Tk), so the inter-chunk product is written as
// two Einsums, each reading one state for the rows it covers.
//
// Legal where the body factors as above and C is the prefix sum of the
// same key positions (both by Z3 over the reals), the gates are provably
// at most 0 (every factor exp(...) is then at most 1: nothing overflows,
// and a product underflows only where the true term is smaller still) and
// every operand is finite (sums are reordered).
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Analysis/TileClassification.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADECHUNKGATES
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

SmallVector<std::string> namesOf(ArrayAttr ranks) {
  SmallVector<std::string> names;
  for (StringRef rank : ranks.getAsValueRange<StringAttr>())
    names.push_back(rank.str());
  return names;
}

/// The pieces of a gated cascade, as matched.
struct GatedSite {
  EinsumOp prefix, score, output;
  /// Operands of `score`: query-side, key-side, C at the query position,
  /// C at the key position; of `output`: the value.
  unsigned queryOperand = 0, keyOperand = 1, queryGates = 2, keyGates = 3;
  unsigned valueOperand = 1;
  std::string query, key, contracted, value, scan;
  /// The work item's ranks, in the output's order.
  SmallVector<std::string> work;
};

/// Whether `expr` over `einsum`'s ranks is `dim(rank) + M - P` with the
/// extents of `key` and `query`.
bool isBottomRightPosition(EinsumOp einsum, AffineExpr expr,
                           StringRef query, StringRef key) {
  std::map<std::string, int64_t> ranks;
  SymbolicOffset rest;
  return succeeded(getLinearForm(einsum, expr, ranks, rest)) &&
         ranks == std::map<std::string, int64_t>{{query.str(), 1}} &&
         rest == SymbolicOffset{{{key.str(), 1}, {query.str(), -1}}, 0};
}

/// Whether operand `index` of `einsum` is read at `ranks`, one bare rank per
/// dimension (EinsumOp::readsAtOwnPoint over std::string names).
bool readsAt(EinsumOp einsum, unsigned index, ArrayRef<std::string> ranks) {
  SmallVector<StringRef> names(ranks.begin(), ranks.end());
  return einsum.readsAtOwnPoint(index, names);
}

class GatesChunker {
public:
  GatesChunker(func::FuncOp function, const RankEnvironment &env,
               int64_t queryTile, int64_t keyTile,
               const llvm::StringMap<int64_t> &tileExtents)
      : function(function), env(env), tq(queryTile), tk(keyTile),
        tileExtents(tileExtents) {}

  /// The gated site whose output is `output`, or why it is not one (empty
  /// when `output` is not even shaped like one).
  FailureOr<GatedSite> match(EinsumOp output, std::string &why);
  void rewrite(GatedSite &site);

private:
  LogicalResult matchScore(GatedSite &site, std::string &why);
  LogicalResult matchPrefix(GatedSite &site, std::string &why);

  func::FuncOp function;
  const RankEnvironment &env;
  int64_t tq, tk;
  const llvm::StringMap<int64_t> &tileExtents;
};

FailureOr<GatedSite> GatesChunker::match(EinsumOp output, std::string &why) {
  GatedSite site;
  site.output = output;
  // O[w, p, f] = S[w, m, p] * V[w, m, f] reduce(m: add), unmasked.
  if (output.getInputs().size() != 2 || output.getReductions().size() != 1 ||
      cast<ReductionAttr>(output.getReductions()[0]).getKind() !=
          ReduceKind::add ||
      output.hasMask() || bodyReadsCoordinates(output))
    return failure();
  site.key =
      cast<ReductionAttr>(output.getReductions()[0]).getRank().getValue().str();
  for (unsigned i = 0; i < 2; ++i) {
    auto producer = output.getInputs()[i].getDefiningOp<EinsumOp>();
    if (producer && !site.score && producer.getReductions().size() == 1 &&
        producer.getInputs().size() == 4) {
      site.score = producer;
      site.valueOperand = 1 - i;
    }
  }
  if (!site.score)
    return failure();
  // From here on it is shaped like a gated cascade: say why not.
  LawProver prover;
  {
    z3::expr a = prover.variable("a"), b = prover.variable("b");
    FailureOr<z3::expr> body = prover.apply(output, {a, b}, why);
    if (failed(body) || prover.prove(*body, a * b).status != ProofStatus::Proved) {
      why = "the output's body is not the product of the score and the value";
      return failure();
    }
  }
  Value value = output.getInputs()[site.valueOperand];
  if (!isa<BlockArgument>(value) || !site.score->hasOneUse()) {
    why = "the value is not a function argument, or the score has other "
          "users";
    return failure();
  }
  if (failed(matchScore(site, why)) || failed(matchPrefix(site, why)))
    return failure();
  // Output ranks: the work ranks, the query rank and one value rank.
  for (const std::string &rank : namesOf(output.getOutput())) {
    if (rank == site.query)
      continue;
    if (llvm::is_contained(site.work, rank))
      continue;
    if (!site.value.empty()) {
      why = "the output has more than one rank besides the work item's and "
            "the query's";
      return failure();
    }
    site.value = rank;
  }
  SmallVector<std::string> outputWork;
  for (const std::string &rank : namesOf(output.getOutput()))
    if (rank != site.query && rank != site.value)
      outputWork.push_back(rank);
  if (outputWork != site.work || site.value.empty()) {
    why = "the output's ranks are not the gates' work ranks, the query rank "
          "and a value rank";
    return failure();
  }
  for (const std::string &rank : {site.contracted, site.value})
    if (!tileExtents.count(rank)) {
      why = "rank '" + rank + "' has no tile extent (tile-extents)";
      return failure();
    }
  // Sums are reordered: every operand must be finite.
  FloatClassAnalysis classes(function);
  std::string operand;
  for (EinsumOp einsum : {site.prefix, site.score, site.output})
    if (failed(checkFiniteOperands(classes, einsum, std::nullopt, operand))) {
      why = "the chunked sums are reordered, which is exact only for finite "
            "values, and " + operand;
      return failure();
    }
  return site;
}

LogicalResult GatesChunker::matchScore(GatedSite &site, std::string &why) {
  EinsumOp score = site.score;
  if (cast<ReductionAttr>(score.getReductions()[0]).getKind() !=
          ReduceKind::add ||
      bodyReadsCoordinates(score) || !score.getDataCompares().empty()) {
    why = "the score is not a sum over one contracted rank";
    return failure();
  }
  site.contracted =
      cast<ReductionAttr>(score.getReductions()[0]).getRank().getValue().str();
  // The causal mask m <= p + M - P, one constraint.
  SmallVector<IntegerSet> disjuncts = score.getDisjuncts();
  if (disjuncts.size() != 1 || disjuncts.front().getNumConstraints() != 1 ||
      disjuncts.front().isEq(0)) {
    why = "the score's mask is not one causal constraint";
    return failure();
  }
  llvm::StringMap<int64_t> coefficients;
  AffineExpr symbolic;
  if (failed(score.getRankCoefficients(disjuncts.front().getConstraint(0),
                                       coefficients, symbolic)) ||
      coefficients.size() != 2 || coefficients.lookup(site.key) != -1) {
    why = "the score's mask is not causal (m <= p + M - P)";
    return failure();
  }
  for (auto &entry : coefficients)
    if (entry.getKey() != site.key)
      site.query = entry.getKey().str();
  SmallVector<std::string> scoreRanks = namesOf(score.getRanks());
  AffineExpr keyDim = getAffineDimExpr(
      llvm::find(scoreRanks, site.key) - scoreRanks.begin(),
      score.getContext());
  if (coefficients.lookup(site.query) != 1 ||
      !isBottomRightPosition(score,
                             disjuncts.front().getConstraint(0) + keyDim,
                             site.query, site.key)) {
    why = "the score's mask is not m <= p + M - P (the recurrence includes "
          "the diagonal and aligns the last query with the last key)";
    return failure();
  }
  // Two operands read the same prefix sums, at the query and at the key.
  SmallVector<unsigned> gates;
  for (unsigned i = 0; i < 4; ++i)
    if (llvm::count(score.getInputs(), score.getInputs()[i]) == 2)
      gates.push_back(i);
  if (gates.size() != 2) {
    why = "the score does not read one tensor of prefix sums twice";
    return failure();
  }
  site.prefix = score.getInputs()[gates[0]].getDefiningOp<EinsumOp>();
  if (!site.prefix) {
    why = "the score's prefix sums are not an Einsum";
    return failure();
  }
  SmallVector<std::string> prefixRanks = namesOf(site.prefix.getOutput());
  auto keyAt = llvm::find(prefixRanks, site.key);
  if (keyAt == prefixRanks.end() ||
      !llvm::is_contained(prefixRanks, site.contracted)) {
    why = "the prefix sums are not indexed by the key and contracted ranks";
    return failure();
  }
  unsigned positionDim = keyAt - prefixRanks.begin();
  bool found = false;
  for (auto [first, second] : {std::pair(gates[0], gates[1]),
                               std::pair(gates[1], gates[0])}) {
    // The key's read is the prefix sums' own point; the query's is the
    // same but in the position dimension.
    AffineMap atQuery =
        cast<AffineMapAttr>(score.getIndexingMaps()[first]).getValue();
    AffineMap atKey =
        cast<AffineMapAttr>(score.getIndexingMaps()[second]).getValue();
    bool elsewhereSame = true;
    for (unsigned d = 0; d < atKey.getNumResults(); ++d)
      if (d != positionDim && atQuery.getResult(d) != atKey.getResult(d))
        elsewhereSame = false;
    if (readsAt(score, second, prefixRanks) && elsewhereSame &&
        isBottomRightPosition(score, atQuery.getResult(positionDim),
                              site.query, site.key)) {
      site.queryGates = first;
      site.keyGates = second;
      found = true;
    }
  }
  if (!found) {
    why = "the score does not read the prefix sums at [.., p + M - P, ..] "
          "and [.., m, ..] with the prefix sums' own ranks otherwise";
    return failure();
  }
  for (const std::string &rank : prefixRanks)
    if (rank != site.key && rank != site.contracted)
      site.work.push_back(rank);
  // The other two: a query-side and a key-side factor, function arguments.
  for (unsigned i = 0; i < 4; ++i) {
    if (i == site.queryGates || i == site.keyGates)
      continue;
    AffineMap map = cast<AffineMapAttr>(score.getIndexingMaps()[i]).getValue();
    bool query = false, key = false;
    for (AffineExpr expr : map.getResults())
      for (auto [d, rank] : llvm::enumerate(scoreRanks))
        if (expr.isFunctionOfDim(d)) {
          query |= rank == site.query;
          key |= rank == site.key;
        }
    if (!isa<BlockArgument>(score.getInputs()[i]) || query == key) {
      why = "the score's factors are not a query-side and a key-side "
            "function argument";
      return failure();
    }
    (query ? site.queryOperand : site.keyOperand) = i;
  }
  // body(x, y, cq, ck) == x y exp(cq - ck) body(1, 1, 0, 0), by Z3.
  LawProver prover;
  z3::expr x = prover.variable("x"), y = prover.variable("y"),
           cq = prover.variable("cq"), ck = prover.variable("ck");
  SmallVector<z3::expr> args(4, x), unit(4, prover.constant(1.0));
  args[site.queryOperand] = x;
  args[site.keyOperand] = y;
  args[site.queryGates] = cq;
  args[site.keyGates] = ck;
  unit[site.queryGates] = prover.constant(0.0);
  unit[site.keyGates] = prover.constant(0.0);
  std::string unmodelled;
  FailureOr<z3::expr> body = prover.apply(score, args, unmodelled);
  FailureOr<z3::expr> scale = prover.apply(score, unit, unmodelled);
  if (failed(body) || failed(scale)) {
    why = "the score's body has no model: " + unmodelled;
    return failure();
  }
  z3::func_decl exp = prover.reals().getFunction("math.exp", 1);
  if (prover.prove(*body, x * y * exp(cq - ck) * *scale).status !=
      ProofStatus::Proved) {
    why = "the score's body is not x * y * exp(C[q] - C[m]) times a "
          "constant (Z3)";
    return failure();
  }
  return success();
}

LogicalResult GatesChunker::matchPrefix(GatedSite &site, std::string &why) {
  EinsumOp prefix = site.prefix;
  SmallVector<std::string> ranks = namesOf(prefix.getOutput());
  if (prefix.getInputs().size() != 1 || prefix.getReductions().size() != 1 ||
      cast<ReductionAttr>(prefix.getReductions()[0]).getKind() !=
          ReduceKind::add ||
      !isa<BlockArgument>(prefix.getInputs()[0]) ||
      bodyReadsCoordinates(prefix) || !prefix.getDataCompares().empty()) {
    why = "the gates' prefix sums are not a sum of a map of one argument";
    return failure();
  }
  site.scan =
      cast<ReductionAttr>(prefix.getReductions()[0]).getRank().getValue().str();
  unsigned positionDim = llvm::find(ranks, site.key) - ranks.begin();
  SmallVector<std::string> gateRanks = ranks;
  gateRanks[positionDim] = site.scan;
  // The scan walks the same positions as the keys: one binding for both.
  const RankBinding *scanBinding = env.lookup(site.scan);
  const RankBinding *keyBinding = env.lookup(site.key);
  if (!readsAt(prefix, 0, gateRanks) || !scanBinding || !keyBinding ||
      scanBinding->kind != RankBinding::Kind::Argument ||
      keyBinding->kind != RankBinding::Kind::Argument ||
      scanBinding->argNumber != keyBinding->argNumber ||
      scanBinding->dim != keyBinding->dim) {
    why = "the prefix sums do not read the gates at their own ranks with "
          "the scanned rank in the key's place, or the scanned rank is not "
          "bound to the same argument dimension as the key";
    return failure();
  }
  // where (u <= m), one constraint.
  SmallVector<IntegerSet> disjuncts = prefix.getDisjuncts();
  llvm::StringMap<int64_t> coefficients;
  AffineExpr symbolic;
  if (disjuncts.size() != 1 || disjuncts.front().getNumConstraints() != 1 ||
      disjuncts.front().isEq(0) ||
      failed(prefix.getRankCoefficients(disjuncts.front().getConstraint(0),
                                        coefficients, symbolic)) ||
      coefficients.size() != 2 || coefficients.lookup(site.key) != 1 ||
      coefficients.lookup(site.scan) != -1 ||
      symbolic != getAffineConstantExpr(0, prefix.getContext())) {
    why = "the prefix sums' mask is not `u <= m`";
    return failure();
  }
  // Gates at most 0: body(g) == ite(body(g) <= 0, body(g), 0).
  LawProver prover;
  z3::expr g = prover.variable("g");
  FailureOr<z3::expr> body = prover.apply(prefix, {g}, why);
  if (failed(body))
    return failure();
  if (prover.prove(*body, z3::ite(*body <= prover.constant(0.0), *body,
                                  prover.constant(0.0)))
          .status != ProofStatus::Proved) {
    why = "the gates are not provably at most 0 (write min(G, 0.0)): a "
          "positive log gate would let a chunked factor overflow";
    return failure();
  }
  return success();
}

void GatesChunker::rewrite(GatedSite &site) {
  MLIRContext *context = function.getContext();
  Location loc = site.output.getLoc();
  Block &block = function.getBody().front();
  OpBuilder builder(context);
  builder.setInsertionPointToStart(&block);
  std::string p1 = getUniqueRankName(function, site.query + "1");
  std::string p0 = getUniqueRankName(function, site.query + "0");
  createPartition(builder, loc, site.query, p1, tq, p0);
  std::string m1 = getUniqueRankName(function, site.key + "1");
  std::string m0 = getUniqueRankName(function, site.key + "0");
  PartitionOp keyCut = createPartition(builder, loc, site.key, m1, tk, m0);
  std::string u0 = getUniqueRankName(function, site.scan + "0");
  const std::string &e = site.contracted, &f = site.value;
  Type f32 = builder.getF32Type();
  int64_t te = tileExtents.lookup(e), tf = tileExtents.lookup(f);

  auto setExtents = [&](EinsumParts &parts) {
    for (auto &entry : tileExtents)
      parts.staticExtents[entry.getKey()] = entry.getValue();
    parts.staticExtents[m0] = tk;
    parts.staticExtents[p0] = tq;
    parts.staticExtents[u0] = tk;
    parts.elementType = f32;
  };
  auto extentsAttr = [&](bool withScan) {
    SmallVector<NamedAttribute> extents;
    for (auto &entry : tileExtents)
      extents.push_back(builder.getNamedAttr(
          entry.getKey(), builder.getI64IntegerAttr(entry.getValue())));
    if (withScan)
      extents.push_back(
          builder.getNamedAttr(u0, builder.getI64IntegerAttr(tk)));
    return builder.getDictionaryAttr(extents);
  };
  auto makeGrid = [&](ArrayRef<std::string> ranks,
                      ArrayRef<SmallVector<std::string>> outputs,
                      DictionaryAttr extents) {
    OperationState state(loc, GridOp::getOperationName());
    SmallVector<StringRef> rankRefs(ranks.begin(), ranks.end());
    state.addAttribute("ranks", builder.getStrArrayAttr(rankRefs));
    SmallVector<Attribute> outputAttrs;
    for (const SmallVector<std::string> &output : outputs) {
      SmallVector<StringRef> refs(output.begin(), output.end());
      outputAttrs.push_back(builder.getStrArrayAttr(refs));
      state.addTypes(RankedTensorType::get(
          SmallVector<int64_t>(output.size(), ShapedType::kDynamic), f32));
    }
    state.addAttribute("outputs", builder.getArrayAttr(outputAttrs));
    state.addAttribute("tile_extents", extents);
    state.addRegion()->push_back(new Block());
    return cast<GridOp>(builder.create(state));
  };
  auto zero = [](OpBuilder &b, Location l, ValueRange) -> Value {
    return arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0));
  };
  auto add = [](OpBuilder &b, Location l, ValueRange args) -> Value {
    return arith::AddFOp::create(b, l, args[0], args[1]);
  };
  auto multiply = [](OpBuilder &b, Location l, ValueRange args) -> Value {
    return arith::MulFOp::create(b, l, args[0], args[1]);
  };
  auto expOf = [](OpBuilder &b, Location l, Value x) -> Value {
    return math::ExpOp::create(b, l, x);
  };
  auto name = [&](StringRef base) {
    return getUniqueEinsumName(function, base);
  };

  //===------------------------------------------------------------------===//
  // The state phase.
  //===------------------------------------------------------------------===//
  builder.setInsertionPoint(site.output);
  SmallVector<std::string> stateOut(site.work), gatesOut(site.work);
  stateOut.append({m1, e, f});
  gatesOut.append({m1, m0, e});
  GridOp stateGrid = makeGrid(site.work, {stateOut, gatesOut},
                              extentsAttr(/*withScan=*/true));
  Value hSteps = stateGrid.getResult(0), clSteps = stateGrid.getResult(1);
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&stateGrid.getBodyBlock());
    EinsumParts h0(context);
    h0.name = name("H0");
    h0.output = {e, f};
    setExtents(h0);
    Value start = h0.build(builder, loc, zero);
    auto stateType = RankedTensorType::get({ShapedType::kDynamic, te, tf}, f32);
    auto gatesType = RankedTensorType::get({ShapedType::kDynamic, tk, te}, f32);
    IterateOp scan =
        createIterate(builder, loc, m1, {start}, {stateType, gatesType});
    builder.setInsertionPointToStart(&scan.getBodyBlock());
    // GL[m0, e] = g(G[w, m1 Tk + m0, e]).
    EinsumParts gl(context);
    gl.name = name("GL");
    gl.output = {m0, e};
    setExtents(gl);
    gl.addOperandOf(site.prefix, 0,
                    {{site.scan, gl.dim(m1) * tk + gl.dim(m0)}});
    Value gates = gl.build(builder, loc,
                           [&](OpBuilder &b, Location, ValueRange args) {
                             return inlineBody(b, site.prefix, args);
                           });
    // CL[m0, e] = GL[u0, e] reduce(u0) where (u0 <= m0); GT[e] = sum GL.
    EinsumParts cl(context);
    cl.name = name("CL");
    cl.output = {m0, e};
    cl.reductions.push_back({u0, ReduceKind::add});
    setExtents(cl);
    cl.addOperand(gates, {cl.dim(u0), cl.dim(e)});
    cl.addConstraint(cl.dim(m0) - cl.dim(u0), /*isEquality=*/false);
    Value local = cl.build(builder, loc,
                           [](OpBuilder &, Location, ValueRange args) {
                             return args[0];
                           });
    EinsumParts gt(context);
    gt.name = name("GT");
    gt.output = {e};
    gt.reductions.push_back({u0, ReduceKind::add});
    setExtents(gt);
    gt.addOperand(gates, {gt.dim(u0), gt.dim(e)});
    // Only the tile's keys: a compiled kernel leaves GL's rows past the end
    // of the last tile unwritten (CL's u0 <= m0 keeps inside already).
    gt.addConstraint(gt.extent(site.key) - 1 - gt.dim(m1) * tk - gt.dim(u0),
                     /*isEquality=*/false);
    Value total = gt.build(builder, loc,
                           [](OpBuilder &, Location, ValueRange args) {
                             return args[0];
                           });
    // KD[m0, e] = Y[w, m, e] exp(GT[e] - CL[m0, e]).
    EinsumParts kd(context);
    kd.name = name("KD");
    kd.output = {m0, e};
    setExtents(kd);
    kd.addOperandOf(site.score, site.keyOperand,
                    {{site.key, kd.dim(m1) * tk + kd.dim(m0)}});
    kd.addOperand(total, {kd.dim(e)});
    kd.addOperand(local, {kd.dim(m0), kd.dim(e)});
    Value keys = kd.build(builder, loc,
                          [&](OpBuilder &b, Location l, ValueRange args) {
                            Value decay = expOf(
                                b, l, arith::SubFOp::create(b, l, args[1],
                                                            args[2]));
                            return arith::MulFOp::create(b, l, args[0], decay);
                          });
    // CH[e, f] = KD[m0, e] V[w, m, f] reduce(m0).
    EinsumParts ch(context);
    ch.name = name("CH");
    ch.output = {e, f};
    ch.reductions.push_back({m0, ReduceKind::add});
    setExtents(ch);
    ch.addOperand(keys, {ch.dim(m0), ch.dim(e)});
    ch.addOperandOf(site.output, site.valueOperand,
                    {{site.key, ch.dim(m1) * tk + ch.dim(m0)}});
    Value chunk = ch.build(builder, loc, multiply);
    // H[e, f] = h[e, f] exp(GT[e]) + CH[e, f].
    EinsumParts next(context);
    next.name = name("H");
    next.output = {e, f};
    setExtents(next);
    next.addOperand(scan.getBodyBlock().getArgument(0),
                    {next.dim(e), next.dim(f)});
    next.addOperand(total, {next.dim(e)});
    next.addOperand(chunk, {next.dim(e), next.dim(f)});
    Value state = next.build(
        builder, loc, [&](OpBuilder &b, Location l, ValueRange args) {
          Value decayed =
              arith::MulFOp::create(b, l, args[0], expOf(b, l, args[1]));
          return arith::AddFOp::create(b, l, decayed, args[2]);
        });
    YieldOp::create(builder, loc, ValueRange{state, state, local});
    builder.setInsertionPointAfter(scan);
    YieldOp::create(builder, loc, scan.getStackedResults());
  }

  //===------------------------------------------------------------------===//
  // The query phase.
  //===------------------------------------------------------------------===//
  SmallVector<std::string> gridRanks(site.work);
  gridRanks.push_back(p1);
  SmallVector<std::string> outputRanks = namesOf(site.output.getOutput());
  GridOp queryGrid =
      makeGrid(gridRanks, {outputRanks}, extentsAttr(/*withScan=*/false));
  SmallVector<std::string> tileRanks;
  for (const std::string &rank : outputRanks)
    if (!llvm::is_contained(site.work, rank))
      tileRanks.push_back(rank == site.query ? p0 : rank);
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&queryGrid.getBodyBlock());
    auto row = [&](EinsumParts &parts) {
      return parts.dim(p1) * tq + parts.dim(p0) + parts.extent(site.key) -
             parts.extent(site.query);
    };
    auto firstTile = [&](EinsumParts &parts) {
      return (parts.dim(p1) * tq + parts.extent(site.key) -
              parts.extent(site.query))
          .floorDiv(tk);
    };
    auto workIndices = [&](EinsumParts &parts) {
      SmallVector<AffineExpr> indices;
      for (const std::string &rank : site.work)
        indices.push_back(parts.dim(rank));
      return indices;
    };
    // CQ[p0, e] = CL_steps[w, q floordiv Tk, q mod Tk, e] where (q >= 0).
    EinsumParts cq(context);
    cq.name = name("CQ");
    cq.output = {p0, e};
    setExtents(cq);
    SmallVector<AffineExpr> at = workIndices(cq);
    at.append({row(cq).floorDiv(tk), row(cq) % tk, cq.dim(e)});
    cq.addOperand(clSteps, at);
    cq.addConstraint(row(cq), /*isEquality=*/false);
    Value rowGates = cq.build(builder, loc,
                              [](OpBuilder &, Location, ValueRange args) {
                                return args[0];
                              });
    // The inter-chunk products, one per key tile a row may be in: the
    // first row's tile F, or F + 1 (Tq <= Tk). Each is masked per work
    // item only (a compiled kernel skips it whole, so H_steps[F - 1] is
    // never read when F = 0, and the second is skipped when no row
    // reaches tile F + 1); the rows are picked after.
    auto inter = [&](int64_t step) {
      EinsumParts part(context);
      part.name = name(step == 0 ? "IF" : "IN");
      part.output = tileRanks;
      part.reductions.push_back({e, ReduceKind::add});
      setExtents(part);
      part.addOperandOf(site.score, site.queryOperand,
                        {{site.query, part.dim(p1) * tq + part.dim(p0)}});
      SmallVector<AffineExpr> state = workIndices(part);
      state.append({firstTile(part) + (step - 1), part.dim(e), part.dim(f)});
      part.addOperand(hSteps, state);
      part.addOperand(rowGates, {part.dim(p0), part.dim(e)});
      if (step == 0) {
        part.addConstraint(firstTile(part) - 1, false);
      } else {
        part.addConstraint(firstTile(part), false);
        AffineExpr lastRow = part.dim(p1) * tq + (tq - 1) +
                             part.extent(site.key) - part.extent(site.query);
        part.addConstraint(lastRow - firstTile(part) * tk - tk, false);
      }
      return part.build(builder, loc,
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          SmallVector<Value> bodyArgs(4);
                          bodyArgs[site.queryOperand] = args[0];
                          bodyArgs[site.keyOperand] = args[1];
                          bodyArgs[site.queryGates] = args[2];
                          bodyArgs[site.keyGates] = arith::ConstantOp::create(
                              b, l, b.getF32FloatAttr(0.0));
                          return inlineBody(b, site.score, bodyArgs);
                        });
    };
    // The rows of tile F (q < (F + 1) Tk) or of tile F + 1.
    auto rowsOf = [&](Value product, int64_t step) {
      EinsumParts rows(context);
      rows.name = name(step == 0 ? "RF" : "RN");
      rows.output = tileRanks;
      rows.fill = 0.0;
      setExtents(rows);
      SmallVector<AffineExpr> own;
      for (const std::string &rank : tileRanks)
        own.push_back(rows.dim(rank));
      rows.addOperand(product, own);
      AffineExpr end = firstTile(rows) * tk + tk;
      rows.addConstraint(step == 0 ? end - 1 - row(rows) : row(rows) - end,
                         false);
      return rows.build(builder, loc,
                        [](OpBuilder &, Location, ValueRange args) {
                          return args[0];
                        });
    };
    Value fromFirst = rowsOf(inter(0), 0), fromNext = rowsOf(inter(1), 1);
    EinsumParts r0(context);
    r0.name = name("R0");
    r0.output = tileRanks;
    setExtents(r0);
    SmallVector<AffineExpr> own;
    for (const std::string &rank : tileRanks)
      own.push_back(r0.dim(rank));
    r0.addOperand(fromFirst, own);
    r0.addOperand(fromNext, own);
    Value init = r0.build(builder, loc, add);

    // The key tile of each row: the intra-chunk part.
    IterateOp keys = createIterate(builder, loc, m1, {init});
    builder.setInsertionPointToStart(&keys.getBodyBlock());
    EinsumParts s(context);
    s.name = site.score.getName() ? site.score.getName()->str() : "S";
    s.output = {m0, p0};
    s.reductions.push_back({e, ReduceKind::add});
    setExtents(s);
    llvm::StringMap<AffineExpr> tiled = {
        {site.query, s.dim(p1) * tq + s.dim(p0)},
        {site.key, s.dim(m1) * tk + s.dim(m0)}};
    s.addOperandOf(site.score, site.queryOperand, tiled);
    s.addOperandOf(site.score, site.keyOperand, tiled);
    s.addOperand(rowGates, {s.dim(p0), s.dim(e)});
    SmallVector<AffineExpr> keyGates = workIndices(s);
    keyGates.append({s.dim(m1), s.dim(m0), s.dim(e)});
    s.addOperand(clSteps, keyGates);
    s.addPredicateOf(site.score, tiled);
    s.addConstraint(row(s) - s.dim(m1) * tk, false);
    s.addConstraint(s.dim(m1) * tk + (tk - 1) - row(s), false);
    Value scores = s.build(builder, loc,
                           [&](OpBuilder &b, Location, ValueRange args) {
                             SmallVector<Value> bodyArgs(4);
                             bodyArgs[site.queryOperand] = args[0];
                             bodyArgs[site.keyOperand] = args[1];
                             bodyArgs[site.queryGates] = args[2];
                             bodyArgs[site.keyGates] = args[3];
                             return inlineBody(b, site.score, bodyArgs);
                           });
    EinsumParts l(context);
    l.name = name("L" + (site.output.getName() ? site.output.getName()->str()
                                               : std::string("O")));
    l.output = tileRanks;
    l.reductions.push_back({m0, ReduceKind::add});
    setExtents(l);
    l.addOperand(scores, {l.dim(m0), l.dim(p0)});
    l.addOperandOf(site.output, site.valueOperand,
                   {{site.key, l.dim(m1) * tk + l.dim(m0)}});
    Value contribution = l.build(builder, loc, multiply);
    EinsumParts sum(context);
    sum.name = site.output.getName() ? site.output.getName()->str() : "O";
    sum.output = tileRanks;
    setExtents(sum);
    SmallVector<AffineExpr> ownSum;
    for (const std::string &rank : tileRanks)
      ownSum.push_back(sum.dim(rank));
    sum.addOperand(keys.getBodyBlock().getArgument(0), ownSum);
    sum.addOperand(contribution, ownSum);
    Value updated = sum.build(builder, loc, add);
    YieldOp::create(builder, loc, ValueRange{updated});
    builder.setInsertionPointAfter(keys);
    YieldOp::create(builder, loc, keys.getResults());

    // Each query tile visits the key tiles of its rows, no others.
    TileClassificationRequest request;
    request.queryRank = site.query;
    request.queryTile = tq;
    std::string why;
    if (FailureOr<TileScheduleAttr> schedule = classifyKeyTiles(
            keys, keyCut, request, why);
        succeeded(schedule))
      keys.setTilesAttr(*schedule);
  }
  site.output.getResult().replaceAllUsesWith(queryGrid.getResult(0));
  site.output.erase();
  site.score.erase();
  if (site.prefix.use_empty())
    site.prefix.erase();
}

struct CascadeChunkGatesPass
    : public mlir::cascade::impl::CascadeChunkGatesBase<CascadeChunkGatesPass> {
  using CascadeChunkGatesBase::CascadeChunkGatesBase;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (!isCascadeFunction(function))
      return;
    if (queryTile < 1 || keyTile < 1) {
      function.emitError("cascade-chunk-gates: query-tile and key-tile must "
                         "be at least 1");
      return signalPassFailure();
    }
    FailureOr<llvm::StringMap<int64_t>> extents =
        parseAssumedExtents(function.getLoc(), tileExtents);
    if (failed(extents))
      return signalPassFailure();
    // Scheduled functions are left alone.
    if (!function.getBody().front().getOps<GridOp>().empty() ||
        !function.getBody().front().getOps<PartitionOp>().empty())
      return;
    SmallVector<EinsumOp> outputs;
    for (EinsumOp einsum : function.getBody().front().getOps<EinsumOp>())
      outputs.push_back(einsum);
    // The function changes only by the one rewrite, after which the pass
    // returns: one environment and one chunker serve every candidate.
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    if (failed(env))
      return signalPassFailure();
    GatesChunker chunker(function, *env, queryTile, keyTile, *extents);
    for (EinsumOp output : outputs) {
      std::string why;
      FailureOr<GatedSite> site = chunker.match(output, why);
      if (failed(site)) {
        if (emitRemarks && !why.empty())
          output.emitRemark("cascade-chunk-gates: left quadratic: ") << why;
        continue;
      }
      // A query tile then spans at most two key tiles (two states).
      if (queryTile > keyTile) {
        output.emitError("cascade-chunk-gates: a gated cascade needs "
                         "query-tile <= key-tile, not ")
            << static_cast<int64_t>(queryTile) << " > "
            << static_cast<int64_t>(keyTile);
        return signalPassFailure();
      }
      chunker.rewrite(*site);
      if (emitRemarks)
        function.emitRemark("cascade-chunk-gates: gates carried in a state "
                            "stacked per key tile, prefix sums local to "
                            "each tile");
      return; // One site per function: the plan covers one query grid.
    }
  }
};

} // namespace
