//===- CascadeDialect.h - The cascade dialect ---------------------*- C++ -*-===//
//
// Declares the dialect class generated from include/cascade/Dialect/Cascade/IR/CascadeBase.td.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_DIALECT_CASCADE_IR_CASCADEDIALECT_H
#define CASCADE_DIALECT_CASCADE_IR_CASCADEDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Dialect.h"

#include "cascade/Dialect/Cascade/IR/CascadeDialect.h.inc"

#endif // CASCADE_DIALECT_CASCADE_IR_CASCADEDIALECT_H
