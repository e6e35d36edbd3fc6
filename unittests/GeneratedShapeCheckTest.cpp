//===- GeneratedShapeCheckTest.cpp - <f>_check, executed -------------------===//
//
// The kernel's generated shape check (cascade-build-cpu-shape-check), run
// through the JIT on hand-made descriptors, without the C++ contract in
// front of it: grouped-query sizes that read outside K/V, or divide by a
// zero group size, must give the matching status and message; good sizes 0.
// And the kernel's <f>_work_items on the same kind of descriptors.
//
//===----------------------------------------------------------------------===//

#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Target/CPU/CpuCompiler.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// A 4-d descriptor: allocated, aligned, offset, sizes[4], strides[4].
struct Descriptor {
  float *allocated = nullptr, *aligned = nullptr;
  int64_t offset = 0, sizes[4], strides[4];
  Descriptor(int64_t b, int64_t h, int64_t n, int64_t d) {
    int64_t shape[4] = {b, h, n, d}, stride = 1;
    for (int i = 3; i >= 0; --i) {
      sizes[i] = shape[i];
      strides[i] = stride;
      stride *= shape[i];
    }
  }
};

TEST(GeneratedShapeCheck, GroupedQueryAttention) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  MLIRContext context(registry);
  registerAllPasses();
  std::string path =
      std::string(CASCADE_SOURCE_DIR) + "/variants/softmax_gqa.mlir";
  OwningOpRef<ModuleOp> spec = parseSourceFile<ModuleOp>(path, &context);
  ASSERT_TRUE(spec);
  func::FuncOp function = *spec->getOps<func::FuncOp>().begin();
  CpuTargetOptions options;
  options.headDims["e"] = 16;
  options.headDims["f"] = 16;
  options.cpu = "x86-64-v3";
  FailureOr<OwningOpRef<ModuleOp>> lowered =
      lowerToLLVMDialect(function, options);
  ASSERT_TRUE(succeeded(lowered));
  Operation *checkOp = (*lowered)->lookupSymbol("softmax_gqa_check");
  ASSERT_TRUE(checkOp);
  auto messages = checkOp->getAttrOfType<ArrayAttr>("cascade.check_messages");
  ASSERT_TRUE(messages);
  auto engine = ExecutionEngine::create(**lowered);
  ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());
  auto check = (*engine)->lookupPacked("_mlir_ciface_softmax_gqa_check");
  ASSERT_TRUE(bool(check));

  auto run = [&](int64_t h, int64_t hkv) -> std::string {
    Descriptor q(1, h, 8, 16), k(1, hkv, 8, 16), v(1, hkv, 8, 16),
        out(1, h, 8, 16);
    void *pointers[4] = {&q, &k, &v, &out};
    int32_t status = -1;
    void *arguments[5] = {&pointers[0], &pointers[1], &pointers[2],
                          &pointers[3], &status};
    (*check)(arguments);
    if (status == 0)
      return "ok";
    return cast<StringAttr>(messages[status - 1]).str();
  };
  EXPECT_EQ(run(4, 2), "ok");
  EXPECT_EQ(run(3, 3), "ok");
  EXPECT_EQ(run(3, 2),
            "operand #1 (argument #1) of QK, dimension 1: the index `h "
            "floordiv (H floordiv HKV)` must stay inside the dimension at "
            "every point");
  EXPECT_EQ(run(2, 3), "the divisor `H floordiv HKV` in `h floordiv (H "
                       "floordiv HKV)` of QK must be positive");
  EXPECT_EQ(run(2, 0), "the divisor `HKV` in `H floordiv HKV` of QK must be "
                       "positive");

  // <f>_work_items, from the schedule plan's work decomposition: items over
  // [b, h, p1], p1 in tiles of the default 64 query rows; -1 for a negative
  // size or a count past int64.
  auto workItems =
      (*engine)->lookupPacked("_mlir_ciface_softmax_gqa_work_items");
  ASSERT_TRUE(bool(workItems));
  auto count = [&](int64_t b, int64_t h, int64_t p) {
    Descriptor out(b, h, p, 16);
    void *pointer = &out;
    int64_t items = -2;
    void *arguments[2] = {&pointer, &items};
    (*workItems)(arguments);
    return items;
  };
  EXPECT_EQ(count(1, 3, 130), 1 * 3 * 3);
  EXPECT_EQ(count(2, 5, 64), 2 * 5 * 1);
  EXPECT_EQ(count(2, 5, 0), 0);
  EXPECT_EQ(count(1, -1, 8), -1);
  EXPECT_EQ(count(int64_t(1) << 40, int64_t(1) << 40, 64), -1);
}

} // namespace
