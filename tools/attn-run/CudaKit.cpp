//===- CudaKit.cpp - A cuda-target check for a machine without Cascade ----===//
//
// The kit is the launch runOnCuda would make (planCudaLaunch), written out
// instead of executed, plus the expectation its check compares against
// (computeGpuExpectation): a replay that follows launch.json and compares
// elementwise with isWithinExpectation's rule is the same check.
//
//===----------------------------------------------------------------------===//

#include "CudaKit.h"
#include "CudaLaunch.h"

#include "cascade/Support/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::cascade;
namespace json = llvm::json;

static int fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
}

/// Writes `bytes` to `path`; an empty string on success, else why not.
static std::string writeFile(const std::string &path, llvm::StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return "cannot write " + path + ": " + ec.message();
  os << bytes;
  os.close();
  if (os.has_error())
    return "cannot write " + path + ": " + os.error().message();
  return "";
}

template <typename Range> static json::Array toArray(const Range &values) {
  json::Array array;
  for (auto value : values)
    array.push_back(static_cast<int64_t>(value));
  return array;
}

static json::Object describeParameter(const CudaLaunchPlan::Parameter &p) {
  using Kind = CudaLaunchPlan::Parameter::Kind;
  switch (p.kind) {
  case Kind::MemRef:
    return json::Object{{"memref", static_cast<int64_t>(p.index)},
                        {"shape", toArray(p.shape)}};
  case Kind::Int64:
    return json::Object{{"i64", p.integer}};
  case Kind::Int32:
    return json::Object{{"i32", p.integer}};
  case Kind::Float:
    return json::Object{{"f32", p.real}};
  case Kind::Double:
    return json::Object{{"f64", p.real}};
  case Kind::TensorMap:
    return json::Object{{"tensor_map", static_cast<int64_t>(p.index)}};
  }
  llvm_unreachable("unknown parameter kind");
}

