//===- ScheduleForGpu.cpp - The scheduled form, key tile by registers -----===//
//
// The GPU backend schedules a spec as the CPU backend does; only the tiles
// are its own. A key tile from the head dimensions alone does not know how
// many running outputs and score tiles the scheduled spec keeps
// (differential attention keeps two of each), so the pass schedules with
// the chip's default, asks the GPU plan what a key step needs in registers
// at that tile and at its halves, and where the default is over the budget
// restores the spec and schedules it again with the largest tile that
// fits. A schedule that needs key tiles of at least the query tile (GLA's
// chunked gates, a state phase on CUDA cores) is scheduled again where
// the tensor cores' default key tile is below the query tile. The
// schedule passes run as a dynamic pipeline on the function, so the
// choice is per function and shows in the IR.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Analysis/GpuStatePlan.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Conversion/Passes.h"
#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADESCHEDULEFORGPU
#include "cascade/Conversion/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

LogicalResult mlir::cascade::parseGpuHeadDims(ArrayRef<std::string> entries,
                                              llvm::StringMap<int64_t> &headDims,
                                              std::string &error) {
  for (const std::string &entry : entries) {
    auto [rank, value] = StringRef(entry).split('=');
    int64_t size;
    if (rank.trim().empty() || value.trim().getAsInteger(10, size)) {
      error = "head-dims entry '" + entry + "' is not rank=N";
      return failure();
    }
    if (!headDims.try_emplace(rank.trim(), size).second) {
      error = "head-dims names '" + rank.trim().str() + "' twice";
      return failure();
    }
  }
  return success();
}

/// The key tile for the scheduled `function` (scheduled with `keys`): the
/// largest of keys, keys / 2, ... down to 16 whose key step fits
/// GpuPlan::kKeyStepRegisterBudget, from the plan of this schedule
/// (GpuPlan::getKeyStepRegisters at other tiles), so that at most one more
/// schedule is needed. `keys` where the function has no GPU plan (a state
/// phase, or no GPU form: the kernel pass reports that).
static int64_t chooseKeyTile(func::FuncOp function, const GpuTarget &target,
                             int64_t keys) {
  if (GpuStatePlan::appliesTo(function))
    return keys;
  ScopedDiagnosticHandler silence(function.getContext(),
                                  [](Diagnostic &) { return success(); });
  FailureOr<GpuPlan> plan = GpuPlan::compute(function, target);
  if (failed(plan))
    return keys;
  while (keys > 16 &&
         plan->getKeyStepRegisters(keys) > GpuPlan::kKeyStepRegisterBudget)
    keys /= 2;
  return keys;
}

namespace {

/// Holds the diagnostics reported while it is installed, to be reported
/// (emit) or dropped once an attempt is known to stand.
class HeldDiagnostics {
public:
  explicit HeldDiagnostics(MLIRContext *context) : context(context) {
    handler.emplace(context, [this](Diagnostic &diagnostic) {
      held.push_back(std::move(diagnostic));
      return success();
    });
  }
  /// Stops holding (the diagnostics after this go where they did before).
  void release() { handler.reset(); }
  void emit() {
    for (Diagnostic &diagnostic : held)
      context->getDiagEngine().emit(std::move(diagnostic));
    held.clear();
  }

private:
  MLIRContext *context;
  SmallVector<Diagnostic> held;
  std::optional<ScopedDiagnosticHandler> handler;
};

struct ScheduleForGpu
    : public mlir::cascade::impl::CascadeScheduleForGpuBase<ScheduleForGpu> {
  using Base::Base;
  explicit ScheduleForGpu(const GpuTargetOptions &options) {
    chip = options.chip;
    for (auto &entry : options.headDims)
      headDims.push_back(entry.getKey().str() + "=" +
                         std::to_string(entry.getValue()));
    queryTile = options.queryTile;
    keyTile = options.keyTile;
  }

  /// The scheduling passes at `keyTile` keys.
  OpPassManager getSchedulePipeline(const GpuTargetOptions &options,
                                    int64_t keys) const {
    OpPassManager pm(func::FuncOp::getOperationName());
    CpuTargetOptions schedule;
    for (auto &entry : options.headDims)
      schedule.headDims[entry.getKey()] = entry.getValue();
    schedule.queryTile = options.queryTile;
    schedule.keyTile = keys;
    addCpuSchedulingPasses(pm, schedule);
    return pm;
  }

  void getDependentDialects(DialectRegistry &registry) const override {
    getSchedulePipeline(GpuTargetOptions(), 64).getDependentDialects(registry);
  }

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (!isCascadeFunction(function))
      return;
    GpuTargetOptions options;
    options.chip = chip;
    options.queryTile = queryTile;
    options.keyTile = keyTile;
    std::string error;
    if (failed(parseGpuHeadDims(headDims, options.headDims, error)) ||
        failed(verifyGpuTargetOptions(options, error))) {
      function.emitError("cascade-schedule-for-gpu: ") << error;
      return signalPassFailure();
    }
    GpuTarget target = *GpuTarget::byChip(options.chip);
    bool chooseQuery = options.queryTile == 0;
    if (chooseQuery)
      options.queryTile = kDefaultGpuQueryTile;
    int64_t keys = getGpuKeyTile(options);
    bool choose = options.keyTile == 0;
    // The spec as given, to schedule again from with other tiles.
    OwningOpRef<func::FuncOp> spec =
        choose || chooseQuery ? function.clone() : nullptr;
    auto restore = [&] {
      function.getBody().takeBody((*spec).getBody());
      function->setAttrs((*spec)->getAttrDictionary());
      spec = function.clone();
    };
    OpPassManager pipeline = getSchedulePipeline(options, keys);
    if (!spec) {
      if (failed(runPipeline(pipeline, function)))
        signalPassFailure();
      return;
    }
    // The default key tile is the tensor cores' (their registers). A
    // schedule that needs key tiles of at least the query tile
    // (cascade-chunk-gates, GLA) ends in a state phase, on CUDA cores,
    // which that budget does not bound: where the default is below the
    // query tile and fails, the key tile's rows (when the query tile was
    // not given: smaller tiles leave the state more room, so fewer column
    // blocks recompute the scores) or else, when the key tile was not
    // given, the query tile's keys are tried, and kept if they give a
    // state phase; else the first attempt's errors stand.
    HeldDiagnostics first(function.getContext());
    LogicalResult scheduled = runPipeline(pipeline, function);
    first.release();
    if (failed(scheduled) && keys < options.queryTile) {
      restore();
      HeldDiagnostics retry(function.getContext());
      GpuTargetOptions square = options;
      if (chooseQuery)
        square.queryTile = keys;
      OpPassManager wider = getSchedulePipeline(square, square.queryTile);
      if (succeeded(runPipeline(wider, function)) &&
          GpuStatePlan::appliesTo(function)) {
        retry.release();
        retry.emit();
        return;
      }
      retry.release();
      restore();
    }
    first.emit();
    if (failed(scheduled))
      return signalPassFailure();
    if (!choose)
      return;
    int64_t chosen = chooseKeyTile(function, target, keys);
    if (chosen == keys)
      return;
    restore();
    OpPassManager again = getSchedulePipeline(options, chosen);
    if (failed(runPipeline(again, function)))
      return signalPassFailure();
  }
};

} // namespace

std::unique_ptr<Pass>
mlir::cascade::createScheduleForGpuPass(const GpuTargetOptions &options) {
  return std::make_unique<ScheduleForGpu>(options);
}
