//===- Registration.cpp - Dialects and passes the tools register ----------===//

#include "cascade/InitAllDialects.h"
#include "cascade/Dialect/Cascade/IR/CascadeDialect.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Conversion/Passes.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::cascade::registerAllDialects(DialectRegistry &registry) {
  registry.insert<CascadeDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // The GPU backend's modules go through gpu-module-to-binary, which
  // translates them to LLVM IR (NVVM, GPU, LLVM) before ptxas.
  mlir::registerAllToLLVMIRTranslations(registry);
}

void mlir::cascade::registerAllPasses() {
  static bool registered = [] {
    mlir::registerAllPasses();
    registerCascadePasses();
    registerCascadeConversionPasses();
    registerCascadeToCpuPipeline();
    registerCascadeToGpuPipeline();
    return true;
  }();
  (void)registered;
}
