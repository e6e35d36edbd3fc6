//===- Interpreter.cpp - fp64 reference interpreter for cascades ----------===//
//
// Runs the ops of a cascade function one after the other on dense fp64
// tensors. Einsum bodies are compiled once into BodyPrograms; index
// expressions with the extents substituted are reduced to linear forms when
// they are linear, and evaluated as affine expressions otherwise.
//
//===----------------------------------------------------------------------===//

#include "cascade/Interpreter/Interpreter.h"
#include "BodyProgram.h"

#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IntegerSet.h"
#include "llvm/Support/MathExtras.h"

#include <map>
#include <memory>

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// Evaluates an affine expression at integer dims and symbols. A zero
/// divisor (an extent quotient like `H floordiv HKV` that is 0) sets
/// `dividedByZero` and yields 0.
int64_t evaluateAffine(AffineExpr expr, const int64_t *dims,
                       const int64_t *symbols, bool &dividedByZero) {
  switch (expr.getKind()) {
  case AffineExprKind::Constant:
    return cast<AffineConstantExpr>(expr).getValue();
  case AffineExprKind::DimId:
    return dims[cast<AffineDimExpr>(expr).getPosition()];
  case AffineExprKind::SymbolId:
    return symbols[cast<AffineSymbolExpr>(expr).getPosition()];
  default:
    break;
  }
  auto binary = cast<AffineBinaryOpExpr>(expr);
  int64_t lhs = evaluateAffine(binary.getLHS(), dims, symbols, dividedByZero);
  int64_t rhs = evaluateAffine(binary.getRHS(), dims, symbols, dividedByZero);
  switch (expr.getKind()) {
  case AffineExprKind::Add:
    return lhs + rhs;
  case AffineExprKind::Mul:
    return lhs * rhs;
  default:
    break;
  }
  if (rhs == 0) {
    dividedByZero = true;
    return 0;
  }
  switch (expr.getKind()) {
  case AffineExprKind::FloorDiv:
    return llvm::divideFloorSigned(lhs, rhs);
  case AffineExprKind::CeilDiv:
    return llvm::divideCeilSigned(lhs, rhs);
  case AffineExprKind::Mod: {
    int64_t mod = lhs % rhs;
    return mod < 0 ? mod + (rhs < 0 ? -rhs : rhs) : mod;
  }
  default:
    llvm_unreachable("unexpected affine expression kind");
  }
}

/// Whether `expr` is linear in the dims: divisions and modulos only of
/// symbols and constants (multiplication is semi-affine by verification).
bool isLinearInDims(AffineExpr expr) {
  bool linear = true;
  expr.walk([&](AffineExpr sub) {
    auto binary = dyn_cast<AffineBinaryOpExpr>(sub);
    if (binary && sub.getKind() != AffineExprKind::Add &&
        sub.getKind() != AffineExprKind::Mul &&
        !binary.getLHS().isSymbolicOrConstant())
      linear = false;
  });
  return linear;
}

/// An index expression with the extents of one evaluation bound: a linear
/// form in the ranks when the expression is linear, the affine expression
/// otherwise.
struct IndexFunction {
  bool isLinear = true;
  int64_t constant = 0;
  SmallVector<std::pair<unsigned, int64_t>, 2> terms;
  AffineExpr general;
  SmallVector<int64_t> symbols;

  /// Fails when a divisor evaluates to 0 for these extents.
  static FailureOr<IndexFunction> get(AffineExpr expr,
                                      ArrayRef<int64_t> symbolValues,
                                      unsigned numDims) {
    IndexFunction function;
    function.general = expr;
    function.symbols.assign(symbolValues.begin(), symbolValues.end());
    function.isLinear = isLinearInDims(expr);
    SmallVector<int64_t> point(numDims, 0);
    bool dividedByZero = false;
    function.constant = evaluateAffine(expr, point.data(),
                                       function.symbols.data(), dividedByZero);
    if (dividedByZero)
      return failure();
    if (!function.isLinear)
      return function;
    for (unsigned d = 0; d < numDims; ++d) {
      point[d] = 1;
      int64_t coefficient =
          evaluateAffine(expr, point.data(), function.symbols.data(),
                         dividedByZero) -
          function.constant;
      point[d] = 0;
      if (coefficient != 0)
        function.terms.push_back({d, coefficient});
    }
    return function;
  }

  int64_t operator()(const int64_t *coordinates) const {
    if (!isLinear) {
      bool dividedByZero = false; // Divisors are symbolic: checked in get().
      return evaluateAffine(general, coordinates, symbols.data(),
                            dividedByZero);
    }
    int64_t value = constant;
    for (auto [dim, coefficient] : terms)
      value += coefficient * coordinates[dim];
    return value;
  }
};

/// The coordinates of element `flat` of a row-major tensor with `strides`.
void unflatten(int64_t flat, ArrayRef<int64_t> strides,
               MutableArrayRef<int64_t> coordinates) {
  for (auto [d, stride] : llvm::enumerate(strides)) {
    coordinates[d] = flat / stride;
    flat %= stride;
  }
}

using TensorRef = std::shared_ptr<const Tensor>;

class FunctionInterpreter {
public:
  FunctionInterpreter(FunctionOpInterface function, RankEnvironment env,
                      llvm::StringMap<int64_t> extents,
                      const InterpretOptions &options)
      : function(function), env(std::move(env)),
        extents(std::move(extents)), options(options) {
    if (!options.sampledRank.empty()) {
      sampled.assign(this->extents.lookup(options.sampledRank), false);
      for (int64_t c : options.sampledCoordinates)
        if (c >= 0 && c < static_cast<int64_t>(sampled.size()))
          sampled[c] = true;
    }
  }

