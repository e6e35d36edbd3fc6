"""The CUDA driver API through ctypes, the standard library only: what
scripts/gpu-kit.py and bench/gpu-bench.py --ours-only need to load a cubin,
lay out the kernel ABI's parameters (docs/GPU.md, "ABI"), encode tensor
maps and launch, on a machine with libcuda.so.1 and nothing else.

CASCADE_LIBCUDA names another library: Cascade's emulated driver
(build/lib/libcascade-emulated-cuda.so) runs launches in the SIMT emulator,
so that the scripts are tested without a GPU.
"""
import ctypes
import os


def chip_runs_on(chip, cc):
    """CudaDriver's chipRunsOn: sm_90a only on 9.0; a cubin for sm_XY on
    major X with minor Y or later."""
    if chip == "sm_90a":
        return cc == 90
    version = int(chip[3:])
    return cc // 10 == version // 10 and cc >= version


class Driver:
    def __init__(self):
        self.path = os.environ.get("CASCADE_LIBCUDA", "libcuda.so.1")
        self.lib = ctypes.CDLL(self.path)
        self.lib.cuLaunchKernel.argtypes = [
            ctypes.c_void_p] + [ctypes.c_uint] * 7 + [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        self.lib.cuMemcpyHtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
        self.lib.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
        self.lib.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
        self.lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        self.lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        self.lib.cuModuleGetFunction.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p]
        self.lib.cuFuncSetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self.call("cuInit", 0)
        device = ctypes.c_int()
        self.call("cuDeviceGet", ctypes.byref(device), 0)
        name = ctypes.create_string_buffer(256)
        self.call("cuDeviceGetName", name, 256, device)
        self.name = name.value.decode()
        major, minor = ctypes.c_int(), ctypes.c_int()
        # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
        self.call("cuDeviceGetAttribute", ctypes.byref(major), 75, device)
        self.call("cuDeviceGetAttribute", ctypes.byref(minor), 76, device)
        self.cc = major.value * 10 + minor.value
        context = ctypes.c_void_p()
        self.call("cuDevicePrimaryCtxRetain", ctypes.byref(context), device)
        self.call("cuCtxSetCurrent", context)
        self.emulated = self.name == "Cascade emulated GPU"

    def call(self, function, *args):
        result = getattr(self.lib, function)(*args)
        if result != 0:
            text = ctypes.c_char_p()
            self.lib.cuGetErrorName(result, ctypes.byref(text))
            raise RuntimeError(f"{function} failed: "
                               f"{text.value.decode() if text.value else '?'} ({result})")

    def newest(self, *names):
        """The first of `names` the library exports (drivers before CUDA 12
        lack some _v2 entry points)."""
        for name in names:
            if hasattr(self.lib, name):
                return name
        raise RuntimeError(f"{self.path} exports none of {', '.join(names)}")

    def allocate(self, size):
        pointer = ctypes.c_uint64()
        # cuMemAlloc refuses 0 bytes; an empty tensor still gets an address.
        self.call("cuMemAlloc_v2", ctypes.byref(pointer), max(size, 16))
        return pointer.value

    def tensor_map(self, pointer, bf16, dims, strides, box, element_strides,
                   swizzle_bytes):
        """A CUtensorMap (cuda.h: 128 bytes, 64-byte aligned) over the
        tensor at `pointer`, encoded by cuTensorMapEncodeTiled with the
        kernel's arguments (sizes innermost first, byte strides of the
        outer dimensions) and copied to device memory; its address."""
        raw = ctypes.create_string_buffer(128 + 128)
        address = (ctypes.addressof(raw) + 127) // 128 * 128
        rank = len(dims)
        u64, u32 = ctypes.c_uint64, ctypes.c_uint32
        self.call("cuTensorMapEncodeTiled", ctypes.c_void_p(address),
                  ctypes.c_int(9 if bf16 else 6), u32(rank), ctypes.c_void_p(pointer),
                  (u64 * rank)(*dims), (u64 * max(rank - 1, 1))(*(strides or [0])),
                  (u32 * rank)(*box), (u32 * rank)(*element_strides),
                  ctypes.c_int(0), ctypes.c_int(3 if swizzle_bytes == 128 else 0),
                  ctypes.c_int(2), ctypes.c_int(0))
        device = self.allocate(128)
        self.call("cuMemcpyHtoD_v2", device, ctypes.c_void_p(address), 128)
        return device

    def load(self, image, name, dynamic_shared):
        """The kernel `name` of a cubin, allowed `dynamic_shared` bytes."""
        module, function = ctypes.c_void_p(), ctypes.c_void_p()
        buffer = ctypes.create_string_buffer(image)
        self.call("cuModuleLoadData", ctypes.byref(module), buffer)
        self.call("cuModuleGetFunction", ctypes.byref(function), module, name.encode())
        if dynamic_shared > 48 * 1024:
            # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            self.call("cuFuncSetAttribute", function, 8, dynamic_shared)
        return function

    def launch(self, function, grid, block, dynamic_shared, params):
        array = (ctypes.c_void_p * len(params))(
            *[ctypes.cast(ctypes.byref(p), ctypes.c_void_p) for p in params])
        self.call("cuLaunchKernel", function, *grid, *block, dynamic_shared,
                  None, array, None)

    def time_ms(self, body, warmup, repeat):
        """The median of `repeat` runs of `body` timed by events, after
        `warmup` untimed ones."""
        for _ in range(warmup):
            body()
        start, stop = ctypes.c_void_p(), ctypes.c_void_p()
        self.call("cuEventCreate", ctypes.byref(start), 0)
        self.call("cuEventCreate", ctypes.byref(stop), 0)
        times = []
        for _ in range(repeat):
            self.call("cuEventRecord", start, None)
            body()
            self.call("cuEventRecord", stop, None)
            self.call("cuEventSynchronize", stop)
            ms = ctypes.c_float()
            self.call(self.newest("cuEventElapsedTime_v2", "cuEventElapsedTime"),
                      ctypes.byref(ms), start, stop)
            times.append(ms.value)
        self.call(self.newest("cuEventDestroy_v2", "cuEventDestroy"), start)
        self.call(self.newest("cuEventDestroy_v2", "cuEventDestroy"), stop)
        times.sort()
        n = len(times)
        return times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2


def memref(pointer, shape):
    """A memref descriptor flattened as the kernel takes it: allocated,
    aligned, offset, sizes, row-major strides."""
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return ([ctypes.c_uint64(pointer), ctypes.c_uint64(pointer), ctypes.c_int64(0)]
            + [ctypes.c_int64(s) for s in shape] + [ctypes.c_int64(s) for s in strides])
