//===- Bf16MmaToNVVM.cpp - bf16 nvgpu.mma.sync as nvvm.mma.sync -----------===//
//
// Fills a gap of upstream's NVGPU-to-NVVM conversion (see the pass's
// description in Passes.td): it cannot lower a bf16 `nvgpu.mma.sync`. The
// rewrite produces what that conversion produces for f16, with the PTX
// types spelled out: per PTX's m16n8k16 fragment layout, A's four rows of
// two bf16 and B's two become one .b32 register each, and the accumulator
// rows (c0 c1) (c2 c3) four f32 registers.
//
//===----------------------------------------------------------------------===//

#include "cascade/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::cascade {
#define GEN_PASS_DEF_CASCADEBF16MMATONVVM
#include "cascade/Conversion/Passes.h.inc"
} // namespace mlir::cascade

using namespace mlir;

namespace {

struct Bf16MmaSyncToNVVM : OpRewritePattern<nvgpu::MmaSyncOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(nvgpu::MmaSyncOp op,
                                PatternRewriter &rewriter) const override {
    auto a = cast<VectorType>(op.getMatrixA().getType());
    auto b = cast<VectorType>(op.getMatrixB().getType());
    auto c = cast<VectorType>(op.getMatrixC().getType());
    SmallVector<int64_t> shape = llvm::to_vector(
        llvm::map_range(op.getMmaShape(), [](Attribute attr) {
          return cast<IntegerAttr>(attr).getInt();
        }));
    if (!a.getElementType().isBF16())
      return rewriter.notifyMatchFailure(op, "not bf16: upstream lowers it");
    if (shape != SmallVector<int64_t>{16, 8, 16} ||
        a.getShape() != ArrayRef<int64_t>{4, 2} ||
        b.getShape() != ArrayRef<int64_t>{2, 2} ||
        c.getShape() != ArrayRef<int64_t>{2, 2} ||
        !c.getElementType().isF32() || op.getTf32Enabled())
      return op.emitOpError("bf16 mma.sync other than m16n8k16 with f32 "
                            "accumulators (vector<4x2xbf16>, vector<2x2xbf16>, "
                            "vector<2x2xf32>) has no lowering");
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type();
    Type f32 = rewriter.getF32Type();
    auto packed = VectorType::get({1}, i32);
    // Each row of two bf16 as the .b32 register PTX reads.
    auto registers = [&](Value fragment, int64_t rows) {
      SmallVector<Value> regs;
      for (int64_t r = 0; r < rows; ++r) {
        Value row = vector::ExtractOp::create(rewriter, loc, fragment, r);
        Value bits = vector::BitCastOp::create(rewriter, loc, packed, row);
        regs.push_back(vector::ExtractOp::create(rewriter, loc, bits, 0));
      }
      return regs;
    };
    SmallVector<Value> operandA = registers(op.getMatrixA(), 4);
    SmallVector<Value> operandB = registers(op.getMatrixB(), 2);
    SmallVector<Value> operandC;
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e)
        operandC.push_back(vector::ExtractOp::create(
            rewriter, loc, op.getMatrixC(), ArrayRef<int64_t>{r, e}));
    Type result = LLVM::LLVMStructType::getLiteral(
        rewriter.getContext(), {f32, f32, f32, f32});
    std::array<NVVM::MMATypes, 2> ptxTypes = {NVVM::MMATypes::bf16,
                                              NVVM::MMATypes::bf16};
    std::array<NVVM::MMALayout, 2> layouts = {NVVM::MMALayout::row,
                                              NVVM::MMALayout::col};
    Value mma = NVVM::MmaOp::create(rewriter, loc, result, operandA, operandB,
                                    operandC, shape, std::nullopt,
                                    std::nullopt, ptxTypes, layouts);
    SmallVector<Value> elements;
    for (int64_t i = 0; i < 4; ++i)
      elements.push_back(LLVM::ExtractValueOp::create(rewriter, loc, mma, i));
    rewriter.replaceOpWithNewOp<vector::FromElementsOp>(op, c, elements);
    return success();
  }
};

struct CascadeBf16MmaToNVVM
    : cascade::impl::CascadeBf16MmaToNVVMBase<CascadeBf16MmaToNVVM> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<Bf16MmaSyncToNVVM>(&getContext());
    // Only the matched ops change; no folding of the rest of the kernel.
    GreedyRewriteConfig config;
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      signalPassFailure();
    bool failedOp = false;
    getOperation()->walk([&](nvgpu::MmaSyncOp op) {
      failedOp |= cast<VectorType>(op.getMatrixA().getType())
                      .getElementType()
                      .isBF16();
    });
    if (failedOp)
      signalPassFailure();
  }
};

} // namespace
