//===- CudaDriver.cpp - The CUDA driver API, loaded at run time -----------===//
//
// The driver's C ABI is declared here rather than taken from cuda.h, so
// that this builds without CUDA installed: handles are opaque pointers,
// CUdevice is an int, CUdeviceptr a 64-bit integer, CUresult an int (0 is
// CUDA_SUCCESS). The symbols are the ones cuda.h's macros name (the _v2
// entry points where there are several).
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/CudaDriver.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

using namespace mlir::cascade::cuda;
using llvm::createStringError;
using llvm::Error;
using llvm::Expected;

namespace {
constexpr int kAttributeMultiprocessorCount = 16;
constexpr int kAttributeComputeCapabilityMajor = 75;
constexpr int kAttributeComputeCapabilityMinor = 76;
} // namespace

struct Driver::Api {
  int (*init)(unsigned);
  int (*deviceGetCount)(int *);
  int (*deviceGet)(int *, int);
  int (*deviceGetName)(char *, int, int);
  int (*deviceGetAttribute)(int *, int, int);
  int (*primaryCtxRetain)(void **, int);
  int (*primaryCtxRelease)(int);
  int (*ctxSetCurrent)(void *);
  int (*ctxSynchronize)();
  int (*moduleLoadData)(void **, const void *);
  int (*moduleUnload)(void *);
  int (*moduleGetFunction)(void **, void *, const char *);
  int (*funcSetAttribute)(void *, int, int);
  int (*memAlloc)(DevicePointer *, size_t);
  int (*memFree)(DevicePointer);
  int (*memcpyHtoD)(DevicePointer, const void *, size_t);
  int (*memcpyDtoH)(void *, DevicePointer, size_t);
  int (*memsetD8)(DevicePointer, unsigned char, size_t);
  int (*launchKernel)(void *, unsigned, unsigned, unsigned, unsigned,
                      unsigned, unsigned, unsigned, void *, void **,
                      void **);
  int (*eventCreate)(void **, unsigned);
  int (*eventRecord)(void *, void *);
  int (*eventSynchronize)(void *);
  int (*eventElapsedTime)(float *, void *, void *);
  int (*eventDestroy)(void *);
  /// Optional (CUDA 12): resolved when the library has it.
  int (*tensorMapEncodeTiled)(void *, int, unsigned, void *, const uint64_t *,
                              const uint64_t *, const uint32_t *,
                              const uint32_t *, int, int, int, int);
  int (*getErrorName)(int, const char **);
  int (*getErrorString)(int, const char **);
};

/// Resolves the first of `names` the library exports into `slot`; false
/// when it exports none of them.
template <typename F>
static bool resolve(void *library, F &slot,
                    std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (void *symbol = ::dlsym(library, name)) {
      slot = reinterpret_cast<F>(symbol);
      return true;
    }
  return false;
}

Error Driver::check(int result, llvm::StringRef call) const {
  if (result == 0)
    return Error::success();
  const char *name = nullptr, *text = nullptr;
  if (api->getErrorName)
    api->getErrorName(result, &name);
  if (api->getErrorString)
    api->getErrorString(result, &text);
  return createStringError(llvm::formatv("{0} failed: {1} ({2}): {3}", call,
                                         name ? name : "CUresult", result,
                                         text ? text : "no description")
                               .str());
}

