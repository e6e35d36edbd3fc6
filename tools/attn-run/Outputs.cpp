//===- Outputs.cpp - attn-run's results: summary, --print, --output -------===//

#include "Outputs.h"

#include "cascade/Support/Compare.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::cascade;

std::string mlir::cascade::describeShapes(ArrayRef<Tensor> outputs) {
  std::string shapes;
  for (auto [i, output] : llvm::enumerate(outputs))
    shapes += (i ? "," : "") + output.getShapeString();
  return shapes;
}

int64_t mlir::cascade::countNonFinite(ArrayRef<Tensor> outputs) {
  int64_t count = 0;
  for (const Tensor &output : outputs)
    count += countNonFinite(output);
  return count;
}

void mlir::cascade::printOutputs(ArrayRef<Tensor> outputs) {
  for (const Tensor &tensor : outputs) {
    int64_t row = tensor.shape.empty() ? 1 : tensor.shape.back();
    if (row == 0)
      row = 1;
    for (size_t i = 0; i < tensor.data.size(); ++i)
      llvm::outs() << llvm::format("%.10g", tensor.data[i])
                   << (((i + 1) % row == 0) ? "\n" : " ");
  }
}

llvm::Error mlir::cascade::writeOutputs(ArrayRef<Tensor> outputs,
                                        llvm::StringRef path,
                                        NpyDType dtype) {
  for (auto [i, output] : llvm::enumerate(outputs)) {
    std::string file = path.str();
    if (i > 0)
      file = (path.rsplit(".npy").first + "_" + llvm::Twine(i) + ".npy").str();
    if (llvm::Error error = writeNpy(file, output, dtype))
      return error;
  }
  return llvm::Error::success();
}
