//===- CpuCompiler.cpp - JIT and AOT compilation of cascades for CPUs -----===//

#include "cascade/Target/CPU/CpuCompiler.h"
#include "cascade/Analysis/ShapeContract.h"
#include "cascade/Conversion/CascadeToCPU.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"
#include "cascade/Support/Threads.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <set>
#include <cstring>

using namespace mlir;
using namespace mlir::cascade;

//===----------------------------------------------------------------------===//
// Interface
//===----------------------------------------------------------------------===//

FailureOr<CpuKernelInterface>
mlir::cascade::getCpuKernelInterface(func::FuncOp function,
                                     const CpuTargetOptions &options) {
  CpuKernelInterface interface;
  interface.name = function.getSymName().str();
  interface.queryTile = options.queryTile;
  interface.storageType = options.storageType;
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  if (failed(env))
    return function.emitError("the ranks of this function are inconsistent");
  for (auto [arg, type] : llvm::enumerate(function.getArgumentTypes())) {
    if (std::optional<StringRef> rank = env->getRankOfScalarArgument(arg)) {
      interface.inputRanks.push_back(0);
      interface.scalarRanks.push_back(rank->str());
      interface.elementTypes.push_back("");
      continue;
    }
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return function.emitError("the CPU backend takes ranked tensors and "
                                "scalars marked cascade.extent_of");
    interface.inputRanks.push_back(tensor.getRank());
    interface.scalarRanks.push_back("");
    Type element = tensor.getElementType();
    if (element.isInteger(32) || element.isInteger(64))
      interface.elementTypes.push_back(element.isInteger(32) ? "i32" : "i64");
    else if (isa<FloatType>(element))
      interface.elementTypes.push_back(options.storageType);
    else
      return function.emitError("argument #")
             << arg << " has elements of " << element
             << "; the CPU backend takes float tensors and i32 or i64 ids";
  }
  auto returnOp = cast<func::ReturnOp>(function.getBody().front().getTerminator());
  if (returnOp.getNumOperands() != 1)
    return function.emitError("the CPU backend compiles functions with one "
                              "result (this one has ")
           << returnOp.getNumOperands()
           << "; the GPU targets compile several)";
  EinsumOp einsum = getRankSource(returnOp.getOperand(0));
  if (!einsum)
    return returnOp.emitError("the CPU backend needs the result to be an "
                              "Einsum of the function");
  for (StringRef rank : einsum.getOutput().getAsValueRange<StringAttr>())
    interface.resultRanks.push_back(rank.str());
  return interface;
}

//===----------------------------------------------------------------------===//
// Lowering and LLVM
//===----------------------------------------------------------------------===//

FailureOr<OwningOpRef<ModuleOp>>
mlir::cascade::lowerToLLVMDialect(func::FuncOp function,
                                  const CpuTargetOptions &options) {
  MLIRContext *context = function.getContext();
  OwningOpRef<ModuleOp> module = ModuleOp::create(function.getLoc());
  module->push_back(function.clone());
  PassManager pm(context);
  std::string error;
  if (failed(verifyCpuTargetOptions(options, error)))
    return function.emitError(error);
  if (failed(buildCascadeToCpuPipeline(pm, options)) ||
      failed(pm.run(*module)))
    return failure();
  return module;
}

static std::unique_ptr<llvm::TargetMachine>
createTargetMachine(StringRef cpu, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder) {
    error = llvm::toString(builder.takeError());
    return nullptr;
  }
  if (cpu != "native") {
    // A named level sets exactly its features, whatever the host has.
    builder->setCPU(cpu.str());
    builder->getFeatures() = llvm::SubtargetFeatures();
  }
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto machine = builder->createTargetMachine();
  if (!machine) {
    error = llvm::toString(machine.takeError());
    return nullptr;
  }
  return std::move(*machine);
}

static void registerTranslations(MLIRContext *context) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context->appendDialectRegistry(registry);
}

