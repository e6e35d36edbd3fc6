//===- GpuEmulatorTest.cpp - The SIMT emulator on small kernels ----------===//
//
// Kernels written in the IR the GPU backend emits (gpu.func bodies of gpu,
// nvgpu, vector, memref, arith, math and scf ops), run by the emulator and
// compared with plain loops: thread and block ids, f16 stores, warp
// shuffles, shared memory with barriers, a tensor-core tile through
// ldmatrix and mma.sync, two B operands from one ldmatrix.x4; then what a broken kernel gets: a race without
// its barrier, a barrier under divergence, an out-of-bounds store,
// non-uniform loop bounds and an op the emulator does not model.
//
//===----------------------------------------------------------------------===//

#include "GpuEmulatorFixture.h"
#include "cascade/Target/GPU/WarpSemantics.h"

using namespace mlir;
using namespace mlir::cascade::gpu;

namespace {

TEST_F(GpuEmulator, ThreadAndBlockIdsAndHalfStores) {
  // y[i] = a x[i] + y[i] for i = block * 32 + thread < n, also stored
  // as f16.
  const char *source = R"mlir(
gpu.module @m {
  gpu.func @axpy(%a: f32, %n: index, %x: memref<?xf32>, %y: memref<?xf32>,
                 %h: memref<?xf16>) kernel {
    %b = gpu.block_id x
    %d = gpu.block_dim x
    %t = gpu.thread_id x
    %bd = arith.muli %b, %d : index
    %i = arith.addi %bd, %t : index
    %in = arith.cmpi slt, %i, %n : index
    scf.if %in {
      %xv = memref.load %x[%i] : memref<?xf32>
      %yv = memref.load %y[%i] : memref<?xf32>
      %ax = arith.mulf %a, %xv : f32
      %r = arith.addf %ax, %yv : f32
      memref.store %r, %y[%i] : memref<?xf32>
      %rh = arith.truncf %r : f32 to f16
      memref.store %rh, %h[%i] : memref<?xf16>
    }
    gpu.return
  }
})mlir";
  Builder b(&context);
  int64_t n = 70;
  EmulatorBuffer x = buffer(b.getF32Type(), {n}), y = buffer(b.getF32Type(), {n}),
                 h = buffer(b.getF16Type(), {n});
  for (int64_t i = 0; i < n; ++i) {
    x.data[i] = i;
    y.data[i] = 1.0 / 3.0 * i;
  }
  std::vector<double> expected(n);
  for (int64_t i = 0; i < n; ++i)
    expected[i] = static_cast<float>(
        static_cast<float>(2.5f * static_cast<float>(x.data[i])) +
        static_cast<float>(y.data[i]));
  for (double &v : y.data)
    v = static_cast<float>(v); // what an f32 buffer holds
  SmallVector<EmulatorArgument> args = {{nullptr, 2.5}, {nullptr, double(n)},
                                        {&x}, {&y}, {&h}};
  LaunchGeometry geometry;
  geometry.grid = {3, 1, 1};
  geometry.block = {32, 1, 1};
  ASSERT_TRUE(succeeded(run(source, "axpy", geometry, args))) << messages;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(y.data[i], expected[i]) << i;
    EXPECT_EQ(h.data[i],
              roundToHalf(static_cast<float>(expected[i]), HalfType::F16))
        << i;
  }
}

