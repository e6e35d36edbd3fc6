//===- Chunk.cpp - Causal linear attention at linear cost ----------------===//
//
// Causal linear attention scheduled by cascade-partition-rank is quadratic:
// query tile t walks every key tile at or before its diagonal,
//
//   R[p0, f] += sum_m0 (sum_e A[p0, e] B[m0, e]) X[m0, f]  where m <= q
//
// (A = phi(Q), B = phi(K), X = V or nothing for the normaliser). The key
// tiles that lie wholly in the past of the tile's first row are unmasked
// for every row, and there the sums reorder (distributivity):
//
//   sum_{past m} (A B^T) X = A (sum_{past m} B^T X) = A H[t]
//
// where H[t] is a prefix sum over key tiles, the same for every query tile
// that has t past tiles. This pass writes that schedule (Lightning
// Attention-2's inter/intra split, with fla's materialised chunk states):
//
//   - a state phase `cascade.grid [b, h]` whose iterate walks the key tiles
//     once, carries H and stacks it per step (`stack`): H_steps[b, h, m1] =
//     sum over key tiles <= m1 of B^T X;
//   - in the query grid, the carried value starts from the inter-chunk
//     product A H_steps[F(t) - 1] instead of 0, F(t) = (t Tq + M - P + 1)
//     floordiv Tk being the number of past tiles (none when F(t) = 0);
//   - the key iterate keeps only the other tiles (intra-chunk, masked): its
//     contributions get the predicate m1 Tk + Tk - 1 > t Tq + M - P, and
//     the tile schedule is derived again from the predicates, so a query
//     tile visits one or two key tiles instead of t + 1.
//
// Legal where the score is a product of a query-side and a key-side factor
// (times a constant such as 1/sqrt(E)) contracted by a sum, or a sum of such
// products over the same contracted rank (Hedgehog's feature map, two
// softmax halves: one state per product, sum_j A_j H_j[t]), each
// contribution is the score times a key-side factor summed over the key
// tile, the carried values start from 0 and are updated by +, the mask is
// the causal `m <= p + M - P + c` (c <= 0: a query tile never needs more
// than the last state), and every operand is finite (the sums are
// reordered). The products are proved with Z3, finiteness by the
// float-class analysis. The key-side Einsums (phi(K)) are computed again in
// the state phase: O(M E) extra work against the O(M^2 E) saved.
//
// Decays (RetNet's gamma^(q-m), Lightning's exp(-s (q-m))): the score may
// reach the contributions through a masked map D = S * E(r (q - m)), E exp
// or exp2, r read per (b, h), proved of that form by Z3. It factors at a
// boundary B: E(r (q - B)) E(r (B - m)). The state then holds, for B the
// end of key tile j, sum_{m < B} E(r (B - m)) B_m^T X_m, computed as
// H_j = E(r Tk) H_{j-1} + sum_m0 E(r (Tk - m0)) B^T X; each row scales the
// inter-chunk product by E(r (q - B)), B = F(t) Tk. B is taken at or
// before the last key the tile's first row sees, so q - B >= 0: for a
// decay every factor is at most 1 (the state's terms underflow to 0 where
// the true terms are that small, never inf times 0). A decay costs no pow
// and no exp per score of the past tiles: Tk exps per state step and Tq per
// query tile.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/AlgebraicLaws.h"
#include "cascade/Analysis/FloatClasses.h"
#include "cascade/Analysis/TileClassification.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

#include <map>

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADECHUNK
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// One carried sum of the key iterate: R = R0 + sum of contributions.
struct Stream {
  unsigned carried = 0;
  EinsumOp init, contribution;
  /// The contribution's key-side factor (V), if it has one.
  std::optional<unsigned> valueOperand;
  /// The contribution's operand that is the score (or the decayed score).
  unsigned scoreOperand = 0;
  /// Whether the contribution reads the decayed score (Site::decay).
  bool decayed = false;
};

/// A decay between the score and the contributions (RetNet, Lightning):
///
///   D[m0, p0] = S[m0, p0] * E(sign * rate * (p + position - m))
///               where (causal) else 0
///
/// E is exp or exp2 and `rate` an operand read at the work item's ranks
/// (b, h). It factors at any boundary B into a query-side and a key-side
/// part, E(s r (p + position - B)) * E(s r (B - m)), so the state of the key
/// tiles before B holds the key-side part.
struct Decay {
  EinsumOp einsum;
  unsigned scoreOperand = 0, rateOperand = 1;
  bool base2 = false;
  int sign = 1;
  SymbolicOffset position;
};

struct Site {
  GridOp grid;
  IterateOp iterate;
  PartitionOp queryCut, keyCut;
  EinsumOp score;
  /// The score's products, (query-side operand, key-side operand): its
  /// body is c * sum_j Q_j K_j (one product for phi(Q) phi(K)^T; two for a
  /// feature map that concatenates two halves, as Hedgehog's).
  SmallVector<std::pair<unsigned, unsigned>> products;
  std::optional<Decay> decay;
  SmallVector<Stream> streams;
  /// The causal offset: key m is visible from row p when m <= p + offset.
  SymbolicOffset offset;
};

bool isZeroFill(EinsumOp einsum) {
  if (!einsum || !einsum.getInputs().empty() || !einsum.getReductions().empty() ||
      einsum.hasMask())
    return false;
  Value root = einsum.getBodyBlock().getTerminator()->getOperand(0);
  auto constant = root.getDefiningOp<arith::ConstantOp>();
  auto value = constant ? dyn_cast<FloatAttr>(constant.getValue()) : nullptr;
  return value && value.getValueAsDouble() == 0.0;
}

SmallVector<std::string> outputRanks(EinsumOp einsum) {
  SmallVector<std::string> ranks;
  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
    ranks.push_back(rank.str());
  return ranks;
}

