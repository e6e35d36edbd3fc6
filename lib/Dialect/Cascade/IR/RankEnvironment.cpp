//===- RankEnvironment.cpp - Function-scoped rank names and extents -------===//
//
// Collects which function argument dimension or partition binds each rank.
//
//===----------------------------------------------------------------------===//

#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {
/// Fills a RankEnvironment, remembering whether anything conflicted.
struct BindingCollector {
  FunctionOpInterface function;
  ArrayRef<Operation *> reportAt;
  llvm::MapVector<StringRef, RankBinding> &bindings;
  llvm::DenseMap<std::pair<unsigned, unsigned>, StringRef> &argumentDims;
  SmallVector<std::tuple<unsigned, unsigned, StringRef>> &uses;
  bool failed = false;
  bool reported = false;
  llvm::StringMap<PartitionOp> partitionsByOuter;

  std::optional<int64_t> staticDim(unsigned arg, unsigned dim) {
    auto type = dyn_cast<RankedTensorType>(function.getArgumentTypes()[arg]);
    if (!type || dim >= type.getRank() || type.isDynamicDim(dim))
      return std::nullopt;
    return type.getDimSize(dim);
  }

  void bindArgumentDim(StringRef rank, unsigned arg, unsigned dim,
                       Operation *origin) {
    uses.push_back({arg, dim, rank});
    argumentDims.try_emplace({arg, dim}, rank);
    std::optional<int64_t> extent = staticDim(arg, dim);
    auto [it, inserted] = bindings.try_emplace(rank);
    RankBinding &binding = it->second;
    if (inserted) {
      binding.kind = RankBinding::Kind::Argument;
      binding.argNumber = arg;
      binding.dim = dim;
      binding.origin = origin;
      binding.staticExtent = extent;
      return;
    }
    if (binding.kind == RankBinding::Kind::Scalar) {
      report(origin, "rank '" + rank.str() + "' is the value of scalar "
                         "argument #" + std::to_string(binding.argNumber) +
                         " and cannot also index argument #" +
                         std::to_string(arg) + " dimension " +
                         std::to_string(dim));
      return;
    }
    if (binding.kind != RankBinding::Kind::Argument) {
      report(origin, "rank '" + rank.str() +
                         "' is declared by a cascade.partition and cannot "
                         "also index argument #" +
                         std::to_string(arg) + " dimension " +
                         std::to_string(dim) + " directly");
      return;
    }
    if (extent && binding.staticExtent && *extent != *binding.staticExtent) {
      report(origin, "rank '" + rank.str() + "' has extent " +
                         std::to_string(*extent) + " at argument #" +
                         std::to_string(arg) + " dimension " +
                         std::to_string(dim) + " but extent " +
                         std::to_string(*binding.staticExtent) +
                         " at argument #" + std::to_string(binding.argNumber) +
                         " dimension " + std::to_string(binding.dim));
      return;
    }
    if (extent && !binding.staticExtent)
      binding.staticExtent = extent;
  }

  void report(Operation *origin, const std::string &message) {
    failed = true;
    if (llvm::is_contained(reportAt, origin)) {
      origin->emitOpError() << message;
      reported = true;
    }
  }

  /// `%w: index {cascade.extent_of = "w", cascade.default = 256}`.
  void collectScalarArgument(unsigned arg) {
    Attribute attr = function.getArgAttr(arg, "cascade.extent_of");
    Attribute defaultAttr = function.getArgAttr(arg, "cascade.default");
    std::string where = "argument #" + std::to_string(arg);
    if (!attr) {
      if (defaultAttr)
        report(function, where + " has a 'cascade.default' but no "
                                 "'cascade.extent_of' naming its rank");
      return;
    }
    auto rank = dyn_cast<StringAttr>(attr);
    if (!rank || !isValidRankName(rank.getValue())) {
      report(function, where + ": 'cascade.extent_of' must name a rank (a "
                               "lower-case name), e.g. \"w\"");
      return;
    }
    Type type = function.getArgumentTypes()[arg];
    if (!type.isIndex() && !type.isSignlessInteger(32) &&
        !type.isSignlessInteger(64)) {
      report(function, where + " gives the extent of rank '" +
                           rank.getValue().str() +
                           "', so it must be an index, i32 or i64");
      return;
    }
    RankBinding binding;
    binding.kind = RankBinding::Kind::Scalar;
    binding.argNumber = arg;
    binding.origin = function;
    if (defaultAttr) {
      auto value = dyn_cast<IntegerAttr>(defaultAttr);
      if (!value || value.getValue().slt(1)) {
        report(function, where + ": 'cascade.default' must be an integer "
                                 ">= 1");
        return;
      }
      binding.defaultValue = value.getInt();
    }
    if (!bindings.try_emplace(rank.getValue(), binding).second)
      report(function, "rank '" + rank.getValue().str() +
                           "' is named by two argument attributes");
  }