//===----------------------------------------------------------------------===//
// AOT
//===----------------------------------------------------------------------===//

/// The C type of one element of a view of `type`: f16 and bf16 travel as
/// their IEEE bits.
static std::string cTypeOf(StringRef type) {
  if (type == "i32")
    return "int32_t";
  if (type == "i64")
    return "int64_t";
  return type == "f32" ? "float" : "uint16_t";
}

static std::string writeHeader(const CpuKernelInterface &interface,
                               func::FuncOp function,
                               const CpuTargetOptions &options) {
  std::string text;
  llvm::raw_string_ostream os(text);
  std::string guard = "CASCADE_KERNEL_" + llvm::StringRef(interface.name).upper() + "_H";
  std::string element = cTypeOf(interface.storageType);
  std::string name = interface.name;
  FailureOr<RankEnvironment> env = RankEnvironment::build(function);
  os << "/* Generated by attn-compile: the C ABI of the Cascade kernel @"
     << name << ".\n"
     << " * Element type: " << interface.storageType
     << (interface.storageType == "f32" ? "" : " (IEEE bits in uint16_t)")
     << (llvm::is_contained(interface.elementTypes, "i32") ||
                 llvm::is_contained(interface.elementTypes, "i64")
             ? "; ids (the reads of data comparisons) as they are"
             : "")
     << "; arithmetic in f32. Head dimensions:";
  for (auto &entry : options.headDims)
    os << " " << entry.getKey() << "=" << entry.getValue();
  os << ".\n * docs/CPU.md describes the ABI. Do not edit. */\n"
     << "#ifndef " << guard << "\n#define " << guard << "\n\n"
     << "#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  // One descriptor type per (rank, element type) the views use.
  SmallVector<std::pair<int64_t, std::string>> descriptors;
  for (auto [rank, scalar, type] :
       llvm::zip(interface.inputRanks, interface.scalarRanks,
                 interface.elementTypes))
    if (scalar.empty())
      descriptors.push_back({rank, type});
  descriptors.push_back({static_cast<int64_t>(interface.resultRanks.size()),
                         interface.storageType});
  std::set<std::pair<int64_t, std::string>> emitted;
  for (auto &[rank, type] : descriptors) {
    if (!emitted.insert({rank, type}).second)
      continue;
    std::string suffix = std::to_string(rank) + "_" + type;
    std::string c = cTypeOf(type);
    os << "#ifndef CASCADE_MEMREF" << suffix << "_DEFINED\n#define CASCADE_MEMREF"
       << suffix << "_DEFINED\n"
       << "/* A strided view: element (i0, i1, ...) is at\n"
       << " * aligned[offset + i0 * strides[0] + i1 * strides[1] + ...];\n"
       << " * the innermost stride must be 1. */\n"
       << "typedef struct {\n  " << c << " *allocated;\n  " << c
       << " *aligned;\n  int64_t offset;\n  int64_t sizes[" << rank
       << "];\n  int64_t strides[" << rank << "];\n} cascade_memref" << suffix
       << ";\n#endif\n\n";
  }
  os << "/* Computes work items [begin, end) of @" << name << ". Arguments:\n";
  for (unsigned arg = 0; arg < interface.inputRanks.size(); ++arg) {
    if (!interface.scalarRanks[arg].empty()) {
      StringRef rank = interface.scalarRanks[arg];
      const RankBinding *binding = succeeded(env) ? env->lookup(rank) : nullptr;
      os << " *   #" << arg << " " << getExtentName(rank)
         << ": the extent of rank '" << rank << "', at least 1"
         << (binding && binding->defaultValue
                 ? " (the spec's default: " +
                       std::to_string(*binding->defaultValue) + ")"
                 : std::string())
         << "\n";
      continue;
    }
    os << " *   #" << arg << " [";
    for (int64_t d = 0; d < interface.inputRanks[arg]; ++d) {
      std::optional<StringRef> rank =
          succeeded(env) ? env->getRankOfArgumentDim(arg, d) : std::nullopt;
      os << (d ? ", " : "") << (rank ? rank->str() : "?");
    }
    os << "]\n";
  }
  os << " *   out [" << llvm::join(interface.resultRanks, ", ") << "]\n"
     << " * Items may run on any threads in any order; each writes its own "
        "rows of out. */\n"
     << "void _mlir_ciface_" << name << "(";
  // A scalar argument is an int64_t by value; a view, a pointer to its
  // descriptor.
  auto argumentText = [&](unsigned arg) {
    if (!interface.scalarRanks[arg].empty())
      return "int64_t " + getExtentName(interface.scalarRanks[arg]) + ", ";
    return "const cascade_memref" + std::to_string(interface.inputRanks[arg]) +
           "_" + interface.elementTypes[arg] + " *in" + std::to_string(arg) +
           ", ";
  };
  for (unsigned arg = 0; arg < interface.inputRanks.size(); ++arg)
    os << argumentText(arg);
  int64_t resultRank = interface.resultRanks.size();
  os << "cascade_memref" << resultRank << "_" << interface.storageType
     << " *out, int64_t begin, int64_t end);\n\n";
  std::string views;
  for (unsigned arg = 0; arg < interface.inputRanks.size(); ++arg)
    views += argumentText(arg);
  std::string outView = "const cascade_memref" + std::to_string(resultRank) +
                        "_" + interface.storageType + " *out";
  os << "#define " << llvm::StringRef(name).upper() << "_QUERY_TILE "
     << interface.queryTile << "\n\n"
     << "/* Call before the kernel: 0 when these views fit @" << name
     << " (every size in [0, 2^31),\n"
     << " * innermost strides 1, the compiled head dimensions, the extents "
        "agreeing,\n"
     << " * every index of every operand inside it); else k + 1, where\n * "
     << name << "_check_messages[k] says which condition failed. The kernel "
        "reads\n * only inside the views' sizes; that they lie inside your "
        "allocations\n * is yours to ensure. */\n"
     << "int32_t _mlir_ciface_" << name << "_check(" << views << outView
     << ");\n#define " << name << "_check _mlir_ciface_" << name << "_check\n"
     << "static const char *const " << name << "_check_messages[] = {\n";
  for (const std::string &message : interface.checkMessages) {
    os << "  \"";
    os.write_escaped(message);
    os << "\",\n";
  }
  os << "};\n\n"
     << "/* Work items for an output of out->sizes (the schedule plan's work\n"
        " * decomposition): the product of the work ranks' sizes, the query "
        "rank\n * counted in tiles of the query tile (B * H for a spec with "
        "a state\n * phase, whose items loop over their query tiles); -1 when "
        "a size is\n * negative or the count overflows. The kernel clamps "
        "[begin, end) to them. */\n"
     << "int64_t _mlir_ciface_" << name << "_work_items(" << outView
     << ");\n#define " << name << "_work_items _mlir_ciface_" << name
     << "_work_items\n\n"
     << "#ifdef __cplusplus\n}\n#endif\n#endif\n";
  return text;
}

