"""Pretrains one domain's real task for a few steps through ``bioR2.pretrain``; the DDP and
gradient-accumulation exactness tests run it as 1 process, under ``torchrun`` with 2, and with
``--grad-accum 2``, then compare the weights.

python ddp_domain_worker.py DOMAIN SOURCE OUT [--grad-accum N] [--set section.key=value ...]
"""

from __future__ import annotations

import argparse

import torch

import bioR2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain")
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = bioR2.resolve_run_config(args.domain, overrides=args.overrides)
    config["train"].update(steps=3, batch_size=8, grad_accum=args.grad_accum, lr=1e-2, seed=3,
                           progress=False, device="cpu", eval_every=0, save_every=0, warmup_steps=0)
    bioR2.pretrain(args.domain, args.source, args.out, config=config, overwrite=True)


if __name__ == "__main__":
    main()
