"""A supervised probe on variant embeddings: logistic regression, scored out of fold.

Zero-shot LLRs need no labels; when some are at hand (e.g. a curated set of pathogenic and
benign variants), a linear probe on the model's embeddings often separates them better.
:func:`cross_val_probe` returns out-of-fold probabilities, so every variant is scored by a
probe that never saw its label; pass ``groups`` (e.g. chromosomes) to keep related variants
in one fold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import pandas as pd

from ..utils.device import DEFAULT_DEVICE
from ..utils.io import PathLike

__all__ = ["make_probe", "cross_val_probe", "score_with_probe"]


def make_probe(C: float = 1.0):
    """Standardise, then L2-regularised logistic regression (balanced classes)."""
    from ..probe import standardized_logreg

    return standardized_logreg(C=C, class_weight="balanced", max_iter=2000)


def cross_val_probe(features: np.ndarray, labels: Sequence[int], groups: Optional[Sequence[Any]] = None,
                    n_splits: int = 5, C: float = 1.0, seed: int = 0) -> np.ndarray:
    """Out-of-fold probability of label 1 for every row."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    if set(np.unique(y)) - {0, 1}:
        raise ValueError(f"probe labels must be 0/1, got {sorted(set(np.unique(y)))[:5]}")
    if y.min() == y.max():
        raise ValueError("probe labels need both classes")
    n_splits = int(min(n_splits, np.bincount(y).min()))
    if n_splits < 2:
        raise ValueError("the probe needs at least 2 examples of each class")
    if groups is not None:
        n_groups = len(np.unique(np.asarray(groups)))
        if n_groups < 2:
            raise ValueError("the probe needs at least 2 groups")
        splits = GroupKFold(n_splits=min(n_splits, n_groups)).split(X, y, groups)
    else:
        splits = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y)
    out = np.full(len(y), np.nan)
    for train, test in splits:
        if y[train].min() == y[train].max():
            continue  # a fold whose training part has one class: leave NaN
        probe = make_probe(C).fit(X[train], y[train])
        out[test] = probe.predict_proba(X[test])[:, 1]
    return out


def score_with_probe(model, genome, variants: PathLike, out: PathLike, *, label_column: str,
                     group_column: Optional[str] = None, window: Optional[int] = None, batch_size: int = 128,
                     skip_mismatch: bool = False, device: str = DEFAULT_DEVICE, precision: str = "fp32",
                     n_splits: int = 5) -> Dict[str, Any]:
    """Zero-shot score plus an out-of-fold ``probe_score`` for a labelled variants file."""
    from .scorer import VariantScorer
    from .variants import TableWriter, check_variants, load_model_and_genome, model_window, read_variants

    model, genome = load_model_and_genome(model, genome)
    df = read_variants(variants)
    if label_column not in df.columns:
        raise ValueError(f"{variants}: no label column {label_column!r}; found {list(df.columns)[:12]}")
    if group_column is not None and group_column not in df.columns:
        raise ValueError(f"{variants}: no group column {group_column!r}")
    checked = check_variants(df, genome, skip_mismatch=skip_mismatch, source=str(variants))
    ok = (checked["status"] == "ok").to_numpy()
    labels = pd.to_numeric(checked.loc[ok, label_column], errors="coerce")
    if labels.isna().any() or not set(labels.unique()) <= {0, 1}:
        raise ValueError(f"{variants}: column {label_column!r} must hold 0/1 labels")
    scorer = VariantScorer(model, genome, window=window or model_window(model), batch_size=batch_size,
                           device=device, precision=precision)
    sub = checked[ok]
    args = (sub["_contig"].to_numpy(), sub["_pos0"].to_numpy(), sub["ref"].astype(str).to_numpy(),
            sub["alt"].astype(str).to_numpy())
    feats = scorer.features(*args)
    result = checked.drop(columns=["_contig", "_pos0"])
    result["score"] = np.nan
    result.loc[ok, "score"] = feats[:, -1]
    result["probe_score"] = np.nan
    groups = sub[group_column].to_numpy() if group_column else None
    if groups is not None and len(pd.unique(groups)) < 2:
        raise ValueError(f"{variants}: column {group_column!r} holds one group among the scored variants; "
                         "grouped folds need at least 2")
    result.loc[ok, "probe_score"] = cross_val_probe(feats, labels.to_numpy(), groups, n_splits=n_splits)
    writer = TableWriter(Path(out))
    ok = False
    try:
        writer.write(result)
        ok = True
    finally:
        writer.close(ok)  # once: closing twice after a failed rename raised a second error
    counts = {str(k): int(v) for k, v in result["status"].value_counts().items()}
    return {"variants": len(result), "status_counts": counts, "out": str(out)}
