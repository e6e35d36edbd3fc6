//===- RewriteNumericsTest.cpp - Every rewrite checked by numbers ---------===//
//
// Runs each pass-reducing rewrite (and the whole pipeline) on every spec of
// variants/ and interprets the function before and after on the same seeded
// random inputs: the results must agree to fp64 rounding and be finite.
// Sizes cover M = 1, M below one tile, M a multiple of the tile and not,
// P != M both ways (P > M gives fully masked rows in the causal variant),
// GQA groups, and scores of magnitude ~1e3, where exp(QK) overflows fp64 and
// only the max-shifted forms stay finite: the rescaled 1-pass form must not
// overflow where the 3-pass form does not. No keys (M = 0) and no queries
// (P = 0) must give the spec's empty-domain values, and scores a body masks
// to -inf (sinks and sliding windows, a single visible key, key tiles with
// only -inf scores at the start, the middle and the end of a row) must give
// the spec's value, never NaN.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Compare.h"
#include "cascade/Support/RandomInputs.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/MemoryBuffer.h"

#include "gtest/gtest.h"

#include <map>

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct Sizes {
  int64_t B, H, Hkv, P, M, E, F;
  double scale;
};

const Sizes kSizes[] = {
    {1, 2, 2, 3, 1, 8, 8, 1.0},     // M = 1
    {1, 1, 1, 1, 1, 4, 4, 1.0},     // everything 1
    {2, 2, 1, 17, 17, 8, 4, 1.0},   // below one tile
    {1, 2, 2, 5, 64, 8, 8, 1.0},    // exactly one tile
    {1, 1, 1, 33, 129, 8, 8, 1.0},  // a partial last tile
    {1, 2, 2, 40, 9, 8, 8, 1.0},    // P > M: fully masked causal rows
    {1, 2, 2, 3, 0, 8, 8, 1.0},     // no keys: empty sums, 0 not 0/0
    {1, 2, 2, 0, 5, 8, 8, 1.0},     // no queries
    {1, 2, 2, 7, 100, 16, 8, 40.0}, // scores ~1e3: exp overflows unshifted
};

class RewriteNumerics : public ::testing::Test {
protected:
  RewriteNumerics() {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    registerAllPasses();
  }

  OwningOpRef<ModuleOp> load(StringRef variant) {
    std::string path =
        std::string(CASCADE_SOURCE_DIR) + "/variants/" + variant.str() + ".mlir";
    return parseSourceFile<ModuleOp>(path, &context);
  }

  static func::FuncOp getFunction(ModuleOp module) {
    func::FuncOp function;
    module.walk([&](func::FuncOp f) { function = f; });
    return function;
  }