Expected<std::unique_ptr<Driver>> Driver::load(int ordinal) {
  std::string path = "libcuda.so.1";
  if (const char *custom = std::getenv("CASCADE_LIBCUDA"); custom && *custom)
    path = custom;
  void *library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library)
    return createStringError(
        "cannot load the CUDA driver (%s): %s; --target cuda needs an NVIDIA "
        "GPU and its driver (--target cuda-emulator runs the kernel IR "
        "without one)",
        path.c_str(), ::dlerror());
  std::unique_ptr<Driver> driver(new Driver());
  driver->library = library;
  driver->libraryPath = path;
  driver->api = std::make_unique<Api>();
  Api &a = *driver->api;
  std::memset(&a, 0, sizeof(Api));
  const char *missing = nullptr;
  auto need = [&](auto &slot, std::initializer_list<const char *> names) {
    if (!missing && !resolve(library, slot, names))
      missing = *names.begin();
  };
  need(a.getErrorName, {"cuGetErrorName"});
  need(a.getErrorString, {"cuGetErrorString"});
  need(a.init, {"cuInit"});
  need(a.deviceGetCount, {"cuDeviceGetCount"});
  need(a.deviceGet, {"cuDeviceGet"});
  need(a.deviceGetName, {"cuDeviceGetName"});
  need(a.deviceGetAttribute, {"cuDeviceGetAttribute"});
  need(a.primaryCtxRetain, {"cuDevicePrimaryCtxRetain"});
  need(a.primaryCtxRelease, {"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"});
  need(a.ctxSetCurrent, {"cuCtxSetCurrent"});
  need(a.ctxSynchronize, {"cuCtxSynchronize"});
  need(a.moduleLoadData, {"cuModuleLoadData"});
  need(a.moduleUnload, {"cuModuleUnload"});
  need(a.moduleGetFunction, {"cuModuleGetFunction"});
  need(a.funcSetAttribute, {"cuFuncSetAttribute"});
  need(a.memAlloc, {"cuMemAlloc_v2"});
  need(a.memFree, {"cuMemFree_v2"});
  need(a.memcpyHtoD, {"cuMemcpyHtoD_v2"});
  need(a.memcpyDtoH, {"cuMemcpyDtoH_v2"});
  need(a.memsetD8, {"cuMemsetD8_v2"});
  need(a.launchKernel, {"cuLaunchKernel"});
  need(a.eventCreate, {"cuEventCreate"});
  need(a.eventRecord, {"cuEventRecord"});
  need(a.eventSynchronize, {"cuEventSynchronize"});
  need(a.eventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
  need(a.eventDestroy, {"cuEventDestroy_v2", "cuEventDestroy"});
  resolve(library, a.tensorMapEncodeTiled, {"cuTensorMapEncodeTiled"});
  if (missing)
    return createStringError("%s does not export %s (not a CUDA driver, or "
                             "one older than CUDA 12)",
                             path.c_str(), missing);

  if (Error err = driver->check(a.init(0), "cuInit"))
    return std::move(err);
  int count = 0;
  if (Error err = driver->check(a.deviceGetCount(&count), "cuDeviceGetCount"))
    return std::move(err);
  if (ordinal < 0 || ordinal >= count)
    return createStringError("no CUDA device %d (the driver sees %d)", ordinal,
                             count);
  if (Error err =
          driver->check(a.deviceGet(&driver->device, ordinal), "cuDeviceGet"))
    return std::move(err);
  char name[256] = {0};
  if (Error err = driver->check(
          a.deviceGetName(name, sizeof(name) - 1, driver->device),
          "cuDeviceGetName"))
    return std::move(err);
  driver->deviceName = name;
  int major = 0, minor = 0;
  if (Error err = driver->check(
          a.deviceGetAttribute(&major, kAttributeComputeCapabilityMajor,
                               driver->device),
          "cuDeviceGetAttribute"))
    return std::move(err);
  if (Error err = driver->check(
          a.deviceGetAttribute(&minor, kAttributeComputeCapabilityMinor,
                               driver->device),
          "cuDeviceGetAttribute"))
    return std::move(err);
  driver->computeCapability = major * 10 + minor;
  if (Error err = driver->check(
          a.deviceGetAttribute(&driver->multiprocessors,
                               kAttributeMultiprocessorCount, driver->device),
          "cuDeviceGetAttribute"))
    return std::move(err);
  if (Error err = driver->check(
          a.primaryCtxRetain(&driver->context, driver->device),
          "cuDevicePrimaryCtxRetain"))
    return std::move(err);
  if (Error err = driver->check(a.ctxSetCurrent(driver->context),
                                "cuCtxSetCurrent"))
    return std::move(err);
  return std::move(driver);
}

Driver::~Driver() {
  if (api && context)
    api->primaryCtxRelease(device);
  // The library stays loaded: the driver does not support being unloaded
  // while contexts may still be torn down at exit.
}

Expected<DevicePointer> Driver::allocate(size_t bytes) {
  DevicePointer pointer = 0;
  // cuMemAlloc refuses 0 bytes; an empty tensor still gets a valid address.
  if (Error err = check(api->memAlloc(&pointer, bytes ? bytes : 16),
                        "cuMemAlloc"))
    return std::move(err);
  return pointer;
}

