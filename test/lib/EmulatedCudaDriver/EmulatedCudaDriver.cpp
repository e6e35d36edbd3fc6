//===- EmulatedCudaDriver.cpp - A CUDA driver that runs kernel IR ---------===//
//
// A test double of libcuda.so.1 for `attn-run --target cuda` on machines
// without a GPU (load it with CASCADE_LIBCUDA=<this library>). It exports
// the driver API calls lib/Target/GPU/CudaDriver.cpp resolves, with
// "device" memory in host memory, and runs a launch in the SIMT emulator:
// cuModuleLoadData checks that it was handed a cubin or PTX naming the
// kernel, and takes the kernel's IR from the file CASCADE_EMULATED_KERNEL
// names (the gpu.module `attn-opt --cascade-to-gpu` prints for the same
// options). cuLaunchKernel decodes the parameters as the ABI says (a memref
// is allocated, aligned, offset, sizes[R], strides[R]; a scalar by value),
// checks every descriptor against the allocations and the kernel's types,
// and emulates the grid on those buffers.
//
// So the host side's parameter packing, buffer sizes, conversions to and
// from f16 / bf16, launch geometry and error paths are checked end to end;
// the cubin itself is not executed (nothing here can). The device reports
// compute capability CASCADE_EMULATED_CC (default 80).
//
//===----------------------------------------------------------------------===//

#include "cascade/InitAllDialects.h"
#include "cascade/Target/GPU/Emulator.h"
#include "cascade/Target/GPU/TensorMap.h"
#include "cascade/Target/GPU/WarpSemantics.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace mlir;

namespace {

// The CUresult values this double returns (cuda.h's numbering).
enum : int {
  kSuccess = 0,
  kInvalidValue = 1,
  kOutOfMemory = 2,
  kNotInitialized = 3,
  kNoDevice = 100,
  kInvalidDevice = 101,
  kInvalidImage = 200,
  kInvalidHandle = 400,
  kNotFound = 500,
  kLaunchFailed = 719,
};

struct Allocation {
  std::vector<unsigned char> bytes;
};

struct Module {
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> ir;
};

struct Function {
  Module *module;
  mlir::gpu::GPUFuncOp kernel;
  /// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: 48 KiB until raised.
  int maxDynamicSharedBytes = 48 * 1024;
};

struct State {
  bool initialised = false;
  std::map<uint64_t, Allocation> allocations;
  std::vector<std::unique_ptr<Module>> modules;
  std::vector<std::unique_ptr<Function>> functions;
};

State &state() {
  static State s;
  return s;
}

int complain(int code, const llvm::Twine &message) {
  llvm::errs() << "emulated libcuda: " << message << "\n";
  return code;
}

/// The allocation holding [address, address + bytes), or null.
Allocation *findAllocation(uint64_t address, size_t bytes) {
  auto &allocations = state().allocations;
  auto it = allocations.upper_bound(address);
  if (it == allocations.begin())
    return nullptr;
  --it;
  uint64_t base = it->first;
  if (address + bytes > base + it->second.bytes.size())
    return nullptr;
  return &it->second;
}

int getComputeCapability() {
  if (const char *cc = std::getenv("CASCADE_EMULATED_CC"))
    return std::atoi(cc);
  return 80;
}

/// Shared memory a block may opt in to (the CUDA programming guide's
/// table): 163 KiB on 8.0, 99 KiB on 8.6 and 8.9, 227 KiB on 9.0.
int getSharedMemoryPerBlockOptIn() {
  int cc = getComputeCapability();
  return (cc == 80 ? 163 : cc >= 90 ? 227 : 99) * 1024;
}

/// Reads parameter `index` of `params` as a T (cuLaunchKernel passes each
/// through a pointer).
template <typename T>
T readParameter(void **params, unsigned index) {
  T value;
  std::memcpy(&value, params[index], sizeof(T));
  return value;
}

double readElement(const unsigned char *at, Type type) {
  if (type.isF16() || type.isBF16()) {
    uint16_t bits;
    std::memcpy(&bits, at, 2);
    return cascade::gpu::fromHalfBits(bits, type.isF16()
                                                ? cascade::gpu::HalfType::F16
                                                : cascade::gpu::HalfType::BF16);
  }
  if (type.isF32()) {
    float v;
    std::memcpy(&v, at, 4);
    return v;
  }
  if (type.isInteger(64)) {
    int64_t v;
    std::memcpy(&v, at, 8);
    return static_cast<double>(v);
  }
  int32_t v;
  std::memcpy(&v, at, 4);
  return v;
}

void writeElement(unsigned char *at, Type type, double value) {
  if (type.isF16() || type.isBF16()) {
    uint16_t bits = cascade::gpu::toHalfBits(
        static_cast<float>(value), type.isF16() ? cascade::gpu::HalfType::F16
                                                : cascade::gpu::HalfType::BF16);
    std::memcpy(at, &bits, 2);
  } else if (type.isF32()) {
    float v = static_cast<float>(value);
    std::memcpy(at, &v, 4);
  } else if (type.isInteger(64)) {
    int64_t v = static_cast<int64_t>(value);
    std::memcpy(at, &v, 8);
  } else {
    int32_t v = static_cast<int32_t>(value);
    std::memcpy(at, &v, 4);
  }
}

struct Event {
  std::chrono::steady_clock::time_point at;
};

/// What this double's cuTensorMapEncodeTiled writes into a CUtensorMap's
/// 128 bytes (the real encoding is opaque), read back at a launch.
struct EncodedTensorMap {
  uint64_t magic;
  uint32_t dataType, rank;
  uint64_t address;
  uint64_t dims[5];
  uint64_t strides[4];
  uint32_t box[5];
  uint32_t swizzle;
};
static_assert(sizeof(EncodedTensorMap) <= 128, "a CUtensorMap is 128 bytes");
constexpr uint64_t kTensorMapMagic = 0x50414d54534143ull; // "CASTMAP"
constexpr uint32_t kTensorMapF16 = 6, kTensorMapBF16 = 9;
constexpr uint32_t kSwizzleNone = 0, kSwizzle128B = 3;

} // namespace

