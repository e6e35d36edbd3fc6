//===- GpuEmulatorDynamicSharedTest.cpp - Dynamic shared memory -----------===//
//
// Views of gpu.dynamic_shared_memory, as the kernels whose tiles pass
// 48 KiB take them: the base aligned up to 1024 at run time, buffers at
// byte shifts from there. The emulator places dynamic shared memory 16
// bytes past a 1024-byte boundary (all PTX promises), so the alignment is
// exercised. Then what a kernel can get wrong: a view past the launch's
// bytes, two views of the same bytes as different types, a view that is
// not the same in every thread, a read of the byte memref itself, and a
// race through a view.
//
//===----------------------------------------------------------------------===//

#include "GpuEmulatorFixture.h"

using namespace mlir;
using namespace mlir::cascade::gpu;

namespace {

struct DynamicKernel {
  /// Byte shifts of the two views from the aligned base (the second view
  /// is f32 like the first unless `secondType` says otherwise).
  int64_t firstShift = 0, secondShift = 128;
  std::string secondType = "f32";
  /// Whether the threads' stores and loads are separated by a barrier.
  bool barrier = true;
  /// Whether the second view's shift depends on the thread.
  bool divergentShift = false;
  /// Whether thread 0 reads the byte memref directly.
  bool readBytes = false;

  std::string source() const {
    std::string second = "memref<32x" + secondType +
                         ", #gpu.address_space<workgroup>>";
    std::string text = R"mlir(
gpu.module @m {
  gpu.func @k(%out: memref<32xf32>, %where: memref<3xi64>) kernel {
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c31 = arith.constant 31 : index
    %c1023 = arith.constant 1023 : index
    %mem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    %base = memref.extract_aligned_pointer_as_index %mem
        : memref<?xi8, #gpu.address_space<workgroup>> -> index
    %neg = arith.subi %c0, %base : index
    %skip = arith.andi %neg, %c1023 : index
)mlir";
    text += "    %s1 = arith.constant " + std::to_string(firstShift) +
            " : index\n";
    text += "    %s2 = arith.constant " + std::to_string(secondShift) +
            " : index\n";
    text += R"mlir(
    %o1 = arith.addi %skip, %s1 : index
    %o2a = arith.addi %skip, %s2 : index
)mlir";
    text += divergentShift ? "    %o2 = arith.addi %o2a, %t : index\n"
                           : "    %o2 = arith.addi %o2a, %c0 : index\n";
    text += R"mlir(
    %a = memref.view %mem[%o1][] : memref<?xi8, #gpu.address_space<workgroup>>
        to memref<32xf32, #gpu.address_space<workgroup>>
)mlir";
    text += "    %b = memref.view %mem[%o2][] : memref<?xi8, "
            "#gpu.address_space<workgroup>> to " +
            second + "\n";
    if (readBytes)
      text += "    %byte = memref.load %mem[%c0] : memref<?xi8, "
              "#gpu.address_space<workgroup>>\n";
    text += R"mlir(
    %ti = arith.index_cast %t : index to i32
    %tf = arith.sitofp %ti : i32 to f32
    memref.store %tf, %a[%t] : memref<32xf32, #gpu.address_space<workgroup>>
)mlir";
    if (barrier)
      text += "    gpu.barrier\n";
    text += R"mlir(
    %r = arith.subi %c31, %t : index
    %v = memref.load %a[%r] : memref<32xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out[%t] : memref<32xf32>
    %first = arith.cmpi eq, %t, %c0 : index
    scf.if %first {
      %pa = memref.extract_aligned_pointer_as_index %a
          : memref<32xf32, #gpu.address_space<workgroup>> -> index
)mlir";
    text += "      %pb = memref.extract_aligned_pointer_as_index %b : " +
            second + " -> index\n";
    text += R"mlir(
      %i0 = arith.index_cast %base : index to i64
      %i1 = arith.index_cast %pa : index to i64
      %i2 = arith.index_cast %pb : index to i64
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      memref.store %i0, %where[%c0] : memref<3xi64>
      memref.store %i1, %where[%c1] : memref<3xi64>
      memref.store %i2, %where[%c2] : memref<3xi64>
    }
    gpu.return
  }
}
)mlir";
    return text;
  }
};

