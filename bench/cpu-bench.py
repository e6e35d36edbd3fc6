#!/usr/bin/env python3
"""CPU benchmark of the variant library against unfused OpenBLAS attention.

    python3 bench/cpu-bench.py [--quick] [--out docs/bench]

Runs `attn-run SPEC --target cpu --bench --baseline openblas` at B=1, H=8
(HKV=2 for GQA), N = P = M in {512, 1024, 2048, 4096}, D in {64, 128}, on
2 threads, and writes cpu.md (a table), cpu.csv and cpu.svg (GFLOP/s against
N). FLOPs are 4*B*H*P*M*D, halved for causal. --quick runs one small case
(a smoke test for CI) and writes nothing unless --out is given.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "build", "bin", "attn-run")
VARIANTS = ["softmax", "softmax_causal", "sigmoid", "softmax_gqa",
            "softmax_softcap", "linear"]


def bench(variant, n, d, threads, repeat):
    dims = f"b=1,h=8,p={n},m={n},e={d},f={d}"
    if variant == "softmax_gqa":
        dims += ",hkv=2"
    cmd = [RUN, os.path.join(ROOT, "variants", variant + ".mlir"),
           "--target", "cpu", "--dims", dims, "--num-threads", str(threads),
           "--bench", "--repeat", str(repeat), "--warmup", "1"]
    if variant in ("softmax", "softmax_causal", "sigmoid", "softmax_gqa"):
        cmd += ["--baseline", "openblas"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    ours = float(re.search(r"bench @\S+: .*?([\d.]+) GFLOP/s", out).group(1))
    compile_s = float(re.search(r"compile=([\d.]+)s", out).group(1))
    base = re.search(r"openblas .*?([\d.]+) GFLOP/s; ratio ours/openblas ([\d.]+)x", out)
    return ours, (float(base.group(1)) if base else None), compile_s


def svg(rows, path):
    width, height, left, bottom = 720, 420, 60, 40
    top = max(r["ours"] for r in rows) * 1.1
    ns = sorted({r["n"] for r in rows})
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    x = lambda n: left + (ns.index(n) + 0.5) * (width - left - 20) / len(ns)
    y = lambda v: height - bottom - v / top * (height - bottom - 20)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="14">CPU GFLOP/s (2 threads, fp32, B=1, H=8); solid D=64, dashed D=128; grey: OpenBLAS softmax</text>']
    for i in range(6):
        v = top * i / 5
        out.append(f'<line x1="{left}" x2="{width-20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="5" y="{y(v)+4:.1f}">{v:.0f}</text>')
    for n in ns:
        out.append(f'<text x="{x(n)-15:.1f}" y="{height-15}">N={n}</text>')
    series = [(v, d) for v in VARIANTS for d in (64, 128)]
    for k, (variant, d) in enumerate(series):
        pts = [(x(r["n"]), y(r["ours"])) for r in rows if r["variant"] == variant and r["d"] == d]
        if not pts:
            continue
        color = colors[VARIANTS.index(variant) % len(colors)]
        dash = "" if d == 64 else ' stroke-dasharray="5,4"'
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="' +
                   " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        if d == 64:
            out.append(f'<text x="{width-150}" y="{40 + 15*VARIANTS.index(variant)}" fill="{color}">{variant}</text>')
    for d in (64, 128):
        pts = [(x(r["n"]), y(r["openblas"])) for r in rows
               if r["variant"] == "softmax" and r["d"] == d and r["openblas"]]
        dash = "" if d == 64 else ' stroke-dasharray="5,4"'
        if pts:
            out.append(f'<polyline fill="none" stroke="#999" stroke-width="2"{dash} points="' +
                       " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sizes = [128] if args.quick else [512, 1024, 2048, 4096]
    dims = [64] if args.quick else [64, 128]
    variants = ["softmax"] if args.quick else VARIANTS
    rows = []
    for variant in variants:
        for d in dims:
            for n in sizes:
                ours, base, compile_s = bench(variant, n, d, args.threads,
                                              2 if args.quick else 5)
                rows.append(dict(variant=variant, d=d, n=n, ours=ours,
                                 openblas=base, compile=compile_s))
                ratio = f"{ours / base:.2f}x" if base else "-"
                print(f"{variant:16s} D={d:3d} N={n:5d}  {ours:7.1f} GFLOP/s"
                      f"  openblas {base or 0:6.1f}  ratio {ratio}"
                      f"  compile {compile_s:.2f}s", flush=True)
    out = args.out or (None if args.quick else os.path.join(ROOT, "docs", "bench"))
    if not out:
        return
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "cpu.csv"), "w") as f:
        f.write("variant,d,n,gflops,openblas_gflops,compile_s\n")
        for r in rows:
            f.write(f"{r['variant']},{r['d']},{r['n']},{r['ours']},{r['openblas'] or ''},{r['compile']}\n")
    with open(os.path.join(out, "cpu.md"), "w") as f:
        f.write("| variant | D | N | Cascade GFLOP/s | OpenBLAS GFLOP/s | ratio | compile s |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            base = f"{r['openblas']:.1f}" if r["openblas"] else "-"
            ratio = f"{r['ours'] / r['openblas']:.2f}x" if r["openblas"] else "-"
            f.write(f"| {r['variant']} | {r['d']} | {r['n']} | {r['ours']:.1f} | {base} | {ratio} | {r['compile']:.2f} |\n")
    svg(rows, os.path.join(out, "cpu.svg"))


if __name__ == "__main__":
    sys.exit(main())
