"""Metrics shared by every benchmark: AUPRC / AUROC with bootstrap confidence intervals,
accuracy and macro-F1, and mean ± sd summaries.

AUPRC is scikit-learn's average precision (the step-wise area GPN and the paper report).
Bootstraps can resample groups (e.g. ChIP-seq peaks) rather than rows, so that correlated
variants of one peak do not shrink the interval.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

__all__ = [
    "auprc",
    "auroc",
    "bootstrap_ci",
    "binary_metrics",
    "classification_metrics",
    "summarize",
    "paired_difference",
]


def _check_binary(labels: np.ndarray, scores: np.ndarray) -> None:
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or inf; drop unscored variants before computing metrics")
    uniq = set(np.unique(labels).tolist())
    if not uniq <= {0, 1, True, False}:
        raise ValueError(f"labels must be 0/1, got values {sorted(uniq)[:5]}")


def auprc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Average precision (area under the precision-recall curve); positives score high."""
    from sklearn.metrics import average_precision_score

    y, s = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    _check_binary(y, s)
    if y.sum() == 0:
        raise ValueError("AUPRC needs at least one positive")
    return float(average_precision_score(y, s))


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve; positives score high."""
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    _check_binary(y, s)
    if y.min() == y.max():
        raise ValueError("AUROC needs both positives and negatives")
    return float(roc_auc_score(y, s))


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    labels: Sequence[int],
    scores: Sequence[float],
    *,
    groups: Optional[Sequence[Any]] = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Dict[str, float]:
    """Point estimate and percentile bootstrap interval of ``metric(labels, scores)``.

    With ``groups``, whole groups are resampled (a cluster bootstrap). Resamples lacking a
    positive or a negative are skipped.
    """
    y, s = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    point = metric(y, s)
    rng = np.random.default_rng(seed)
    if groups is None:
        members = [np.array([i]) for i in range(len(y))]
    else:
        g = np.asarray(groups)
        _, inverse = np.unique(g, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        members = np.split(order, bounds)
    n_groups = len(members)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_groups, n_groups)
        idx = np.concatenate([members[i] for i in pick])
        yb = y[idx]
        if yb.min() == yb.max():
            continue
        values.append(metric(yb, s[idx]))
    alpha = (1.0 - level) / 2.0
    lo, hi = (np.quantile(values, [alpha, 1 - alpha]) if values else (np.nan, np.nan))
    return {"value": float(point), "ci_low": float(lo), "ci_high": float(hi), "n_boot": len(values)}


def binary_metrics(labels: Sequence[int], scores: Sequence[float], *, groups=None,
                   n_boot: int = 1000, seed: int = 0) -> Dict[str, Dict[str, float]]:
    """AUPRC and AUROC, each with a bootstrap CI."""
    return {
        "auprc": bootstrap_ci(auprc, labels, scores, groups=groups, n_boot=n_boot, seed=seed),
        "auroc": bootstrap_ci(auroc, labels, scores, groups=groups, n_boot=n_boot, seed=seed + 1),
    }


def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any]) -> Dict[str, Any]:
    """Accuracy, macro-F1 and per-class F1 of a labelling."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    per_class = f1_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "per_class_f1": {str(c): float(f) for c, f in zip(classes, per_class)},
    }


def summarize(values: Sequence[float]) -> Dict[str, Any]:
    """``{"mean", "sd", "values"}`` (sd with ddof=1; 0 for a single value)."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        raise ValueError("cannot summarise an empty list of values")
    sd = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "sd": sd, "values": [float(v) for v in arr]}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Dict[str, Any]:
    """Mean of ``a - b`` over matched pairs (same seed/fold) with its standard error."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired values must match in length, got {a.size} and {b.size}")
    d = a - b
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return {"mean": float(d.mean()), "se": se, "n": int(d.size), "values": [float(v) for v in d]}
