"""The MAE pretraining task: the one piece the shared trainer needs from the vision domain."""

from __future__ import annotations

from typing import Dict

import torch

from ..masking import MaskRNG, mask_patches
from ..train import Task, TaskOutput
from .model import ViTMAE

__all__ = ["MAETask"]


class MAETask(Task):
    """Masked-patch reconstruction: hide a ``mask_ratio`` fraction of each image's patches
    (one ratio per batch, so every row keeps the same number of patches), encode the rest,
    reconstruct the hidden ones.

    The loss is the SUM over the hidden patches of each patch's mean squared error over its
    pixels (on per-patch normalised pixels with ``norm_pix_loss``), with ``n_items`` = the
    number of hidden patches: the trainer divides by the count over every micro-batch and
    process, which gives MAE's mean over hidden patches for the global batch
    (``ViTMAE.forward``'s ``loss`` is the same mean for one batch).
    """

    def __init__(self, model: ViTMAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Dict[str, torch.Tensor], mask_ratio: float, rng: MaskRNG) -> TaskOutput:
        imgs = batch["image"]
        masking = mask_patches(imgs.shape[0], self.model.num_patches, mask_ratio, rng=rng, device=imgs.device)
        out = self.model(imgs, masking)
        per_patch = ((out.pred - self.model.reconstruction_target(imgs)) ** 2).mean(dim=-1)
        hidden = out.mask.to(per_patch.dtype)
        n = int(imgs.shape[0])
        return TaskOutput(
            loss=(per_patch * hidden).sum(), n_items=float(out.mask.sum()), n_examples=n,
            n_tokens=n * self.model.num_patches,
            metrics={"visible_patches": float(masking.len_keep)},
        )