  /// Q, K, V, then `function`'s other arguments: tensors (a gate, a second
  /// query) get random values in the shape their ranks name; scalars (a
  /// window size) the values in `scalars`, else the spec's
  /// `cascade.default`.
  std::vector<Tensor> makeInputs(StringRef variant, const Sizes &s,
                                 uint64_t seed, func::FuncOp function = {}) {
    bool grouped = variant == "softmax_gqa";
    int64_t kvHeads = grouped ? s.Hkv : s.H;
    std::vector<Tensor> inputs = {
        makeRandomTensor({s.B, s.H, s.P, s.E}, seed, 0, NpyDType::Float64),
        makeRandomTensor({s.B, kvHeads, s.M, s.E}, seed, 1, NpyDType::Float64),
        makeRandomTensor({s.B, kvHeads, s.M, s.F}, seed, 2, NpyDType::Float64)};
    std::map<std::string, int64_t> extents = {
        {"b", s.B}, {"h", s.H}, {"p", s.P}, {"m", s.M}, {"e", s.E}, {"f", s.F},
        {"r", 3}}; // hedgehog's feature rank: W[h, e, r]
    FailureOr<RankEnvironment> env =
        function ? RankEnvironment::build(function)
                 : FailureOr<RankEnvironment>(failure());
    // A tensor whose every dimension is a bare rank takes the ranks' sizes
    // (differential's second query is [b, h, p, e] at argument 2).
    auto shapeOf = [&](unsigned arg) -> std::optional<SmallVector<int64_t>> {
      auto type = dyn_cast<RankedTensorType>(function.getArgument(arg).getType());
      if (!type || failed(env))
        return std::nullopt;
      SmallVector<int64_t> shape;
      for (unsigned dim = 0; dim < type.getRank(); ++dim) {
        std::optional<StringRef> rank = env->getRankOfArgumentDim(arg, dim);
        if (!rank || !extents.count(rank->str()))
          return std::nullopt;
        shape.push_back(extents[rank->str()]);
      }
      return shape;
    };
    for (unsigned arg = 0; function && arg < 3; ++arg)
      if (std::optional<SmallVector<int64_t>> shape = shapeOf(arg))
        inputs[arg] = makeRandomTensor(*shape, seed, arg, NpyDType::Float64);
    for (unsigned arg = 3; function && arg < function.getNumArguments();
         ++arg) {
      if (isa<RankedTensorType>(function.getArgument(arg).getType())) {
        std::optional<SmallVector<int64_t>> shape = shapeOf(arg);
        inputs.push_back(makeRandomTensor(shape ? *shape
                                                : SmallVector<int64_t>{1},
                                          seed, arg, NpyDType::Float64));
        continue;
      }
      auto fallback =
          function.getArgAttrOfType<IntegerAttr>(arg, "cascade.default");
      int64_t value = arg - 3 < scalars.size() ? scalars[arg - 3]
                      : fallback              ? fallback.getInt()
                                              : 1;
      inputs.push_back(Tensor::ofScalar(value));
    }
    for (Tensor &t : inputs)
      if (!t.shape.empty())
        for (double &v : t.data)
          v *= s.scale;
    return inputs;
  }
  /// Values of the scalar arguments for the next checks.
  std::vector<int64_t> scalars;

  /// The pass counts before and after `pipeline`, and the numbers.
  void check(StringRef variant, StringRef pipeline,
             std::optional<unsigned> expectedPassesOverM) {
    SCOPED_TRACE((variant + " | " + pipeline).str());
    OwningOpRef<ModuleOp> original = load(variant);
    ASSERT_TRUE(original);
    checkModule(*original, variant, pipeline, expectedPassesOverM, kSizes);
  }

  void checkModule(ModuleOp original, StringRef variant, StringRef pipeline,
                   std::optional<unsigned> expectedPassesOverM,
                   ArrayRef<Sizes> sizes) {
    OwningOpRef<ModuleOp> rewritten = original.clone();
    runPipeline(*rewritten, pipeline);
    if (expectedPassesOverM) {
      FailureOr<CascadePassCount> analysis =
          CascadePassCount::compute(getFunction(*rewritten));
      ASSERT_TRUE(succeeded(analysis));
      EXPECT_EQ(analysis->getPasses("m"), *expectedPassesOverM);
    }
    compareOn(original, *rewritten, variant, sizes);
  }

  void runPipeline(ModuleOp module, StringRef pipeline) {
    PassManager pm(&context);
    std::string errors;
    llvm::raw_string_ostream errorStream(errors);
    ASSERT_TRUE(succeeded(parsePassPipeline(pipeline, pm, errorStream)))
        << errors;
    ASSERT_TRUE(succeeded(pm.run(module)));
  }

  /// Interprets `original` and `rewritten` on the same inputs at each size.
  void compareOn(ModuleOp original, ModuleOp rewritten, StringRef variant,
                 ArrayRef<Sizes> sizes) {
    for (const Sizes &s : sizes) {
      // Scores of 1e3 make every variant but the max-shifted ones
      // meaningless (sigmoid saturates, linear attention has no scale).
      if (s.scale > 1.0 && !variant.starts_with("softmax"))
        continue;
      SCOPED_TRACE("P=" + std::to_string(s.P) + " M=" + std::to_string(s.M) +
                   " scale=" + std::to_string(s.scale));
      std::vector<Tensor> inputs =
          makeInputs(variant, s, 7, getFunction(original));
      FailureOr<SmallVector<Tensor>> before =
          interpretFunction(getFunction(original), inputs);
      FailureOr<SmallVector<Tensor>> after =
          interpretFunction(getFunction(rewritten), inputs);
      ASSERT_TRUE(succeeded(before) && succeeded(after));
      // Every row sees a key, except the first P - M rows of the masked
      // variants when P > M: those are 0 with a predicate, and NaN (the
      // spec's exp(-inf - -inf)) with a select to -inf.
      bool selectMasked = variant.contains("window");
      if (!(selectMasked && s.P > s.M)) {
        EXPECT_EQ(countNonFinite((*before)[0]), 0);
      }
      Comparison c = compareTensors((*after)[0], (*before)[0], 1e-9, 1e-12);
      EXPECT_TRUE(c.agree()) << "max_abs=" << c.maxAbsError
                             << " nonfinite=" << c.nonFinite << " first at "
                             << formatIndex((*after)[0], c.firstFailure);
    }
  }

