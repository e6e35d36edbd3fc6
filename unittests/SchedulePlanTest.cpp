//===- SchedulePlanTest.cpp - The plan's invariants, and the emitter follows it ===//
//
// For every variant, both CPU target descriptions and head dimensions that
// are and are not multiples of a vector: the plan's decisions respect the
// target (lanes divide the extent, a register tile fits the accumulator
// budget, hoisted packs only in the key loop, one work rank per grid rank),
// and the CPU kernel built from the same scheduled function allocates
// exactly the staging memory the plan counts: the emitter makes no buffer
// the plan did not decide.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/SchedulePlan.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

class SchedulePlanTest : public ::testing::Test {
protected:
  SchedulePlanTest() : context(makeRegistry()) {
    context.loadAllAvailableDialects();
    registerAllPasses();
  }
  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    registerAllDialects(registry);
    return registry;
  }

  /// `variant` in the scheduled form the CPU pipeline makes.
  OwningOpRef<ModuleOp> schedule(StringRef variant, int64_t e, int64_t f,
                                 int64_t queryTile) {
    std::string path = std::string(CASCADE_SOURCE_DIR) + "/variants/" +
                       variant.str() + ".mlir";
    OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(path, &context);
    if (!module)
      return nullptr;
    std::string pipeline =
        "func.func(cascade-minimize-passes{remarks=0},cascade-stream-rank,"
        "cascade-classify-tiles{query-tile=" +
        std::to_string(queryTile) +
        "},cascade-partition-rank{query-tile=" + std::to_string(queryTile) +
        " tile-extents=e=" + std::to_string(e) + ",f=" + std::to_string(f) +
        "})";
    PassManager pm(&context);
    if (failed(parsePassPipeline(pipeline, pm)) || failed(pm.run(*module)))
      return nullptr;
    return module;
  }

  static func::FuncOp getFunction(ModuleOp module) {
    return *module.getOps<func::FuncOp>().begin();
  }

  MLIRContext context;
};

const char *kVariants[] = {
    "softmax",        "softmax_causal",       "softmax_gqa",
    "softmax_softcap", "softmax_alibi",       "softmax_window",
    "softmax_sinks_window", "softmax_prefix_lm", "softmax_sink_window",
    "softmax_onepass", "sigmoid",             "linear",
    "linear_associated", "softplus",          "relu",
    "gated_output",    "linear_causal",       "retention",
    "lightning",       "differential"};

TEST_F(SchedulePlanTest, DecisionsRespectTheTargetAndTheKernelFollowsThem) {
  struct Case {
    int64_t vectorWidth, e, f, queryTile;
  };
  const Case cases[] = {{16, 64, 64, 64}, {8, 64, 64, 32}, {16, 12, 40, 16},
                        {8, 3, 5, 7}};
  for (const char *variant : kVariants)
    for (const Case &c : cases) {
      SCOPED_TRACE(std::string(variant) + " width " +
                   std::to_string(c.vectorWidth) + " e=" + std::to_string(c.e) +
                   " f=" + std::to_string(c.f) + " tile " +
                   std::to_string(c.queryTile));
      OwningOpRef<ModuleOp> module =
          schedule(variant, c.e, c.f, c.queryTile);
      ASSERT_TRUE(module);
      func::FuncOp function = getFunction(*module);
      TargetDescription target = TargetDescription::forCpu(c.vectorWidth);
      FailureOr<SchedulePlan> plan = SchedulePlan::compute(function, target);
      ASSERT_TRUE(succeeded(plan));

      // The work decomposition: the grid's ranks, in order, one of them in
      // query tiles (looped inside the item after a state phase).
      GridOp grid = plan->getGrid();
      const WorkPlan &work = plan->getWork();
      SmallVector<WorkRankPlan> all(work.ranks);
      all.append(work.innerRanks.begin(), work.innerRanks.end());
      ASSERT_EQ(all.size(), grid.getRanks().size());
      int tiled = 0;
      for (auto [rank, name] :
           llvm::zip(all, grid.getRanks().getAsValueRange<StringAttr>())) {
        EXPECT_EQ(rank.rank, name.str());
        if (rank.tile != 1) {
          ++tiled;
          EXPECT_EQ(rank.tile, c.queryTile);
        }
      }
      EXPECT_EQ(tiled, 1);
      // Linear attention's key-side state is a state phase, run once per
      // item: the items are (b, h), the query tiles a loop inside.
      bool linear = StringRef(variant) == "linear" ||
                    StringRef(variant) == "linear_associated";
      EXPECT_EQ(bool(work.stateGrid), linear);
      EXPECT_EQ(work.innerRanks.size(), linear ? 1u : 0u);

      function.walk([&](EinsumOp einsum) {
        const EinsumPlan &p = plan->getEinsum(einsum);
        EXPECT_EQ(p.operands.size(), einsum.getInputs().size());
        if (!p.vectorRank.empty()) {
          int64_t extent = plan->getLocalExtent(p.vectorRank);
          EXPECT_LE(p.lanes, target.vectorLanes);
          EXPECT_EQ(extent % p.lanes, 0);
          EXPECT_EQ(p.vectorsPerRow * p.lanes, extent);
          EXPECT_EQ(p.vectorsPerRow % p.tileVectors, 0);
        }
        EXPECT_LE(p.tileVectors, target.maxTileVectors);
        if (!p.reductions.empty()) {
          EXPECT_LE(p.tileRows * p.tileVectors, target.accumulatorBudget);
        }
        for (const OperandPlan &operand : p.operands)
          if (operand.kind == OperandPlan::Kind::Packed) {
            ASSERT_LT(operand.pack, plan->getPacks().size());
            const PackPlan &pack = plan->getPacks()[operand.pack];
            EXPECT_EQ(pack.ranks.back(), p.vectorRank);
            if (pack.hoisted) {
              EXPECT_TRUE(p.inKeyLoop);
            }
          }
        // Every reduced rank is a loop of the item.
        for (auto &[rank, kind] : p.reductions)
          EXPECT_TRUE(plan->isTileLocal(rank));
      });

      // The kernel allocates what the plan stages, no more, no less.
      int64_t planned = plan->getStagingBytes();
      CpuKernelOptions options;
      options.vectorWidth = c.vectorWidth;
      ASSERT_TRUE(succeeded(buildCpuKernel(function, options)));
      int64_t allocated = 0;
      module->walk([&](memref::AllocaOp alloca) {
        MemRefType type = alloca.getType();
        ASSERT_TRUE(type.hasStaticShape());
        allocated += type.getNumElements() * 4;
        EXPECT_EQ(alloca.getAlignment(), target.stagingAlignment);
      });
      EXPECT_EQ(allocated, planned);
    }
}

