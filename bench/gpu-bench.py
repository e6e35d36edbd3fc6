#!/usr/bin/env python3
"""GPU benchmark: Cascade's kernels against PyTorch SDPA and FlexAttention.

    python3 bench/gpu-bench.py [--quick] [--out docs/bench] [--dry-run]

For each of softmax, softmax_causal and sigmoid at FlashAttention's
benchmark shapes -- B*N = 16k tokens, H*D = 2048, D in {64, 128}, N from 512
to 16k -- compiles the spec with `attn-compile --target cuda` (cubin + C
header), loads the cubin into this process's CUDA context through the
driver API (ctypes on libcuda.so.1, the context PyTorch uses), launches it
on PyTorch's tensors with the ABI the header gives, checks its output
against SDPA, and times it side by side with
`F.scaled_dot_product_attention` under the flash backend and with
FlexAttention (torch.compile'd, a block mask for causal), with CUDA events
on the same stream. fp16, layout [B, H, N, D]. TFLOP/s count 4 B H N^2 D,
halved for causal. Writes gpu.md and gpu.csv under --out.

--dry-run needs no GPU and no torch: it compiles the kernels and checks,
for every shape, the launch this script would make (grid from the header's
formula, block, shared memory) and that the parameter list it builds has
exactly the entry's parameters in the PTX. --quick runs N = 1024 only.

The device machines lent to this project are bare: attn-compile needs
libMLIR and libLLVM (over 200 MB), more than a run may carry. So the
kernels are compiled here and carried:

    python3 bench/gpu-bench.py --prepare gpu-kernels --chip sm_90a
    # on the GPU machine, with gpu-kernels carried:
    python3 bench/gpu-bench.py --kernels gpu-kernels --out $OUT

--prepare writes <variant>-<D>.{cubin,ptx,h} for the chip (and the kernel
IR, .mlir, for the emulated driver); --kernels reads them instead of
compiling (and --dry-run checks them).

--ours-only needs neither torch nor attn-compile on the GPU machine: it
times our three kernels alone through the driver API (scripts/cuda_driver.py:
its own context, buffers filled with a constant, events), which gives the
issue's two targets on our own kernels -- causal against non-causal by the
halved count, sigmoid against softmax -- and TFLOP/s, and checks that every
output element is finite (softmax's is V's constant, to an f16 rounding). It writes
gpu-ours.md. With --state it also times the chunked linear family (causal
linear attention and GLA: the state phase on CUDA cores, docs/GPU.md)
against our causal softmax, with the blocks each launch takes. With
CASCADE_LIBCUDA naming Cascade's emulated driver it runs here, at small
--shapes (test/bench-gpu-dry-run.test).
"""
import argparse
import ctypes
import math
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE = os.path.join(ROOT, "build", "bin", "attn-compile")
OPT = os.path.join(ROOT, "build", "bin", "attn-opt")
VARIANTS = ["softmax", "softmax_causal", "sigmoid"]
# The chunked linear family (GpuStatePlan's state phase on CUDA cores),
# timed by --ours-only --state against our causal softmax at the same
# shape: causal linear attention and gated linear attention (GLA, whose
# log forget gates G are a fourth input of the queries' shape).
STATE_VARIANTS = ["linear_causal", "gla"]