  MLIRContext context;
};

const char *kSoftmaxFamily[] = {"softmax", "softmax_causal", "softmax_gqa",
                                "softmax_softcap"};

TEST_F(RewriteNumerics, DeferDivision) {
  for (const char *v : kSoftmaxFamily)
    check(v, "func.func(cascade-defer-division)", 2);
  check("linear", "func.func(cascade-defer-division)", 1);
}

TEST_F(RewriteNumerics, OnlineRescaleAfterDeferral) {
  for (const char *v : kSoftmaxFamily) {
    check(v, "func.func(cascade-defer-division,cascade-online-rescale)", 1);
    check(v,
          "func.func(cascade-defer-division,cascade-online-rescale{tile-size=7})",
          1);
    check(v,
          "func.func(cascade-defer-division,cascade-online-rescale{tile-size=1})",
          1);
  }
}

TEST_F(RewriteNumerics, ClassifyTilesAfterMinimize) {
  // The interpreter executes the tile schedule (skipped and unmasked key
  // tiles), so these compare the scheduled form with the spec, at tiles
  // that divide nothing and at one key per tile; the window is 17 keys (a
  // runtime scalar), so that it bites at these lengths.
  scalars = {17};
  for (const char *v : {"softmax_causal", "softmax_window"}) {
    check(v,
          "func.func(cascade-minimize-passes{remarks=0 tile-size=7},"
          "cascade-classify-tiles{query-tile=5})",
          1);
    check(v,
          "func.func(cascade-minimize-passes{remarks=0 tile-size=1},"
          "cascade-classify-tiles{query-tile=3})",
          1);
  }
}

TEST_F(RewriteNumerics, ClassifyTilesOfUnions) {
  // The library's unions shrunk to these sizes (2 sinks by an edit; a
  // 6-key window and a 9-key prefix as their scalar arguments), so that the
  // conjunctions meet, overlap and part inside a few tiles; then a `<>` mask
  // (every key but the diagonal), which parses as two conjunctions.
  struct Case {
    const char *variant;
    std::vector<std::pair<std::string, std::string>> edits;
    std::vector<int64_t> scalars;
  };
  const Case cases[] = {
      {"softmax_sinks_window", {{"m < 4)", "m < 2)"}}, {6}},
      {"softmax_prefix_lm", {}, {9}},
      {"softmax_window",
       {{"where (m <= p + M - P, p + M - P < m + W)",
         "where (m <> p + M - P)"}},
       {}},
  };
  const Sizes sizes[] = {
      {1, 1, 1, 1, 1, 4, 4, 1.0},   {1, 2, 2, 17, 17, 8, 4, 1.0},
      {1, 1, 1, 33, 70, 8, 8, 1.0}, {1, 2, 2, 40, 9, 8, 8, 1.0},
      {1, 2, 2, 3, 0, 8, 8, 1.0},   {1, 1, 1, 29, 29, 16, 8, 40.0}};
  for (const Case &c : cases) {
    std::string path =
        std::string(CASCADE_SOURCE_DIR) + "/variants/" + c.variant + ".mlir";
    auto file = llvm::MemoryBuffer::getFile(path);
    ASSERT_TRUE(bool(file));
    std::string spec = (*file)->getBuffer().str();
    for (auto &[from, to] : c.edits) {
      size_t count = 0;
      for (size_t at = spec.find(from); at != std::string::npos;
           at = spec.find(from, at + to.size()), ++count)
        spec.replace(at, from.size(), to);
      ASSERT_GT(count, 0u) << from;
    }
    OwningOpRef<ModuleOp> original = parseSourceString<ModuleOp>(spec, &context);
    ASSERT_TRUE(original);
    scalars = c.scalars;
    for (const char *pipeline :
         {"func.func(cascade-minimize-passes{remarks=0 tile-size=7},"
          "cascade-classify-tiles{query-tile=5})",
          "func.func(cascade-minimize-passes{remarks=0 tile-size=2},"
          "cascade-classify-tiles{query-tile=3})",
          "func.func(cascade-minimize-passes{remarks=0 tile-size=1},"
          "cascade-classify-tiles{query-tile=1})"}) {
      SCOPED_TRACE(std::string(c.variant) + " | " + pipeline);
      checkModule(*original, c.variant, pipeline, 1, sizes);
    }
  }
}