/// Whether operand `index` of `einsum` is read at the point of `ranks`.
bool readsAtOwnPoint(EinsumOp einsum, unsigned index,
                     ArrayRef<std::string> ranks) {
  SmallVector<StringRef> names(ranks.begin(), ranks.end());
  return einsum.readsAtOwnPoint(index, names);
}

/// The ranks operand `index` of `einsum` is indexed by.
llvm::StringSet<> getIndexRanks(EinsumOp einsum, unsigned index) {
  llvm::StringSet<> ranks;
  AffineMap map =
      cast<AffineMapAttr>(einsum.getIndexingMaps()[index]).getValue();
  for (auto [position, rank] :
       llvm::enumerate(einsum.getRanks().getAsValueRange<StringAttr>()))
    for (AffineExpr expr : map.getResults())
      if (expr.isFunctionOfDim(position))
        ranks.insert(rank);
  return ranks;
}

/// The pairing of `queries` with `keys` under which the score's body is
/// `c * sum_j x[queries[j]] * x[keys[j]]` for a constant c of the extents
/// (a 1/sqrt(E) scale), by Z3: body(x) == sum_j q_j k_j * body(1, ..., 1) / n.
/// Fails if no pairing is.
FailureOr<SmallVector<std::pair<unsigned, unsigned>>>
findProducts(EinsumOp einsum, ArrayRef<unsigned> queries,
             SmallVector<unsigned> keys) {
  LawProver prover;
  SmallVector<z3::expr> args, ones;
  for (unsigned i = 0; i < einsum.getInputs().size(); ++i) {
    args.push_back(prover.variable("x" + std::to_string(i)));
    ones.push_back(prover.constant(1.0));
  }
  std::string why;
  FailureOr<z3::expr> body = prover.apply(einsum, args, why);
  FailureOr<z3::expr> scale = prover.apply(einsum, ones, why);
  if (failed(body) || failed(scale))
    return failure();
  llvm::sort(keys);
  do {
    z3::expr sum = prover.constant(0.0);
    for (auto [query, key] : llvm::zip(queries, keys))
      sum = sum + args[query] * args[key];
    z3::expr expected =
        sum * *scale / prover.constant(static_cast<double>(keys.size()));
    if (prover.prove(*body, expected).status == ProofStatus::Proved) {
      SmallVector<std::pair<unsigned, unsigned>> products;
      for (auto [query, key] : llvm::zip(queries, keys))
        products.push_back({query, key});
      return products;
    }
  } while (std::next_permutation(keys.begin(), keys.end()));
  return failure();
}

bool isProductOfOperands(EinsumOp einsum) {
  LawProver prover;
  SmallVector<z3::expr> args;
  for (unsigned i = 0; i < einsum.getInputs().size(); ++i)
    args.push_back(prover.variable("x" + std::to_string(i)));
  std::string why;
  FailureOr<z3::expr> body = prover.apply(einsum, args, why);
  if (failed(body))
    return false;
  z3::expr expected = args.size() == 2 ? args[0] * args[1] : args[0];
  return args.size() <= 2 &&
         prover.prove(*body, expected).status == ProofStatus::Proved;
}

class Chunker {
public:
  Chunker(func::FuncOp function, const RankEnvironment &env)
      : function(function), env(env) {}

  /// The site `iterate` is, or the reason it is not one.
  FailureOr<Site> match(IterateOp iterate, std::string &why);
  LogicalResult rewrite(Site &site);

private:
  LogicalResult matchStream(Site &site, unsigned i, Value yielded,
                            std::string &why);
  LogicalResult matchScore(Site &site, EinsumOp score, std::string &why);
  LogicalResult matchDecay(Site &site, EinsumOp decay, std::string &why);
  /// The causal offset of a contribution's predicate.
  FailureOr<SymbolicOffset> getCausalOffset(Site &site, EinsumOp einsum,
                                            std::string &why);
  /// Whether `value`, read inside the key iterate, is key-side: an argument
  /// or a tensor computed outside the query grid, or an Einsum of the
  /// iterate's body that depends only on such values and key ranks.
  bool isKeySide(Site &site, Value value);
  AffineExpr buildOffset(EinsumParts &parts, const SymbolicOffset &offset);

  func::FuncOp function;
  const RankEnvironment &env;
};

bool Chunker::isKeySide(Site &site, Value value) {
  Operation *def = value.getDefiningOp();
  if (!def)
    return !site.grid->isAncestor(value.getParentBlock()->getParentOp());
  if (!site.grid->isAncestor(def))
    return true;
  auto einsum = dyn_cast<EinsumOp>(def);
  if (!einsum || einsum->getParentOp() != site.iterate)
    return false;
  StringRef queryOuter = site.queryCut.getOuter(),
            queryInner = site.queryCut.getInner();
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
    if (rank == queryOuter || rank == queryInner)
      return false;
  if (einsum.hasMask() || bodyReadsCoordinates(einsum))
    return false;
  for (Value input : einsum.getInputs())
    if (!isKeySide(site, input))
      return false;
  return true;
}

FailureOr<SymbolicOffset> Chunker::getCausalOffset(Site &site,
                                                   EinsumOp einsum,
                                                   std::string &why) {
  SmallVector<IntegerSet> disjuncts = einsum.getDisjuncts();
  if (disjuncts.size() != 1 || disjuncts.front().getNumConstraints() != 1 ||
      disjuncts.front().isEq(0) || !einsum.getDataCompares().empty()) {
    why = "the mask of " + einsum.getName().value_or("a contribution").str() +
          " is not one causal constraint";
    return failure();
  }
  std::map<std::string, int64_t> ranks;
  SymbolicOffset offset;
  if (failed(getLinearForm(einsum, disjuncts.front().getConstraint(0), ranks,
                           offset))) {
    why = "the mask is not linear";
    return failure();
  }
  int64_t tq = site.queryCut.getTile(), tk = site.keyCut.getTile();
  std::map<std::string, int64_t> causal = {
      {site.queryCut.getOuter().str(), tq},
      {site.queryCut.getInner().str(), 1},
      {site.keyCut.getOuter().str(), -tk},
      {site.keyCut.getInner().str(), -1}};
  if (ranks != causal) {
    why = "the mask is not causal (m <= p + offset)";
    return failure();
  }
  // The last state a query tile reads must exist: F(t) <= ceil(M / Tk)
  // holds for m <= p + M - P + c with c <= 0 and rows p < P.
  std::string m = site.keyCut.getRank().str(), p = site.queryCut.getRank().str();
  std::map<std::string, int64_t> bottomRight = {{m, 1}, {p, -1}};
  if (offset.coefficients != bottomRight || offset.constant > 0) {
    why = "the causal mask is not aligned bottom-right (m <= p + M - P + c "
          "with c <= 0), so the states a query tile reads are not bounded "
          "by the key tiles";
    return failure();
  }
  return offset;
}

