//===- attn-compile.cpp - Ahead-of-time compilation of a cascade spec -----===//
//
// attn-compile SPEC.mlir --head-dims e=64,f=64 -o kernel.o --header kernel.h
//              [--entry NAME] [--cpu native|x86-64-v3|x86-64-v4]
//              [--storage-type f32|f16|bf16] [--query-tile N] [--key-tile N]
// attn-compile SPEC.mlir --target cuda --chip sm_80 --head-dims e=64,f=64
//              [--storage-type f16|bf16] [-o K.cubin] [--ptx K.ptx]
//              [--header K.h]
//
// CPU (the default): writes an object file with `_mlir_ciface_<name>` and a
// C header that declares it with its ABI (docs/CPU.md). Link the object
// into any C or C++ program; it needs nothing but libc.
// CUDA: writes the kernel as a cubin and/or PTX, through upstream's NVVM
// pipeline and CUDA's ptxas, and a header with its launch geometry and
// argument layout (docs/GPU.md).
//
//===----------------------------------------------------------------------===//

#include "cascade/InitAllDialects.h"
#include "cascade/Target/CPU/CpuCompiler.h"
#include "cascade/Target/GPU/CudaCompiler.h"
#include "cascade/Transforms/Passes.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::cascade;
namespace cl = llvm::cl;

// The tool's own options: --help lists these, not the hundreds LLVM and
// MLIR register in every process (--help-hidden lists those too).
static cl::OptionCategory attnCompileOptions("attn-compile options");

static cl::opt<std::string> specPath(cl::cat(attnCompileOptions), cl::Positional, cl::Required,
                                     cl::desc("<spec.mlir>"));
static cl::opt<std::string> entryName(cl::cat(attnCompileOptions), "entry",
                                      cl::desc("Function to compile"));
static cl::opt<std::string> headDims(cl::cat(attnCompileOptions), 
    "head-dims", cl::Required,
    cl::desc("Compile-time head dimension sizes: e=64,f=64"));
static cl::opt<std::string> objectPath(cl::cat(attnCompileOptions), "o",
                                       cl::desc("Object file (cpu) or cubin (cuda) to write"));
static cl::opt<std::string> headerPath(cl::cat(attnCompileOptions), "header",
                                       cl::desc("C header to write"));
static cl::opt<std::string> targetName(cl::cat(attnCompileOptions), "target",
                                       cl::init("cpu"), cl::desc("cpu or cuda"));
static cl::opt<std::string> chipName(cl::cat(attnCompileOptions), "chip",
                                     cl::init("sm_80"),
                                     cl::desc("--target cuda: sm_80, sm_86, sm_89, sm_90a"));
static cl::opt<std::string> ptxPath(cl::cat(attnCompileOptions), "ptx",
                                    cl::desc("--target cuda: PTX to write"));
static cl::opt<std::string> cpuName(cl::cat(attnCompileOptions), "cpu", cl::init("native"),
                                    cl::desc("native, x86-64-v3, x86-64-v4"));
static cl::opt<std::string> storageType(cl::cat(attnCompileOptions), "storage-type", cl::init("f32"),
                                        cl::desc("f32, f16 or bf16"));
static cl::opt<int64_t> queryTile(cl::cat(attnCompileOptions), "query-tile", cl::init(64),
                                  cl::desc("query rows per work item (--target cuda: "
                                           "left out, chosen per function)"));
static cl::opt<int64_t> keyTile(cl::cat(attnCompileOptions), "key-tile", cl::init(64),
                                cl::desc("keys per step"));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Everything LLVM and MLIR registered is listed by --help-hidden only.
  for (auto &entry : cl::getRegisteredOptions())
    if (!llvm::is_contained(entry.second->Categories, &attnCompileOptions) &&
        !entry.first.starts_with("help") && entry.first != "version" &&
        entry.second->getOptionHiddenFlag() == cl::NotHidden)
      entry.second->setHiddenFlag(cl::Hidden);
  cl::ParseCommandLineOptions(argc, argv,
                              "attn-compile: a cascade spec to an object file "
                              "and a C header\n");
  registerAllPasses();
  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  std::string error;
  auto file = openInputFile(specPath, &error);
  if (!file) {
    llvm::errs() << "attn-compile: error: " << error << "\n";
    return 1;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  func::FuncOp entry;
  for (auto function : module->getOps<func::FuncOp>())
    if (!function.isExternal() &&
        (entryName.empty() || function.getSymName() == entryName)) {
      if (entry) {
        llvm::errs() << "attn-compile: error: several functions; choose one "
                        "with --entry\n";
        return 1;
      }
      entry = function;
    }
  if (!entry) {
    llvm::errs() << "attn-compile: error: no function to compile\n";
    return 1;
  }
  SmallVector<std::string> entries;
  for (StringRef item : llvm::split(headDims, ','))
    entries.push_back(item.trim().str());
  FailureOr<llvm::StringMap<int64_t>> dims =
      parseAssumedExtents(entry.getLoc(), entries);
  if (failed(dims))
    return 1;
  if (targetName == "cuda") {
    if (objectPath.empty() && ptxPath.empty() && headerPath.empty()) {
      llvm::errs() << "attn-compile: error: --target cuda writes nothing "
                      "without -o K.cubin, --ptx K.ptx or --header K.h\n";
      return 1;
    }
    GpuTargetOptions gpu;
    gpu.headDims = std::move(*dims);
    gpu.chip = chipName;
    gpu.storageType =
        storageType.getNumOccurrences() ? storageType.getValue() : "f16";
    // Left out, the GPU's tiles are chosen per function: the key tile
    // follows the head dimensions, the query tile is 64 (or, for a state
    // phase that needs key tiles of at least the query tile, the key
    // tile's).
    gpu.queryTile = queryTile.getNumOccurrences() ? queryTile.getValue() : 0;
    gpu.keyTile = keyTile.getNumOccurrences() ? keyTile.getValue() : 0;
    std::string error;
    if (failed(verifyGpuTargetOptions(gpu, error))) {
      llvm::errs() << "attn-compile: error: " << error << "\n";
      return 1;
    }
    if (failed(compileCudaKernel(entry, gpu, ptxPath, objectPath, headerPath)))
      return 1;
    return 0;
  }
  if (targetName != "cpu") {
    llvm::errs() << "attn-compile: error: unknown --target '" << targetName
                 << "' (cpu or cuda)\n";
    return 1;
  }
  if (objectPath.empty() || headerPath.empty()) {
    llvm::errs() << "attn-compile: error: --target cpu needs -o and --header\n";
    return 1;
  }
  CpuTargetOptions options;
  options.headDims = std::move(*dims);
  options.cpu = cpuName;
  options.storageType = storageType;
  options.queryTile = queryTile;
  options.keyTile = keyTile;
  if (failed(emitCpuObject(entry, options, objectPath, headerPath)))
    return 1;
  return 0;
}
