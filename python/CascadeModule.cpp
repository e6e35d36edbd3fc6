//===- CascadeModule.cpp - The `cascade` Python module (pybind11) ----------===//
//
// cascade._cascade, wrapped by cascade/__init__.py. Every entry point parses
// the spec into its own MLIRContext (a Spec), turns MLIR diagnostics into
// the text of a cascade.Error, and never lets a C++ failure escape as a
// crash. Kernels run through CpuKernel::runOnViews on the NumPy arrays'
// memory (no copy) with the GIL released; runOnViews checks the arrays
// against the ABI and the kernel's generated shape check first.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/PassCount.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Target/CPU/CpuCompiler.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <thread>

namespace py = pybind11;
using namespace mlir;
using namespace mlir::cascade;

namespace {

/// Raised (as cascade.Error) for every failure a caller can cause.
struct CascadeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A parsed spec with its context, and the diagnostics it produced.
class Spec {
public:
  /// `text` is MLIR; `name` labels its locations (a path, or "<string>").
  Spec(const std::string &text, const std::string &name,
       const std::optional<std::string> &entry)
      : context(makeRegistry()) {
    context.loadAllAvailableDialects();
    Capture capture(*this);
    llvm::SourceMgr sources;
    sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, name),
                               llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sources, &context);
    if (!module)
      fail("cannot parse the spec");
    for (auto function : module->getOps<func::FuncOp>())
      if (!function.isExternal() && (!entry || function.getSymName() == *entry)) {
        this->function = function;
        break;
      }
    if (!function)
      fail(entry ? "the spec has no function '" + *entry + "'"
                 : std::string("the spec has no function"));
  }

  /// Collects diagnostics while alive.
  struct Capture {
    explicit Capture(Spec &spec)
        : spec(spec),
          handler(&spec.context, [this](Diagnostic &diagnostic) {
            std::string text;
            llvm::raw_string_ostream os(text);
            // file:line:col: severity: message, as compilers print.
            if (auto file = dyn_cast<FileLineColLoc>(diagnostic.getLocation()))
              os << file.getFilename().getValue() << ":" << file.getLine()
                 << ":" << file.getColumn();
            else
              os << diagnostic.getLocation();
            os << ": "
               << (diagnostic.getSeverity() == DiagnosticSeverity::Error
                       ? "error"
                   : diagnostic.getSeverity() == DiagnosticSeverity::Warning
                       ? "warning"
                       : "note")
               << ": " << diagnostic;
            this->spec.diagnostics += text + "\n";
            return success();
          }) {}
    Spec &spec;
    ScopedDiagnosticHandler handler;
  };

  [[noreturn]] void fail(const std::string &what) {
    std::string message = what;
    if (!diagnostics.empty())
      message += ":\n" + diagnostics;
    diagnostics.clear();
    throw CascadeError(message);
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    registerAllDialects(registry);
    return registry;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  func::FuncOp function;
  std::string diagnostics;
};

/// The storage type an array's dtype stands for.
std::string storageOf(const py::array &array) {
  py::dtype dtype = array.dtype();
  if (dtype.is(py::dtype::of<float>()))
    return "f32";
  if (dtype.kind() == 'f' && dtype.itemsize() == 2)
    return "f16";
  if (dtype.kind() == 'u' && dtype.itemsize() == 2)
    return "bf16"; // bfloat16 bits in uint16 storage.
  throw CascadeError("arrays must be float32, float16 or bfloat16 bits as "
                     "uint16, not " +
                     py::str(dtype).cast<std::string>());
}

/// A kernel compiled for one spec, specialised per (head dims, dtype).
class Kernel {
public:
  Kernel(std::shared_ptr<Spec> spec, std::optional<std::map<std::string, int64_t>> headDims,
         int threads)
      : spec(std::move(spec)), fixedHeadDims(std::move(headDims)),
        threads(threads) {
    FailureOr<RankEnvironment> env = RankEnvironment::build(this->spec->function);
    if (failed(env))
      this->spec->fail("the ranks of the spec are inconsistent");
    this->env = std::move(*env);
  }

