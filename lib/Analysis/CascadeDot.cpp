//===- CascadeDot.cpp - A cascade's dependency graph as Graphviz DOT ------===//
//
// Einsums are nodes, coloured by their pass over the rank with the most
// passes; tensors label the edges; an edge that crosses a barrier (a result
// complete only at the end of a pass, read by a later pass) is red, and the
// Einsums that end a pass have a red border. Function arguments are input
// nodes; the Einsums of a cascade.iterate sit in a cluster.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::cascade;

/// Pastel fills for passes 1, 2, 3, ... (ColorBrewer Set3-like).
static StringRef getPassColour(unsigned pass) {
  static const char *colours[] = {"#8dd3c7", "#ffffb3", "#bebada", "#fb8072",
                                  "#80b1d3", "#fdb462", "#b3de69"};
  return colours[(pass - 1) % std::size(colours)];
}

static std::string escape(StringRef text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

static std::string getEinsumLabel(EinsumOp einsum) {
  std::string label;
  llvm::raw_string_ostream os(label);
  os << einsum.getName().value_or("einsum") << "[";
  llvm::interleaveComma(einsum.getOutput().getAsValueRange<StringAttr>(), os);
  os << "]";
  if (!einsum.getReductions().empty()) {
    os << "\nreduce ";
    llvm::interleaveComma(einsum.getReductions(), os, [&](Attribute attr) {
      auto reduction = cast<ReductionAttr>(attr);
      os << reduction.getRank().getValue() << ": "
         << stringifyReduceKind(reduction.getKind());
    });
  }
  if (einsum.hasMask())
    os << "\nmasked";
  return label;
}

void mlir::cascade::writeCascadeDot(FunctionOpInterface function,
                                    const CascadePassCount &analysis,
                                    llvm::raw_ostream &os) {
  const RankPasses *colouring = analysis.getDominantRank();
  llvm::DenseMap<Value, std::string> nodeOf;
  unsigned nextNode = 0;
  auto newNode = [&] { return llvm::formatv("n{0}", nextNode++).str(); };

  os << "digraph \"" << escape(function.getName()) << "\" {\n";
  os << "  rankdir=TB;\n  labelloc=t;\n  fontname=\"Helvetica\";\n";
  os << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n";
  os << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  std::string title = function.getName().str();
  for (const RankPasses &info : analysis.getRanks())
    title += llvm::formatv("   passes({0}) = {1}", info.rank, info.passes).str();
  os << "  label=\"" << escape(title) << "\";\n";

  Block &entry = function.getFunctionBody().front();
  for (BlockArgument arg : entry.getArguments()) {
    std::string node = newNode();
    nodeOf[arg] = node;
    os << "  " << node << " [shape=ellipse, style=filled, fillcolor=white, "
       << "label=\""
       << escape(CascadePassCount::getTensorName(arg) + "\n" +
                 analysis.getTensorSize(arg))
       << "\"];\n";
  }

  auto isBarrierEdge = [&](Value value, Operation *user) {
    if (!colouring)
      return false;
    Operation *producer = value.getDefiningOp();
    auto consumer = dyn_cast<EinsumOp>(user);
    if (!producer || !consumer || !colouring->iterates.contains(consumer))
      return false;
    bool producerEndsPass = colouring->completesPass.contains(producer) ||
                            isa<IterateOp>(producer);
    unsigned producerPass = isa<IterateOp>(producer)
                                ? colouring->passOf.lookup(consumer) - 1
                                : colouring->passOf.lookup(producer);
    return producerEndsPass &&
           colouring->passOf.lookup(consumer) > producerPass;
  };

  unsigned clusters = 0;
  std::string edges;
  llvm::raw_string_ostream edgeStream(edges);
  std::function<void(Block &, StringRef)> emitBlock = [&](Block &block,
                                                          StringRef indent) {
    for (Operation &op : block) {
      if (auto einsum = dyn_cast<EinsumOp>(op)) {
        std::string node = newNode();
        nodeOf[einsum.getResult()] = node;
        unsigned pass = colouring ? colouring->passOf.lookup(einsum) : 1;
        bool iterates = colouring && colouring->iterates.contains(einsum);
        std::string label = getEinsumLabel(einsum);
        if (colouring)
          label += (iterates ? "\npass " : "\nafter pass ") + std::to_string(pass);
        os << indent << node << " [label=\"" << escape(label);
        os << "\", fillcolor=\"" << (iterates ? getPassColour(pass) : "#eeeeee")
           << "\"";
        if (colouring && colouring->completesPass.contains(einsum) && iterates)
          os << ", color=red, penwidth=2.5";
        os << "];\n";
        for (Value operand : einsum.getInputs()) {
          auto it = nodeOf.find(operand);
          if (it == nodeOf.end())
            continue;
          edgeStream << "  " << it->second << " -> " << node << " [label=\""
                     << escape(CascadePassCount::getTensorName(operand)) << "\"";
          if (isBarrierEdge(operand, einsum))
            edgeStream << ", color=red, fontcolor=red, penwidth=2.5";
          edgeStream << "];\n";
        }
        continue;
      }
      if (auto iterate = dyn_cast<IterateOp>(op)) {
        os << indent << "subgraph cluster_" << clusters++ << " {\n";
        os << indent << "  label=\"iterate " << iterate.getRank()
           << "\";\n  style=dashed;\n";
        // Carried state enters as the block arguments.
        for (auto [arg, init] : llvm::zip(iterate.getBodyBlock().getArguments(),
                                          iterate.getInits()))
          nodeOf[arg] = nodeOf.lookup(init);
        emitBlock(iterate.getBodyBlock(), (indent + "  ").str());
        os << indent << "}\n";
        auto yield = cast<YieldOp>(iterate.getBodyBlock().getTerminator());
        for (auto [res, yielded] :
             llvm::zip(iterate.getResults(), yield.getValues())) {
          nodeOf[res] = nodeOf.lookup(yielded);
        }
        for (auto [arg, yielded] : llvm::zip(iterate.getBodyBlock().getArguments(),
                                             yield.getValues()))
          for (Operation *user : arg.getUsers())
            if (auto reader = dyn_cast<EinsumOp>(user))
              edgeStream << "  " << nodeOf.lookup(yielded) << " -> "
                         << nodeOf.lookup(reader.getResult())
                         << " [label=\"" << escape(CascadePassCount::getTensorName(yielded))
                         << " (carried)\", style=dashed, constraint=false];\n";
      }
    }
  };
  emitBlock(entry, "  ");
  os << edges << "}\n";
}
