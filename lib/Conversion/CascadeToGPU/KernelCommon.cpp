//===- KernelCommon.cpp - What both GPU kernel builders emit alike --------===//

#include "KernelCommon.h"

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Conversion/GpuKernelAttributes.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::cascade;

gpu::GPUModuleOp mlir::cascade::createKernelModule(OpBuilder &b,
                                                  func::FuncOp source) {
  MLIRContext *context = source.getContext();
  context->loadDialect<arith::ArithDialect, gpu::GPUDialect, LLVM::LLVMDialect,
                       math::MathDialect, memref::MemRefDialect,
                       nvgpu::NVGPUDialect, NVVM::NVVMDialect, scf::SCFDialect,
                       vector::VectorDialect>();
  source->getParentOfType<ModuleOp>()->setAttr(
      gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(context));
  b.setInsertionPointAfter(source);
  return gpu::GPUModuleOp::create(b, source.getLoc(),
                                  source.getSymName().str() + "_gpu");
}

SmallVector<Type> mlir::cascade::kernelInputTypes(func::FuncOp source,
                                                  Type storage) {
  SmallVector<Type> inputs;
  for (Type type : source.getArgumentTypes()) {
    if (auto tensor = dyn_cast<RankedTensorType>(type))
      inputs.push_back(MemRefType::get(
          tensor.getShape(),
          kernelElementType(tensor.getElementType(), storage)));
    else
      inputs.push_back(type);
  }
  return inputs;
}

void mlir::cascade::declareDynamicSharedMemory(OpBuilder &b, Location loc) {
  // The global convert-gpu-to-nvvm lowers gpu.dynamic_shared_memory to (it
  // takes any zero-length array in shared memory at its alignment).
  // Upstream makes an internal one, which NVPTX demotes to a one-byte
  // static `.shared` variable that the dynamic memory is placed after: the
  // kernel would then reach past the launch's bytes. An external
  // declaration is PTX's `.extern .shared .align 16 .b8 x[]`, whose
  // address is the dynamic memory's first byte.
  static_assert(GpuPlan::kDynamicSharedAlignment ==
                    NVVM::kSharedMemoryAlignmentBit / 8,
                "the plan's slack assumes upstream's alignment");
  LLVM::GlobalOp::create(
      b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0),
      /*isConstant=*/false, LLVM::Linkage::External,
      kDynamicSharedMemorySymbol, Attribute(),
      GpuPlan::kDynamicSharedAlignment,
      static_cast<unsigned>(NVVM::NVVMMemorySpace::Shared));
}

LogicalResult mlir::cascade::computeKernelExtents(
    OpBuilder &b, Location loc, const RankEnvironment &env,
    gpu::GPUFuncOp kernel, const WorkPlan &work,
    llvm::StringMap<Value> &extents) {
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  for (StringRef rank : env.getRankNames()) {
    const RankBinding *binding = env.lookup(rank);
    if (binding->kind == RankBinding::Kind::Scalar) {
      Value scalar = kernel.getArgument(binding->argNumber);
      if (!scalar.getType().isIndex())
        scalar = arith::IndexCastOp::create(b, loc, b.getIndexType(), scalar);
      extents[rank] = scalar;
    }
    if (binding->kind == RankBinding::Kind::Argument) {
      auto head = work.tileExtents.find(rank);
      extents[rank] =
          head != work.tileExtents.end()
              ? index(head->second)
              : memref::DimOp::create(b, loc,
                                      kernel.getArgument(binding->argNumber),
                                      binding->dim)
                    .getResult();
    }
  }
  for (auto &[rank, extent] : work.tileExtents)
    if (!extents.count(rank))
      extents[rank] = index(extent);
  for (PartitionOp partition : {work.queryPartition, work.keyPartition}) {
    Value parent = extents.lookup(partition.getRank());
    if (!parent)
      return partition.emitError("no extent known for rank '")
             << partition.getRank() << "'";
    Value tile = index(partition.getTile());
    extents[partition.getInner()] = tile;
    extents[partition.getOuter()] =
        arith::CeilDivUIOp::create(b, loc, parent, tile);
  }
  return success();
}

