//===- WarpSemantics.h - What one warp's collective ops compute -*- C++ -*-===//
//
// The semantics of the warp-collective operations a Cascade GPU kernel is
// made of, as functions of every lane's registers: the tensor-core
// `mma.sync` (nvgpu.mma.sync), `ldmatrix` (nvgpu.ldmatrix) and the lane
// shuffles (gpu.shuffle). They are the core of the SIMT emulator
// (docs/GPU.md), which runs a kernel's final IR on the CPU without a GPU;
// each layout is the PTX ISA's table written as a function, and
// unittests/WarpSemanticsTest.cpp pins them with hand-computed cases from
// those tables.
//
// A warp's values for one op are `WarpRegisters`: per lane, the elements of
// its fragment in the order nvgpu's vector types hold them flattened
// row-major (mma A `vector<4x2xf16>`: 8 elements; B `vector<2x2xf16>`: 4;
// C and D `vector<2x2xf32>`: 4; ldmatrix `vector<Nx2xf16>`: 2N).
//
// 16-bit values are held as the float they convert to: every f16 and bf16
// value is exact in fp32, and the functions round their 16-bit inputs
// first, so a caller cannot feed a tensor core more precision than a
// register holds.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_WARPSEMANTICS_H
#define CASCADE_TARGET_GPU_WARPSEMANTICS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>

namespace mlir::cascade::gpu {

inline constexpr unsigned kWarpSize = 32;

/// Every lane's elements of one fragment (or one scalar register: one
/// element each).
using WarpRegisters = std::array<llvm::SmallVector<float, 8>, kWarpSize>;

/// The 16-bit floating-point storage types of tensor-core operands.
enum class HalfType { F16, BF16 };

/// `x` rounded to nearest even in `type` (what a conversion to f16 or bf16
/// stores): overflow gives +-inf for f16 (max 65504), NaN stays NaN,
/// values below the smallest subnormal flush to a signed zero.
float roundToHalf(float x, HalfType type);

/// The 16 bits that store `x` in `type`, rounded to nearest even as
/// roundToHalf rounds (NaN stays a quiet NaN), and back. Bit manipulation,
/// not APFloat: the host side of a GPU run converts whole tensors.
uint16_t toHalfBits(float x, HalfType type);
float fromHalfBits(uint16_t bits, HalfType type);

/// A position in a matrix: row, column.
struct MatrixCoord {
  unsigned row = 0, col = 0;
  bool operator==(const MatrixCoord &other) const {
    return row == other.row && col == other.col;
  }
};

//===----------------------------------------------------------------------===//
// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32
//===----------------------------------------------------------------------===//

/// Where element `i` of lane `lane`'s fragment sits in the 16x16 matrix A
/// (row-major M x K), the 16x8 matrix B (K x N: row k, column n) and the
/// 16x8 accumulators C and D. PTX ISA, "Matrix fragments for mma.m16n8k16
/// with floating point type": with g = lane / 4 and t = lane % 4,
///   A: a0,a1 (g, 2t+{0,1}), a2,a3 (g+8, 2t+{0,1}), a4,a5 (g, 2t+8+{0,1}),
///      a6,a7 (g+8, 2t+8+{0,1});
///   B: b0,b1 (2t+{0,1}, g), b2,b3 (2t+8+{0,1}, g);
///   C, D: c0,c1 (g, 2t+{0,1}), c2,c3 (g+8, 2t+{0,1}).
MatrixCoord getMmaM16N8K16ACoord(unsigned lane, unsigned i);
MatrixCoord getMmaM16N8K16BCoord(unsigned lane, unsigned i);
MatrixCoord getMmaM16N8K16CCoord(unsigned lane, unsigned i);

/// D = A B + C for one warp. A (8 per lane) and B (4 per lane) are rounded
/// to `type`; every product is exact in fp32 and each D element is C plus
/// the 16 products summed in fp32 in increasing k. The hardware's
/// accumulation order and intermediate precision are not specified by the
/// ISA, so kernels are checked against the fp64 reference with an error
/// bound, never bit for bit. Fails, naming the lane, when a fragment has
/// the wrong number of elements.
llvm::Expected<WarpRegisters> mmaSyncM16N8K16(const WarpRegisters &a,
                                              const WarpRegisters &b,
                                              const WarpRegisters &c,
                                              HalfType type);

//===----------------------------------------------------------------------===//
// ldmatrix.sync.aligned.m8n8.x{1,2,4}{,.trans}.shared.b16
//===----------------------------------------------------------------------===//

/// Lanes 8j .. 8j+7 give the start of rows 0..7 of matrix j (an index of a
/// 16-bit element of `shared`; 16-byte aligned, so a multiple of 8); the
/// other lanes' addresses are ignored. Lane l receives, from each matrix j
/// in order, the two elements (l / 4, 2 (l % 4) + {0, 1}), or with
/// `transpose` the elements (2 (l % 4) + {0, 1}, l / 4): `numMatrices` x 2
/// elements per lane. Fails, naming the lane, on a misaligned row or one
/// that leaves `shared`, and when `numMatrices` is not 1, 2 or 4.
llvm::Expected<WarpRegisters> ldmatrix(llvm::ArrayRef<double> shared,
                                       llvm::ArrayRef<int64_t> rowStarts,
                                       unsigned numMatrices, bool transpose,
                                       HalfType type);

//===----------------------------------------------------------------------===//
// gpu.shuffle
//===----------------------------------------------------------------------===//

enum class ShuffleMode { Xor, Up, Down, Idx };

/// One scalar per lane after a shuffle, and whether it is defined. A
/// shuffle moves a register's bits: values are held as double, which keeps
/// every f32, every i32 and every i64 below 2^53 exact (document ids
/// beyond 2^24 included).
struct ShuffleResult {
  std::array<double, kWarpSize> value{};
  std::array<bool, kWarpSize> valid{};
};

/// gpu.shuffle as upstream's NVVM lowering executes it: shfl.sync with
/// the first `width` lanes as member mask (width a power of two, 1..32)
/// and clamp `width - 1` (xor, down, idx) or `32 - width` (up). Lane k
/// reads lane j = k ^ offset (xor), k - offset (up), k + offset (down) or
/// offset % 32 (idx, which reads the offset's low 5 bits); the PTX ISA's shfl makes it valid when j <= clamp
/// (xor, down, idx) or j >= clamp (up), and an invalid lane gets its own
/// value. Lanes k >= width are outside the member mask (undefined in PTX):
/// invalid, their own value. Fails on a bad width.
llvm::Expected<ShuffleResult> shuffle(llvm::ArrayRef<double> values,
                                      unsigned offset, unsigned width,
                                      ShuffleMode mode);

} // namespace mlir::cascade::gpu

#endif // CASCADE_TARGET_GPU_WARPSEMANTICS_H
