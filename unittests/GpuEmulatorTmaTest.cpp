//===- GpuEmulatorTmaTest.cpp - TMA copies and mbarriers in the emulator --===//
//
// A block that copies a 16 x 64 f16 box (128-byte swizzle) of a 10 x 64
// tensor from row 4 by TMA, as the sm_90a kernels stage tiles: thread 0
// initialises an mbarrier, arrives expecting the box's bytes and issues the
// copy; every thread waits on the phase; threads read the tile back through
// the swizzle. Rows past the tensor read as zero. Then what a kernel can
// get wrong: no wait (a read before the phase completes), the wrong parity
// or too few expected bytes (a deadlock), a tensor map over another shape.
//
//===----------------------------------------------------------------------===//

#include "GpuEmulatorFixture.h"

#include "cascade/Target/GPU/TensorMap.h"

using namespace mlir;
using namespace mlir::cascade::gpu;

namespace {

struct TmaKernel {
  bool wait = true;
  int parity = 0;
  int expectedBytes = 16 * 64 * 2;

  std::string source() const {
    std::string text = R"mlir(
gpu.module @m {
  gpu.func @k(%g: memref<10x64xf16>, %out: memref<16x64xf32>,
              %map: !llvm.ptr {cascade.tensor_map = {operand = 0 : i64,
                  box = array<i64: 16, 64>, swizzle = 128 : i64}})
      workgroup(%s: memref<16x64xf16, #gpu.address_space<workgroup>>
                    {llvm.align = 1024 : i64},
                %bar: memref<1xi64, #gpu.address_space<workgroup>>
                    {llvm.align = 8 : i64}) kernel {
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    %c64 = arith.constant 64 : index
    %pb = memref.extract_aligned_pointer_as_index %bar
        : memref<1xi64, #gpu.address_space<workgroup>> -> index
    %pb64 = arith.index_cast %pb : index to i64
    %b = llvm.inttoptr %pb64 : i64 to !llvm.ptr<3>
    %ps = memref.extract_aligned_pointer_as_index %s
        : memref<16x64xf16, #gpu.address_space<workgroup>> -> index
    %ps64 = arith.index_cast %ps : index to i64
    %d3 = llvm.inttoptr %ps64 : i64 to !llvm.ptr<3>
    %d = llvm.addrspacecast %d3 : !llvm.ptr<3> to !llvm.ptr<7>
    %first = arith.cmpi eq, %t, %c0 : index
    %one = arith.constant 1 : i32
    scf.if %first {
      nvvm.mbarrier.init %b, %one : !llvm.ptr<3>, i32
      nvvm.fence.mbarrier.init
    }
    gpu.barrier
)mlir";
    text += "    %bytes = arith.constant " + std::to_string(expectedBytes) +
            " : i32\n";
    text += "    %parity = arith.constant " + std::to_string(parity) +
            " : i32\n";
    text += R"mlir(
    %x = arith.constant 0 : i32
    %y = arith.constant 4 : i32
    %ticks = arith.constant 1000 : i32
    scf.if %first {
      nvvm.mbarrier.arrive.expect_tx %b, %bytes : !llvm.ptr<3>, i32
      nvvm.cp.async.bulk.tensor.shared.cluster.global %d, %map, %b,
          box[%x, %y] : !llvm.ptr<7>, !llvm.ptr
    }
)mlir";
    if (wait)
      text += "    nvvm.mbarrier.try_wait.parity %b, %parity, %ticks : "
              "!llvm.ptr<3>, i32, i32\n";
    text += R"mlir(
    %inRows = arith.cmpi ult, %t, %c16 : index
    scf.if %inRows {
      %sw = arith.remui %t, %c8 : index
      scf.for %c = %c0 to %c64 step %c1 {
        %chunk = arith.divui %c, %c8 : index
        %e = arith.remui %c, %c8 : index
        %placed = arith.xori %chunk, %sw : index
        %base = arith.muli %placed, %c8 : index
        %col = arith.addi %base, %e : index
        %v = memref.load %s[%t, %col]
            : memref<16x64xf16, #gpu.address_space<workgroup>>
        %f = arith.extf %v : f16 to f32
        memref.store %f, %out[%t, %c] : memref<16x64xf32>
      }
    }
    gpu.return
  }
}
)mlir";
    return text;
  }
};

