"""Re-ID training loss: memory and time vs the number of identities, ours vs FairMOT's.

OUTrack's point: FairMOT learns Re-ID as classification, one class per
identity, so its classifier grows with the identities in the training data, beyond the
size of the detector itself for CrowdHuman; the unsupervised loss
(:func:`utrack_ros.losses.unsupervised_reid_loss`, Eq. 1-8) has no parameters at all.

Measured per identity count (default 1k, 14k = FairMOT's MOT training mix, 339k =
CrowdHuman as counted by the paper), for one training step of the Re-ID loss on a
realistic batch (default 12 images x 30 objects = 6 frame pairs, embeddings D = 256):

- ``ours``: :func:`unsupervised_reid_loss` on each pair (one of the 6 a negative pair,
  Eq. 7), mean over pairs (Eq. 8), backward. No parameters, no optimiser state; it does not
  depend on the number of identities, so it is measured once.
- ``FairMOT``: :class:`utrack_ros.losses.SupervisedIdentityLoss` ``(num_ids, 256)``
  (Linear(D, num_ids) on scaled unit embeddings + cross-entropy), backward, and an Adam
  step (lr 1e-4) on the classifier, as in FairMOT's training.

Reported: parameters; exact bytes of parameters, gradients and Adam state (from the
tensors); the peak memory one step adds (CPU: the process's peak resident set, VmHWM
reset with ``/proc/self/clear_refs`` just before, minus the resident set then, so it
includes creating the classifier and its first Adam step; CUDA:
``torch.cuda.max_memory_allocated`` minus what was allocated before); milliseconds per
steady-state step (median after warm-up). Every measurement runs in its own subprocess.
Ratios compare FairMOT's to ours measured in the same run. Our joint detector's
parameter counts (random init) stand beside the classifier's, as the paper compares them.

    python benchmarks/bench_reid_memory.py                       # CPU (+ CUDA if available)
    python benchmarks/bench_reid_memory.py --ids 1000 14000 --steps 3   # quicker

Never run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import cpu_name, run_worker

#: The paper's numbers: classifier parameters for CrowdHuman's identities vs the
#: rest of FairMOT's DLA-34 model.
PAPER_CLASSIFIER_M = 54.0
PAPER_MODEL_M = 19.4

MiB = 2**20


# --------------------------------------------------------------------------- worker


def _status_kb(key: str) -> int | None:
    """``VmRSS`` / ``VmHWM`` of this process in kB (Linux), None elsewhere."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    """Reset the peak resident set (VmHWM) to the current one; False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _tensor_bytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one loss (``spec["kind"]``: ``ours`` or ``fairmot``) in a fresh process."""
    import resource

    import torch

    from utrack_ros.losses import SupervisedIdentityLoss, unsupervised_reid_loss

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = torch.device(spec["device"])
    cuda = device.type == "cuda"
    n_images, n_obj, dim = spec["images"], spec["objects"], spec["dim"]
    if n_images % 2:
        raise ValueError("--images must be even (frame pairs)")
    n_pairs = n_images // 2
    # The id head's output gathered at the objects: one leaf standing in for the network.
    emb = torch.randn(n_images * n_obj, dim, device=device, requires_grad=True)

    def make_step(kind: str, num_ids: int, feats_leaf: torch.Tensor, n_obj_: int) -> tuple:
        """A closure doing one training step of the loss ``kind`` on ``feats_leaf``."""
        if kind == "fairmot":
            loss_fn = SupervisedIdentityLoss(num_ids, dim).to(device)
            optimizer = torch.optim.Adam(loss_fn.parameters(), lr=1e-4)
            ids = torch.randint(0, num_ids, (feats_leaf.shape[0],), device=device)

            def step() -> None:
                optimizer.zero_grad()
                feats_leaf.grad = None
                loss_fn(feats_leaf, ids).backward()
                optimizer.step()

            return step, loss_fn, optimizer
        if kind == "ours":
            negative = [p == n_pairs - 1 for p in range(n_pairs)]  # 1 of 6: neg_ratio ~ 0.25

            def step() -> None:
                feats_leaf.grad = None
                feats = feats_leaf.view(n_pairs, 2, n_obj_, dim)
                losses = [unsupervised_reid_loss(feats[p, 0], feats[p, 1],
                                                 negative=negative[p])
                          for p in range(n_pairs)]
                torch.stack(losses).mean().backward()

            return step, None, None
        raise ValueError(f"unknown kind {kind!r}")

    # One step of a tiny instance of the same loss first, so that lazily loaded code and
    # allocator / autograd initialisation are not counted as the loss's memory.
    tiny = torch.randn(n_images * 2, dim, device=device, requires_grad=True)
    make_step(spec["kind"], 3, tiny, 2)[0]()
    del tiny
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)
    sync()

    peak_reset = _reset_peak_rss()
    rss_before_kb = _status_kb("VmRSS") or 0
    maxrss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)

    step, loss_fn, optimizer = make_step(spec["kind"], spec["num_ids"], emb, n_obj)
    out: dict[str, Any] = {**spec, "params": 0, "param_bytes": 0, "grad_bytes": 0,
                           "adam_bytes": 0}
    step()  # the first step: creates gradients and (FairMOT) the Adam state
    sync()
    if peak_reset:
        out["peak_step_mib"] = ((_status_kb("VmHWM") or 0) - rss_before_kb) / 1024.0
        out["peak_method"] = "VmHWM delta"
    else:  # ru_maxrss is a lifetime peak: only growth beyond the earlier peak shows
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_step_mib"] = max(0, maxrss - maxrss_before_kb) / 1024.0
        out["peak_method"] = "ru_maxrss delta (lower bound)"
    if cuda:
        out["cuda_peak_step_mib"] = (torch.cuda.max_memory_allocated(device)
                                     - cuda_before) / MiB
    if spec["kind"] == "fairmot":
        params = list(loss_fn.parameters())
        out["params"] = sum(p.numel() for p in params)
        out["param_bytes"] = _tensor_bytes(params)
        out["grad_bytes"] = _tensor_bytes(p.grad for p in params if p.grad is not None)
        out["adam_bytes"] = _tensor_bytes(
            v for state in optimizer.state.values() for v in state.values()
            if isinstance(v, torch.Tensor))

    for _ in range(spec["warmup"]):
        step()
    sync()
    times = []
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    out["ms_median"] = statistics.median(times)
    out["ms_best"] = min(times)
    out["ms_all"] = times
    out["torch"] = torch.__version__
    return out


def model_params(backbone: str) -> dict[str, float]:
    """Parameters (millions) of our joint detector, random init, default config."""
    from utrack_ros.model import build_model

    model = build_model({"backbone": backbone, "pretrained": None})
    cfg = model.config
    heads = sum(p.numel() for p in model.heads.parameters())
    return {"params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "heads_m": heads / 1e6, "head_conv": cfg.head_conv, "id_dim": cfg.id_dim,
            "deformable": bool(cfg.deformable)}


# --------------------------------------------------------------------------- driver




def _mib(n_bytes: float) -> str:
    return f"{n_bytes / MiB:9.1f}"


def _ratio(a: float, b: float) -> str:
    if b <= 0:
        return "n/a (ours below resolution)"
    return f"x{a / b:,.1f}" if a / b < 100 else f"x{a / b:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, nargs="+", default=[1000, 14000, 339000],
                        help="identity counts for FairMOT's classifier")
    parser.add_argument("--images", type=int, default=12, help="images per batch (even)")
    parser.add_argument("--objects", type=int, default=30, help="objects per image")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension D")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto = CPU, plus CUDA when available")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-models", action="store_true",
                        help="skip building our detectors for their parameter counts")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.images < 2 or args.images % 2:
        parser.error("--images must be a positive even number (frame pairs)")
    if min(args.ids) < 3:
        parser.error("--ids: FairMOT's classifier needs at least 3 identities")

    import torch

    devices = ["cpu"] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            parser.error("--device cuda: CUDA is not available")
        devices.append("cuda")

    print("reproduce: " + shlex.join(["python", os.path.relpath(__file__),
                                      *(sys.argv[1:] if argv is None else argv)]))
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), {cpu_name()}, "
          f"{os.cpu_count()} cores; batch {args.images} images x {args.objects} objects "
          f"({args.images // 2} pairs), D = {args.dim}; time = median of {args.steps} steps "
          f"after {1 + args.warmup} untimed")
    base = {"images": args.images, "objects": args.objects, "dim": args.dim,
            "steps": args.steps, "warmup": args.warmup, "threads": args.threads}
    results: list[dict[str, Any]] = []
    header = (f"{'dev':4s} {'loss':8s} {'ids':>7s} {'params':>11s} {'params MiB':>10s} "
              f"{'grads MiB':>9s} {'Adam MiB':>9s} {'peak MiB':>9s} {'ms/step':>9s}")
    for dev in devices:
        print(f"\n{header}" + ("   (peak: CPU resident / CUDA allocated)" if dev == "cuda"
                                else ""))
        ours = run_worker(__file__, {**base, "device": dev, "kind": "ours", "num_ids": 0})
        results.append(ours)
        rows = [ours] + [
            run_worker(__file__, {**base, "device": dev, "kind": "fairmot", "num_ids": n})
            for n in args.ids
        ]
        results.extend(rows[1:])
        for r in rows:
            peak = r["cuda_peak_step_mib"] if dev == "cuda" else r["peak_step_mib"]
            ids = "any" if r["kind"] == "ours" else f"{r['num_ids']:,}"
            print(f"{dev:4s} {'ours' if r['kind'] == 'ours' else 'FairMOT':8s} {ids:>7s} "
                  f"{r['params']:11,d} {_mib(r['param_bytes']):>10s} "
                  f"{_mib(r['grad_bytes']):>9s} {_mib(r['adam_bytes']):>9s} "
                  f"{peak:9.1f} {r['ms_median']:9.2f}", flush=True)
        print(f"\nratios FairMOT / ours ({dev}, same run):")
        ours_peak = ours["cuda_peak_step_mib"] if dev == "cuda" else ours["peak_step_mib"]
        for r in rows[1:]:
            peak = r["cuda_peak_step_mib"] if dev == "cuda" else r["peak_step_mib"]
            persistent = r["param_bytes"] + r["adam_bytes"]
            print(f"  {r['num_ids']:>7,} ids: time {_ratio(r['ms_median'], ours['ms_median'])}"
                  f", peak step memory {_ratio(peak, ours_peak)} ({peak:,.1f} vs "
                  f"{ours_peak:,.2f} MiB); params + Adam state {persistent / MiB:,.1f} MiB "
                  f"vs 0 (+ {r['grad_bytes'] / MiB:,.1f} MiB gradients)")
    if devices:
        print(f"\npeak memory method ({devices[0]}): {results[0]['peak_method']}; it "
              "includes the classifier's creation, its gradients, Adam state and the step's "
              "activations; ours is only the step's activations and gradients (RSS has "
              "page / allocator granularity).")

    if not args.no_models:
        print("\nparameter counts (millions) beside the classifier, as the paper compares:")
        models = {bb: model_params(bb) for bb in ("dla34", "mobilenetv2")}
        for bb, m in models.items():
            print(f"  our {bb:11s} joint detector: {m['params_m']:6.2f}M (heads "
                  f"{m['heads_m']:.2f}M, head_conv {m['head_conv']}, id_dim {m['id_dim']}"
                  + (", deformable convs" if m["deformable"] else "")
                  + (", plain convs (no torchvision)" if bb == "dla34" and not m["deformable"]
                     else "") + ")")
        for n in args.ids:
            cls_m = (args.dim + 1) * n / 1e6
            print(f"  FairMOT classifier, {n:>7,} ids x D {args.dim}: {cls_m:7.2f}M = "
                  f"x{cls_m / models['dla34']['params_m']:.2f} our dla34, "
                  f"x{cls_m / models['mobilenetv2']['params_m']:.2f} our mobilenetv2")
        print(f"  paper: classifier {PAPER_CLASSIFIER_M}M vs the rest of the DLA-34 "
              f"model {PAPER_MODEL_M}M (x{PAPER_CLASSIFIER_M / PAPER_MODEL_M:.2f}); "
              "ours counts (D + 1) x ids")
        for r in results:
            r["models"] = models
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
