//===- ShapeContract.cpp - The sizes a spec can be run at -----------------===//
//
// Interval arithmetic over each index expression, with every rank's range
// from its extent and the single-rank constraints of the predicate, in
// checked 64-bit arithmetic.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/ShapeContract.h"
#include "cascade/Analysis/IndexBounds.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/IR/AffineExprVisitor.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct Interval {
  int64_t lo, hi;
};

/// Why an evaluation failed: a divisor that is not positive, or overflow.
struct Problem {
  std::string text;
};

class IntervalEvaluator {
public:
  IntervalEvaluator(EinsumOp einsum, ArrayRef<Interval> dims,
                    ArrayRef<int64_t> symbols)
      : einsum(einsum), dims(dims), symbols(symbols) {}

  std::optional<Interval> evaluate(AffineExpr expr, Problem &problem) {
    switch (expr.getKind()) {
    case AffineExprKind::Constant: {
      int64_t v = cast<AffineConstantExpr>(expr).getValue();
      return Interval{v, v};
    }
    case AffineExprKind::DimId:
      return dims[cast<AffineDimExpr>(expr).getPosition()];
    case AffineExprKind::SymbolId: {
      int64_t v = symbols[cast<AffineSymbolExpr>(expr).getPosition()];
      return Interval{v, v};
    }
    default:
      break;
    }
    auto binary = cast<AffineBinaryOpExpr>(expr);
    std::optional<Interval> a = evaluate(binary.getLHS(), problem);
    if (!a)
      return std::nullopt;
    std::optional<Interval> b = evaluate(binary.getRHS(), problem);
    if (!b)
      return std::nullopt;
    auto overflow = [&]() -> std::optional<Interval> {
      problem.text = "the index arithmetic `" + printIndexExpr(einsum, expr) +
                     "` overflows 64 bits";
      return std::nullopt;
    };
    switch (expr.getKind()) {
    case AffineExprKind::Add: {
      Interval r;
      if (__builtin_add_overflow(a->lo, b->lo, &r.lo) ||
          __builtin_add_overflow(a->hi, b->hi, &r.hi))
        return overflow();
      return r;
    }
    case AffineExprKind::Mul: {
      int64_t products[4];
      int64_t lhs[2] = {a->lo, a->hi}, rhs[2] = {b->lo, b->hi};
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          if (__builtin_mul_overflow(lhs[i], rhs[j], &products[2 * i + j]))
            return overflow();
      return Interval{*std::min_element(products, products + 4),
                      *std::max_element(products, products + 4)};
    }
    default:
      break;
    }
    // Divisors are extents and constants only (the verifier refuses a
    // division by a rank), so `b` is one value.
    int64_t d = b->lo;
    if (d <= 0) {
      problem.text = "the divisor `" + printIndexExpr(einsum, binary.getRHS()) +
                     "` in `" + printIndexExpr(einsum, expr) + "` is " +
                     std::to_string(d) + ", not positive";
      return std::nullopt;
    }
    switch (expr.getKind()) {
    case AffineExprKind::FloorDiv:
      return Interval{llvm::divideFloorSigned(a->lo, d),
                      llvm::divideFloorSigned(a->hi, d)};
    case AffineExprKind::CeilDiv:
      return Interval{llvm::divideCeilSigned(a->lo, d),
                      llvm::divideCeilSigned(a->hi, d)};
    case AffineExprKind::Mod:
      if (llvm::divideFloorSigned(a->lo, d) == llvm::divideFloorSigned(a->hi, d))
        return Interval{llvm::mod(a->lo, d), llvm::mod(a->hi, d)};
      return Interval{0, d - 1};
    default:
      llvm_unreachable("not a division");
    }
  }

private:
  EinsumOp einsum;
  ArrayRef<Interval> dims;
  ArrayRef<int64_t> symbols;
};

/// The size of dimension `dim` of `tensor` for these sizes.
std::optional<int64_t>
getDimSize(Value tensor, unsigned dim,
           ArrayRef<SmallVector<int64_t>> argumentShapes,
           const llvm::StringMap<int64_t> &extents) {
  std::optional<DimSizeSource> source = getDimSizeSource(tensor, dim);
  if (!source)
    return std::nullopt;
  if (source->argument)
    return argumentShapes[*source->argument][dim];
  auto it = extents.find(source->rank);
  if (it == extents.end())
    return std::nullopt;
  return it->second;
}

