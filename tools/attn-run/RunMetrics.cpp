//===- RunMetrics.cpp - FLOP counts and reference sampling ---------------===//
//
// What every compiled target of attn-run shares around a kernel: the FLOPs
// a benchmark divides by, and the query rows the fp64 reference evaluates
// on large problems.
//
//===----------------------------------------------------------------------===//

#include "RunMetrics.h"

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/IR/IntegerSet.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringSet.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::cascade;

/// FLOPs of the contractions the kernel computes: `function` after
/// cascade-minimize-passes (the form the CPU pipeline compiles, e.g. linear
/// attention reassociated to phi(Q) (phi(K)^T V)), 2 per point of the
/// domain of every Einsum that folds a product with `add`; those over both
/// the query and the key rank scaled by `visible`. For softmax this is the
/// usual 4 B H P M D; for linear attention it is linear in P and M.
double mlir::cascade::countContractionFlops(func::FuncOp function, StringRef query,
                             StringRef key,
                             const llvm::StringMap<int64_t> &extents,
                             double visible) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(function.getLoc());
  module->push_back(function.clone());
  PassManager pm(function.getContext());
  CascadeMinimizePassesOptions minimize;
  minimize.emitRemarks = false;
  pm.addNestedPass<func::FuncOp>(createCascadeMinimizePasses(minimize));
  if (failed(pm.run(*module)))
    return 0;
  llvm::StringMap<int64_t> sizes(extents);
  llvm::StringMap<std::string> parent;
  module->walk([&](PartitionOp cut) {
    int64_t whole = sizes.lookup(cut.getRank());
    int64_t tile = cut.getTile();
    sizes[cut.getOuter()] = (whole + tile - 1) / tile;
    sizes[cut.getInner()] = tile;
    parent[cut.getOuter()] = parent[cut.getInner()] = cut.getRank().str();
  });
  double flops = 0;
  module->walk([&](EinsumOp einsum) {
    bool foldsProduct = false;
    for (Attribute attr : einsum.getReductions())
      foldsProduct |= cast<ReductionAttr>(attr).getKind() == ReduceKind::add;
    bool hasProduct = false;
    einsum.getBody().walk([&](arith::MulFOp mul) {
      hasProduct |= isa<BlockArgument>(mul.getLhs()) ||
                    isa<BlockArgument>(mul.getRhs());
    });
    if (!foldsProduct || !hasProduct)
      return;
    llvm::StringSet<> ranks;
    for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
      ranks.insert(rank);
    for (Operation *op = einsum->getParentOp(); op; op = op->getParentOp())
      if (auto iterate = dyn_cast<IterateOp>(op))
        ranks.insert(iterate.getRank());
    double points = 1;
    bool hasQuery = false, hasKey = false;
    for (auto &entry : ranks) {
      StringRef rank = entry.getKey();
      points *= double(sizes.lookup(rank));
      StringRef whole = parent.count(rank) ? StringRef(parent[rank]) : rank;
      hasQuery |= whole == query;
      hasKey |= whole == key;
    }
    // A partitioned rank counted as both its pieces: drop the parent.
    for (auto &entry : parent)
      if (ranks.contains(entry.getKey()) && ranks.contains(entry.getValue()))
        points /= double(std::max<int64_t>(1, sizes.lookup(entry.getValue())));
    flops += 2 * points * (hasQuery && hasKey ? visible : 1.0);
  });
  return flops;
}