  FailureOr<SmallVector<Tensor>> run(ArrayRef<Tensor> inputs) {
    Block &entry = function.getFunctionBody().front();
    for (auto [arg, input] : llvm::zip(entry.getArguments(), inputs))
      values[arg] = std::make_shared<const Tensor>(input);
    SmallVector<TensorRef> results;
    if (failed(runBlock(entry, results)))
      return failure();
    SmallVector<Tensor> copies;
    for (const TensorRef &result : results)
      copies.push_back(*result);
    return copies;
  }

private:
  /// Runs the ops of `block`; the terminator's operands go to `yielded`.
  LogicalResult runBlock(Block &block, SmallVectorImpl<TensorRef> &yielded) {
    for (Operation &op : block) {
      if (auto einsum = dyn_cast<EinsumOp>(op)) {
        if (failed(runEinsum(einsum)))
          return failure();
      } else if (auto iterate = dyn_cast<IterateOp>(op)) {
        if (failed(runIterate(iterate)))
          return failure();
      } else if (auto grid = dyn_cast<GridOp>(op)) {
        if (failed(runGrid(grid)))
          return failure();
      } else if (isa<PartitionOp>(op) ||
                 (isa<arith::ConstantOp>(op) &&
                  !isa<ShapedType>(op.getResult(0).getType()))) {
        continue; // Declarations and scalars used by no cascade op.
      } else if (op.hasTrait<OpTrait::IsTerminator>()) {
        for (Value operand : op.getOperands()) {
          auto it = values.find(operand);
          if (it == values.end())
            return op.emitError("the reference interpreter cannot return "
                                "a value it did not compute");
          yielded.push_back(it->second);
        }
      } else {
        return op.emitError() << "'" << op.getName()
                              << "' is not supported by the reference "
                                 "interpreter";
      }
    }
    return success();
  }

  LogicalResult runIterate(IterateOp iterate) {
    StringRef rank = iterate.getRank();
    int64_t steps = extents.lookup(rank);
    SmallVector<TensorRef> carried;
    for (Value init : iterate.getInits())
      carried.push_back(values.lookup(init));
    // Stacked results: step k's value at coordinate k of the leading rank.
    unsigned numCarried = iterate.getInits().size();
    SmallVector<Tensor> stacked;
    for (Value result : iterate.getStackedResults()) {
      SmallVector<int64_t> shape;
      std::optional<SmallVector<std::string>> ranks = getTensorRanks(result);
      for (const std::string &name : *ranks)
        shape.push_back(extents.lookup(name));
      if (std::optional<std::string> problem =
              Tensor::checkAllocation(shape, sizeof(double)))
        return iterate.emitError("the reference interpreter cannot hold "
                                 "this stacked result: ")
               << *problem;
      stacked.emplace_back(shape);
    }
    for (int64_t step = 0; step < steps; ++step) {
      fixedCoordinates[rank] = step;
      for (auto [arg, value] :
           llvm::zip(iterate.getBodyBlock().getArguments(), carried))
        values[arg] = value;
      SmallVector<TensorRef> next;
      if (failed(runBlock(iterate.getBodyBlock(), next)))
        return failure();
      if (std::optional<TileScheduleAttr> tiles = iterate.getTiles()) {
        if (failed(applyTileSchedule(iterate, *tiles, step, carried, next)))
          return failure();
      }
      for (auto [j, tensor] : llvm::enumerate(stacked)) {
        const Tensor &value = *next[numCarried + j];
        int64_t size = value.getNumElements();
        if (size * steps != tensor.getNumElements())
          return iterate.emitError()
                 << "stacked value #" << j << " has "
                 << value.getShapeString() << " at step " << step
                 << ", which does not fill one step of its result";
        std::copy(value.data.begin(), value.data.end(),
                  tensor.data.begin() + step * size);
      }
      next.truncate(numCarried);
      carried = std::move(next);
    }
    fixedCoordinates.erase(rank);
    for (auto [result, value] :
         llvm::zip(iterate.getCarriedResults(), carried))
      values[result] = value;
    for (auto [result, tensor] :
         llvm::zip(iterate.getStackedResults(), stacked))
      values[result] = std::make_shared<const Tensor>(std::move(tensor));
    return success();
  }

  LogicalResult runEinsum(EinsumOp einsum);