class GpuEmulatorDynamicShared : public GpuEmulator {
protected:
  LogicalResult runKernel(const DynamicKernel &kernel, int64_t bytes) {
    Builder b(&context);
    out = buffer(b.getF32Type(), {32}, -1);
    where = buffer(b.getI64Type(), {3}, -1);
    SmallVector<EmulatorArgument> arguments(2);
    arguments[0].buffer = &out;
    arguments[1].buffer = &where;
    LaunchGeometry geometry;
    geometry.block = {32, 1, 1};
    geometry.dynamicSharedBytes = bytes;
    return run(kernel.source(), "k", geometry, arguments);
  }

  EmulatorBuffer out, where;
};

TEST_F(GpuEmulatorDynamicShared, ViewsAreBuffersAtTheirShifts) {
  // 1008 bytes of alignment slack, then 128 + 128 bytes of views.
  ASSERT_TRUE(succeeded(runKernel(DynamicKernel(), 1008 + 256))) << messages;
  for (int64_t t = 0; t < 32; ++t)
    EXPECT_EQ(out.data[t], 31 - t) << "thread " << t;
  // The base is 16 past a 1024 boundary (after the 1 KiB the hardware
  // reserves); the first view is aligned up to the next boundary, the
  // second 128 bytes after it.
  EXPECT_EQ(static_cast<int64_t>(where.data[0]) % 1024, 16);
  EXPECT_EQ(static_cast<int64_t>(where.data[1]) % 1024, 0);
  EXPECT_EQ(where.data[1] - where.data[0], 1008);
  EXPECT_EQ(where.data[2] - where.data[1], 128);
}

TEST_F(GpuEmulatorDynamicShared, AViewPastTheLaunchedBytesIsReported) {
  // The kernel needs 1008 + 256 bytes; without the alignment slack the
  // second view runs past the end.
  EXPECT_TRUE(failed(runKernel(DynamicKernel(), 256)));
  EXPECT_NE(messages.find("of dynamic shared memory, but the launch gives "
                          "256"),
            std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorDynamicShared, TheSameBytesAsAnotherTypeAreRefused) {
  DynamicKernel kernel;
  kernel.secondShift = 64;
  kernel.secondType = "i32";
  EXPECT_TRUE(failed(runKernel(kernel, 2048)));
  EXPECT_NE(messages.find("overlaps the view at byte 1008 of dynamic shared "
                          "memory with another type or shape"),
            std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorDynamicShared, TheSameViewTwiceIsOneBuffer) {
  DynamicKernel kernel;
  kernel.secondShift = 0;
  ASSERT_TRUE(succeeded(runKernel(kernel, 2048))) << messages;
  EXPECT_EQ(where.data[1], where.data[2]);
}

TEST_F(GpuEmulatorDynamicShared, AShiftThatDiffersBetweenThreadsIsRefused) {
  DynamicKernel kernel;
  kernel.divergentShift = true;
  EXPECT_TRUE(failed(runKernel(kernel, 4096)));
  EXPECT_NE(messages.find("differs from another thread's"), std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorDynamicShared, TheByteMemrefIsReadThroughViewsOnly) {
  DynamicKernel kernel;
  kernel.readBytes = true;
  EXPECT_TRUE(failed(runKernel(kernel, 2048)));
  EXPECT_NE(messages.find("through a memref.view"), std::string::npos)
      << messages;
}

TEST_F(GpuEmulatorDynamicShared, RacesThroughAViewAreReported) {
  DynamicKernel kernel;
  kernel.barrier = false;
  EXPECT_TRUE(failed(runKernel(kernel, 2048)));
  EXPECT_NE(messages.find("the view at byte 1008 of dynamic shared memory"),
            std::string::npos)
      << messages;
}

} // namespace