TEST_F(RewriteNumerics, PartitionRankOfEveryVariant) {
  // The scheduled form (query tiles in a cascade.grid) against the spec,
  // with query tiles that divide nothing, one row per tile, and tiles larger
  // than the rank; the head dims of each size are the grid's tile extents.
  // The tile schedule is classified first, so the grid form also runs it.
  // The window is 17 keys and the prefix 9, so that they bite here.
  const char *variants[] = {
      "softmax",        "softmax_causal",      "softmax_gqa",
      "softmax_softcap", "softmax_alibi",      "softmax_window",
      "softmax_sinks_window", "softmax_prefix_lm", "softmax_sink_window",
      "softmax_onepass", "sigmoid",            "linear",
      "linear_associated", "softplus",         "relu",
      "gated_output",    "linear_causal",      "retention",
      "lightning",       "differential"};
  for (const char *v : variants) {
    scalars = {std::string(v) == "softmax_prefix_lm" ? 9 : 17};
    OwningOpRef<ModuleOp> original = load(v);
    ASSERT_TRUE(original);
    for (int queryTile : {5, 64, 1}) {
      // The proofs run once per query tile; the grid once per head dims.
      OwningOpRef<ModuleOp> classified = original->clone();
      runPipeline(*classified,
                  "func.func(cascade-minimize-passes{remarks=0 tile-size=7},"
                  "cascade-stream-rank{tile-size=7},"
                  "cascade-classify-tiles{query-tile=" +
                      std::to_string(queryTile) + "})");
      std::map<std::pair<int64_t, int64_t>, std::vector<Sizes>> byHeadDims;
      for (const Sizes &s : kSizes)
        // One-row tiles only where there are few rows: the interpreter runs
        // every work item separately.
        if (queryTile != 1 || s.P <= 5)
          byHeadDims[{s.E, s.F}].push_back(s);
      for (auto &[heads, sizes] : byHeadDims) {
        std::string pipeline =
            "func.func(cascade-partition-rank{query-tile=" +
            std::to_string(queryTile) + " tile-extents=e=" +
            std::to_string(heads.first) + ",f=" +
            std::to_string(heads.second) + "})";
        SCOPED_TRACE(std::string(v) + " | " + pipeline);
        OwningOpRef<ModuleOp> scheduled = classified->clone();
        runPipeline(*scheduled, pipeline);
        bool hasGrid = scheduled->walk([](GridOp) {
                                  return WalkResult::interrupt();
                                }).wasInterrupted();
        ASSERT_TRUE(hasGrid) << "no cascade.grid was made";
        compareOn(*original, *scheduled, v, sizes);
      }
    }
  }
}