  /// Runs the work items of `grid` one after the other and assembles each
  /// result from their tiles.
  LogicalResult runGrid(GridOp grid) {
    SmallVector<StringRef> gridRanks =
        llvm::to_vector(grid.getRanks().getAsValueRange<StringAttr>());
    for (NamedAttribute entry : grid.getTileExtents()) {
      int64_t scheduled = cast<IntegerAttr>(entry.getValue()).getInt();
      int64_t actual = extents.lookup(entry.getName().getValue());
      if (scheduled != actual)
        return grid.emitError()
               << "this work grid was scheduled for "
               << entry.getName().getValue() << " = " << scheduled
               << " but the inputs give " << actual;
    }
    // The partitions the grid cuts: parent rank -> (outer, tile, inner).
    llvm::StringMap<PartitionOp> cutBy;
    for (StringRef rank : gridRanks)
      if (PartitionOp partition = env.getPartitionOfOuter(rank))
        cutBy[partition.getRank()] = partition;
    // With a sampled query rank, only the tiles holding a sampled row run.
    PartitionOp sampledCut = cutBy.lookup(options.sampledRank);

    SmallVector<Tensor> results;
    SmallVector<SmallVector<StringRef>> resultRanks;
    for (auto [outputsAttr, result] :
         llvm::zip(grid.getOutputs(), grid.getResults())) {
      SmallVector<int64_t> shape;
      resultRanks.emplace_back();
      for (StringRef rank :
           cast<ArrayAttr>(outputsAttr).getAsValueRange<StringAttr>()) {
        resultRanks.back().push_back(rank);
        shape.push_back(extents.lookup(rank));
      }
      if (std::optional<std::string> problem =
              Tensor::checkAllocation(shape, sizeof(double)))
        return grid.emitError("the reference interpreter cannot hold this "
                              "result: ")
               << *problem;
      results.emplace_back(shape);
    }

    SmallVector<int64_t> point(gridRanks.size(), 0);
    SmallVector<int64_t> gridExtents;
    int64_t items = 1;
    for (StringRef rank : gridRanks) {
      gridExtents.push_back(extents.lookup(rank));
      items *= gridExtents.back();
    }
    for (int64_t item = 0; item < items; ++item) {
      for (auto [rank, coordinate] : llvm::zip(gridRanks, point))
        fixedCoordinates[rank] = coordinate;
      if (!runsSampledRow(sampledCut)) {
        advance(point, gridExtents);
        continue;
      }
      SmallVector<TensorRef> tiles;
      if (failed(runBlock(grid.getBodyBlock(), tiles)))
        return failure();
      for (auto [i, tile] : llvm::enumerate(tiles))
        scatterTile(*tile, grid.getTileRanks(i, env), resultRanks[i], cutBy,
                    results[i]);
      advance(point, gridExtents);
    }
    for (StringRef rank : gridRanks)
      fixedCoordinates.erase(rank);
    for (auto [result, tensor] : llvm::zip(grid.getResults(), results))
      values[result] = std::make_shared<const Tensor>(std::move(tensor));
    return success();
  }

  /// Whether the current work item holds a row `attn-run` samples (always,
  /// when the sampled rank is not cut by the grid).
  bool runsSampledRow(PartitionOp cut) const {
    if (!cut)
      return true;
    int64_t tile = cut.getTile();
    int64_t first = fixedCoordinates.lookup(cut.getOuter()) * tile;
    for (int64_t row = first;
         row < first + tile && row < static_cast<int64_t>(sampled.size());
         ++row)
      if (sampled[row])
        return true;
    return false;
  }

  static void advance(SmallVectorImpl<int64_t> &point,
                      ArrayRef<int64_t> extents) {
    for (int64_t j = static_cast<int64_t>(point.size()) - 1; j >= 0; --j) {
      if (++point[j] < extents[j])
        return;
      point[j] = 0;
    }
  }

  /// Writes the tile of the current work item into `result`: a result rank
  /// is a grid rank (fixed), a rank the grid cuts (outer * tile + inner,
  /// rows past its end dropped) or a rank of the tile.
  void scatterTile(const Tensor &tile, ArrayRef<std::string> tileRanks,
                   ArrayRef<StringRef> resultRanks,
                   const llvm::StringMap<PartitionOp> &cutBy,
                   Tensor &result) const {
    SmallVector<int64_t> tileStrides = tile.getStrides();
    SmallVector<int64_t> resultStrides = result.getStrides();
    auto tilePosition = [&](StringRef rank) -> int64_t {
      return llvm::find(tileRanks, rank) - tileRanks.begin();
    };
    SmallVector<int64_t> at(tileRanks.size(), 0);
    for (int64_t e = 0; e < tile.getNumElements(); ++e) {
      unflatten(e, tileStrides, at);
      int64_t offset = 0;
      bool inside = true;
      for (auto [d, rank] : llvm::enumerate(resultRanks)) {
        int64_t coordinate;
        auto fixed = fixedCoordinates.find(rank);
        if (PartitionOp cut = cutBy.lookup(rank)) {
          coordinate = fixedCoordinates.lookup(cut.getOuter()) * cut.getTile() +
                       at[tilePosition(cut.getInner())];
          inside = inside && coordinate < result.shape[d];
        } else if (fixed != fixedCoordinates.end()) {
          coordinate = fixed->second;
        } else {
          coordinate = at[tilePosition(rank)];
        }
        offset += coordinate * resultStrides[d];
      }
      if (inside)
        result.data[offset] = tile.data[e];
    }
  }

