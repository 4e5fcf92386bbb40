"""Simulation of masked ridgeless regression (bioR2.theory.simulate) and the R²MAE search logic."""

from __future__ import annotations

import numpy as np
import pytest

from bioR2.masking import MaskRatioError
from bioR2.theory import (
    Estimator,
    LinearProblem,
    draw_instance,
    fit,
    fit_operator,
    masked_design,
    parse_spike,
    sample_ratios,
    simulate,
)
from bioR2.theory.simulate import SimResult, draw_design


def test_noiseless_underparameterised_unmasked_risk_is_zero():
    prob = LinearProblem.from_spikes(50, 0.5, 0.0, [(20.0, 0.9)])
    res = simulate(prob, [0.0, 0.1], 3)
    assert np.all(res["0"].risk < 1e-20)
    assert np.all(res["0.1"].risk > 1e-3)  # masking makes the model misspecified


@pytest.mark.parametrize("n,d", [(20, 50), (80, 30)])
def test_fit_is_min_norm_least_squares(n, d):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    Xt = masked_design(X, np.full(n, 0.3), rng.random((n, d)))
    beta = fit(Xt, y)
    np.testing.assert_allclose(beta, np.linalg.pinv(Xt) @ y, atol=1e-8)
    if n < d:  # overparameterised: the fit interpolates the masked training data
        np.testing.assert_allclose(Xt @ beta, y, atol=1e-8)
    ridge = fit(Xt, y, ridge=2.0)
    np.testing.assert_allclose(ridge, np.linalg.solve(Xt.T @ Xt + 2.0 * np.eye(d), Xt.T @ y), atol=1e-8)


def test_interpolation_in_the_simulated_problem():
    prob = LinearProblem.from_spikes(60, 3.0, 0.5, [(10.0, 0.5)])
    inst = draw_instance(prob, 0)
    X, y, _, U = draw_design(inst)
    Xt = masked_design(X, sample_ratios("0.1-0.4", prob.n, 0), U)
    np.testing.assert_allclose(Xt @ fit(Xt, y[:, 0]), y[:, 0], atol=1e-8)


def test_per_sample_ratios_come_from_the_range():
    p = sample_ratios("0.05-0.3", 2000, seed=7)
    assert p.min() >= 0.05 and p.max() < 0.3
    assert abs(p.mean() - 0.175) < 0.01 and p.std() > 0.05
    np.testing.assert_array_equal(p, sample_ratios("0.05-0.3", 2000, seed=7))  # reproducible
    assert not np.array_equal(p, sample_ratios("0.05-0.3", 2000, seed=8))
    q = sample_ratios("0.1-0.5", 2000, seed=7)  # paired: the same uniforms, another range
    assert np.corrcoef(p, q)[0, 1] > 0.999
    np.testing.assert_array_equal(sample_ratios(0.2, 5, seed=1), np.full(5, 0.2))
    blocks = sample_ratios("0-0.5", 32, seed=1, block=8)
    assert len(set(blocks[:8])) == 1 and len(set(blocks)) == 4
    with pytest.raises(MaskRatioError):
        sample_ratios("0.3-0.05", 10, seed=0)


def test_masked_design_masks_each_row_at_its_ratio():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 20000)) + 5.0  # nonzero everywhere
    p = np.array([0.0, 0.1, 0.5, 0.9])
    Xt = masked_design(X, p, rng.random(X.shape))
    np.testing.assert_allclose((Xt == 0).mean(axis=1), p, atol=0.01)
    scaled = masked_design(X, p, rng.random(X.shape), rescale=True)
    kept = scaled[2][scaled[2] != 0] / X[2][scaled[2] != 0]
    np.testing.assert_allclose(kept, 2.0)


def test_settings_are_paired_and_independent_of_each_other():
    prob = LinearProblem.from_spikes(80, 4.0, 0.5, [(20.0, 0.9)])
    alone = simulate(prob, [0.1], [3, 4])["0.1"]
    together = simulate(prob, [0.2, 0.1, "0-0.3"], [3, 4])["0.1"]
    np.testing.assert_allclose(alone.risk, together.risk)
    assert alone.risk.shape == (2, 1)