void Driver::release(DevicePointer pointer) {
  if (pointer)
    api->memFree(pointer);
}

Error Driver::copyToDevice(DevicePointer to, const void *from, size_t bytes) {
  if (!bytes)
    return Error::success();
  return check(api->memcpyHtoD(to, from, bytes), "cuMemcpyHtoD");
}

Error Driver::copyToHost(void *to, DevicePointer from, size_t bytes) {
  if (!bytes)
    return Error::success();
  return check(api->memcpyDtoH(to, from, bytes), "cuMemcpyDtoH");
}

Error Driver::fill(DevicePointer to, unsigned char value, size_t bytes) {
  if (!bytes)
    return Error::success();
  return check(api->memsetD8(to, value, bytes), "cuMemsetD8");
}

Expected<DevicePointer>
Driver::createTensorMap(DevicePointer global, bool bf16, unsigned rank,
                        const uint64_t *dims, const uint64_t *strides,
                        const uint32_t *box, const uint32_t *elementStrides,
                        int64_t swizzleBytes) {
  if (!api->tensorMapEncodeTiled)
    return createStringError("%s does not export cuTensorMapEncodeTiled "
                             "(a driver older than CUDA 12): the sm_90a "
                             "kernel's TMA stages need it",
                             libraryPath.c_str());
  // cuda.h's CUtensorMap: 16 quadwords, 128-byte aligned; its enums.
  alignas(128) uint64_t map[16] = {};
  constexpr int kFloat16 = 6, kBFloat16 = 9, kInterleaveNone = 0,
                kSwizzleNone = 0, kSwizzle128B = 3, kL2Promotion128B = 2,
                kOobFillZero = 0;
  if (Error err = check(
          api->tensorMapEncodeTiled(
              map, bf16 ? kBFloat16 : kFloat16, rank,
              reinterpret_cast<void *>(global), dims, strides, box,
              elementStrides, kInterleaveNone,
              swizzleBytes == 128 ? kSwizzle128B : kSwizzleNone,
              kL2Promotion128B, kOobFillZero),
          "cuTensorMapEncodeTiled"))
    return std::move(err);
  Expected<DevicePointer> copy = allocate(sizeof(map));
  if (!copy)
    return copy.takeError();
  if (Error err = copyToDevice(*copy, map, sizeof(map))) {
    release(*copy);
    return std::move(err);
  }
  return *copy;
}

Expected<Kernel> Driver::loadKernel(llvm::StringRef image,
                                    llvm::StringRef name) {
  Kernel kernel;
  kernel.name = name.str();
  // cuModuleLoadData takes PTX as a NUL-terminated string; a cubin is read
  // by its ELF header. A copy with a terminator serves both.
  std::string copy = image.str();
  if (Error err = check(api->moduleLoadData(&kernel.module, copy.c_str()),
                        "cuModuleLoadData"))
    return std::move(err);
  if (Error err = check(api->moduleGetFunction(&kernel.function, kernel.module,
                                               kernel.name.c_str()),
                        "cuModuleGetFunction(" + kernel.name + ")")) {
    api->moduleUnload(kernel.module);
    return std::move(err);
  }
  return kernel;
}

Error Driver::allowDynamicSharedMemory(const Kernel &kernel, unsigned bytes) {
  // cuda.h: CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES. Without it a
  // launch may ask for 48 KiB at most.
  constexpr int kMaxDynamicSharedSizeBytes = 8;
  return check(api->funcSetAttribute(kernel.function,
                                     kMaxDynamicSharedSizeBytes,
                                     static_cast<int>(bytes)),
               "cuFuncSetAttribute(" + kernel.name +
                   ", MAX_DYNAMIC_SHARED_SIZE_BYTES, " +
                   std::to_string(bytes) + ")");
}

void Driver::unload(Kernel &kernel) {
  if (kernel.module)
    api->moduleUnload(kernel.module);
  kernel.module = kernel.function = nullptr;
}

Error Driver::launch(const Kernel &kernel, const LaunchConfig &config,
                     KernelParameters &parameters) {
  std::vector<void *> pointers = parameters.getPointers();
  return check(api->launchKernel(kernel.function, config.grid[0],
                                 config.grid[1], config.grid[2],
                                 config.block[0], config.block[1],
                                 config.block[2], config.sharedBytes,
                                 /*stream=*/nullptr, pointers.data(),
                                 /*extra=*/nullptr),
               "cuLaunchKernel(" + kernel.name + ")");
}