  /// Executes a step of an iterate with a tile schedule as a kernel does:
  /// The class of key tile `step` for the work item `dims` (the query tile
  /// index, then the ranks `dimRanks` fixes) by the data comparisons alone,
  /// decided as a kernel decides it: from the minimum and maximum of each
  /// read over the query tile's rows and the key tile's keys. 0 = empty,
  /// 1 = partial, 2 = full (the Class enum of applyTileSchedule).
  int classifyByData(IterateOp iterate, TileScheduleAttr tiles,
                     ArrayRef<int64_t> dims, ArrayRef<StringRef> dimRanks,
                     int64_t step) {
    EinsumOp einsum;
    for (auto candidate : iterate.getBodyBlock().getOps<EinsumOp>())
      if (!candidate.getDataCompares().empty()) {
        einsum = candidate;
        break;
      }
    if (!einsum)
      return 1;
    // The rows of the query tile and the keys of the key tile, as ranges of
    // the Einsum's own ranks (the query rank itself before scheduling, the
    // inner rank of its partition in a cascade.grid).
    int64_t queryTile = tiles.getQueryTile();
    StringRef query = tiles.getQuery().getValue();
    PartitionOp queryPartition = env.getPartitionOfOuter(dimRanks[0]);
    PartitionOp keyPartition = env.getPartitionOfOuter(iterate.getRank());
    if (!keyPartition)
      return 1;
    int64_t queryExtent = extents.lookup(query);
    int64_t keyExtent = extents.lookup(keyPartition.getRank());
    int64_t keyTile = keyPartition.getTile();
    ArrayAttr ranks = einsum.getRanks();
    SmallVector<int64_t> point(ranks.size(), 0);
    int queryPosition = -1, keyPosition = -1;
    int64_t queryBase = 0, queryCount = 0;
    for (auto [i, attr] : llvm::enumerate(ranks)) {
      StringRef rank = cast<StringAttr>(attr).getValue();
      auto fixed = fixedCoordinates.find(rank);
      if (fixed != fixedCoordinates.end()) {
        point[i] = fixed->second;
        continue;
      }
      if (rank == query) {
        queryPosition = i;
        queryBase = dims[0] * queryTile;
        queryCount = std::min(queryTile, queryExtent - queryBase);
      } else if (queryPartition && rank == queryPartition.getInner()) {
        queryPosition = i;
        queryCount = std::min(queryTile, queryExtent - dims[0] * queryTile);
      } else if (rank == keyPartition.getInner()) {
        keyPosition = i;
      } else {
        for (auto [k, name] : llvm::enumerate(dimRanks))
          if (k > 0 && name == rank)
            point[i] = dims[k];
      }
    }
    int64_t keyCount = std::min(keyTile, keyExtent - step * keyTile);
    if (queryCount <= 0 || keyCount <= 0)
      return 0;
    SmallVector<int64_t> symbolValues;
    for (StringRef rank : einsum.getSymbols().getAsValueRange<StringAttr>())
      symbolValues.push_back(extents.lookup(rank));
    // [min, max] of each read over the pair.
    SmallVector<std::pair<double, double>> ranges;
    for (auto [j, input] : llvm::enumerate(einsum.getDataInputs())) {
      const Tensor &tensor = *values.lookup(input);
      SmallVector<int64_t> strides = tensor.getStrides();
      AffineMap map = einsum.getDataMap(j);
      std::pair<double, double> range = {INFINITY, -INFINITY};
      for (int64_t q = 0; q < (queryPosition >= 0 ? queryCount : 1); ++q) {
        if (queryPosition >= 0)
          point[queryPosition] = queryBase + q;
        for (int64_t k = 0; k < (keyPosition >= 0 ? keyCount : 1); ++k) {
          if (keyPosition >= 0)
            point[keyPosition] = k;
          int64_t offset = 0;
          bool dividedByZero = false;
          for (auto [dim, expr] : llvm::enumerate(map.getResults())) {
            int64_t index = evaluateAffine(expr, point.data(),
                                           symbolValues.data(), dividedByZero);
            if (dividedByZero || index < 0 || index >= tensor.shape[dim])
              return 1; // Outside the ids: leave the pair to the masks.
            offset += index * strides[dim];
          }
          double value = tensor.data[offset];
          range = {std::min(range.first, value),
                   std::max(range.second, value)};
        }
      }
      ranges.push_back(range);
    }
    bool allHold = true;
    for (auto [i, compare] : llvm::enumerate(einsum.getDataCompares())) {
      auto [a, b] = ranges[2 * i];
      auto [c, d] = ranges[2 * i + 1];
      bool never = false, always = false;
      switch (compare.getKind()) {
      case CompareKind::eq:
        never = b < c || d < a;
        always = a == b && c == d && a == c;
        break;
      case CompareKind::le:
        never = a > d;
        always = b <= c;
        break;
      case CompareKind::lt:
        never = a >= d;
        always = b < c;
        break;
      }
      if (never)
        return 0;
      allHold = allHold && always;
    }
    return allHold ? 2 : 1;
  }