SmallVector<Value>
mlir::cascade::computeBlockCoordinates(OpBuilder &b, Location loc, Value out,
                                       ArrayRef<WorkRankPlan> ranks) {
  SmallVector<Value> coordinates(ranks.size());
  Value item = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  for (size_t i = ranks.size(); i-- > 0;) {
    const WorkRankPlan &rank = ranks[i];
    Value extent = memref::DimOp::create(b, loc, out, rank.resultDim);
    if (rank.tile > 1)
      extent = arith::CeilDivUIOp::create(
          b, loc, extent, arith::ConstantIndexOp::create(b, loc, rank.tile));
    coordinates[i] = arith::RemUIOp::create(b, loc, item, extent);
    item = arith::DivUIOp::create(b, loc, item, extent);
  }
  return coordinates;
}

void mlir::cascade::computeWorkCoordinates(OpBuilder &b, Location loc,
                                           Value out, const WorkPlan &work,
                                           llvm::StringMap<Value> &fixed) {
  for (auto [rank, coordinate] :
       llvm::zip(work.ranks, computeBlockCoordinates(b, loc, out, work.ranks)))
    fixed[rank.rank] = coordinate;
}

/// `expr` at `dims` and `symbols` (i32 values) in i32 arithmetic, for an
/// expression of sums and products only.
static Value expandLinearExprI32(OpBuilder &b, Location loc, AffineExpr expr,
                                 ArrayRef<Value> dims,
                                 ArrayRef<Value> symbols) {
  if (auto dim = dyn_cast<AffineDimExpr>(expr))
    return dims[dim.getPosition()];
  if (auto symbol = dyn_cast<AffineSymbolExpr>(expr))
    return symbols[symbol.getPosition()];
  if (auto constant = dyn_cast<AffineConstantExpr>(expr))
    return arith::ConstantIntOp::create(b, loc, constant.getValue(), 32);
  auto binary = cast<AffineBinaryOpExpr>(expr);
  Value lhs = expandLinearExprI32(b, loc, binary.getLHS(), dims, symbols);
  Value rhs = expandLinearExprI32(b, loc, binary.getRHS(), dims, symbols);
  if (expr.getKind() == AffineExprKind::Add)
    return arith::AddIOp::create(b, loc, lhs, rhs);
  return arith::MulIOp::create(b, loc, lhs, rhs);
}

/// Whether `expr` has no division or remainder.
static bool isSumOfProducts(AffineExpr expr) {
  bool linear = true;
  expr.walk([&](AffineExpr sub) {
    if (sub.getKind() == AffineExprKind::FloorDiv ||
        sub.getKind() == AffineExprKind::CeilDiv ||
        sub.getKind() == AffineExprKind::Mod)
      linear = false;
  });
  return linear;
}

/// `constraint` split as `rest + column`, where `column` holds every term
/// of dimension `columnDim` (an affine sum of products has no term with
/// two dimensions). Null `column` when there is no such term or nothing
/// else.
static std::pair<AffineExpr, AffineExpr>
splitColumnTerms(AffineExpr constraint, unsigned columnDim, unsigned numDims,
                 unsigned numSymbols) {
  MLIRContext *context = constraint.getContext();
  AffineExpr zero = getAffineConstantExpr(0, context);
  SmallVector<AffineExpr> othersZero, allZero(numDims, zero), symbols;
  for (unsigned d = 0; d < numDims; ++d)
    othersZero.push_back(d == columnDim ? getAffineDimExpr(d, context) : zero);
  for (unsigned s = 0; s < numSymbols; ++s)
    symbols.push_back(getAffineSymbolExpr(s, context));
  AffineExpr column = simplifyAffineExpr(
      constraint.replaceDimsAndSymbols(othersZero, symbols) -
          constraint.replaceDimsAndSymbols(allZero, symbols),
      numDims, numSymbols);
  AffineExpr rest =
      simplifyAffineExpr(constraint - column, numDims, numSymbols);
  if (column == zero || rest == zero)
    return {constraint, AffineExpr()};
  return {rest, column};
}

