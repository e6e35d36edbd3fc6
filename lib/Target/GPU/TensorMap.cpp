//===- TensorMap.cpp - The tensor maps of a kernel's TMA stages -----------===//

#include "cascade/Target/GPU/TensorMap.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/Twine.h"

using namespace mlir;
using namespace mlir::cascade::gpu;
using mlir::cascade::kTensorMapAttrName;

FailureOr<SmallVector<TensorMapParameter>>
mlir::cascade::gpu::getTensorMapParameters(mlir::gpu::GPUFuncOp kernel) {
  SmallVector<TensorMapParameter> parameters;
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    auto dict = kernel.getArgAttrOfType<DictionaryAttr>(i, kTensorMapAttrName);
    if (!dict)
      continue;
    auto operand = dict.getAs<IntegerAttr>("operand");
    auto box = dict.getAs<DenseI64ArrayAttr>("box");
    auto swizzle = dict.getAs<IntegerAttr>("swizzle");
    if (!operand || !box || !swizzle ||
        operand.getInt() < 0 ||
        operand.getInt() >= static_cast<int64_t>(kernel.getNumArguments()))
      return kernel.emitError("argument #")
             << i << ": a malformed " << kTensorMapAttrName
             << " (operand, box, swizzle)";
    auto memref =
        dyn_cast<MemRefType>(kernel.getArgumentTypes()[operand.getInt()]);
    if (!memref || memref.getRank() != static_cast<int64_t>(box.size()))
      return kernel.emitError("argument #")
             << i << ": the tensor map's operand #" << operand.getInt()
             << " is not a memref of the box's rank";
    TensorMapParameter parameter;
    parameter.argument = i;
    parameter.operand = operand.getInt();
    parameter.box.assign(box.asArrayRef().begin(), box.asArrayRef().end());
    parameter.swizzleBytes = swizzle.getInt();
    parameters.push_back(std::move(parameter));
  }
  return parameters;
}

llvm::Expected<TensorMapEncoding>
mlir::cascade::gpu::encodeTensorMap(const TensorMapParameter &parameter,
                                    ArrayRef<int64_t> shape,
                                    unsigned elementBytes) {
  auto error = [&](const llvm::Twine &message) {
    return llvm::createStringError(
        "tensor map of argument #" + llvm::Twine(parameter.argument) +
        " (over input #" + llvm::Twine(parameter.operand) + "): " + message);
  };
  size_t rank = shape.size();
  if (rank < 1 || rank > 5 || parameter.box.size() != rank)
    return error("rank " + llvm::Twine(rank) +
                 " (a tensor map has 1 to 5 dimensions, as many as its box)");
  if (parameter.swizzleBytes != 0 && parameter.swizzleBytes != 128)
    return error("swizzle " + llvm::Twine(parameter.swizzleBytes) +
                 " bytes (0 or 128)");
  TensorMapEncoding encoding;
  encoding.rank = rank;
  encoding.elementBytes = elementBytes;
  encoding.swizzleBytes = parameter.swizzleBytes;
  uint64_t stride = elementBytes;
  for (size_t i = 0; i < rank; ++i) {
    size_t dim = rank - 1 - i;
    uint64_t extent = std::max<int64_t>(shape[dim], 1);
    if (extent > (uint64_t(1) << 32))
      return error("dimension " + llvm::Twine(dim) + " has " +
                   llvm::Twine(extent) + " elements, more than 2^32");
    int64_t box = parameter.box[dim];
    if (box < 1 || box > 256)
      return error("box " + llvm::Twine(box) + " in dimension " +
                   llvm::Twine(dim) + " (1 to 256)");
    encoding.dims[i] = extent;
    encoding.box[i] = static_cast<uint32_t>(box);
    encoding.elementStrides[i] = 1;
    if (i > 0) {
      if (stride % 16 != 0 || stride >= (uint64_t(1) << 40))
        return error("dimension " + llvm::Twine(dim) + " has a stride of " +
                     llvm::Twine(stride) +
                     " bytes (a multiple of 16 below 2^40)");
      encoding.strides[i - 1] = stride;
    }
    stride *= extent;
  }
  if (parameter.swizzleBytes &&
      encoding.box[0] * elementBytes > static_cast<uint64_t>(
                                           parameter.swizzleBytes))
    return error("an inner box row of " +
                 llvm::Twine(encoding.box[0] * elementBytes) +
                 " bytes exceeds the swizzle span");
  return encoding;
}
