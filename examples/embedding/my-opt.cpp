//===- my-opt.cpp - An out-of-tree mlir-opt that knows Cascade -------------===//
//
// Upstream's dialects and passes plus Cascade's, in one MlirOptMain tool, so
// that one pipeline can mix them, e.g.
//
//   my-opt spec.mlir --pass-pipeline='builtin.module(func.func(
//       cascade-minimize-passes, canonicalize), cascade-to-cpu{...})'
//
//===----------------------------------------------------------------------===//

#include "cascade/InitAllDialects.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  // Cascade's registration includes upstream's (registerAllDialects,
  // registerAllExtensions, registerAllPasses), once.
  mlir::DialectRegistry registry;
  mlir::cascade::registerAllDialects(registry);
  mlir::cascade::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "my-opt: upstream MLIR + Cascade\n",
                        registry));
}