  void collectArgumentAttributes() {
    for (unsigned arg = 0, e = function.getNumArguments(); arg < e; ++arg)
      collectScalarArgument(arg);
    for (unsigned arg = 0, e = function.getNumArguments(); arg < e; ++arg) {
      auto names = function.getArgAttrOfType<ArrayAttr>(arg, "cascade.ranks");
      if (!names)
        continue;
      auto type = dyn_cast<RankedTensorType>(function.getArgumentTypes()[arg]);
      if (!type || type.getRank() != static_cast<int64_t>(names.size())) {
        report(function, "argument #" + std::to_string(arg) +
                             " has a 'cascade.ranks' attribute whose length "
                             "does not match its tensor rank");
        continue;
      }
      for (auto [dim, name] : llvm::enumerate(names)) {
        auto rank = dyn_cast<StringAttr>(name);
        if (!rank || !isValidRankName(rank.getValue())) {
          report(function, "argument #" + std::to_string(arg) +
                               " names dimension " + std::to_string(dim) +
                               " with an invalid rank name");
          continue;
        }
        bindArgumentDim(rank.getValue(), arg, dim, function);
      }
    }
  }

  /// The rank whose whole range an index expression walks: `m` for the
  /// expression `m`, and the parent `m` for `m1 * T + m0` when
  /// `cascade.partition m = m1 * T + m0` is declared.
  std::optional<StringRef> getIndexedRank(AffineExpr expr, ArrayAttr ranks) {
    auto nameOf = [&](AffineExpr e) -> std::optional<StringRef> {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        return cast<StringAttr>(ranks[dim.getPosition()]).getValue();
      return std::nullopt;
    };
    if (std::optional<StringRef> name = nameOf(expr))
      return name;
    if (expr.getKind() != AffineExprKind::Add)
      return std::nullopt;
    auto sum = cast<AffineBinaryOpExpr>(expr);
    for (auto [scaled, inner] : {std::pair(sum.getLHS(), sum.getRHS()),
                                 std::pair(sum.getRHS(), sum.getLHS())}) {
      // `m1 * T` (or just `m1` when T = 1, which AffineExpr folds to).
      std::optional<int64_t> tile;
      std::optional<StringRef> outer;
      if (scaled.getKind() == AffineExprKind::Mul) {
        auto product = cast<AffineBinaryOpExpr>(scaled);
        if (auto constant = dyn_cast<AffineConstantExpr>(product.getRHS()))
          tile = constant.getValue();
        outer = nameOf(product.getLHS());
      } else if ((outer = nameOf(scaled))) {
        tile = 1;
      }
      std::optional<StringRef> innerName = nameOf(inner);
      if (!tile || !outer || !innerName)
        continue;
      auto it = partitionsByOuter.find(*outer);
      if (it != partitionsByOuter.end() &&
          it->second.getInner() == *innerName &&
          it->second.getTile() == *tile)
        return it->second.getRank();
    }
    return std::nullopt;
  }

  void collectEinsumUses() {
    Block *entry = function.getFunctionBody().empty()
                       ? nullptr
                       : &function.getFunctionBody().front();
    function.walk([&](EinsumOp einsum) {
      ArrayAttr ranks = einsum.getRanks();
      // A malformed Einsum has no reads; its own verifier reports it.
      for (auto [operand, map] : einsum.getReads()) {
        auto arg = dyn_cast<BlockArgument>(operand);
        if (!arg || arg.getOwner() != entry)
          continue;
        if (map.getNumDims() != ranks.size())
          continue;
        for (auto [dim, expr] : llvm::enumerate(map.getResults())) {
          std::optional<StringRef> rank = getIndexedRank(expr, ranks);
          if (rank)
            bindArgumentDim(*rank, arg.getArgNumber(), dim, einsum);
        }
      }
    });
  }

