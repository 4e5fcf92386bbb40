"""Linear probes on frozen features: the downstream measure of a pretrained encoder.

A multinomial logistic regression on standardised features, fitted on the training split and
scored on a held-out split the encoder never saw in pretraining (top-1 accuracy). The same
probe on raw pixels and on a randomly initialised encoder gives the floor a pretrained model
has to clear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

import numpy as np
import torch

from .data import ImageSet
from .model import ViTMAE

__all__ = ["ProbeResult", "extract_features", "linear_probe", "probe_model", "probe_pixels"]


@dataclass
class ProbeResult:
    """Held-out top-1 accuracy and macro-F1 of a linear probe."""

    accuracy: float
    macro_f1: float
    n_train: int
    n_test: int
    n_features: int

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


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


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 C: float = 1.0, max_iter: int = 2000) -> ProbeResult:
    """Fit a logistic regression on standardised ``train_x`` (scaler fit on train only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if train_y is None or test_y is None:
        raise ValueError("a linear probe needs labelled images (an ImageFolder with class folders)")
    if len(np.unique(train_y)) < 2:
        raise ValueError("a linear probe needs at least two classes in the training split")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(train_x, train_y)
    pred = clf.predict(test_x)
    return ProbeResult(
        accuracy=float(accuracy_score(test_y, pred)),
        macro_f1=float(f1_score(test_y, pred, average="macro", zero_division=0)),
        n_train=int(len(train_y)), n_test=int(len(test_y)), n_features=int(train_x.shape[1]),
    )


def probe_model(model: ViTMAE, train: ImageSet, test: ImageSet, pool: str = "mean", C: float = 1.0) -> ProbeResult:
    """Linear probe on ``model``'s frozen features: fit on ``train``, score on ``test``."""
    return linear_probe(extract_features(model, train, pool=pool), train.labels,
                        extract_features(model, test, pool=pool), test.labels, C=C)


def probe_pixels(train: ImageSet, test: ImageSet, C: float = 1.0) -> ProbeResult:
    """The same probe on raw pixels (the baseline a learned representation should approach)."""
    flat = lambda s: s.images.reshape(len(s), -1).numpy()  # noqa: E731
    return linear_probe(flat(train), train.labels, flat(test), test.labels, C=C)