LogicalResult Chunker::matchScore(Site &site, EinsumOp score,
                                  std::string &why) {
  if (site.score) {
    if (site.score != score) {
      why = "the contributions read different scores";
      return failure();
    }
    return success();
  }
  // At most four products: the pairing is searched over permutations.
  if (!score || score->getParentOp() != site.iterate || score.hasMask() ||
      score.getInputs().empty() || score.getInputs().size() % 2 != 0 ||
      score.getInputs().size() > 8 || score.getReductions().size() != 1 ||
      cast<ReductionAttr>(score.getReductions()[0]).getKind() !=
          ReduceKind::add ||
      bodyReadsCoordinates(score)) {
    why = "the score is not an unmasked sum of products of two operands";
    return failure();
  }
  StringRef contracted =
      cast<ReductionAttr>(score.getReductions()[0]).getRank().getValue();
  if (!site.grid.getTileExtent(contracted)) {
    why = "the score contracts a rank without a tile extent";
    return failure();
  }
  StringRef keyOuter = site.keyCut.getOuter(), keyInner = site.keyCut.getInner();
  StringRef queryOuter = site.queryCut.getOuter(),
            queryInner = site.queryCut.getInner();
  auto side = [&](unsigned i, bool &query, bool &key) {
    llvm::StringSet<> ranks = getIndexRanks(score, i);
    query = ranks.contains(queryOuter) || ranks.contains(queryInner);
    key = ranks.contains(keyOuter) || ranks.contains(keyInner);
  };
  SmallVector<unsigned> queries, keys;
  for (unsigned i = 0; i < score.getInputs().size(); ++i) {
    bool query, key;
    side(i, query, key);
    if (query == key) {
      why = "the score's operand #" + std::to_string(i) +
            " is not a query-side or a key-side factor";
      return failure();
    }
    (query ? queries : keys).push_back(i);
  }
  if (queries.size() != keys.size()) {
    why = "the score's operands are not pairs of a query-side and a "
          "key-side factor";
    return failure();
  }
  for (unsigned i : queries)
    if (Operation *def = score.getInputs()[i].getDefiningOp();
        def && site.iterate->isAncestor(def)) {
      why = "the score's query-side factor is computed per key step";
      return failure();
    }
  for (unsigned i : keys)
    if (!isKeySide(site, score.getInputs()[i])) {
      why = "the score's key-side factor depends on the query tile";
      return failure();
    }
  FailureOr<SmallVector<std::pair<unsigned, unsigned>>> products =
      findProducts(score, queries, keys);
  if (failed(products)) {
    why = "the score's body is not a sum of products of a query-side and a "
          "key-side operand times a constant (Z3)";
    return failure();
  }
  // The state phase reads the key-side factors at (m0, e): their other
  // ranks must be the work item's.
  for (unsigned i : keys)
    for (auto &entry : getIndexRanks(score, i)) {
      StringRef rank = entry.getKey();
      if (rank != keyOuter && rank != keyInner && rank != contracted &&
          !llvm::is_contained(
              site.grid.getRanks().getAsValueRange<StringAttr>(), rank)) {
        why = "the score's key-side factor varies with rank '" + rank.str() +
              "', which the state phase does not walk";
        return failure();
      }
    }
  site.score = score;
  site.products = std::move(*products);
  return success();
}