/// `value` as `base + offset` where it is an index addition of a constant
/// (null base otherwise).
static std::pair<Value, int64_t> peelConstantOffset(Value value) {
  auto add = value.getDefiningOp<arith::AddIOp>();
  if (!add)
    return {Value(), 0};
  for (unsigned i = 0; i < 2; ++i)
    if (auto constant =
            add->getOperand(1 - i).getDefiningOp<arith::ConstantIndexOp>())
      return {add->getOperand(i), constant.value()};
  return {Value(), 0};
}

/// `k` where `expr` is `k * d<dim>` with a constant k.
static std::optional<int64_t> getDimScale(AffineExpr expr, unsigned dim) {
  if (auto d = dyn_cast<AffineDimExpr>(expr))
    return d.getPosition() == dim ? std::optional<int64_t>(1) : std::nullopt;
  if (expr.getKind() != AffineExprKind::Mul)
    return std::nullopt;
  auto binary = cast<AffineBinaryOpExpr>(expr);
  auto d = dyn_cast<AffineDimExpr>(binary.getLHS());
  auto k = dyn_cast<AffineConstantExpr>(binary.getRHS());
  if (!d || !k || d.getPosition() != dim)
    return std::nullopt;
  return k.getValue();
}

Value mlir::cascade::buildAffinePredicate(OpBuilder &b, Location loc,
                                          EinsumOp einsum,
                                          ArrayRef<Value> dims,
                                          ArrayRef<Value> symbols,
                                          std::optional<unsigned> columnDim) {
  // Masks are evaluated per element of a fragment, so their arithmetic is
  // what the key loop's registers hold beside the tiles: in i32 where the
  // constraint is a sum of products (every mask of the library), since a
  // 64-bit index takes two registers per value. The arithmetic wraps, so a
  // constraint is exact when its value fits in i32; extents below 2^30
  // (the GPU hosts check them: docs/GPU.md, "ABI") make that so for masks
  // that add two terms and subtract two.
  Type i32 = b.getI32Type();
  SmallVector<Value> dims32, symbols32;
  auto narrow = [&](ArrayRef<Value> values, SmallVectorImpl<Value> &into) {
    for (Value value : values)
      into.push_back(value ? arith::IndexCastOp::create(b, loc, i32, value)
                                 .getResult()
                           : Value());
  };
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value zero32 = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value any;
  for (IntegerSet conjunction : einsum.getDisjuncts()) {
    Value all;
    for (unsigned i = 0; i < conjunction.getNumConstraints(); ++i) {
      AffineExpr constraint = conjunction.getConstraint(i);
      Value value;
      if (isSumOfProducts(constraint)) {
        if (dims32.empty() && symbols32.empty()) {
          narrow(dims, dims32);
          narrow(symbols, symbols32);
        }
        // Per element of a fragment, one comparison: the terms of the
        // column's coordinate on one side (shared by the column's
        // elements), the rest on the other (shared by the row's; CSE
        // merges both). Exact where either side fits in i32, as above.
        auto [rest, column] =
            columnDim ? splitColumnTerms(constraint, *columnDim, dims.size(),
                                         symbols.size())
                      : std::pair<AffineExpr, AffineExpr>(constraint,
                                                          AffineExpr());
        if (column) {
          AffineExpr negated =
              simplifyAffineExpr(-column, dims.size(), symbols.size());
          Value lhs = expandLinearExprI32(b, loc, rest, dims32, symbols32);
          Value rhs;
          // A fragment's column is a lane's base plus a constant: with
          // `negated` = scale * column, the base moves to the row's side
          // and the comparison is against an immediate.
          auto [base, offset] = peelConstantOffset(dims[*columnDim]);
          std::optional<int64_t> scale = getDimScale(negated, *columnDim);
          if (base && scale) {
            Value scaled = arith::IndexCastOp::create(b, loc, i32, base);
            if (*scale != 1)
              scaled = arith::MulIOp::create(
                  b, loc, scaled,
                  arith::ConstantIntOp::create(b, loc, *scale, 32));
            lhs = arith::SubIOp::create(b, loc, lhs, scaled);
            rhs = arith::ConstantIntOp::create(b, loc, *scale * offset, 32);
          } else {
            rhs = expandLinearExprI32(b, loc, negated, dims32, symbols32);
          }
          Value holds = arith::CmpIOp::create(
              b, loc,
              conjunction.isEq(i) ? arith::CmpIPredicate::eq
                                  : arith::CmpIPredicate::sge,
              lhs, rhs);
          all = all ? arith::AndIOp::create(b, loc, all, holds).getResult()
                    : holds;
          continue;
        }
        value = expandLinearExprI32(b, loc, constraint, dims32, symbols32);
      } else {
        value = affine::expandAffineExpr(b, loc, constraint, dims, symbols);
      }
      Value holds = arith::CmpIOp::create(
          b, loc,
          conjunction.isEq(i) ? arith::CmpIPredicate::eq
                              : arith::CmpIPredicate::sge,
          value, value.getType().isIndex() ? zero : zero32);
      all = all ? arith::AndIOp::create(b, loc, all, holds).getResult() : holds;
    }
    if (!all)
      all = arith::ConstantIntOp::create(b, loc, 1, 1);
    any = any ? arith::OrIOp::create(b, loc, any, all).getResult() : all;
  }
  return any;
}

