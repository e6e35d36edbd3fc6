//===- PassCount.cpp - Passes a cascade makes over each rank --------------===//
//
// Computes, for each reduced rank R, when every Einsum can run: an Einsum
// that iterates R (or a sub-rank of R) runs in the first pass in which all
// of its operands are available; a result that depends on a full reduction
// of R is available only from the next pass on. docs/Passes.md states the
// definition this implements.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// When a value can be read by an Einsum that iterates the rank.
struct Availability {
  /// The pass that produces it (0: before any pass, e.g. an argument).
  unsigned pass = 0;
  /// Whether it is complete only at the end of `pass`.
  bool completeAtEnd = false;

  /// The first pass in which an Einsum iterating the rank may read it.
  unsigned firstReader() const {
    return completeAtEnd ? pass + 1 : std::max(pass, 1u);
  }
};

/// The ranks a rank is split into (transitively), with the rank itself.
class RankFamilies {
public:
  explicit RankFamilies(const RankEnvironment &env) : env(env) {}

  /// The rank that `rank` is (transitively) a part of, or `rank`.
  StringRef getRoot(StringRef rank) const {
    while (true) {
      if (PartitionOp p = env.getPartitionOfInner(rank))
        rank = p.getRank();
      else if (PartitionOp p = env.getPartitionOfOuter(rank))
        rank = p.getRank();
      else
        return rank;
    }
  }
  bool isInFamily(StringRef rank, StringRef root) const {
    return getRoot(rank) == root;
  }

private:
  const RankEnvironment &env;
};

/// Walks a function in program order for one rank, assigning passes.
class RankPassWalker {
public:
  RankPassWalker(StringRef root, const RankFamilies &families,
                 RankPasses &result)
      : root(root), families(families), result(result) {}

  void walkBlock(Block &block) {
    for (Operation &op : block) {
      if (auto einsum = dyn_cast<EinsumOp>(op))
        visitEinsum(einsum);
      else if (auto iterate = dyn_cast<IterateOp>(op))
        visitIterate(iterate);
    }
  }

  /// The pass at which an iterate over the rank runs, per iterate.
  llvm::DenseMap<Operation *, unsigned> iteratePass;
  llvm::DenseMap<Value, Availability> availability;
  /// Results of iterates over the rank: the state carried along it.
  SmallVector<Value> carried;

private:
  Availability get(Value value) const {
    auto it = availability.find(value);
    return it == availability.end() ? Availability() : it->second;
  }

  bool iteratesRank(EinsumOp einsum) const {
    return llvm::any_of(einsum.getRanks().getAsValueRange<StringAttr>(),
                        [&](StringRef r) { return families.isInFamily(r, root); });
  }

  /// A reduction that leaves nothing of the rank in its output.
  bool reducesRankFully(EinsumOp einsum) const {
    bool reducesFamily = llvm::any_of(einsum.getReductions(), [&](Attribute a) {
      return families.isInFamily(
          cast<ReductionAttr>(a).getRank().getValue(), root);
    });
    bool keepsFamily =
        llvm::any_of(einsum.getOutput().getAsValueRange<StringAttr>(),
                     [&](StringRef r) { return families.isInFamily(r, root); });
    return reducesFamily && !keepsFamily;
  }

  void visitEinsum(EinsumOp einsum) {
    Availability out;
    if (iteratesRank(einsum)) {
      result.iterates.insert(einsum);
      unsigned pass = 1;
      for (Value operand : einsum.getInputs())
        pass = std::max(pass, get(operand).firstReader());
      out = {pass, reducesRankFully(einsum)};
    } else {
      // Runs between passes: as soon as its operands are complete.
      for (Value operand : einsum.getInputs())
        out.pass = std::max(out.pass, get(operand).pass);
      for (Value operand : einsum.getInputs()) {
        Availability in = get(operand);
        if (in.pass == out.pass && in.completeAtEnd)
          out.completeAtEnd = true;
      }
    }
    result.passOf[einsum] = std::max(out.pass, 1u);
    if (out.completeAtEnd)
      result.completesPass.insert(einsum);
    availability[einsum.getResult()] = out;
  }

