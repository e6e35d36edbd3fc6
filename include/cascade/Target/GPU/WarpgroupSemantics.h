//===- WarpgroupSemantics.h - What sm_90a's wgmma computes ------*- C++ -*-===//
//
// The semantics of Hopper's warpgroup-level matrix multiply
// (`wgmma.mma_async`, `nvvm.wgmma.mma_async` in MLIR) as functions, for the
// SIMT emulator (docs/GPU.md) and pinned by unittests/WarpSemanticsTest.cpp
// with cases computed by hand from the PTX ISA's tables:
//
//   - the 64-bit shared-memory matrix descriptor ("Matrix Descriptor
//     Format"): start address, leading and stride byte offsets (all >> 4),
//     base offset, swizzle mode;
//   - where element (row, k) of a K-major operand with 16-bit elements
//     lies for a descriptor: 8-row groups `stride` bytes apart, rows of a
//     group 128 bytes apart, then the 128-byte swizzle, which XORs address
//     bits [4, 7) (the 16-byte chunk) with bits [7, 10) (the row within a
//     1024-byte atom). Only that swizzle is modelled: it is the layout the
//     Cascade kernels stage (GpuPlan's StagePlan) and the one that is free
//     of bank conflicts; other modes are reported as not modelled;
//   - where element (mn, k) of an MN-major operand (B with imm-trans-b = 1,
//     the `row` layout of nvvm.wgmma.mma_async) lies: 64 consecutive mn
//     (128 bytes) form a row, the 8 k of a group are rows 128 bytes apart,
//     the next 8 k are the stride byte offset on ("offset from the first 8
//     columns to the next 8 columns") and the next 64 mn the leading byte
//     offset on ("offset from the first (swizzle-byte-size / 16) rows to
//     the next"; the ISA's rows here are 16-byte units along mn), then the
//     same 128-byte swizzle;
//   - the accumulator fragment of m64nNk16 with f32 accumulators: thread t
//     of the warpgroup (warp w = t / 32, lane l = t % 32, g = l / 4,
//     q = l % 4) holds for each 8-column block j the elements
//     d[4j + {0,1}] = (16w + g, 8j + 2q + {0,1}) and
//     d[4j + {2,3}] = (16w + g + 8, same columns): per warp, mma.sync's
//     m16n8 C layout repeated over the N / 8 blocks.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_WARPGROUPSEMANTICS_H
#define CASCADE_TARGET_GPU_WARPGROUPSEMANTICS_H

#include "cascade/Target/GPU/WarpSemantics.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <vector>

namespace mlir::cascade::gpu {

inline constexpr unsigned kWarpgroupSize = 128;

/// Every thread's registers of one warpgroup operation, thread 0 first.
using WarpgroupRegisters = std::vector<llvm::SmallVector<float, 8>>;

/// The fields of a wgmma shared-memory matrix descriptor, in bytes (the
/// encoded fields are the byte values >> 4).
struct WgmmaDescriptor {
  enum class Swizzle { None = 0, Bytes128 = 1, Bytes64 = 2, Bytes32 = 3 };
  /// Bits 0-13: the operand's start address in the shared window.
  uint32_t startAddress = 0;
  /// Bits 16-29 and 32-45: the leading- and stride-dimension byte offsets.
  uint32_t leadingByteOffset = 0, strideByteOffset = 0;
  /// Bits 49-51: the swizzle pattern's phase when the start is not on a
  /// pattern boundary.
  unsigned baseOffset = 0;
  /// Bits 62-63.
  Swizzle swizzle = Swizzle::None;
};

WgmmaDescriptor decodeWgmmaDescriptor(uint64_t bits);
uint64_t encodeWgmmaDescriptor(const WgmmaDescriptor &descriptor);

/// The byte address of element (row, k) of a K-major operand of 16-bit
/// elements that `descriptor` describes (128-byte swizzle, base offset 0);
/// fails, saying what is not modelled, otherwise.
llvm::Expected<uint32_t> getWgmmaKMajorAddress(const WgmmaDescriptor &descriptor,
                                               unsigned row, unsigned k);

/// The byte address of element (mn, k) of an MN-major operand of 16-bit
/// elements (128-byte swizzle, base offset 0); fails, saying what is not
/// modelled, otherwise.
llvm::Expected<uint32_t>
getWgmmaMNMajorAddress(const WgmmaDescriptor &descriptor, unsigned mn,
                       unsigned k);

/// How an operand is stored: K-major (the k of a row contiguous) or
/// MN-major (the rows or columns of the product contiguous).
enum class WgmmaMajor { K, MN };

/// Where element `i` of thread `thread`'s m64nNk16 accumulator sits.
MatrixCoord getWgmmaAccumulatorCoord(unsigned thread, unsigned i);

/// Reads the 16-bit element at a byte address of the shared window (the
/// caller maps it onto its buffers and checks the access).
using SharedHalfReader = llvm::function_ref<llvm::Expected<float>(uint32_t)>;

/// wgmma.mma_async.sync.aligned.m64n{n}k16.f32.{f16,bf16}.{f16,bf16} with
/// both operands in shared memory, A K-major and B K-major or, with
/// `majorB` MN-major, N-major: D = A B (+ C when `accumulate`,
/// the scale-d predicate), A (64 x 16) and B^T (n x 16) read through
/// `read` at the descriptors' addresses, every product exact in f32 and
/// each D element summed in increasing k after C (as mma.sync's model).
/// `c` holds n / 2 elements per thread for 128 threads. Fails on a bad n,
/// a fragment of the wrong size, or a read the caller refuses.
llvm::Expected<WarpgroupRegisters>
wgmmaM64NK16(uint64_t descriptorA, uint64_t descriptorB, unsigned n,
             const WarpgroupRegisters &c, bool accumulate, HalfType type,
             SharedHalfReader read, WgmmaMajor majorB = WgmmaMajor::K);

} // namespace mlir::cascade::gpu

#endif // CASCADE_TARGET_GPU_WARPGROUPSEMANTICS_H
