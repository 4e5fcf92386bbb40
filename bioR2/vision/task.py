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
    reconstruct the hidden ones."""

    def __init__(self, model: ViTMAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Dict[str, torch.Tensor], mask_ratio: float, rng: MaskRNG) -> TaskOutput:
        imgs = batch["image"]
        masking = mask_patches(imgs.shape[0], self.model.num_patches, mask_ratio, rng=rng, device=imgs.device)
        out = self.model(imgs, masking)
        n = int(imgs.shape[0])
        return TaskOutput(
            loss=out.loss, n_examples=n, n_tokens=n * self.model.num_patches,
            metrics={"visible_patches": float(masking.len_keep)},
        )
