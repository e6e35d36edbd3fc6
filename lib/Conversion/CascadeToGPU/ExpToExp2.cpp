//===- ExpToExp2.cpp - exp as exp2 with log2(e) folded --------------------===//
//
// See the pass's description in Passes.td. f32 only: that is what the
// kernels compute in (operands are rounded to f16/bf16 only for the tensor
// cores).
//
//===----------------------------------------------------------------------===//

#include "cascade/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/MathExtras.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEGPUEXPTOEXP2
#include "cascade/Conversion/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;

namespace {

/// `value` as a constant of `type` (a float or a vector of floats).
Value constantLike(PatternRewriter &rewriter, Location loc, Type type,
                   double value) {
  Type element = getElementTypeOrSelf(type);
  TypedAttr scalar = rewriter.getFloatAttr(element, value);
  if (auto vector = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(rewriter, loc, vector,
                                     DenseElementsAttr::get(vector, scalar));
  return arith::ConstantOp::create(rewriter, loc, type, scalar);
}

struct ExpToExp2 : OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::ExpOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "not f32");
    Location loc = op.getLoc();
    // exp(x) = 2^(x log2e). FlashAttention's form for exp(a - b),
    // fma(a, log2e, b * -log2e), saves one instruction per element more but
    // keeps b * -log2e live beside b: at the register limit it spilled
    // (softmax_onepass, sm_90a, D = 128) and raised softmax_causal at D = 64
    // from 168 to 246 registers (docs/GPU.md), so the subtraction stays.
    Value log2e = constantLike(rewriter, loc, type, llvm::numbers::log2e);
    Value exponent =
        arith::MulFOp::create(rewriter, loc, op.getOperand(), log2e);
    rewriter.replaceOpWithNewOp<math::Exp2Op>(op, exponent);
    return success();
  }
};

struct CascadeGpuExpToExp2
    : cascade::impl::CascadeGpuExpToExp2Base<CascadeGpuExpToExp2> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpToExp2>(&getContext());
    GreedyRewriteConfig config;
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      signalPassFailure();
  }
};

} // namespace
