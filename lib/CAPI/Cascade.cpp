//===- Cascade.cpp - Cascade's C API ---------------------------------------===//
//
// The C functions of include/cascade-c/Cascade.h over the C++ library. A
// kernel handle owns a copy of the spec's function (in its own module) and
// the CpuKernel compiled from it; running goes through
// CpuKernel::runOnViews, which checks the caller's views against the ABI
// and the kernel's generated shape check before any item runs.
//
//===----------------------------------------------------------------------===//

#include "cascade-c/Cascade.h"

#include "cascade/Dialect/Cascade/IR/CascadeDialect.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Target/CPU/CpuCompiler.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/CAPI/Support.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"

#include <memory>
#include <string>

using namespace mlir;
using namespace mlir::cascade;

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Cascade, cascade,
                                      mlir::cascade::CascadeDialect)

namespace {

/// What a CascadeKernel handle points to.
struct KernelHandle {
  OwningOpRef<ModuleOp> spec;
  std::unique_ptr<CpuKernel> kernel;
};

KernelHandle *unwrapKernel(CascadeKernel kernel) {
  return static_cast<KernelHandle *>(kernel.ptr);
}

void report(MlirStringCallback onError, void *userData,
            const std::string &message) {
  if (onError)
    onError(mlirStringRefCreate(message.data(), message.size()), userData);
}

} // namespace

void cascadeRegisterAllDialects(MlirDialectRegistry registry) {
  mlir::cascade::registerAllDialects(*unwrap(registry));
}

void cascadeRegisterAllPasses(void) { mlir::cascade::registerAllPasses(); }

CascadeCpuOptions cascadeCpuOptionsGetDefault(void) {
  CascadeCpuOptions options;
  options.cpu = mlirStringRefCreateFromCString("native");
  options.storageType = mlirStringRefCreateFromCString("f32");
  options.queryTile = 64;
  options.keyTile = 64;
  options.numHeadDims = 0;
  options.headDimNames = nullptr;
  options.headDimSizes = nullptr;
  return options;
}

CascadeKernel cascadeKernelCompile(MlirModule module, MlirStringRef entry,
                                   const CascadeCpuOptions *options,
                                   MlirStringCallback onError,
                                   void *userData) {
  CascadeKernel result{nullptr};
  if (mlirModuleIsNull(module) || !options) {
    report(onError, userData,
           "cascadeKernelCompile: a null module or options");
    return result;
  }
  ModuleOp source = unwrap(module);
  MLIRContext *context = source.getContext();
  // Every diagnostic of the compilation goes to the caller, located.
  ScopedDiagnosticHandler handler(context, [&](Diagnostic &diagnostic) {
    std::string text;
    llvm::raw_string_ostream os(text);
    const char *severity =
        diagnostic.getSeverity() == DiagnosticSeverity::Error     ? "error"
        : diagnostic.getSeverity() == DiagnosticSeverity::Warning ? "warning"
        : diagnostic.getSeverity() == DiagnosticSeverity::Remark  ? "remark"
                                                                  : "note";
    os << diagnostic.getLocation() << ": " << severity << ": " << diagnostic;
    // The pass manager's dump of the whole function is no help here.
    for (const Diagnostic &note : diagnostic.getNotes())
      if (!StringRef(note.str()).starts_with("see current operation"))
        os << "\n" << note.getLocation() << ": note: " << note;
    report(onError, userData, text);
    return success();
  });

  CpuTargetOptions target;
  target.cpu = unwrap(options->cpu).str();
  target.storageType = unwrap(options->storageType).str();
  target.queryTile = options->queryTile;
  target.keyTile = options->keyTile;
  if (options->numHeadDims < 0 ||
      (options->numHeadDims > 0 &&
       (!options->headDimNames || !options->headDimSizes))) {
    report(onError, userData,
           "cascadeKernelCompile: head dimensions without names or sizes");
    return result;
  }
  for (intptr_t i = 0; i < options->numHeadDims; ++i) {
    std::string name = unwrap(options->headDimNames[i]).str();
    if (!target.headDims.try_emplace(name, options->headDimSizes[i]).second) {
      report(onError, userData,
             "cascadeKernelCompile: head dimension '" + name +
                 "' is given twice");
      return result;
    }
  }
  std::string error;
  if (failed(verifyCpuTargetOptions(target, error))) {
    report(onError, userData, "cascadeKernelCompile: " + error);
    return result;
  }

  // The handle keeps its own copy of the function: the kernel refers to it,
  // and the caller may destroy its module.
  std::string name = unwrap(entry).str();
  auto function = source.lookupSymbol<func::FuncOp>(name);
  if (!function || function.isExternal()) {
    report(onError, userData,
           "cascadeKernelCompile: the module has no function '" + name + "'");
    return result;
  }
  auto handle = std::make_unique<KernelHandle>();
  handle->spec = ModuleOp::create(source.getLoc());
  handle->spec->push_back(function.clone());
  auto copy = *handle->spec->getOps<func::FuncOp>().begin();
  FailureOr<std::unique_ptr<CpuKernel>> kernel =
      CpuKernel::compile(copy, target);
  if (failed(kernel))
    return result; // The handler reported why.
  handle->kernel = std::move(*kernel);
  result.ptr = handle.release();
  return result;
}

