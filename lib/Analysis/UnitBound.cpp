//===- UnitBound.cpp - Tensors whose values lie within [-1, 1] ------------===//
//
// A conservative proof over the Einsums' bodies (UnitBound.h). Masks are
// compared by the ranks they name, not by dimension positions: two Einsums
// of one cascade list their ranks in different orders.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/UnitBound.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineExpr.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <set>

using namespace mlir;
using namespace mlir::cascade;

/// `expr` over `einsum`'s ranks and symbols, printed with every dimension
/// and symbol replaced by its rank's name (as a symbol of a shared,
/// name-ordered numbering), so that equal constraints of two Einsums print
/// the same.
static std::string byRankNames(EinsumOp einsum, AffineExpr expr,
                               ArrayRef<std::string> names) {
  MLIRContext *context = expr.getContext();
  auto position = [&](StringRef name) {
    return static_cast<unsigned>(llvm::find(names, name) - names.begin());
  };
  SmallVector<AffineExpr> dims, symbols;
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
    dims.push_back(getAffineSymbolExpr(position(rank), context));
  for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
    symbols.push_back(getAffineSymbolExpr(position("#" + symbol.str()), context));
  AffineExpr renamed = simplifyAffineExpr(
      expr.replaceDimsAndSymbols(dims, symbols), 0, names.size());
  std::string text;
  llvm::raw_string_ostream os(text);
  os << renamed;
  return text;
}

/// The names both Einsums' expressions are renamed to: ranks, and extents
/// as "#" + rank.
static SmallVector<std::string> sharedNames(EinsumOp a, EinsumOp b) {
  std::set<std::string> names;
  for (EinsumOp einsum : {a, b}) {
    for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
      names.insert(rank.str());
    for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
      names.insert("#" + symbol.str());
  }
  return SmallVector<std::string>(names.begin(), names.end());
}

/// `einsum`'s mask (affine predicate and data comparisons) as a set of
/// strings over rank names.
static std::set<std::string> maskOf(EinsumOp einsum,
                                    ArrayRef<std::string> names) {
  std::set<std::string> mask;
  for (IntegerSet set : einsum.getDisjuncts()) {
    std::set<std::string> conjunction;
    for (unsigned i = 0; i < set.getNumConstraints(); ++i)
      conjunction.insert(byRankNames(einsum, set.getConstraint(i), names) +
                         (set.isEq(i) ? " == 0" : " >= 0"));
    mask.insert("or(" + llvm::join(conjunction, ", ") + ")");
  }
  for (auto [i, compare] : llvm::enumerate(einsum.getDataCompares())) {
    std::string read;
    for (unsigned side : {2 * i, 2 * i + 1}) {
      read += "data" +
              std::to_string(reinterpret_cast<uintptr_t>(
                  einsum.getDataInputs()[side].getAsOpaquePointer())) +
              "[";
      for (AffineExpr result : einsum.getDataMap(side).getResults())
        read += byRankNames(einsum, result, names) + ",";
      read += "]";
    }
    mask.insert("data" + std::to_string(static_cast<int>(compare.getKind())) +
                read);
  }
  return mask;
}

/// Whether operand `index` of `einsum` is read at its producer's point.
static bool readsProducerPoint(EinsumOp einsum, unsigned index) {
  auto producer = einsum.getInputs()[index].getDefiningOp<EinsumOp>();
  if (!producer)
    return false;
  SmallVector<StringRef> ranks(
      producer.getOutput().getAsValueRange<StringAttr>());
  return einsum.readsAtOwnPoint(index, ranks);
}