def test_exact_noise_expectation_matches_monte_carlo():
    # risk = bias + σ² tr(RᵀΣR) is E over ε of the realised risk for a fixed design and mask.
    prob = LinearProblem.from_spikes(40, 2.0, 0.8, [(10.0, 0.7)])
    inst = draw_instance(prob, 0)
    X, _, _, U = draw_design(inst)
    Xt = masked_design(X, np.full(prob.n, 0.2), U)
    R = fit_operator(Xt)
    beta = inst.betas[:, 0]
    rng = np.random.default_rng(0)
    eps = 0.8 * rng.standard_normal((prob.n, 4000))
    errs = (R @ (X @ beta))[:, None] + R @ eps - beta[:, None]
    realised = inst.cov.quad(errs).mean()
    exact = simulate(prob, [0.2], [0])["0.2"].risk[0, 0]
    assert realised == pytest.approx(exact, rel=0.03)


def test_problem_validation():
    with pytest.raises(ValueError, match="squared norm"):
        LinearProblem(d=50, gamma=2, deltas=(1.0, 2.0), targets=((0.9, 0.9),))
    with pytest.raises(ValueError, match="gamma"):
        LinearProblem(d=50, gamma=-1)
    with pytest.raises(ValueError, match="DELTA:ALPHA"):
        parse_spike("20")
    with pytest.raises(ValueError, match="ALPHA"):
        parse_spike("20:1.5")
    assert parse_spike("20:0.9") == (20.0, 0.9)
    with pytest.raises(ValueError):
        Estimator(ridge=-1)
    with pytest.raises(ValueError, match="test masking ratio"):
        simulate(LinearProblem(20, 2.0), [0.1], 1, test_ratios=(1.0,))


def test_instances_have_orthonormal_spikes_and_unit_targets():
    prob = LinearProblem(d=60, gamma=2, deltas=(1.0, 10.0), targets=((0.9, 0.0), (0.0, 0.5)))
    inst = draw_instance(prob, 3)
    np.testing.assert_allclose(inst.V.T @ inst.V, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(inst.betas, axis=0), 1.0)
    np.testing.assert_allclose(inst.V.T @ inst.betas, [[0.9, 0.0], [0.0, 0.5]], atol=1e-12)
    S = inst.cov.dense()
    e = np.random.default_rng(0).standard_normal(60)
    assert inst.cov.quad(e) == pytest.approx(e @ S @ e)
    np.testing.assert_allclose(inst.cov.diag(), np.diag(S))


def test_random_features_and_masked_test_inputs_run_paired():
    from bioR2.theory.features import simulate_random_features

    prob = LinearProblem.from_spikes(40, 4.0, 0.5, [(20.0, 0.9)])
    a = simulate_random_features(prob, [0.0, "0-0.2"], 2, width=40, n_test=200)
    b = simulate_random_features(prob, ["0-0.2"], 2, width=40, n_test=200)
    np.testing.assert_allclose(a["0-0.2"].risk, b["0-0.2"].risk)
    assert np.all(np.isfinite(a["0"].risk)) and np.all(a["0"].risk > 0)
    masked = simulate(prob, [0.1], 2, test_ratios=(0.0,))["0.1"].risk
    masked_test = simulate(prob, [0.1], 2, test_ratios=(0.3,))["0.1"].risk
    assert np.all(masked_test != masked)


def _fake(values):
    arr = np.asarray(values, float)[:, None]
    return SimResult("x", list(range(len(values))), arr, arr, np.zeros_like(arr))


def test_search_verdict_is_computed_from_held_out_seeds():
    from bioR2.theory.search import compare

    rng = np.random.default_rng(0)
    base = 1.0 + 0.1 * rng.standard_normal(20)
    fixed = [0.0, 0.1]
    res = {"0": _fake(base + 0.5), "0.1": _fake(base), "0-0.2": _fake(base - 0.05), "0.1-0.3": _fake(base + 0.2)}
    out = compare(res, fixed, ["0-0.2", "0.1-0.3"], "average")
    assert out["best_fixed"]["p"] == 0.1 and out["best_range"]["range"] == "0-0.2"
    assert out["verdict"] == "range wins"
    res["0-0.2"] = _fake(base + 0.05)
    assert compare(res, fixed, ["0-0.2", "0.1-0.3"], "average")["verdict"] == "fixed wins"


def test_parallel_map_keeps_order():
    from bioR2.theory.search import parallel_map

    items = [(2, k) for k in range(6)]
    seen = []
    assert parallel_map(pow, items, workers=2, progress=lambda i, r: seen.append(i)) == [2**k for k in range(6)]
    assert sorted(seen) == list(range(6))
    assert parallel_map(pow, items, workers=1) == [2**k for k in range(6)]
