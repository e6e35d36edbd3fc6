//===- attn-run.cpp - Compile, run, compare a cascade spec ----------------===//
//
// attn-run SPEC.mlir [--entry NAME] [--dims r=N,...] [--inputs a.npy,...]
//                    [--seed S] [--output out.npy] [--target ref]
//                    [--compare OTHER.mlir] [--print] [--save-inputs PREFIX]
//                    [--target cuda --chip C --save-kit DIR]
//
// Reads or makes the inputs, evaluates the entry function on a target, and
// prints a one-line summary. Targets are looked up by name so that compiled
// CPU and CUDA targets can be added beside the reference interpreter.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/ShapeContract.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/InitAllDialects.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Compare.h"
#include "cascade/Support/Npy.h"
#include "cascade/Support/RandomInputs.h"

#include "CpuRun.h"
#include "CudaKit.h"
#include "CudaRun.h"
#include "GpuEmulatorRun.h"
#include "Outputs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <functional>
#include <thread>

using namespace mlir;
using namespace mlir::cascade;
namespace cl = llvm::cl;

// The tool's own options: --help lists these, not the hundreds LLVM and
// MLIR register in every process (--help-hidden lists those too).
static cl::OptionCategory attnRunOptions("attn-run options");

static cl::opt<std::string> specPath(cl::cat(attnRunOptions), cl::Positional, cl::Required,
                                     cl::desc("<spec.mlir>"));
static cl::opt<std::string> entryName(cl::cat(attnRunOptions), 
    "entry", cl::desc("Function to run (default: the only function)"));
static cl::opt<std::string>
    dimsOption(cl::cat(attnRunOptions), "dims", cl::desc("Rank sizes for random inputs: r=N,..."));
static cl::opt<std::string>
    inputsOption(cl::cat(attnRunOptions), "inputs", cl::desc(".npy inputs in argument order: a,b,..."));
static cl::opt<uint64_t> seed(cl::cat(attnRunOptions), "seed", cl::desc("Random input seed"),
                              cl::init(0));
static cl::opt<std::string> outputPath(cl::cat(attnRunOptions), "output",
                                       cl::desc("Write the result as .npy"));
static cl::opt<std::string>
    outputDType(cl::cat(attnRunOptions), "output-dtype", cl::desc("float64 (default), float32, float16"),
                cl::init("float64"));
static cl::opt<std::string> targetName(cl::cat(attnRunOptions), 
    "target", cl::desc("Where to evaluate: ref (the fp64 interpreter), cpu (a "
                       "compiled kernel), cuda (the GPU kernel on an NVIDIA "
                       "GPU, through the driver) or cuda-emulator (the GPU "
                       "kernel's IR in the SIMT emulator)"),
    cl::init("ref"));
static cl::opt<std::string>
    comparePath(cl::cat(attnRunOptions), "compare", cl::desc("Evaluate this spec on the same inputs "
                                    "and fail unless the results agree"));
static cl::opt<std::string> compareEntry(cl::cat(attnRunOptions), 
    "compare-entry",
    cl::desc("Function of the --compare spec (default: --entry's name, or "
             "its only function)"));
static cl::opt<double> relativeTolerance(cl::cat(attnRunOptions), "rtol", cl::desc("Relative tolerance"),
                            cl::init(1e-9));
static cl::opt<double> absoluteTolerance(cl::cat(attnRunOptions), "atol", cl::desc("Absolute tolerance"),
                            cl::init(1e-12));
static cl::opt<std::string> saveInputs(cl::cat(attnRunOptions), 
    "save-inputs",
    cl::desc("Write the inputs as PREFIX0.npy, PREFIX1.npy, ... (in the "
             "arguments' element types), e.g. to feed PyTorch the same data"));
static cl::opt<std::string> saveKit(
    cl::cat(attnRunOptions), "save-kit",
    cl::desc("--target cuda with --chip: write what checking this run on "
             "another machine's GPU needs (cubin, inputs, launch.json, the "
             "fp64 reference and per-element bound) to DIR, without a GPU; "
             "scripts/gpu-kit.py replays it"),
    cl::value_desc("DIR"));
