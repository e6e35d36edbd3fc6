//===- GpuEmulatorWgmmaTest.cpp - wgmma kernels in the emulator -----------===//
//
// A warpgroup's S = A B^T as the sm_90a kernels compute it: the tiles
// stored into 128-byte-swizzled shared memory, fence.proxy.async, a
// barrier, descriptors built from the buffers' shared addresses (two i32
// halves bitcast to i64), wgmma.fence, a chain of two k-steps, commit and
// wait, the accumulators stored from the m64nNk16 fragment layout; checked
// against plain loops. Then each synchronisation left out in turn, which
// the emulator must refuse: no proxy fence (wgmma would read stale data
// through the async proxy), no wgmma.fence, the accumulator read before the
// wait.
//
//===----------------------------------------------------------------------===//

#include "GpuEmulatorFixture.h"

using namespace mlir;
using namespace mlir::cascade::gpu;

namespace {

struct WgmmaKernel {
  bool proxyFence = true, wgmmaFence = true, waitBeforeRead = true;

  std::string source() const {
    std::string text = R"mlir(
gpu.module @m {
  gpu.func @k(%ga: memref<64x64xf16>, %gb: memref<8x64xf16>,
              %out: memref<64x8xf32>)
      workgroup(%a: memref<64x64xf16, #gpu.address_space<workgroup>>
                    {llvm.align = 1024 : i64},
                %bt: memref<8x64xf16, #gpu.address_space<workgroup>>
                    {llvm.align = 1024 : i64}) kernel {
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    %c32 = arith.constant 32 : index
    %c64 = arith.constant 64 : index
    // Threads 0-63 store row t of A, threads 64-71 row t - 64 of B^T:
    // chunk c of row r at chunk c ^ (r % 8).
    %isA = arith.cmpi ult, %t, %c64 : index
    %row = arith.remui %t, %c64 : index
    %sw = arith.remui %row, %c8 : index
    %inB = arith.cmpi ult, %row, %c8 : index
    scf.for %c = %c0 to %c8 step %c1 {
      %chunk = arith.xori %c, %sw : index
      %base = arith.muli %chunk, %c8 : index
      %first = arith.muli %c, %c8 : index
      scf.for %e = %c0 to %c8 step %c1 {
        %col = arith.addi %first, %e : index
        %dst = arith.addi %base, %e : index
        scf.if %isA {
          %v = memref.load %ga[%row, %col] : memref<64x64xf16>
          memref.store %v, %a[%row, %dst]
              : memref<64x64xf16, #gpu.address_space<workgroup>>
        } else {
          scf.if %inB {
            %v = memref.load %gb[%row, %col] : memref<8x64xf16>
            memref.store %v, %bt[%row, %dst]
                : memref<8x64xf16, #gpu.address_space<workgroup>>
          }
        }
      }
    }
)mlir";
    if (proxyFence)
      text += "    nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, "
              "space = #nvvm.shared_space<cta>}\n";
    text += R"mlir(
    gpu.barrier
    %pa = memref.extract_aligned_pointer_as_index %a
        : memref<64x64xf16, #gpu.address_space<workgroup>> -> index
    %pb = memref.extract_aligned_pointer_as_index %bt
        : memref<8x64xf16, #gpu.address_space<workgroup>> -> index
    %ia = arith.index_cast %pa : index to i32
    %ib = arith.index_cast %pb : index to i32
    %four = arith.constant 4 : i32
    %mask = arith.constant 16383 : i32
    %lbo = arith.constant 65536 : i32
    %high = arith.constant 1073741888 : i32
    %step = arith.constant 2 : i32
    %sa = arith.shrui %ia, %four : i32
    %fa = arith.andi %sa, %mask : i32
    %la0 = arith.ori %fa, %lbo : i32
    %sb = arith.shrui %ib, %four : i32
    %fb = arith.andi %sb, %mask : i32
    %lb0 = arith.ori %fb, %lbo : i32
    %la1 = arith.addi %la0, %step : i32
    %lb1 = arith.addi %lb0, %step : i32
    %va0 = vector.from_elements %la0, %high : vector<2xi32>
    %vb0 = vector.from_elements %lb0, %high : vector<2xi32>
    %va1 = vector.from_elements %la1, %high : vector<2xi32>
    %vb1 = vector.from_elements %lb1, %high : vector<2xi32>
    %da0 = llvm.bitcast %va0 : vector<2xi32> to i64
    %db0 = llvm.bitcast %vb0 : vector<2xi32> to i64
    %da1 = llvm.bitcast %va1 : vector<2xi32> to i64
    %db1 = llvm.bitcast %vb1 : vector<2xi32> to i64
)mlir";
    if (wgmmaFence)
      text += "    nvvm.wgmma.fence.aligned\n";
    text += R"mlir(
    %u = llvm.mlir.poison : !llvm.struct<(f32, f32, f32, f32)>
    %r0 = nvvm.wgmma.mma_async %da0, %db0, %u, <m = 64, n = 8, k = 16>,
        D [<f32>, <zero>], A [<f16>, <one>, <row>], B [<f16>, <one>, <col>]
        : !llvm.struct<(f32, f32, f32, f32)> -> !llvm.struct<(f32, f32, f32, f32)>
    %r1 = nvvm.wgmma.mma_async %da1, %db1, %r0, <m = 64, n = 8, k = 16>,
        D [<f32>, <one>], A [<f16>, <one>, <row>], B [<f16>, <one>, <col>]
        : !llvm.struct<(f32, f32, f32, f32)> -> !llvm.struct<(f32, f32, f32, f32)>
    nvvm.wgmma.commit.group.sync.aligned
)mlir";
    if (waitBeforeRead)
      text += "    nvvm.wgmma.wait.group.sync.aligned 0\n";
    text += R"mlir(
    %d0 = llvm.extractvalue %r1[0] : !llvm.struct<(f32, f32, f32, f32)>
    %d1 = llvm.extractvalue %r1[1] : !llvm.struct<(f32, f32, f32, f32)>
    %d2 = llvm.extractvalue %r1[2] : !llvm.struct<(f32, f32, f32, f32)>
    %d3 = llvm.extractvalue %r1[3] : !llvm.struct<(f32, f32, f32, f32)>
)mlir";
    if (!waitBeforeRead)
      text += "    nvvm.wgmma.wait.group.sync.aligned 0\n";
    text += R"mlir(
    // Rows 16 w + g and + 8, columns 2 q and 2 q + 1.
    %w = arith.divui %t, %c32 : index
    %l = arith.remui %t, %c32 : index
    %g = arith.divui %l, %c4 : index
    %q = arith.remui %l, %c4 : index
    %w16 = arith.muli %w, %c16 : index
    %r = arith.addi %w16, %g : index
    %r8 = arith.addi %r, %c8 : index
    %col0 = arith.muli %q, %c2 : index
    %col1 = arith.addi %col0, %c1 : index
    memref.store %d0, %out[%r, %col0] : memref<64x8xf32>
    memref.store %d1, %out[%r, %col1] : memref<64x8xf32>
    memref.store %d2, %out[%r8, %col0] : memref<64x8xf32>
    memref.store %d3, %out[%r8, %col1] : memref<64x8xf32>
    gpu.return
  }
})mlir";
    return text;
  }
};

