//===- NpyFuzzer.cpp - libFuzzer: the .npy reader -------------------------===//
//
// Any bytes as a .npy file: the header parser and the shape and size checks
// must refuse what they cannot read, never read past the buffer or
// allocate what the header claims without the data to back it.
//
//===----------------------------------------------------------------------===//

#include "cascade/Support/Npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::Expected<mlir::cascade::NpyArray> array =
      mlir::cascade::parseNpy(bytes, "fuzz.npy");
  if (!array)
    llvm::consumeError(array.takeError());
  return 0;
}