class Kernel:
    """A compiled spec: its cubin, PTX and what its header says."""

    def __init__(self, variant, d, chip, workdir, kernels=None):
        self.variant = variant
        if kernels:
            base = os.path.join(kernels, f"{variant}-{d}")
            if not os.path.exists(base + ".cubin"):
                sys.exit(f"{base}.cubin is missing: run --prepare {kernels} "
                         f"--chip {chip} where attn-compile runs")
        else:
            base = compile_kernel(variant, d, chip, workdir)
        self.base = base
        with open(base + ".cubin", "rb") as f:
            self.cubin = f.read()
        with open(base + ".ptx") as f:
            self.ptx = f.read()
        with open(base + ".h") as f:
            header = f.read()
        define = lambda what: re.search(
            rf"#define \w+_{what} (\S+)", header).group(1)
        self.name = define("KERNEL_NAME").strip('"')
        self.threads = int(define("BLOCK_THREADS"))
        self.shared = int(define("SHARED_BYTES"))
        # cuLaunchKernel's sharedMemBytes: 0 for static shared memory.
        self.dynamic_shared = int(define("DYNAMIC_SHARED_BYTES"))
        # The spec's tensor arguments (the parameters before the outputs).
        self.inputs = len(re.findall(r"^\s+#\d+ rank-\d+ \w+ tensor", header, re.M))
        self.out_ranks = re.findall(
            r"int64_t out_(\w+)", re.search(r"_grid_blocks\(([^)]*)\)", header).group(1))
        self.grid_terms = [(rank, int(tile) + 1) for rank, tile in re.findall(
            r"blocks \*= \(out_(\w+) \+ (\d+)\) / \d+;", header)]
        # sm_90a's TMA stages: one tensor map per (input, box, swizzle),
        # passed after the outputs.
        self.maps = []
        for i in range(int(define("NUM_TENSOR_MAPS"))):
            prefix = f"TENSOR_MAP_{i}"
            box = [int(x) for x in re.search(
                rf"#define \w+_{prefix}_BOX \{{([^}}]*)\}}", header).group(1).split(",")]
            self.maps.append((int(define(prefix + "_INPUT")), box,
                              int(define(prefix + "_SWIZZLE_BYTES"))))

    def chip(self):
        """The chip the PTX was generated for (`.target sm_XX`)."""
        return re.search(r"^\.target (\w+)", self.ptx, re.M).group(1)

    def grid(self, out_shape):
        sizes = dict(zip(self.out_ranks, out_shape))
        blocks = 1
        for rank, tile in self.grid_terms:
            blocks *= (sizes[rank] + tile - 1) // tile
        return blocks

    def ptx_parameter_count(self):
        entry = re.search(rf"\.entry {self.name}\((.*?)\)", self.ptx, re.S)
        return len(re.findall(r"\.param", entry.group(1)))

    def ptx_declares_dynamic_shared(self):
        return re.search(r"^\.extern \.shared .*\[\];", self.ptx, re.M) is not None


def compile_kernel(variant, d, chip, directory):
    """attn-compile's cubin, PTX and header of `variant` at D = d, and
    attn-opt's kernel IR (what the emulated driver runs); the path they
    share, without extension."""
    base = os.path.join(directory, f"{variant}-{d}")
    spec = os.path.join(ROOT, "variants", variant + ".mlir")
    subprocess.run([COMPILE, spec, "--target", "cuda", "--chip", chip,
                    "--head-dims", f"e={d},f={d}", "--storage-type", "f16",
                    "-o", base + ".cubin", "--ptx", base + ".ptx",
                    "--header", base + ".h"], check=True)
    subprocess.run([OPT, spec, f"--cascade-to-gpu=chip={chip} head-dims=e={d},f={d}",
                    "-o", base + ".mlir"], check=True)
    return base


def prepare(args):
    """Compiles every kernel this script launches for one chip into
    args.prepare, for a GPU machine without attn-compile."""
    if args.chip not in ("sm_80", "sm_86", "sm_89", "sm_90a"):
        sys.exit("--prepare needs --chip sm_80, sm_86, sm_89 or sm_90a")
    os.makedirs(args.prepare, exist_ok=True)
    for d in (64, 128):
        for variant in VARIANTS + STATE_VARIANTS:
            print(compile_kernel(variant, d, args.chip, args.prepare))


