//===- WarpgroupSemantics.cpp - What sm_90a's wgmma computes -------------===//
//
// The PTX ISA's matrix descriptor, K-major 128-byte-swizzled operand
// layout and m64nNk16 accumulator layout as functions (see the header).
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/WarpgroupSemantics.h"

#include "llvm/ADT/Twine.h"

using namespace mlir::cascade::gpu;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// A 14-bit field of 16-byte units.
uint32_t field14(uint64_t bits, unsigned at) {
  return static_cast<uint32_t>((bits >> at) & 0x3fff) << 4;
}

} // namespace

WgmmaDescriptor mlir::cascade::gpu::decodeWgmmaDescriptor(uint64_t bits) {
  WgmmaDescriptor descriptor;
  descriptor.startAddress = field14(bits, 0);
  descriptor.leadingByteOffset = field14(bits, 16);
  descriptor.strideByteOffset = field14(bits, 32);
  descriptor.baseOffset = static_cast<unsigned>((bits >> 49) & 7);
  descriptor.swizzle = static_cast<WgmmaDescriptor::Swizzle>(bits >> 62);
  return descriptor;
}

uint64_t
mlir::cascade::gpu::encodeWgmmaDescriptor(const WgmmaDescriptor &descriptor) {
  auto encode = [](uint32_t bytes) -> uint64_t { return (bytes >> 4) & 0x3fff; };
  return encode(descriptor.startAddress) |
         encode(descriptor.leadingByteOffset) << 16 |
         encode(descriptor.strideByteOffset) << 32 |
         static_cast<uint64_t>(descriptor.baseOffset & 7) << 49 |
         static_cast<uint64_t>(descriptor.swizzle) << 62;
}

/// Fails unless `descriptor` has the one swizzle and phase modelled.
static llvm::Error checkModelled(const WgmmaDescriptor &descriptor) {
  if (descriptor.swizzle != WgmmaDescriptor::Swizzle::Bytes128)
    return makeError("the emulator models wgmma operands with the 128-byte "
                     "swizzle only (descriptor swizzle mode " +
                     llvm::Twine(static_cast<int>(descriptor.swizzle)) + ")");
  if (descriptor.baseOffset != 0)
    return makeError("the emulator models wgmma descriptors with base "
                     "offset 0 only (the operand starts on a 1024-byte "
                     "pattern boundary), not " +
                     llvm::Twine(descriptor.baseOffset));
  return llvm::Error::success();
}

/// The 128-byte swizzle: the 16-byte chunk (bits 4-6) XOR the row within
/// the 1024-byte atom (bits 7-9).
static uint32_t swizzle128(uint32_t logical) {
  return logical ^ (((logical >> 7) & 7) << 4);
}

llvm::Expected<uint32_t>
mlir::cascade::gpu::getWgmmaKMajorAddress(const WgmmaDescriptor &descriptor,
                                          unsigned row, unsigned k) {
  if (llvm::Error error = checkModelled(descriptor))
    return std::move(error);
  if (k >= 64)
    return makeError("k = " + llvm::Twine(k) +
                     " leaves the 128-byte swizzle atom");
  return swizzle128(descriptor.startAddress +
                    (row / 8) * descriptor.strideByteOffset +
                    (row % 8) * 128 + k * 2);
}

llvm::Expected<uint32_t>
mlir::cascade::gpu::getWgmmaMNMajorAddress(const WgmmaDescriptor &descriptor,
                                           unsigned mn, unsigned k) {
  if (llvm::Error error = checkModelled(descriptor))
    return std::move(error);
  return swizzle128(descriptor.startAddress +
                    (mn / 64) * descriptor.leadingByteOffset +
                    (k / 8) * descriptor.strideByteOffset + (k % 8) * 128 +
                    (mn % 64) * 2);
}

MatrixCoord mlir::cascade::gpu::getWgmmaAccumulatorCoord(unsigned thread,
                                                         unsigned i) {
  unsigned warp = thread / kWarpSize, lane = thread % kWarpSize;
  unsigned block = i / 4, r = (i % 4) / 2, c = i % 2;
  return {16 * warp + lane / 4 + 8 * r, 8 * block + 2 * (lane % 4) + c};
}

llvm::Expected<WarpgroupRegisters>
mlir::cascade::gpu::wgmmaM64NK16(uint64_t descriptorA, uint64_t descriptorB,
                                 unsigned n, const WarpgroupRegisters &c,
                                 bool accumulate, HalfType type,
                                 SharedHalfReader read, WgmmaMajor majorB) {
  if (n < 8 || n > 256 || n % 8 != 0)
    return makeError("wgmma m64nNk16 needs N a multiple of 8 in [8, 256], "
                     "not " + llvm::Twine(n));
  if (c.size() != kWarpgroupSize)
    return makeError("a warpgroup has 128 threads, not " +
                     llvm::Twine(c.size()));
  for (unsigned t = 0; t < kWarpgroupSize; ++t)
    if (c[t].size() != n / 2)
      return makeError("the accumulator of thread " + llvm::Twine(t) +
                       " has " + llvm::Twine(c[t].size()) +
                       " elements, not " + llvm::Twine(n / 2));
  WgmmaDescriptor a = decodeWgmmaDescriptor(descriptorA);
  WgmmaDescriptor b = decodeWgmmaDescriptor(descriptorB);
  // A is 64 x 16, K-major; B is K x N, gathered as B^T (row n holds k)
  // from its K-major or N-major storage.
  auto gather = [&](const WgmmaDescriptor &descriptor, unsigned rows,
                    WgmmaMajor major,
                    std::vector<float> &into) -> llvm::Error {
    into.assign(rows * 16, 0);
    for (unsigned row = 0; row < rows; ++row)
      for (unsigned k = 0; k < 16; ++k) {
        llvm::Expected<uint32_t> address =
            major == WgmmaMajor::K
                ? getWgmmaKMajorAddress(descriptor, row, k)
                : getWgmmaMNMajorAddress(descriptor, row, k);
        if (!address)
          return address.takeError();
        llvm::Expected<float> value = read(*address);
        if (!value)
          return value.takeError();
        into[row * 16 + k] = roundToHalf(*value, type);
      }
    return llvm::Error::success();
  };
  std::vector<float> matrixA, matrixBt;
  if (llvm::Error error = gather(a, 64, WgmmaMajor::K, matrixA))
    return std::move(error);
  if (llvm::Error error = gather(b, n, majorB, matrixBt))
    return std::move(error);
  WarpgroupRegisters d(kWarpgroupSize);
  for (unsigned t = 0; t < kWarpgroupSize; ++t)
    for (unsigned i = 0; i < n / 2; ++i) {
      MatrixCoord at = getWgmmaAccumulatorCoord(t, i);
      float sum = accumulate ? c[t][i] : 0.0f;
      for (unsigned k = 0; k < 16; ++k)
        sum += matrixA[at.row * 16 + k] * matrixBt[at.col * 16 + k];
      d[t].push_back(sum);
    }
  return d;
}