TEST_F(RewriteNumerics, ChunkCausalLinear) {
  // cascade-chunk on the scheduled form against the spec: query tiles that
  // are not the key tile (5 and 7 rows: the number of wholly past key tiles
  // changes inside no pattern), one-row tiles, tiles larger than the rank;
  // P > M (rows that see nothing, states never read), M = 0, P = 0.
  // Retention and lightning carry their decays in the state (exp2 and exp,
  // either sign of the distance); hedgehog's score is a sum of two products
  // (one state each); softmax_causal is left as it is and still agrees.
  for (const char *v : {"linear_causal", "softmax_causal", "retention",
                        "lightning", "hedgehog"}) {
    OwningOpRef<ModuleOp> original = load(v);
    ASSERT_TRUE(original);
    for (int queryTile : {5, 64, 1}) {
      OwningOpRef<ModuleOp> scheduled = original->clone();
      std::vector<Sizes> sizes;
      for (const Sizes &s : kSizes)
        if (s.E == 8 && s.F == 8 && (queryTile != 1 || s.P <= 5))
          sizes.push_back(s);
      std::string pipeline =
          "func.func(cascade-minimize-passes{remarks=0 tile-size=7},"
          "cascade-stream-rank{tile-size=7},"
          "cascade-classify-tiles{query-tile=" +
          std::to_string(queryTile) +
          "},cascade-partition-rank{query-tile=" + std::to_string(queryTile) +
          " tile-extents=e=8,f=8" +
          (std::string(v) == "hedgehog" ? ",r=3" : "") + "},cascade-chunk)";
      SCOPED_TRACE(std::string(v) + " | " + pipeline);
      runPipeline(*scheduled, pipeline);
      bool stacked = scheduled
                         ->walk([](IterateOp iterate) {
                           return iterate.getNumStacked()
                                      ? WalkResult::interrupt()
                                      : WalkResult::advance();
                         })
                         .wasInterrupted();
      EXPECT_EQ(stacked, std::string(v) != "softmax_causal");
      compareOn(*original, *scheduled, v, sizes);
    }
  }
}

TEST_F(RewriteNumerics, ChunkGates) {
  // cascade-chunk-gates on GLA's spec against the spec itself: key tiles of
  // 7 with query tiles of 7, 5 (a query tile then straddles two key tiles,
  // whose rows read two different states) and 1; key tiles of 64 (one
  // tile); P < M (rows aligned bottom-right), M = 0, P = 0. GLA needs
  // P <= M (its spec reads the gates' prefix sums at p + M - P).
  OwningOpRef<ModuleOp> original = load("gla");
  ASSERT_TRUE(original);
  for (auto [queryTile, keyTile] :
       {std::pair(7, 7), std::pair(5, 7), std::pair(1, 4), std::pair(64, 64)}) {
    std::vector<Sizes> sizes;
    for (const Sizes &s : kSizes)
      if (s.E == 8 && s.F == 8 && s.P <= s.M && (queryTile != 1 || s.P <= 5))
        sizes.push_back(s);
    std::string pipeline = "func.func(cascade-chunk-gates{query-tile=" +
                           std::to_string(queryTile) + " key-tile=" +
                           std::to_string(keyTile) +
                           " tile-extents=e=8,f=8})";
    SCOPED_TRACE(pipeline);
    OwningOpRef<ModuleOp> chunked = original->clone();
    runPipeline(*chunked, pipeline);
    unsigned grids = 0, stacked = 0;
    chunked->walk([&](Operation *op) {
      if (isa<GridOp>(op))
        ++grids;
      if (auto iterate = dyn_cast<IterateOp>(op))
        stacked += iterate.getNumStacked();
    });
    EXPECT_EQ(grids, 2u);   // the state phase and the query grid
    EXPECT_EQ(stacked, 2u); // the state and the tile-local prefix sums
    compareOn(*original, *chunked, "gla", sizes);
  }
}

TEST_F(RewriteNumerics, Reassociate) {
  check("linear", "func.func(cascade-defer-division,cascade-reassociate)", 1);
  // The associated form is already the cheaper order: nothing changes.
  check("linear_associated", "func.func(cascade-reassociate)", 1);
}

TEST_F(RewriteNumerics, MinimizePasses) {
  for (const char *v : kSoftmaxFamily)
    check(v, "func.func(cascade-minimize-passes)", 1);
  check("softmax_sink_window", "func.func(cascade-minimize-passes)", 1);
  check("linear_associated", "func.func(cascade-minimize-passes)", 1);
  check("sigmoid", "func.func(cascade-minimize-passes)", 1);
  check("linear", "func.func(cascade-minimize-passes)", 1);
  check("softmax_onepass", "func.func(cascade-minimize-passes)", 1);
  // The zoo of issue 11: deferred division where there is a normaliser.
  for (const char *v : {"softplus", "relu", "gated_output", "linear_causal",
                        "retention", "lightning"})
    check(v, "func.func(cascade-minimize-passes)", 1);
  // Two softmaxes over the same keys: split, each streamed, one key loop.
  check("differential", "func.func(cascade-minimize-passes)", 1);
}

