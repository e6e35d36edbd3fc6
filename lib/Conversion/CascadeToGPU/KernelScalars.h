//===- KernelScalars.h - Scalar conversions both GPU kernels use -*- C++ -*-===//
//
// Shared by the tensor-core kernel (KernelBuilder.cpp) and the state-phase
// kernel (StateKernelBuilder.cpp): how spec element types become kernel
// element types, and how a scalar moves between index, integer and float
// types when a body, a load or a store needs another.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_CONVERSION_CASCADETOGPU_KERNELSCALARS_H
#define CASCADE_LIB_CONVERSION_CASCADETOGPU_KERNELSCALARS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir::cascade {

/// A spec tensor's element type in a kernel: floats in the storage type
/// (f16 / bf16), integers (ids) as they are.
inline Type kernelElementType(Type spec, Type storage) {
  return isa<FloatType>(spec) ? storage : spec;
}

/// `value` as `type`: index to integer or float (signed), float widths
/// either way, integer to float.
inline Value convertScalar(OpBuilder &b, Location loc, Value value,
                           Type type) {
  Type from = value.getType();
  if (from == type)
    return value;
  if (from.isIndex()) {
    if (isa<FloatType>(type))
      return arith::SIToFPOp::create(
          b, loc, type,
          arith::IndexCastOp::create(b, loc, b.getI64Type(), value));
    return arith::IndexCastOp::create(b, loc, type, value);
  }
  if (isa<FloatType>(from) && isa<FloatType>(type)) {
    if (from.getIntOrFloatBitWidth() < type.getIntOrFloatBitWidth())
      return arith::ExtFOp::create(b, loc, type, value);
    return arith::TruncFOp::create(b, loc, type, value);
  }
  if (isa<IntegerType>(from) && isa<FloatType>(type))
    return arith::SIToFPOp::create(b, loc, type, value);
  return value;
}

} // namespace mlir::cascade

#endif // CASCADE_LIB_CONVERSION_CASCADETOGPU_KERNELSCALARS_H
