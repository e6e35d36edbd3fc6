#!/usr/bin/env python3
"""Check kits: the library's GPU check, prepared here, run on a lent GPU.

    python3 scripts/gpu-kit.py prepare gpu-kit --chip sm_90a
    # on the GPU machine (bare: no LLVM, no Cascade), gpu-kit carried:
    python3 scripts/gpu-kit.py run gpu-kit --out $OUT

The device machines lent to this project start bare, and a run carries at
most 64 MiB: attn-run, which links libMLIR and libLLVM, cannot run there.
So `prepare` runs `attn-run --target cuda --chip C --save-kit` here for
every variant of the library at the shapes below (tails, one key, no keys,
D = 64 and 128, bf16, FlashAttention-3's tile, runtime window sizes, rows
that see no key, a few hundred keys). Each case is a directory: the cubin,
the inputs' bytes, launch.json (grid, block, shared memory, tensor maps,
the parameters in order) and, per output, the fp64 reference on the
rounded inputs and the bound each element passes under (.npy). The kernel
IR is kept gzipped (kernel.mlir.gz), for reading a failure. `prepare` also
writes the benchmark's kernels into bench/ (bench/gpu-bench.py --prepare).

`run` needs only Python 3's standard library and libcuda.so.1: it replays
each case through the driver API with ctypes, in its own process (a
faulting kernel poisons its context, not the next case's), copies the
outputs back and compares every element as attn-run --check does: within
the bound, and a NaN or Inf only where the reference has the same value.
It prints one line per case and writes gpu-check.md under --out.

Without a GPU, CASCADE_LIBCUDA may name Cascade's emulated driver
(build/test/lib/EmulatedCudaDriver): `run` then points it at each case's
kernel IR, so that the replay itself is tested here (test/attn-run/kit.test).
"""
import argparse
import ast
import ctypes
import gzip
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_driver import Driver, chip_runs_on, memref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATTN_RUN = os.path.join(ROOT, "build", "bin", "attn-run")
CARRY_LIMIT = 48 << 20  # of the 64 MiB a device run carries, the rest for the tree

# The softmax family: every variant with a GPU attention form, and what
# its dims need besides b, h, p, m, e, f.
ATTENTION = ["softmax", "softmax_onepass", "sigmoid", "softmax_causal",
             "softmax_gqa", "softmax_softcap", "softmax_sink_window",
             "softmax_window", "softmax_sinks_window", "softmax_prefix_lm",
             "softmax_alibi", "softmax_document", "softplus", "relu",
             "gated_output", "differential", "based", "softmax_lse",
             "softmax_causal_lse"]
# The linear family: GpuStatePlan's CUDA-core state phase.
STATE = ["linear", "linear_associated", "linear_causal", "retention",
         "lightning", "hedgehog"]
EXTRA_DIMS = {"softmax_gqa": ",hkv=1", "hedgehog": ",r=16",
              "softmax_window": ",w=40", "softmax_sinks_window": ",w=40",
              "softmax_sink_window": "", "softmax_prefix_lm": ",l=40"}


