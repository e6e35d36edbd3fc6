//===- embed-attention.cpp - Cascade from C++: build, minimise, lower, run ===//
//
// What a project embedding Cascade does, with the installed package only:
//
//   1. builds softmax attention as a cascade of Einsums with C++ builders
//      (EinsumParts), not from text;
//   2. counts its passes over the key rank, runs cascade-minimize-passes in
//      its own PassManager and counts again (3 -> 1);
//   3. lowers it with the CPU pipeline (buildCascadeToCpuPipeline) in a
//      second PassManager and JIT-compiles it with MLIR's ExecutionEngine;
//   4. calls the kernel's ABI by hand (docs/CPU.md): <f>_check, then
//      <f>_work_items, then the kernel over all items;
//   5. compares with Cascade's fp64 interpreter on the spec.
//
// Exit status 0 when the kernel agrees with the reference.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Dialect/Cascade/IR/CascadeOps.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Tensor.h"
#include "cascade/Transforms/EinsumBuilder.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// FuseMax's 3-pass softmax attention (variants/softmax.mlir), built:
///   QK[b,h,m,p] = Q[b,h,p,e] * K[b,h,m,e] / sqrt(E)   reduce(e: add)
///   GM[b,h,p]   = QK[b,h,m,p]                          reduce(m: max)
///   SN[b,h,m,p] = exp(QK[b,h,m,p] - GM[b,h,p])
///   SD[b,h,p]   = SN[b,h,m,p]                          reduce(m: add)
///   A[b,h,m,p]  = SN[b,h,m,p] / SD[b,h,p]
///   AV[b,h,p,f] = A[b,h,m,p] * V[b,h,m,f]              reduce(m: add)
func::FuncOp buildSoftmax(OpBuilder &b, Location loc) {
  MLIRContext *context = b.getContext();
  Type f32 = b.getF32Type();
  auto tensor4 = RankedTensorType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic, ShapedType::kDynamic,
       ShapedType::kDynamic},
      f32);
  auto function = func::FuncOp::create(
      b, loc, "softmax",
      b.getFunctionType({tensor4, tensor4, tensor4}, {tensor4}));
  b.setInsertionPointToStart(function.addEntryBlock());
  Value q = function.getArgument(0), k = function.getArgument(1),
        v = function.getArgument(2);

  // One Einsum: its name, output ranks, reduced ranks and operands read at
  // named ranks; `body` combines the operands' elements at a point.
  auto einsum = [&](StringRef name, ArrayRef<StringRef> output,
                    ArrayRef<std::pair<StringRef, ReduceKind>> reductions,
                    ArrayRef<std::pair<Value, SmallVector<StringRef>>> operands,
                    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
    EinsumParts parts(context);
    parts.name = name.str();
    for (StringRef rank : output)
      parts.output.push_back(rank.str());
    for (auto [rank, kind] : reductions)
      parts.reductions.push_back({rank.str(), kind});
    parts.elementType = f32;
    for (auto &[value, ranks] : operands) {
      SmallVector<AffineExpr> indices;
      for (StringRef rank : ranks)
        indices.push_back(parts.dim(rank));
      parts.addOperand(value, indices);
    }
    return parts.build(b, loc, body).getResult();
  };

  Value qk = einsum(
      "QK", {"b", "h", "m", "p"}, {{"e", ReduceKind::add}},
      {{q, {"b", "h", "p", "e"}}, {k, {"b", "h", "m", "e"}}},
      [](OpBuilder &b, Location loc, ValueRange x) -> Value {
        Value product = arith::MulFOp::create(b, loc, x[0], x[1]);
        Value e = ExtentOp::create(b, loc, b.getF32Type(), b.getStringAttr("e"));
        return arith::DivFOp::create(b, loc, product,
                                     math::SqrtOp::create(b, loc, e));
      });
  Value gm = einsum("GM", {"b", "h", "p"}, {{"m", ReduceKind::max}},
                    {{qk, {"b", "h", "m", "p"}}},
                    [](OpBuilder &, Location, ValueRange x) { return x[0]; });
  Value sn = einsum(
      "SN", {"b", "h", "m", "p"}, {},
      {{qk, {"b", "h", "m", "p"}}, {gm, {"b", "h", "p"}}},
      [](OpBuilder &b, Location loc, ValueRange x) -> Value {
        return math::ExpOp::create(b, loc,
                                   arith::SubFOp::create(b, loc, x[0], x[1]));
      });
  Value sd = einsum("SD", {"b", "h", "p"}, {{"m", ReduceKind::add}},
                    {{sn, {"b", "h", "m", "p"}}},
                    [](OpBuilder &, Location, ValueRange x) { return x[0]; });
  Value a = einsum("A", {"b", "h", "m", "p"}, {},
                   {{sn, {"b", "h", "m", "p"}}, {sd, {"b", "h", "p"}}},
                   [](OpBuilder &b, Location loc, ValueRange x) -> Value {
                     return arith::DivFOp::create(b, loc, x[0], x[1]);
                   });
  Value av = einsum("AV", {"b", "h", "p", "f"}, {{"m", ReduceKind::add}},
                    {{a, {"b", "h", "m", "p"}}, {v, {"b", "h", "m", "f"}}},
                    [](OpBuilder &b, Location loc, ValueRange x) -> Value {
                      return arith::MulFOp::create(b, loc, x[0], x[1]);
                    });
  func::ReturnOp::create(b, loc, av);
  return function;
}

