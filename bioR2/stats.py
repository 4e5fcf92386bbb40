"""How a benchmark says whether a model is ahead of a baseline: a paired difference, its 95 %
t-interval over the unit that varies, and one word for it.

The pairing unit is what repeats independently:

* a baseline that is **deterministic per fold** (logistic regression, the k-mer model) has one
  value per fold, so the model's seeds are averaged within each fold first and the difference
  is paired over **folds** (pairing over seed x fold would count each baseline value once per
  seed and make the interval too narrow);
* a baseline that varies with the seed too (another masking scheme, scVI trained per seed) is
  paired over **seed x fold**;
* with a single fixed test set (one "fold", e.g. the DNA benchmark's test chromosomes) only the
  seeds vary: the difference is paired over **seeds**, and the interval covers seed-to-seed
  spread, not the sampling of the test set (the bootstrap intervals in results.json cover that).

The verdict is ``"ahead"`` only when the whole interval is above 0, ``"behind"`` only when it
is below 0, and ``"tie"`` otherwise (also when fewer than two pairs leave no interval).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

__all__ = ["paired_comparison", "t_interval", "verdict", "comparison_table"]

ArrayLike = Union[Sequence[float], Sequence[Sequence[float]], np.ndarray]


def t_interval(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``diffs`` and its two-sided Student-t interval (``nan`` bounds for < 2 values)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        raise ValueError("a paired difference needs at least one pair")
    mean = float(d.mean())
    if d.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2.0, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return mean, mean - half, mean + half


def verdict(lo: Optional[float], hi: Optional[float]) -> str:
    """``"ahead"`` when ``lo > 0``, ``"behind"`` when ``hi < 0``, ``"tie"`` otherwise (or no interval)."""
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "tie"
    if lo > 0:
        return "ahead"
    if hi < 0:
        return "behind"
    return "tie"


def paired_comparison(model: ArrayLike, baseline: ArrayLike, *, metric: str, higher_is_better: bool = True,
                      level: float = 0.95) -> Dict[str, Any]:
    """Model minus baseline, paired over the unit that varies, as a ``comparisons`` entry.

    Parameters
    ----------
    model
        The model's values, ``[n_seeds, n_folds]`` (a 1-D list is one value per seed on a
        single test set, i.e. ``[n_seeds, 1]``).
    baseline
        ``[n_folds]`` (or a scalar for one test set): deterministic per fold; or
        ``[n_seeds, n_folds]``: it varies with the seed too. A 2-D baseline whose rows are all
        equal is treated as deterministic.
    metric
        Name of the metric (recorded in the entry).
    higher_is_better
        ``False`` for an error (MSE): the verdict then reads a negative difference as ahead.
    level
        Coverage of the interval (the entry's key stays ``ci95`` only for 0.95).

    Returns
    -------
    dict
        ``{"metric", "diff", "ci95": [lo, hi], "unit", "n", "verdict"}``; ``diff`` is
        model − baseline; ``ci95`` bounds are ``None`` when there are fewer than two pairs.

    Examples
    --------
    >>> paired_comparison([[0.9, 0.92], [0.91, 0.93]], [0.8, 0.85], metric="acc")["unit"]
    'fold'
    """
    m = np.asarray(model, dtype=float)
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"model values must be [n_seeds, n_folds], got shape {np.shape(model)}")
    n_seeds, n_folds = m.shape
    b = np.asarray(baseline, dtype=float)
    if b.ndim == 2 and b.shape == m.shape and np.allclose(b, b[:1]):
        b = b[0]  # the same value at every seed: deterministic per fold
    if b.ndim == 0:
        b = b[None]
    if b.ndim == 1:
        if b.size != n_folds:
            raise ValueError(f"baseline has {b.size} values per seed but the model has {n_folds} folds")
        if n_folds >= 2:
            diffs, unit = m.mean(axis=0) - b, "fold"
        else:
            diffs, unit = m[:, 0] - b[0], "seed"
    elif b.shape == m.shape:
        diffs = (m - b).ravel()
        unit = "seed" if n_folds == 1 else ("fold" if n_seeds == 1 else "seed x fold")
    else:
        raise ValueError(f"baseline shape {b.shape} matches neither the folds ({n_folds}) nor the model {m.shape}")
    mean, lo, hi = t_interval(diffs, level)
    word = verdict(lo, hi) if higher_is_better else verdict(-hi, -lo)
    finite = np.isfinite(lo) and np.isfinite(hi)
    return {"metric": metric, "diff": round(mean, 6),
            "ci95": [round(lo, 6), round(hi, 6)] if finite else [None, None],
            "unit": unit, "n": int(diffs.size), "verdict": word}


def comparison_table(comparisons: Mapping[str, Mapping[str, Any]]) -> List[str]:
    """Markdown rows of ``{name: paired_comparison(...)}``: diff, 95 % CI, unit (n), verdict."""
    if not comparisons:
        return []
    lines = ["| comparison | metric | diff | 95% CI | unit (n) | verdict |", "|---|---|---|---|---|---|"]
    for name, c in comparisons.items():
        lo, hi = c["ci95"]
        ci = f"[{lo:+.4f}, {hi:+.4f}]" if lo is not None else "—"
        lines.append(f"| {name} | {c['metric']} | {c['diff']:+.4f} | {ci} | {c['unit']} ({c['n']}) | {c['verdict']} |")
    return lines