  py::array call(py::args args) {
    func::FuncOp function = spec->function;
    unsigned numArgs = function.getNumArguments();
    if (args.size() != numArgs)
      throw CascadeError("@" + function.getSymName().str() + " takes " +
                         std::to_string(numArgs) + " inputs, not " +
                         std::to_string(args.size()));
    // Inputs: arrays in place, runtime extents as integers.
    SmallVector<py::array> arrays(numArgs);
    SmallVector<CpuKernelView> views(numArgs);
    SmallVector<SmallVector<int64_t>> shapes(numArgs);
    SmallVector<std::optional<int64_t>> scalars(numArgs);
    std::string storage;
    std::map<std::string, int64_t> headDims;
    for (unsigned i = 0; i < numArgs; ++i) {
      if (env->getRankOfScalarArgument(i)) {
        try {
          scalars[i] = args[i].cast<int64_t>();
        } catch (const py::cast_error &) {
          throw CascadeError("input #" + std::to_string(i) +
                             " is the extent of rank '" +
                             env->getRankOfScalarArgument(i)->str() +
                             "': pass an integer");
        }
        views[i].scalar = scalars[i];
        continue;
      }
      if (!py::isinstance<py::array>(args[i]))
        throw CascadeError("input #" + std::to_string(i) +
                           " must be a NumPy array");
      arrays[i] = args[i].cast<py::array>();
      auto type = cast<RankedTensorType>(function.getArgumentTypes()[i]);
      if (auto ids = dyn_cast<IntegerType>(type.getElementType())) {
        // Ids (the reads of data comparisons) in the spec's own type.
        checkIdArray(arrays[i], ids, i);
      } else {
        std::string dtype = storageOf(arrays[i]);
        if (!storage.empty() && dtype != storage)
          throw CascadeError("input #" + std::to_string(i) + " is " + dtype +
                             " but input #" + std::to_string(firstArray()) +
                             " is " + storage +
                             ": all float inputs share one dtype");
        storage = dtype;
      }
      auto rank = type.getRank();
      if (arrays[i].ndim() != rank)
        throw CascadeError("input #" + std::to_string(i) + " must have " +
                           std::to_string(rank) + " dimensions, not " +
                           std::to_string(arrays[i].ndim()));
      CpuKernelView &view = views[i];
      view.data = arrays[i].mutable_data();
      for (py::ssize_t d = 0; d < arrays[i].ndim(); ++d) {
        view.sizes.push_back(arrays[i].shape(d));
        view.strides.push_back(arrays[i].strides(d) / arrays[i].itemsize());
        shapes[i].push_back(arrays[i].shape(d));
      }
      if (std::optional<StringRef> head = env->getRankOfArgumentDim(i, rank - 1);
          head && !type.getElementType().isInteger())
        headDims[head->str()] = arrays[i].shape(rank - 1);
    }
    if (storage.empty())
      throw CascadeError("the spec needs at least one float array input");
    std::string error;
    FailureOr<llvm::StringMap<int64_t>> extents =
        env->resolveExtents(shapes, error, scalars);
    if (failed(extents))
      throw CascadeError(error);
    if (fixedHeadDims)
      headDims = *fixedHeadDims;

    CpuKernel &kernel = getKernel(headDims, storage);
    // The output, in the storage type.
    const CpuKernelInterface &interface = kernel.getInterface();
    std::vector<py::ssize_t> outShape;
    for (const std::string &rank : interface.resultRanks) {
      auto it = extents->find(rank);
      if (it == extents->end())
        throw CascadeError("no input gives the extent of result rank '" +
                           rank + "'");
      outShape.push_back(it->second);
    }
    py::array output(arrays[firstArray()].dtype(), outShape);
    CpuKernelView out;
    out.data = output.mutable_data();
    for (py::ssize_t d = 0; d < output.ndim(); ++d) {
      out.sizes.push_back(output.shape(d));
      out.strides.push_back(output.strides(d) / output.itemsize());
    }
    CpuRunStatus ran;
    {
      py::gil_scoped_release release;
      ran = kernel.runOnViews(views, out, threads, error);
    }
    if (ran != CpuRunStatus::Ok)
      throw CascadeError(error);
    return output;
  }

private:
  /// The first float array argument: its dtype is the output's.
  unsigned firstArray() const {
    func::FuncOp function = spec->function;
    for (unsigned i = 0; i < function.getNumArguments(); ++i)
      if (!env->getRankOfScalarArgument(i) &&
          !getElementTypeOrSelf(function.getArgumentTypes()[i]).isInteger())
        return i;
    return 0;
  }

  /// An array of ids must have the spec's integer type exactly: ids are
  /// compared, never converted.
  static void checkIdArray(const py::array &array, IntegerType ids,
                           unsigned index) {
    py::dtype dtype = array.dtype();
    bool matches = dtype.kind() == 'i' &&
                   dtype.itemsize() == static_cast<py::ssize_t>(ids.getWidth() / 8);
    if (!matches)
      throw CascadeError("input #" + std::to_string(index) + " holds ids: " +
                         "it must be int" + std::to_string(ids.getWidth()) +
                         ", as the spec declares, not " +
                         py::str(dtype).cast<std::string>());
  }

