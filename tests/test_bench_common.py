"""The shared helpers of masking-scheme benchmarks (method names, summaries, curves)."""

from __future__ import annotations

import pytest

from bioR2.bench.common import downsample_curve, method_key, paired_against, plot_loss_curves, summarize_methods


def test_method_keys_follow_the_results_schema():
    assert method_key("0.15") == "fixed_0.15"
    assert method_key(0.75) == "fixed_0.75"
    assert method_key("0-1") == "uniform_0-1"
    assert method_key("0.15-0.4") == "uniform_0.15-0.4"
    assert method_key("0.15-0.4", r2mae_range="0.15-0.4") == "r2mae"
    assert method_key("0.15", r2mae_range="0.15-0.4") == "fixed_0.15"


def test_summaries_and_paired_differences():
    values = {"r2mae": {"accuracy": [0.9, 0.8, 0.7]}, "fixed_0.15": {"accuracy": [0.8, 0.8, 0.6]},
              "short": {"accuracy": [0.5]}}
    summary = summarize_methods(values)
    assert summary["r2mae"]["accuracy"]["mean"] == pytest.approx(0.8)
    assert summary["r2mae"]["accuracy"]["sd"] == pytest.approx(0.1)
    paired = paired_against(values, "r2mae", "accuracy")
    assert set(paired) == {"fixed_0.15"}  # a method with fewer seeds cannot be paired
    assert paired["fixed_0.15"]["mean"] == pytest.approx((0.1 + 0.0 + 0.1) / 3)


def test_downsample_keeps_last_step_and_means(tmp_path):
    curve = [(i + 1, float(i), 0.5) for i in range(1000)]
    small = downsample_curve(curve, max_points=10)
    assert len(small) == 10
    assert small[-1][0] == 1000
    assert small[0][1] == pytest.approx(sum(range(100)) / 100)
    assert downsample_curve(curve[:5], 10) == [list(map(float, r)) for r in curve[:5]]
    path = plot_loss_curves({"a": [curve, curve]}, tmp_path / "loss.png")
    assert path.exists() and path.stat().st_size > 0


def test_linear_probe_separates_separable_classes_and_rejects_bad_labels():
    import numpy as np

    from bioR2.probe import linear_probe

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    x = rng.normal(size=(120, 5)) + 4 * np.eye(5)[y]
    res = linear_probe(x[::2], y[::2], x[1::2], y[1::2])
    assert res.accuracy > 0.95 and res.n_test == 60 and res.n_features == 5
    noise = linear_probe(rng.normal(size=(60, 5)), y[::2], rng.normal(size=(60, 5)), y[1::2])
    assert noise.accuracy < 0.6
    with pytest.raises(ValueError, match="at least two classes"):
        linear_probe(x[:10], np.zeros(10), x[:10], np.zeros(10))


def test_describe_standing_says_where_r2mae_does_not_win():
    from bioR2.bench.common import describe_standing

    values = {"r2mae": {"accuracy": [0.80, 0.82, 0.81]}, "fixed_0.15": {"accuracy": [0.85, 0.86, 0.87]},
              "bow": {"accuracy": [0.95]}}
    text = describe_standing(summarize_methods(values), paired_against(values, "r2mae", "accuracy"),
                             "accuracy", {"bow": "bag of tokens"})
    assert "ranks 2 of 2" in text and "R²MAE lower" in text and "does NOT beat it" in text


def _square(x):
    return {"value": x * x}


def test_run_all_keeps_finished_results_and_reuses_them(tmp_path):
    from bioR2.bench.common import run_all

    out = run_all(_square, [1, 2, 3], ["a", "b", "c"], tmp_path, {"steps": 5})
    assert [r["value"] for r in out] == [1, 4, 9]
    assert (tmp_path / "b.json").exists()
    # A cached result is reused (a different function would give different values) ...
    again = run_all(lambda x: {"value": -1}, [1, 2, 3], ["a", "b", "c"], tmp_path, {"steps": 5})
    assert [r["value"] for r in again] == [1, 4, 9]
    # ... unless the settings changed.
    changed = run_all(lambda x: {"value": -1}, [1, 2, 3], ["a", "b", "c"], tmp_path, {"steps": 6})
    assert [r["value"] for r in changed] == [-1, -1, -1]


def test_describe_standing_judges_a_paired_reference_against_noise():
    from bioR2.bench.common import describe_standing

    values = {"r2mae": {"accuracy": [0.50, 0.48, 0.49]}, "random_init": {"accuracy": [0.49, 0.49, 0.48]}}
    text = describe_standing(summarize_methods(values), paired_against(values, "r2mae", "accuracy"),
                             "accuracy", {"random_init": "a random encoder"})
    assert "within noise of it" in text