/// Whether `rows` (read by `reader` at its point) is, at every point the
/// reader keeps, at least the value of `tile` there: a max reduction of
/// `tile` under the reader's mask, or a max of values one of which is.
static bool isRowMaxOf(Value rows, Value tile, EinsumOp reader) {
  auto producer = rows.getDefiningOp<EinsumOp>();
  if (!producer)
    return false;
  auto reductions = producer.getReductions().getValue();
  if (reductions.size() == 1) {
    if (cast<ReductionAttr>(reductions.front()).getKind() != ReduceKind::max ||
        producer.getInputs().size() != 1 ||
        producer.getInputs().front() != tile || !readsProducerPoint(producer, 0))
      return false;
    // Unmasked, it is the maximum over every point; masked, over the
    // reader's points only if the reader keeps no other.
    if (!producer.hasMask())
      return true;
    SmallVector<std::string> names = sharedNames(producer, reader);
    return maskOf(producer, names) == maskOf(reader, names);
  }
  if (!reductions.empty())
    return false;
  // max(a, b): at least each of them.
  auto yield = cast<YieldOp>(producer.getBodyBlock().getTerminator());
  auto max = yield.getOperand(0).getDefiningOp<arith::MaximumFOp>();
  if (!max || producer.hasMask())
    return false;
  for (Value side : max->getOperands()) {
    auto argument = dyn_cast<BlockArgument>(side);
    if (!argument || argument.getOwner() != &producer.getBodyBlock())
      continue;
    unsigned index = argument.getArgNumber();
    if (readsProducerPoint(producer, index) &&
        isRowMaxOf(producer.getInputs()[index], tile, reader))
      return true;
  }
  return false;
}

/// Whether `value` (in `einsum`'s body) lies in [-1, 1] or is NaN.
static bool isWithinUnit(EinsumOp einsum, Value value) {
  if (auto constant = value.getDefiningOp<arith::ConstantOp>())
    if (auto number = dyn_cast<FloatAttr>(constant.getValue()))
      return std::fabs(number.getValueAsDouble()) <= 1;
  Operation *op = value.getDefiningOp();
  if (!op)
    return false;
  auto both = [&](Value a, Value b) {
    return isWithinUnit(einsum, a) && isWithinUnit(einsum, b);
  };
  if (auto negate = dyn_cast<arith::NegFOp>(op))
    return isWithinUnit(einsum, negate.getOperand());
  if (isa<arith::MulFOp, arith::MaximumFOp, arith::MinimumFOp,
          arith::MaxNumFOp, arith::MinNumFOp>(op))
    return both(op->getOperand(0), op->getOperand(1));
  if (auto select = dyn_cast<arith::SelectOp>(op))
    return both(select.getTrueValue(), select.getFalseValue());
  // 1 / (1 + exp(z)): in [0, 1] for every z (0 at +inf).
  if (auto divide = dyn_cast<arith::DivFOp>(op)) {
    auto one = [](Value v) {
      auto constant = v.getDefiningOp<arith::ConstantOp>();
      auto number =
          constant ? dyn_cast<FloatAttr>(constant.getValue()) : FloatAttr();
      return number && number.getValueAsDouble() == 1.0;
    };
    auto sum = divide.getRhs().getDefiningOp<arith::AddFOp>();
    if (!one(divide.getLhs()) || !sum)
      return false;
    for (unsigned i = 0; i < 2; ++i)
      if (one(sum->getOperand(i)) &&
          sum->getOperand(1 - i).getDefiningOp<math::ExpOp>())
        return true;
    return false;
  }
  // exp(x - y) with y a row maximum of x's tile at the Einsum's points.
  if (auto exp = dyn_cast<math::ExpOp>(op)) {
    auto difference = exp.getOperand().getDefiningOp<arith::SubFOp>();
    if (!difference)
      return false;
    auto x = dyn_cast<BlockArgument>(difference.getLhs());
    auto y = dyn_cast<BlockArgument>(difference.getRhs());
    Block *body = &einsum.getBodyBlock();
    if (!x || !y || x.getOwner() != body || y.getOwner() != body ||
        !readsProducerPoint(einsum, x.getArgNumber()) ||
        !readsProducerPoint(einsum, y.getArgNumber()))
      return false;
    return isRowMaxOf(einsum.getInputs()[y.getArgNumber()],
                      einsum.getInputs()[x.getArgNumber()], einsum);
  }
  return false;
}

bool mlir::cascade::isWithinUnit(Value tensor) {
  auto einsum = tensor.getDefiningOp<EinsumOp>();
  if (!einsum || !einsum.getReductions().empty())
    return false;
  // Points the mask drops hold the fill.
  if (einsum.hasMask() && std::fabs(einsum.getFillValue()) > 1)
    return false;
  auto yield = cast<YieldOp>(einsum.getBodyBlock().getTerminator());
  return ::isWithinUnit(einsum, yield.getOperand(0));
}