  void visitIterate(IterateOp iterate) {
    if (!families.isInFamily(iterate.getRank(), root)) {
      // An ordinary loop for this rank: its body decides.
      for (auto [arg, init] : llvm::zip(iterate.getBodyBlock().getArguments(),
                                        iterate.getInits()))
        availability[arg] = get(init);
      walkBlock(iterate.getBodyBlock());
      auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
      for (auto [res, init, yielded] :
           llvm::zip(iterate.getResults(), iterate.getInits(),
                     yield.getValues())) {
        Availability a = get(init), b = get(yielded);
        availability[res] = {std::max(a.pass, b.pass),
                             a.completeAtEnd || b.completeAtEnd};
      }
      return;
    }
    // A walk over the rank: one pass, in which every step's Einsums run.
    // Carried updates are not barriers; the results are complete only when
    // the walk ends.
    unsigned pass = 1;
    for (Value init : iterate.getInits())
      pass = std::max(pass, get(init).firstReader());
    iterate.getBody().walk([&](Operation *op) {
      for (Value operand : op->getOperands())
        if (!iterate->isAncestor(operand.getParentBlock()->getParentOp()))
          pass = std::max(pass, get(operand).firstReader());
    });
    iteratePass[iterate] = pass;
    iterate.getBody().walk([&](EinsumOp einsum) {
      result.passOf[einsum] = pass;
      if (iteratesRank(einsum))
        result.iterates.insert(einsum);
      availability[einsum.getResult()] = {pass, false};
    });
    for (Value res : iterate.getResults()) {
      availability[res] = {pass, true};
      carried.push_back(res);
    }
  }

  StringRef root;
  const RankFamilies &families;
  RankPasses &result;
};

/// The pass in which `user` reads its operands, or nullopt for a
/// terminator.
std::optional<unsigned>
getReaderPass(Operation *user, const RankPasses &info,
              const llvm::DenseMap<Operation *, unsigned> &iteratePass) {
  if (auto it = info.passOf.find(user); it != info.passOf.end())
    return it->second;
  if (auto it = iteratePass.find(user); it != iteratePass.end())
    return it->second;
  if (auto iterate = dyn_cast<IterateOp>(user)) {
    // An iterate over another rank: its first Einsum decides.
    std::optional<unsigned> first;
    iterate.getBody().walk([&](EinsumOp einsum) {
      if (!first)
        first = info.passOf.lookup(einsum);
    });
    return first;
  }
  if (Operation *parent = user->getParentOp(); parent && !isa<FunctionOpInterface>(parent))
    return getReaderPass(parent, info, iteratePass);
  return std::nullopt;
}

} // namespace

std::string CascadePassCount::getTensorName(Value value) {
  if (auto einsum = value.getDefiningOp<EinsumOp>())
    if (std::optional<StringRef> name = einsum.getName())
      return name->str();
  if (auto iterate = value.getDefiningOp<IterateOp>()) {
    // Named after the Einsum that produced the final step.
    unsigned i = cast<OpResult>(value).getResultNumber();
    auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
    if (auto einsum = yield.getValues()[i].getDefiningOp<EinsumOp>())
      if (std::optional<StringRef> name = einsum.getName())
        return name->str();
    return llvm::formatv("iterate#{0}", i).str();
  }
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    if (auto iterate = dyn_cast<IterateOp>(arg.getOwner()->getParentOp()))
      return getTensorName(iterate.getResult(arg.getArgNumber())) +
             " (previous step)";
    return llvm::formatv("arg{0}", arg.getArgNumber()).str();
  }
  return "?";
}

/// The extent of `rank` as an expression: the tile for a partition's inner
/// rank, ceil(M/T) for its outer rank, the upper-case name otherwise.
static std::string getExtentExpression(const RankEnvironment &env,
                                       StringRef rank) {
  if (PartitionOp p = env.getPartitionOfInner(rank))
    return std::to_string(p.getTile());
  if (PartitionOp p = env.getPartitionOfOuter(rank))
    return llvm::formatv("ceil({0}/{1})", getExtentName(p.getRank()),
                         p.getTile())
        .str();
  if (std::optional<int64_t> extent = env.getStaticExtent(rank))
    return std::to_string(*extent);
  return getExtentName(rank);
}

std::string CascadePassCount::getTensorSize(Value value) const {
  SmallVector<std::string> factors;
  if (auto iterate = value.getDefiningOp<IterateOp>()) {
    unsigned i = cast<OpResult>(value).getResultNumber();
    value = cast<YieldOp>(iterate.getBodyBlock().getTerminator()).getValues()[i];
  }
  if (auto einsum = value.getDefiningOp<EinsumOp>()) {
    for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
      factors.push_back(getExtentExpression(environment, rank));
  } else if (auto arg = dyn_cast<BlockArgument>(value);
             arg && arg.getOwner()->isEntryBlock() &&
             isa<FunctionOpInterface>(arg.getOwner()->getParentOp())) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    for (unsigned dim = 0; type && dim < type.getRank(); ++dim) {
      if (std::optional<StringRef> rank =
              environment.getRankOfArgumentDim(arg.getArgNumber(), dim))
        factors.push_back(getExtentExpression(environment, *rank));
      else if (!type.isDynamicDim(dim))
        factors.push_back(std::to_string(type.getDimSize(dim)));
      else
        factors.push_back(llvm::formatv("dim{0}", dim).str());
    }
  }
  if (factors.empty())
    return "1";
  return llvm::join(factors, "*");
}