/// The texts of `<name>_check`'s status codes, from the lowered module.
static SmallVector<std::string> readCheckMessages(ModuleOp module,
                                                  StringRef name) {
  SmallVector<std::string> messages;
  Operation *check = module.lookupSymbol((name + "_check").str());
  if (!check)
    return messages;
  if (auto texts = check->getAttrOfType<ArrayAttr>("cascade.check_messages"))
    for (StringRef text : texts.getAsValueRange<StringAttr>())
      messages.push_back(text.str());
  return messages;
}

LogicalResult mlir::cascade::emitCpuObject(func::FuncOp function,
                                           const CpuTargetOptions &options,
                                           StringRef objectPath,
                                           StringRef headerPath) {
  FailureOr<CpuKernelInterface> interface =
      getCpuKernelInterface(function, options);
  if (failed(interface))
    return failure();
  FailureOr<OwningOpRef<ModuleOp>> module = lowerToLLVMDialect(function, options);
  if (failed(module))
    return failure();
  interface->checkMessages = readCheckMessages(**module, interface->name);
  std::string headerText = writeHeader(*interface, function, options);
  registerTranslations(function.getContext());
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(options.cpu, error);
  if (!machine)
    return function.emitError("cannot create a target machine: ") << error;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(**module, llvmContext);
  if (!llvmModule)
    return function.emitError("translation to LLVM IR failed");
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  if (llvm::Error err =
          makeOptimizingTransformer(3, 0, machine.get())(llvmModule.get()))
    return function.emitError("LLVM optimisation failed: ")
           << llvm::toString(std::move(err));

  std::error_code code;
  llvm::ToolOutputFile object(objectPath, code, llvm::sys::fs::OF_None);
  if (code)
    return function.emitError("cannot write ") << objectPath << ": "
                                               << code.message();
  llvm::legacy::PassManager passes;
  if (machine->addPassesToEmitFile(passes, object.os(), nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return function.emitError("the target cannot emit object files");
  passes.run(*llvmModule);
  object.keep();

  llvm::ToolOutputFile header(headerPath, code, llvm::sys::fs::OF_Text);
  if (code)
    return function.emitError("cannot write ") << headerPath << ": "
                                               << code.message();
  header.os() << headerText;
  header.keep();
  return success();
}

//===----------------------------------------------------------------------===//
// JIT
//===----------------------------------------------------------------------===//

FailureOr<std::unique_ptr<CpuKernel>>
CpuKernel::compile(func::FuncOp function, const CpuTargetOptions &options) {
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<CpuKernel> kernel(new CpuKernel());
  FailureOr<CpuKernelInterface> interface =
      getCpuKernelInterface(function, options);
  if (failed(interface))
    return failure();
  kernel->interface = *interface;
  for (auto &entry : options.headDims)
    kernel->interface.headDims[entry.getKey()] = entry.getValue();
  kernel->spec = function;
  kernel->elementBytes = options.storageType == "f32" ? 4 : 2;
  FailureOr<OwningOpRef<ModuleOp>> module = lowerToLLVMDialect(function, options);
  if (failed(module))
    return failure();
  kernel->interface.checkMessages =
      readCheckMessages(**module, interface->name);
  registerTranslations(function.getContext());
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(options.cpu, error);
  if (!machine)
    return function.emitError("cannot create a target machine: ") << error;
  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(3, 0, machine.get());
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = ExecutionEngine::create(**module, engineOptions,
                                        std::move(machine));
  if (!engine)
    return function.emitError("JIT compilation failed: ")
           << llvm::toString(engine.takeError());
  kernel->engine = std::move(*engine);
  auto entry = kernel->engine->lookupPacked("_mlir_ciface_" + interface->name);
  if (!entry)
    return function.emitError("JIT: no entry point: ")
           << llvm::toString(entry.takeError());
  kernel->entry = *entry;
  auto check =
      kernel->engine->lookupPacked("_mlir_ciface_" + interface->name + "_check");
  if (!check)
    return function.emitError("JIT: no shape check: ")
           << llvm::toString(check.takeError());
  kernel->check = *check;
  auto workItems = kernel->engine->lookupPacked("_mlir_ciface_" +
                                                interface->name + "_work_items");
  if (!workItems)
    return function.emitError("JIT: no work item count: ")
           << llvm::toString(workItems.takeError());
  kernel->countWorkItems = *workItems;
  kernel->compileSeconds = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - start)
                               .count();
  return kernel;
}

/// IEEE half and bfloat16 conversions (round to nearest even).
static uint16_t toHalf(double value) {
  _Float16 half = static_cast<_Float16>(static_cast<float>(value));
  uint16_t bits;
  std::memcpy(&bits, &half, 2);
  return bits;
}
static double fromHalf(uint16_t bits) {
  _Float16 half;
  std::memcpy(&half, &bits, 2);
  return static_cast<double>(static_cast<float>(half));
}
static uint16_t toBFloat(double value) {
  float f = static_cast<float>(value);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((bits >> 16) | 0x40); // quiet NaN
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}
static double fromBFloat(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, 4);
  return f;
}