def tensor_map_arguments(shape, box, swizzle):
    """cuTensorMapEncodeTiled's arguments for a row-major f16 tensor of
    `shape` (outermost first) and a box given innermost first, as the
    header says: sizes innermost first, byte strides of dimensions 1..,
    element strides 1, the swizzle's enum (3: 128 bytes)."""
    dims = [max(x, 1) for x in reversed(shape)]
    strides, stride = [], 2
    for extent in dims[:-1]:
        stride *= extent
        strides.append(stride)
    return dims, strides, box, [1] * len(dims), 3 if swizzle == 128 else 0


def descriptor(pointer, shape):
    """A memref descriptor flattened as MLIR's default lowering passes it:
    allocated, aligned, offset, sizes, strides (row-major)."""
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return ([ctypes.c_uint64(pointer), ctypes.c_uint64(pointer), ctypes.c_int64(0)]
            + [ctypes.c_int64(s) for s in shape] + [ctypes.c_int64(s) for s in strides])


def shapes(quick, given=None):
    """(D, N, B, H): FlashAttention's, or `given` ("B,H,N") at each D."""
    for d in (64, 128):
        if given:
            b, h, n = (int(x) for x in given.split(","))
            yield d, n, b, h
            continue
        for n in ([1024] if quick else [512, 1024, 2048, 4096, 8192, 16384]):
            yield d, n, 16384 // n, 2048 // d


class Driver:
    """The few driver calls a launch needs, on PyTorch's current context."""

    def __init__(self):
        self.lib = ctypes.CDLL("libcuda.so.1")
        self.lib.cuLaunchKernel.argtypes = [
            ctypes.c_void_p] + [ctypes.c_uint] * 7 + [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]

    def check(self, result, call):
        if result != 0:
            name = ctypes.c_char_p()
            self.lib.cuGetErrorName(result, ctypes.byref(name))
            raise RuntimeError(f"{call} failed: {name.value.decode()} ({result})")

    def load(self, kernel):
        module, function = ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.cuModuleLoadData(ctypes.byref(module), kernel.cubin),
                   "cuModuleLoadData")
        self.check(self.lib.cuModuleGetFunction(
            ctypes.byref(function), module, kernel.name.encode()),
            "cuModuleGetFunction")
        if kernel.dynamic_shared > 48 * 1024:
            # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            self.check(self.lib.cuFuncSetAttribute(
                function, ctypes.c_int(8), ctypes.c_int(kernel.dynamic_shared)),
                "cuFuncSetAttribute")
        return function

    def tensor_map(self, torch, tensor, box, swizzle):
        """A CUtensorMap over `tensor` (f16) in device memory; returns the
        device tensor holding it (keep it alive) and its pointer."""
        dims, strides, box, elements, swizzle_enum = tensor_map_arguments(
            list(tensor.shape), box, swizzle)
        rank = len(dims)
        raw = ctypes.create_string_buffer(128 + 64)
        address = (ctypes.addressof(raw) + 63) // 64 * 64
        u64, u32 = ctypes.c_uint64, ctypes.c_uint32
        self.check(self.lib.cuTensorMapEncodeTiled(
            ctypes.c_void_p(address), ctypes.c_int(6), u32(rank),
            ctypes.c_void_p(tensor.data_ptr()), (u64 * rank)(*dims),
            (u64 * max(rank - 1, 1))(*strides), (u32 * rank)(*box),
            (u32 * rank)(*elements), ctypes.c_int(0), ctypes.c_int(swizzle_enum),
            ctypes.c_int(2), ctypes.c_int(0)), "cuTensorMapEncodeTiled")
        host = torch.frombuffer(bytearray(ctypes.string_at(address, 128)),
                                dtype=torch.uint8)
        device = host.to("cuda")
        return device, device.data_ptr()

    def launch(self, function, kernel, blocks, params, stream):
        array = (ctypes.c_void_p * len(params))(
            *[ctypes.cast(ctypes.byref(p), ctypes.c_void_p) for p in params])
        self.check(self.lib.cuLaunchKernel(
            function, blocks, 1, 1, kernel.threads, 1, 1, kernel.dynamic_shared,
            ctypes.c_void_p(stream), array, None), "cuLaunchKernel")


