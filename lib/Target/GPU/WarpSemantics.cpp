//===- WarpSemantics.cpp - What one warp's collective ops compute --------===//
//
// The PTX ISA's fragment layouts and shuffle rules as functions (see the
// header). Every check that can fail on a kernel's bad input returns an
// error naming the lane, so the emulator reports it at the op.
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/WarpSemantics.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/Twine.h"
#include "llvm/ADT/bit.h"

#include <cmath>

using namespace mlir::cascade::gpu;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

const llvm::fltSemantics &getSemantics(HalfType type) {
  return type == HalfType::F16 ? llvm::APFloat::IEEEhalf()
                               : llvm::APFloat::BFloat();
}

/// Fails unless every lane holds `count` elements.
llvm::Error checkFragments(const WarpRegisters &registers, unsigned count,
                           llvm::StringRef what) {
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    if (registers[lane].size() != count)
      return makeError(llvm::Twine(what) + " of lane " + llvm::Twine(lane) +
                       " has " + llvm::Twine(registers[lane].size()) +
                       " elements, not " + llvm::Twine(count));
  return llvm::Error::success();
}

} // namespace

float mlir::cascade::gpu::roundToHalf(float x, HalfType type) {
  llvm::APFloat value(x);
  bool losesInfo = false;
  value.convert(getSemantics(type), llvm::APFloat::rmNearestTiesToEven,
                &losesInfo);
  value.convert(llvm::APFloat::IEEEsingle(),
                llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  return value.convertToFloat();
}

uint16_t mlir::cascade::gpu::toHalfBits(float x, HalfType type) {
  uint32_t f = llvm::bit_cast<uint32_t>(x);
  if (type == HalfType::BF16) {
    if ((f & 0x7fffffffu) > 0x7f800000u)
      return static_cast<uint16_t>((f >> 16) | 0x40); // quiet NaN
    // Round to nearest even on the 16 bits dropped.
    return static_cast<uint16_t>((f + 0x7fffu + ((f >> 16) & 1)) >> 16);
  }
  uint16_t sign = static_cast<uint16_t>((f >> 16) & 0x8000);
  f &= 0x7fffffffu;
  if (f >= 0x7f800000u) // Inf, NaN
    return sign | (f > 0x7f800000u ? 0x7e00 : 0x7c00);
  if (f >= 0x477ff000u) // 65520 and above round to Inf
    return sign | 0x7c00;
  if (f < 0x38800000u) {
    // Below 2^-14: a subnormal half, in units of 2^-24. The scaling is
    // exact and nearbyint rounds to nearest even (the default mode); a
    // result of 0x400 is the smallest normal, which is also its encoding.
    float units = llvm::bit_cast<float>(f) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(units));
  }
  // A normal half: rebias the exponent (15 - 127) and round the 13
  // dropped mantissa bits to nearest even; a carry moves into the exponent.
  f += 0xc8000fffu + ((f >> 13) & 1);
  return sign | static_cast<uint16_t>(f >> 13);
}

