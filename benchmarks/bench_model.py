"""Speed and memory of the joint detector: MobileNetV2 vs DLA-34, head_conv 64 vs 256.

DESIGN §4: the official heads are 3x3 conv 256 -> ReLU -> 1x1 (paper §4.1); at output
stride 4 six such heads can cost more than the backbone on a CPU. This measures it.

Every configuration runs in its own subprocess, so its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``; on CUDA also
``torch.cuda.max_memory_allocated``) is its own. Reported per configuration: parameters,
conv multiply-accumulates (from forward hooks), forward time (batch 1, inference mode;
best of the iterations, robust to other load on a shared CPU, and median), frames/s from
the best, the time of backbone + neck alone and of each head alone on the shared stride-4
map, and peak memory. Ratios compare configurations measured in the same run.

    python benchmarks/bench_model.py                       # CPU (+ CUDA if available)
    python benchmarks/bench_model.py --iters 3 --min-time 1  # quicker
    python benchmarks/bench_model.py --device cpu --backbones mobilenetv2 --head-convs 64 256
    python benchmarks/bench_model.py --variant centertrack   # OTrack_ct: + previous image/heatmap

Never run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import cpu_name, run_worker

DEFAULT_SIZES = {"mobilenetv2": (384, 512), "dla34": (608, 1088)}


# --------------------------------------------------------------------------- worker


def _conv_macs(model: Any, x: Any) -> dict[str, int]:
    """Multiply-accumulates of every Conv2d / ConvTranspose2d, summed per component."""
    import torch
    from torch import nn

    totals: dict[str, int] = {}
    handles = []

    def component(name: str) -> str:
        parts = name.split(".")
        if parts[0] == "heads":  # heads.heads.<name>.<i>
            return f"head:{parts[2]}"
        return parts[0]

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            key = component(name)

            def hook(mod, inp, out, key=key):
                kk = mod.kernel_size[0] * mod.kernel_size[1]
                if isinstance(mod, nn.Conv2d):
                    macs = out.numel() * (mod.in_channels // mod.groups) * kk
                else:  # each input element is spread over k*k*out/groups outputs
                    macs = inp[0].numel() * (mod.out_channels // mod.groups) * kk
                totals[key] = totals.get(key, 0) + int(macs)

            handles.append(module.register_forward_hook(hook))
        elif type(module).__name__ == "ModulatedDeformConv3x3":  # functional conv inside
            key = component(name)

            def dcn_hook(mod, inp, out, key=key):
                totals[key] = totals.get(key, 0) + int(out.numel() * mod.weight[0].numel())

            handles.append(module.register_forward_hook(dcn_hook))
    with torch.inference_mode():
        model(x)
    for h in handles:
        h.remove()
    return totals


def _time(fn: Any, iters: int, warmup: int, sync: Any, min_time: float = 0.0) -> list[float]:
    """Per-call ms: ``warmup`` untimed calls, then at least ``iters`` timed calls and, up to
    200 calls, at least ``min_time`` seconds in all."""
    for _ in range(warmup):
        fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < iters or (time.perf_counter() - start < min_time and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration (runs in a fresh process)."""
    import resource

    import torch

    from utrack_ros.model import build_model

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    rss_base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = build_model(
        {"backbone": spec["backbone"], "input_size": spec["input_size"],
         "head_conv": spec["head_conv"], "pretrained": None,
         "variant": spec.get("variant", "fairmot")}
    ).eval().to(device)
    x = torch.randn(1, 3, *spec["input_size"], device=device)
    inputs = [x]
    if model.variant == "centertrack":  # previous image + previous-frame heatmap
        inputs += [torch.randn_like(x), torch.rand(1, 1, *spec["input_size"], device=device)]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    macs = _conv_macs(model, x)
    iters, warmup = spec["iters"], spec["warmup"]
    with torch.inference_mode():
        min_time = spec["min_time"]
        total = _time(lambda: model(*inputs), iters, warmup, sync, min_time)
        body = _time(lambda: model.features(*inputs), iters, warmup, sync, min_time)
        feat = model.features(*inputs)
        heads = {
            name: min(_time(lambda head=head: head(feat), iters, max(1, warmup), sync))
            for name, head in model.heads.heads.items()
        }
    out = {
        **spec,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gmacs": sum(macs.values()) / 1e9,
        "gmacs_heads": sum(v for k, v in macs.items() if k.startswith("head:")) / 1e9,
        "gmacs_per_part": {k: v / 1e9 for k, v in macs.items()},
        "ms_best": min(total),
        "ms_median": statistics.median(total),
        "ms_all": total,
        "ms_body": min(body),
        "ms_heads": heads,
        "ms_heads_sum": sum(heads.values()),
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_after_import_mb": rss_base_kb / 1024.0,
        "torch": torch.__version__,
        "deformable": bool(model.config.deformable),
    }
    out["fps"] = 1000.0 / out["ms_best"]
    if device.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["device_name"] = torch.cuda.get_device_name(device)
    return out


# --------------------------------------------------------------------------- driver