def cases(quick):
    """(name, spec, dims, attn-run options) of every case of the library."""
    for v in ATTENTION:
        extra = EXTRA_DIMS.get(v, "")
        tail = "p=130,m=130" if v == "softmax_document" else "p=70,m=133"
        yield f"{v}-d64-tail", v, f"b=1,h=2{extra},{tail},e=64,f=64", []
        if quick:
            continue
        yield f"{v}-d64-bf16", v, f"b=1,h=2{extra},{tail},e=64,f=64", \
            ["--storage-type", "bf16"]
        one = "p=1,m=1"
        yield f"{v}-d64-one", v, f"b=1,h=2{extra},{one},e=64,f=64", []
        if v != "softmax_document":  # it reads its ids at both p and m
            yield f"{v}-d64-nokeys", v, f"b=1,h=2{extra},p=3,m=0,e=64,f=64", []
        # D = 128 over several hundred keys, tails in both tiles: the stage
        # ring wraps many times.
        many = "p=260,m=260" if v == "softmax_document" else "p=130,m=520"
        yield f"{v}-d128-many", v, f"b=1,h=1{extra},{many},e=128,f=128", []
    if quick:
        return
    for v in STATE:
        extra = EXTRA_DIMS.get(v, "")
        for label, pm in (("tail", "p=70,m=133"), ("past", "p=133,m=70"),
                          ("one", "p=1,m=1")):
            yield f"{v}-d64-{label}", v, f"b=1,h=2{extra},{pm},e=64,f=64", []
        # Two column blocks of 64 (GpuStatePlan's column split).
        yield f"{v}-d128-tail", v, f"b=1,h=1{extra},p=40,m=70,e=128,f=128", []
    # Three column blocks of 56, the last with 48 inside the rank.
    yield "linear_causal-f160-tail", "linear_causal", \
        "b=1,h=1,p=70,m=133,e=64,f=160", []
    # Gated linear attention (P <= M; its gates' rank u is the keys'). At
    # D = 128 its state and the ring of its steps fit a block only with the
    # value columns split (four blocks of 32; on sm_80 with 32-row tiles).
    for label, pm in (("tail", "p=70,m=133"), ("one", "p=1,m=1")):
        keys = pm.split("m=")[1]
        yield f"gla-d64-{label}", "gla", f"b=1,h=2,{pm},u={keys},e=64,f=64", []
    yield "gla-d128-tail", "gla", "b=1,h=1,p=40,m=70,u=70,e=128,f=128", []
    for v, r in (("softmax_window", "w"), ("softmax_sinks_window", "w"),
                 ("softmax_prefix_lm", "l")):
        for size in (1, 17):
            yield f"{v}-{r}{size}", v, f"b=1,h=1,p=70,m=200,e=64,f=64,{r}={size}", []
    yield "softmax_causal_lse-unseen", "softmax_causal_lse", \
        "b=1,h=2,p=40,m=9,e=64,f=64", []
    yield "softmax_causal-fa3-tile", "softmax_causal", \
        "b=1,h=2,p=200,m=300,e=128,f=128", ["--query-tile", "128", "--key-tile", "128"]
    yield "softmax_gqa-fa3-tile", "softmax_gqa", \
        "b=1,h=4,hkv=2,p=200,m=300,e=128,f=128", ["--query-tile", "128", "--key-tile", "128"]
    yield "softmax_causal-q128", "softmax_causal", \
        "b=1,h=2,p=150,m=133,e=128,f=128", ["--query-tile", "128"]
    yield "softmax-d80", "softmax", "b=1,h=2,p=70,m=70,e=80,f=80", \
        ["--query-tile", "32", "--key-tile", "32"]


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(path) for f in files)


def prepare(args):
    if args.chip not in ("sm_80", "sm_86", "sm_89", "sm_90a"):
        sys.exit("prepare needs --chip sm_80, sm_86, sm_89 or sm_90a")
    os.makedirs(args.dir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    count = 0
    for name, spec, dims, options in cases(args.quick):
        if only and spec not in only:
            continue
        case = os.path.join(args.dir, name)
        shutil.rmtree(case, ignore_errors=True)
        command = [args.attn_run, os.path.join(ROOT, "variants", spec + ".mlir"),
                   "--target", "cuda", "--chip", args.chip, "--dims", dims,
                   "--seed", "7", "--save-kit", case] + options
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"prepare: {name}: {' '.join(command)}\n{result.stderr}")
        # The IR is for reading a failure and for the emulated replay.
        with open(os.path.join(case, "kernel.mlir"), "rb") as f, \
                gzip.open(os.path.join(case, "kernel.mlir.gz"), "wb") as g:
            shutil.copyfileobj(f, g)
        os.remove(os.path.join(case, "kernel.mlir"))
        count += 1
        print(f"{name}: {directory_bytes(case)} bytes", flush=True)
    if args.bench:
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu-bench.py"),
                        "--prepare", os.path.join(args.dir, "bench"),
                        "--chip", args.chip], check=True, stdout=subprocess.DEVNULL)
    total = directory_bytes(args.dir)
    print(f"{count} cases for {args.chip} in {args.dir}: {total} bytes")
    if total > CARRY_LIMIT:
        sys.exit(f"prepare: {total} bytes is more than a device run may carry "
                 f"beside the tree ({CARRY_LIMIT})")


# ---------------------------------------------------------------------------
# The replay: the driver API through ctypes, the standard library only.