float mlir::cascade::gpu::fromHalfBits(uint16_t bits, HalfType type) {
  if (type == HalfType::BF16)
    return llvm::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  if (exponent == 0) {
    float value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  if (exponent == 31)
    return llvm::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return llvm::bit_cast<float>(sign | ((exponent + 112) << 23) |
                               (mantissa << 13));
}

MatrixCoord mlir::cascade::gpu::getMmaM16N8K16ACoord(unsigned lane,
                                                     unsigned i) {
  unsigned group = lane / 4, thread = lane % 4;
  // Registers a0..a7 in pairs: (g, k), (g + 8, k), (g, k + 8), (g + 8, k + 8).
  unsigned pair = i / 2;
  return {group + 8 * (pair % 2), 2 * thread + i % 2 + 8 * (pair / 2)};
}

MatrixCoord mlir::cascade::gpu::getMmaM16N8K16BCoord(unsigned lane,
                                                     unsigned i) {
  unsigned group = lane / 4, thread = lane % 4;
  return {2 * thread + i % 2 + 8 * (i / 2), group};
}

MatrixCoord mlir::cascade::gpu::getMmaM16N8K16CCoord(unsigned lane,
                                                     unsigned i) {
  unsigned group = lane / 4, thread = lane % 4;
  return {group + 8 * (i / 2), 2 * thread + i % 2};
}

llvm::Expected<WarpRegisters>
mlir::cascade::gpu::mmaSyncM16N8K16(const WarpRegisters &a,
                                    const WarpRegisters &b,
                                    const WarpRegisters &c, HalfType type) {
  if (llvm::Error error = checkFragments(a, 8, "mma.sync operand A"))
    return std::move(error);
  if (llvm::Error error = checkFragments(b, 4, "mma.sync operand B"))
    return std::move(error);
  if (llvm::Error error = checkFragments(c, 4, "mma.sync accumulator C"))
    return std::move(error);
  // Gather the warp's fragments into the matrices, then multiply.
  float matrixA[16][16], matrixB[16][8], matrixC[16][8];
  for (unsigned lane = 0; lane < kWarpSize; ++lane) {
    for (unsigned i = 0; i < 8; ++i) {
      MatrixCoord at = getMmaM16N8K16ACoord(lane, i);
      matrixA[at.row][at.col] = roundToHalf(a[lane][i], type);
    }
    for (unsigned i = 0; i < 4; ++i) {
      MatrixCoord at = getMmaM16N8K16BCoord(lane, i);
      matrixB[at.row][at.col] = roundToHalf(b[lane][i], type);
      at = getMmaM16N8K16CCoord(lane, i);
      matrixC[at.row][at.col] = c[lane][i];
    }
  }
  WarpRegisters d;
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    for (unsigned i = 0; i < 4; ++i) {
      MatrixCoord at = getMmaM16N8K16CCoord(lane, i);
      float sum = matrixC[at.row][at.col];
      for (unsigned k = 0; k < 16; ++k)
        sum += matrixA[at.row][k] * matrixB[k][at.col];
      d[lane].push_back(sum);
    }
  return d;
}

llvm::Expected<WarpRegisters>
mlir::cascade::gpu::ldmatrix(llvm::ArrayRef<double> shared,
                             llvm::ArrayRef<int64_t> rowStarts,
                             unsigned numMatrices, bool transpose,
                             HalfType type) {
  if (numMatrices != 1 && numMatrices != 2 && numMatrices != 4)
    return makeError("ldmatrix loads 1, 2 or 4 matrices, not " +
                     llvm::Twine(numMatrices));
  if (rowStarts.size() != kWarpSize)
    return makeError("ldmatrix needs an address from each of the " +
                     llvm::Twine(kWarpSize) + " lanes");
  // Each addressing lane gives one 8-element (16-byte) row.
  for (unsigned lane = 0; lane < 8 * numMatrices; ++lane) {
    int64_t start = rowStarts[lane];
    if (start % 8 != 0)
      return makeError("ldmatrix row address of lane " + llvm::Twine(lane) +
                       " (element " + llvm::Twine(start) +
                       ") is not 16-byte aligned");
    if (start < 0 || start + 8 > static_cast<int64_t>(shared.size()))
      return makeError("ldmatrix row of lane " + llvm::Twine(lane) +
                       " (elements " + llvm::Twine(start) + ".." +
                       llvm::Twine(start + 7) +
                       ") is outside shared memory of " +
                       llvm::Twine(shared.size()) + " elements");
  }
  WarpRegisters result;
  for (unsigned lane = 0; lane < kWarpSize; ++lane)
    for (unsigned matrix = 0; matrix < numMatrices; ++matrix)
      for (unsigned half = 0; half < 2; ++half) {
        unsigned row = lane / 4, col = 2 * (lane % 4) + half;
        if (transpose)
          std::swap(row, col);
        int64_t start = rowStarts[8 * matrix + row];
        result[lane].push_back(
            roundToHalf(static_cast<float>(shared[start + col]), type));
      }
  return result;
}

llvm::Expected<ShuffleResult>
mlir::cascade::gpu::shuffle(llvm::ArrayRef<double> values, unsigned offset,
                            unsigned width, ShuffleMode mode) {
  if (values.size() != kWarpSize)
    return makeError("gpu.shuffle needs a value from each of the " +
                     llvm::Twine(kWarpSize) + " lanes");
  if (width == 0 || width > kWarpSize || (width & (width - 1)) != 0)
    return makeError("gpu.shuffle width " + llvm::Twine(width) +
                     " is not a power of two in 1..32");
  int64_t clamp = mode == ShuffleMode::Up ? kWarpSize - width : width - 1;
  ShuffleResult result;
  for (unsigned lane = 0; lane < kWarpSize; ++lane) {
    int64_t source = lane;
    bool valid = false;
    switch (mode) {
    case ShuffleMode::Xor:
      source = lane ^ offset;
      valid = source <= clamp;
      break;
    case ShuffleMode::Down:
      source = static_cast<int64_t>(lane) + offset;
      valid = source <= clamp;
      break;
    case ShuffleMode::Up:
      source = static_cast<int64_t>(lane) - offset;
      valid = source >= clamp;
      break;
    case ShuffleMode::Idx:
      source = offset % kWarpSize;
      valid = source <= clamp;
      break;
    }
    valid = valid && lane < width;
    result.valid[lane] = valid;
    result.value[lane] = valid ? values[source] : values[lane];
  }
  return result;
}
