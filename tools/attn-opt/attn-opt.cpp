//===- attn-opt.cpp - mlir-opt with the cascade dialect and passes --------===//
//
// A thin MlirOptMain: every standard flag (--pass-pipeline,
// --mlir-print-ir-after-all, --verify-diagnostics, --split-input-file...)
// works as in mlir-opt.
//
//===----------------------------------------------------------------------===//

#include "cascade/InitAllDialects.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::cascade::registerAllDialects(registry);
  mlir::cascade::registerAllPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Cascade optimizer driver\n", registry));
}