  /// query rows whose tile skips key tile `step` keep `carried`, rows whose
  /// tile sees it full take the step computed without predicates, the rest
  /// the masked step already in `next`. A wrong classification therefore
  /// changes the result, which is what `attn-run --compare` checks.
  LogicalResult applyTileSchedule(IterateOp iterate, TileScheduleAttr tiles,
                                  int64_t step, ArrayRef<TensorRef> carried,
                                  SmallVectorImpl<TensorRef> &next) {
    StringRef query = tiles.getQuery().getValue();
    int64_t keyTiles = extents.lookup(iterate.getRank());
    SmallVector<int64_t> symbols;
    for (StringRef rank : tiles.getSymbols().getAsValueRange<StringAttr>())
      symbols.push_back(extents.lookup(rank));
    SmallVector<StringRef> dimRanks = llvm::to_vector(
        tiles.getDims().getAsValueRange<StringAttr>());
    // Class of this step per (query tile, fixed ranks), computed once.
    enum Class { Empty, Partial, Full };
    std::map<SmallVector<int64_t>, Class> classes;
    auto classify = [&](const SmallVector<int64_t> &dims) {
      auto it = classes.find(dims);
      if (it != classes.end())
        return it->second;
      Class c = Empty;
      for (Attribute attr : tiles.getRanges()) {
        KeyTileBounds b = evaluateKeyRange(cast<KeyRangeAttr>(attr), dims,
                                           symbols, keyTiles);
        if (step >= b.fullLower && step < b.fullUpper)
          c = Full;
        else if (step >= b.lower && step < b.upper && c == Empty)
          c = Partial;
      }
      // The run-time rule of data comparisons, on the pairs the affine
      // bounds visit.
      if (c != Empty && tiles.getData()) {
        auto d = static_cast<Class>(
            classifyByData(iterate, tiles, dims, dimRanks, step));
        c = d == Empty ? Empty : d == Full && c == Full ? Full : Partial;
      }
      return classes[dims] = c;
    };
    SmallVector<TensorRef> unmasked;
    auto getUnmasked = [&]() -> LogicalResult {
      if (!unmasked.empty())
        return success();
      ignorePredicates = true;
      LogicalResult result = runBlock(iterate.getBodyBlock(), unmasked);
      ignorePredicates = false;
      return result;
    };
    // The full class needs the unmasked step; compute it only if some tile
    // is full (checked lazily below).
    for (auto [i, init] : llvm::enumerate(iterate.getInits())) {
      auto producer = init.getDefiningOp<EinsumOp>();
      SmallVector<StringRef> ranks = llvm::to_vector(
          producer.getOutput().getAsValueRange<StringAttr>());
      Tensor merged = *next[i];
      SmallVector<int64_t> strides = merged.getStrides();
      SmallVector<int64_t> position(dimRanks.size(), 0);
      SmallVector<int64_t> at(ranks.size(), 0);
      for (int64_t e = 0; e < merged.getNumElements(); ++e) {
        unflatten(e, strides, at);
        for (auto [k, name] : llvm::enumerate(dimRanks)) {
          // The query tile index is fixed by a cascade.grid in the
          // scheduled form, and derived from the query row otherwise.
          auto fixed = fixedCoordinates.find(name);
          if (fixed != fixedCoordinates.end()) {
            position[k] = fixed->second;
            continue;
          }
          auto found = llvm::find(ranks, k == 0 ? query : name);
          int64_t coordinate = found == ranks.end()
                                   ? fixedCoordinates.lookup(name)
                                   : at[found - ranks.begin()];
          position[k] =
              k == 0 ? coordinate / tiles.getQueryTile() : coordinate;
        }
        switch (classify(position)) {
        case Empty:
          merged.data[e] = carried[i]->data[e];
          break;
        case Partial:
          break;
        case Full:
          if (failed(getUnmasked()))
            return failure();
          merged.data[e] = unmasked[i]->data[e];
          break;
        }
      }
      next[i] = std::make_shared<const Tensor>(std::move(merged));
    }
    return success();
  }

  FunctionOpInterface function;
  RankEnvironment env;
  llvm::StringMap<int64_t> extents;
  InterpretOptions options;
  std::vector<bool> sampled;
  llvm::StringMap<int64_t> fixedCoordinates;
  /// Set while evaluating a step for the key tiles a schedule calls full.
  bool ignorePredicates = false;
  llvm::DenseMap<Value, TensorRef> values;
  llvm::DenseMap<Operation *, BodyProgram> programs;
};

/// One Einsum evaluation: the loop nest over its iteration space.
class EinsumEvaluator {
public:
  EinsumEvaluator(EinsumOp einsum, const BodyProgram &program)
      : einsum(einsum), program(program) {}

  LogicalResult prepare(ArrayRef<TensorRef> operandTensors,
                        ArrayRef<TensorRef> dataTensors,
                        const llvm::StringMap<int64_t> &extents,
                        const llvm::StringMap<int64_t> &fixed,
                        const RankEnvironment &env);
  /// Restricts the evaluated output points to `sampled` coordinates of
  /// `rank` (others hold the fill value), when the Einsum has that rank.
  void setSample(StringRef rank, const std::vector<bool> *sampled);
  Tensor run();
  bool hadError() const { return failedAccess; }

private:
  std::optional<double> reduceFrom(int level);
  bool predicateHolds();

public:
  void setIgnorePredicate(bool ignore) { ignorePredicate = ignore; }

private:
  bool ignorePredicate = false;
  /// Constraints that must all hold.
  struct Conjunction {
    SmallVector<IndexFunction> constraints;
    SmallVector<bool> isEquality;
    bool holds(const int64_t *coordinates) const;
  };
  /// The predicate: one of these must hold (none: no predicate).
  SmallVector<Conjunction> disjuncts;
  /// Points past the end of a partitioned rank are outside the domain.
  Conjunction tails;
  /// The data comparisons: read i of data input i, compared in pairs.
  SmallVector<TensorRef> dataOperands;
  SmallVector<SmallVector<IndexFunction>> dataIndexFunctions;
  SmallVector<CompareKind> dataCompares;
  bool dataComparesHold();
  /// Reads element `functions(coordinates)` of `tensor`, or nullopt out of
  /// bounds (reported once).
  std::optional<double> read(const Tensor &tensor,
                             ArrayRef<IndexFunction> functions,
                             StringRef what, unsigned i);
  EinsumOp einsum;
  const BodyProgram &program;
  SmallVector<TensorRef> operands;
  SmallVector<SmallVector<IndexFunction>> indexFunctions;
  SmallVector<int64_t> coordinates;
  SmallVector<int64_t> rankExtents;
  SmallVector<unsigned> outputPositions;
  SmallVector<unsigned> reducedPositions;
  SmallVector<ReduceKind> reduceKinds;
  SmallVector<int64_t> outputShape;
  std::vector<double> scratch;
  SmallVector<double> operandValues;
  bool failedAccess = false;
  int64_t sampledOutput = -1;
  const std::vector<bool> *sampled = nullptr;
};