LogicalResult Chunker::matchDecay(Site &site, EinsumOp decay,
                                  std::string &why) {
  if (site.decay) {
    if (site.decay->einsum != decay) {
      why = "the contributions read different decayed scores";
      return failure();
    }
    return success();
  }
  std::string shape = "the contribution reads a map of the score that is not "
                      "a masked decay `s * exp(rate * (q - m)) else 0` (or "
                      "exp2, rate read per work item)";
  if (!decay.hasMask() || !decay.getFill() || decay.getFillValue() != 0.0 ||
      decay.getInputs().size() != 2 || !decay.getReductions().empty()) {
    why = shape;
    return failure();
  }
  Decay found;
  found.einsum = decay;
  EinsumOp score;
  for (auto [j, input] : llvm::enumerate(decay.getInputs())) {
    auto producer = input.getDefiningOp<EinsumOp>();
    if (!score && producer && producer->getParentOp() == site.iterate &&
        !producer.getReductions().empty() &&
        readsAtOwnPoint(decay, j, outputRanks(producer))) {
      score = producer;
      found.scoreOperand = j;
      found.rateOperand = 1 - j;
    }
  }
  if (!score) {
    why = shape;
    return failure();
  }
  if (failed(matchScore(site, score, why)))
    return failure();
  if (site.products.size() != 1) {
    why = "a decayed score with more than one product";
    return failure();
  }
  // The rate is read once per work item, before the query grid.
  Value rate = decay.getInputs()[found.rateOperand];
  Operation *def = rate.getDefiningOp();
  Operation *owner = def ? def : rate.getParentBlock()->getParentOp();
  if (site.grid->isAncestor(owner)) {
    why = "the decay rate is computed inside the query grid";
    return failure();
  }
  for (auto &entry : getIndexRanks(decay, found.rateOperand))
    if (entry.getKey() == site.queryCut.getOuter() ||
        !llvm::is_contained(site.grid.getRanks().getAsValueRange<StringAttr>(),
                            entry.getKey())) {
      why = "the decay rate varies with rank '" + entry.getKey().str() +
            "', not only with the work item";
      return failure();
    }
  FailureOr<SymbolicOffset> offset = getCausalOffset(site, decay, why);
  if (failed(offset))
    return failure();

  // body(s, rate) == s * E(sign * rate * (p + position - m)), by Z3, for
  // the position of the causal mask (q = p + M - P + c) or without its
  // constant (q = p + M - P).
  LawProver prover;
  Z3BodyEncoder &reals = prover.reals();
  z3::expr sVar = prover.variable("s"), rateVar = prover.variable("rate");
  SmallVector<z3::expr> args = {sVar, sVar};
  args[found.rateOperand] = rateVar;
  std::string unmodelled;
  FailureOr<z3::expr> body = prover.apply(decay, args, unmodelled);
  if (failed(body)) {
    why = "the decay's body has no model: " + unmodelled;
    return failure();
  }
  auto coordinate = [&](StringRef rank) {
    return z3::to_real(reals.getCoordinate(rank));
  };
  z3::expr row = coordinate(site.queryCut.getOuter()) *
                     static_cast<int>(site.queryCut.getTile()) +
                 coordinate(site.queryCut.getInner());
  z3::expr key = coordinate(site.keyCut.getOuter()) *
                     static_cast<int>(site.keyCut.getTile()) +
                 coordinate(site.keyCut.getInner());
  SymbolicOffset aligned = *offset;
  aligned.constant = 0;
  for (const SymbolicOffset &position : {*offset, aligned}) {
    z3::expr shift = prover.constant(static_cast<double>(position.constant));
    for (auto &[symbol, k] : position.coefficients)
      shift = shift + z3::to_real(reals.getExtent(symbol)) *
                          static_cast<int>(k);
    for (bool base2 : {false, true})
      for (int sign : {1, -1}) {
        z3::func_decl function =
            reals.getFunction(base2 ? "math.exp2" : "math.exp", 1);
        z3::expr expected =
            sVar * function(rateVar * sign * (row + shift - key));
        if (prover.prove(*body, expected).status != ProofStatus::Proved)
          continue;
        found.base2 = base2;
        found.sign = sign;
        found.position = position;
        site.decay = found;
        site.offset = *offset;
        return success();
      }
  }
  why = "the decay's body is not `s * exp(rate * (q - m))` (or exp2, either "
        "sign) for q = p + M - P (Z3)";
  return failure();
}

LogicalResult Chunker::matchStream(Site &site, unsigned i, Value yielded,
                                   std::string &why) {
  Stream stream;
  stream.carried = i;
  stream.init = site.iterate.getInits()[i].getDefiningOp<EinsumOp>();
  if (!isZeroFill(stream.init) || !stream.init->hasOneUse()) {
    why = "carried value #" + std::to_string(i) + " does not start from 0";
    return failure();
  }
  SmallVector<std::string> ranks = outputRanks(stream.init);
  auto update = yielded.getDefiningOp<EinsumOp>();
  BlockArgument argument = site.iterate.getBodyBlock().getArgument(i);
  if (!update || update->getParentOp() != site.iterate ||
      update.getInputs().size() != 2 || !update.getReductions().empty() ||
      update.hasMask() || outputRanks(update) != ranks) {
    why = "carried value #" + std::to_string(i) + " is not updated by a sum";
    return failure();
  }
  unsigned own = update.getInputs()[0] == argument ? 0 : 1;
  auto contribution = update.getInputs()[1 - own].getDefiningOp<EinsumOp>();
  LawProver prover;
  z3::expr r = prover.variable("r"), l = prover.variable("l");
  SmallVector<z3::expr> args = own == 0 ? SmallVector<z3::expr>{r, l}
                                        : SmallVector<z3::expr>{l, r};
  FailureOr<z3::expr> body = prover.apply(update, args, why);
  if (update.getInputs()[own] != argument || !contribution ||
      contribution->getParentOp() != site.iterate ||
      !readsAtOwnPoint(update, 0, ranks) ||
      !readsAtOwnPoint(update, 1, ranks) || failed(body) ||
      prover.prove(*body, r + l).status != ProofStatus::Proved) {
    why = "carried value #" + std::to_string(i) + " is not R + L";
    return failure();
  }
  // L[p0, ...] = S[m0, p0] (* X[m0, ...]) reduce(m0: add), causal.
  stream.contribution = contribution;
  if (contribution.getReductions().size() != 1 ||
      cast<ReductionAttr>(contribution.getReductions()[0]).getRank() !=
          site.keyCut.getInner() ||
      cast<ReductionAttr>(contribution.getReductions()[0]).getKind() !=
          ReduceKind::add ||
      outputRanks(contribution) != ranks ||
      contribution.getInputs().size() > 2 ||
      bodyReadsCoordinates(contribution)) {
    why = "contribution " +
          contribution.getName().value_or("L").str() +
          " is not a sum over the key tile";
    return failure();
  }
  // The contribution reads the score itself, or a decayed score (a masked
  // map of the score, whose mask then is the causal one).
  std::optional<unsigned> scoreOperand;
  for (auto [j, input] : llvm::enumerate(contribution.getInputs())) {
    auto producer = input.getDefiningOp<EinsumOp>();
    if (!scoreOperand && producer && producer->getParentOp() == site.iterate &&
        readsAtOwnPoint(contribution, j, outputRanks(producer)) &&
        (!producer.getReductions().empty() || producer.hasMask())) {
      scoreOperand = j;
      stream.decayed = producer.getReductions().empty();
      if (failed(stream.decayed ? matchDecay(site, producer, why)
                                : matchScore(site, producer, why)))
        return failure();
    } else {
      stream.valueOperand = j;
    }
  }
  if (!scoreOperand) {
    why = "the contribution does not multiply the score, or a masked decay "
          "of it, by a key-side factor (an unmasked map of the score sits "
          "between)";
    return failure();
  }
  stream.scoreOperand = *scoreOperand;
  if (!site.streams.empty() && stream.decayed != site.streams[0].decayed) {
    why = "some contributions read the decayed score and others not";
    return failure();
  }
  if (stream.valueOperand) {
    llvm::StringSet<> valueRanks =
        getIndexRanks(contribution, *stream.valueOperand);
    if (valueRanks.contains(site.queryCut.getOuter()) ||
        valueRanks.contains(site.queryCut.getInner()) ||
        !isKeySide(site, contribution.getInputs()[*stream.valueOperand])) {
      why = "the contribution's other factor is not key-side";
      return failure();
    }
  }
  // Every output rank but the query row comes from the key-side factor.
  for (const std::string &rank : ranks)
    if (rank != site.queryCut.getInner() &&
        (!stream.valueOperand ||
         !getIndexRanks(contribution, *stream.valueOperand).contains(rank) ||
         !site.grid.getTileExtent(rank))) {
      why = "output rank '" + rank + "' is not a tile rank of the value";
      return failure();
    }
  if (!isProductOfOperands(contribution)) {
    why = "the contribution's body is not the product of its operands (Z3)";
    return failure();
  }
  // With a decay the causal mask is the decay's; the sum is unmasked.
  if (site.decay && contribution.hasMask()) {
    why = "both the decayed score and the contribution are masked";
    return failure();
  }
  FailureOr<SymbolicOffset> offset =
      site.decay ? FailureOr<SymbolicOffset>(site.offset)
                 : getCausalOffset(site, contribution, why);
  if (failed(offset))
    return failure();
  if (!site.streams.empty() && !(*offset == site.offset)) {
    why = "the contributions have different masks";
    return failure();
  }
  site.offset = *offset;
  site.streams.push_back(stream);
  return success();
}