  CpuKernel &getKernel(const std::map<std::string, int64_t> &headDims,
                       const std::string &storage) {
    auto key = std::make_pair(headDims, storage);
    auto it = kernels.find(key);
    if (it != kernels.end())
      return *it->second;
    CpuTargetOptions options;
    for (auto &[rank, size] : headDims)
      options.headDims[rank] = size;
    options.storageType = storage;
    std::string error;
    if (failed(verifyCpuTargetOptions(options, error)))
      throw CascadeError(error);
    Spec::Capture capture(*spec);
    FailureOr<std::unique_ptr<CpuKernel>> kernel =
        CpuKernel::compile(spec->function, options);
    if (failed(kernel))
      spec->fail("cannot compile @" + spec->function.getSymName().str() +
                 " for the CPU");
    return *kernels.emplace(key, std::move(*kernel)).first->second;
  }

  std::shared_ptr<Spec> spec;
  std::optional<RankEnvironment> env;
  std::optional<std::map<std::string, int64_t>> fixedHeadDims;
  int threads;
  std::map<std::pair<std::map<std::string, int64_t>, std::string>,
           std::unique_ptr<CpuKernel>>
      kernels;
};

py::array reference(const std::shared_ptr<Spec> &spec, py::args args) {
  SmallVector<Tensor> inputs;
  for (py::handle arg : args) {
    if (py::isinstance<py::int_>(arg)) {
      inputs.push_back(Tensor(ArrayRef<int64_t>{}));
      inputs.back().data[0] = arg.cast<int64_t>();
      continue;
    }
    auto array = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arg);
    if (!array)
      throw CascadeError("inputs must be NumPy arrays or integers");
    SmallVector<int64_t> shape(array.shape(), array.shape() + array.ndim());
    Tensor tensor(shape);
    std::copy(array.data(), array.data() + array.size(), tensor.data.begin());
    inputs.push_back(std::move(tensor));
  }
  Spec::Capture capture(*spec);
  FailureOr<SmallVector<Tensor>> results;
  {
    py::gil_scoped_release release;
    results = interpretFunction(spec->function, inputs);
  }
  if (failed(results))
    spec->fail("the reference interpreter failed");
  const Tensor &result = (*results)[0];
  py::array_t<double> output(std::vector<py::ssize_t>(result.shape.begin(),
                                                       result.shape.end()));
  std::copy(result.data.begin(), result.data.end(), output.mutable_data());
  return output;
}

py::dict passCount(const std::shared_ptr<Spec> &spec) {
  Spec::Capture capture(*spec);
  FailureOr<CascadePassCount> count = CascadePassCount::compute(spec->function);
  if (failed(count))
    spec->fail("cannot count passes");
  py::dict passes;
  for (const RankPasses &rank : count->getRanks())
    passes[py::str(rank.rank)] = rank.passes;
  return passes;
}

std::string minimize(const std::shared_ptr<Spec> &spec) {
  Spec::Capture capture(*spec);
  PassManager pm(&spec->context);
  CascadeMinimizePassesOptions options;
  options.emitRemarks = false;
  pm.addNestedPass<func::FuncOp>(createCascadeMinimizePasses(options));
  if (failed(pm.run(*spec->module)))
    spec->fail("cascade-minimize-passes failed");
  std::string text;
  llvm::raw_string_ostream os(text);
  spec->module->print(os);
  return text;
}

} // namespace

PYBIND11_MODULE(_cascade, m) {
  m.doc() = "Cascade: attention as cascades of Einsums, compiled (see "
            "docs/Python.md)";
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerAllPasses();
  static py::exception<CascadeError> error(m, "Error");
  py::register_exception_translator([](std::exception_ptr pointer) {
    try {
      if (pointer)
        std::rethrow_exception(pointer);
    } catch (const CascadeError &e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  py::class_<Spec, std::shared_ptr<Spec>>(m, "Spec")
      .def(py::init([](const std::string &text, const std::string &name,
                       std::optional<std::string> entry) {
             return std::make_shared<Spec>(text, name, entry);
           }),
           py::arg("text"), py::arg("name"), py::arg("entry") = py::none())
      .def_property_readonly("name", [](Spec &spec) {
        return spec.function.getSymName().str();
      });
  py::class_<Kernel>(m, "Kernel")
      .def(py::init([](std::shared_ptr<Spec> spec,
                       std::optional<std::map<std::string, int64_t>> headDims,
                       int threads) {
             return std::make_unique<Kernel>(std::move(spec), std::move(headDims),
                                             threads);
           }),
           py::arg("spec"), py::arg("head_dims"), py::arg("threads"))
      .def("__call__", &Kernel::call);
  m.def("_reference", &reference);
  m.def("_pass_count", &passCount);
  m.def("_minimize", &minimize);
  m.def("_hardware_threads",
        [] { return std::max(1u, std::thread::hardware_concurrency()); });
}