void EinsumEvaluator::setSample(StringRef rank,
                                const std::vector<bool> *coordinates) {
  for (auto [j, name] :
       llvm::enumerate(einsum.getOutput().getAsValueRange<StringAttr>()))
    if (name == rank) {
      sampledOutput = j;
      sampled = coordinates;
    }
}

LogicalResult EinsumEvaluator::prepare(ArrayRef<TensorRef> operandTensors,
                                       ArrayRef<TensorRef> dataTensors,
                                       const llvm::StringMap<int64_t> &extents,
                                       const llvm::StringMap<int64_t> &fixed,
                                       const RankEnvironment &env) {
  operands.assign(operandTensors.begin(), operandTensors.end());
  ArrayAttr ranks = einsum.getRanks();
  unsigned numRanks = ranks.size();
  coordinates.assign(numRanks, 0);
  rankExtents.assign(numRanks, 0);
  for (auto [i, attr] : llvm::enumerate(ranks)) {
    StringRef rank = cast<StringAttr>(attr).getValue();
    rankExtents[i] = extents.lookup(rank);
    auto it = fixed.find(rank);
    if (it != fixed.end())
      coordinates[i] = it->second;
  }
  SmallVector<int64_t> symbolValues;
  for (StringRef rank : einsum.getSymbols().getAsValueRange<StringAttr>())
    symbolValues.push_back(extents.lookup(rank));

  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>()) {
    outputPositions.push_back(einsum.getRankPosition(rank));
    outputShape.push_back(rankExtents[outputPositions.back()]);
  }
  for (Attribute attr : einsum.getReductions()) {
    auto reduction = cast<ReductionAttr>(attr);
    reducedPositions.push_back(
        einsum.getRankPosition(reduction.getRank().getValue()));
    reduceKinds.push_back(reduction.getKind());
  }

  // The index functions of one read (an operand or a data input), with the
  // shape it must have for these extents.
  auto compileRead = [&](const Tensor &operand, AffineMap map, StringRef what,
                         size_t i) -> FailureOr<SmallVector<IndexFunction>> {
    if (operand.getRank() != map.getNumResults())
      return einsum.emitError() << what << " #" << i << " has shape "
                                << operand.getShapeString() << " but is "
                                << "indexed by " << map.getNumResults()
                                << " expressions";
    SmallVector<IndexFunction> functions;
    for (auto [dim, expr] : llvm::enumerate(map.getResults())) {
      if (auto dimExpr = dyn_cast<AffineDimExpr>(expr)) {
        int64_t extent = rankExtents[dimExpr.getPosition()];
        if (operand.shape[dim] != extent)
          return einsum.emitError()
                 << what << " #" << i << " has shape "
                 << operand.getShapeString() << ": dimension " << dim
                 << " should be the extent of rank '"
                 << cast<StringAttr>(ranks[dimExpr.getPosition()]).getValue()
                 << "', " << extent;
      }
      FailureOr<IndexFunction> function =
          IndexFunction::get(expr, symbolValues, numRanks);
      if (failed(function))
        return einsum.emitError()
               << "the index of " << what << " #" << i << " in dimension "
               << dim
               << " divides by zero for these extents (is an extent "
                  "quotient such as H floordiv HKV zero?)";
      functions.push_back(std::move(*function));
    }
    return functions;
  };
  for (auto [i, operand, mapAttr] :
       llvm::enumerate(operands, einsum.getIndexingMaps())) {
    FailureOr<SmallVector<IndexFunction>> functions = compileRead(
        *operand, cast<AffineMapAttr>(mapAttr).getValue(), "operand", i);
    if (failed(functions))
      return failure();
    indexFunctions.push_back(std::move(*functions));
  }
  dataOperands.assign(dataTensors.begin(), dataTensors.end());
  for (auto [i, operand] : llvm::enumerate(dataOperands)) {
    FailureOr<SmallVector<IndexFunction>> functions =
        compileRead(*operand, einsum.getDataMap(i), "data input", i);
    if (failed(functions))
      return failure();
    dataIndexFunctions.push_back(std::move(*functions));
  }
  for (DataCompareAttr compare : einsum.getDataCompares())
    dataCompares.push_back(compare.getKind());

  for (IntegerSet set : einsum.getDisjuncts()) {
    Conjunction conjunction;
    for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
      FailureOr<IndexFunction> constraint =
          IndexFunction::get(set.getConstraint(i), symbolValues, numRanks);
      if (failed(constraint))
        return einsum.emitError()
               << "the predicate divides by zero for these extents";
      conjunction.constraints.push_back(std::move(*constraint));
      conjunction.isEquality.push_back(set.isEq(i));
    }
    disjuncts.push_back(std::move(conjunction));
  }
  // Points past the end of a partitioned rank are outside the domain:
  // extent(m) - 1 - (m1 * tile + m0) >= 0, where m1 is a rank of the Einsum
  // or fixed by an enclosing iterate.
  SmallVector<StringRef> rankNames =
      llvm::to_vector(ranks.getAsValueRange<StringAttr>());
  for (PartitionOp partition : env.getPartitionsOfInnerRanks(rankNames)) {
    IndexFunction bound;
    bound.constant = extents.lookup(partition.getRank()) - 1;
    int64_t outerPosition = einsum.getRankPosition(partition.getOuter());
    if (outerPosition >= 0)
      bound.terms.push_back(
          {static_cast<unsigned>(outerPosition), -partition.getTile()});
    else
      bound.constant -= fixed.lookup(partition.getOuter()) * partition.getTile();
    bound.terms.push_back(
        {static_cast<unsigned>(einsum.getRankPosition(partition.getInner())),
         -1});
    tails.constraints.push_back(bound);
    tails.isEquality.push_back(false);
  }
  scratch.assign(program.getNumRegisters(), 0.0);
  operandValues.assign(operands.size(), 0.0);
  return success();
}