std::string describeOperand(EinsumOp einsum, unsigned i) {
  Value value = einsum.getInputs()[i];
  std::string text = "operand #" + std::to_string(i);
  if (auto argument = dyn_cast<BlockArgument>(value);
      argument && isa<func::FuncOp>(argument.getOwner()->getParentOp()))
    text += " (argument #" + std::to_string(argument.getArgNumber()) + ")";
  else if (auto producer = value.getDefiningOp<EinsumOp>();
           producer && producer.getName())
    text += " (" + producer.getName()->str() + ")";
  return text + " of " +
         (einsum.getName() ? einsum.getName()->str() : std::string("an einsum"));
}

/// The extents an expression uses, "H = 3, HKV = 2", for messages.
std::string describeExtents(EinsumOp einsum, AffineExpr expr,
                            ArrayRef<int64_t> symbols, ArrayRef<Interval> dims) {
  std::string text;
  expr.walk([&](AffineExpr e) {
    if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
      std::string item =
          getExtentName(cast<StringAttr>(einsum.getSymbols()[s.getPosition()])
                            .getValue()) +
          " = " + std::to_string(symbols[s.getPosition()]);
      if (text.find(item) == std::string::npos)
        text += (text.empty() ? "" : ", ") + item;
    } else if (auto d = dyn_cast<AffineDimExpr>(e)) {
      std::string rank =
          cast<StringAttr>(einsum.getRanks()[d.getPosition()]).str();
      std::string item = rank + " in [" + std::to_string(dims[d.getPosition()].lo) +
                         ", " + std::to_string(dims[d.getPosition()].hi) + "]";
      if (text.find(item) == std::string::npos)
        text += (text.empty() ? "" : ", ") + item;
    }
  });
  return text;
}

/// sum(k_i * symbols_i) + constant, or nullopt on overflow.
std::optional<int64_t> evaluateSymbols(const LinearForm &form,
                                       ArrayRef<int64_t> symbols) {
  int64_t total = form.constant;
  for (auto [k, value] : llvm::zip(form.symbols, symbols)) {
    int64_t term;
    if (__builtin_mul_overflow(k, value, &term) ||
        __builtin_add_overflow(total, term, &total))
      return std::nullopt;
  }
  return total;
}

/// Narrows `dims` by the predicate's constraints on one rank (IndexBounds).
/// Returns false when the domain is empty for these sizes.
bool narrowByPredicate(EinsumOp einsum, ArrayRef<int64_t> symbols,
                       MutableArrayRef<Interval> dims) {
  for (const NarrowingConstraint &c : getNarrowingConstraints(einsum)) {
    std::optional<int64_t> rest = evaluateSymbols(c.rest, symbols);
    if (!rest)
      continue;
    if (!c.dim) {
      if (c.isEquality ? *rest != 0 : *rest < 0)
        return false;
      continue;
    }
    Interval &range = dims[*c.dim];
    int64_t k = c.coefficient;
    // k * r + rest >= 0 (or == 0).
    if (k > 0 || c.isEquality)
      range.lo = std::max(range.lo, k > 0 ? llvm::divideCeilSigned(-*rest, k)
                                          : llvm::divideCeilSigned(*rest, -k));
    if (k < 0 || c.isEquality)
      range.hi = std::min(range.hi, k < 0 ? llvm::divideFloorSigned(*rest, -k)
                                          : llvm::divideFloorSigned(-*rest, k));
    if (range.lo > range.hi)
      return false;
  }
  return true;
}