TEST_F(GpuEmulator, BitcastBetweenF32AndI32) {
  // The row scale of a P beyond f16's range (docs/GPU.md): the exponent
  // field of |x| and 2^-k, k = max(0, e - 14), built back from bits.
  const char *source = R"mlir(
gpu.module @m {
  gpu.func @scale(%x: memref<?xf32>, %bits: memref<?xi32>, %s: memref<?xf32>) kernel {
    %t = gpu.thread_id x
    %v = memref.load %x[%t] : memref<?xf32>
    %a = math.absf %v : f32
    %i = arith.bitcast %a : f32 to i32
    memref.store %i, %bits[%t] : memref<?xi32>
    %c23 = arith.constant 23 : i32
    %c255 = arith.constant 255 : i32
    %c141 = arith.constant 141 : i32
    %c127 = arith.constant 127 : i32
    %c0 = arith.constant 0 : i32
    %sh = arith.shrui %i, %c23 : i32
    %e = arith.andi %sh, %c255 : i32
    %d = arith.subi %e, %c141 : i32
    %k = arith.maxsi %d, %c0 : i32
    %m = arith.subi %c127, %k : i32
    %f = arith.shli %m, %c23 : i32
    %p = arith.bitcast %f : i32 to f32
    memref.store %p, %s[%t] : memref<?xf32>
    gpu.return
  }
})mlir";
  Builder b(&context);
  std::vector<double> inputs = {1.0, -3.0e8, 65504.0, 32768.0, 0.0, 1.5e-40};
  int64_t n = inputs.size();
  EmulatorBuffer x = buffer(b.getF32Type(), {n}),
                 bits = buffer(b.getI32Type(), {n}),
                 s = buffer(b.getF32Type(), {n});
  x.data = inputs;
  SmallVector<EmulatorArgument> args = {{&x}, {&bits}, {&s}};
  LaunchGeometry geometry;
  geometry.grid = {1, 1, 1};
  geometry.block = {static_cast<unsigned>(n), 1, 1};
  ASSERT_TRUE(succeeded(run(source, "scale", geometry, args))) << messages;
  // 1.0 is 0x3f800000; 3e8 has exponent 28 (2^-14); 65504 and 32768
  // exponent 15 (2^-1); 0 and a subnormal exponent field 0 (1).
  EXPECT_EQ(bits.data[0], 0x3f800000);
  std::vector<double> expected = {1.0, 0x1p-14, 0x1p-1, 0x1p-1, 1.0, 1.0};
  for (int64_t i = 0; i < n; ++i)
    EXPECT_EQ(s.data[i], expected[i]) << i;
}

TEST_F(GpuEmulator, WarpSumByShuffles) {
  // Each warp of 64 threads sums its 32 values with xor shuffles 16..1;
  // lane 0 writes the warp's sum.
  const char *source = R"mlir(
gpu.module @m {
  gpu.func @sum(%x: memref<64xf32>, %out: memref<2xf32>) kernel {
    %t = gpu.thread_id x
    %lane = gpu.lane_id
    %c32 = arith.constant 32 : index
    %w = arith.divsi %t, %c32 : index
    %v = memref.load %x[%t] : memref<64xf32>
    %width = arith.constant 32 : i32
    %o16 = arith.constant 16 : i32
    %o8 = arith.constant 8 : i32
    %o4 = arith.constant 4 : i32
    %o2 = arith.constant 2 : i32
    %o1 = arith.constant 1 : i32
    %s16, %p16 = gpu.shuffle xor %v, %o16, %width : f32
    %v16 = arith.addf %v, %s16 : f32
    %s8, %p8 = gpu.shuffle xor %v16, %o8, %width : f32
    %v8 = arith.addf %v16, %s8 : f32
    %s4, %p4 = gpu.shuffle xor %v8, %o4, %width : f32
    %v4 = arith.addf %v8, %s4 : f32
    %s2, %p2 = gpu.shuffle xor %v4, %o2, %width : f32
    %v2 = arith.addf %v4, %s2 : f32
    %s1, %p1 = gpu.shuffle xor %v2, %o1, %width : f32
    %v1 = arith.addf %v2, %s1 : f32
    %c0 = arith.constant 0 : index
    %first = arith.cmpi eq, %lane, %c0 : index
    scf.if %first {
      memref.store %v1, %out[%w] : memref<2xf32>
    }
    gpu.return
  }
})mlir";
  Builder b(&context);
  EmulatorBuffer x = buffer(b.getF32Type(), {64}),
                 out = buffer(b.getF32Type(), {2});
  for (int i = 0; i < 64; ++i)
    x.data[i] = i;
  SmallVector<EmulatorArgument> args = {{&x}, {&out}};
  LaunchGeometry geometry;
  geometry.block = {64, 1, 1};
  ASSERT_TRUE(succeeded(run(source, "sum", geometry, args))) << messages;
  EXPECT_EQ(out.data[0], 31 * 32 / 2);
  EXPECT_EQ(out.data[1], 32 * 32 + 31 * 32 / 2);
}

