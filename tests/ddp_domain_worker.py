"""Pretrains for a few steps, once per ``--grad-accum`` value, into ``OUT/ga<N>``; the DDP and
gradient-accumulation exactness tests run it as 1 process and under ``torchrun`` with 2, then
compare the weights.

python ddp_domain_worker.py DOMAIN SOURCE OUT [--grad-accum N ...] [--optimizer sgd|adamw]
                            [--set section.key=value ...]

DOMAIN is a real domain (``dna``, ``sc``, ``vision``, ``text``: its task through
``bioR2.pretrain``), or ``toy-sum`` / ``toy-mean`` / ``toy-sum,toy-mean``: a toy autoencoder
whose Bernoulli masks give every rank a different number of masked entries, its loss returned
as a sum with ``n_items`` or as the old per-batch mean, each form into ``OUT/<form>/ga<N>``
(SOURCE is ignored).

The optimizer is plain SGD by default: the weights are then a linear function of the
gradients, so comparing weights compares gradients. AdamW divides each gradient entry by its
own magnitude, so an entry whose exact gradient is ~0 (an attention key bias's is exactly 0)
moves by up to ``lr`` on rounding noise alone, whatever the loss normalisation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

STEPS, BATCH, SEED = 3, 8, 3
LR = {"sgd": 0.1, "adamw": 1e-2}


class _SGD(torch.optim.SGD):
    """Takes the trainer's AdamW arguments; keeps each group's weight decay."""

    def __init__(self, params, lr, betas=None, fused=False, **_ignored):
        super().__init__(params, lr=lr)


def _toy(kind: str, out: Path, grad_accum: int, lr: float) -> None:
    from toy import ToyAutoencoder, ToyData

    from bioR2.masking import mask_expression
    from bioR2.train import Task, TaskOutput, TrainConfig, Trainer

    class BernoulliToyTask(Task):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, batch, mask_ratio, rng):
            x = batch["x"]
            masked = mask_expression(x, mask_ratio, rng=rng, count="bernoulli")  # counts differ per row
            sq = (self.model(masked.x_masked, masked.mask) - x) ** 2
            if kind == "toy-mean":  # the old form: a mean over this micro-batch's masked entries
                return TaskOutput(loss=sq[masked.mask].mean(), n_examples=x.shape[0])
            return TaskOutput(loss=sq[masked.mask].sum(), n_items=masked.mask.sum(), n_examples=x.shape[0])

    torch.manual_seed(1234)  # identical initial weights in every process
    task = BernoulliToyTask(ToyAutoencoder(n_features=16, hidden=32))
    cfg = TrainConfig(steps=STEPS, batch_size=2 * BATCH, grad_accum=grad_accum, mask_ratio="0.1-0.5", lr=lr,
                      seed=SEED, warmup_steps=0, progress=False, device="cpu")
    Trainer(task, ToyData(n=96), cfg, out, val_dataset=ToyData(n=32, seed=1), overwrite=True).fit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain")
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--grad-accum", type=int, nargs="+", default=[1])
    ap.add_argument("--optimizer", choices=sorted(LR), default="sgd")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.optimizer == "sgd":
        torch.optim.AdamW = _SGD  # this process only: the trainer builds its optimizer from here
    lr = LR[args.optimizer]
    for grad_accum in args.grad_accum:
        out = Path(args.out) / f"ga{grad_accum}"
        if args.domain.startswith("toy-"):
            for kind in args.domain.split(","):
                _toy(kind, Path(args.out) / kind / f"ga{grad_accum}", grad_accum, lr)
            continue
        import bioR2

        config = bioR2.resolve_run_config(args.domain, overrides=args.overrides)
        config["train"].update(steps=STEPS, batch_size=BATCH, grad_accum=grad_accum, lr=lr, seed=SEED,
                               progress=False, device="cpu", eval_every=0, save_every=0, warmup_steps=0)
        bioR2.pretrain(args.domain, args.source, out, config=config, overwrite=True)


if __name__ == "__main__":
    main()