CpuKernelView CpuKernel::viewOf(Buffer &buffer) {
  CpuKernelView view;
  if (buffer.scalar) {
    view.scalar = buffer.scalar;
    return view;
  }
  view.data = buffer.bytes.data();
  view.sizes = buffer.shape;
  view.strides.assign(buffer.shape.size(), 1);
  for (size_t d = buffer.shape.size(); d-- > 1;)
    view.strides[d - 1] = view.strides[d] * buffer.shape[d];
  return view;
}

LogicalResult CpuKernel::prepare(ArrayRef<Tensor> values, std::string &error) {
  if (values.size() != interface.inputRanks.size()) {
    error = "the kernel takes " + std::to_string(interface.inputRanks.size()) +
            " inputs";
    return failure();
  }
  FailureOr<RankEnvironment> env = RankEnvironment::build(spec);
  if (failed(env)) {
    error = "inconsistent ranks";
    return failure();
  }
  SmallVector<SmallVector<int64_t>> shapes;
  SmallVector<std::optional<int64_t>> scalars;
  for (auto [value, scalarRank] : llvm::zip(values, interface.scalarRanks)) {
    shapes.push_back(value.shape);
    scalars.push_back(std::nullopt);
    if (scalarRank.empty())
      continue;
    scalars.back() = value.getScalarInteger();
    if (!scalars.back()) {
      error = "the extent of rank '" + scalarRank +
              "' must be given as a 0-d tensor holding an integer";
      return failure();
    }
  }
  FailureOr<llvm::StringMap<int64_t>> extents =
      env->resolveExtents(shapes, error, scalars);
  if (failed(extents))
    return failure();
  for (auto &head : interface.headDims) {
    auto it = extents->find(head.getKey());
    if (it != extents->end() && it->second != head.getValue()) {
      error = "the kernel was compiled for " +
              getExtentName(head.getKey()) + " = " +
              std::to_string(head.getValue()) + " but the inputs have " +
              getExtentName(head.getKey()) + " = " + std::to_string(it->second);
      return failure();
    }
  }
  if (failed(checkShapeContract(spec, shapes, *extents, error)))
    return failure();
  inputs.clear();
  for (auto [value, scalar] : llvm::zip(values, scalars)) {
    Buffer buffer;
    buffer.shape = value.shape;
    if (scalar) {
      buffer.scalar = scalar;
      inputs.push_back(std::move(buffer));
      continue;
    }
    buffer.elementType = interface.elementTypes[inputs.size()];
    if (failed(encode(value, buffer, error))) {
      error = "input #" + std::to_string(inputs.size()) + ": " + error;
      return failure();
    }
    inputs.push_back(std::move(buffer));
  }
  output = Buffer();
  output.elementType = interface.storageType;
  for (const std::string &rank : interface.resultRanks) {
    auto it = extents->find(rank);
    if (it == extents->end()) {
      error = "no input gives the extent of result rank '" + rank + "'";
      return failure();
    }
    output.shape.push_back(it->second);
  }
  if (std::optional<std::string> problem =
          Tensor::checkAllocation(output.shape, elementBytes)) {
    error = "the output: " + *problem;
    return failure();
  }
  output.bytes.assign(Tensor::numElementsOf(output.shape) * elementBytes, 0);
  // The kernel's own contract check, on the descriptors it will be given:
  // the same conditions as checkShapeContract above, as generated code.
  SmallVector<CpuKernelView> views;
  for (Buffer &buffer : inputs)
    views.push_back(viewOf(buffer));
  packed = std::make_unique<PackedArguments>();
  if (failed(pack(views, viewOf(output), *packed, error)))
    return failure();
  return checkAndCountItems(packed->arguments, workItems, error);
}