/// Reverses 64 values through shared memory, with or without the barrier
/// between the writes and the reads.
std::string reverseKernel(bool barrier) {
  return std::string(R"mlir(
gpu.module @m {
  gpu.func @reverse(%x: memref<64xf32>, %y: memref<64xf32>)
      workgroup(%s: memref<64xf32, #gpu.address_space<workgroup>>) kernel {
    %t = gpu.thread_id x
    %v = memref.load %x[%t] : memref<64xf32>
    memref.store %v, %s[%t] : memref<64xf32, #gpu.address_space<workgroup>>
)mlir") + (barrier ? "    gpu.barrier\n" : "") + R"mlir(
    %c63 = arith.constant 63 : index
    %r = arith.subi %c63, %t : index
    %w = memref.load %s[%r] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %y[%t] : memref<64xf32>
    gpu.return
  }
})mlir";
}

TEST_F(GpuEmulator, SharedMemoryWithABarrier) {
  Builder b(&context);
  EmulatorBuffer x = buffer(b.getF32Type(), {64}),
                 y = buffer(b.getF32Type(), {64});
  for (int i = 0; i < 64; ++i)
    x.data[i] = i;
  SmallVector<EmulatorArgument> args = {{&x}, {&y}};
  LaunchGeometry geometry;
  geometry.block = {64, 1, 1};
  ASSERT_TRUE(succeeded(run(reverseKernel(true), "reverse", geometry, args)))
      << messages;
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(y.data[i], 63 - i);
}

/// Thread t stores the pair (t, -t) at element `first + 2 t` of a shared
/// row with `alignment`, then after a barrier thread t copies element t
/// to y.
static std::string pairKernel(int first, int alignment) {
  return R"mlir(
gpu.module @m {
  gpu.func @pairs(%y: memref<64xf16>)
      workgroup(%s: memref<1x64xf16, #gpu.address_space<workgroup>>) kernel {
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %first = arith.constant )mlir" +
         std::to_string(first) + R"mlir( : index
    %i = arith.index_cast %t : index to i32
    %f = arith.sitofp %i : i32 to f16
    %n = arith.negf %f : f16
    %pair = vector.from_elements %f, %n : vector<2xf16>
    %twice = arith.muli %t, %c2 : index
    %at = arith.addi %first, %twice : index
    vector.store %pair, %s[%c0, %at] {alignment = )mlir" +
         std::to_string(alignment) + R"mlir( : i64} : memref<1x64xf16, #gpu.address_space<workgroup>>, vector<2xf16>
    gpu.barrier
    %v = memref.load %s[%c0, %t] : memref<1x64xf16, #gpu.address_space<workgroup>>
    memref.store %v, %y[%t] : memref<64xf16>
    gpu.return
  }
})mlir";
}

TEST_F(GpuEmulator, VectorStoresAreCheckedForAlignmentAndBounds) {
  Builder b(&context);
  LaunchGeometry geometry;
  geometry.block = {32, 1, 1};
  EmulatorBuffer y = buffer(b.getF16Type(), {64});
  SmallVector<EmulatorArgument> args = {{&y}};
  ASSERT_TRUE(succeeded(run(pairKernel(0, 4), "pairs", geometry, args)))
      << messages;
  // Element e holds thread e / 2's pair, (e / 2, -(e / 2)).
  for (int e = 0; e < 32; ++e)
    EXPECT_EQ(y.data[e], e % 2 == 0 ? e / 2 : -(e / 2)) << "element " << e;
  // Element 1 is byte 2: not the 4 bytes the store promises.
  messages.clear();
  geometry.block = {31, 1, 1};
  EXPECT_TRUE(failed(run(pairKernel(1, 4), "pairs", geometry, args)));
  EXPECT_NE(messages.find("byte 2 of"), std::string::npos) << messages;
  EXPECT_NE(messages.find("is not aligned to 4 bytes"), std::string::npos)
      << messages;
  // Thread 31's pair at element 63 would run past the row.
  messages.clear();
  geometry.block = {32, 1, 1};
  EXPECT_TRUE(failed(run(pairKernel(1, 2), "pairs", geometry, args)));
  EXPECT_NE(messages.find("a vector of 2 at index 63 runs past the innermost "
                          "dimension"),
            std::string::npos)
      << messages;
}