TEST_F(SchedulePlanTest, RegisterTilesFollowTheAccumulatorBudget) {
  // Q K^T of causal softmax, S[m0, p0] over e: 64 query rows in vectors.
  // AVX-512: 4 vectors of 16 lanes per row, 24 accumulators: 6 x 4.
  // AVX2: 8 vectors of 8 lanes, 12 accumulators, at most 6 vectors a row
  // and dividing 8: 4, so 3 x 4.
  OwningOpRef<ModuleOp> module = schedule("softmax_causal", 64, 64, 64);
  ASSERT_TRUE(module);
  func::FuncOp function = getFunction(*module);
  for (auto [width, expectedRows, expectedVectors, expectedLanes] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t>{16, 6, 4, 16},
        {8, 3, 4, 8}}) {
    // (Structured bindings cannot be captured in C++17.)
    int64_t rows = expectedRows, vectors = expectedVectors,
            lanes = expectedLanes;
    FailureOr<SchedulePlan> plan =
        SchedulePlan::compute(function, TargetDescription::forCpu(width));
    ASSERT_TRUE(succeeded(plan));
    bool found = false;
    function.walk([&](EinsumOp einsum) {
      if (einsum.getName() != "BQK")
        return;
      found = true;
      const EinsumPlan &p = plan->getEinsum(einsum);
      EXPECT_EQ(p.tileRows, rows);
      EXPECT_EQ(p.tileVectors, vectors);
      EXPECT_EQ(p.lanes, lanes);
      ASSERT_EQ(p.reductions.size(), 1u);
      EXPECT_EQ(p.reductions[0].first, "e");
      // Q is read along the query tile, which may run past P: packed once
      // per item, before the key loop.
      ASSERT_EQ(p.operands[0].kind, OperandPlan::Kind::Packed);
      EXPECT_TRUE(plan->getPacks()[p.operands[0].pack].hoisted);
    });
    EXPECT_TRUE(found);
  }
}

TEST_F(SchedulePlanTest, StagingBeyondTheTargetIsRefused) {
  OwningOpRef<ModuleOp> module = schedule("softmax", 64, 64, 64);
  ASSERT_TRUE(module);
  TargetDescription target = TargetDescription::forCpu(16);
  target.stagingLimitBytes = 1024;
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    message = diagnostic.str();
    return success();
  });
  EXPECT_TRUE(failed(SchedulePlan::compute(getFunction(*module), target)));
  EXPECT_NE(message.find("more than the 1024 allowed"), std::string::npos)
      << message;
}

} // namespace
