//===- ShapeCheck.cpp - <f>_check for CPU kernels -------------------------===//
//
// Builds, from a cascade function as the spec writes it, the function that
// validates a kernel call's descriptors (the shape contract of
// lib/Analysis/ShapeContract.cpp, as generated code) and the overflow-checked
// work-item count. Every condition is an i1; the status is the number of the
// first one that fails, computed with selects only, and every division
// divides by a value forced positive, so the check itself cannot trap.
//
//===----------------------------------------------------------------------===//

#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Conversion/Passes.h"
#include "cascade/Analysis/IndexBounds.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEBUILDCPUSHAPECHECK
#include "cascade/Conversion/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// The largest size a kernel accepts: products of two sizes (a rank times an
/// extent coefficient, a row times a stride) then stay far from overflowing
/// 64 bits.
constexpr int64_t kSizeLimit = int64_t(1) << 31;

struct Range {
  Value lo, hi;
};

class ShapeCheckBuilder {
public:
  ShapeCheckBuilder(func::FuncOp spec, const RankEnvironment &env,
                    const llvm::StringMap<int64_t> &headDims, Type storage)
      : spec(spec), env(env), headDims(headDims), storage(storage),
        b(spec.getContext()), loc(spec.getLoc()) {}

  LogicalResult build();

private:
  Value constant(int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value select(Value c, Value a, Value x) {
    return arith::SelectOp::create(b, loc, c, a, x);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value minOf(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxOf(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value both(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }

  /// Records that `failed` must be false; `message` says what it checks.
  /// A message already listed (the same read in several Einsums) keeps
  /// its number.
  void require(Value failed, std::string message) {
    Value ok = cmp(arith::CmpIPredicate::eq, status, constant(0));
    size_t number = llvm::find(messages, message) - messages.begin();
    if (number == messages.size())
      messages.push_back(std::move(message));
    status = select(both(ok, failed), constant(number + 1), status);
  }
  /// Any sizes and strides, elements of `element` (the storage type for
  /// float tensors, the spec's own for integer id tensors).
  MemRefType getDescriptorType(int64_t rank, Type element);
  std::optional<Range> evaluate(AffineExpr expr, ArrayRef<Range> dims,
                                ArrayRef<Value> symbols, EinsumOp einsum);
  std::optional<Range> evaluatePartitioned(AffineExpr expr,
                                           ArrayRef<Range> dims,
                                           ArrayRef<Value> symbols,
                                           EinsumOp einsum);
  Value evaluateSymbols(const LinearForm &form, ArrayRef<Value> symbols);
  Value getDimSize(Value tensor, unsigned dim);
  /// A bare rank indexing the dimension that this rank names (its extent
  /// is that dimension's size, checked once with the arguments).
  bool isTriviallyInBounds(EinsumOp einsum, Value read, unsigned dim,
                           AffineExpr expr);
  void checkEinsum(EinsumOp einsum);

  func::FuncOp spec;
  const RankEnvironment &env;
  const llvm::StringMap<int64_t> &headDims;
  Type storage;
  OpBuilder b;
  Location loc;
  func::FuncOp check;
  Value status;
  llvm::StringMap<Value> extents;
  SmallVector<std::string> messages;
};

MemRefType ShapeCheckBuilder::getDescriptorType(int64_t rank, Type element) {
  SmallVector<int64_t> dynamic(rank, ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                                       dynamic);
  return MemRefType::get(dynamic, element, layout);
}

std::optional<Range> ShapeCheckBuilder::evaluate(AffineExpr expr,
                                                 ArrayRef<Range> dims,
                                                 ArrayRef<Value> symbols,
                                                 EinsumOp einsum) {
  switch (expr.getKind()) {
  case AffineExprKind::Constant: {
    Value v = constant(cast<AffineConstantExpr>(expr).getValue());
    return Range{v, v};
  }
  case AffineExprKind::DimId:
    return dims[cast<AffineDimExpr>(expr).getPosition()];
  case AffineExprKind::SymbolId: {
    Value v = symbols[cast<AffineSymbolExpr>(expr).getPosition()];
    return Range{v, v};
  }
  default:
    break;
  }
  auto binary = cast<AffineBinaryOpExpr>(expr);
  std::optional<Range> x = evaluate(binary.getLHS(), dims, symbols, einsum);
  std::optional<Range> y = evaluate(binary.getRHS(), dims, symbols, einsum);
  if (!x || !y)
    return std::nullopt;
  switch (expr.getKind()) {
  case AffineExprKind::Add:
    return Range{add(x->lo, y->lo), add(x->hi, y->hi)};
  case AffineExprKind::Mul: {
    Value p[4] = {mul(x->lo, y->lo), mul(x->lo, y->hi), mul(x->hi, y->lo),
                  mul(x->hi, y->hi)};
    return Range{minOf(minOf(p[0], p[1]), minOf(p[2], p[3])),
                 maxOf(maxOf(p[0], p[1]), maxOf(p[2], p[3]))};
  }
  default:
    break;
  }
  // The divisor is one value (extents and constants only).
  Value divisor = y->lo;
  require(cmp(arith::CmpIPredicate::sle, divisor, constant(0)),
          "the divisor `" + printIndexExpr(einsum, binary.getRHS()) + "` in `" +
              printIndexExpr(einsum, expr) + "` of " +
              (einsum.getName() ? einsum.getName()->str() : "an einsum") +
              " must be positive");
  Value d = maxOf(divisor, constant(1));
  switch (expr.getKind()) {
  case AffineExprKind::FloorDiv:
    return Range{arith::FloorDivSIOp::create(b, loc, x->lo, d),
                 arith::FloorDivSIOp::create(b, loc, x->hi, d)};
  case AffineExprKind::CeilDiv:
    return Range{arith::CeilDivSIOp::create(b, loc, x->lo, d),
                 arith::CeilDivSIOp::create(b, loc, x->hi, d)};
  case AffineExprKind::Mod: {
    Value sameBlock =
        cmp(arith::CmpIPredicate::eq, arith::FloorDivSIOp::create(b, loc, x->lo, d),
            arith::FloorDivSIOp::create(b, loc, x->hi, d));
    auto mod = [&](Value v) {
      Value r = arith::RemSIOp::create(b, loc, v, d);
      return select(cmp(arith::CmpIPredicate::slt, r, constant(0)), add(r, d), r);
    };
    return Range{select(sameBlock, mod(x->lo), constant(0)),
                 select(sameBlock, mod(x->hi),
                        arith::SubIOp::create(b, loc, d, constant(1)))};
  }
  default:
    llvm_unreachable("not a division");
  }
}

Value ShapeCheckBuilder::evaluateSymbols(const LinearForm &form,
                                         ArrayRef<Value> symbols) {
  Value total = constant(form.constant);
  for (auto [k, value] : llvm::zip(form.symbols, symbols))
    if (k != 0)
      total = add(total, mul(value, constant(k)));
  return total;
}

/// The range of an index with `m1 * T + m0` pairs read as the parent rank
/// (IndexBounds); nullopt when it has none.
std::optional<Range>
ShapeCheckBuilder::evaluatePartitioned(AffineExpr expr, ArrayRef<Range> dims,
                                       ArrayRef<Value> symbols,
                                       EinsumOp einsum) {
  std::optional<PartitionedIndex> index =
      getPartitionedIndex(einsum, expr, env);
  if (!index)
    return std::nullopt;
  auto scale = [&](int64_t k, Range r) {
    Value c = constant(k);
    return k >= 0 ? Range{mul(r.lo, c), mul(r.hi, c)}
                  : Range{mul(r.hi, c), mul(r.lo, c)};
  };
  Value rest = evaluateSymbols(index->remaining, symbols);
  Range total{rest, rest};
  auto accumulate = [&](Range t) {
    total = {add(total.lo, t.lo), add(total.hi, t.hi)};
  };
  for (const PartitionedIndex::Pair &pair : index->pairs) {
    Range tiles = scale(pair.tile, dims[pair.outer]);
    Range whole{add(tiles.lo, dims[pair.inner].lo),
                minOf(arith::SubIOp::create(b, loc, extents.lookup(pair.parent),
                                            constant(1)),
                      add(tiles.hi, dims[pair.inner].hi))};
    accumulate(scale(pair.coefficient, whole));
  }
  for (auto [k, range] : llvm::zip(index->remaining.dims, dims))
    if (k != 0)
      accumulate(scale(k, range));
  return total;
}

Value ShapeCheckBuilder::getDimSize(Value tensor, unsigned dim) {
  std::optional<DimSizeSource> source = getDimSizeSource(tensor, dim);
  if (!source)
    return nullptr;
  if (source->argument)
    return memref::DimOp::create(b, loc, check.getArgument(*source->argument),
                                 dim);
  return extents.lookup(source->rank);
}

bool ShapeCheckBuilder::isTriviallyInBounds(EinsumOp einsum, Value read,
                                            unsigned dim, AffineExpr expr) {
  auto bare = dyn_cast<AffineDimExpr>(expr);
  std::optional<DimSizeSource> source = getDimSizeSource(read, dim);
  if (!bare || !source)
    return false;
  StringRef rank =
      cast<StringAttr>(einsum.getRanks()[bare.getPosition()]).getValue();
  // Every rank that indexes an argument's dimension bare is checked to
  // agree with it (the argument loop of build()).
  if (source->argument)
    return llvm::is_contained(env.getArgumentDimUses(),
                              std::make_tuple(*source->argument, dim, rank));
  return source->rank == rank;
}

void ShapeCheckBuilder::checkEinsum(EinsumOp einsum) {
  SmallVector<Value> symbols;
  for (StringRef rank : einsum.getSymbols().getAsValueRange<StringAttr>())
    symbols.push_back(extents.lookup(rank));
  SmallVector<Range> dims;
  Value nonEmpty = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
    Value extent = extents.lookup(rank);
    nonEmpty = both(nonEmpty, cmp(arith::CmpIPredicate::sgt, extent, constant(0)));
    dims.push_back({constant(0), arith::SubIOp::create(b, loc, extent, constant(1))});
  }
  if (llvm::is_contained(symbols, Value()) ||
      llvm::any_of(dims, [](Range r) { return !r.hi; }))
    return; // Unbound ranks: the verifier has refused the spec already.
  // Single-rank predicate constraints narrow the domain, and one on extents
  // alone may empty it (IndexBounds).
  for (const NarrowingConstraint &c : getNarrowingConstraints(einsum)) {
    Value rest = evaluateSymbols(c.rest, symbols);
    if (!c.dim) {
      nonEmpty = both(nonEmpty, cmp(c.isEquality ? arith::CmpIPredicate::eq
                                                 : arith::CmpIPredicate::sge,
                                    rest, constant(0)));
      continue;
    }
    Range &range = dims[*c.dim];
    int64_t k = c.coefficient;
    Value negRest = arith::SubIOp::create(b, loc, constant(0), rest);
    // k * r + rest >= 0 (or == 0).
    if (k > 0 || c.isEquality)
      range.lo = maxOf(range.lo,
                       k > 0 ? arith::CeilDivSIOp::create(b, loc, negRest, constant(k)).getResult()
                             : arith::CeilDivSIOp::create(b, loc, rest, constant(-k)).getResult());
    if (k < 0 || c.isEquality)
      range.hi = minOf(range.hi,
                       k < 0 ? arith::FloorDivSIOp::create(b, loc, rest, constant(-k)).getResult()
                             : arith::FloorDivSIOp::create(b, loc, negRest, constant(k)).getResult());
    nonEmpty = both(nonEmpty, cmp(arith::CmpIPredicate::sle, range.lo, range.hi));
  }
  // Every read: the operands, and the reads of data comparisons (document
  // ids), which index their tensor just as an operand does.
  size_t numOperands = einsum.getInputs().size();
  for (auto [i, read] : llvm::enumerate(einsum.getReads())) {
    auto [tensor, map] = read;
    auto argument = dyn_cast<BlockArgument>(tensor);
    if (argument && !isa<func::FuncOp>(argument.getOwner()->getParentOp()))
      argument = nullptr;
    for (auto [d, expr] : llvm::enumerate(map.getResults())) {
      if (isTriviallyInBounds(einsum, tensor, d, expr))
        continue;
      Value size = getDimSize(tensor, d);
      if (!size)
        continue;
      std::optional<Range> range =
          evaluatePartitioned(expr, dims, symbols, einsum);
      if (!range)
        range = evaluate(expr, dims, symbols, einsum);
      if (!range)
        continue;
      Value outside =
          arith::OrIOp::create(b, loc, cmp(arith::CmpIPredicate::slt, range->lo, constant(0)),
                               cmp(arith::CmpIPredicate::sge, range->hi, size));
      std::string what = i < numOperands
                             ? "operand #" + std::to_string(i)
                             : "data read #" + std::to_string(i - numOperands);
      if (argument)
        what += " (argument #" + std::to_string(argument.getArgNumber()) + ")";
      require(both(nonEmpty, outside),
              what + " of " +
                  (einsum.getName() ? einsum.getName()->str() : "an einsum") +
                  ", dimension " + std::to_string(d) + ": the index `" +
                  printIndexExpr(einsum, expr) +
                  "` must stay inside the dimension at every point");
    }
  }
}

LogicalResult ShapeCheckBuilder::build() {
  auto returnOp = cast<func::ReturnOp>(spec.getBody().front().getTerminator());
  if (returnOp.getNumOperands() != 1)
    return success(); // The kernel builder reports it.
  EinsumOp resultEinsum = getRankSource(returnOp.getOperand(0));
  if (!resultEinsum)
    return success();
  SmallVector<StringRef> outputRanks =
      llvm::to_vector(resultEinsum.getOutput().getAsValueRange<StringAttr>());
  // Interfaces the kernel builder refuses (it says why) get no check.
  auto isScalar = [&](unsigned arg) {
    return env.getRankOfScalarArgument(arg).has_value();
  };
  if (outputRanks.size() < 2 ||
      llvm::any_of(llvm::enumerate(spec.getArgumentTypes()), [&](auto entry) {
        auto tensor = dyn_cast<RankedTensorType>(entry.value());
        return !isScalar(entry.index()) && (!tensor || tensor.getRank() < 1);
      }))
    return success();

  // A scalar argument (a runtime extent) is an index, as in the kernel.
  SmallVector<Type> types;
  for (auto [arg, type] : llvm::enumerate(spec.getArgumentTypes())) {
    if (isScalar(arg)) {
      types.push_back(b.getIndexType());
      continue;
    }
    auto tensor = cast<RankedTensorType>(type);
    types.push_back(getDescriptorType(
        tensor.getRank(), getKernelElementType(tensor.getElementType(), storage)));
  }
  types.push_back(getDescriptorType(outputRanks.size(), storage));
  b.setInsertionPointAfter(spec);
  std::string name = spec.getSymName().str();
  check = func::FuncOp::create(b, loc, name + "_check",
                               b.getFunctionType(types, {b.getI32Type()}));
  check->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  b.setInsertionPointToStart(check.addEntryBlock());
  status = constant(0);

  // Sizes, strides and head dimensions of every descriptor.
  unsigned numArgs = spec.getNumArguments();
  for (unsigned arg = 0; arg <= numArgs; ++arg) {
    Value memref = check.getArgument(arg);
    if (arg < numArgs && isScalar(arg)) {
      // As resolveExtents: an extent given by a scalar is in [1, 2^31).
      StringRef rank = *env.getRankOfScalarArgument(arg);
      Value value = memref; // an index
      require(arith::OrIOp::create(
                  b, loc, cmp(arith::CmpIPredicate::slt, value, constant(1)),
                  cmp(arith::CmpIPredicate::sge, value, constant(kSizeLimit))),
              "argument #" + std::to_string(arg) + " (" +
                  getExtentName(rank) + ", the extent of rank '" +
                  rank.str() + "') must be in [1, 2^31)");
      extents[rank] = value;
      continue;
    }
    auto type = cast<MemRefType>(memref.getType());
    std::string what = arg < numArgs ? "argument #" + std::to_string(arg)
                                     : std::string("the output");
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    for (int64_t d = 0; d < type.getRank(); ++d) {
      Value size = metadata.getSizes()[d];
      require(arith::OrIOp::create(b, loc, cmp(arith::CmpIPredicate::slt, size, constant(0)),
                                   cmp(arith::CmpIPredicate::sge, size, constant(kSizeLimit))),
              what + " dimension " + std::to_string(d) +
                  ": the size must be in [0, 2^31)");
    }
    require(cmp(arith::CmpIPredicate::ne, metadata.getStrides().back(), constant(1)),
            what + ": the innermost stride must be 1");
    std::optional<StringRef> head =
        arg < numArgs ? env.getRankOfArgumentDim(arg, type.getRank() - 1)
                      : std::optional<StringRef>(outputRanks.back());
    if (head && headDims.count(*head))
      require(cmp(arith::CmpIPredicate::ne, metadata.getSizes().back(),
                  constant(headDims.lookup(*head))),
              what + ": the innermost size (" + getExtentName(*head) +
                  ") must be " + std::to_string(headDims.lookup(*head)) +
                  ", as compiled");
  }

  // Every rank's extent from its first binding; every other dimension that
  // names the rank must agree with it.
  for (StringRef rank : env.getRankNames()) {
    const RankBinding *binding = env.lookup(rank);
    if (binding->kind == RankBinding::Kind::Argument)
      extents[rank] = memref::DimOp::create(
          b, loc, check.getArgument(binding->argNumber), binding->dim);
  }
  for (StringRef rank : env.getRankNames()) {
    PartitionOp partition = env.getPartitionOfOuter(rank);
    if (!partition || !extents.count(partition.getRank()))
      continue;
    Value tile = constant(partition.getTile());
    extents[partition.getOuter()] =
        arith::CeilDivSIOp::create(b, loc, extents.lookup(partition.getRank()), tile);
    extents[partition.getInner()] = tile;
  }
  // Argument by argument, dimension by dimension: every rank that indexes
  // the dimension bare (one read at two ranks, softmax_document's ids at m
  // and p, binds both).
  for (unsigned arg = 0; arg < numArgs; ++arg) {
    if (isScalar(arg))
      continue;
    auto type = cast<RankedTensorType>(spec.getArgumentTypes()[arg]);
    for (int64_t d = 0; d < type.getRank(); ++d)
      for (auto [useArg, useDim, rank] : env.getArgumentDimUses()) {
        if (useArg != arg || useDim != d || !extents.count(rank))
          continue;
        const RankBinding *binding = env.lookup(rank);
        if (binding->argNumber == arg && binding->dim == d)
          continue;
        require(cmp(arith::CmpIPredicate::ne,
                    memref::DimOp::create(b, loc, check.getArgument(arg), d),
                    extents.lookup(rank)),
                "argument #" + std::to_string(arg) + " dimension " +
                    std::to_string(d) + " (" + getExtentName(rank) +
                    ") must equal argument #" +
                    std::to_string(binding->argNumber) + " dimension " +
                    std::to_string(binding->dim));
      }
  }
  for (auto [d, rank] : llvm::enumerate(outputRanks)) {
    Value extent = extents.lookup(rank);
    if (!extent)
      continue;
    require(cmp(arith::CmpIPredicate::ne, memref::DimOp::create(b, loc, check.getArgument(numArgs), d),
                extent),
            "the output dimension " + std::to_string(d) + " (" +
                getExtentName(rank) + ") must equal the inputs' " +
                getExtentName(rank));
  }
  spec.walk([&](EinsumOp einsum) { checkEinsum(einsum); });
  Value status32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), status);
  func::ReturnOp::create(b, loc, status32);
  SmallVector<Attribute> texts;
  for (const std::string &m : messages)
    texts.push_back(b.getStringAttr(m));
  check->setAttr("cascade.check_messages", b.getArrayAttr(texts));

  return success();
}

struct BuildCpuShapeCheck
    : public mlir::cascade::impl::CascadeBuildCpuShapeCheckBase<
          BuildCpuShapeCheck> {
  using Base::Base;
  explicit BuildCpuShapeCheck(const CpuTargetOptions &target)
      : typed(target) {}

  void runOnOperation() override {
    // From the typed target options when the pipeline built this pass,
    // else from the textual ones.
    FailureOr<llvm::StringMap<int64_t>> dims =
        typed ? FailureOr<llvm::StringMap<int64_t>>(typed->headDims)
              : parseAssumedExtents(getOperation().getLoc(), headDims);
    if (failed(dims))
      return signalPassFailure();
    std::string storageName = typed ? typed->storageType : storageType;
    Builder builder(&getContext());
    Type storage = storageName == "f16"    ? builder.getF16Type()
                   : storageName == "bf16" ? builder.getBF16Type()
                                           : builder.getF32Type();
    SmallVector<func::FuncOp> functions;
    for (auto function : getOperation().getOps<func::FuncOp>())
      if (isCascadeFunction(function))
        functions.push_back(function);
    for (func::FuncOp function : functions) {
      FailureOr<RankEnvironment> env = RankEnvironment::build(function);
      if (failed(env)) {
        function.emitError("the ranks of this function are inconsistent");
        return signalPassFailure();
      }
      ShapeCheckBuilder checkBuilder(function, *env, *dims, storage);
      if (failed(checkBuilder.build()))
        return signalPassFailure();
    }
  }

  std::optional<CpuTargetOptions> typed;
};

} // namespace

std::unique_ptr<Pass>
mlir::cascade::createBuildCpuShapeCheckPass(const CpuTargetOptions &options) {
  return std::make_unique<BuildCpuShapeCheck>(options);
}