bool EinsumEvaluator::Conjunction::holds(const int64_t *coordinates) const {
  for (auto [constraint, equality] : llvm::zip(constraints, isEquality)) {
    int64_t value = constraint(coordinates);
    if (equality ? value != 0 : value < 0)
      return false;
  }
  return true;
}

bool EinsumEvaluator::predicateHolds() {
  // The partition tails hold even on a full tile; the predicate holds where
  // one of its conjunctions does.
  if (!tails.holds(coordinates.data()))
    return false;
  if (ignorePredicate)
    return true;
  if (!disjuncts.empty() &&
      llvm::none_of(disjuncts, [&](const Conjunction &conjunction) {
        return conjunction.holds(coordinates.data());
      }))
    return false;
  return dataComparesHold();
}

std::optional<double>
EinsumEvaluator::read(const Tensor &tensor, ArrayRef<IndexFunction> functions,
                      StringRef what, unsigned i) {
  int64_t offset = 0, stride = 1;
  for (int64_t dim = tensor.getRank() - 1; dim >= 0; --dim) {
    int64_t index = functions[dim](coordinates.data());
    if (index < 0 || index >= tensor.shape[dim]) {
      if (!failedAccess) {
        InFlightDiagnostic diag = einsum.emitError();
        diag << what << " #" << i << " (shape " << tensor.getShapeString()
             << ") is read out of bounds: index " << index << " in dimension "
             << dim << " at point";
        for (auto [rank, coordinate] :
             llvm::zip(einsum.getRanks().getAsValueRange<StringAttr>(),
                       coordinates))
          diag << " " << rank << "=" << coordinate;
      }
      failedAccess = true;
      return std::nullopt;
    }
    offset += index * stride;
    stride *= tensor.shape[dim];
  }
  return tensor.data[offset];
}

bool EinsumEvaluator::dataComparesHold() {
  for (auto [i, kind] : llvm::enumerate(dataCompares)) {
    std::optional<double> lhs = read(*dataOperands[2 * i],
                                     dataIndexFunctions[2 * i], "data input",
                                     2 * i);
    std::optional<double> rhs =
        read(*dataOperands[2 * i + 1], dataIndexFunctions[2 * i + 1],
             "data input", 2 * i + 1);
    if (!lhs || !rhs)
      return false;
    bool holds = kind == CompareKind::eq   ? *lhs == *rhs
                 : kind == CompareKind::le ? *lhs <= *rhs
                                           : *lhs < *rhs;
    if (!holds)
      return false;
  }
  return true;
}

std::optional<double> EinsumEvaluator::reduceFrom(int level) {
  if (level < 0) {
    if (!predicateHolds())
      return std::nullopt;
    for (auto [i, operand] : llvm::enumerate(operands)) {
      std::optional<double> value =
          read(*operand, indexFunctions[i], "operand", i);
      if (!value)
        return std::nullopt;
      operandValues[i] = *value;
    }
    return program.run(operandValues.data(), coordinates.data(),
                       scratch.data());
  }
  unsigned position = reducedPositions[level];
  std::optional<double> accumulator;
  for (int64_t c = 0; c < rankExtents[position] && !failedAccess; ++c) {
    coordinates[position] = c;
    std::optional<double> value = reduceFrom(level - 1);
    if (value)
      accumulator = accumulator ? combineReduce(reduceKinds[level],
                                                *accumulator, *value)
                                : *value;
  }
  return accumulator;
}

Tensor EinsumEvaluator::run() {
  if (std::optional<std::string> problem =
          Tensor::checkAllocation(outputShape, sizeof(double))) {
    einsum.emitError("the reference interpreter cannot hold this result: ")
        << *problem;
    failedAccess = true;
    return Tensor();
  }
  Tensor result(outputShape);
  double fill = einsum.getFillValue();
  int64_t count = result.getNumElements();
  SmallVector<int64_t> point(outputPositions.size(), 0);
  for (int64_t flat = 0; flat < count && !failedAccess; ++flat) {
    for (auto [j, position] : llvm::enumerate(outputPositions))
      coordinates[position] = point[j];
    std::optional<double> value;
    if (sampledOutput < 0 || (*sampled)[point[sampledOutput]])
      value = reduceFrom(reducedPositions.size() - 1);
    result.data[flat] = value ? *value : fill;
    // Advance the row-major odometer over the output ranks.
    for (int64_t j = static_cast<int64_t>(point.size()) - 1; j >= 0; --j) {
      if (++point[j] < outputShape[j])
        break;
      point[j] = 0;
    }
  }
  return result;
}

