//===- GpuEmulatorFixture.h - Parse and emulate a kernel -------*- C++ -*-===//
//
// The fixture of the emulator's tests (GpuEmulatorTest.cpp,
// GpuEmulatorWgmmaTest.cpp): parses kernel IR and runs it, collecting the
// diagnostics with their line and column.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_UNITTESTS_GPUEMULATORFIXTURE_H
#define CASCADE_UNITTESTS_GPUEMULATORFIXTURE_H

#include "cascade/Target/GPU/Emulator.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

namespace mlir::cascade::gpu {

class GpuEmulator : public ::testing::Test {
protected:
  GpuEmulator() {
    context.loadDialect<arith::ArithDialect, mlir::gpu::GPUDialect,
                        LLVM::LLVMDialect, math::MathDialect,
                        memref::MemRefDialect, nvgpu::NVGPUDialect,
                        NVVM::NVVMDialect, scf::SCFDialect,
                        vector::VectorDialect>();
  }

  /// Parses `source` and runs its kernel `name`; diagnostics go to
  /// `messages`.
  LogicalResult run(StringRef source, StringRef name,
                    const LaunchGeometry &geometry,
                    MutableArrayRef<EmulatorArgument> arguments) {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
      if (auto at = dyn_cast<FileLineColLoc>(diagnostic.getLocation()))
        messages += std::to_string(at.getLine()) + ":" +
                    std::to_string(at.getColumn()) + ": ";
      messages += diagnostic.str() + "\n";
      return success();
    });
    module = parseSourceString<ModuleOp>(source, &context);
    if (!module)
      return failure();
    mlir::gpu::GPUFuncOp kernel;
    module->walk([&](mlir::gpu::GPUFuncOp f) {
      if (f.getName() == name)
        kernel = f;
    });
    if (!kernel)
      return failure();
    return emulateKernel(kernel, geometry, arguments);
  }

  static EmulatorBuffer buffer(Type type, SmallVector<int64_t> shape,
                               double fill = 0) {
    int64_t size = 1;
    for (int64_t extent : shape)
      size *= extent;
    return {type, shape, std::vector<double>(size, fill)};
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::string messages;
};

} // namespace mlir::cascade::gpu

#endif // CASCADE_UNITTESTS_GPUEMULATORFIXTURE_H