extern "C" {

int cuGetErrorName(int error, const char **name) {
  switch (error) {
  case kSuccess: *name = "CUDA_SUCCESS"; break;
  case kInvalidValue: *name = "CUDA_ERROR_INVALID_VALUE"; break;
  case kOutOfMemory: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
  case kNotInitialized: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
  case kNoDevice: *name = "CUDA_ERROR_NO_DEVICE"; break;
  case kInvalidDevice: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
  case kInvalidImage: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
  case kInvalidHandle: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
  case kNotFound: *name = "CUDA_ERROR_NOT_FOUND"; break;
  case kLaunchFailed: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
  default: *name = nullptr; return kInvalidValue;
  }
  return kSuccess;
}

int cuGetErrorString(int error, const char **text) {
  *text = error == kSuccess ? "no error"
                            : "see the emulated driver's message above";
  return kSuccess;
}

int cuInit(unsigned flags) {
  if (flags != 0)
    return kInvalidValue;
  if (std::getenv("CASCADE_EMULATED_NO_DEVICE"))
    return kNoDevice;
  state().initialised = true;
  return kSuccess;
}

int cuDeviceGetCount(int *count) {
  if (!state().initialised)
    return kNotInitialized;
  *count = 1;
  return kSuccess;
}

int cuDeviceGet(int *device, int ordinal) {
  if (ordinal != 0)
    return kInvalidDevice;
  *device = 0;
  return kSuccess;
}

int cuDeviceGetName(char *name, int length, int device) {
  if (device != 0 || length <= 0)
    return kInvalidValue;
  std::snprintf(name, length, "Cascade emulated GPU");
  return kSuccess;
}

int cuDeviceGetAttribute(int *value, int attribute, int device) {
  if (device != 0)
    return kInvalidDevice;
  int cc = getComputeCapability();
  switch (attribute) {
  case 16: *value = 1; return kSuccess;        // multiprocessors
  case 75: *value = cc / 10; return kSuccess;  // compute capability major
  case 76: *value = cc % 10; return kSuccess;  // compute capability minor
  case 97: *value = getSharedMemoryPerBlockOptIn(); return kSuccess;
  default: return kInvalidValue;
  }
}

int cuDevicePrimaryCtxRetain(void **context, int device) {
  if (device != 0)
    return kInvalidDevice;
  static int primary;
  *context = &primary;
  return kSuccess;
}
int cuDevicePrimaryCtxRelease_v2(int) { return kSuccess; }
int cuCtxSetCurrent(void *) { return kSuccess; }
int cuCtxSynchronize() { return kSuccess; }

int cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
  if (bytes == 0)
    return kInvalidValue;
  Allocation allocation;
  allocation.bytes.assign(bytes, 0xa5); // not zero: stale data shows
  uint64_t address = reinterpret_cast<uint64_t>(allocation.bytes.data());
  state().allocations[address] = std::move(allocation);
  *pointer = address;
  return kSuccess;
}