/// The range of an index with `m1 * T + m0` pairs read as the parent rank
/// (IndexBounds); nullopt when it has none, or on overflow (the tree
/// evaluation reports that).
std::optional<Interval>
evaluatePartitioned(EinsumOp einsum, AffineExpr expr, ArrayRef<Interval> dims,
                    ArrayRef<int64_t> symbols, const RankEnvironment &env,
                    const llvm::StringMap<int64_t> &extents) {
  std::optional<PartitionedIndex> index =
      getPartitionedIndex(einsum, expr, env);
  if (!index)
    return std::nullopt;
  auto scale = [](int64_t k, Interval i) -> std::optional<Interval> {
    int64_t a, b;
    if (__builtin_mul_overflow(k, i.lo, &a) ||
        __builtin_mul_overflow(k, i.hi, &b))
      return std::nullopt;
    return k >= 0 ? Interval{a, b} : Interval{b, a};
  };
  std::optional<int64_t> constant =
      evaluateSymbols(index->remaining, symbols);
  if (!constant)
    return std::nullopt;
  SmallVector<Interval> terms = {{*constant, *constant}};
  for (const PartitionedIndex::Pair &pair : index->pairs) {
    auto parent = extents.find(pair.parent);
    std::optional<Interval> tiles = scale(pair.tile, dims[pair.outer]);
    if (parent == extents.end() || !tiles)
      return std::nullopt;
    Interval whole{tiles->lo + dims[pair.inner].lo,
                   std::min(parent->second - 1, tiles->hi + dims[pair.inner].hi)};
    std::optional<Interval> term = scale(pair.coefficient, whole);
    if (!term)
      return std::nullopt;
    terms.push_back(*term);
  }
  for (auto [k, range] : llvm::zip(index->remaining.dims, dims)) {
    std::optional<Interval> term = scale(k, range);
    if (!term)
      return std::nullopt;
    terms.push_back(*term);
  }
  Interval total{0, 0};
  for (Interval t : terms)
    if (__builtin_add_overflow(total.lo, t.lo, &total.lo) ||
        __builtin_add_overflow(total.hi, t.hi, &total.hi))
      return std::nullopt;
  return total;
}

} // namespace

LogicalResult mlir::cascade::checkShapeContract(
    func::FuncOp function, ArrayRef<SmallVector<int64_t>> argumentShapes,
    const llvm::StringMap<int64_t> &extents, std::string &error) {
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env)) {
    error = "the ranks of @" + function.getSymName().str() + " are inconsistent";
    return failure();
  }
  // Extents this large make some product of sizes overflow before any
  // index does; refuse them here, with the sizes named.
  for (auto &entry : extents)
    if (entry.getValue() < 0) {
      error = "the extent of rank '" + entry.getKey().str() + "' is " +
              std::to_string(entry.getValue()) + ", negative";
      return failure();
    }
  WalkResult walk = function.walk([&](EinsumOp einsum) -> WalkResult {
    SmallVector<int64_t> symbols;
    for (StringRef rank : einsum.getSymbols().getAsValueRange<StringAttr>()) {
      auto it = extents.find(rank);
      if (it == extents.end()) {
        error = "no extent for rank '" + rank.str() + "'";
        return WalkResult::interrupt();
      }
      symbols.push_back(it->second);
    }
    SmallVector<Interval> dims;
    for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
      auto it = extents.find(rank);
      if (it == extents.end()) {
        error = "no extent for rank '" + rank.str() + "'";
        return WalkResult::interrupt();
      }
      if (it->second == 0)
        return WalkResult::advance(); // No point: nothing is read.
      dims.push_back({0, it->second - 1});
    }
    if (!narrowByPredicate(einsum, symbols, dims))
      return WalkResult::advance();
    IntervalEvaluator evaluator(einsum, dims, symbols);
    for (auto [i, attr] : llvm::enumerate(einsum.getIndexingMaps())) {
      AffineMap map = cast<AffineMapAttr>(attr).getValue();
      for (auto [d, expr] : llvm::enumerate(map.getResults())) {
        Problem problem;
        std::optional<Interval> range =
            evaluatePartitioned(einsum, expr, dims, symbols, *env, extents);
        if (!range)
          range = evaluator.evaluate(expr, problem);
        std::string where = describeOperand(einsum, i) + ", dimension " +
                            std::to_string(d) + ", index `" +
                            printIndexExpr(einsum, expr) + "`";
        if (!range) {
          error = where + ": " + problem.text + " (" +
                  describeExtents(einsum, expr, symbols, dims) + ")";
          return WalkResult::interrupt();
        }
        std::optional<int64_t> size = getDimSize(
            einsum.getInputs()[i], d, argumentShapes, extents);
        if (!size)
          continue;
        if (range->lo < 0 || range->hi >= *size) {
          error = where + " ranges over [" + std::to_string(range->lo) + ", " +
                  std::to_string(range->hi) +
                  "] but the dimension has size " + std::to_string(*size) +
                  " (" + describeExtents(einsum, expr, symbols, dims) + ")";
          if (einsum.getPredicate())
            error += "; a mask relating two ranks is not used to narrow "
                     "the range";
          return WalkResult::interrupt();
        }
      }
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}