TEST_F(GpuEmulator, AMissingBarrierIsARace) {
  Builder b(&context);
  EmulatorBuffer x = buffer(b.getF32Type(), {64}),
                 y = buffer(b.getF32Type(), {64});
  SmallVector<EmulatorArgument> args = {{&x}, {&y}};
  LaunchGeometry geometry;
  geometry.block = {64, 1, 1};
  ASSERT_TRUE(failed(run(reverseKernel(false), "reverse", geometry, args)));
  EXPECT_NE(messages.find("block (0, 0, 0) thread 0 reads element 63 of "
                          "workgroup attribution #0 that thread 63 wrote "
                          "since the last gpu.barrier (a race)"),
            std::string::npos)
      << messages;
}

TEST_F(GpuEmulator, TensorCoreTileThroughLdmatrixAndMma) {
  // D (16x8, f32) = A (16x16) B (16x8), f16 in global memory: staged to
  // shared memory, A loaded by ldmatrix.x4, B (k-major) by ldmatrix.x2.trans,
  // one mma.sync, D stored from the accumulator layout.
  const char *source = R"mlir(
gpu.module @m {
  gpu.func @tile(%A: memref<16x16xf16>, %B: memref<16x8xf16>,
                 %D: memref<16x8xf32>)
      workgroup(%sa: memref<16x16xf16, #gpu.address_space<workgroup>>,
                %sb: memref<16x8xf16, #gpu.address_space<workgroup>>) kernel {
    %lane = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    // Stage: lane l copies row l % 16 of A, half l / 16; and row l of B.
    %row = arith.remsi %lane, %c16 : index
    %half = arith.divsi %lane, %c16 : index
    %col0 = arith.muli %half, %c8 : index
    scf.for %j = %c0 to %c8 step %c1 {
      %col = arith.addi %col0, %j : index
      %a = memref.load %A[%row, %col] : memref<16x16xf16>
      memref.store %a, %sa[%row, %col] : memref<16x16xf16, #gpu.address_space<workgroup>>
    }
    %isB = arith.cmpi slt, %lane, %c16 : index
    scf.if %isB {
      scf.for %j = %c0 to %c8 step %c1 {
        %b = memref.load %B[%lane, %j] : memref<16x8xf16>
        memref.store %b, %sb[%lane, %j] : memref<16x8xf16, #gpu.address_space<workgroup>>
      }
    }
    gpu.barrier
    %fa = nvgpu.ldmatrix %sa[%row, %col0] {numTiles = 4 : i32, transpose = false}
        : memref<16x16xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %fb = nvgpu.ldmatrix %sb[%row, %c0] {numTiles = 2 : i32, transpose = true}
        : memref<16x8xf16, #gpu.address_space<workgroup>> -> vector<2x2xf16>
    %zero = arith.constant dense<0.0> : vector<2x2xf32>
    %d = nvgpu.mma.sync (%fa, %fb, %zero) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    // c0, c1 at (g, 2t), (g, 2t + 1); c2, c3 at row g + 8.
    %g = arith.divsi %lane, %c4 : index
    %t = arith.remsi %lane, %c4 : index
    %n0 = arith.muli %t, %c2 : index
    %n1 = arith.addi %n0, %c1 : index
    %g8 = arith.addi %g, %c8 : index
    %d0 = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
    %d1 = vector.extract %d[0, 1] : f32 from vector<2x2xf32>
    %d2 = vector.extract %d[1, 0] : f32 from vector<2x2xf32>
    %d3 = vector.extract %d[1, 1] : f32 from vector<2x2xf32>
    memref.store %d0, %D[%g, %n0] : memref<16x8xf32>
    memref.store %d1, %D[%g, %n1] : memref<16x8xf32>
    memref.store %d2, %D[%g8, %n0] : memref<16x8xf32>
    memref.store %d3, %D[%g8, %n1] : memref<16x8xf32>
    gpu.return
  }
})mlir";
  Builder b(&context);
  EmulatorBuffer A = buffer(b.getF16Type(), {16, 16}),
                 B = buffer(b.getF16Type(), {16, 8}),
                 D = buffer(b.getF32Type(), {16, 8}, -1.0);
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k)
      A.data[i * 16 + k] = roundToHalf(0.1f * (i - k) + 0.37f, HalfType::F16);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n)
      B.data[k * 8 + n] = roundToHalf(0.05f * (k * n % 7) - 0.1f,
                                      HalfType::F16);
  SmallVector<EmulatorArgument> args = {{&A}, {&B}, {&D}};
  LaunchGeometry geometry;
  geometry.block = {32, 1, 1};
  ASSERT_TRUE(succeeded(run(source, "tile", geometry, args))) << messages;
  for (int i = 0; i < 16; ++i)
    for (int n = 0; n < 8; ++n) {
      float expected = 0;
      for (int k = 0; k < 16; ++k)
        expected += static_cast<float>(A.data[i * 16 + k]) *
                    static_cast<float>(B.data[k * 8 + n]);
      EXPECT_EQ(D.data[i * 8 + n], expected) << "D[" << i << "][" << n << "]";
    }
}