class GpuEmulatorTma : public GpuEmulator {
protected:
  LogicalResult runKernel(const TmaKernel &kernel,
                          SmallVector<int64_t> mapShape = {10, 64}) {
    Builder b(&context);
    global = buffer(b.getF16Type(), {10, 64});
    for (int64_t r = 0; r < 10; ++r)
      for (int64_t c = 0; c < 64; ++c)
        global.data[r * 64 + c] = r + c / 64.0;
    out = buffer(b.getF32Type(), {16, 64}, -1);
    other = buffer(b.getF16Type(), mapShape);
    map.buffer = mapShape == SmallVector<int64_t>{10, 64} ? &global : &other;
    map.box = {16, 64};
    map.swizzleBytes = 128;
    SmallVector<EmulatorArgument> arguments(3);
    arguments[0].buffer = &global;
    arguments[1].buffer = &out;
    arguments[2].tensorMap = &map;
    LaunchGeometry geometry;
    geometry.block = {32, 1, 1};
    return run(kernel.source(), "k", geometry, arguments);
  }

  EmulatorBuffer global, out, other;
  EmulatorTensorMap map;
};

TEST_F(GpuEmulatorTma, CopiesTheBoxWithTheSwizzleAndZeroFill) {
  ASSERT_TRUE(succeeded(runKernel(TmaKernel()))) << messages;
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t c = 0; c < 64; ++c) {
      double expected = r + 4 < 10 ? (r + 4) + c / 64.0 : 0.0;
      ASSERT_EQ(out.data[r * 64 + c], static_cast<float>(expected))
          << "row " << r << " column " << c;
    }
}

TEST_F(GpuEmulatorTma, ReadBeforeTheWaitIsReported) {
  TmaKernel kernel;
  kernel.wait = false;
  EXPECT_TRUE(failed(runKernel(kernel)));
  EXPECT_NE(messages.find("that a TMA copy writes, before it saw phase 0"),
            std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorTma, WrongParityIsADeadlock) {
  TmaKernel kernel;
  // The copy completed phase 0; parity 1 names phase 1, which nobody
  // completes.
  kernel.parity = 1;
  EXPECT_TRUE(failed(runKernel(kernel)));
  EXPECT_NE(messages.find("parity 1"), std::string::npos) << messages;
  EXPECT_NE(messages.find("which never completes"), std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorTma, TooFewExpectedBytesIsADeadlock) {
  TmaKernel kernel;
  kernel.expectedBytes = 1024;
  EXPECT_TRUE(failed(runKernel(kernel)));
  EXPECT_NE(messages.find("which never completes"), std::string::npos)
      << messages;
  EXPECT_NE(messages.find("-1024 transaction bytes"), std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorTma, MapOverAnotherBufferIsRefused) {
  EXPECT_TRUE(failed(runKernel(TmaKernel(), {12, 64})));
  EXPECT_NE(messages.find("describes another buffer"), std::string::npos)
      << messages;
}

TEST(TensorMapEncoding, FollowsTheDriversLimits) {
  TensorMapParameter parameter;
  parameter.argument = 5;
  parameter.operand = 1;
  parameter.box = {1, 1, 64, 64};
  parameter.swizzleBytes = 128;
  // K of [b, h, m, e] = [2, 3, 100, 128] in f16.
  llvm::Expected<TensorMapEncoding> encoding =
      encodeTensorMap(parameter, {2, 3, 100, 128}, 2);
  ASSERT_TRUE(static_cast<bool>(encoding));
  EXPECT_EQ(encoding->rank, 4u);
  EXPECT_EQ(encoding->dims[0], 128u);
  EXPECT_EQ(encoding->dims[1], 100u);
  EXPECT_EQ(encoding->dims[3], 2u);
  EXPECT_EQ(encoding->strides[0], 256u);
  EXPECT_EQ(encoding->strides[1], 25600u);
  EXPECT_EQ(encoding->strides[2], 76800u);
  EXPECT_EQ(encoding->box[0], 64u);
  EXPECT_EQ(encoding->box[3], 1u);
  // An empty key rank is encoded as 1 (never read).
  llvm::Expected<TensorMapEncoding> empty =
      encodeTensorMap(parameter, {2, 3, 0, 128}, 2);
  ASSERT_TRUE(static_cast<bool>(empty));
  EXPECT_EQ(empty->dims[1], 1u);
  // A head of 12 elements makes 24-byte rows: no 16-byte strides.
  parameter.box = {1, 1, 64, 8};
  llvm::Expected<TensorMapEncoding> odd =
      encodeTensorMap(parameter, {2, 3, 100, 12}, 2);
  ASSERT_FALSE(static_cast<bool>(odd));
  EXPECT_NE(llvm::toString(odd.takeError()).find("multiple of 16"),
            std::string::npos);
}

} // namespace