TEST_F(RewriteNumerics, SplitSumAndFuseIterates) {
  // Each step on its own keeps the numbers: the split alone (both softmaxes
  // still 3-pass), then the streams in two loops, then fused into one.
  check("differential", "func.func(cascade-split-sum)", std::nullopt);
  check("differential",
        "func.func(cascade-split-sum,cascade-defer-division,"
        "cascade-online-rescale)",
        1);
  check("differential",
        "func.func(cascade-split-sum,cascade-defer-division,"
        "cascade-online-rescale,cascade-fuse-iterates)",
        1);
}

TEST_F(RewriteNumerics, SelectMaskedWindows) {
  // variants/softmax_sink_window.mlir with other windows and sink counts:
  // one visible key per row (window 1, no sinks), leading key tiles with
  // only -inf scores (no sinks), middle ones (sinks), trailing ones
  // (causal rows of P < M), at every tile size.
  std::string path = std::string(CASCADE_SOURCE_DIR) +
                     "/variants/softmax_sink_window.mlir";
  auto file = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(bool(file));
  std::string text = (*file)->getBuffer().str();
  const Sizes windowSizes[] = {
      {1, 1, 1, 1, 1, 8, 8, 1.0},     {1, 2, 2, 17, 17, 8, 4, 1.0},
      {1, 1, 1, 129, 129, 8, 8, 1.0}, {1, 1, 1, 33, 200, 8, 8, 1.0},
      {1, 2, 2, 40, 9, 8, 8, 1.0},    {1, 2, 2, 3, 0, 8, 8, 1.0},
      {1, 2, 2, 0, 5, 8, 8, 1.0},     {1, 1, 1, 70, 70, 16, 8, 40.0}};
  for (auto [window, sinks] : {std::pair{1, 0}, {3, 0}, {16, 0}, {16, 4},
                               {1, 4}}) {
    std::string spec = text;
    auto replace = [&](StringRef from, StringRef to) {
      size_t at = spec.find(from.str());
      ASSERT_NE(at, std::string::npos) << from.str();
      spec.replace(at, from.size(), to.str());
    };
    replace("%window = arith.constant 16", "%window = arith.constant " +
                                               std::to_string(window));
    replace("%sinks = arith.constant 4",
            "%sinks = arith.constant " + std::to_string(sinks));
    OwningOpRef<ModuleOp> original = parseSourceString<ModuleOp>(spec, &context);
    ASSERT_TRUE(original);
    for (const char *pipeline :
         {"func.func(cascade-minimize-passes)",
          "func.func(cascade-minimize-passes{tile-size=7})",
          "func.func(cascade-minimize-passes{tile-size=1})"}) {
      SCOPED_TRACE("window=" + std::to_string(window) +
                   " sinks=" + std::to_string(sinks) + " | " + pipeline);
      checkModule(*original, "softmax_window", pipeline, 1, windowSizes);
    }
  }
}

TEST_F(RewriteNumerics, OnePassFormIsFiniteWhereUnshiftedExpOverflows) {
  // The scores of the last size reach ~1e3: exp of them is inf in fp64, so
  // only a max-shifted form can be finite. Both the 3-pass original and the
  // rewritten 1-pass form must be.
  OwningOpRef<ModuleOp> module = load("softmax");
  ASSERT_TRUE(module);
  PassManager pm(&context);
  pm.addNestedPass<func::FuncOp>(createCascadeMinimizePasses());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  const Sizes &big = kSizes[std::size(kSizes) - 1];
  std::vector<Tensor> inputs = makeInputs("softmax", big, 11);
  double maxScore = 0;
  for (double q : inputs[0].data)
    maxScore = std::max(maxScore, std::abs(q));
  ASSERT_GT(maxScore * maxScore, 710.0) << "inputs too small to overflow exp";
  FailureOr<SmallVector<Tensor>> result =
      interpretFunction(getFunction(*module), inputs);
  ASSERT_TRUE(succeeded(result));
  EXPECT_EQ(countNonFinite((*result)[0]), 0);
}

} // namespace