FailureOr<Site> Chunker::match(IterateOp iterate, std::string &why) {
  Site site;
  site.iterate = iterate;
  site.grid = dyn_cast<GridOp>(iterate->getParentOp());
  if (!site.grid) {
    why = "the iterate is not in a work grid (run cascade-partition-rank)";
    return failure();
  }
  site.keyCut = env.getPartitionOfOuter(iterate.getRank());
  for (StringRef rank : site.grid.getRanks().getAsValueRange<StringAttr>())
    if (PartitionOp cut = env.getPartitionOfOuter(rank))
      site.queryCut = cut;
  if (!site.keyCut || !site.queryCut || iterate.getNumStacked() != 0 ||
      iterate.getInits().empty()) {
    why = "the iterate does not walk key tiles inside a query grid";
    return failure();
  }
  auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
  for (auto [i, yielded] : llvm::enumerate(yield.getValues()))
    if (failed(matchStream(site, i, yielded, why)))
      return failure();
  FloatClassAnalysis classes(function);
  // Reordering the sums is exact for finite values (a remark, not a
  // warning, when it is refused: the kernel stays quadratic and correct).
  std::string operand;
  if (site.decay && failed(checkFiniteOperands(classes, site.decay->einsum,
                                               site.decay->scoreOperand,
                                               operand))) {
    why = "the decay rate may not be finite: " + operand;
    return failure();
  }
  for (Stream &stream : site.streams) {
    if (failed(checkFiniteOperands(classes, site.score, std::nullopt,
                                   operand)) ||
        failed(checkFiniteOperands(classes, stream.contribution,
                                   stream.scoreOperand, operand))) {
      why = "summing past key tiles into a state is exact only for finite "
            "values, and " + operand;
      return failure();
    }
  }
  return site;
}

AffineExpr Chunker::buildOffset(EinsumParts &parts,
                                const SymbolicOffset &offset) {
  AffineExpr expr = getAffineConstantExpr(offset.constant, function.getContext());
  for (auto &[rank, k] : offset.coefficients)
    expr = expr + parts.extent(rank) * k;
  return expr;
}

