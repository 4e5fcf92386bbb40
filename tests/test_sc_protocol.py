"""The single-cell selection protocol: nested inner validation that never touches a test cell of
its fold, the tuned baselines, and the comparisons built from per-(seed, fold) values."""

from __future__ import annotations

import numpy as np
import pytest

from bioR2.bench.sc_protocol import inner_split, inner_splits, sc_comparisons, select, selection_section


def _folds(labels, n=5):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n, shuffle=True, random_state=0).split(np.zeros(labels.size), labels))


def test_selection_cells_never_touch_the_test_fold_they_choose_for():
    rng = np.random.default_rng(0)
    labels = rng.choice(["B", "T", "NK", "mono"], size=400, p=[0.4, 0.3, 0.2, 0.1])
    folds = _folds(labels)
    inner = inner_splits(folds, labels)
    for (train, test), (fit, val) in zip(folds, inner):
        assert not np.intersect1d(val, test).size and not np.intersect1d(fit, test).size
        assert np.array_equal(np.sort(np.concatenate([fit, val])), np.sort(train))  # a partition of the train fold
        assert 0.15 < val.size / train.size < 0.25
        assert set(labels[val]) == set(labels[train])  # stratified
    section = selection_section(folds, inner)
    assert section["overlap_with_test"] == 0 and section["n"] == sum(v.size for _, v in inner)
    # a selection split carved from the wrong fold (fold 0's training cells chose for fold 1) is counted
    leaky = [inner[0]] * len(folds)
    assert selection_section(folds, leaky)["overlap_with_test"] > 0


def test_inner_split_keeps_singleton_classes_for_fitting():
    labels = np.array(["a"] * 20 + ["b"] * 20 + ["c"])
    fit, val = inner_split(np.arange(labels.size), labels)
    assert 40 in fit and 40 not in val


def test_select_picks_the_best_candidate():
    best, scores = select([{"C": 0.1}, {"C": 1.0}, {"C": 10.0}], lambda p: -abs(np.log10(p["C"])))
    assert best == {"C": 1.0} and scores["C=0.1"] < scores["C=1.0"]
    with pytest.raises(ValueError, match="empty"):
        select([], lambda p: 0.0)


def test_tuned_baseline_uses_the_unlabelled_cells_in_pca():
    from bioR2.bench.sc_baselines import GRIDS, fit_predict_params

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8))
    y = (x[:, 0] > 0).astype(str)
    for name, grid in GRIDS.items():
        pred = fit_predict_params(name, grid[0], x[:40], y[:40], x[40:], x_unlabelled=rng.normal(size=(30, 8)))
        assert pred.shape == (20,) and set(pred) <= set(y)
    with pytest.raises(KeyError, match="unknown baseline"):
        fit_predict_params("svm", {}, x[:40], y[:40], x[40:])


def test_comparisons_pair_deterministic_baselines_over_folds():
    store = {"r2mae": {"macro_f1": [0.90, 0.91, 0.92, 0.93, 0.94, 0.91, 0.92, 0.93, 0.94, 0.95]},  # 2 seeds x 5
             "r2mae_finetune": {"macro_f1": [0.80] * 10},
             "logreg": {"macro_f1": [0.85, 0.86, 0.87, 0.88, 0.89]},
             "fixed_0.15": {"macro_f1": [0.89, 0.90, 0.92, 0.92, 0.93, 0.90, 0.91, 0.93, 0.93, 0.94]}}
    out = sc_comparisons(store, 2, 5, ["logreg", "scvi_logreg"], ["r2mae", "fixed_0.15"])
    assert out["r2mae_vs_logreg"]["unit"] == "fold" and out["r2mae_vs_logreg"]["verdict"] == "ahead"
    assert out["r2mae_vs_logreg"]["diff"] == pytest.approx(0.055, abs=1e-6)
    assert out["r2mae_vs_fixed_0.15"]["unit"] == "seed x fold" and out["r2mae_vs_fixed_0.15"]["n"] == 10
    assert out["finetune_vs_logreg"]["verdict"] == "behind"
    assert "finetune_vs_fixed_0.15" not in out  # fine-tuned vs a frozen scheme says nothing about masking
    assert "r2mae_vs_scvi_logreg" not in out  # not run: no entry


def test_scvi_lengths_from_one_run_equal_separate_runs():
    """The scVI grid's epochs come from one run per shape: the weights after e epochs of a longer
    run must be exactly those of a run of e epochs (else the grid's short entries are not what
    they say)."""
    pytest.importorskip("scvi")
    from bioR2.bench.sc_baselines import scvi_latents

    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(200, 30)).astype(np.float32)
    both = scvi_latents(counts, counts[:40], epochs=[2, 3], n_latent=4, seed=3)
    short = scvi_latents(counts, counts[:40], epochs=[2], n_latent=4, seed=3)[2]
    long = scvi_latents(counts, counts[:40], epochs=[3], n_latent=4, seed=3)[3]
    np.testing.assert_array_equal(both[2][0], short[0])
    np.testing.assert_array_equal(both[2][1], short[1])
    np.testing.assert_array_equal(both[3][1], long[1])
    assert np.abs(both[2][0] - both[3][0]).max() > 0  # the two lengths are different models