def time_ms(torch, body, warmup=3, repeat=10):
    for _ in range(warmup):
        body()
    times = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        body()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def chip_of(major, minor):
    return {(9, 0): "sm_90a", (8, 9): "sm_89", (8, 6): "sm_86",
            (8, 7): "sm_86"}.get((major, minor), "sm_80" if major == 8 else None)


def dry_run(args, workdir):
    """No GPU: the launches this script would make, checked against the PTX
    (on sm_90a the parameters end with the tensor maps)."""
    chips = [args.chip] if args.kernels else ["sm_80", "sm_90a"]
    for chip in chips:
        for d in (64, 128):
            for variant in VARIANTS + STATE_VARIANTS:
                kernel = Kernel(variant, d, chip, workdir, args.kernels)
                if kernel.chip() != chip:
                    sys.exit(f"{variant} D={d}: the kernels in {args.kernels} "
                             f"are for {kernel.chip()}, not {chip}")
                expected = kernel.ptx_parameter_count()
                # Dynamic shared memory exactly where the PTX declares it,
                # and only beyond the 48 KiB a kernel declares statically.
                if kernel.ptx_declares_dynamic_shared() != (kernel.dynamic_shared > 0) \
                        or (kernel.dynamic_shared > 0) != (kernel.shared > 48 * 1024):
                    sys.exit(f"{variant} {chip} D={d}: shared {kernel.shared}, dynamic "
                             f"{kernel.dynamic_shared}, but the PTX "
                             f"{'declares' if kernel.ptx_declares_dynamic_shared() else 'does not declare'}"
                             " dynamic shared memory")
                for d_, n, b, h in shapes(args.quick):
                    if d_ != d:
                        continue
                    out = [b, h, n, d]
                    params = sum((descriptor(0, [b, h, n, d])
                                  for _ in range(kernel.inputs)), []) + descriptor(0, out)
                    for _, box, swizzle in kernel.maps:
                        tensor_map_arguments([b, h, n, d], box, swizzle)
                        params.append(ctypes.c_uint64(0))
                    if len(params) != expected:
                        sys.exit(f"{variant} {chip} D={d}: {len(params)} parameters "
                                 f"built, the PTX entry has {expected}")
                    print(f"{variant} {chip} D={d} N={n} B={b} H={h}: grid "
                          f"{kernel.grid(out)} block {kernel.threads} shared "
                          f"{kernel.shared} dynamic {kernel.dynamic_shared} "
                          f"params {len(params)} = PTX {expected}"
                          f" tensor maps {len(kernel.maps)}")