def read_npy(path):
    """A little-endian float64 or float32 .npy (what --save-kit writes):
    its values (C order) and shape."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path} is not a .npy file")
    if data[6] == 1:
        length, start = struct.unpack("<H", data[8:10])[0], 10
    else:
        length, start = struct.unpack("<I", data[8:12])[0], 12
    header = ast.literal_eval(data[start:start + length].decode("latin1"))
    if header["descr"] not in ("<f8", "<f4") or header["fortran_order"]:
        raise ValueError(f"{path}: expected C-order <f8 or <f4, got {header}")
    values = array("d" if header["descr"] == "<f8" else "f")
    values.frombytes(data[start + length:])
    return values, list(header["shape"])


def decode(raw, kind):
    """The host values of an output buffer in f16, bf16 or f32."""
    n = len(raw) // (4 if kind == "f32" else 2)
    if kind == "f32":
        return struct.unpack(f"<{n}f", raw)
    if kind == "f16":
        return struct.unpack(f"<{n}e", raw)
    halves = array("H")
    halves.frombytes(raw)
    words = array("I", (h << 16 for h in halves))
    return struct.unpack(f"<{n}f", words.tobytes())


def within(got, ref, tol, overflow_at):
    """attn-run's rule (isWithinExpectation): a NaN bound marks a row the
    reference did not evaluate (only a NaN or Inf fails there); a NaN or
    Inf passes only where the reference has the same value, or, an infinity
    of the reference's sign, where |ref| + bound reaches the magnitude the
    output's type rounds to infinity from."""
    if math.isnan(tol):
        return math.isfinite(got)
    if math.isinf(got) and math.isfinite(ref) and abs(ref) + tol >= overflow_at:
        return math.copysign(1, got) == math.copysign(1, ref)
    if not (math.isfinite(got) and math.isfinite(ref)):
        return (math.isnan(got) and math.isnan(ref)) or got == ref
    return abs(got - ref) <= tol