int cuMemFree_v2(uint64_t pointer) {
  return state().allocations.erase(pointer) ? kSuccess : kInvalidValue;
}

int cuMemcpyHtoD_v2(uint64_t to, const void *from, size_t bytes) {
  if (!findAllocation(to, bytes))
    return complain(kInvalidValue, "cuMemcpyHtoD outside an allocation");
  std::memcpy(reinterpret_cast<void *>(to), from, bytes);
  return kSuccess;
}

int cuMemcpyDtoH_v2(void *to, uint64_t from, size_t bytes) {
  if (!findAllocation(from, bytes))
    return complain(kInvalidValue, "cuMemcpyDtoH outside an allocation");
  std::memcpy(to, reinterpret_cast<const void *>(from), bytes);
  return kSuccess;
}

int cuMemsetD8_v2(uint64_t to, unsigned char value, size_t bytes) {
  if (!findAllocation(to, bytes))
    return complain(kInvalidValue, "cuMemsetD8 outside an allocation");
  std::memset(reinterpret_cast<void *>(to), value, bytes);
  return kSuccess;
}

int cuModuleLoadData(void **module, const void *image) {
  const char *bytes = static_cast<const char *>(image);
  bool isCubin = std::memcmp(bytes, "\x7f" "ELF", 4) == 0;
  bool isPtx = !isCubin && std::strstr(bytes, ".entry") != nullptr;
  if (!isCubin && !isPtx)
    return complain(kInvalidImage, "the image is neither a cubin nor PTX");
  const char *path = std::getenv("CASCADE_EMULATED_KERNEL");
  if (!path)
    return complain(kInvalidImage,
                    "CASCADE_EMULATED_KERNEL names no kernel IR to run");
  auto loaded = std::make_unique<Module>();
  DialectRegistry registry;
  cascade::registerAllDialects(registry);
  loaded->context = std::make_unique<MLIRContext>(registry);
  loaded->context->loadAllAvailableDialects();
  loaded->ir = parseSourceFile<ModuleOp>(path, loaded->context.get());
  if (!loaded->ir)
    return complain(kInvalidImage, llvm::Twine("cannot parse ") + path);
  // The image must be the one built from this IR: every kernel of the IR
  // is named in it (a PTX .entry; a cubin's string table). A cubin's length
  // is where its section headers end (ELF64: e_shoff + e_shnum *
  // e_shentsize), which the linker puts last.
  size_t length = std::strlen(bytes);
  if (isCubin) {
    uint64_t sectionHeaders;
    uint16_t entrySize, entries;
    std::memcpy(&sectionHeaders, bytes + 0x28, 8);
    std::memcpy(&entrySize, bytes + 0x3a, 2);
    std::memcpy(&entries, bytes + 0x3c, 2);
    length = sectionHeaders + uint64_t(entries) * entrySize;
  }
  llvm::StringRef text(bytes, length);
  std::string missing;
  loaded->ir->walk([&](mlir::gpu::GPUFuncOp kernel) {
    if (kernel.isKernel() && !text.contains(kernel.getName()))
      missing = kernel.getName().str();
  });
  if (!missing.empty())
    return complain(kInvalidImage, "the image does not define kernel @" +
                                       missing + " of " + path +
                                       ": it was built from other IR");
  *module = loaded.get();
  state().modules.push_back(std::move(loaded));
  return kSuccess;
}

int cuModuleUnload(void *module) {
  auto &modules = state().modules;
  for (auto it = modules.begin(); it != modules.end(); ++it)
    if (it->get() == module) {
      modules.erase(it);
      return kSuccess;
    }
  return kInvalidHandle;
}

int cuModuleGetFunction(void **function, void *module, const char *name) {
  auto *loaded = static_cast<Module *>(module);
  mlir::gpu::GPUFuncOp found;
  loaded->ir->walk([&](mlir::gpu::GPUFuncOp kernel) {
    if (kernel.getName() == name && kernel.isKernel())
      found = kernel;
  });
  if (!found)
    return complain(kNotFound, llvm::Twine("no kernel @") + name +
                                   " in the kernel IR");
  state().functions.push_back(std::make_unique<Function>(Function{loaded, found}));
  *function = state().functions.back().get();
  return kSuccess;
}

