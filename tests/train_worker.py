"""Runs the toy task through the shared Trainer; used by the DDP and kill/resume tests.

python train_worker.py OUT [--steps N] [--save-every K] [--die-at STEP] [--resume] [--dropout D]
Also launched under torchrun (every rank records its ratio per step to OUT/ratios-rank<R>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy import ToyAutoencoder, ToyData, ToyTask  # noqa: E402

from bioR2.train import TrainConfig, Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--die-at", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--mask-ratio", default="0.1-0.5")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1234)  # identical initial weights in every process
    task = ToyTask(ToyAutoencoder(n_features=16, hidden=32, dropout=args.dropout))
    ratios = []

    def record(rec):
        ratios.append([rec["step"], rec["mask_ratio"]])
        if args.die_at and rec["step"] == args.die_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill, no clean-up

    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                      mask_ratio=args.mask_ratio, save_every=args.save_every, lr=3e-3, seed=5,
                      progress=False)
    Trainer(task, ToyData(n=96), cfg, args.out, val_dataset=ToyData(n=32, seed=1), resume=args.resume,
            callbacks=[record]).fit()
    rank = int(os.environ.get("RANK", "0"))
    Path(args.out, f"ratios-rank{rank}.json").write_text(json.dumps(ratios))


if __name__ == "__main__":
    main()
