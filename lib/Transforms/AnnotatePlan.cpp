//===- AnnotatePlan.cpp - The schedule plan as attributes, for lit tests ---===//
//
// The backends compute the plan and only read it; this pass makes the same
// plan visible in the IR so that a scheduling decision (a loop order, a
// register tile, a packed and hoisted operand, the work decomposition) is
// checked by FileCheck rather than by reading generated loops.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Analysis/GpuStatePlan.h"
#include "cascade/Analysis/SchedulePlan.h"
#include "cascade/Transforms/Passes.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEANNOTATEPLAN
#include "cascade/Transforms/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;
using namespace mlir::cascade;

namespace {

struct AnnotatePlan
    : public mlir::cascade::impl::CascadeAnnotatePlanBase<AnnotatePlan> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (!isCascadeFunction(function))
      return;
    if (std::optional<GpuTarget> gpu = GpuTarget::byChip(target)) {
      if (GpuStatePlan::appliesTo(function)) {
        FailureOr<GpuStatePlan> plan = GpuStatePlan::compute(function, *gpu);
        if (failed(plan))
          return signalPassFailure();
        plan->annotate();
        return;
      }
      FailureOr<GpuPlan> plan = GpuPlan::compute(function, *gpu);
      if (failed(plan))
        return signalPassFailure();
      plan->annotate();
      return;
    }
    std::optional<TargetDescription> description =
        TargetDescription::byName(target);
    if (!description) {
      function.emitError("cascade-annotate-plan: unknown target '")
          << target << "' (avx512, avx2, sm_80, sm_86, sm_89 or sm_90a)";
      return signalPassFailure();
    }
    FailureOr<SchedulePlan> plan = SchedulePlan::compute(function, *description);
    if (failed(plan))
      return signalPassFailure();
    plan->annotate();
  }
};

} // namespace
