//===- ParseFuzzer.cpp - libFuzzer: parse and verify a spec ---------------===//
//
// Any bytes as a spec: the parser (equation syntax, infix bodies, affine
// indices, predicates) and the verifiers must answer with a diagnostic,
// never a crash, an unbounded recursion or an out-of-bounds access.
//
//===----------------------------------------------------------------------===//

#include "FuzzContext.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &context = cascade::fuzz::getFuzzContext();
  // MLIR's lexer relies on the NUL after the buffer that every file read
  // through MemoryBuffer has; libFuzzer's bytes have none.
  std::string text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  if (module)
    (void)verify(*module);
  return 0;
}