TEST_F(GpuEmulator, TwoBOperandsFromOneLdmatrixX4) {
  // D (16x16) = A (16x16) B (16x16) as two mma.sync over the 8-column
  // blocks of B, both B operands from one ldmatrix.x4.trans (lanes 16-31
  // address column block 1) split into rows 0-1 and 2-3: how the
  // kernels load P V's B (docs/GPU.md).
  const char *source = R"mlir(
gpu.module @m {
  gpu.func @pair(%A: memref<16x16xf16>, %B: memref<16x16xf16>,
                 %D: memref<16x16xf32>)
      workgroup(%sa: memref<16x16xf16, #gpu.address_space<workgroup>>,
                %sb: memref<16x16xf16, #gpu.address_space<workgroup>>) kernel {
    %lane = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    %row = arith.remsi %lane, %c16 : index
    %half = arith.divsi %lane, %c16 : index
    %col0 = arith.muli %half, %c8 : index
    scf.for %j = %c0 to %c8 step %c1 {
      %col = arith.addi %col0, %j : index
      %a = memref.load %A[%row, %col] : memref<16x16xf16>
      memref.store %a, %sa[%row, %col] : memref<16x16xf16, #gpu.address_space<workgroup>>
      %b = memref.load %B[%row, %col] : memref<16x16xf16>
      memref.store %b, %sb[%row, %col] : memref<16x16xf16, #gpu.address_space<workgroup>>
    }
    gpu.barrier
    %fa = nvgpu.ldmatrix %sa[%row, %col0] {numTiles = 4 : i32, transpose = false}
        : memref<16x16xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %both = nvgpu.ldmatrix %sb[%row, %col0] {numTiles = 4 : i32, transpose = true}
        : memref<16x16xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %empty = arith.constant dense<0.0> : vector<2x2xf16>
    %r0 = vector.extract %both[0] : vector<2xf16> from vector<4x2xf16>
    %r1 = vector.extract %both[1] : vector<2xf16> from vector<4x2xf16>
    %r2 = vector.extract %both[2] : vector<2xf16> from vector<4x2xf16>
    %r3 = vector.extract %both[3] : vector<2xf16> from vector<4x2xf16>
    %fb0a = vector.insert %r0, %empty [0] : vector<2xf16> into vector<2x2xf16>
    %fb0 = vector.insert %r1, %fb0a [1] : vector<2xf16> into vector<2x2xf16>
    %fb1a = vector.insert %r2, %empty [0] : vector<2xf16> into vector<2x2xf16>
    %fb1 = vector.insert %r3, %fb1a [1] : vector<2xf16> into vector<2x2xf16>
    %zero = arith.constant dense<0.0> : vector<2x2xf32>
    %d0 = nvgpu.mma.sync (%fa, %fb0, %zero) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %d1 = nvgpu.mma.sync (%fa, %fb1, %zero) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %g = arith.divsi %lane, %c4 : index
    %t = arith.remsi %lane, %c4 : index
    %n0 = arith.muli %t, %c2 : index
    %n1 = arith.addi %n0, %c1 : index
    %g8 = arith.addi %g, %c8 : index
    %m0 = arith.addi %n0, %c8 : index
    %m1 = arith.addi %n1, %c8 : index
    // (vector.to_elements: what the canonicalizer makes of such extracts.)
    %x:4 = vector.to_elements %d0 : vector<2x2xf32>
    memref.store %x#0, %D[%g, %n0] : memref<16x16xf32>
    memref.store %x#1, %D[%g, %n1] : memref<16x16xf32>
    memref.store %x#2, %D[%g8, %n0] : memref<16x16xf32>
    memref.store %x#3, %D[%g8, %n1] : memref<16x16xf32>
    %y0 = vector.extract %d1[0, 0] : f32 from vector<2x2xf32>
    %y1 = vector.extract %d1[0, 1] : f32 from vector<2x2xf32>
    %y2 = vector.extract %d1[1, 0] : f32 from vector<2x2xf32>
    %y3 = vector.extract %d1[1, 1] : f32 from vector<2x2xf32>
    memref.store %y0, %D[%g, %m0] : memref<16x16xf32>
    memref.store %y1, %D[%g, %m1] : memref<16x16xf32>
    memref.store %y2, %D[%g8, %m0] : memref<16x16xf32>
    memref.store %y3, %D[%g8, %m1] : memref<16x16xf32>
    gpu.return
  }
})mlir";
  Builder b(&context);
  EmulatorBuffer A = buffer(b.getF16Type(), {16, 16}),
                 B = buffer(b.getF16Type(), {16, 16}),
                 D = buffer(b.getF32Type(), {16, 16}, -1.0);
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) {
      A.data[i * 16 + k] = roundToHalf(0.1f * (i - k) + 0.37f, HalfType::F16);
      B.data[i * 16 + k] = roundToHalf(0.05f * (i * k % 11) - 0.2f,
                                       HalfType::F16);
    }
  SmallVector<EmulatorArgument> args = {{&A}, {&B}, {&D}};
  LaunchGeometry geometry;
  geometry.block = {32, 1, 1};
  ASSERT_TRUE(succeeded(run(source, "pair", geometry, args))) << messages;
  for (int i = 0; i < 16; ++i)
    for (int n = 0; n < 16; ++n) {
      float expected = 0;
      for (int k = 0; k < 16; ++k)
        expected += static_cast<float>(A.data[i * 16 + k]) *
                    static_cast<float>(B.data[k * 16 + n]);
      EXPECT_EQ(D.data[i * 16 + n], expected) << "D[" << i << "][" << n << "]";
    }
}