LogicalResult FunctionInterpreter::runEinsum(EinsumOp einsum) {
  auto programIt = programs.find(einsum);
  if (programIt == programs.end()) {
    FailureOr<BodyProgram> program = BodyProgram::compile(einsum, extents);
    if (failed(program))
      return failure();
    programIt = programs.try_emplace(einsum, std::move(*program)).first;
  }
  // The computed values of `inputs`; `what` names them when one is missing.
  auto lookupAll = [&](ValueRange inputs, StringRef what,
                       SmallVectorImpl<TensorRef> &found) -> LogicalResult {
    for (Value input : inputs) {
      auto it = values.find(input);
      if (it == values.end())
        return einsum.emitError(what);
      found.push_back(it->second);
    }
    return success();
  };
  SmallVector<TensorRef> operands, dataOperands;
  if (failed(lookupAll(einsum.getInputs(),
                       "operand was not computed by the reference "
                       "interpreter (is it produced by an op it does not "
                       "run?)",
                       operands)) ||
      failed(lookupAll(einsum.getDataInputs(),
                       "data input was not computed by the reference "
                       "interpreter",
                       dataOperands)))
    return failure();
  EinsumEvaluator evaluator(einsum, programIt->second);
  if (failed(evaluator.prepare(operands, dataOperands, extents,
                               fixedCoordinates, env)))
    return failure();
  if (!options.sampledRank.empty())
    evaluator.setSample(options.sampledRank, &sampled);
  evaluator.setIgnorePredicate(ignorePredicates);
  Tensor result = evaluator.run();
  if (evaluator.hadError())
    return failure();
  values[einsum.getResult()] = std::make_shared<const Tensor>(std::move(result));
  return success();
}

} // namespace

FailureOr<SmallVector<Tensor>>
mlir::cascade::interpretFunction(FunctionOpInterface function,
                                 ArrayRef<Tensor> inputs,
                                 const InterpretOptions &options) {
  if (function.getFunctionBody().empty())
    return function.emitError("cannot interpret a function without a body");
  ArrayRef<Type> argumentTypes = function.getArgumentTypes();
  if (inputs.size() != argumentTypes.size())
    return function.emitError() << "expects " << argumentTypes.size()
                                << " inputs but got " << inputs.size();
  SmallVector<SmallVector<int64_t>> shapes;
  // A scalar argument (a runtime extent) comes as a 0-d tensor holding an
  // integer.
  SmallVector<std::optional<int64_t>> scalars(inputs.size());
  for (auto [i, input, type] : llvm::enumerate(inputs, argumentTypes)) {
    if (type.isIntOrIndex()) {
      scalars[i] = input.getScalarInteger();
      if (!scalars[i])
        return function.emitError()
               << "argument #" << i << " is a scalar of type " << type
               << ": pass a 0-d tensor holding an integer";
      shapes.push_back({});
      continue;
    }
    auto tensorType = dyn_cast<RankedTensorType>(type);
    if (!tensorType)
      return function.emitError() << "argument #" << i
                                  << " is not a ranked tensor";
    bool matches = tensorType.getRank() == input.getRank();
    for (int64_t d = 0; matches && d < tensorType.getRank(); ++d)
      matches = tensorType.isDynamicDim(d) ||
                tensorType.getDimSize(d) == input.shape[d];
    if (!matches)
      return function.emitError() << "argument #" << i << " has type "
                                  << type << " but the input has shape "
                                  << input.getShapeString();
    shapes.push_back(input.shape);
  }
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return function.emitError("the function's ranks are inconsistent; run "
                              "the verifier for details");
  std::string error;
  FailureOr<llvm::StringMap<int64_t>> extents =
      env->resolveExtents(shapes, error, scalars);
  if (failed(extents))
    return function.emitError() << error;
  if (!options.sampledRank.empty()) {
    // Sampling is exact only when the rows of the rank are independent.
    WalkResult walk = function.walk([&](EinsumOp einsum) {
      if (einsum.isReduced(options.sampledRank))
        return WalkResult::interrupt();
      for (auto [input, mapAttr] :
           llvm::zip(einsum.getInputs(), einsum.getIndexingMaps())) {
        AffineMap map = cast<AffineMapAttr>(mapAttr).getValue();
        int64_t position = einsum.getRankPosition(options.sampledRank);
        if (position < 0)
          continue;
        // A read at another coordinate than the point's own is exact when
        // the dimension read is not itself sampled: an argument, or a
        // tensor whose rank there is another (GLA reads its prefix sums
        // over keys at p + M - P).
        auto producer = input.getDefiningOp<EinsumOp>();
        auto argument = dyn_cast<BlockArgument>(input);
        bool whole = argument && argument.getOwner()->isEntryBlock() &&
                     isa<FunctionOpInterface>(argument.getOwner()->getParentOp());
        for (auto [dim, expr] : llvm::enumerate(map.getResults()))
          if (expr.isFunctionOfDim(position) && !isa<AffineDimExpr>(expr) &&
              !whole &&
              (!producer ||
               cast<StringAttr>(producer.getOutput()[dim]).getValue() ==
                   options.sampledRank))
            return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return function.emitError("cannot sample rank '")
             << options.sampledRank
             << "': some Einsum reduces it or reads it other than by the "
                "bare rank, so its rows are not independent";
  }
  FunctionInterpreter interpreter(function, std::move(*env),
                                  std::move(*extents), options);
  return interpreter.run(inputs);
}
