//===- CudaDriver.h - The CUDA driver API, loaded at run time ----*- C++ -*-===//
//
// The host side of `attn-run --target cuda`: the few CUDA driver API calls
// a launch needs, resolved with dlopen("libcuda.so.1") when first used, so
// that nothing links against the driver and machines without a GPU build
// and run everything else (the load then fails with the reason). The
// environment variable CASCADE_LIBCUDA names another library to load
// instead (the tests load an emulated driver, test/lib/EmulatedCudaDriver).
//
// It uses the device's primary context, the one the CUDA runtime and
// PyTorch use, so that a kernel loaded here can share buffers with them.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TARGET_GPU_CUDADRIVER_H
#define CASCADE_TARGET_GPU_CUDADRIVER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace mlir::cascade::cuda {

/// A device address (CUdeviceptr).
using DevicePointer = uint64_t;

/// A kernel in a loaded module (opaque CUmodule / CUfunction handles).
struct Kernel {
  void *module = nullptr;
  void *function = nullptr;
  std::string name;
};

/// One launch's geometry.
struct LaunchConfig {
  std::array<unsigned, 3> grid = {1, 1, 1}, block = {1, 1, 1};
  /// Dynamic shared memory per block.
  unsigned sharedBytes = 0;
};

/// The kernel parameters of a launch, laid out as MLIR's default lowering
/// of a gpu.func expects them (docs/GPU.md, "ABI"): a memref is its
/// descriptor flattened to (allocated, aligned, offset, sizes[R],
/// strides[R]); a scalar is passed by value. cuLaunchKernel reads each
/// parameter through a pointer; those pointers stay valid as long as this
/// object does.
class KernelParameters {
public:
  /// A row-major memref of `sizes` at `pointer`.
  void addMemRef(DevicePointer pointer, llvm::ArrayRef<int64_t> sizes);
  void addInt64(int64_t value);
  void addInt32(int32_t value);
  void addFloat(float value);
  void addDouble(double value);
  /// What cuLaunchKernel's `kernelParams` takes.
  std::vector<void *> getPointers();
  size_t size() const { return slots.size(); }

private:
  /// Each parameter in its own 8-byte slot; a deque does not move them.
  std::deque<std::array<unsigned char, 8>> slots;
};

class Driver {
public:
  /// Loads the driver library (CASCADE_LIBCUDA, else libcuda.so.1),
  /// initialises it and makes device `ordinal`'s primary context current.
  /// The error says what is missing: the library, a symbol, a device.
  static llvm::Expected<std::unique_ptr<Driver>> load(int ordinal = 0);
  ~Driver();
  Driver(const Driver &) = delete;
  Driver &operator=(const Driver &) = delete;

  const std::string &getDeviceName() const { return deviceName; }
  int getComputeCapability() const { return computeCapability; }
  int getMultiprocessorCount() const { return multiprocessors; }
  /// The library that was loaded (for messages).
  const std::string &getLibraryPath() const { return libraryPath; }

  llvm::Expected<DevicePointer> allocate(size_t bytes);
  void release(DevicePointer pointer);
  llvm::Error copyToDevice(DevicePointer to, const void *from, size_t bytes);
  llvm::Error copyToHost(void *to, DevicePointer from, size_t bytes);
  /// Sets `bytes` bytes at `to` to `value`.
  llvm::Error fill(DevicePointer to, unsigned char value, size_t bytes);

  /// A tiled tensor map (cuTensorMapEncodeTiled, CUDA 12 and later) over
  /// `global`, copied to device memory: what a kernel's tensor-map
  /// parameter points at (docs/GPU.md, "ABI"); free it with release().
  /// 16-bit float elements (f16, or bf16 with `bf16`), `rank` dimensions
  /// innermost first with `strides` in bytes for dimensions 1 .. rank - 1,
  /// no interleave, elements past the bounds read as zero, the swizzle
  /// `swizzleBytes` (0 or 128).
  llvm::Expected<DevicePointer>
  createTensorMap(DevicePointer global, bool bf16, unsigned rank,
                  const uint64_t *dims, const uint64_t *strides,
                  const uint32_t *box, const uint32_t *elementStrides,
                  int64_t swizzleBytes);

  /// Loads a cubin (or PTX, which the driver compiles) and finds `name`.
  llvm::Expected<Kernel> loadKernel(llvm::StringRef image,
                                    llvm::StringRef name);
  void unload(Kernel &kernel);
  /// Lets launches of `kernel` ask for `bytes` of dynamic shared memory
  /// (cuFuncSetAttribute's MAX_DYNAMIC_SHARED_SIZE_BYTES): needed above
  /// 48 KiB, up to the device's opt-in limit.
  llvm::Error allowDynamicSharedMemory(const Kernel &kernel, unsigned bytes);

  /// Launches on the default stream (asynchronously).
  llvm::Error launch(const Kernel &kernel, const LaunchConfig &config,
                     KernelParameters &parameters);
  llvm::Error synchronize();
  /// Milliseconds per launch over `repeat` back-to-back launches, timed
  /// with events on the default stream.
  llvm::Expected<double> timeLaunches(const Kernel &kernel,
                                      const LaunchConfig &config,
                                      KernelParameters &parameters,
                                      int repeat);

  struct Api;

private:
  Driver() = default;
  llvm::Error check(int result, llvm::StringRef call) const;

  void *library = nullptr;
  std::unique_ptr<Api> api;
  void *context = nullptr;
  int device = 0;
  int computeCapability = 0;
  int multiprocessors = 0;
  std::string deviceName, libraryPath;
};

/// The chip whose code runs on a device of compute capability `cc` (major *
/// 10 + minor): sm_90a on 9.0, sm_89 / sm_86 / sm_80 on 8.x; empty when the
/// backend has none for it.
std::string getChipForComputeCapability(int cc);

/// Whether code for `chip` runs on a device of compute capability `cc`:
/// sm_8x cubins run on 8.y with y >= x; sm_90a only on 9.0.
bool chipRunsOn(llvm::StringRef chip, int cc);

} // namespace mlir::cascade::cuda

#endif // CASCADE_TARGET_GPU_CUDADRIVER_H