LogicalResult CpuKernel::checkAndCountItems(ArrayRef<void *> arguments,
                                            int64_t &items,
                                            std::string &error) const {
  SmallVector<void *> checkArguments(arguments.begin(), arguments.end());
  int32_t status = 0;
  checkArguments.push_back(&status);
  check(checkArguments.data());
  if (status != 0) {
    size_t k = status - 1;
    error = "the kernel's shape check failed: " +
            (k < interface.checkMessages.size() ? interface.checkMessages[k]
                                                : "condition " +
                                                      std::to_string(status));
    return failure();
  }
  // How many work items: the kernel's own `<f>_work_items`, built from the
  // schedule plan's work decomposition, as an AOT caller gets it.
  SmallVector<void *> countArguments = {arguments.back(), &items};
  countWorkItems(countArguments.data());
  if (items < 0) {
    error = "the work item count overflows int64";
    return failure();
  }
  return success();
}

void CpuKernel::runItems(ArrayRef<void *> arguments, int64_t items,
                         int threads) const {
  // Items are handed out one at a time: causal items differ in cost. The
  // packed arguments are only read; each thread appends its own range.
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    SmallVector<void *> own(arguments.begin(), arguments.end());
    int64_t begin = 0, end = 0;
    own.push_back(&begin);
    own.push_back(&end);
    for (;;) {
      begin = next.fetch_add(1);
      if (begin >= items)
        break;
      end = begin + 1;
      entry(own.data());
    }
  };
  runOnThreads(std::max(threads, 1), worker);
}

