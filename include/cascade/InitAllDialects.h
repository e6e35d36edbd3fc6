//===- InitAllDialects.h - Registration for Cascade tools ---------*- C++ -*-===//
//
// What attn-opt, attn-run and embedders register: the cascade dialect, every
// upstream dialect, extension and pass (so any pipeline can follow ours),
// and Cascade's own passes.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_INITALLDIALECTS_H
#define CASCADE_INITALLDIALECTS_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace mlir::cascade {

/// Adds the cascade dialect and all upstream dialects and extensions.
void registerAllDialects(DialectRegistry &registry);

/// Registers all upstream passes and Cascade's passes with the global pass
/// registry (idempotent).
void registerAllPasses();

} // namespace mlir::cascade

#endif // CASCADE_INITALLDIALECTS_H