def _row(r: dict[str, Any]) -> str:
    mem = f"{r['rss_peak_mb']:7.0f}"
    if "cuda_peak_mb" in r:
        mem += f" / {r['cuda_peak_mb']:6.0f} cuda"
    return (
        f"{r['device']:5s} {r['backbone']:12s} {r['head_conv']:4d} "
        f"{r['input_size'][0]:4d}x{r['input_size'][1]:<5d} {r['params_m']:7.2f} "
        f"{r['gmacs']:7.2f} {r['gmacs_heads'] / r['gmacs']:6.0%} "
        f"{r['ms_best']:8.1f} {r['ms_median']:8.1f} {len(r['ms_all']):3d} "
        f"{r['fps']:7.2f} {r['ms_body']:9.1f} {r['ms_heads_sum']:9.1f}  {mem}"
    )


def _size(r: dict[str, Any]) -> str:
    return f"{r['input_size'][0]}x{r['input_size'][1]}"


def _ratios(results: list[dict[str, Any]]) -> list[str]:
    by = {(r["device"], r["backbone"], r["head_conv"]): r for r in results}
    lines = []
    for dev in sorted({r["device"] for r in results}):
        for bb in ("mobilenetv2", "dla34"):
            lo, hi = by.get((dev, bb, 64)), by.get((dev, bb, 256))
            if lo and hi:
                lines.append(
                    f"{dev} {bb}: head_conv 256 vs 64: "
                    f"time x{hi['ms_best'] / lo['ms_best']:.2f}, "
                    f"heads time x{hi['ms_heads_sum'] / lo['ms_heads_sum']:.2f}, "
                    f"MACs x{hi['gmacs'] / lo['gmacs']:.2f}, "
                    f"peak RSS x{hi['rss_peak_mb'] / lo['rss_peak_mb']:.2f}"
                )
        for hc in (64, 256):
            m, d = by.get((dev, "mobilenetv2", hc)), by.get((dev, "dla34", hc))
            if m and d:
                lines.append(
                    f"{dev} dla34 vs mobilenetv2 (both head_conv {hc}; input "
                    f"{_size(d)} vs {_size(m)}): "
                    f"time x{d['ms_best'] / m['ms_best']:.2f}, "
                    f"MACs x{d['gmacs'] / m['gmacs']:.2f}, "
                    f"peak RSS x{d['rss_peak_mb'] / m['rss_peak_mb']:.2f}"
                )
        m, d = by.get((dev, "mobilenetv2", 64)), by.get((dev, "dla34", 256))
        if m and d:
            lines.append(
                f"{dev} defaults, dla34/256 (paper) vs mobilenetv2/64 (ours): "
                f"time x{d['ms_best'] / m['ms_best']:.2f}, fps {d['fps']:.2f} vs "
                f"{m['fps']:.2f}, MACs x{d['gmacs'] / m['gmacs']:.2f}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["mobilenetv2", "dla34"],
                        choices=["mobilenetv2", "dla34"])
    parser.add_argument("--head-convs", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--variant", choices=["fairmot", "centertrack"], default="fairmot",
                        help="model variant (centertrack: OTrack_ct, 3 inputs, tracking head)")
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), default=None,
                        help="one size for all backbones (default: each backbone's default)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto = CPU, plus CUDA when available")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=3.0,
                        help="keep timing a forward until this many seconds (max 200 calls)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch CPU threads (default: all cores)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    devices = ["cpu"] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            parser.error("--device cuda: CUDA is not available")
        devices.append("cuda")

    script = os.path.relpath(__file__)
    print("reproduce: " + shlex.join(["python", script, *(sys.argv[1:] if argv is None else argv)]))
    print(f"torch {torch.__version__}, {args.threads} CPU threads, {cpu_name()}, "
          f"{os.cpu_count()} cores; batch 1, inference_mode, random init, "
          f"variant {args.variant}, "
          f">= {args.iters} timed iterations (and >= {args.min_time:g} s) after {args.warmup} "
          "warm-up; times are the best "
          "of the iterations (robust to other load on a shared CPU), 'med' the median")
    header = (f"{'dev':5s} {'backbone':12s} {'head':>4s} {'input':10s} {'params':>7s} "
              f"{'GMACs':>7s} {'heads%':>6s} {'best ms':>8s} {'med ms':>8s} {'n':>3s} {'fps':>7s} "
              f"{'body ms':>9s} "
              f"{'heads ms':>9s}  peak RSS MB")
    print(header)
    results = []
    for dev in devices:
        for bb in args.backbones:
            for hc in args.head_convs:
                spec = {
                    "backbone": bb, "head_conv": hc, "device": dev, "iters": args.iters,
                    "warmup": args.warmup, "threads": args.threads, "min_time": args.min_time,
                    "input_size": list(args.input_size or DEFAULT_SIZES[bb]),
                    "variant": args.variant,
                }
                r = run_worker(__file__, spec)
                results.append(r)
                print(_row(r), flush=True)
    print("\nper-head time (ms, each head alone on the stride-4 map):")
    for r in results:
        heads = ", ".join(f"{k} {v:.1f}" for k, v in r["ms_heads"].items())
        print(f"  {r['device']} {r['backbone']}/{r['head_conv']}: {heads}")
    print("\nratios (same run):")
    for line in _ratios(results):
        print("  " + line)
    print("\n'body' = backbone + neck; 'heads ms' = sum of the heads run one by one "
          "(slightly more than inside the full forward); peak RSS includes the ~"
          f"{results[0]['rss_after_import_mb']:.0f} MB of the Python + torch process.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