static cl::opt<bool> printValues(cl::cat(attnRunOptions), "print",
                                 cl::desc("Print the result's values"));

// The CPU target (docs/CPU.md).
static cl::opt<std::string>
    cpuName(cl::cat(attnRunOptions), "cpu", cl::desc("--target cpu: native, x86-64-v3 (AVX2) or "
                            "x86-64-v4 (AVX-512)"),
            cl::init("native"));
static cl::opt<int> threadCount(cl::cat(attnRunOptions), 
    "num-threads", cl::desc("--target cpu: threads (default: all cores)"),
    cl::init(0));
static cl::opt<int64_t> queryTile(cl::cat(attnRunOptions), "query-tile",
                                  cl::desc("query rows per item (GPU targets: left "
                                           "out, chosen per function)"),
                                  cl::init(64));
static cl::opt<int64_t> keyTile(cl::cat(attnRunOptions), "key-tile",
                                cl::desc("--target cpu: keys per step"),
                                cl::init(64));
static cl::opt<std::string> storageType(cl::cat(attnRunOptions), 
    "storage-type",
    cl::desc("element type of inputs and output: f32, f16, bf16 for --target "
             "cpu (arithmetic is f32); f16 (default) or bf16 for GPU targets"),
    cl::init("f32"));
// The GPU targets (docs/GPU.md).
static cl::opt<std::string> chipName(cl::cat(attnRunOptions), "chip",
    cl::desc("GPU targets: sm_80, sm_86, sm_89 or sm_90a (--target cuda: "
             "the device's when left out)"),
    cl::init("sm_80"));
static cl::opt<bool> checkOutput(cl::cat(attnRunOptions), 
    "check", cl::desc("Compare the target's output with the fp64 reference "
                      "within an error bound; exit 1 on failure"));
static cl::opt<int64_t> checkRows(cl::cat(attnRunOptions), 
    "check-rows", cl::desc("Query rows the reference evaluates (default: all, "
                           "or a sample on large problems)"),
    cl::init(0));
static cl::opt<bool> benchmark(cl::cat(attnRunOptions), "bench",
                               cl::desc("Time the target: warm-up, repeats, "
                                        "median, GFLOP/s"));
static cl::opt<int> warmupRuns(cl::cat(attnRunOptions), "warmup", cl::desc("--bench warm-up runs"),
                               cl::init(2));
static cl::opt<int> repeatRuns(cl::cat(attnRunOptions), "repeat", cl::desc("--bench timed runs"),
                               cl::init(10));
static cl::opt<std::string> baselineName(cl::cat(attnRunOptions), 
    "baseline", cl::desc("--bench: also time this baseline (openblas)"));