int cuFuncSetAttribute(void *function, int attribute, int value) {
  auto *f = static_cast<Function *>(function);
  if (!f)
    return kInvalidHandle;
  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, the only one the
  // host sets.
  if (attribute != 8)
    return complain(kInvalidValue, "cuFuncSetAttribute: attribute " +
                                       llvm::Twine(attribute) +
                                       " is not modelled");
  if (value < 0 || value > getSharedMemoryPerBlockOptIn())
    return complain(kInvalidValue,
                    "cuFuncSetAttribute: " + llvm::Twine(value) +
                        " bytes of dynamic shared memory, more than the " +
                        llvm::Twine(getSharedMemoryPerBlockOptIn()) +
                        " a block may opt in to on this device");
  f->maxDynamicSharedBytes = value;
  return kSuccess;
}

int cuLaunchKernel(void *function, unsigned gridX, unsigned gridY,
                   unsigned gridZ, unsigned blockX, unsigned blockY,
                   unsigned blockZ, unsigned sharedBytes, void *stream,
                   void **params, void **extra) {
  auto *f = static_cast<Function *>(function);
  if (!f || !params || extra)
    return complain(kInvalidValue, "cuLaunchKernel needs kernelParams and "
                                   "no extra");
  if (static_cast<int64_t>(sharedBytes) > f->maxDynamicSharedBytes)
    return complain(kInvalidValue,
                    "the launch asks for " + llvm::Twine(sharedBytes) +
                        " bytes of dynamic shared memory, more than the " +
                        llvm::Twine(f->maxDynamicSharedBytes) +
                        " the function allows (cuFuncSetAttribute's "
                        "MAX_DYNAMIC_SHARED_SIZE_BYTES)");
  if (auto known = f->kernel.getKnownBlockSize())
    if ((*known)[0] != static_cast<int>(blockX) || blockY != 1 || blockZ != 1)
      return complain(kInvalidValue,
                      "the block is " + llvm::Twine(blockX) + "x" +
                          llvm::Twine(blockY) + "x" + llvm::Twine(blockZ) +
                          " but the kernel's known block size is " +
                          llvm::Twine((*known)[0]));
  ArrayRef<Type> types = f->kernel.getFunctionType().getInputs();
  std::vector<cascade::gpu::EmulatorBuffer> buffers;
  std::vector<unsigned char *> storage;
  buffers.reserve(types.size());
  SmallVector<cascade::gpu::EmulatorArgument> arguments;
  std::vector<cascade::gpu::EmulatorTensorMap> tensorMaps;
  tensorMaps.reserve(types.size());
  unsigned slot = 0;
  for (auto [arg, type] : llvm::enumerate(types)) {
    cascade::gpu::EmulatorArgument argument;
    auto memref = dyn_cast<MemRefType>(type);
    if (isa<LLVM::LLVMPointerType>(type) &&
        f->kernel.getArgAttr(arg, cascade::kTensorMapAttrName)) {
      // A pointer to a CUtensorMap this double encoded, over the memory of
      // an earlier argument.
      std::string where = "argument #" + std::to_string(arg) + ": ";
      auto pointer = readParameter<uint64_t>(params, slot++);
      if (!findAllocation(pointer, 128))
        return complain(kInvalidValue, where + "the tensor map is not 128 "
                                               "bytes of device memory");
      EncodedTensorMap encoded;
      std::memcpy(&encoded, reinterpret_cast<void *>(pointer),
                  sizeof(encoded));
      if (encoded.magic != kTensorMapMagic)
        return complain(kInvalidValue, where + "not a tensor map that "
                                               "cuTensorMapEncodeTiled wrote");
      cascade::gpu::EmulatorBuffer *described = nullptr;
      for (auto [buffer, bytes] : llvm::zip(buffers, storage))
        if (reinterpret_cast<uint64_t>(bytes) == encoded.address)
          described = &buffer;
      if (!described)
        return complain(kInvalidValue, where + "the tensor map's address is "
                                               "no memref argument's");
      // The map must describe that buffer as the kernel reads it:
      // row-major, innermost dimension first, in its element type.
      size_t rank = described->shape.size();
      bool matches = encoded.rank == rank &&
                     encoded.dataType == (described->elementType.isBF16()
                                              ? kTensorMapBF16
                                              : kTensorMapF16);
      uint64_t stride = 2;
      for (size_t i = 0; matches && i < rank; ++i) {
        uint64_t extent = std::max<int64_t>(described->shape[rank - 1 - i], 1);
        matches &= encoded.dims[i] == extent &&
                   (i == 0 || encoded.strides[i - 1] == stride);
        stride *= extent;
      }
      if (!matches)
        return complain(kInvalidValue,
                        where + "the tensor map's rank, type, dimensions or "
                                "strides are not those of the buffer it "
                                "points into");
      cascade::gpu::EmulatorTensorMap &map = tensorMaps.emplace_back();
      map.buffer = described;
      for (size_t i = rank; i-- > 0;)
        map.box.push_back(encoded.box[i]);
      map.swizzleBytes = encoded.swizzle == kSwizzle128B ? 128 : 0;
      argument.tensorMap = &map;
      arguments.push_back(argument);
      continue;
    }
    if (!memref) {
      if (type.isIndex() || type.isInteger(64))
        argument.scalar = static_cast<double>(readParameter<int64_t>(params, slot));
      else if (type.isInteger(32))
        argument.scalar = readParameter<int32_t>(params, slot);
      else if (type.isF32())
        argument.scalar = readParameter<float>(params, slot);
      else if (type.isF64())
        argument.scalar = readParameter<double>(params, slot);
      else
        return complain(kInvalidValue, "argument #" + llvm::Twine(arg) +
                                           " has a type this double does "
                                           "not pass");
      ++slot;
      arguments.push_back(argument);
      continue;
    }
    int64_t rank = memref.getRank();
    auto allocated = readParameter<uint64_t>(params, slot);
    auto aligned = readParameter<uint64_t>(params, slot + 1);
    auto offset = readParameter<int64_t>(params, slot + 2);
    SmallVector<int64_t> sizes, strides;
    for (int64_t d = 0; d < rank; ++d) {
      sizes.push_back(readParameter<int64_t>(params, slot + 3 + d));
      strides.push_back(readParameter<int64_t>(params, slot + 3 + rank + d));
    }
    slot += 3 + 2 * rank;
    std::string where = "argument #" + std::to_string(arg) + ": ";
    // The kernel reads a row-major tensor of `sizes` at aligned + offset.
    int64_t expected = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (sizes[d] < 0 ||
          (!memref.isDynamicDim(d) && memref.getDimSize(d) != sizes[d]))
        return complain(kInvalidValue, where + "size " +
                                           std::to_string(sizes[d]) +
                                           " of dimension " +
                                           std::to_string(d) +
                                           " does not fit the kernel's type");
      if (strides[d] != expected)
        return complain(kInvalidValue, where + "stride " +
                                           std::to_string(strides[d]) +
                                           " of dimension " + std::to_string(d) +
                                           " is not row-major (" +
                                           std::to_string(expected) + ")");
      expected *= sizes[d];
    }
    Type element = memref.getElementType();
    size_t width = element.getIntOrFloatBitWidth() / 8;
    uint64_t start = aligned + offset * width;
    if (allocated != aligned || !findAllocation(start, expected * width))
      return complain(kInvalidValue,
                      where + std::to_string(expected) + " elements of " +
                          std::to_string(width) +
                          " bytes are not inside one allocation");
    cascade::gpu::EmulatorBuffer buffer;
    buffer.elementType = element;
    buffer.shape = sizes;
    auto *bytes = reinterpret_cast<unsigned char *>(start);
    buffer.data.resize(expected);
    for (int64_t i = 0; i < expected; ++i)
      buffer.data[i] = readElement(bytes + i * width, element);
    buffers.push_back(std::move(buffer));
    storage.push_back(bytes);
    argument.buffer = &buffers.back();
    arguments.push_back(argument);
  }
  cascade::gpu::LaunchGeometry geometry;
  geometry.grid = {gridX, gridY, gridZ};
  geometry.block = {blockX, blockY, blockZ};
  geometry.dynamicSharedBytes = sharedBytes;
  MLIRContext *context = f->module->context.get();
  ScopedDiagnosticHandler report(context, [](Diagnostic &diagnostic) {
    llvm::errs() << "emulated libcuda: " << diagnostic.getLocation() << ": "
                 << diagnostic.str() << "\n";
    return success();
  });
  if (failed(cascade::gpu::emulateKernel(f->kernel, geometry, arguments)))
    return complain(kLaunchFailed, "the emulator stopped (the error above)");
  for (auto [buffer, bytes] : llvm::zip(buffers, storage)) {
    size_t width = buffer.elementType.getIntOrFloatBitWidth() / 8;
    for (size_t i = 0; i < buffer.data.size(); ++i)
      writeElement(bytes + i * width, buffer.elementType, buffer.data[i]);
  }
  (void)stream;
  return kSuccess;
}