TEST_F(GpuEmulator, BrokenKernelsGetLocatedErrors) {
  Builder b(&context);
  EmulatorBuffer x = buffer(b.getF32Type(), {16});
  SmallVector<EmulatorArgument> args = {{&x}};
  LaunchGeometry geometry;
  geometry.block = {32, 1, 1};

  // One thread too many stores.
  const char *outOfBounds = R"mlir(
gpu.module @m {
  gpu.func @k(%x: memref<16xf32>) kernel {
    %t = gpu.thread_id x
    %v = arith.constant 1.0 : f32
    memref.store %v, %x[%t] : memref<16xf32>
    gpu.return
  }
})mlir";
  EXPECT_TRUE(failed(run(outOfBounds, "k", geometry, args)));
  EXPECT_NE(messages.find("6:5: block (0, 0, 0) thread 16: index 16 "
                          "of dimension 0 is outside argument #0 (size 16)"),
            std::string::npos)
      << messages;

  messages.clear();
  const char *divergentBarrier = R"mlir(
gpu.module @m {
  gpu.func @k(%x: memref<16xf32>) kernel {
    %t = gpu.thread_id x
    %c8 = arith.constant 8 : index
    %low = arith.cmpi slt, %t, %c8 : index
    scf.if %low {
      gpu.barrier
    }
    gpu.return
  }
})mlir";
  EXPECT_TRUE(failed(run(divergentBarrier, "k", geometry, args)));
  EXPECT_NE(messages.find("gpu.barrier under divergent control flow: block "
                          "(0, 0, 0) thread 8 does not reach it"),
            std::string::npos)
      << messages;

  messages.clear();
  const char *divergentLoop = R"mlir(