void CpuKernel::run(int threads) {
  assert(packed && "run() before a successful prepare()");
  runItems(packed->arguments, workItems, threads);
}

LogicalResult CpuKernel::pack(ArrayRef<CpuKernelView> views,
                              const CpuKernelView &output,
                              PackedArguments &packed,
                              std::string &error) const {
  size_t numInputs = interface.inputRanks.size();
  if (views.size() != numInputs) {
    error = "the kernel takes " + std::to_string(numInputs) + " inputs, not " +
            std::to_string(views.size());
    return failure();
  }
  auto describe = [&](const CpuKernelView &view, size_t rank,
                      const std::string &what) -> LogicalResult {
    if (view.sizes.size() != rank || view.strides.size() != rank) {
      error = what + " must have rank " + std::to_string(rank) + ", not " +
              std::to_string(view.sizes.size());
      return failure();
    }
    bool empty = llvm::is_contained(view.sizes, 0);
    if (!view.data && !empty) {
      error = what + " has no data";
      return failure();
    }
    SmallVector<int64_t> descriptor(3 + 2 * rank, 0);
    descriptor[0] = descriptor[1] = reinterpret_cast<int64_t>(view.data);
    llvm::copy(view.sizes, descriptor.begin() + 3);
    llvm::copy(view.strides, descriptor.begin() + 3 + rank);
    packed.descriptors.push_back(std::move(descriptor));
    return success();
  };
  packed.scalars.assign(numInputs, 0);
  for (size_t i = 0; i < numInputs; ++i) {
    std::string what = "input #" + std::to_string(i);
    bool wantsScalar = !interface.scalarRanks[i].empty();
    if (wantsScalar != views[i].scalar.has_value()) {
      error = what + (wantsScalar ? " is the extent of rank '" +
                                        interface.scalarRanks[i] +
                                        "': pass an integer"
                                  : " is a tensor, not a scalar");
      return failure();
    }
    if (wantsScalar)
      packed.scalars[i] = *views[i].scalar;
    else if (failed(describe(views[i], interface.inputRanks[i], what)))
      return failure();
  }
  if (failed(describe(output, interface.resultRanks.size(), "the output")))
    return failure();

  // Pointers to the descriptors once they have all been made (a descriptor
  // moves while `descriptors` grows).
  for (SmallVector<int64_t> &descriptor : packed.descriptors)
    packed.pointers.push_back(descriptor.data());
  size_t view = 0;
  for (size_t i = 0; i < numInputs; ++i)
    packed.arguments.push_back(interface.scalarRanks[i].empty()
                                   ? static_cast<void *>(&packed.pointers[view++])
                                   : static_cast<void *>(&packed.scalars[i]));
  packed.arguments.push_back(&packed.pointers[view]);
  return success();
}

