#!/usr/bin/env python3
"""Time one MoE layer's expert compute on a GPU and compare it with ballast's cost model.

For each expert shape (DeepSeek-V3: H 7168, F 2048; Qwen3-30B-A3B: H 2048, F 768) and each
tokens-per-expert n in 1, 2, 4, ..., 4096, the script runs A experts (default 8, the experts one
rank holds in an EP8 deployment of a 64-expert layer) on n tokens each, in bf16:
  gate_up = x @ W1[e] (H -> 2F), act = silu(gate) * up, out = act @ W2[e] (F -> H)
with torch's grouped GEMM (torch._grouped_mm) when this torch has it, else one matmul pair per expert.
It reports, per shape:
  - measured time per active expert against n, and the memory-bound -> compute-bound crossover
    (the intersection of the low-n plateau and the high-n slope, both fitted on the measurements)
  - achieved HBM bandwidth on the plateau (expert bytes / time) and achieved TFLOP/s at the largest n,
    as fractions of the GPU's datasheet figures (--hbm-gbs, --tflops): the measured hbmEff and eff
  - the cost model's prediction with its defaults (docs/cost-model.md: hbmEff 0.9, eff 0.78, c0 2.3 us)
and writes the measurements as CSV (tokens,active_experts,time_us) for `ballast simulate --calibrate`.

Budget: stops starting new points after --budget-s seconds (default 420 s, under 8 minutes).

GPU: not run by this project yet (no GPU was lent to the task that wrote it); see bench/RESULTS.md.
CPU dry run (tiny shapes, checks the script end to end, numbers mean nothing for a GPU):
  /usr/bin/python3 bench/gpu-moe-layer.py --dry-run --out /tmp/moe-cpu.csv
GPU run (H200: 4800 GB/s, 989 dense BF16 TFLOP/s):
  python3 bench/gpu-moe-layer.py --hbm-gbs 4800 --tflops 989 --out moe-h200.csv --json moe-h200.json
"""
import argparse
import json
import math
import sys
import time

import torch

SHAPES = {
    # config.json values: deepseek-ai/DeepSeek-V3 (hidden_size, moe_intermediate_size);
    # Qwen/Qwen3-30B-A3B (hidden_size, moe_intermediate_size).
    "deepseek-v3": (7168, 2048),
    "qwen3-30b-a3b": (2048, 768),
}
# Dry run: tiny shapes so a CPU finishes in seconds.
DRY_SHAPES = {"tiny-a": (256, 128), "tiny-b": (128, 64)}

# Cost-model defaults (docs/cost-model.md).
MODEL_HBM_EFF = 0.9
MODEL_EFF = 0.78
MODEL_C0_US = 2.3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES))
    p.add_argument("--experts", type=int, default=8, help="active experts per layer on this GPU (A)")
    p.add_argument("--max-tokens", type=int, default=4096, help="largest tokens per expert (powers of 2 from 1)")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--hbm-gbs", type=float, default=4800.0, help="datasheet HBM GB/s (H200: 4800)")
    p.add_argument("--tflops", type=float, default=989.0, help="datasheet dense BF16 TFLOP/s (H100/H200: 989)")
    p.add_argument("--budget-s", type=float, default=420.0)
    p.add_argument("--loop", action="store_true", help="force the per-expert loop even if grouped GEMM exists")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, tokens up to 64, float32")
    p.add_argument("--out", help="CSV of measurements for ballast simulate --calibrate")
    p.add_argument("--json", help="JSON summary")
    return p.parse_args()


def grouped_available():
    return hasattr(torch, "_grouped_mm")


def make_layer(H, F, A, dtype, device):
    g = torch.Generator(device="cpu").manual_seed(0)
    w1 = (torch.randn(A, H, 2 * F, generator=g) / math.sqrt(H)).to(dtype=dtype, device=device)
    w2 = (torch.randn(A, F, H, generator=g) / math.sqrt(F)).to(dtype=dtype, device=device)
    return w1, w2


def run_loop(x, w1, w2, n):
    """Per-expert loop: x [A*n, H] grouped by expert, n rows each."""
    outs = []
    F = w2.shape[1]
    for e in range(w1.shape[0]):
        xe = x[e * n:(e + 1) * n]
        gu = xe @ w1[e]
        act = torch.nn.functional.silu(gu[:, :F]) * gu[:, F:]
        outs.append(act @ w2[e])
    return torch.cat(outs)


def run_grouped(x, w1, w2, offs):
    F = w2.shape[1]
    gu = torch._grouped_mm(x, w1, offs=offs)
    act = torch.nn.functional.silu(gu[:, :F]) * gu[:, F:]
    return torch._grouped_mm(act, w2, offs=offs)