Error Driver::synchronize() {
  return check(api->ctxSynchronize(), "cuCtxSynchronize");
}

Expected<double> Driver::timeLaunches(const Kernel &kernel,
                                      const LaunchConfig &config,
                                      KernelParameters &parameters,
                                      int repeat) {
  void *start = nullptr, *stop = nullptr;
  if (Error err = check(api->eventCreate(&start, 0), "cuEventCreate"))
    return std::move(err);
  if (Error err = check(api->eventCreate(&stop, 0), "cuEventCreate")) {
    api->eventDestroy(start);
    return std::move(err);
  }
  llvm::scope_exit cleanup([&] {
    api->eventDestroy(start);
    api->eventDestroy(stop);
  });
  if (Error err = check(api->eventRecord(start, nullptr), "cuEventRecord"))
    return std::move(err);
  for (int i = 0; i < repeat; ++i)
    if (Error err = launch(kernel, config, parameters))
      return std::move(err);
  if (Error err = check(api->eventRecord(stop, nullptr), "cuEventRecord"))
    return std::move(err);
  if (Error err = check(api->eventSynchronize(stop), "cuEventSynchronize"))
    return std::move(err);
  float milliseconds = 0;
  if (Error err = check(api->eventElapsedTime(&milliseconds, start, stop),
                        "cuEventElapsedTime"))
    return std::move(err);
  return static_cast<double>(milliseconds) / std::max(repeat, 1);
}

//===----------------------------------------------------------------------===//
// Kernel parameters
//===----------------------------------------------------------------------===//

template <typename T>
static std::array<unsigned char, 8> slotOf(T value) {
  static_assert(sizeof(T) <= 8);
  std::array<unsigned char, 8> slot{};
  std::memcpy(slot.data(), &value, sizeof(T));
  return slot;
}

void KernelParameters::addMemRef(DevicePointer pointer,
                                 llvm::ArrayRef<int64_t> sizes) {
  slots.push_back(slotOf(pointer)); // allocated
  slots.push_back(slotOf(pointer)); // aligned
  slots.push_back(slotOf<int64_t>(0)); // offset
  for (int64_t size : sizes)
    slots.push_back(slotOf(size));
  std::vector<int64_t> strides(sizes.size(), 1);
  for (int i = static_cast<int>(sizes.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * sizes[i + 1];
  for (int64_t stride : strides)
    slots.push_back(slotOf(stride));
}

void KernelParameters::addInt64(int64_t value) { slots.push_back(slotOf(value)); }
void KernelParameters::addInt32(int32_t value) { slots.push_back(slotOf(value)); }
void KernelParameters::addFloat(float value) { slots.push_back(slotOf(value)); }
void KernelParameters::addDouble(double value) { slots.push_back(slotOf(value)); }

std::vector<void *> KernelParameters::getPointers() {
  std::vector<void *> pointers;
  pointers.reserve(slots.size());
  for (auto &slot : slots)
    pointers.push_back(slot.data());
  return pointers;
}

//===----------------------------------------------------------------------===//
// Chips
//===----------------------------------------------------------------------===//

std::string mlir::cascade::cuda::getChipForComputeCapability(int cc) {
  switch (cc) {
  case 90:
    return "sm_90a";
  case 89:
    return "sm_89";
  case 86:
  case 87:
    return "sm_86";
  case 80:
    return "sm_80";
  default:
    // Later 8.x parts run sm_80 code; Blackwell (10.x, 12.x) would need
    // its own target, which the backend does not have.
    return cc > 80 && cc < 90 ? "sm_80" : "";
  }
}

bool mlir::cascade::cuda::chipRunsOn(llvm::StringRef chip, int cc) {
  if (chip == "sm_90a")
    return cc == 90;
  unsigned version = 0;
  if (!chip.consume_front("sm_") || chip.getAsInteger(10, version))
    return false;
  // A cubin runs on its own major version with an equal or later minor.
  return cc / 10 == static_cast<int>(version) / 10 &&
         cc >= static_cast<int>(version);
}