/// Checks the arguments as the driver documents its limits, and records
/// them for the launch.
int cuTensorMapEncodeTiled(void *tensorMap, int dataType, unsigned rank,
                           void *globalAddress, const uint64_t *dims,
                           const uint64_t *strides, const uint32_t *box,
                           const uint32_t *elementStrides, int interleave,
                           int swizzle, int l2Promotion, int oobFill) {
  auto address = reinterpret_cast<uint64_t>(globalAddress);
  if (!tensorMap || reinterpret_cast<uintptr_t>(tensorMap) % 64 != 0)
    return complain(kInvalidValue, "cuTensorMapEncodeTiled: the map is not "
                                   "64-byte aligned");
  if (dataType != static_cast<int>(kTensorMapF16) &&
      dataType != static_cast<int>(kTensorMapBF16))
    return complain(kInvalidValue, "cuTensorMapEncodeTiled: this double "
                                   "encodes f16 and bf16 maps only");
  if (rank < 1 || rank > 5 || address % 16 != 0 || interleave != 0 ||
      (swizzle != static_cast<int>(kSwizzleNone) &&
       swizzle != static_cast<int>(kSwizzle128B)) ||
      l2Promotion < 0 || l2Promotion > 3 || oobFill != 0)
    return complain(kInvalidValue,
                    "cuTensorMapEncodeTiled: rank 1-5, a 16-byte aligned "
                    "address, no interleave, no or 128-byte swizzle and "
                    "zero fill are what this double encodes");
  EncodedTensorMap encoded{};
  encoded.magic = kTensorMapMagic;
  encoded.dataType = dataType;
  encoded.rank = rank;
  encoded.address = address;
  encoded.swizzle = swizzle;
  for (unsigned i = 0; i < rank; ++i) {
    if (dims[i] < 1 || dims[i] > (uint64_t(1) << 32) || box[i] < 1 ||
        box[i] > 256 || elementStrides[i] != 1)
      return complain(kInvalidValue,
                      "cuTensorMapEncodeTiled: dimension " + llvm::Twine(i) +
                          ": size 1 to 2^32, box 1 to 256, element stride 1");
    if (i > 0 && (strides[i - 1] % 16 != 0 ||
                  strides[i - 1] >= (uint64_t(1) << 40)))
      return complain(kInvalidValue,
                      "cuTensorMapEncodeTiled: stride of dimension " +
                          llvm::Twine(i) +
                          " is not a multiple of 16 below 2^40");
    encoded.dims[i] = dims[i];
    encoded.box[i] = box[i];
    if (i > 0)
      encoded.strides[i - 1] = strides[i - 1];
  }
  if (swizzle == static_cast<int>(kSwizzle128B) && box[0] * 2 > 128)
    return complain(kInvalidValue, "cuTensorMapEncodeTiled: an inner box "
                                   "row wider than the 128-byte swizzle");
  std::memset(tensorMap, 0, 128);
  std::memcpy(tensorMap, &encoded, sizeof(encoded));
  return kSuccess;
}

int cuEventCreate(void **event, unsigned) {
  *event = new Event();
  return kSuccess;
}
int cuEventRecord(void *event, void *) {
  static_cast<Event *>(event)->at = std::chrono::steady_clock::now();
  return kSuccess;
}
int cuEventSynchronize(void *) { return kSuccess; }
int cuEventElapsedTime_v2(float *milliseconds, void *start, void *stop) {
  *milliseconds = std::chrono::duration<float, std::milli>(
                      static_cast<Event *>(stop)->at -
                      static_cast<Event *>(start)->at)
                      .count();
  return kSuccess;
}
int cuEventDestroy_v2(void *event) {
  delete static_cast<Event *>(event);
  return kSuccess;
}

} // extern "C"
