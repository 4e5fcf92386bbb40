"""Helpers shared by the benchmarks that compare masking schemes across seeds.

- :func:`method_key` names a masking scheme the way every ``results.json`` does
  (``r2mae``, ``fixed_0.15``, ``uniform_0-1``).
- :func:`summarize_methods` turns per-seed values into the ``{"mean", "sd", "values"}``
  entries of the shared schema, and :func:`paired_against` gives paired differences against a
  reference method (seed by seed, so the seed-to-seed spread that both share cancels).
- :func:`linear_probe`: logistic regression on frozen features, held-out top-1 accuracy.
- :func:`downsample_curve` and :func:`plot_loss_curves` draw pretraining loss curves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .masking import FixedRatio, MaskRatio, UniformRatio, parse_mask_ratio
from .metrics import paired_difference, summarize

__all__ = ["ProbeResult", "linear_probe", "method_key", "summarize_methods", "paired_against", "describe_standing", "downsample_curve", "plot_loss_curves"]


def method_key(ratio: Union[MaskRatio, str, float], r2mae_range: Optional[Union[MaskRatio, str]] = None) -> str:
    """``fixed_<p>`` for a fixed ratio, ``uniform_<low>-<high>`` for a range, and ``r2mae`` for
    the domain's R²MAE range ``r2mae_range``.

    >>> method_key("0.15"), method_key("0-1"), method_key("0.6-0.9", "0.6-0.9")
    ('fixed_0.15', 'uniform_0-1', 'r2mae')
    """
    ratio = parse_mask_ratio(ratio)
    if r2mae_range is not None and ratio == parse_mask_ratio(r2mae_range):
        return "r2mae"
    if isinstance(ratio, FixedRatio):
        return f"fixed_{ratio.to_config()}"
    if isinstance(ratio, UniformRatio):
        return f"uniform_{ratio.to_config()}"
    raise TypeError(f"unknown ratio kind {type(ratio).__name__}")  # pragma: no cover


def summarize_methods(values: Mapping[str, Mapping[str, Sequence[float]]]) -> Dict[str, Dict[str, Any]]:
    """``{method: {metric: [per-seed values]}} -> {method: {metric: {"mean", "sd", "values"}}}``."""
    return {m: {k: summarize(v) for k, v in metrics.items() if len(v)} for m, metrics in values.items()}


def paired_against(values: Mapping[str, Mapping[str, Sequence[float]]], reference: str,
                   metric: str) -> Dict[str, Dict[str, Any]]:
    """Seed-paired ``reference − method`` differences of ``metric`` for every other method
    that has as many values (a positive mean: the reference scores higher)."""
    ref = values[reference][metric]
    out = {}
    for name, metrics in values.items():
        other = metrics.get(metric)
        if name == reference or other is None or len(other) != len(ref) or len(ref) == 0:
            continue
        out[name] = paired_difference(ref, other)
    return out


def downsample_curve(curve: Sequence[Sequence[float]], max_points: int = 200) -> List[List[float]]:
    """Keep at most ``max_points`` rows of a ``[(step, value, ...), ...]`` curve, each the mean
    of a contiguous window (a smoothed curve that stays small in results.json)."""
    arr = np.asarray(curve, dtype=float)
    if arr.size == 0:
        return []
    if arr.ndim != 2:
        raise ValueError("a curve is a list of (step, value, ...) rows")
    if len(arr) <= max_points:
        return arr.tolist()
    edges = np.linspace(0, len(arr), max_points + 1).astype(int)
    rows = [arr[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    out = np.stack(rows)
    out[:, 0] = [arr[b - 1, 0] for a, b in zip(edges[:-1], edges[1:]) if b > a]  # the window's last step
    return out.tolist()


def plot_loss_curves(curves: Mapping[str, Sequence[Sequence[Sequence[float]]]], path: Union[str, Path],
                     title: str = "pretraining loss", ylabel: str = "training loss") -> Path:
    """One line per method (mean over seeds, band = min..max), from ``{method: [curve per seed]}``
    where each curve is ``[(step, loss, ...), ...]`` on the same steps. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .utils.io import atomic_path

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, runs in curves.items():
        runs = [np.asarray(r, dtype=float) for r in runs if len(r)]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        steps = runs[0][:n, 0]
        losses = np.stack([r[:n, 1] for r in runs])
        ax.plot(steps, losses.mean(axis=0), label=f"{name} (n={len(runs)})", lw=1.4)
        if len(runs) > 1:
            ax.fill_between(steps, losses.min(axis=0), losses.max(axis=0), alpha=0.15)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


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


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 C: float = 1.0, max_iter: int = 2000) -> ProbeResult:
    """Fit a logistic regression on standardised ``train_x`` (scaler fit on train only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if train_y is None or test_y is None:
        raise ValueError("a linear probe needs labels (e.g. class folders)")
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


def describe_standing(methods: Mapping[str, Any], paired: Mapping[str, Any], metric: str,
                      references: Mapping[str, str]) -> str:
    """Plain-words standing of ``r2mae`` among the masking schemes (``methods`` minus the
    ``references``, which are named baselines): its rank by mean ``metric``, each seed-paired
    difference called "within noise" when it is within 2 standard errors, and how it compares
    with each reference."""
    masked = {k: v[metric]["mean"] for k, v in methods.items() if k not in references and metric in v}
    if "r2mae" not in masked:
        return "R²MAE was not among the schemes run."
    ranked = sorted(masked, key=masked.get, reverse=True)
    best = ranked[0]
    lines = [f"R²MAE ranks {ranked.index('r2mae') + 1} of {len(ranked)} masking schemes by mean {metric} "
             f"(best: {best}, {masked[best]:.4f}; R²MAE {masked['r2mae']:.4f})."]
    for name, d in paired.items():
        if name in references:
            continue
        se = d["se"] if np.isfinite(d["se"]) else 0.0
        verdict = "within noise" if abs(d["mean"]) <= 2 * se else ("R²MAE higher" if d["mean"] > 0 else "R²MAE lower")
        lines.append(f"- vs {name}: {d['mean']:+.4f} ± {d['se']:.4f} (R²MAE minus it, paired over seeds; {verdict})")
    for name, words in references.items():
        ref = methods.get(name, {}).get(metric, {}).get("mean")
        if ref is not None:
            beats = masked["r2mae"] > ref
            lines.append(f"- {words} ({name}) scores {ref:.4f}: R²MAE pretraining "
                         + ("beats it." if beats else "does NOT beat it at this budget."))
    return "\n".join(lines)