  void collectPartitions() {
    function.walk([&](PartitionOp partition) {
      for (StringRef declared : {partition.getOuter(), partition.getInner()}) {
        if (bindings.count(declared)) {
          report(partition, "rank '" + declared.str() +
                                "' is already bound; a partition must "
                                "introduce new rank names");
          return;
        }
      }
      RankBinding outer;
      outer.kind = RankBinding::Kind::PartitionOuter;
      outer.partition = partition;
      outer.origin = partition;
      RankBinding inner = outer;
      inner.kind = RankBinding::Kind::PartitionInner;
      inner.staticExtent = partition.getTile();
      bindings[partition.getOuter()] = outer;
      bindings[partition.getInner()] = inner;
      partitionsByOuter[partition.getOuter()] = partition;
    });
  }

  /// A rank that only a grid's `tile_extents` names is local to the work
  /// item's tile, with that extent (every grid that names it must agree).
  void collectTileLocalRanks() {
    function.walk([&](GridOp grid) {
      for (NamedAttribute entry : grid.getTileExtents()) {
        StringRef rank = entry.getName().getValue();
        auto extent = dyn_cast<IntegerAttr>(entry.getValue());
        if (!extent)
          continue;
        auto it = bindings.find(rank);
        if (it == bindings.end()) {
          RankBinding local;
          local.kind = RankBinding::Kind::TileLocal;
          local.origin = grid;
          local.staticExtent = extent.getInt();
          bindings[rank] = local;
          continue;
        }
        if (it->second.kind == RankBinding::Kind::TileLocal &&
            it->second.staticExtent != extent.getInt())
          report(grid, "tile-local rank '" + rank.str() + "' has extent " +
                           std::to_string(extent.getInt()) +
                           " here but " +
                           std::to_string(*it->second.staticExtent) +
                           " in another grid");
      }
    });
  }

  /// Outer extents need the parent's, known once every use is collected.
  void resolvePartitionExtents() {
    for (auto &entry : bindings) {
      RankBinding &binding = entry.second;
      if (binding.kind != RankBinding::Kind::PartitionOuter)
        continue;
      const RankBinding *parent = nullptr;
      auto it = bindings.find(binding.partition.getRank());
      if (it != bindings.end())
        parent = &it->second;
      if (!parent) {
        report(binding.partition,
               "partitions rank '" + binding.partition.getRank().str() +
                   "', which no function argument or partition binds");
        continue;
      }
      if (parent->staticExtent)
        binding.staticExtent = llvm::divideCeil(*parent->staticExtent,
                                                binding.partition.getTile());
    }
  }
};
} // namespace

FailureOr<RankEnvironment>
RankEnvironment::build(FunctionOpInterface function,
                       ArrayRef<Operation *> reportAt, bool *reportedAny) {
  RankEnvironment env;
  BindingCollector builder{function, reportAt, env.bindings, env.argumentDims,
                  env.uses};
  builder.collectArgumentAttributes();
  builder.collectPartitions();
  builder.collectEinsumUses();
  builder.collectTileLocalRanks();
  builder.resolvePartitionExtents();
  if (reportedAny)
    *reportedAny = builder.reported;
  if (builder.failed)
    return failure();
  return env;
}

const RankBinding *RankEnvironment::lookup(StringRef rank) const {
  auto it = bindings.find(rank);
  return it == bindings.end() ? nullptr : &it->second;
}

std::optional<int64_t> RankEnvironment::getStaticExtent(StringRef rank) const {
  if (const RankBinding *binding = lookup(rank))
    return binding->staticExtent;
  return std::nullopt;
}

PartitionOp RankEnvironment::getPartitionOfInner(StringRef rank) const {
  const RankBinding *binding = lookup(rank);
  if (binding && binding->kind == RankBinding::Kind::PartitionInner)
    return binding->partition;
  return {};
}

PartitionOp RankEnvironment::getPartitionOfOuter(StringRef rank) const {
  const RankBinding *binding = lookup(rank);
  if (binding && binding->kind == RankBinding::Kind::PartitionOuter)
    return binding->partition;
  return {};
}

SmallVector<PartitionOp>
RankEnvironment::getPartitionsOfInnerRanks(ArrayRef<StringRef> ranks) const {
  SmallVector<PartitionOp> partitions;
  for (StringRef rank : ranks)
    if (PartitionOp partition = getPartitionOfInner(rank))
      partitions.push_back(partition);
  return partitions;
}