gpu.module @m {
  gpu.func @k(%x: memref<16xf32>) kernel {
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    scf.for %i = %c0 to %t step %c1 {
    }
    gpu.return
  }
})mlir";
  EXPECT_TRUE(failed(run(divergentLoop, "k", geometry, args)));
  EXPECT_NE(messages.find("the loop's bounds differ between threads 0 and 1"),
            std::string::npos)
      << messages;

  messages.clear();
  const char *unmodelled = R"mlir(
gpu.module @m {
  gpu.func @k(%x: memref<16xf32>) kernel {
    %v = arith.constant 1.0 : f32
    %s = math.sin %v : f32
    gpu.return
  }
})mlir";
  EXPECT_TRUE(failed(run(unmodelled, "k", geometry, args)));
  EXPECT_NE(messages.find("the GPU emulator does not model 'math.sin'"),
            std::string::npos)
      << messages;
}

} // namespace

TEST_F(GpuEmulator, AsyncCopiesLandWhenTheirGroupIsWaitedFor) {
  // Each of 8 threads copies 8 halves of row t of x into shared memory by
  // cp.async (rows 4-7 read 0 source elements: zero fill), commits, waits
  // with `keep` groups outstanding, then reads its own row back.
  auto source = [](int keep) {
    return std::string(R"mlir(
gpu.module @m {
  gpu.func @k(%x: memref<8x8xf16>, %y: memref<8x8xf16>)
      workgroup(%s: memref<8x8xf16, #gpu.address_space<workgroup>>) kernel {
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %low = arith.cmpi ult, %t, %c4 : index
    %n = arith.select %low, %c8, %c0 : index
    %copy = nvgpu.device_async_copy %x[%t, %c0], %s[%t, %c0], 8, %n
        : memref<8x8xf16> to memref<8x8xf16, #gpu.address_space<workgroup>>
    %g = nvgpu.device_async_create_group %copy
    nvgpu.device_async_wait %g {numGroups = )mlir") +
           std::to_string(keep) + R"mlir( : i32}
    %v = memref.load %s[%t, %c0] : memref<8x8xf16, #gpu.address_space<workgroup>>
    memref.store %v, %y[%t, %c0] : memref<8x8xf16>
    gpu.return
  }
})mlir";
  };
  Builder b(&context);
  EmulatorBuffer x = buffer(b.getF16Type(), {8, 8}, 3),
                 y = buffer(b.getF16Type(), {8, 8}, -1);
  SmallVector<EmulatorArgument> args = {{&x}, {&y}};
  LaunchGeometry geometry;
  geometry.block = {8, 1, 1};
  ASSERT_TRUE(succeeded(run(source(0), "k", geometry, args))) << messages;
  for (int64_t row = 0; row < 8; ++row)
    EXPECT_EQ(y.data[row * 8], row < 4 ? 3 : 0) << row;
  // Waiting with the only group still outstanding reads data that has not
  // landed.
  messages.clear();
  EXPECT_TRUE(failed(run(source(1), "k", geometry, args)));
  EXPECT_NE(messages.find("while a cp.async into it has not completed"),
            std::string::npos)
      << messages;
}