def time_us(fn, iters, warmup, device):
    for _ in range(warmup):
        fn()
    samples = []
    if device == "cuda":
        torch.cuda.synchronize()
        for _ in range(iters):
            s = torch.cuda.Event(enable_timing=True)
            e = torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            samples.append(s.elapsed_time(e) * 1000.0)
    else:
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return samples[len(samples) // 2]


def fit_crossover(points):
    """points: [(n, us_per_expert)]. Plateau = median of the 3 smallest n; slope = least squares through
    the origin-free line on the points at or above 4x the plateau's n-range end... simply: the 3 largest n.
    Returns (plateau_us, slope_us_per_token, intercept_us, crossover_n)."""
    pts = sorted(points)
    low = sorted(t for _, t in pts[:3])
    plateau = low[len(low) // 2]
    hi = pts[-3:]
    xs = [n for n, _ in hi]
    ys = [t for _, t in hi]
    mx = sum(xs) / len(xs)
    my = sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else float("nan")
    intercept = my - slope * mx
    cross = (plateau - intercept) / slope if slope > 0 else float("nan")
    return plateau, slope, intercept, cross


def model_us_per_expert(H, F, n, hbm_gbs, tflops, bytes_per_weight=2):
    be = 3 * H * F * bytes_per_weight
    mem = be / (MODEL_HBM_EFF * hbm_gbs * 1e3)
    comp = 6 * H * F * n / (MODEL_EFF * tflops * 1e6)
    return MODEL_C0_US + max(mem, comp)


def main():
    a = parse_args()
    device = "cpu" if a.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu-moe-layer: no CUDA device; run with --dry-run on a CPU", file=sys.stderr)
        return 2
    if a.dry_run:
        torch.set_num_threads(1)  # a shared CPU: one thread keeps the dry run from contending
    dtype = torch.float32 if a.dry_run else torch.bfloat16
    shapes = DRY_SHAPES if a.dry_run else {k: SHAPES[k] for k in a.shapes.split(",") if k}
    max_tokens = min(a.max_tokens, 64) if a.dry_run else a.max_tokens
    use_grouped = grouped_available() and not a.loop and not a.dry_run
    A = a.experts
    t_start = time.time()
    rows = []
    summary = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (dry run: numbers mean nothing for a GPU)",
        "torch": torch.__version__,
        "kernel": "torch._grouped_mm" if use_grouped else "per-expert loop (x @ W1[e], silu*up, @ W2[e])",
        "dtype": str(dtype).replace("torch.", ""),
        "activeExperts": A,
        "datasheet": {"hbmGBs": a.hbm_gbs, "tflops": a.tflops},
        "costModel": {"hbmEff": MODEL_HBM_EFF, "eff": MODEL_EFF, "c0Us": MODEL_C0_US},
        "shapes": {},
    }
    print(f"device {summary['device']}, torch {summary['torch']}, {summary['kernel']}, {summary['dtype']}, {A} active experts")
    for name, (H, F) in shapes.items():
        w1, w2 = make_layer(H, F, A, dtype, device)
        pts = []
        n = 1
        while n <= max_tokens:
            if time.time() - t_start > a.budget_s:
                print(f"  budget of {a.budget_s:.0f} s reached: stopping before n = {n}")
                break
            x = torch.randn(A * n, H, dtype=dtype, device=device)
            if use_grouped:
                offs = torch.arange(1, A + 1, device=device, dtype=torch.int32) * n
                fn = lambda: run_grouped(x, w1, w2, offs)
            else:
                fn = lambda: run_loop(x, w1, w2, n)
            us = time_us(fn, a.iters, a.warmup, device)
            pts.append((n, us / A))
            rows.append((name, n * A, A, us))
            pred = model_us_per_expert(H, F, n, a.hbm_gbs, a.tflops, 4 if a.dry_run else 2)
            print(f"  {name:14s} n={n:5d}  {us / A:10.2f} us/expert  (cost model {pred:8.2f})")
            n *= 2
        if len(pts) < 4:
            continue
        plateau, slope, intercept, cross = fit_crossover(pts)
        bpw = 4 if a.dry_run else 2
        be = 3 * H * F * bpw
        hbm_eff = be / (plateau * 1e-6) / (a.hbm_gbs * 1e9)
        n_max, t_max = pts[-1]
        eff = 6 * H * F * n_max / (t_max * 1e-6) / (a.tflops * 1e12)
        model_cross = bpw * MODEL_EFF * a.tflops * 1e12 / (2 * MODEL_HBM_EFF * a.hbm_gbs * 1e9)
        summary["shapes"][name] = {
            "H": H, "F": F, "expertBytes": be,
            "plateauUsPerExpert": plateau, "slopeUsPerToken": slope,
            "measuredCrossoverTokens": cross, "costModelCrossoverTokens": model_cross,
            "measuredHbmEff": hbm_eff, "measuredEff": eff, "atTokensPerExpert": n_max,
        }
        print(f"  {name}: crossover measured {cross:.0f} tokens/expert, cost model {model_cross:.0f}; "
              f"hbmEff measured {hbm_eff:.3f} (model {MODEL_HBM_EFF}), eff at n={n_max} {eff:.3f} (model {MODEL_EFF})")
    if a.out:
        with open(a.out, "w") as f:
            f.write("tokens,active_experts,time_us\n")
            for _, tokens, A_, us in rows:
                f.write(f"{tokens},{A_},{us:.3f}\n")
        print(f"wrote {len(rows)} measurements to {a.out} (ballast simulate --calibrate {a.out})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
