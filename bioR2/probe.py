"""The linear probe every domain uses, and the result types of "pretrain, then probe".

- :func:`standardized_logreg`: z-scored features + L2 logistic regression (scikit-learn).
- :func:`linear_probe`: that probe fit on frozen features; held-out top-1 accuracy and macro-F1
  (:class:`ProbeResult`).
- :class:`ProbeRun`: one "pretrain at ratio p, width w, seed s, then probe" result (vision, text).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["ProbeRun", "ProbeResult", "linear_probe", "standardized_logreg"]


@dataclass
class ProbeRun:
    """One "pretrain at ratio p, width w, seed s, then probe" result (vision and text)."""

    mask_ratio: str
    width: int
    seed: int
    steps: int
    accuracy: float
    macro_f1: float
    final_loss: float
    val_loss: Optional[float]
    n_encoder_params: int
    loss_curve: List[Tuple[int, float, float]] = field(default_factory=list)
    model: Any = field(default=None, repr=False)  # the pretrained torch module

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able summary (without the model)."""
        out = {k: v for k, v in asdict(self).items() if k != "model"}
        out["loss_curve"] = [list(r) for r in self.loss_curve]
        return out


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


def standardized_logreg(C: float = 1.0, class_weight: Optional[str] = None, max_iter: int = 2000):
    """The linear probe every domain uses: a scikit-learn pipeline that z-scores the features
    (scaler fit on the training data only) and fits an L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter))


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 C: float = 1.0, max_iter: int = 2000) -> ProbeResult:
    """Fit a logistic regression on standardised ``train_x`` (scaler fit on train only)."""
    from sklearn.metrics import accuracy_score, f1_score

    if train_y is None or test_y is None:
        raise ValueError("a linear probe needs labels (e.g. class folders)")
    if len(np.unique(train_y)) < 2:
        raise ValueError("a linear probe needs at least two classes in the training split")
    clf = standardized_logreg(C=C, max_iter=max_iter)
    clf.fit(train_x, train_y)
    pred = clf.predict(test_x)
    return ProbeResult(
        accuracy=float(accuracy_score(test_y, pred)),
        macro_f1=float(f1_score(test_y, pred, average="macro", zero_division=0)),
        n_train=int(len(train_y)), n_test=int(len(test_y)), n_features=int(train_x.shape[1]),
    )