/// A strided memref descriptor of rank 4 over f32, as the C interface
/// (`llvm.emit_c_interface`) passes it.
struct MemRef4 {
  float *allocated, *aligned;
  int64_t offset, sizes[4], strides[4];
  MemRef4(std::vector<float> &data, const int64_t (&shape)[4])
      : allocated(data.data()), aligned(data.data()), offset(0) {
    int64_t stride = 1;
    for (int d = 3; d >= 0; --d) {
      sizes[d] = shape[d];
      strides[d] = stride;
      stride *= shape[d];
    }
  }
};

int64_t passesOverKeys(func::FuncOp function) {
  FailureOr<CascadePassCount> count = CascadePassCount::compute(function);
  return succeeded(count) ? count->getPasses("m") : -1;
}

} // namespace

int main() {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  registerAllDialects(registry); // Cascade's and upstream's.
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  // 1. The cascade, from builders.
  OpBuilder builder(&context);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());
  func::FuncOp spec = buildSoftmax(builder, loc);
  if (failed(verify(*module)))
    return 1;
  // The reference runs on the spec as built.
  OwningOpRef<ModuleOp> reference = module->clone();

  // 2. Fewest passes over the key rank, in our own PassManager.
  int64_t before = passesOverKeys(spec);
  PassManager minimize(&context);
  CascadeMinimizePassesOptions minimizeOptions;
  minimizeOptions.emitRemarks = false;
  minimize.addNestedPass<func::FuncOp>(
      createCascadeMinimizePasses(minimizeOptions));
  if (failed(minimize.run(*module)))
    return 1;
  int64_t after = passesOverKeys(*module->getOps<func::FuncOp>().begin());
  llvm::outs() << "embed-attention: passes over m: " << before << " -> "
               << after << "\n";

  // 3. The CPU pipeline, then the JIT.
  CpuTargetOptions target;
  target.headDims["e"] = 64;
  target.headDims["f"] = 64;
  PassManager lower(&context);
  if (failed(buildCascadeToCpuPipeline(lower, target)) ||
      failed(lower.run(*module)))
    return 1;
  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(3, 0, nullptr);
  engineOptions.transformer = transformer;
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine) {
    llvm::errs() << llvm::toString(engine.takeError()) << "\n";
    return 1;
  }
  auto kernel = (*engine)->lookupPacked("_mlir_ciface_softmax");
  auto check = (*engine)->lookupPacked("_mlir_ciface_softmax_check");
  auto workItems = (*engine)->lookupPacked("_mlir_ciface_softmax_work_items");
  if (!kernel || !check || !workItems)
    return 1;

  // 4. The ABI by hand: B=1, H=2, P=100 (not a multiple of the 64-row
  // query tile), M=77 keys, E=F=64.
  const int64_t qShape[4] = {1, 2, 100, 64}, kvShape[4] = {1, 2, 77, 64};
  std::mt19937 random(7);
  std::normal_distribution<float> normal;
  std::vector<float> qData(1 * 2 * 100 * 64), kData(1 * 2 * 77 * 64),
      vData(kData.size()), outData(qData.size());
  for (auto *data : {&qData, &kData, &vData})
    for (float &x : *data)
      x = normal(random);
  MemRef4 qView(qData, qShape), kView(kData, kvShape), vView(vData, kvShape),
      outView(outData, qShape);
  void *views[4] = {&qView, &kView, &vView, &outView};
  int32_t status = -1;
  void *checkArguments[5] = {&views[0], &views[1], &views[2], &views[3],
                             &status};
  (*check)(checkArguments);
  int64_t items = -1;
  void *countArguments[2] = {&views[3], &items};
  (*workItems)(countArguments);
  llvm::outs() << "embed-attention: shape check status " << status << ", "
               << items << " work items\n";
  if (status != 0 || items < 0)
    return 1;
  int64_t begin = 0, end = items;
  void *kernelArguments[6] = {&views[0], &views[1], &views[2],
                              &views[3], &begin,    &end};
  (*kernel)(kernelArguments);

  // 5. Against the fp64 interpreter.
  SmallVector<Tensor> inputs;
  for (auto [data, shape] : {std::make_pair(&qData, &qShape),
                             std::make_pair(&kData, &kvShape),
                             std::make_pair(&vData, &kvShape)}) {
    Tensor tensor(ArrayRef<int64_t>(*shape, 4));
    for (size_t i = 0; i < data->size(); ++i)
      tensor.data[i] = (*data)[i];
    inputs.push_back(std::move(tensor));
  }
  FailureOr<SmallVector<Tensor>> expected = interpretFunction(
      *reference->getOps<func::FuncOp>().begin(), inputs);
  if (failed(expected))
    return 1;
  double worst = 0;
  for (size_t i = 0; i < outData.size(); ++i) {
    double error = std::fabs(outData[i] - (*expected)[0].data[i]);
    if (!(error <= 1e-4 * (1 + std::fabs((*expected)[0].data[i])))) {
      llvm::errs() << "embed-attention: element " << i << " is "
                   << outData[i] << ", expected " << (*expected)[0].data[i]
                   << "\n";
      return 1;
    }
    worst = std::max(worst, error);
  }
  llvm::outs() << "embed-attention: kernel agrees with the fp64 interpreter "
               << "(max abs error " << worst << ")\n";
  return 0;
}