namespace {

/// A place to evaluate a function: the interpreter now; compiled CPU and
/// CUDA code later, behind the same signature.
using Target = std::function<FailureOr<SmallVector<Tensor>>(
    func::FuncOp, ArrayRef<Tensor>)>;

std::optional<Target> lookupTarget(StringRef name) {
  if (name == "ref")
    return Target([](func::FuncOp function, ArrayRef<Tensor> inputs) {
      return interpretFunction(function, inputs);
    });
  return std::nullopt;
}

int fail(const Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  return 1;
}

/// Parses and verifies a spec; diagnostics print with their source location.
OwningOpRef<ModuleOp> loadSpec(StringRef path, MLIRContext &context,
                               llvm::SourceMgr &sourceMgr) {
  std::string error;
  auto file = openInputFile(path, &error);
  if (!file) {
    llvm::errs() << "attn-run: error: " << error << "\n";
    return nullptr;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}

FailureOr<func::FuncOp> findEntry(ModuleOp module, StringRef name,
                                  StringRef path) {
  SmallVector<func::FuncOp> functions;
  for (auto function : module.getOps<func::FuncOp>())
    if (!function.isExternal())
      functions.push_back(function);
  if (!name.empty()) {
    for (func::FuncOp function : functions)
      if (function.getSymName() == name)
        return function;
    fail("no function @" + name + " in " + path);
    return failure();
  }
  if (functions.size() == 1)
    return functions.front();
  std::string names;
  for (func::FuncOp function : functions)
    names += " @" + function.getSymName().str();
  fail(path + " has " + Twine(functions.size()) +
       " functions; choose one with --entry:" + names);
  return failure();
}

std::string typeToString(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

std::optional<NpyDType> getNpyDType(Type elementType) {
  if (elementType.isF16())
    return NpyDType::Float16;
  if (elementType.isF32())
    return NpyDType::Float32;
  if (elementType.isF64())
    return NpyDType::Float64;
  if (elementType.isSignlessInteger(32))
    return NpyDType::Int32;
  if (elementType.isSignlessInteger(64))
    return NpyDType::Int64;
  return std::nullopt;
}

/// "[B, H, M, E]": what each dimension of an argument is, for messages.
std::string describeArgument(func::FuncOp function, const RankEnvironment &env,
                             unsigned arg) {
  if (std::optional<StringRef> rank = env.getRankOfScalarArgument(arg))
    return "scalar " + getExtentName(*rank);
  auto type = cast<RankedTensorType>(function.getArgumentTypes()[arg]);
  std::string text = "[";
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (d)
      text += ", ";
    if (!type.isDynamicDim(d))
      text += std::to_string(type.getDimSize(d));
    else if (std::optional<StringRef> rank = env.getRankOfArgumentDim(arg, d))
      text += getExtentName(*rank);
    else
      text += "?";
  }
  return text + "]";
}

/// Parses "b=2,h=4" into a map; reports malformed entries and unknown ranks.
FailureOr<llvm::StringMap<int64_t>> parseDims(StringRef text,
                                              const RankEnvironment &env) {
  llvm::StringMap<int64_t> dims;
  SmallVector<StringRef> entries;
  text.split(entries, ',', -1, /*KeepEmpty=*/false);
  SmallVector<StringRef> known = env.getRankNames();
  for (StringRef entry : entries) {
    auto [name, value] = entry.trim().split('=');
    name = name.trim();
    int64_t size;
    if (value.trim().getAsInteger(10, size) || size < 0) {
      fail("--dims: expected rank=N with N >= 0, got '" + entry + "'");
      return failure();
    }
    if (!llvm::is_contained(known, name)) {
      fail("--dims: unknown rank '" + name + "'; the ranks of this spec are " +
           llvm::join(known, ", "));
      return failure();
    }
    dims[name] = size;
  }
  return dims;
}

FailureOr<SmallVector<Tensor>> loadInputs(func::FuncOp function,
                                          const RankEnvironment &env) {
  SmallVector<Tensor> inputs;
  ArrayRef<Type> types = function.getArgumentTypes();
  FailureOr<llvm::StringMap<int64_t>> dims = parseDims(dimsOption, env);
  if (failed(dims))
    return failure();

  // A scalar argument (a runtime extent) takes its value from --dims, else
  // from the spec's cascade.default; it is never read from --inputs.
  SmallVector<std::optional<int64_t>> scalars(types.size());
  for (unsigned arg = 0; arg < types.size(); ++arg) {
    std::optional<StringRef> rank = env.getRankOfScalarArgument(arg);
    if (!rank)
      continue;
    auto given = dims->find(*rank);
    scalars[arg] = given != dims->end() ? std::optional(given->second)
                                        : env.lookup(*rank)->defaultValue;
    if (!scalars[arg]) {
      fail("argument #" + Twine(arg) + " is the extent of rank '" + *rank +
           "' and the spec gives no cascade.default: pass --dims " + *rank +
           "=N");
      return failure();
    }
    if (*scalars[arg] < 1) {
      fail("argument #" + Twine(arg) + " (" + getExtentName(*rank) +
           ", the extent of rank '" + *rank + "') must be at least 1, not " +
           Twine(*scalars[arg]));
      return failure();
    }
  }
  auto scalarInput = [&](unsigned arg) {
    return Tensor::ofScalar(*scalars[arg]);
  };

  for (auto [arg, type] : llvm::enumerate(types)) {
    if (scalars[arg])
      continue;
    auto tensorType = dyn_cast<RankedTensorType>(type);
    std::optional<NpyDType> dtype =
        tensorType ? getNpyDType(tensorType.getElementType()) : std::nullopt;
    if (!dtype) {
      fail("argument #" + Twine(arg) + " of @" + function.getSymName() +
           " has type " + typeToString(type) +
           "; attn-run feeds tensors of f16, f32, f64, i32 or i64");
      return failure();
    }
  }

  if (!inputsOption.empty()) {
    SmallVector<StringRef> paths;
    StringRef(inputsOption).split(paths, ',', -1, /*KeepEmpty=*/false);
    size_t tensorArgs = llvm::count_if(
        scalars, [](std::optional<int64_t> v) { return !v.has_value(); });
    if (paths.size() != tensorArgs) {
      fail("--inputs gives " + Twine(paths.size()) + " files but @" +
           function.getSymName() + " takes " + Twine(tensorArgs) +
           (tensorArgs != types.size()
                ? " tensor arguments (its scalars come from --dims or their "
                  "default)"
                : " arguments"));
      return failure();
    }
    unsigned next = 0;
    for (unsigned arg = 0; arg < types.size(); ++arg) {
      if (scalars[arg]) {
        inputs.push_back(scalarInput(arg));
        continue;
      }
      StringRef path = paths[next++];
      auto type = cast<RankedTensorType>(types[arg]);
      llvm::Expected<NpyArray> array = readNpy(path.trim());
      if (!array) {
        fail(llvm::toString(array.takeError()));
        return failure();
      }
      NpyDType expected = *getNpyDType(type.getElementType());
      std::string expectedShape = describeArgument(function, env, arg);
      if (array->dtype != expected) {
        fail("argument #" + Twine(arg) + " expects " +
             getNpyDTypeName(expected) + " of shape " + expectedShape +
             " but " + path + " holds " + getNpyDTypeName(array->dtype));
        return failure();
      }
      bool shapeOk = array->tensor.getRank() == type.getRank();
      for (int64_t d = 0; shapeOk && d < type.getRank(); ++d)
        shapeOk = type.isDynamicDim(d) ||
                  type.getDimSize(d) == array->tensor.shape[d];
      if (!shapeOk) {
        fail("argument #" + Twine(arg) + " expects shape " + expectedShape +
             " but " + path + " has shape " + array->tensor.getShapeString());
        return failure();
      }
      inputs.push_back(std::move(array->tensor));
    }
  } else {
    for (auto [arg, type] : llvm::enumerate(types)) {
      if (scalars[arg]) {
        inputs.push_back(scalarInput(arg));
        continue;
      }
      auto tensorType = cast<RankedTensorType>(type);
      SmallVector<int64_t> shape;
      for (int64_t d = 0; d < tensorType.getRank(); ++d) {
        if (!tensorType.isDynamicDim(d)) {
          shape.push_back(tensorType.getDimSize(d));
          continue;
        }
        std::optional<StringRef> rank = env.getRankOfArgumentDim(arg, d);
        if (!rank) {
          fail("argument #" + Twine(arg) + " dimension " + Twine(d) +
               " is dynamic but no rank names it; index it by a rank in "
               "some einsum or name it with {cascade.ranks = [...]}");
          return failure();
        }
        auto it = dims->find(*rank);
        if (it == dims->end()) {
          std::string needed;
          for (StringRef name : env.getRankNames())
            if (env.lookup(name)->kind == RankBinding::Kind::Argument &&
                !dims->count(name))
              needed += " " + name.str() + "=N";
          fail("rank '" + *rank + "' (argument #" + Twine(arg) +
               " dimension " + Twine(d) +
               ") needs a size for random inputs: pass --dims with" + needed);
          return failure();
        }
        shape.push_back(it->second);
      }
      if (std::optional<std::string> problem =
              Tensor::checkAllocation(shape, sizeof(double))) {
        fail("argument #" + Twine(arg) + ": " + *problem);
        return failure();
      }
      // Integer tensors are the ids of data comparisons (document ids):
      // random segments, about 4 per row, so that masks hold on some pairs.
      if (isa<IntegerType>(tensorType.getElementType()))
        inputs.push_back(makeRandomSegmentIds(shape, seed, arg, 4));
      else
        inputs.push_back(makeRandomTensor(
            shape, seed, arg, *getNpyDType(tensorType.getElementType())));
    }
  }

  // Sizes that --dims names must be the sizes the inputs have.
  SmallVector<SmallVector<int64_t>> shapes;
  for (const Tensor &input : inputs)
    shapes.push_back(input.shape);
  std::string error;
  FailureOr<llvm::StringMap<int64_t>> extents =
      env.resolveExtents(shapes, error, scalars);
  if (failed(extents)) {
    std::string expected;
    for (unsigned arg = 0; arg < types.size(); ++arg)
      expected += (arg ? ", #" : "#") + std::to_string(arg) + " " +
                  describeArgument(function, env, arg);
    fail("inputs disagree: " + error + "; the arguments' shapes are " +
         expected);
    return failure();
  }
  for (auto &entry : *dims) {
    auto it = extents->find(entry.getKey());
    if (it != extents->end() && it->second != entry.getValue()) {
      fail("--dims gives " + entry.getKey() + "=" + Twine(entry.getValue()) +
           " but the inputs have " + entry.getKey() + "=" + Twine(it->second));
      return failure();
    }
  }
  // Every target, compiled or not, runs only within the spec's contract.
  if (failed(checkShapeContract(function, shapes, *extents, error))) {
    fail("these sizes do not fit @" + function.getSymName() + ": " + error);
    return failure();
  }
  return inputs;
}

} // namespace

/// The GPU targets' options from the command line: left out, the key tile
/// follows the head dimensions and the storage type is f16.
static GpuTargetOptions getGpuTargetOptions() {
  GpuTargetOptions target;
  target.chip = chipName;
  // Left out, both tiles are chosen per function (cascade-schedule-for-gpu).
  target.queryTile = queryTile.getNumOccurrences() ? queryTile.getValue() : 0;
  target.keyTile = keyTile.getNumOccurrences() ? keyTile.getValue() : 0;
  target.storageType =
      storageType.getNumOccurrences() ? storageType.getValue() : "f16";
  return target;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Everything LLVM and MLIR registered is listed by --help-hidden only.
  for (auto &entry : cl::getRegisteredOptions())
    if (!llvm::is_contained(entry.second->Categories, &attnRunOptions) &&
        !entry.first.starts_with("help") && entry.first != "version" &&
        entry.second->getOptionHiddenFlag() == cl::NotHidden)
      entry.second->setHiddenFlag(cl::Hidden);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attn-run: evaluate a cascade spec on .npy or random inputs\n");

  std::optional<Target> target = lookupTarget(targetName);
  bool compiled = targetName == "cpu" || targetName == "cuda" ||
                  targetName == "cuda-emulator";
  if (!target && !compiled)
    return fail("unknown --target '" + targetName +
                "'; available targets: ref, cpu, cuda, cuda-emulator");
  if (!compiled && (checkOutput || benchmark))
    return fail("--check and --bench need a compiled target (--target cpu, "
                "cuda or cuda-emulator)");
  if (targetName == "cuda-emulator" && benchmark)
    return fail("--bench times real hardware; the emulator says nothing "
                "about speed");
  // Numbers whose 0 or negative would silently mean something else.
  if (threadCount.getNumOccurrences() && threadCount < 1)
    return fail("--num-threads must be at least 1 (leave it out for all "
                "cores), not " + Twine(threadCount.getValue()));
  if (checkRows.getNumOccurrences() && checkRows < 1)
    return fail("--check-rows must be at least 1 (leave it out for all rows, "
                "or a sample on large problems), not " +
                Twine(checkRows.getValue()));
  if (repeatRuns < 1)
    return fail("--repeat must be at least 1, not " +
                Twine(repeatRuns.getValue()));
  if (warmupRuns < 0)
    return fail("--warmup must be at least 0, not " +
                Twine(warmupRuns.getValue()));
  std::optional<NpyDType> outputType =
      StringSwitch<std::optional<NpyDType>>(outputDType)
          .Case("float64", NpyDType::Float64)
          .Case("float32", NpyDType::Float32)
          .Case("float16", NpyDType::Float16)
          .Default(std::nullopt);
  if (!outputType)
    return fail("--output-dtype must be float64, float32 or float16");

  registerAllPasses();
  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  OwningOpRef<ModuleOp> module = loadSpec(specPath, context, sourceMgr);
  if (!module)
    return 1;
  FailureOr<func::FuncOp> entry = findEntry(*module, entryName, specPath);
  if (failed(entry))
    return 1;
  FailureOr<RankEnvironment> env = RankEnvironment::build(*entry);
  if (failed(env))
    return fail("the ranks of @" + entry->getSymName() + " are inconsistent");
  FailureOr<SmallVector<Tensor>> inputs = loadInputs(*entry, *env);
  if (failed(inputs))
    return 1;

  if (!saveInputs.empty()) {
    for (auto [arg, input] : llvm::enumerate(*inputs)) {
      auto type = dyn_cast<RankedTensorType>(entry->getArgumentTypes()[arg]);
      if (!type)
        continue; // A scalar comes from --dims.
      std::string path = saveInputs + std::to_string(arg) + ".npy";
      if (llvm::Error error =
              writeNpy(path, input, *getNpyDType(type.getElementType())))
        return fail(llvm::toString(std::move(error)));
    }
  }

  if (!saveKit.empty() && targetName != "cuda")
    return fail("--save-kit writes a check of the cuda target; add --target "
                "cuda --chip C");
  if (targetName == "cuda-emulator") {
    if (!comparePath.empty())
      return fail("--compare runs on the reference target; use --check "
                  "with --target cuda-emulator");
    GpuEmulatorRunOptions options;
    options.target = getGpuTargetOptions();
    options.check = checkOutput;
    options.printValues = printValues;
    options.outputPath = outputPath;
    if (checkRows.getNumOccurrences())
      return fail("--check-rows samples the CPU target's reference; the "
                  "emulator runs small problems and checks every row");
    return runOnGpuEmulator(*entry, *inputs, options);
  }
  if (targetName == "cuda" && !saveKit.empty()) {
    if (!chipName.getNumOccurrences())
      return fail("--save-kit needs --chip: the kit is compiled here, for "
                  "the GPU it will run on");
    if (checkOutput || benchmark || printValues || !outputPath.empty() ||
        !comparePath.empty() || !baselineName.empty())
      return fail("--save-kit runs nothing here; --check, --bench, --print, "
                  "--output, --compare and --baseline apply where the kit "
                  "is replayed");
    CudaKitOptions options;
    options.target = getGpuTargetOptions();
    options.checkRows = checkRows;
    options.directory = saveKit;
    options.specPath = specPath;
    return saveCudaKit(*entry, *inputs, options);
  }
  if (targetName == "cuda") {
    if (!comparePath.empty())
      return fail("--compare runs on the reference target; use --check "
                  "with --target cuda");
    if (!baselineName.empty())
      return fail("--baseline names a CPU baseline; bench/gpu-bench.py "
                  "compares the cuda target with PyTorch");
    CudaRunOptions options;
    options.target = getGpuTargetOptions();
    options.chipGiven = chipName.getNumOccurrences() > 0;
    options.check = checkOutput;
    options.checkRows = checkRows;
    options.bench = benchmark;
    options.warmup = warmupRuns;
    options.repeat = repeatRuns;
    options.printValues = printValues;
    options.outputPath = outputPath;
    return runOnCuda(*entry, *inputs, options);
  }
  if (targetName == "cpu") {
    if (!comparePath.empty())
      return fail("--compare runs on the reference target; use --check "
                  "with --target cpu");
    CpuRunOptions options;
    options.target.cpu = cpuName;
    options.target.queryTile = queryTile;
    options.target.keyTile = keyTile;
    options.target.storageType = storageType;
    options.threads = threadCount > 0
                          ? threadCount
                          : std::max(1u, std::thread::hardware_concurrency());
    options.check = checkOutput;
    options.checkRows = checkRows;
    options.bench = benchmark;
    options.warmup = warmupRuns;
    options.repeat = repeatRuns;
    options.baseline = baselineName;
    options.outputPath = outputPath;
    options.printValues = printValues;
    return runOnCpu(*entry, *inputs, options);
  }

  auto start = std::chrono::steady_clock::now();
  FailureOr<SmallVector<Tensor>> results = (*target)(*entry, *inputs);
  double milliseconds = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  if (failed(results))
    return fail("evaluation of @" + entry->getSymName() + " failed");

  std::string summary;
  llvm::raw_string_ostream os(summary);
  os << "attn-run: @" << entry->getSymName() << " target=" << targetName
     << " inputs";
  for (auto [arg, input] : llvm::enumerate(*inputs))
    os << (arg ? "," : " ") << input.getShapeString();
  os << " -> ";
  os << describeShapes(*results)
     << llvm::format(" time=%.3fms", milliseconds)
     << " nonfinite=" << countNonFinite(*results);
  llvm::outs() << summary << "\n";

  if (printValues)
    printOutputs(*results);

  if (!outputPath.empty())
    if (llvm::Error error = writeOutputs(*results, outputPath, *outputType))
      return fail(llvm::toString(std::move(error)));

  if (!comparePath.empty()) {
    llvm::SourceMgr otherSourceMgr;
    SourceMgrDiagnosticHandler otherDiagnostics(otherSourceMgr, &context);
    OwningOpRef<ModuleOp> other =
        loadSpec(comparePath, context, otherSourceMgr);
    if (!other)
      return 1;
    std::string otherName = compareEntry;
    if (otherName.empty() && !entryName.empty())
      otherName = entryName;
    FailureOr<func::FuncOp> otherEntry =
        findEntry(*other, otherName, comparePath);
    if (failed(otherEntry))
      return 1;
    // A spec without this one's scalar arguments (the same mask with its
    // sizes written as constants) is fed the tensors only.
    SmallVector<Tensor> otherInputs;
    for (auto [input, type] : llvm::zip(*inputs, entry->getArgumentTypes()))
      if (otherEntry->getNumArguments() == inputs->size() ||
          !type.isIntOrIndex())
        otherInputs.push_back(input);
    FailureOr<SmallVector<Tensor>> expected =
        (*target)(*otherEntry, otherInputs);
    if (failed(expected))
      return fail("evaluation of @" + otherEntry->getSymName() + " in " +
                  comparePath + " failed");
    if (expected->size() != results->size())
      return fail("the specs return " + Twine(results->size()) + " and " +
                  Twine(expected->size()) + " results");
    bool agree = true;
    for (auto [i, actual, reference] :
         llvm::enumerate(*results, *expected)) {
      Comparison comparison = compareTensors(actual, reference, relativeTolerance, absoluteTolerance);
      llvm::outs() << "attn-run: compare result #" << i << " with "
                   << comparePath << ": ";
      if (!comparison.shapesMatch) {
        llvm::outs() << "shapes differ " << actual.getShapeString() << " vs "
                     << reference.getShapeString() << " DISAGREE\n";
        agree = false;
        continue;
      }
      llvm::outs() << llvm::format("max_abs=%.3e max_rel=%.3e", 
                                   comparison.maxAbsError,
                                   comparison.maxRelError)
                   << llvm::format(" (rtol=%g atol=%g) ", relativeTolerance.getValue(),
                                   absoluteTolerance.getValue());
      if (comparison.agree()) {
        llvm::outs() << "AGREE";
        if (comparison.sameNonFinite)
          llvm::outs() << " (" << comparison.sameNonFinite
                       << " NaN/Inf where both have the same)";
        llvm::outs() << "\n";
        continue;
      }
      agree = false;
      int64_t at = comparison.firstFailure;
      llvm::outs() << "DISAGREE: " << comparison.mismatches
                   << " elements out of tolerance, " << comparison.nonFinite
                   << " NaN/Inf; first at " << formatIndex(actual, at) << ": "
                   << llvm::format("%.17g vs %.17g", actual.data[at],
                                   reference.data[at])
                   << "\n";
    }
    if (!agree)
      return 1;
  }
  return 0;
}
