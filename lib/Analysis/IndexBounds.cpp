//===- IndexBounds.cpp - The structure of an index range question ---------===//

#include "cascade/Analysis/IndexBounds.h"

#include "mlir/Analysis/FlatLinearValueConstraints.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace mlir::cascade;

std::optional<LinearForm> mlir::cascade::getLinearForm(EinsumOp einsum,
                                                       AffineExpr expr) {
  unsigned numDims = einsum.getRanks().size();
  unsigned numSymbols = einsum.getSymbols().size();
  SmallVector<int64_t> flat;
  // A division introduces local variables: not a linear form.
  if (!expr.isPureAffine() ||
      failed(getFlattenedAffineExpr(expr, numDims, numSymbols, &flat)) ||
      flat.size() != numDims + numSymbols + 1)
    return std::nullopt;
  LinearForm form;
  form.dims.assign(flat.begin(), flat.begin() + numDims);
  form.symbols.assign(flat.begin() + numDims, flat.end() - 1);
  form.constant = flat.back();
  return form;
}

SmallVector<NarrowingConstraint>
mlir::cascade::getNarrowingConstraints(EinsumOp einsum) {
  SmallVector<NarrowingConstraint> result;
  // Only a constraint of every conjunction holds on the whole domain.
  SmallVector<IntegerSet> disjuncts = einsum.getDisjuncts();
  if (disjuncts.empty())
    return result;
  IntegerSet first = disjuncts.front();
  auto inEvery = [&](unsigned c) {
    return llvm::all_of(llvm::drop_begin(disjuncts), [&](IntegerSet set) {
      for (unsigned i = 0; i < set.getNumConstraints(); ++i)
        if (set.getConstraint(i) == first.getConstraint(c) &&
            set.isEq(i) == first.isEq(c))
          return true;
      return false;
    });
  };
  for (unsigned c = 0; c < first.getNumConstraints(); ++c) {
    if (!inEvery(c))
      continue;
    std::optional<LinearForm> form =
        getLinearForm(einsum, first.getConstraint(c));
    if (!form)
      continue;
    SmallVector<unsigned> used;
    for (auto [d, k] : llvm::enumerate(form->dims))
      if (k != 0)
        used.push_back(d);
    if (used.size() > 1)
      continue; // A relation between ranks.
    NarrowingConstraint constraint;
    constraint.isEquality = first.isEq(c);
    if (!used.empty()) {
      constraint.dim = used.front();
      constraint.coefficient = form->dims[used.front()];
      form->dims[used.front()] = 0;
    }
    constraint.rest = std::move(*form);
    result.push_back(std::move(constraint));
  }
  return result;
}

std::optional<PartitionedIndex>
mlir::cascade::getPartitionedIndex(EinsumOp einsum, AffineExpr expr,
                                   const RankEnvironment &env) {
  std::optional<LinearForm> form = getLinearForm(einsum, expr);
  if (!form)
    return std::nullopt;
  PartitionedIndex index;
  for (unsigned inner = 0; inner < form->dims.size(); ++inner) {
    PartitionOp partition = env.getPartitionOfInner(
        cast<StringAttr>(einsum.getRanks()[inner]).getValue());
    if (!partition || form->dims[inner] == 0)
      continue;
    int64_t outer = einsum.getRankPosition(partition.getOuter());
    auto tile = static_cast<int64_t>(partition.getTile());
    if (outer < 0 || form->dims[outer] != form->dims[inner] * tile)
      continue;
    index.pairs.push_back({static_cast<unsigned>(outer), inner, tile,
                           partition.getRank().str(), form->dims[inner]});
    form->dims[inner] = form->dims[outer] = 0;
  }
  if (index.pairs.empty())
    return std::nullopt;
  index.remaining = std::move(*form);
  return index;
}

std::optional<DimSizeSource> mlir::cascade::getDimSizeSource(Value tensor,
                                                             unsigned dim) {
  while (true) {
    if (auto argument = dyn_cast<BlockArgument>(tensor)) {
      Operation *owner = argument.getOwner()->getParentOp();
      if (isa<func::FuncOp>(owner))
        return DimSizeSource{argument.getArgNumber(), ""};
      auto iterate = dyn_cast<IterateOp>(owner);
      if (!iterate)
        return std::nullopt;
      tensor = iterate.getInits()[argument.getArgNumber()];
      continue;
    }
    if (auto iterate = tensor.getDefiningOp<IterateOp>()) {
      tensor = iterate.getInits()[cast<OpResult>(tensor).getResultNumber()];
      continue;
    }
    auto producer = tensor.getDefiningOp<EinsumOp>();
    if (!producer)
      return std::nullopt;
    return DimSizeSource{
        std::nullopt, cast<StringAttr>(producer.getOutput()[dim]).str()};
  }
}
