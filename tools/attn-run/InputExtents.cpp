//===- InputExtents.cpp - Sizes a compiled target takes from its inputs ---===//

#include "InputExtents.h"

#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

using namespace mlir;
using namespace mlir::cascade;

FailureOr<InputExtents>
mlir::cascade::resolveInputExtents(func::FuncOp function,
                                   ArrayRef<Tensor> inputs,
                                   std::string &error) {
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env)) {
    error = "inconsistent ranks";
    return failure();
  }
  SmallVector<SmallVector<int64_t>> shapes;
  SmallVector<std::optional<int64_t>> scalars;
  for (auto [arg, input] : llvm::enumerate(inputs)) {
    shapes.push_back(input.shape);
    scalars.push_back(env->getRankOfScalarArgument(arg)
                          ? input.getScalarInteger()
                          : std::nullopt);
  }
  FailureOr<llvm::StringMap<int64_t>> extents =
      env->resolveExtents(shapes, error, scalars);
  if (failed(extents))
    return failure();
  InputExtents result;
  result.extents = std::move(*extents);
  for (auto [arg, input] : llvm::enumerate(inputs))
    if (auto tensor =
            dyn_cast<RankedTensorType>(function.getArgumentTypes()[arg]);
        tensor && tensor.getRank() > 0 &&
        isa<FloatType>(tensor.getElementType()))
      if (std::optional<StringRef> rank =
              env->getRankOfArgumentDim(arg, input.getRank() - 1))
        result.headDims[*rank] = input.shape.back();
  return result;
}
