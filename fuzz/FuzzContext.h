//===- FuzzContext.h - An MLIRContext for fuzz targets -----------*- C++ -*-===//
//
// One context with every dialect loaded, diagnostics swallowed (a fuzz input
// is expected to be invalid; only a crash, a sanitizer report or a hang is a
// finding), and replaced every few thousand inputs so that the attributes
// and types each input interns do not grow without bound.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_FUZZ_FUZZCONTEXT_H
#define CASCADE_FUZZ_FUZZCONTEXT_H

#include "cascade/InitAllDialects.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <memory>

namespace mlir::cascade::fuzz {

inline MLIRContext &getFuzzContext() {
  static std::unique_ptr<MLIRContext> context;
  static unsigned uses = 0;
  if (!context || ++uses % 4096 == 0) {
    DialectRegistry registry;
    registerAllDialects(registry);
    context = std::make_unique<MLIRContext>(registry,
                                            MLIRContext::Threading::DISABLED);
    context->loadAllAvailableDialects();
    context->getDiagEngine().registerHandler(
        [](Diagnostic &) { return success(); });
  }
  return *context;
}

} // namespace mlir::cascade::fuzz

#endif // CASCADE_FUZZ_FUZZCONTEXT_H