std::optional<StringRef>
RankEnvironment::getRankOfArgumentDim(unsigned argNumber, unsigned dim) const {
  auto it = argumentDims.find({argNumber, dim});
  if (it == argumentDims.end())
    return std::nullopt;
  return it->second;
}

SmallVector<StringRef> RankEnvironment::getRankNames() const {
  SmallVector<StringRef> names;
  for (auto &entry : bindings)
    names.push_back(entry.first);
  return names;
}

std::optional<StringRef>
RankEnvironment::getRankOfScalarArgument(unsigned argNumber) const {
  for (auto &entry : bindings)
    if (entry.second.kind == RankBinding::Kind::Scalar &&
        entry.second.argNumber == argNumber)
      return entry.first;
  return std::nullopt;
}

FailureOr<llvm::StringMap<int64_t>> RankEnvironment::resolveExtents(
    ArrayRef<SmallVector<int64_t>> argumentShapes, std::string &error,
    ArrayRef<std::optional<int64_t>> scalarValues) const {
  llvm::StringMap<int64_t> extents;
  for (auto &entry : bindings) {
    const RankBinding &binding = entry.second;
    if (binding.kind != RankBinding::Kind::Scalar)
      continue;
    std::optional<int64_t> value = binding.argNumber < scalarValues.size()
                                       ? scalarValues[binding.argNumber]
                                       : std::nullopt;
    if (!value)
      value = binding.defaultValue;
    if (!value) {
      error = "scalar argument #" + std::to_string(binding.argNumber) +
              " (the extent of rank '" + entry.first.str() +
              "') has no value and no 'cascade.default'";
      return failure();
    }
    // At least 1, as the rewrites assume of every extent that is not a
    // reduced rank's (docs/Semantics.md): a zero window would mask every
    // key.
    if (*value < 1 || *value >= (int64_t(1) << 31)) {
      error = "scalar argument #" + std::to_string(binding.argNumber) +
              " (the extent of rank '" + entry.first.str() + "') is " +
              std::to_string(*value) + "; an extent given by a scalar must "
              "be at least 1 and below 2^31";
      return failure();
    }
    extents[entry.first] = *value;
  }
  llvm::StringMap<std::pair<unsigned, unsigned>> firstUse;
  for (auto [arg, dim, rank] : uses) {
    if (arg >= argumentShapes.size() || dim >= argumentShapes[arg].size()) {
      error = "argument #" + std::to_string(arg) + " has no dimension " +
              std::to_string(dim);
      return failure();
    }
    int64_t extent = argumentShapes[arg][dim];
    // Kernels compute coordinates and masks in 32 bits (the CPU kernels'
    // shape check and the GPU kernels' i32 masks, docs/GPU.md "ABI").
    if (extent >= (int64_t(1) << 31)) {
      error = "argument #" + std::to_string(arg) + " dimension " +
              std::to_string(dim) + " (rank '" + rank.str() + "') has size " +
              std::to_string(extent) + "; sizes must be below 2^31";
      return failure();
    }
    auto [it, inserted] = extents.try_emplace(rank, extent);
    if (inserted) {
      firstUse[rank] = {arg, dim};
      continue;
    }
    if (it->second != extent) {
      auto [firstArg, firstDim] = firstUse[rank];
      error = "rank '" + rank.str() + "' has extent " + std::to_string(extent) +
              " at argument #" + std::to_string(arg) + " dimension " +
              std::to_string(dim) + " but " + std::to_string(it->second) +
              " at argument #" + std::to_string(firstArg) + " dimension " +
              std::to_string(firstDim);
      return failure();
    }
  }
  // Partitions in declaration order; a nested partition follows its parent.
  for (auto &entry : bindings) {
    const RankBinding &binding = entry.second;
    if (binding.kind == RankBinding::Kind::Argument ||
        binding.kind == RankBinding::Kind::Scalar)
      continue;
    if (binding.kind == RankBinding::Kind::TileLocal) {
      extents[entry.first] = *binding.staticExtent;
      continue;
    }
    PartitionOp partition = binding.partition;
    if (binding.kind == RankBinding::Kind::PartitionInner) {
      extents[entry.first] = partition.getTile();
      continue;
    }
    auto parent = extents.find(partition.getRank());
    if (parent == extents.end()) {
      error = "the extent of rank '" + partition.getRank().str() +
              "', partitioned into '" + entry.first.str() +
              "', is not known";
      return failure();
    }
    extents[entry.first] =
        llvm::divideCeil(parent->second, partition.getTile());
  }
  return extents;
}
