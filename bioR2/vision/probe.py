"""Linear probes on frozen features: the downstream measure of a pretrained encoder.

A multinomial logistic regression on standardised features, fitted on the training split and
scored on a held-out split the encoder never saw in pretraining (top-1 accuracy). The same
probe on raw pixels and on a randomly initialised encoder gives the floor a pretrained model
has to clear.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..probe import ProbeResult, ProbeRun, linear_probe
from .data import ImageSet
from .model import ViTMAE

__all__ = ["ProbeResult", "ProbeRun", "extract_features", "linear_probe", "probe_model", "probe_pixels"]


@torch.no_grad()
def extract_features(model: ViTMAE, images: ImageSet, batch_size: int = 256, pool: str = "mean",
                     device: Optional[str] = None) -> np.ndarray:
    """``(N, D)`` frozen features of every image (no masking; the model is put in eval mode)."""
    device = torch.device(device) if device else next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = images.images[start:start + batch_size].to(device)
        chunks.append(model.features(batch, pool=pool).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(chunks, axis=0)


def probe_model(model: ViTMAE, train: ImageSet, test: ImageSet, pool: str = "mean", C: float = 1.0) -> ProbeResult:
    """Linear probe on ``model``'s frozen features: fit on ``train``, score on ``test``."""
    return linear_probe(extract_features(model, train, pool=pool), train.labels,
                        extract_features(model, test, pool=pool), test.labels, C=C)


def probe_pixels(train: ImageSet, test: ImageSet, C: float = 1.0) -> ProbeResult:
    """The same probe on raw pixels (the baseline a learned representation should approach)."""
    flat = lambda s: s.images.reshape(len(s), -1).numpy()  # noqa: E731
    return linear_probe(flat(train), train.labels, flat(test), test.labels, C=C)
