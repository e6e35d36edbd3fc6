//===- KernelCommon.h - What both GPU kernel builders emit alike -*- C++ -*-===//
//
// Shared by the tensor-core kernel (KernelBuilder.cpp) and the state-phase
// kernel (StateKernelBuilder.cpp): element types and scalar conversions,
// the dynamic shared memory declaration, the extents of every rank and the
// work item's coordinates, and an Einsum's predicate and body at a point
// whose rank coordinates the caller gives.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_CONVERSION_CASCADETOGPU_KERNELCOMMON_H
#define CASCADE_LIB_CONVERSION_CASCADETOGPU_KERNELCOMMON_H

#include "cascade/Analysis/SchedulePlan.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
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

/// Loads the dialects a kernel is built from (callers outside a pass, such
/// as attn-run and the library, need not have), marks `source`'s module as
/// a GPU container and creates `gpu.module @<f>_gpu` after `source`.
gpu::GPUModuleOp createKernelModule(OpBuilder &b, func::FuncOp source);

/// The kernel's leading argument types: every tensor argument of `source`
/// as a memref (floats in `storage`), runtime scalars as they are.
SmallVector<Type> kernelInputTypes(func::FuncOp source, Type storage);

/// Declares, at the builder's point in a gpu.module, the external
/// zero-length shared array that gpu.dynamic_shared_memory lowers to (PTX's
/// `.extern .shared .align 16`; docs/GPU.md, "Dynamic shared memory").
void declareDynamicSharedMemory(OpBuilder &b, Location loc);

/// The extent of every rank of `env` as index values in `kernel` (whose
/// arguments are the spec's, in order): runtime scalars, argument
/// dimensions, the head dimensions the work plan fixes, and the inner and
/// outer ranks of the query and key partitions.
LogicalResult computeKernelExtents(OpBuilder &b, Location loc,
                                   const RankEnvironment &env,
                                   gpu::GPUFuncOp kernel, const WorkPlan &work,
                                   llvm::StringMap<Value> &extents);

/// This block's coordinate along each of `ranks` (row-major from the block
/// id, the last fastest), in order; a rank's extent is the output `out`'s
/// dimension over its tile, rounded up (the host's launch geometry).
SmallVector<Value> computeBlockCoordinates(OpBuilder &b, Location loc,
                                           Value out,
                                           ArrayRef<WorkRankPlan> ranks);

/// The work ranks' coordinates of this block (computeBlockCoordinates over
/// `work.ranks`), by rank.
void computeWorkCoordinates(OpBuilder &b, Location loc, Value out,
                            const WorkPlan &work,
                            llvm::StringMap<Value> &fixed);

/// Whether `einsum`'s affine predicate holds at the point `dims` (its
/// ranks' coordinates, in order) with symbol values `symbols`; null when it
/// has none. With `columnDim` (the dimension that varies along a
/// fragment's row), each constraint compares the terms of the other
/// dimensions with those of `columnDim`.
Value buildAffinePredicate(OpBuilder &b, Location loc, EinsumOp einsum,
                           ArrayRef<Value> dims, ArrayRef<Value> symbols,
                           std::optional<unsigned> columnDim = std::nullopt);

/// `einsum`'s body cloned at a point, as f32: `operand(i)` gives operand
/// i's value (asked only for operands the body uses), `coordinate(rank)`
/// the rank's coordinate (asked only for the ranks it reads), `extents`
/// every extent.
Value cloneEinsumBody(OpBuilder &b, Location loc, EinsumOp einsum,
                      function_ref<Value(unsigned)> operand,
                      function_ref<Value(StringRef)> coordinate,
                      const llvm::StringMap<Value> &extents);

/// The key tiles `iterate` visits for this block: its tile schedule's
/// bounds at the query tile and ranks `fixed` holds, or all `steps` when
/// it has none. An error when the schedule depends on a rank a block does
/// not fix.
FailureOr<KeyTileLoopBounds>
buildBlockKeyTileBounds(OpBuilder &b, Location loc, IterateOp iterate,
                        PartitionOp query, const llvm::StringMap<Value> &fixed,
                        const llvm::StringMap<Value> &extents, Value steps);

} // namespace mlir::cascade

#endif // CASCADE_LIB_CONVERSION_CASCADETOGPU_KERNELCOMMON_H