def ours_only(args, workdir):
    """Our kernels timed alone through the driver API: no torch."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from cuda_driver import Driver as Device, chip_runs_on, memref
    device = Device()
    chip = chip_of(device.cc // 10, device.cc % 10)
    if chip is None:
        sys.exit(f"no Cascade target for {device.name} (compute capability {device.cc})")
    print(f"device: {device.name}, chip {chip}, our kernels only (no torch)")
    variants = VARIANTS + (STATE_VARIANTS if args.state else [])
    # Every element 0x3C3C (f16: 1.0586): the work does not depend on the
    # values, softmax's output is exactly V's value and so is causal linear
    # attention's (it normalises too). GLA's gates are 0xBCBC (-1.0586): a
    # decay of e^-1.06 per key keeps its unnormalised sums finite.
    constant = struct.unpack("<e", b"\x3c\x3c")[0]
    fill = {"gla": [0x3C, 0x3C, 0x3C, 0xBC]}
    equals_v = {"softmax", "softmax_causal", "linear_causal"}
    rows = []
    for d in (64, 128):
        kernels = {v: Kernel(v, d, chip, workdir, args.kernels) for v in variants}
        functions = {}
        for variant, kernel in kernels.items():
            if not chip_runs_on(kernel.chip(), device.cc):
                sys.exit(f"{variant} D={d}: the kernels are for {kernel.chip()}, "
                         f"but this device is {chip}")
            if device.emulated:
                os.environ["CASCADE_EMULATED_KERNEL"] = kernel.base + ".mlir"
            functions[variant] = device.load(kernel.cubin, kernel.name,
                                             kernel.dynamic_shared)
        for d_, n, b, h in shapes(args.quick, args.shapes):
            if d_ != d:
                continue
            shape = [b, h, n, d]
            size = b * h * n * d * 2
            inputs = [device.allocate(size) for _ in range(4)]
            out = device.allocate(size)
            result = {}
            for variant in variants:
                kernel = kernels[variant]
                used = inputs[:kernel.inputs]
                for pointer, byte in zip(used, fill.get(variant, [0x3C] * 4)):
                    device.call("cuMemsetD8_v2", pointer, byte, size)
                device.call("cuMemsetD8_v2", out, 0xFF, size)
                params = sum((memref(p, shape) for p in used + [out]), [])
                for i, box, swizzle in kernel.maps:
                    dims, strides, box, elements, _ = tensor_map_arguments(
                        shape, box, swizzle)
                    params.append(ctypes.c_uint64(device.tensor_map(
                        used[i], False, dims, strides, box, elements, swizzle)))
                if len(params) != kernel.ptx_parameter_count():
                    sys.exit(f"{variant}: {len(params)} parameters, the PTX "
                             f"entry has {kernel.ptx_parameter_count()}")
                grid = [kernel.grid(shape), 1, 1]
                launch = lambda: device.launch(functions[variant], grid,
                                               [kernel.threads, 1, 1],
                                               kernel.dynamic_shared, params)
                ms = device.time_ms(launch, args.warmup, args.repeat)
                raw = ctypes.create_string_buffer(size)
                device.call("cuMemcpyDtoH_v2", raw, out, size)
                values = struct.unpack(f"<{size // 2}e", raw.raw)
                bad = sum(not math.isfinite(x) for x in values)
                if bad:
                    sys.exit(f"{variant} D={d} N={n}: {bad} NaN/Inf in the output")
                # Softmax of equal scores averages V: its constant, to an
                # f16 rounding (exp2's approximation of 1 aside, it is exact).
                if variant in equals_v and any(
                        abs(x - constant) > constant / 1024 for x in values):
                    sys.exit(f"{variant} D={d} N={n}: the output is not V's "
                             f"constant {constant}")
                flops = 4 * b * h * n * n * d / (2 if variant == "softmax_causal" else 1)
                result[variant] = (ms, flops / ms / 1e9, grid[0])
            for pointer in inputs + [out]:
                device.call("cuMemFree_v2", pointer)
            rows.append((d, n, b, h, result))
            s, c, g = result["softmax"], result["softmax_causal"], result["sigmoid"]
            print(f"D={d:3} N={n:5} B={b} H={h}: softmax {s[1]:7.1f} TFLOP/s, causal "
                  f"{c[1]:7.1f} ({c[1] / s[1]:.2f}x by the halved count), sigmoid "
                  f"{g[1]:7.1f} ({s[0] / g[0]:.2f}x softmax's speed)", flush=True)
            # The linear family: milliseconds, blocks (B * H * the value
            # columns' blocks) and the speed against causal softmax's.
            for variant in variants[len(VARIANTS):]:
                ms, _, blocks = result[variant]
                print(f"D={d:3} N={n:5} B={b} H={h}: {variant} {ms:.3f} ms, "
                      f"{blocks} blocks, {c[0] / ms:.2f}x causal softmax's speed",
                      flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu-ours.md"), "w") as f:
            f.write(f"# Our kernels alone ({device.name}, fp16)\n\n"
                    "`python3 bench/gpu-bench.py --ours-only`; TFLOP/s by "
                    "4 B H N^2 D, halved for causal; inputs constant.\n\n"
                    "| D | N | B | H | softmax | causal | causal / softmax "
                    "| sigmoid | sigmoid speed-up |\n|---|---|---|---|---|---|---|---|---|\n")
            for d, n, b, h, r in rows:
                f.write(f"| {d} | {n} | {b} | {h} | {r['softmax'][1]:.1f} | "
                        f"{r['softmax_causal'][1]:.1f} | "
                        f"{r['softmax_causal'][1] / r['softmax'][1]:.2f} | "
                        f"{r['sigmoid'][1]:.1f} | "
                        f"{r['softmax'][0] / r['sigmoid'][0]:.2f}x |\n")
            if args.state:
                f.write("\n## The linear family (state phase, CUDA cores)\n\n"
                        "`--ours-only --state`: milliseconds, the launch's "
                        "blocks (B H and, above 64 value columns, their column "
                        "blocks), and the speed against our causal softmax "
                        "at the same shape.\n\n| D | N | B | H | causal softmax "
                        "ms | " + " | ".join(
                            f"{v} ms | {v} blocks | {v} speed-up"
                            for v in STATE_VARIANTS) + " |\n|" +
                        "---|" * (5 + 3 * len(STATE_VARIANTS)) + "\n")
                for d, n, b, h, r in rows:
                    cells = [f"{d}", f"{n}", f"{b}", f"{h}",
                             f"{r['softmax_causal'][0]:.3f}"]
                    for v in STATE_VARIANTS:
                        cells += [f"{r[v][0]:.3f}", f"{r[v][2]}",
                                  f"{r['softmax_causal'][0] / r[v][0]:.2f}x"]
                    f.write("| " + " | ".join(cells) + " |\n")


def run(args, workdir):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    torch.cuda.init()
    device = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(device)
    chip = chip_of(props.major, props.minor)
    if chip is None:
        sys.exit(f"no Cascade target for {props.name} (sm_{props.major}{props.minor})")
    torch.zeros(1, device="cuda")  # makes the primary context current
    driver = Driver()
    flex = torch.compile(flex_attention, dynamic=False)
    rows = []
    print(f"device: {props.name}, chip {chip}, torch {torch.__version__}")
    for d in (64, 128):
        kernels = {v: Kernel(v, d, chip, workdir, args.kernels) for v in VARIANTS}
        for kernel in kernels.values():
            if kernel.chip() != chip:
                sys.exit(f"{kernel.variant} D={d}: the kernels in {args.kernels} "
                         f"are for {kernel.chip()}, but this device is {chip}")
        functions = {v: driver.load(k) for v, k in kernels.items()}
        for d_, n, b, h in shapes(args.quick):
            if d_ != d:
                continue
            gen = torch.Generator(device="cuda").manual_seed(0)
            q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16,
                                   generator=gen) for _ in range(3))
            out = torch.empty(b, h, n, d, device="cuda", dtype=torch.float16)
            stream = torch.cuda.current_stream().cuda_stream
            result = {}
            for variant in VARIANTS:
                kernel = kernels[variant]
                causal = variant == "softmax_causal"
                params = sum((descriptor(t.data_ptr(), list(t.shape))
                              for t in (q, k, v, out)), [])
                maps = [driver.tensor_map(torch, (q, k, v)[i], box, swizzle)
                        for i, box, swizzle in kernel.maps]
                params += [ctypes.c_uint64(pointer) for _, pointer in maps]
                assert len(params) == kernel.ptx_parameter_count()
                blocks = kernel.grid([b, h, n, d])
                launch = lambda: driver.launch(functions[variant], kernel,
                                               blocks, params, stream)
                flops = 4 * b * h * n * n * d / (2 if causal else 1)
                ms = time_ms(torch, launch)
                result[variant] = (ms, flops / ms / 1e9)
                if variant != "sigmoid":
                    out.fill_(float("nan"))
                    launch()
                    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    err = (out.float() - ref.float()).abs().max().item()
                    if not err < 1e-2:
                        sys.exit(f"{variant} D={d} N={n}: max |ours - SDPA| = {err}")
                    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                        sdpa_ms = time_ms(torch, lambda: F.scaled_dot_product_attention(
                            q, k, v, is_causal=causal))
                    mask = create_block_mask(lambda b_, h_, q_, k_: q_ >= k_, None, None,
                                             n, n) if causal else None
                    flex_ms = time_ms(torch, lambda: flex(q, k, v, block_mask=mask))
                    result[variant + "/sdpa"] = (sdpa_ms, flops / sdpa_ms / 1e9)
                    result[variant + "/flex"] = (flex_ms, flops / flex_ms / 1e9)
                    result[variant + "/err"] = err
            row = dict(d=d, n=n, b=b, h=h, **{
                key: value for key, value in result.items()})
            rows.append(row)
            s, c, g = result["softmax"], result["softmax_causal"], result["sigmoid"]
            print(f"D={d:3} N={n:5}: softmax {s[1]:6.1f} TFLOP/s (SDPA flash "
                  f"{result['softmax/sdpa'][1]:6.1f}, flex {result['softmax/flex'][1]:6.1f})"
                  f"; causal {c[1]:6.1f} (SDPA {result['softmax_causal/sdpa'][1]:6.1f}, "
                  f"flex {result['softmax_causal/flex'][1]:6.1f}); sigmoid/softmax "
                  f"time {s[0] / g[0]:.2f}x", flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu.csv"), "w") as f:
            f.write("d,n,b,h,variant,ms,tflops\n")
            for row in rows:
                for key, value in row.items():
                    if isinstance(value, tuple):
                        f.write(f"{row['d']},{row['n']},{row['b']},{row['h']},"
                                f"{key},{value[0]:.4f},{value[1]:.1f}\n")
        with open(os.path.join(args.out, "gpu.md"), "w") as f:
            f.write(f"# GPU benchmark ({props.name}, fp16, B*N = 16k, H*D = 2048)\n\n"
                    f"`python3 bench/gpu-bench.py --out docs/bench`; TFLOP/s by "
                    f"4 B H N^2 D, halved for causal.\n\n"
                    "| D | N | softmax | SDPA flash | flex | causal | SDPA flash | flex "
                    "| sigmoid speed-up |\n|---|---|---|---|---|---|---|---|---|\n")
            for r in rows:
                f.write(f"| {r['d']} | {r['n']} | {r['softmax'][1]:.1f} | "
                        f"{r['softmax/sdpa'][1]:.1f} | {r['softmax/flex'][1]:.1f} | "
                        f"{r['softmax_causal'][1]:.1f} | "
                        f"{r['softmax_causal/sdpa'][1]:.1f} | "
                        f"{r['softmax_causal/flex'][1]:.1f} | "
                        f"{r['softmax'][0] / r['sigmoid'][0]:.2f}x |\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--prepare", metavar="DIR",
                        help="compile the kernels for --chip into DIR and stop")
    parser.add_argument("--kernels", metavar="DIR",
                        help="use the kernels --prepare wrote instead of compiling")
    parser.add_argument("--chip", default="sm_90a",
                        help="the chip for --prepare (and --dry-run with --kernels)")
    parser.add_argument("--ours-only", action="store_true",
                        help="time our kernels alone through the driver (no torch)")
    parser.add_argument("--state", action="store_true",
                        help="with --ours-only: the linear family too "
                             "(causal linear attention, GLA)")
    parser.add_argument("--shapes", metavar="B,H,N",
                        help="one shape at each D instead of FlashAttention's")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    if args.prepare:
        prepare(args)
        return
    with tempfile.TemporaryDirectory() as workdir:
        (dry_run if args.dry_run else ours_only if args.ours_only else run)(
            args, workdir)


if __name__ == "__main__":
    main()