void cascadeKernelDestroy(CascadeKernel kernel) { delete unwrapKernel(kernel); }

intptr_t cascadeKernelGetNumInputs(CascadeKernel kernel) {
  KernelHandle *handle = unwrapKernel(kernel);
  return handle ? handle->kernel->getInterface().inputRanks.size() : 0;
}

intptr_t cascadeKernelGetInputRank(CascadeKernel kernel, intptr_t input) {
  KernelHandle *handle = unwrapKernel(kernel);
  if (!handle || input < 0 ||
      input >= intptr_t(handle->kernel->getInterface().inputRanks.size()))
    return -1;
  const CpuKernelInterface &interface = handle->kernel->getInterface();
  return interface.scalarRanks[input].empty() ? interface.inputRanks[input]
                                              : 0;
}

MlirStringRef cascadeKernelGetInputElementType(CascadeKernel kernel,
                                               intptr_t input) {
  KernelHandle *handle = unwrapKernel(kernel);
  if (!handle || input < 0 ||
      input >= intptr_t(handle->kernel->getInterface().elementTypes.size()))
    return mlirStringRefCreate("", 0);
  const std::string &type = handle->kernel->getInterface().elementTypes[input];
  return mlirStringRefCreate(type.data(), type.size());
}

intptr_t cascadeKernelGetResultRank(CascadeKernel kernel) {
  KernelHandle *handle = unwrapKernel(kernel);
  return handle ? handle->kernel->getInterface().resultRanks.size() : -1;
}

CascadeStatus cascadeKernelRun(CascadeKernel kernel, intptr_t numInputs,
                               const CascadeBufferView *inputs,
                               CascadeBufferView output, int32_t numThreads,
                               MlirStringCallback onError, void *userData) {
  KernelHandle *handle = unwrapKernel(kernel);
  if (!handle || numInputs < 0 || (numInputs > 0 && !inputs)) {
    report(onError, userData, "cascadeKernelRun: a null kernel or inputs");
    return CASCADE_STATUS_INVALID_ARGUMENT;
  }
  auto toView = [](const CascadeBufferView &buffer, bool scalar,
                   CpuKernelView &view) -> bool {
    if (scalar) {
      if (buffer.rank != 0 || !buffer.data)
        return false;
      view.scalar = *static_cast<const int64_t *>(buffer.data);
      return true;
    }
    if (buffer.rank < 0 || (buffer.rank > 0 && (!buffer.sizes || !buffer.strides)))
      return false;
    view.data = buffer.data;
    view.sizes.assign(buffer.sizes, buffer.sizes + buffer.rank);
    view.strides.assign(buffer.strides, buffer.strides + buffer.rank);
    return true;
  };
  const CpuKernelInterface &interface = handle->kernel->getInterface();
  SmallVector<CpuKernelView> views(numInputs);
  for (intptr_t i = 0; i < numInputs; ++i) {
    bool scalar = i < intptr_t(interface.scalarRanks.size()) &&
                  !interface.scalarRanks[i].empty();
    if (!toView(inputs[i], scalar, views[i])) {
      report(onError, userData,
             "cascadeKernelRun: input #" + std::to_string(i) +
                 (scalar ? " is a runtime extent: rank 0 with data pointing "
                           "to an int64_t"
                         : " has no sizes or strides"));
      return CASCADE_STATUS_INVALID_ARGUMENT;
    }
  }
  CpuKernelView out;
  if (!toView(output, false, out)) {
    report(onError, userData, "cascadeKernelRun: the output has no sizes "
                              "or strides");
    return CASCADE_STATUS_INVALID_ARGUMENT;
  }
  std::string error;
  switch (handle->kernel->runOnViews(views, out, numThreads, error)) {
  case CpuRunStatus::Ok:
    return CASCADE_STATUS_OK;
  case CpuRunStatus::InvalidArgument:
    report(onError, userData, "cascadeKernelRun: " + error);
    return CASCADE_STATUS_INVALID_ARGUMENT;
  case CpuRunStatus::ShapeMismatch:
    report(onError, userData, "cascadeKernelRun: " + error);
    return CASCADE_STATUS_SHAPE_MISMATCH;
  }
  llvm_unreachable("every CpuRunStatus is handled");
}
