"""Masking overhead: does R²MAE cost anything per step?

For each domain shape (DNA 512-token windows, 2,000-gene expression vectors, 16- and 49-patch
images, 128-token text), with a realistic batch and a small model of that domain's kind:

* ``mask_ms``: time to draw the step's ratio (``UniformRatio.sample``) and build the mask with
  the core's masker, driven by a ``MaskRNG`` as in training;
* ``step_ms``: one forward + backward + AdamW step of the small model on the masked batch;
* ``overhead``: ``mask_ms / step_ms`` (target: under 1% for R²MAE);
* ``r2mae_vs_fixed``: median step time (mask + step) with ratios drawn from the domain's R²MAE
  range, over the median with the range's mean as a fixed ratio (target: 1.00 ± 0.03).
  The two are interleaved step by step so machine noise hits both alike.

Usage::

    python benchmarks/masking.py --steps 40 --out benchmarks/results/masking.json
    python benchmarks/masking.py --device cuda --only single-cell    # on a GPU, the single-cell shapes

The masking share of a *real* single-cell training step (data reading included) is measured by
``benchmarks/sc_scale.py --feeding``; the GPU kit (``benchmarks/gpu``) runs that on the device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import torch
from torch import nn

from bioR2.masking import (
    FixedRatio,
    MaskRNG,
    UniformRatio,
    keep_patches,
    mask_expression,
    mask_patches,
    mask_tokens,
    restore_patches,
)


@dataclass
class Shape:
    name: str
    ratio: UniformRatio
    build: Callable[[], "Workload"]


class Workload:
    """A batch, a small model and the two halves of a step: making the mask, training on it."""

    def __init__(self, model: nn.Module, batch_size: int):
        self.model = model
        self.batch_size = batch_size
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def make_mask(self, ratio: float, rng: MaskRNG):  # pragma: no cover - per workload
        raise NotImplementedError

    def loss(self, masked) -> torch.Tensor:  # pragma: no cover - per workload
        raise NotImplementedError

    def train_step(self, masked) -> None:
        loss = self.loss(masked)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)


# ------------------------------------------------------------------ token workloads
class TokenWorkload(Workload):
    def __init__(self, model, batch_size, length, vocab, special, random_ids):
        super().__init__(model, batch_size)
        self.ids = torch.randint(len(special), vocab, (batch_size, length))
        self.special, self.random_ids, self.vocab = special, random_ids, vocab

    def make_mask(self, ratio, rng):
        return mask_tokens(self.ids, ratio, mask_token_id=1, special_ids=self.special,
                           random_token_ids=self.random_ids, vocab_size=self.vocab, rng=rng)

    def loss(self, masked):
        logits = self.model(masked.input_ids)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), masked.labels.reshape(-1))


class DilatedConvMLM(nn.Module):
    """GPN-style: embedding -> residual dilated 1-D convolutions -> per-base logits."""

    def __init__(self, vocab=7, dim=128, layers=6, kernel=9):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, kernel, padding="same", dilation=2 ** (i % 4)), nn.GELU(),
                          nn.BatchNorm1d(dim))
            for i in range(layers)
        )
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        h = self.embed(ids).transpose(1, 2)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h.transpose(1, 2))


class TransformerMLM(nn.Module):
    def __init__(self, vocab=8000, dim=128, layers=4, heads=4, length=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, length, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids) + self.pos[:, : ids.shape[1]]))


# ------------------------------------------------------------------ expression workload
class ExpressionWorkload(Workload):
    def __init__(self, batch_size=256, genes=2000, count="exact", only_nonzero=False):
        # the widths of bior2 pretrain sc's default (hidden 512,256, latent 64, mask-indicator input)
        widths = [2 * genes, 512, 256, 64, 256, 512, genes]
        layers: List[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.GELU()]
        model = nn.Sequential(*layers[:-1])
        super().__init__(model, batch_size)
        x = torch.rand(batch_size, genes)
        self.x = torch.log1p(x * (torch.rand(batch_size, genes) < 0.1) * 20)
        self.count = count
        self.only_nonzero = only_nonzero

    def make_mask(self, ratio, rng):
        return mask_expression(self.x, ratio, only_nonzero=self.only_nonzero, count=self.count, rng=rng)

    def loss(self, masked):
        recon = self.model(torch.cat([masked.x_masked, masked.mask.float()], dim=1))
        return ((recon - self.x) ** 2)[masked.mask].mean()


# ------------------------------------------------------------------ patch workload
class TinyViTMAE(nn.Module):
    def __init__(self, patches, patch_dim, dim=128, layers=4, dec_layers=1, heads=4):
        super().__init__()
        self.proj = nn.Linear(patch_dim, dim)
        self.pos = nn.Parameter(torch.zeros(1, patches, dim))
        enc = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, layers)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        dec = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerEncoder(dec, dec_layers)
        self.head = nn.Linear(dim, patch_dim)


class PatchWorkload(Workload):
    def __init__(self, batch_size, patches, patch_dim):
        super().__init__(TinyViTMAE(patches, patch_dim), batch_size)
        self.x = torch.rand(batch_size, patches, patch_dim)

    def make_mask(self, ratio, rng):
        return mask_patches(self.batch_size, self.x.shape[1], ratio, rng=rng)

    def loss(self, pm):
        m = self.model
        h = m.proj(self.x) + m.pos
        h = m.encoder(keep_patches(h, pm.ids_keep))  # the encoder sees kept patches only
        fill = m.mask_token.expand(h.shape[0], self.x.shape[1] - h.shape[1], -1)
        h = restore_patches(torch.cat([h, fill], dim=1), pm.ids_restore) + m.pos
        pred = m.head(m.decoder(h))
        per_patch = ((pred - self.x) ** 2).mean(dim=-1)
        return (per_patch * pm.mask).sum() / pm.mask.sum()


SHAPES: List[Shape] = [
    Shape("DNA 64x512 tokens, dilated CNN", UniformRatio(0.05, 0.3),
          lambda: TokenWorkload(DilatedConvMLM(), 64, 512, 7, special=[0, 1, 2], random_ids=[3, 4, 5, 6])),
    # bior2 pretrain sc's default: every gene eligible, exact count; then --only-nonzero and --count bernoulli
    Shape("single-cell 256x2000 genes, MLP, all genes, exact count (default)", UniformRatio(0.1, 0.5),
          lambda: ExpressionWorkload(256, 2000, "exact")),
    Shape("single-cell 256x2000 genes, MLP, all genes, Bernoulli count", UniformRatio(0.1, 0.5),
          lambda: ExpressionWorkload(256, 2000, "bernoulli")),
    Shape("single-cell 256x2000 genes (10% nonzero), MLP, nonzero only, exact count", UniformRatio(0.1, 0.5),
          lambda: ExpressionWorkload(256, 2000, "exact", only_nonzero=True)),
    Shape("single-cell 256x2000 genes (10% nonzero), MLP, nonzero only, Bernoulli count", UniformRatio(0.1, 0.5),
          lambda: ExpressionWorkload(256, 2000, "bernoulli", only_nonzero=True)),
    Shape("vision 256x16 patches (8x8 digits)", UniformRatio(0.6, 0.9), lambda: PatchWorkload(256, 16, 4)),
    Shape("vision 128x49 patches (28x28 MNIST)", UniformRatio(0.6, 0.9), lambda: PatchWorkload(128, 49, 16)),
    Shape("text 32x128 tokens, 4-layer transformer", UniformRatio(0.15, 0.4),
          lambda: TokenWorkload(TransformerMLM(), 32, 128, 8000, special=[0, 1, 2], random_ids=None)),
]


DEVICE = torch.device("cpu")


def _time(fn: Callable[[], object]) -> float:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    t0 = time.perf_counter()
    fn()
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    return time.perf_counter() - t0


def measure(shape: Shape, steps: int, seed: int = 0) -> Dict[str, float]:
    torch.manual_seed(seed)
    with torch.device(DEVICE):  # the workload's model and tensors on the measured device
        work = shape.build()
    ids = torch.arange(work.batch_size, device=DEVICE)
    fixed = FixedRatio(shape.ratio.mean)
    for warm in range(3):  # allocator and kernel warm-up
        work.train_step(work.make_mask(shape.ratio.sample(seed, warm), MaskRNG(seed, warm, ids)))
    mask_r2, step_r2, total_r2, total_fixed = [], [], [], []
    for step in range(steps):
        for sampler, totals in ((shape.ratio, total_r2), (fixed, total_fixed)):
            holder = {}

            def make():
                ratio = sampler.sample(seed, step)
                holder["m"] = work.make_mask(ratio, MaskRNG(seed, step, ids))

            t_mask = _time(make)
            t_step = _time(lambda: work.train_step(holder["m"]))
            totals.append(t_mask + t_step)
            if sampler is shape.ratio:
                mask_r2.append(t_mask)
                step_r2.append(t_step)
    mask_ms = statistics.median(mask_r2) * 1e3
    step_ms = statistics.median(step_r2) * 1e3
    return {
        "shape": shape.name,
        "range": shape.ratio.to_config(),
        "mask_ms": mask_ms,
        "step_ms": step_ms,
        "overhead_pct": 100.0 * mask_ms / step_ms,
        "r2mae_vs_fixed": statistics.median(total_r2) / statistics.median(total_fixed),
        "steps": steps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per scheme and shape")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared machine)")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    ap.add_argument("--only", default=None, help="only the shapes whose name contains this (e.g. single-cell)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = torch.device(args.device)
    rows = [measure(shape, args.steps) for shape in SHAPES if args.only is None or args.only in shape.name]
    print("| shape | R²MAE range | mask (ms) | step (ms) | mask / step | R²MAE step / fixed step |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r['range']} | {r['mask_ms']:.3f} | {r['step_ms']:.1f} | "
              f"{r['overhead_pct']:.2f}% | {r['r2mae_vs_fixed']:.3f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"threads": args.threads, "device": args.device, "torch": torch.__version__,
                                        "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