class GpuEmulatorWgmma : public GpuEmulator {
protected:
  GpuEmulatorWgmma() {
    Builder b(&context);
    a = buffer(b.getF16Type(), {64, 64});
    bt = buffer(b.getF16Type(), {8, 64});
    out = buffer(b.getF32Type(), {64, 8}, -1);
    for (int64_t i = 0; i < 64; ++i)
      for (int64_t k = 0; k < 64; ++k)
        a.data[i * 64 + k] = (i * 5 + k * 3) % 9 - 4;
    for (int64_t j = 0; j < 8; ++j)
      for (int64_t k = 0; k < 64; ++k)
        bt.data[j * 64 + k] = (j + k) % 5 - 2;
    geometry.block = {128, 1, 1};
  }
  LogicalResult run(const WgmmaKernel &kernel) {
    SmallVector<EmulatorArgument> args = {{&a}, {&bt}, {&out}};
    return GpuEmulator::run(kernel.source(), "k", geometry, args);
  }
  EmulatorBuffer a, bt, out;
  LaunchGeometry geometry;
};

TEST_F(GpuEmulatorWgmma, TwoKStepsOfSwizzledTilesGiveTheProduct) {
  ASSERT_TRUE(succeeded(run(WgmmaKernel()))) << messages;
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 8; ++j) {
      double expected = 0;
      for (int64_t k = 0; k < 32; ++k)
        expected += a.data[i * 64 + k] * bt.data[j * 64 + k];
      ASSERT_EQ(out.data[i * 8 + j], expected) << "row " << i << " col " << j;
    }
}

TEST_F(GpuEmulatorWgmma, GenericStoresNeedAProxyFence) {
  WgmmaKernel kernel;
  kernel.proxyFence = false;
  EXPECT_TRUE(failed(run(kernel)));
  EXPECT_NE(messages.find("wrote through the generic proxy with no "
                          "fence.proxy.async since"),
            std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorWgmma, AChainStartsAfterAWgmmaFence) {
  WgmmaKernel kernel;
  kernel.wgmmaFence = false;
  EXPECT_TRUE(failed(run(kernel)));
  EXPECT_NE(messages.find("no nvvm.wgmma.fence.aligned"), std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorWgmma, AccumulatorsAreReadAfterTheWait) {
  WgmmaKernel kernel;
  kernel.waitBeforeRead = false;
  EXPECT_TRUE(failed(run(kernel)));
  EXPECT_NE(messages.find("reads the accumulator of a wgmma.mma_async that "
                          "no nvvm.wgmma.wait.group.sync.aligned retired"),
            std::string::npos)
      << messages;
}

} // namespace
