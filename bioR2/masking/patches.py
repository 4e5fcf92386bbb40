"""MAE-style patch masking: per-sample noise -> argsort -> keep the first ``len_keep``.

One ratio per batch keeps ``len_keep`` equal across rows, so kept patches stack into a dense
``(B, len_keep, D)`` tensor and the encoder only ever sees those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .noise import RNGLike, uniform_like

__all__ = ["PatchMasking", "mask_patches", "num_kept", "keep_patches", "restore_patches"]


@dataclass
class PatchMasking:
    """Result of :func:`mask_patches`.

    ids_keep: ``(B, len_keep)`` indices of the visible patches, in shuffled order.
    ids_restore: ``(B, L)`` indices that undo the shuffle (``ids_shuffle.argsort()``).
    mask: ``(B, L)`` bool in the original patch order, ``True`` = masked (removed).
    """

    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor

    @property
    def len_keep(self) -> int:
        return int(self.ids_keep.shape[1])


def num_kept(num_patches: int, ratio: float) -> int:
    """``round(L * (1 - ratio))`` clamped to ``[1, L - 1]``: at least one patch is seen and
    at least one is predicted, at every ratio."""
    if num_patches < 2:
        raise ValueError(f"patch masking needs at least 2 patches, got {num_patches}")
    keep = int(math.floor(num_patches * (1.0 - ratio) + 0.5))
    return min(max(keep, 1), num_patches - 1)


def mask_patches(
    batch_size: int,
    num_patches: int,
    ratio: float,
    *,
    rng: RNGLike = None,
    device: Optional[torch.device] = None,
) -> PatchMasking:
    """Random patch masking of ``batch_size`` sequences of ``num_patches`` patches.

    ``ratio`` is one number for the whole batch: per-example ratios (a 1-D tensor, from a
    ``sample:`` form) are refused, because every row must keep the same ``len_keep``.
    """
    if isinstance(ratio, torch.Tensor) and ratio.dim() > 0:
        raise ValueError(
            "patch masking takes one ratio per batch (MAE keeps the same number of patches in "
            f"every row), got a tensor of shape {tuple(ratio.shape)}: per-example ratios "
            "(mask_ratio 'sample:...') are not supported for patches; use the per-batch form "
            "without 'sample:'"
        )
    device = torch.device(device) if device is not None else torch.device("cpu")
    len_keep = num_kept(num_patches, ratio)
    noise = uniform_like((batch_size, num_patches), rng, "patches.shuffle", device)
    ids_shuffle = noise.argsort(dim=1, stable=True)
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    mask = torch.ones(batch_size, num_patches, dtype=torch.bool, device=device)
    mask[:, :len_keep] = False
    mask = torch.gather(mask, 1, ids_restore)
    return PatchMasking(ids_keep=ids_keep, ids_restore=ids_restore, mask=mask)


def keep_patches(x: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
    """Select the visible patches: ``(B, L, D) -> (B, len_keep, D)``."""
    index = ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1])
    return torch.gather(x, 1, index)


def restore_patches(x_shuffled: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
    """Undo the shuffle: ``(B, L, D)`` in shuffled order (visible first, then mask tokens)
    back to the original patch order."""
    index = ids_restore.unsqueeze(-1).expand(-1, -1, x_shuffled.shape[-1])
    return torch.gather(x_shuffled, 1, index)
