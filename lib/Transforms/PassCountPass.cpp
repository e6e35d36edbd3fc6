//===- PassCountPass.cpp - The cascade-pass-count pass --------------------===//
//
// Runs the pass analysis on every function and publishes it three ways: as
// attributes on the IR, as remarks, and as JSON / DOT files for scripts and
// pictures.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEPASSCOUNT
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

llvm::json::Array toJson(ArrayRef<TensorFootprint> tensors) {
  llvm::json::Array array;
  for (const TensorFootprint &t : tensors)
    array.push_back(llvm::json::Object{{"tensor", t.name}, {"size", t.size}});
  return array;
}

std::string describeFootprint(ArrayRef<TensorFootprint> tensors) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(tensors, os, [&](const TensorFootprint &t) {
    os << t.name << ": " << t.size;
  });
  return text;
}

/// Writes `contents` to `path` ('-' is stdout); reports failures at `loc`.
LogicalResult writeFile(Location loc, StringRef path,
                        llvm::function_ref<void(llvm::raw_ostream &)> contents) {
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> file = openOutputFile(path, &error);
  if (!file)
    return emitError(loc) << "cannot write '" << path << "': " << error;
  contents(file->os());
  file->keep();
  return success();
}

struct PassCountPass
    : public mlir::cascade::impl::CascadePassCountBase<PassCountPass> {
  using CascadePassCountBase::CascadePassCountBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::json::Array functions;
    std::string dot;
    llvm::raw_string_ostream dotStream(dot);
    bool failedAny = false;
    module.walk([&](FunctionOpInterface function) {
      if (function.isExternal())
        return;
      FailureOr<CascadePassCount> analysis = CascadePassCount::compute(function);
      if (failed(analysis)) {
        failedAny = true;
        return;
      }
      annotate(function, *analysis);
      functions.push_back(toJson(function, *analysis));
      if (!dotFile.empty())
        writeCascadeDot(function, *analysis, dotStream);
    });
    if (failedAny)
      return signalPassFailure();
    if (!jsonFile.empty() &&
        failed(writeFile(module.getLoc(), jsonFile, [&](llvm::raw_ostream &os) {
          os << llvm::formatv(
                    "{0:2}", llvm::json::Value(llvm::json::Object{
                                 {"functions", std::move(functions)}}))
             << "\n";
        })))
      return signalPassFailure();
    if (!dotFile.empty() &&
        failed(writeFile(module.getLoc(), dotFile,
                         [&](llvm::raw_ostream &os) { os << dot; })))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }

  void annotate(FunctionOpInterface function, const CascadePassCount &analysis) {
    Builder b(function.getContext());
    SmallVector<NamedAttribute> passes;
    for (const RankPasses &info : analysis.getRanks())
      passes.push_back(b.getNamedAttr(info.rank, b.getI64IntegerAttr(info.passes)));
    function->setAttr("cascade.passes", b.getDictionaryAttr(passes));
    function.walk([&](EinsumOp einsum) {
      SmallVector<NamedAttribute> perRank;
      for (const RankPasses &info : analysis.getRanks())
        perRank.push_back(b.getNamedAttr(
            info.rank, b.getI64IntegerAttr(info.passOf.lookup(einsum))));
      einsum->setAttr("cascade.pass", b.getDictionaryAttr(perRank));
    });
    if (!emitRemarks)
      return;
    for (const RankPasses &info : analysis.getRanks()) {
      InFlightDiagnostic remark = emitRemark(function.getLoc())
                                  << "passes(" << info.rank << ") = " << info.passes;
      for (const Barrier &barrier : info.barriers) {
        remark << "; after pass " << barrier.afterPass << " hold "
               << describeFootprint(barrier.held);
        if (!barrier.reread.empty())
          remark << ", re-read " << describeFootprint(barrier.reread);
      }
      if (!info.carried.empty())
        remark << "; carried along " << info.rank << ": "
               << describeFootprint(info.carried);
    }
  }

  llvm::json::Object toJson(FunctionOpInterface function,
                            const CascadePassCount &analysis) {
    llvm::json::Array ranks;
    for (const RankPasses &info : analysis.getRanks()) {
      llvm::json::Object einsums;
      function.walk([&](EinsumOp einsum) {
        if (std::optional<StringRef> name = einsum.getName())
          einsums[*name] = llvm::json::Object{
              {"pass", info.passOf.lookup(einsum)},
              {"iterates", info.iterates.contains(einsum)},
              {"completes_pass", info.completesPass.contains(einsum)}};
      });
      llvm::json::Array barriers;
      for (const Barrier &barrier : info.barriers)
        barriers.push_back(llvm::json::Object{
            {"after_pass", barrier.afterPass},
            {"held", ::toJson(barrier.held)},
            {"reread", ::toJson(barrier.reread)}});
      ranks.push_back(llvm::json::Object{{"rank", info.rank},
                                         {"passes", info.passes},
                                         {"einsums", std::move(einsums)},
                                         {"barriers", std::move(barriers)},
                                         {"carried", ::toJson(info.carried)}});
    }
    return llvm::json::Object{{"function", function.getName()},
                              {"ranks", std::move(ranks)}};
  }
};

} // namespace