/// The fraction of (query, key) pairs the spec's mask keeps, measured on
/// a grid of up to 256 x 256 evenly spaced pairs (other ranks at 0), from
/// the first masked Einsum that relates `query` and `key`; 1 when none
/// does. Data comparisons are evaluated on `inputs` (the ids the kernel
/// gets). It scales the FLOP count of a masked spec.
double mlir::cascade::getVisibleFraction(func::FuncOp function, StringRef query,
                          StringRef key, const llvm::StringMap<int64_t> &extents,
                          ArrayRef<Tensor> inputs) {
  EinsumOp masked;
  function.walk([&](EinsumOp einsum) {
    if (!masked && einsum.hasMask() &&
        einsum.getRankPosition(query) >= 0 && einsum.getRankPosition(key) >= 0)
      masked = einsum;
  });
  int64_t queries = extents.lookup(query), keys = extents.lookup(key);
  if (!masked || queries <= 0 || keys <= 0)
    return 1.0;
  SmallVector<IntegerSet> disjuncts = masked.getDisjuncts();
  MLIRContext *context = masked.getContext();
  unsigned numDims = masked.getRanks().size();
  SmallVector<AffineExpr> symbols;
  for (StringRef rank : masked.getSymbols().getAsValueRange<StringAttr>())
    symbols.push_back(getAffineConstantExpr(extents.lookup(rank), context));
  // The id read `j` at `point`, or nullopt outside its tensor.
  auto readId = [&](unsigned j, ArrayRef<int64_t> point)
      -> std::optional<double> {
    auto argument = dyn_cast<BlockArgument>(masked.getDataInputs()[j]);
    if (!argument || argument.getArgNumber() >= inputs.size())
      return std::nullopt;
    const Tensor &ids = inputs[argument.getArgNumber()];
    SmallVector<int64_t> strides = ids.getStrides();
    int64_t offset = 0;
    for (auto [d, expr] : llvm::enumerate(masked.getDataMap(j).getResults())) {
      auto value = dyn_cast<AffineConstantExpr>(expr.replaceDimsAndSymbols(
          llvm::map_to_vector(point, [&](int64_t v) -> AffineExpr {
            return getAffineConstantExpr(v, context);
          }),
          symbols));
      if (!value || value.getValue() < 0 ||
          d >= ids.shape.size() || value.getValue() >= ids.shape[d])
        return std::nullopt;
      offset += value.getValue() * strides[d];
    }
    return ids.data[offset];
  };
  int64_t qSteps = std::min<int64_t>(queries, 256);
  int64_t kSteps = std::min<int64_t>(keys, 256);
  int64_t kept = 0;
  for (int64_t i = 0; i < qSteps; ++i)
    for (int64_t j = 0; j < kSteps; ++j) {
      SmallVector<int64_t> point(numDims, 0);
      point[masked.getRankPosition(query)] = i * queries / qSteps;
      point[masked.getRankPosition(key)] = j * keys / kSteps;
      SmallVector<AffineExpr> dims = llvm::map_to_vector(
          point, [&](int64_t v) { return getAffineConstantExpr(v, context); });
      bool holds = disjuncts.empty() ||
                   llvm::any_of(disjuncts, [&](IntegerSet set) {
        for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
          auto value = dyn_cast<AffineConstantExpr>(
              set.getConstraint(c).replaceDimsAndSymbols(dims, symbols));
          if (value && (set.isEq(c) ? value.getValue() != 0
                                    : value.getValue() < 0))
            return false;
        }
        return true;
      });
      for (auto [c, compare] : llvm::enumerate(masked.getDataCompares())) {
        std::optional<double> lhs = readId(2 * c, point);
        std::optional<double> rhs = readId(2 * c + 1, point);
        if (!holds || !lhs || !rhs)
          break;
        holds = compare.getKind() == CompareKind::eq   ? *lhs == *rhs
                : compare.getKind() == CompareKind::le ? *lhs <= *rhs
                                                       : *lhs < *rhs;
      }
      kept += holds;
    }
  return static_cast<double>(kept) / (qSteps * kSteps);
}

/// Query rows the reference evaluates.
SmallVector<int64_t> mlir::cascade::sampleRows(int64_t extent, int64_t wanted) {
  SmallVector<int64_t> rows;
  if (wanted <= 0 || wanted >= extent) {
    for (int64_t r = 0; r < extent; ++r)
      rows.push_back(r);
    return rows;
  }
  for (int64_t i = 0; i < wanted; ++i)
    rows.push_back(wanted == 1 ? 0 : i * (extent - 1) / (wanted - 1));
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

BenchmarkFlops mlir::cascade::countBenchmarkFlops(
    func::FuncOp function, ArrayRef<std::string> resultRanks,
    ArrayRef<int64_t> outputShape, const llvm::StringMap<int64_t> &extents,
    const llvm::StringMap<int64_t> &headDims, ArrayRef<Tensor> inputs) {
  // 2 P M E for Q K^T plus 2 P M F for A V per (b, h) -- the usual
  // 4 B H P M D -- times the visible fraction when the spec masks.
  StringRef resultHead = resultRanks.empty() ? "" : StringRef(resultRanks.back());
  double flops = 2.0;
  for (size_t d = 0; d + 1 < resultRanks.size(); ++d)
    flops *= outputShape[d];
  auto isKeyLike = [&](StringRef rank) {
    return !llvm::is_contained(resultRanks, rank.str()) &&
           !headDims.count(rank) && !rank.starts_with("hkv");
  };
  int64_t m = 0;
  for (auto &entry : extents)
    if (isKeyLike(entry.getKey()))
      m = std::max(m, entry.getValue());
  int64_t e = 0;
  for (auto &entry : headDims)
    if (entry.getKey() != resultHead)
      e = entry.getValue();
  flops *= m * (e + (outputShape.empty() ? 1 : outputShape.back()));
  std::string keyRank;
  for (auto &entry : extents)
    if (entry.getValue() == m && isKeyLike(entry.getKey()))
      keyRank = entry.getKey().str();
  BenchmarkFlops result;
  if (resultRanks.size() >= 2)
    result.visible = getVisibleFraction(
        function, resultRanks[resultRanks.size() - 2], keyRank, extents, inputs);
  flops *= result.visible;
  // The contractions the kernel actually computes (the same count for the
  // quadratic forms; linear in P and M for reassociated linear attention,
  // where 4 B H P M D would claim more than the peak).
  if (resultRanks.size() >= 2)
    if (double computed = countContractionFlops(
            function, resultRanks[resultRanks.size() - 2], keyRank, extents,
            result.visible);
        computed > 0)
      flops = computed;
  result.flops = flops;
  return result;
}
