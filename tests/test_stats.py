"""bioR2.stats: paired differences over the unit that varies, 95 % t-intervals, and the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from bioR2.stats import paired_comparison, t_interval, verdict


def test_t_interval_matches_the_textbook_formula():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2.0  # t_{0.975, 3}
    assert mean == pytest.approx(2.5)
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half))
    assert np.isnan(t_interval([1.0])[1])


def test_verdict_words():
    assert verdict(0.01, 0.2) == "ahead"
    assert verdict(-0.2, -0.01) == "behind"
    assert verdict(-0.01, 0.2) == "tie"
    assert verdict(None, None) == "tie"


def test_deterministic_baseline_pairs_over_folds_after_averaging_seeds():
    model = [[0.90, 0.80, 0.85], [0.92, 0.82, 0.83]]  # 2 seeds x 3 folds
    baseline = [0.88, 0.81, 0.80]
    c = paired_comparison(model, baseline, metric="macro_f1")
    assert c["unit"] == "fold" and c["n"] == 3
    assert c["diff"] == pytest.approx(np.mean([0.91 - 0.88, 0.81 - 0.81, 0.84 - 0.80]), abs=1e-6)
    # the same baseline tiled over seeds is still deterministic: still paired over folds
    assert paired_comparison(model, [baseline, baseline], metric="macro_f1")["unit"] == "fold"
    assert set(c) >= {"metric", "diff", "ci95", "unit", "verdict"}


def test_seed_varying_baseline_pairs_over_seed_x_fold():
    model = np.array([[0.9, 0.8, 0.85], [0.92, 0.82, 0.83]])
    other = model - np.array([[0.01, 0.02, 0.015], [0.012, 0.018, 0.02]])
    c = paired_comparison(model, other, metric="accuracy")
    assert c["unit"] == "seed x fold" and c["n"] == 6
    assert c["verdict"] == "ahead"  # always ahead by 1-2 points: the interval excludes 0


def test_verdict_is_behind_tie_and_ahead_where_it_should_be():
    folds = [0.80, 0.82, 0.84, 0.86, 0.88]
    ahead = [[f + 0.02 + 0.001 * i for i, f in enumerate(folds)]]
    behind = [[f - 0.02 - 0.001 * i for i, f in enumerate(folds)]]
    noisy = [[f + d for f, d in zip(folds, [0.03, -0.03, 0.02, -0.02, 0.001])]]
    assert paired_comparison(ahead, folds, metric="m")["verdict"] == "ahead"
    assert paired_comparison(behind, folds, metric="m")["verdict"] == "behind"
    assert paired_comparison(noisy, folds, metric="m")["verdict"] == "tie"
    # a mean above 0 whose interval crosses 0 is a tie, not ahead
    small = [[f + d for f, d in zip(folds, [0.05, -0.01, 0.04, -0.02, 0.0])]]
    c = paired_comparison(small, folds, metric="m")
    assert c["diff"] > 0 and c["ci95"][0] < 0 and c["verdict"] == "tie"
    # an error metric: lower is better
    assert paired_comparison(behind, folds, metric="mse", higher_is_better=False)["verdict"] == "ahead"


def test_single_test_set_pairs_over_seeds():
    c = paired_comparison([0.66, 0.67, 0.68], 0.60, metric="auprc")
    assert c["unit"] == "seed" and c["n"] == 3 and c["verdict"] == "ahead"
    one = paired_comparison([0.66], 0.60, metric="auprc")
    assert one["ci95"] == [None, None] and one["verdict"] == "tie"


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="folds"):
        paired_comparison([[0.9, 0.8]], [0.8, 0.8, 0.8], metric="m")