LogicalResult Chunker::rewrite(Site &site) {
  MLIRContext *context = function.getContext();
  OpBuilder builder(site.grid);
  Location loc = site.iterate.getLoc();
  IterateOp iterate = site.iterate;
  int64_t tq = site.queryCut.getTile(), tk = site.keyCut.getTile();
  StringRef keyOuter = site.keyCut.getOuter(), keyInner = site.keyCut.getInner();
  StringRef queryOuter = site.queryCut.getOuter();
  SmallVector<std::string> stateRanks;
  for (StringRef rank : site.grid.getRanks().getAsValueRange<StringAttr>())
    if (rank != queryOuter)
      stateRanks.push_back(rank.str());
  if (stateRanks.empty())
    return iterate.emitError("cascade-chunk: the query grid has no rank "
                             "besides the query tile to run a state phase "
                             "over");
  llvm::StringMap<int64_t> tileExtents;
  for (NamedAttribute entry : site.grid.getTileExtents())
    tileExtents[entry.getName().getValue()] =
        cast<IntegerAttr>(entry.getValue()).getInt();
  StringRef contracted =
      cast<ReductionAttr>(site.score.getReductions()[0]).getRank().getValue();
  Type f32 = builder.getF32Type();

  // The ranks of each stream's state tile: the contracted rank, then the
  // contribution's output ranks but the query row.
  SmallVector<SmallVector<std::string>> stateTiles;
  for (const Stream &stream : site.streams) {
    SmallVector<std::string> tile = {contracted.str()};
    for (const std::string &rank : outputRanks(stream.contribution))
      if (rank != site.queryCut.getInner())
        tile.push_back(rank);
    stateTiles.push_back(tile);
  }
  auto tileType = [&](ArrayRef<std::string> ranks, bool stacked) {
    SmallVector<int64_t> shape;
    if (stacked)
      shape.push_back(ShapedType::kDynamic);
    for (const std::string &rank : ranks)
      shape.push_back(tileExtents.lookup(rank));
    return RankedTensorType::get(shape, f32);
  };
  auto setExtents = [&](EinsumParts &parts) {
    for (auto &entry : tileExtents)
      parts.staticExtents[entry.getKey()] = entry.getValue();
    parts.staticExtents[keyInner] = tk;
    parts.staticExtents[site.queryCut.getInner()] = tq;
  };
  auto multiply = [](OpBuilder &b, Location l, ValueRange args) -> Value {
    return args.size() == 1 ? args[0]
                            : arith::MulFOp::create(b, l, args[0], args[1])
                                  .getResult();
  };
  auto add = [](OpBuilder &b, Location l, ValueRange args) -> Value {
    return arith::AddFOp::create(b, l, args[0], args[1]);
  };
  // Decays: E(sign * rate * distance), distance an index or f32 value.
  auto decayFactor = [&](OpBuilder &b, Location l, Value rate,
                         Value distance) -> Value {
    if (distance.getType().isIndex())
      distance = arith::SIToFPOp::create(
          b, l, f32,
          arith::IndexCastOp::create(b, l, b.getI64Type(), distance));
    if (rate.getType() != f32)
      rate = arith::ExtFOp::create(b, l, f32, rate);
    Value exponent = arith::MulFOp::create(b, l, rate, distance);
    if (site.decay->sign < 0)
      exponent = arith::NegFOp::create(b, l, exponent);
    if (site.decay->base2)
      return math::Exp2Op::create(b, l, exponent);
    return math::ExpOp::create(b, l, exponent);
  };
  auto indexConstant = [](OpBuilder &b, Location l, int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, l, value);
  };
  // A decayed state is split at the key tile boundary at or before the
  // last key every row of the query tile sees, so that every query-side
  // factor E(sign rate (q - B)) has q - B >= 0: for a decay no factor
  // exceeds 1, and none of the split products is inf * 0. Without a decay
  // the boundary is one further when that key is a tile's last.
  int64_t shift = site.decay ? 0 : 1;

  // The state phase: one state per stream and product of the score,
  // state (i, j) at index i * numProducts + j.
  size_t numProducts = site.products.size();
  auto stateIndex = [&](size_t stream, size_t product) {
    return stream * numProducts + product;
  };
  SmallVector<Attribute> outputs;
  SmallVector<Type> resultTypes;
  for (size_t k = 0; k < site.streams.size() * numProducts; ++k) {
    const SmallVector<std::string> &tile = stateTiles[k / numProducts];
    SmallVector<StringRef> ranks(stateRanks.begin(), stateRanks.end());
    ranks.push_back(keyOuter);
    ranks.append(tile.begin(), tile.end());
    outputs.push_back(builder.getStrArrayAttr(ranks));
    resultTypes.push_back(RankedTensorType::get(
        SmallVector<int64_t>(ranks.size(), ShapedType::kDynamic), f32));
  }
  OperationState gridState(loc, GridOp::getOperationName());
  gridState.addAttribute(
      "ranks", builder.getStrArrayAttr(SmallVector<StringRef>(
                   stateRanks.begin(), stateRanks.end())));
  gridState.addAttribute("outputs", builder.getArrayAttr(outputs));
  gridState.addAttribute("tile_extents", site.grid.getTileExtents());
  gridState.addTypes(resultTypes);
  gridState.addRegion()->push_back(new Block());
  auto stateGrid = cast<GridOp>(builder.create(gridState));
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&stateGrid.getBodyBlock());
    SmallVector<Value> zeros;
    SmallVector<Type> stackedTypes;
    for (auto [stream, tile] : llvm::zip(site.streams, stateTiles))
      for (size_t j = 0; j < numProducts; ++j) {
        EinsumParts zero(context);
        zero.name =
            getUniqueEinsumName(function, ("H" + *stream.init.getName()).str());
        zero.output.assign(tile.begin(), tile.end());
        zero.elementType = f32;
        setExtents(zero);
        zeros.push_back(zero.build(
            builder, loc, [&](OpBuilder &b, Location l, ValueRange) -> Value {
              return arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0));
            }));
        stackedTypes.push_back(tileType(tile, /*stacked=*/true));
      }
    IterateOp scan =
        createIterate(builder, loc, keyOuter, zeros, stackedTypes);
    builder.setInsertionPointToStart(&scan.getBodyBlock());
    // The key-side Einsums the state needs, cloned from the key loop.
    IRMapping mapping;
    llvm::SetVector<Operation *> needed;
    SmallVector<Value> worklist;
    for (auto [query, key] : site.products)
      worklist.push_back(site.score.getInputs()[key]);
    for (Stream &stream : site.streams)
      if (stream.valueOperand)
        worklist.push_back(
            stream.contribution.getInputs()[*stream.valueOperand]);
    while (!worklist.empty()) {
      Operation *def = worklist.pop_back_val().getDefiningOp();
      if (!def || def->getParentOp() != iterate || !needed.insert(def))
        continue;
      llvm::append_range(worklist, def->getOperands());
    }
    for (Operation &op : iterate.getBodyBlock())
      if (needed.contains(&op))
        builder.clone(op, mapping);
    // With a decay the key-side factor is weighted by the key-side part of
    // the decay at the tile's end: KD[m0, e] = B[m0, e] E(s r (Tk - m0)).
    Value keyWeighted;
    if (site.decay) {
      EinsumOp decay = site.decay->einsum;
      EinsumParts weight(context);
      weight.name = getUniqueEinsumName(function, "KDECAY");
      weight.output = {keyInner.str()};
      weight.elementType = f32;
      setExtents(weight);
      weight.addOperandOf(decay, site.decay->rateOperand);
      Value weights = weight.build(
          builder, loc, [&](OpBuilder &b, Location l, ValueRange args) {
            Value m0 = IndexOp::create(b, l, b.getIndexType(), keyInner);
            Value distance =
                arith::SubIOp::create(b, l, indexConstant(b, l, tk), m0);
            return decayFactor(b, l, args[0], distance);
          });
      EinsumParts weighted(context);
      weighted.name = getUniqueEinsumName(function, "KD");
      weighted.output = {keyInner.str(), contracted.str()};
      weighted.elementType = f32;
      setExtents(weighted);
      unsigned keyOperand = site.products.front().second;
      weighted.addOperandOf(site.score, keyOperand);
      weighted.getOperandsMutable().back() =
          mapping.lookupOrDefault(site.score.getInputs()[keyOperand]);
      weighted.addOperand(weights, {weighted.dim(keyInner)});
      keyWeighted = weighted.build(builder, loc, multiply);
    }
    SmallVector<Value> next;
    for (auto [i, stream] : llvm::enumerate(site.streams))
      for (auto [j, product] : llvm::enumerate(site.products)) {
        unsigned keyOperand = product.second;
        EinsumParts chunk(context);
        chunk.name = getUniqueEinsumName(
            function,
            ("C" + StringRef(*stream.init.getName()).rtrim("0")).str());
        chunk.output.assign(stateTiles[i].begin(), stateTiles[i].end());
        chunk.reductions.push_back({keyInner.str(), ReduceKind::add});
        chunk.elementType = f32;
        setExtents(chunk);
        if (keyWeighted) {
          chunk.addOperand(keyWeighted,
                           {chunk.dim(keyInner), chunk.dim(contracted)});
        } else {
          chunk.addOperandOf(site.score, keyOperand);
          chunk.getOperandsMutable().back() =
              mapping.lookupOrDefault(site.score.getInputs()[keyOperand]);
        }
        if (stream.valueOperand) {
          chunk.addOperandOf(stream.contribution, *stream.valueOperand);
          chunk.getOperandsMutable().back() = mapping.lookupOrDefault(
              stream.contribution.getInputs()[*stream.valueOperand]);
        }
        Value contribution = chunk.build(builder, loc, multiply);
        EinsumParts sum(context);
        StringRef carried = *stream.init.getName();
        if (carried.size() > 1 && carried.back() == '0')
          carried = carried.drop_back();
        sum.name = getUniqueEinsumName(function, ("H" + carried).str());
        sum.output.assign(stateTiles[i].begin(), stateTiles[i].end());
        sum.elementType = f32;
        setExtents(sum);
        SmallVector<AffineExpr> own;
        for (const std::string &rank : stateTiles[i])
          own.push_back(sum.dim(rank));
        sum.addOperand(scan.getBodyBlock().getArgument(stateIndex(i, j)), own);
        sum.addOperand(contribution, own);
        if (!site.decay) {
          next.push_back(sum.build(builder, loc, add));
          continue;
        }
        // H' = H E(s r Tk) + C: the state moves its boundary one tile on.
        sum.addOperandOf(site.decay->einsum, site.decay->rateOperand);
        next.push_back(sum.build(
            builder, loc, [&](OpBuilder &b, Location l, ValueRange args) {
              Value tile = arith::ConstantOp::create(
                  b, l, b.getF32FloatAttr(static_cast<float>(tk)));
              Value decayed = arith::MulFOp::create(
                  b, l, args[0], decayFactor(b, l, args[2], tile));
              return arith::AddFOp::create(b, l, decayed, args[1]);
            }));
      }
    SmallVector<Value> yielded(next);
    yielded.append(next.begin(), next.end());
    YieldOp::create(builder, loc, yielded);
    builder.setInsertionPointAfter(scan);
    YieldOp::create(builder, loc, scan.getStackedResults());
  }

  // The inter-chunk products start the carried sums.
  builder.setInsertionPoint(iterate);
  // With a decay, each row scales them by the query-side part of the decay,
  // QDECAY[p0] = E(s r (p + position - B)), B = F(t) Tk (none when F(t) = 0).
  Value queryDecay;
  if (site.decay) {
    EinsumOp decay = site.decay->einsum;
    EinsumParts weight(context);
    weight.name = getUniqueEinsumName(function, "QDECAY");
    weight.output = {site.queryCut.getInner().str()};
    weight.elementType = f32;
    setExtents(weight);
    weight.addOperandOf(decay, site.decay->rateOperand);
    AffineExpr past =
        weight.dim(queryOuter) * tq + buildOffset(weight, site.offset) + shift;
    weight.addConstraint(past - tk, /*isEquality=*/false);
    for (auto &[symbol, k] : site.decay->position.coefficients)
      (void)weight.extent(symbol);
    for (auto &[symbol, k] : site.offset.coefficients)
      (void)weight.extent(symbol);
    queryDecay = weight.build(
        builder, loc, [&](OpBuilder &b, Location l, ValueRange args) {
          Type index = b.getIndexType();
          auto symbolic = [&](const SymbolicOffset &offset) -> Value {
            Value sum = indexConstant(b, l, offset.constant);
            for (auto &[symbol, k] : offset.coefficients)
              sum = arith::AddIOp::create(
                  b, l, sum,
                  arith::MulIOp::create(b, l,
                                        ExtentOp::create(b, l, index, symbol),
                                        indexConstant(b, l, k)));
            return sum;
          };
          Value tileStart = arith::MulIOp::create(
              b, l, IndexOp::create(b, l, index, queryOuter),
              indexConstant(b, l, tq));
          Value row = arith::AddIOp::create(
              b, l, tileStart,
              IndexOp::create(b, l, index, site.queryCut.getInner()));
          Value position = arith::AddIOp::create(
              b, l, row, symbolic(site.decay->position));
          Value pastKeys = arith::AddIOp::create(
              b, l, tileStart,
              arith::AddIOp::create(b, l, symbolic(site.offset),
                                    indexConstant(b, l, shift)));
          Value boundary = arith::MulIOp::create(
              b, l,
              arith::FloorDivSIOp::create(b, l, pastKeys,
                                          indexConstant(b, l, tk)),
              indexConstant(b, l, tk));
          return decayFactor(
              b, l, args[0],
              arith::SubIOp::create(b, l, position, boundary));
        });
  }
  for (auto [i, stream] : llvm::enumerate(site.streams)) {
    EinsumParts inter(context);
    inter.name = site.decay ? getUniqueEinsumName(
                                  function, ("I" + *stream.init.getName()).str())
                            : stream.init.getName()->str();
    inter.output = outputRanks(stream.init);
    inter.reductions.push_back({contracted.str(), ReduceKind::add});
    inter.elementType =
        cast<RankedTensorType>(stream.init.getType()).getElementType();
    setExtents(inter);
    // sum_j Q_j H_j[b, h, F(t) - 1, e, f...], F(t) past key tiles.
    AffineExpr firstRow = inter.dim(queryOuter) * tq;
    AffineExpr past = firstRow + buildOffset(inter, site.offset) + shift;
    for (auto [j, product] : llvm::enumerate(site.products)) {
      inter.addOperandOf(site.score, product.first);
      SmallVector<AffineExpr> indices;
      for (const std::string &rank : stateRanks)
        indices.push_back(inter.dim(rank));
      indices.push_back(past.floorDiv(tk) - 1);
      for (const std::string &rank : stateTiles[i])
        indices.push_back(inter.dim(rank));
      inter.addOperand(stateGrid.getResult(stateIndex(i, j)), indices);
    }
    inter.addConstraint(past - tk, /*isEquality=*/false);
    // The score's own body contracts the Q_j with the states (its scale
    // included): operand 2j is Q_j, 2j + 1 the state in K_j's place.
    Value start =
        inter.build(builder, loc, [&](OpBuilder &b, Location, ValueRange args) {
          SmallVector<Value> operands(site.score.getInputs().size());
          for (auto [j, product] : llvm::enumerate(site.products)) {
            operands[product.first] = args[2 * j];
            operands[product.second] = args[2 * j + 1];
          }
          return inlineBody(b, site.score, operands);
        });
    if (queryDecay) {
      EinsumParts scaled(context);
      scaled.name = stream.init.getName()->str();
      scaled.output = outputRanks(stream.init);
      scaled.elementType = inter.elementType;
      setExtents(scaled);
      SmallVector<AffineExpr> own;
      for (const std::string &rank : scaled.output)
        own.push_back(scaled.dim(rank));
      scaled.addOperand(start, own);
      scaled.addOperand(queryDecay, {scaled.dim(site.queryCut.getInner())});
      start = scaled.build(builder, loc, multiply);
    }
    iterate->setOperand(stream.carried, start);
    stream.init.erase();
  }

  // The key loop keeps the tiles that are not wholly past: m1 Tk + Tk - 1
  // >= t Tq + offset + shift. The predicate goes on the Einsum that holds
  // the causal mask: the contributions, or the decayed score they read.
  SmallVector<EinsumOp> masked;
  if (site.decay)
    masked.push_back(site.decay->einsum);
  else
    for (Stream &stream : site.streams)
      masked.push_back(stream.contribution);
  for (EinsumOp old : masked) {
    builder.setInsertionPoint(old);
    EinsumParts intra(context);
    intra.name = old.getName() ? old.getName()->str() : "";
    intra.output = outputRanks(old);
    for (Attribute attr : old.getReductions()) {
      auto reduction = cast<ReductionAttr>(attr);
      intra.reductions.push_back(
          {reduction.getRank().getValue().str(), reduction.getKind()});
    }
    if (old.getFill())
      intra.fill = old.getFillValue();
    intra.elementType =
        cast<RankedTensorType>(old.getType()).getElementType();
    setExtents(intra);
    for (unsigned j = 0; j < old.getInputs().size(); ++j)
      intra.addOperandOf(old, j);
    intra.addPredicateOf(old);
    intra.addConstraint(intra.dim(keyOuter) * tk + (tk - 1 - shift) -
                            intra.dim(queryOuter) * tq -
                            buildOffset(intra, site.offset),
                        /*isEquality=*/false);
    EinsumOp now = intra.build(
        builder, loc, [&](OpBuilder &b, Location, ValueRange args) {
          return inlineBody(b, old, args);
        });
    old.getResult().replaceAllUsesWith(now.getResult());
    old.erase();
  }
  TileClassificationRequest request;
  request.queryRank = site.queryCut.getRank().str();
  request.queryTile = tq;
  std::string why;
  FailureOr<TileScheduleAttr> tiles =
      classifyKeyTiles(iterate, site.keyCut, request, why);
  if (failed(tiles))
    return iterate.emitError("cascade-chunk: the intra-chunk key loop "
                             "cannot be classified: ")
           << why;
  iterate.setTilesAttr(*tiles);
  return success();
}

struct CascadeChunkPass
    : public mlir::cascade::impl::CascadeChunkBase<CascadeChunkPass> {
  using CascadeChunkBase::CascadeChunkBase;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (!isCascadeFunction(function))
      return;
    FailureOr<RankEnvironment> env = RankEnvironment::build(function);
    if (failed(env))
      return;
    // A function with a state phase already has one; the plan covers one.
    if (llvm::count_if(function.getBody().front().getOps<GridOp>(),
                       [](GridOp) { return true; }) != 1)
      return;
    SmallVector<IterateOp> iterates;
    function.walk([&](IterateOp iterate) { iterates.push_back(iterate); });
    Chunker chunker(function, *env);
    for (IterateOp iterate : iterates) {
      std::string why;
      FailureOr<Site> site = chunker.match(iterate, why);
      if (failed(site)) {
        if (emitRemarks)
          iterate.emitRemark("cascade-chunk: left quadratic: ") << why;
        continue;
      }
      if (failed(chunker.rewrite(*site)))
        return signalPassFailure();
      if (emitRemarks)
        iterate.emitRemark("cascade-chunk: past key tiles read from a state "
                           "stacked per key tile");
    }
  }
};

} // namespace
