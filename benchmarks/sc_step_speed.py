"""Single-cell pretraining step time on the CPU, measured the way the recipe search trains.

``ExpressionMAE.for_reader(reader, rows, ...)`` then ``bioR2.sc.pretrain((reader, rows), model=...,
train=TrainConfig(...))`` over an in-memory ``ExpressionReader(MemorySource(adata))`` of a benchmark
dataset (default cbmc: 7,839 cells x 500 genes of counts), MLP 256, 128 -> 64, batch 256, R²MAE
ratios 0.1-0.5. Steps are timed between the trainer's per-step callbacks after ``--warmup`` steps
(start-up and the gene-statistics pass left out); ``--repeats`` runs, the median of their ms/step.
Each step's loss is written to ``--out`` (JSON), so two versions' trajectories can be compared::

    OMP_NUM_THREADS=1 python benchmarks/sc_step_speed.py --steps 300 --repeats 3 --out /tmp/after.json
    python benchmarks/sc_step_speed.py --compare /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def run_once(reader, rows, *, steps: int, seed: int, hidden, latent: int, dropout: float, loss: str,
             batch_size: int, warmup: int, profile: str = "") -> dict:
    import torch

    from bioR2.sc.model import ExpressionMAE
    from bioR2.sc import pretrain
    from bioR2.train import TrainConfig

    stamps, losses = [], []

    def on_step(record):
        stamps.append(time.perf_counter())
        losses.append(record["loss"])

    tc = TrainConfig(steps=steps, batch_size=batch_size, lr=1e-3, mask_ratio="0.1-0.5", seed=seed,
                     progress=False, log_every=steps, weight_decay=0.01)
    torch.manual_seed(seed)
    model = ExpressionMAE.for_reader(reader, rows, seed=seed, hidden=list(hidden), latent=latent, dropout=dropout,
                                     loss=loss)
    prof = None
    if profile == "cprofile":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    result = pretrain((reader, rows), model=model, train=tc, callbacks=[on_step])
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(45)
    w = min(warmup, len(stamps) - 2)
    ms = 1e3 * (stamps[-1] - stamps[w]) / (len(stamps) - 1 - w)
    weights = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    return {"ms_per_step": ms, "losses": losses, "weights": weights}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cbmc")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--loss", default="mse")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", default="", choices=("", "cprofile"))
    ap.add_argument("--out", default=None, help="JSON with ms/step and the per-step losses (final weights: .pt beside)")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two --out files and exit")
    args = ap.parse_args(argv)

    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        la, lb = np.asarray(a["losses"]), np.asarray(b["losses"])
        n = min(la.size, lb.size)
        rel = np.abs(la[:n] - lb[:n]) / np.maximum(np.abs(la[:n]), 1e-12)
        out = {"steps_compared": int(n), "max_rel_loss_diff": float(rel.max()),
               "steps_with_a_difference": int((rel > 0).sum()), "final_losses": [la[n - 1], lb[n - 1]],
               "before_ms": a["ms_per_step"], "after_ms": b["ms_per_step"],
               "speedup": a["ms_per_step"] / b["ms_per_step"]}
        pa, pb = (Path(p).with_suffix(".pt") for p in args.compare)
        if pa.exists() and pb.exists():  # final weights: largest difference over each tensor's largest entry
            import torch

            wa, wb = torch.load(str(pa)), torch.load(str(pb))
            out["max_rel_weight_diff"] = max(float((wa[k] - wb[k]).abs().max() / wa[k].abs().max().clamp_min(1e-12))
                                             for k in wa)
        print(json.dumps(out, indent=2))
        return 0

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    from bioR2.bench.sc_datasets import load_dataset
    from bioR2.sc.data import ExpressionReader, MemorySource

    adata, _ = load_dataset(args.dataset)
    reader = ExpressionReader(MemorySource(adata, where=args.dataset))
    rows = np.arange(reader.n_obs)
    hidden = [int(h) for h in args.hidden.split(",")]
    runs = []
    for _ in range(args.repeats):
        runs.append(run_once(reader, rows, steps=args.steps, seed=args.seed, hidden=hidden, latent=args.latent,
                             dropout=args.dropout, loss=args.loss, batch_size=args.batch_size, warmup=args.warmup,
                             profile=args.profile))
        print(f"{runs[-1]['ms_per_step']:.2f} ms/step, final loss {runs[-1]['losses'][-1]:.6f}", flush=True)
    for r in runs[1:]:  # the repeats are the same run: same losses, same weights
        assert r["losses"] == runs[0]["losses"], "repeats differ"
    report = {"dataset": args.dataset, "steps": args.steps, "warmup": args.warmup, "hidden": hidden,
              "latent": args.latent, "batch_size": args.batch_size, "threads": args.threads,
              "runs_ms": [round(r["ms_per_step"], 3) for r in runs],
              "ms_per_step": float(np.median([r["ms_per_step"] for r in runs])), "losses": runs[0]["losses"]}
    print(json.dumps({k: v for k, v in report.items() if k != "losses"}))
    if args.out:
        Path(args.out).write_text(json.dumps(report))
        torch.save(runs[0]["weights"], str(Path(args.out).with_suffix(".pt")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