Value mlir::cascade::cloneEinsumBody(OpBuilder &b, Location loc,
                                     EinsumOp einsum,
                                     function_ref<Value(unsigned)> operand,
                                     function_ref<Value(StringRef)> coordinate,
                                     const llvm::StringMap<Value> &extents) {
  Block &body = einsum.getBodyBlock();
  IRMapping mapping;
  for (BlockArgument argument : body.getArguments())
    if (!argument.use_empty())
      mapping.map(argument, operand(argument.getArgNumber()));
  for (Operation &op : body.without_terminator()) {
    if (auto rank = dyn_cast<IndexOp>(op)) {
      mapping.map(rank.getResult(),
                  convertScalar(b, loc, coordinate(rank.getRank()),
                                rank.getType()));
      continue;
    }
    if (auto extent = dyn_cast<ExtentOp>(op)) {
      mapping.map(extent.getResult(),
                  convertScalar(b, loc, extents.lookup(extent.getRank()),
                                extent.getType()));
      continue;
    }
    b.clone(op, mapping);
  }
  Value result = mapping.lookup(body.getTerminator()->getOperand(0));
  return convertScalar(b, loc, result, b.getF32Type());
}

FailureOr<KeyTileLoopBounds> mlir::cascade::buildBlockKeyTileBounds(
    OpBuilder &b, Location loc, IterateOp iterate, PartitionOp query,
    const llvm::StringMap<Value> &fixed, const llvm::StringMap<Value> &extents,
    Value steps) {
  std::optional<TileScheduleAttr> tiles = iterate.getTiles();
  if (!tiles) {
    KeyTileLoopBounds all;
    all.first = arith::ConstantIndexOp::create(b, loc, 0);
    all.last = steps;
    return all;
  }
  SmallVector<Value> dims = {fixed.lookup(query.getOuter())};
  for (StringRef rank :
       llvm::drop_begin(tiles->getDims().getAsValueRange<StringAttr>())) {
    Value value = fixed.lookup(rank);
    if (!value)
      return iterate.emitError("the tile schedule's bounds depend on rank '")
             << rank << "', which is not fixed for a block";
    dims.push_back(value);
  }
  SmallVector<Value> syms;
  for (StringRef rank : tiles->getSymbols().getAsValueRange<StringAttr>())
    syms.push_back(extents.lookup(rank));
  return buildKeyTileBounds(b, loc, *tiles, dims, syms, steps);
}