CpuRunStatus CpuKernel::runOnViews(ArrayRef<CpuKernelView> views,
                                   const CpuKernelView &output, int threads,
                                   std::string &error) const {
  PackedArguments packed;
  if (failed(pack(views, output, packed, error)))
    return CpuRunStatus::InvalidArgument;
  int64_t items = 0;
  if (failed(checkAndCountItems(packed.arguments, items, error)))
    return CpuRunStatus::ShapeMismatch;
  runItems(packed.arguments, items, threads);
  return CpuRunStatus::Ok;
}

/// Bytes of one element of `type` (f32, f16, bf16, i32, i64).
static size_t getElementBytes(StringRef type) {
  return type == "i64" ? 8 : type == "f32" || type == "i32" ? 4 : 2;
}

LogicalResult CpuKernel::encode(const Tensor &value, Buffer &buffer,
                                std::string &error) {
  StringRef type = buffer.elementType;
  size_t bytes = getElementBytes(type);
  buffer.bytes.resize(value.data.size() * bytes);
  for (size_t i = 0; i < value.data.size(); ++i) {
    double x = value.data[i];
    uint8_t *to = &buffer.bytes[i * bytes];
    if (type == "i32" || type == "i64") {
      // Ids are whole numbers; fp64 holds them exactly up to 2^53.
      double limit = type == "i32" ? 2147483648.0 : 9007199254740992.0;
      if (!(x == std::floor(x) && x >= -limit && x < limit)) {
        error = "element " + std::to_string(i) + " (" + std::to_string(x) +
                ") is not an " + type.str() + " id";
        return failure();
      }
      if (type == "i32") {
        int32_t id = static_cast<int32_t>(x);
        std::memcpy(to, &id, 4);
      } else {
        int64_t id = static_cast<int64_t>(x);
        std::memcpy(to, &id, 8);
      }
    } else if (type == "f32") {
      float f = static_cast<float>(x);
      std::memcpy(to, &f, 4);
    } else {
      uint16_t bits = type == "f16" ? toHalf(x) : toBFloat(x);
      std::memcpy(to, &bits, 2);
    }
  }
  return success();
}

Tensor CpuKernel::decode(const Buffer &buffer) const {
  Tensor tensor(buffer.shape);
  StringRef type = buffer.elementType;
  size_t bytes = getElementBytes(type);
  for (size_t i = 0; i < tensor.data.size(); ++i) {
    const uint8_t *from = &buffer.bytes[i * bytes];
    if (type == "i32") {
      int32_t id;
      std::memcpy(&id, from, 4);
      tensor.data[i] = id;
    } else if (type == "i64") {
      int64_t id;
      std::memcpy(&id, from, 8);
      tensor.data[i] = static_cast<double>(id);
    } else if (type == "f32") {
      float f;
      std::memcpy(&f, from, 4);
      tensor.data[i] = f;
    } else {
      uint16_t bits;
      std::memcpy(&bits, from, 2);
      tensor.data[i] = type == "f16" ? fromHalf(bits) : fromBFloat(bits);
    }
  }
  return tensor;
}

Tensor CpuKernel::getOutput() const { return decode(output); }

SmallVector<Tensor> CpuKernel::getRoundedInputs() const {
  SmallVector<Tensor> result;
  for (const Buffer &buffer : inputs)
    result.push_back(buffer.scalar ? Tensor::ofScalar(*buffer.scalar)
                                   : decode(buffer));
  return result;
}