def run_case(case):
    """Replays one case; prints one JSON line: status, worst, non-finite."""
    with open(os.path.join(case, "launch.json")) as f:
        kit = json.load(f)
    if kit.get("format") != "cascade-cuda-kit-1":
        raise RuntimeError(f"{case}: unknown kit format {kit.get('format')}")
    driver = Driver()
    if not chip_runs_on(kit["chip"], driver.cc):
        print(json.dumps({"status": "SKIP", "device": driver.name,
                          "why": f"{kit['chip']} code does not run on "
                          f"compute capability {driver.cc}"}))
        return
    workdir = tempfile.mkdtemp()
    try:
        if driver.emulated:
            # The emulated driver runs the kernel IR the cubin came from.
            ir = os.path.join(workdir, "kernel.mlir")
            with gzip.open(os.path.join(case, "kernel.mlir.gz"), "rb") as g, \
                    open(ir, "wb") as f:
                shutil.copyfileobj(g, f)
            os.environ["CASCADE_EMULATED_KERNEL"] = ir
        with open(os.path.join(case, kit["cubin"]), "rb") as f:
            function = driver.load(f.read(), kit["kernel"], kit["dynamic_shared_bytes"])
        pointers = []
        for buffer in kit["buffers"]:
            pointer = driver.allocate(buffer["bytes"])
            pointers.append(pointer)
            if "file" in buffer:
                with open(os.path.join(case, buffer["file"]), "rb") as f:
                    data = f.read()
                if len(data) != buffer["bytes"]:
                    raise RuntimeError(f"{buffer['file']} has {len(data)} bytes, "
                                       f"launch.json says {buffer['bytes']}")
                if data:
                    driver.call("cuMemcpyHtoD_v2", pointer, data, len(data))
            elif buffer["bytes"]:
                driver.call("cuMemsetD8_v2", pointer, buffer["fill"], buffer["bytes"])
        maps = []
        for m in kit["tensor_maps"]:
            device = driver.tensor_map(pointers[m["buffer"]], m["data_type"] == "bf16",
                                       m["dims"], m["strides"], m["box"],
                                       m["element_strides"], m["swizzle_bytes"])
            pointers.append(device)
            maps.append(device)
        params = []
        for p in kit["parameters"]:
            if "memref" in p:
                params += memref(pointers[p["memref"]], p["shape"])
            elif "i64" in p:
                params.append(ctypes.c_int64(p["i64"]))
            elif "i32" in p:
                params.append(ctypes.c_int32(p["i32"]))
            elif "f32" in p:
                params.append(ctypes.c_float(p["f32"]))
            elif "f64" in p:
                params.append(ctypes.c_double(p["f64"]))
            elif "tensor_map" in p:
                params.append(ctypes.c_uint64(maps[p["tensor_map"]]))
            else:
                raise RuntimeError(f"unknown parameter {p}")
        grid, block = kit["grid"], kit["block"]
        start = time.perf_counter()
        if grid[0] > 0:
            driver.launch(function, grid, block, kit["dynamic_shared_bytes"], params)
            driver.call("cuCtxSynchronize")
        seconds = time.perf_counter() - start
        report = {"status": "PASS", "worst": 0.0, "nonfinite": 0, "checked": 0,
                  "ms": seconds * 1e3, "device": driver.name}
        for index, output in enumerate(kit["outputs"]):
            size = kit["buffers"][output["buffer"]]["bytes"]
            raw = ctypes.create_string_buffer(max(size, 1))
            if size:
                driver.call("cuMemcpyDtoH_v2", raw, pointers[output["buffer"]], size)
            got = decode(raw.raw[:size], output["type"])
            ref, shape = read_npy(os.path.join(case, output["reference"]))
            tol, _ = read_npy(os.path.join(case, output["tolerance"]))
            if shape != output["shape"] or len(got) != len(ref) or len(tol) != len(ref):
                raise RuntimeError(f"output #{index}: {len(got)} values, the "
                                   f"reference has {len(ref)} of shape {shape}")
            overflow_at = output.get("overflow_at") or math.inf
            for at, (g, r, t) in enumerate(zip(got, ref, tol)):
                if not math.isnan(t):
                    report["checked"] += 1
                if not math.isfinite(g):
                    report["nonfinite"] += 1
                if math.isfinite(g) and math.isfinite(r) and not math.isnan(t):
                    report["worst"] = max(report["worst"], abs(g - r) / t)
                if not within(g, r, t, overflow_at) and report["status"] == "PASS":
                    report["status"] = "FAIL"
                    report["first"] = f"output #{index} element {at}: {g!r} vs {r!r} (bound {t:.3g})"
        print(json.dumps(report))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args):
    names = sorted(n for n in os.listdir(args.dir)
                   if os.path.exists(os.path.join(args.dir, n, "launch.json")))
    if not names:
        sys.exit(f"run: no cases in {args.dir} (prepare them first)")
    rows, failed = [], 0
    for name in names:
        case = os.path.join(args.dir, name)
        try:
            result = subprocess.run([sys.executable, os.path.abspath(__file__),
                                     "case", case], capture_output=True,
                                    text=True, timeout=args.timeout)
            report = json.loads(result.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            # A kernel that never finishes (a barrier or mbarrier no thread
            # arrives at): its process is killed, the next case goes on.
            report = {"status": "TIMEOUT", "why": f"over {args.timeout} s"}
        except (IndexError, ValueError):
            why = (result.stderr.strip().splitlines() or ["no output"])[-1]
            report = {"status": "ERROR", "why": why}
        with open(os.path.join(case, "launch.json")) as f:
            kit = json.load(f)
        report["name"] = name
        report["chip"] = kit["chip"]
        rows.append(report)
        line = f"{report['status']:5} {name} ({kit['chip']}, {kit['storage']})"
        if report["status"] in ("PASS", "FAIL"):
            line += (f": {report['checked']} elements, worst error/bound "
                     f"{report['worst']:.3g}, {report['nonfinite']} NaN/Inf")
        if "first" in report:
            line += f"; first failure {report['first']}"
        if "why" in report:
            line += f": {report['why']}"
        print(line, flush=True)
        failed += report["status"] not in ("PASS", "SKIP")
    passed = sum(r["status"] == "PASS" for r in rows)
    skipped = sum(r["status"] == "SKIP" for r in rows)
    device = next((r["device"] for r in rows if "device" in r), "no device")
    summary = (f"{len(rows)} cases on {device}: {passed} passed, {failed} failed, "
               f"{skipped} skipped")
    print(summary)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu-check.md"), "w") as f:
            f.write(f"# The library's check on {device}\n\n"
                    f"`python3 scripts/gpu-kit.py run {args.dir}`: {summary}.\n\n"
                    "| case | chip | status | elements | worst error/bound | NaN/Inf |\n"
                    "|---|---|---|---|---|---|\n")
            for r in rows:
                f.write(f"| {r['name']} | {r['chip']} | {r['status']} | "
                        f"{r.get('checked', '')} | "
                        f"{'%.3g' % r['worst'] if 'worst' in r else r.get('why', '')} | "
                        f"{r.get('nonfinite', '')} |\n")
    if failed:
        sys.exit(1)
    if not passed:
        sys.exit(f"run: no case of {args.dir} ran on {device}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="write the kit here (needs attn-run)")
    p.add_argument("dir")
    p.add_argument("--chip", required=True)
    p.add_argument("--only", help="comma-separated variants (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="one case per attention variant")
    p.add_argument("--bench", action=argparse.BooleanOptionalAction, default=True,
                   help="also write bench/gpu-bench.py's kernels to DIR/bench")
    p.add_argument("--attn-run", default=ATTN_RUN)
    r = sub.add_parser("run", help="replay every case on this machine's GPU")
    r.add_argument("dir")
    r.add_argument("--out", help="write gpu-check.md here")
    r.add_argument("--timeout", type=int, default=60,
                   help="seconds per case")
    c = sub.add_parser("case", help="replay one case (run's worker)")
    c.add_argument("dir")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args)
    elif args.command == "run":
        run(args)
    else:
        run_case(args.dir)


if __name__ == "__main__":
    main()
