#!/usr/bin/env python3
"""The variant zoo on the CPU: passes over m and speed, one table.

    python3 bench/zoo.py [--quick] [--out docs/bench]

For every spec of variants/ (issue 11's zoo table): the passes over the key
rank m before and after cascade-minimize-passes (attn-opt's remarks), then
`attn-run SPEC --target cpu --bench` at B=1, H=8 (HKV=2 for GQA), D=64,
N = P = M in {2048, 8192}, 2 threads: median time and GFLOP/s as attn-run
counts them (2 per multiply-add of the contractions the kernel computes,
visible pairs only for masked specs). Then the scaling of the linear
family: time at N=16384 over time at N=2048 (linear cost is 8x, quadratic
64x). Writes zoo.md under --out; --quick runs N=256 only and writes
nothing unless --out is given.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")

# variant -> where it comes from.
PAPERS = {
    "softmax": "Vaswani et al. 2017 (3-pass cascade, FuseMax)",
    "softmax_onepass": "online softmax (Milakov & Gimelshein 2018), written by hand",
    "softmax_causal": "causal softmax, bottom-right aligned",
    "softmax_gqa": "GQA (Ainslie et al. 2023)",
    "softmax_softcap": "logit soft-capping (Gemma 2)",
    "softmax_sink_window": "sinks + window as a select to -inf (no predicate)",
    "softmax_window": "sliding window (Longformer, Mistral)",
    "softmax_sinks_window": "StreamingLLM (Xiao et al. 2023)",
    "softmax_prefix_lm": "prefix LM (T5, UniLM)",
    "softmax_document": "packed documents (FlexAttention's document mask)",
    "softmax_alibi": "ALiBi (Press et al. 2021)",
    "sigmoid": "FlashSigmoid (Ramapuram et al. 2024)",
    "softplus": "softplus kernel, row-normalised",
    "relu": "ReLU attention (Wortsman et al. 2023)",
    "gated_output": "Gated Attention (Qiu et al. 2025)",
    "linear": "linear attention (Katharopoulos et al. 2020)",
    "linear_associated": "linear attention, phi(Q)(phi(K)^T V) by hand",
    "linear_causal": "causal linear attention (Katharopoulos et al. 2020)",
    "retention": "RetNet retention, parallel form (Sun et al. 2023)",
    "lightning": "Lightning Attention (Qin et al. 2024), parallel form",
    "differential": "Differential Transformer (Ye et al. 2024), lambda 0.5",
    "gla": "Gated Linear Attention (Yang et al. 2024), parallel form",
    "based": "BASED (Arora et al. 2024), Taylor feature map, quadratic form",
    "hedgehog": "Hedgehog (Zhang et al. 2024), learned feature map W, R=64, chunked",
}
# The linear family, whose cost should grow linearly in N (issue 11).
LINEAR_FAMILY = ["linear", "linear_causal", "retention", "lightning", "gla",
                 "hedgehog"]


def passes(variant):
    spec = os.path.join(ROOT, "variants", variant + ".mlir")
    out = subprocess.run(
        [os.path.join(BIN, "attn-opt"), spec, "--cascade-minimize-passes",
         "-o", os.devnull], check=True, capture_output=True, text=True).stderr
    found = re.search(r"passes\(m\): (\d+) -> (\d+)", out)
    return f"{found.group(1)} -> {found.group(2)}" if found else "?"


def bench(variant, n, repeat):
    dims = f"b=1,h=8,p={n},m={n},e=64,f=64"
    if variant == "softmax_gqa":
        dims += ",hkv=2"
    if variant == "hedgehog":
        dims += ",r=64"
    cmd = [os.path.join(BIN, "attn-run"),
           os.path.join(ROOT, "variants", variant + ".mlir"),
           "--target", "cpu", "--dims", dims, "--num-threads", "2",
           "--bench", "--repeat", str(repeat), "--warmup", "1"]
    print("zoo:", " ".join(cmd[1:]), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    found = re.search(r"median ([\d.]+) ms .*?([\d.]+) GFLOP/s", out)
    # A chunked kernel does not compute the quadratic form attn-run counts.
    mark = "*" if "effective rate" in out else ""
    return float(found.group(1)), f"{float(found.group(2)):.1f}{mark}"



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    variants = sorted(
        f[:-5] for f in os.listdir(os.path.join(ROOT, "variants"))
        if f.endswith(".mlir"))
    missing = [v for v in variants if v not in PAPERS]
    if missing:
        sys.exit(f"zoo.py: no paper listed for {', '.join(missing)}")
    sizes = [256] if args.quick else [2048, 8192]
    lines = ["| variant | from | passes over m | " +
             " | ".join(f"N={n} ms | N={n} GFLOP/s" for n in sizes) + " |",
             "|---|---|---|" + "---|---|" * len(sizes)]
    for v in variants:
        cells = [v, PAPERS[v], passes(v)]
        for n in sizes:
            ms, gflops = bench(v, n, 3 if n >= 8192 else 5)
            cells += [f"{ms:.1f}", gflops]
        lines.append("| " + " | ".join(cells) + " |")
    small, large = (256, 1024) if args.quick else (2048, 16384)
    scaling = [f"| variant | N={small} ms | N={large} ms | ratio (linear: "
               f"{large // small}x, quadratic: {(large // small) ** 2}x) |",
               "|---|---|---|---|"]
    for v in LINEAR_FAMILY:
        t0, _ = bench(v, small, 5)
        # Three runs at the large size too: one run on this shared 2-core
        # machine can land in a slow spell and misstate the ratio.
        t1, _ = bench(v, large, 3)
        scaling.append(f"| {v} | {t0:.1f} | {t1:.1f} | {t1 / t0:.1f}x |")
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    text = "\n".join([
        "# The variant zoo on the CPU", "",
        f"`python3 bench/zoo.py --out docs/bench` on {os.cpu_count()} cores "
        f"({cpu}), 2 threads, fp32, B=1, H=8 (HKV=2 for GQA), D=64, "
        "P = M = N. Passes over m: before -> after cascade-minimize-passes. "
        "GFLOP/s count 2 per multiply-add of the contractions the kernel "
        "computes (visible pairs only where a mask skips tiles), so a "
        "reassociated linear spec counts its own, smaller work; * marks an "
        "effective rate: the kernel is chunked (cascade-chunk) and computes "
        "far fewer FLOPs than the quadratic form counted. The machine is "
        "shared: a run that lands in a slow spell reads 10-30% slow, so "
        "check a surprising ratio with attn-run directly "
        "(docs/LinearFamily.md has such reruns).", ""]
        + lines + ["", "## Scaling of the linear family", ""] + scaling
        + [""])
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "zoo.md"), "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