int mlir::cascade::saveCudaKit(func::FuncOp function, ArrayRef<Tensor> inputs,
                               const CudaKitOptions &options) {
  std::string error;
  FailureOr<CudaLaunchPlan> planned =
      planCudaLaunch(function, inputs, options.target, error);
  if (failed(planned))
    return error.empty() ? 1 : fail(error);
  CudaLaunchPlan &plan = *planned;
  SmallVector<SmallVector<int64_t>> shapes;
  for (const CudaLaunchPlan::Output &output : plan.outputs)
    shapes.push_back(output.shape);
  FailureOr<GpuExpectation> expectation =
      computeGpuExpectation(function, plan.stored, shapes, plan.built.outputs,
                            plan.extents, options.checkRows);
  if (failed(expectation))
    return 1;

  const std::string &dir = options.directory;
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return fail("cannot create " + dir + ": " + ec.message());
  auto in = [&](const llvm::Twine &name) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    return std::string(path);
  };
  if (std::string why = writeFile(in("kernel.cubin"), plan.cubin); !why.empty())
    return fail(why);
  // The kernel IR the cubin was compiled from: what the emulated driver
  // runs when the kit is replayed without a GPU, and what to read when a
  // case fails.
  std::string ir;
  llvm::raw_string_ostream irStream(ir);
  plan.built.module->print(irStream);
  if (std::string why = writeFile(in("kernel.mlir"), ir); !why.empty())
    return fail(why);

  json::Array buffers;
  for (auto [index, buffer] : llvm::enumerate(plan.buffers)) {
    json::Object entry{{"bytes", static_cast<int64_t>(buffer.bytes)}};
    if (buffer.isOutput) {
      // All ones: NaN in f16, bf16 and f32, so that an element no block
      // writes fails.
      entry["fill"] = 255;
    } else {
      std::string name = "buffer" + std::to_string(index) + ".bin";
      llvm::StringRef bytes(
          reinterpret_cast<const char *>(buffer.initial.data()),
          buffer.initial.size());
      if (std::string why = writeFile(in(name), bytes); !why.empty())
        return fail(why);
      entry["file"] = name;
    }
    buffers.push_back(std::move(entry));
  }
  json::Array maps;
  for (const CudaLaunchPlan::TensorMap &map : plan.tensorMaps) {
    const gpu::TensorMapEncoding &e = map.encoding;
    maps.push_back(json::Object{
        {"buffer", static_cast<int64_t>(map.buffer)},
        {"data_type", map.bf16 ? "bf16" : "f16"},
        {"dims", toArray(ArrayRef(e.dims).take_front(e.rank))},
        {"strides", toArray(ArrayRef(e.strides).take_front(e.rank - 1))},
        {"box", toArray(ArrayRef(e.box).take_front(e.rank))},
        {"element_strides",
         toArray(ArrayRef(e.elementStrides).take_front(e.rank))},
        {"swizzle_bytes", e.swizzleBytes}});
  }
  json::Array parameters;
  for (const CudaLaunchPlan::Parameter &parameter : plan.parameters)
    parameters.push_back(describeParameter(parameter));
  json::Array outputs;
  for (auto [index, output] : llvm::enumerate(plan.outputs)) {
    std::string reference = "reference" + std::to_string(index) + ".npy";
    std::string tolerance = "tolerance" + std::to_string(index) + ".npy";
    if (llvm::Error err = writeNpy(in(reference),
                                   expectation->reference[index],
                                   NpyDType::Float64))
      return fail(llvm::toString(std::move(err)));
    // The bound in f32, rounded towards zero so that it is never looser
    // than the f64 one (the reference stays f64: it is what is compared).
    Tensor bound = expectation->tolerance[index];
    for (double &value : bound.data) {
      float narrow = static_cast<float>(value);
      if (std::isfinite(value) && narrow > value)
        narrow = std::nextafter(narrow, 0.0f);
      value = narrow;
    }
    if (llvm::Error err = writeNpy(in(tolerance), bound, NpyDType::Float32))
      return fail(llvm::toString(std::move(err)));
    outputs.push_back(json::Object{
        {"buffer", static_cast<int64_t>(output.buffer)},
        {"type", output.isF32 ? "f32" : plan.target.storageType},
        {"shape", toArray(output.shape)},
        {"reference", reference},
        {"tolerance", tolerance},
        // Where the element type rounds to infinity (null: never, f32).
        {"overflow_at", std::isinf(expectation->overflowAt[index])
                            ? json::Value(nullptr)
                            : json::Value(expectation->overflowAt[index])}});
  }
  json::Object extents;
  for (auto &entry : plan.extents)
    extents[entry.getKey()] = entry.getValue();
  const GpuKernelModule &built = plan.built;
  json::Object kit{
      {"format", "cascade-cuda-kit-1"},
      {"spec", llvm::sys::path::filename(options.specPath)},
      {"function", function.getSymName()},
      {"chip", plan.target.chip},
      {"storage", plan.target.storageType},
      {"extents", std::move(extents)},
      {"kernel", built.kernelName},
      {"cubin", "kernel.cubin"},
      {"ir", "kernel.mlir"},
      {"grid", json::Array{plan.blocks, 1, 1}},
      {"block", json::Array{built.threadsPerBlock, 1, 1}},
      {"shared_bytes", built.sharedMemoryBytes},
      {"dynamic_shared_bytes", built.dynamicSharedMemoryBytes},
      {"buffers", std::move(buffers)},
      {"tensor_maps", std::move(maps)},
      {"parameters", std::move(parameters)},
      {"outputs", std::move(outputs)},
      {"sampled_rows", expectation->sampledRows},
      {"query_extent", expectation->queryExtent}};
  std::string text = llvm::formatv("{0:2}", json::Value(std::move(kit)));
  if (std::string why = writeFile(in("launch.json"), text + "\n");
      !why.empty())
    return fail(why);
  llvm::outs() << "attn-run: @" << function.getSymName() << " kit for "
               << plan.target.chip << " storage=" << plan.target.storageType
               << " in " << dir << ": blocks=" << plan.blocks
               << " threads=" << built.threadsPerBlock
               << " shared=" << built.sharedMemoryBytes
               << (built.dynamicSharedMemoryBytes ? " (dynamic)" : "")
               << " buffers=" << plan.buffers.size()
               << " parameters=" << plan.parameters.size()
               << " tensor-maps=" << plan.tensorMaps.size()
               << " outputs=" << plan.outputs.size() << "; reference on "
               << expectation->sampledRows << " of "
               << expectation->queryExtent << " query rows\n";
  return 0;
}