FailureOr<CascadePassCount>
CascadePassCount::compute(FunctionOpInterface function) {
  FailureOr<RankEnvironment> env = RankEnvironment::build(function, {function});
  if (failed(env))
    return failure();
  CascadePassCount analysis;
  analysis.function = function;
  analysis.environment = std::move(*env);
  RankFamilies families(analysis.environment);

  // The ranks some Einsum reduces, by their root, in first-use order.
  llvm::SetVector<StringRef> roots;
  function.walk([&](EinsumOp einsum) {
    for (Attribute attr : einsum.getReductions())
      roots.insert(families.getRoot(cast<ReductionAttr>(attr).getRank().getValue()));
  });

  Region &body = function.getFunctionBody();
  if (body.empty())
    return analysis;
  for (StringRef root : roots) {
    RankPasses info;
    info.rank = root.str();
    RankPassWalker walker(root, families, info);
    walker.walkBlock(body.front());

    info.passes = 1;
    for (Operation *op : info.iterates)
      info.passes = std::max(info.passes, info.passOf.lookup(op));
    // The footprint across each barrier.
    SmallVector<Value> tensors;
    for (BlockArgument arg : body.front().getArguments())
      tensors.push_back(arg);
    function.walk([&](Operation *op) {
      if (isa<EinsumOp>(op) &&
          !op->getParentOfType<IterateOp>())
        tensors.push_back(op->getResult(0));
      if (auto iterate = dyn_cast<IterateOp>(op))
        for (Value res : iterate.getResults())
          tensors.push_back(res);
    });
    for (unsigned k = 1; k < info.passes; ++k) {
      Barrier barrier;
      barrier.afterPass = k;
      for (Value tensor : tensors) {
        bool readBefore = false, readAfter = false;
        for (Operation *user : tensor.getUsers()) {
          std::optional<unsigned> pass =
              getReaderPass(user, info, walker.iteratePass);
          if (!pass)
            continue;
          (*pass <= k ? readBefore : readAfter) = true;
        }
        bool isArgument = isa<BlockArgument>(tensor);
        TensorFootprint footprint{getTensorName(tensor),
                                  analysis.getTensorSize(tensor)};
        if (isArgument) {
          if (readBefore && readAfter)
            barrier.reread.push_back(footprint);
          continue;
        }
        if (walker.availability.lookup(tensor).pass <= k && readAfter)
          barrier.held.push_back(footprint);
      }
      info.barriers.push_back(std::move(barrier));
    }
    for (Value carried : walker.carried)
      info.carried.push_back(
          {getTensorName(carried), analysis.getTensorSize(carried)});
    analysis.ranks.push_back(std::move(info));
  }
  return analysis;
}

unsigned CascadePassCount::getPasses(StringRef rank) const {
  for (const RankPasses &info : ranks)
    if (info.rank == rank)
      return info.passes;
  return 0;
}

const RankPasses *CascadePassCount::getDominantRank() const {
  const RankPasses *best = nullptr;
  // Most passes; on a tie, the rank more Einsums iterate (m over e).
  for (const RankPasses &info : ranks)
    if (!best || info.passes > best->passes ||
        (info.passes == best->passes &&
         info.iterates.size() > best->iterates.size()))
      best = &info;
  return best;
}

std::vector<BarrierDependency>
CascadePassCount::getBarrierDependencies(const RankPasses &info) {
  std::vector<BarrierDependency> dependencies;
  auto passOf = [&](Operation *op) -> unsigned {
    auto it = info.passOf.find(op);
    return it == info.passOf.end() ? 0 : it->second;
  };
  // The full reduction `value` waits for: back through the Einsums that
  // complete the same pass until one that iterates the rank.
  auto findReduction = [&](Value value, unsigned pass) -> Operation * {
    Operation *op = value.getDefiningOp();
    while (op && isa<EinsumOp>(op) && info.completesPass.contains(op) &&
           passOf(op) == pass) {
      if (info.iterates.contains(op))
        return op;
      Operation *next = nullptr;
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && info.completesPass.contains(def) && passOf(def) == pass)
          next = def;
      op = next;
    }
    return nullptr;
  };
  if (info.iterates.empty())
    return dependencies;
  // In program order (the sets are not).
  SmallVector<Operation *> consumers;
  (*info.iterates.begin())
      ->getParentOfType<FunctionOpInterface>()
      ->walk([&](Operation *op) {
        if (info.iterates.contains(op))
          consumers.push_back(op);
      });
  for (Operation *consumer : consumers) {
    unsigned pass = passOf(consumer);
    if (pass < 2)
      continue;
    for (Value operand : consumer->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || !info.completesPass.contains(def) ||
          passOf(def) != pass - 1)
        continue;
      dependencies.push_back(
          {pass - 1, consumer, operand, findReduction(operand, pass - 1)});
    }
  }
  return dependencies;
}

unsigned CascadePassCount::computeMaxPasses(FunctionOpInterface function) {
  FailureOr<CascadePassCount> analysis = compute(function);
  if (failed(analysis) || !analysis->getDominantRank())
    return 0;
  return analysis->getDominantRank()->passes;
}
