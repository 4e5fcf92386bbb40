"""Closed forms of bioR2.theory.asymptotics: exact identities and agreement with simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bioR2.theory import (
    LinearProblem,
    deterministic_equivalent,
    effective_ratio,
    isotropic_risk,
    keep_moments,
    optimal_p,
    remask_limit_estimator,
    risk_curve,
    simulate,
    spiked_risk,
)
from bioR2.theory.asymptotics import _kappa_vec, solve_kappa
from bioR2.theory.problem import SpikedCovariance


def test_isotropic_closed_form_values():
    # s² = σ² + p‖β‖²; γ > 1: ‖β‖²(1 − 1/γ) + s²/((1 − p)(γ − 1)); γ < 1: s²/(1 − p)·γ/(1 − γ)
    r = isotropic_risk(2.0, 0.3, 0.5)
    assert r["risk"] == pytest.approx(0.5 + 0.55 / 0.7)
    assert r["variance"] == pytest.approx(0.25 / 0.7)
    assert r["bias"] + r["variance"] == pytest.approx(r["risk"])
    assert isotropic_risk(0.5, 0.5, 0.5)["risk"] == pytest.approx(1.5)
    assert math.isinf(isotropic_risk(1.0, 0.1, 0.5)["risk"])
    with pytest.raises(ValueError):
        isotropic_risk(2.0, 1.0, 0.5)


@pytest.mark.parametrize("gamma", [0.3, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.6])
def test_deterministic_equivalent_reduces_to_isotropic(gamma, p):
    prob = LinearProblem(d=300, gamma=gamma, sigma=0.7)
    de = spiked_risk(prob, p)
    iso = isotropic_risk(prob.d / prob.n, p, 0.7)
    for key in ("risk", "bias", "variance"):
        assert de[key] == pytest.approx(iso[key], rel=1e-8)


def test_isotropic_risk_increases_with_p():
    for gamma in (0.5, 2.0, 8.0):
        curve = risk_curve(LinearProblem(200, gamma, 0.5), np.linspace(0, 0.8, 17))["risk"]
        assert np.all(np.diff(curve) > 0)


def test_vectorised_kappa_matches_scalar_solver():
    lam = np.array([[17.5, 0.95], [3.0, 0.5], [0.2, 0.2]])
    mult = np.array([1.0, 399.0])
    for ridge in (0.0, 10.0):
        vec = _kappa_vec(lam, mult, 100, ridge)
        for row, k in zip(lam, vec):
            assert k == pytest.approx(solve_kappa(row, mult, 100, ridge), rel=1e-9)
    assert _kappa_vec(lam, mult, 1000, 0.0).tolist() == [0.0, 0.0, 0.0]  # n > d: no implicit ridge


def test_delocalised_and_dense_equivalents_agree_for_a_flat_spike():
    # A spike with all coordinates ±1/√d has diag(Σ) exactly constant: the two forms must agree.
    from scipy.linalg import hadamard

    d = 128
    H = hadamard(d) / math.sqrt(d)
    cov = SpikedCovariance(H[:, [1, 2]], np.array([20.0, 5.0]))
    alphas = (0.8, 0.3)
    u = H[:, 3]
    beta = 0.8 * H[:, 1] + 0.3 * H[:, 2] + math.sqrt(1 - 0.73) * u
    prob = LinearProblem(d=d, gamma=4.0, sigma=0.3, deltas=(20.0, 5.0), targets=(alphas,))
    for p in (0.0, 0.15, 0.4):
        a = spiked_risk(prob, p)
        b = deterministic_equivalent(cov.dense(), beta, p, prob.n, sigma=0.3)
        assert a["risk"] == pytest.approx(b["risk"], rel=1e-6)
        assert a["variance"] == pytest.approx(b["variance"], rel=1e-6)


def _close(sim, closed, rel=0.04):
    """|simulation − closed form| within 3 standard errors plus a finite-size allowance."""
    return abs(sim["risk"] - closed) <= 3 * sim["se"] + rel * closed


@pytest.mark.parametrize("gamma,p", [(2.0, 0.3), (0.5, 0.2), (4.0, 0.1)])
def test_isotropic_closed_form_matches_simulation(gamma, p):
    prob = LinearProblem(d=200, gamma=gamma, sigma=0.5)
    sim = simulate(prob, [p], 12)[f"{p:g}"].summary(0)
    assert _close(sim, isotropic_risk(gamma, p, 0.5)["risk"])


@pytest.mark.parametrize("gamma,p", [(4.0, 0.0), (4.0, 0.1), (2.0, 0.2), (0.5, 0.1)])
def test_spiked_closed_form_matches_simulation(gamma, p):
    prob = LinearProblem.from_spikes(200, gamma, 0.3, [(20.0, 0.9)])
    sim = simulate(prob, [p], 12)[f"{p:g}"].summary(0)
    assert _close(sim, spiked_risk(prob, p)["risk"], rel=0.06)


def test_isotropic_range_closed_form_matches_simulation():
    prob = LinearProblem(d=200, gamma=2.0, sigma=0.5)
    sim = simulate(prob, ["0-0.6"], 12)["0-0.6"].summary(0)
    cf = spiked_risk(prob, "0-0.6")
    assert cf["method"].startswith("exact")
    assert _close(sim, cf["risk"])
    # Jensen: the range is worse than the fixed ratio at its mean.
    assert cf["risk"] > isotropic_risk(2.0, 0.3, 0.5)["risk"]


def test_effective_ratio_and_remask_limit():
    assert effective_ratio("0-0.4") == pytest.approx(1 - (1 - 0.6**3) / (3 * 0.4) / 0.8)
    assert effective_ratio("0-0.4") == pytest.approx(0.18333, abs=1e-5)
    assert effective_ratio(0.25) == pytest.approx(0.25)
    eq, eq2 = keep_moments("0.1-0.5")
    assert eq == pytest.approx(0.7) and eq2 > eq**2
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 12)), rng.standard_normal(30)
    np.testing.assert_allclose(remask_limit_estimator(X, y, "0-0.4"),
                               remask_limit_estimator(X, y, effective_ratio("0-0.4")), rtol=1e-10)
    # A fixed ratio of 0 is plain least squares.
    np.testing.assert_allclose(remask_limit_estimator(X, y, 0.0), np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-8)


def test_many_masked_copies_approach_the_limit_estimator():
    # Stack m copies with the ratio redrawn per copy; the min-norm fit tends to the closed form,
    # i.e. to the fixed ratio p_eff = 1 − E[q²]/E[q] (0.327 for U(0, 0.9)), not to E[p] = 0.45.
    from bioR2.theory import fit, masked_design, sample_ratios

    rng = np.random.default_rng(1)
    n, d, m = 6, 10, 4000
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    p_rows = sample_ratios("0-0.9", m * n, seed=3)
    Xt = masked_design(np.tile(X, (m, 1)), p_rows, rng.random((m * n, d)))
    stacked = fit(Xt, np.tile(y, m))
    limit = remask_limit_estimator(X, y, "0-0.9")
    mean_ratio = remask_limit_estimator(X, y, 0.45)
    assert np.linalg.norm(stacked - limit) / np.linalg.norm(limit) < 0.05
    assert np.linalg.norm(stacked - limit) < 0.5 * np.linalg.norm(stacked - mean_ratio)


def test_optimal_p_follows_the_regime():
    spiked = lambda g, s=0.0: LinearProblem.from_spikes(400, g, s, [(20.0, 0.9)])
    o4 = optimal_p(spiked(4.0))
    assert 0.05 <= o4.p_star <= 0.15
    assert o4.risk < o4.risk_at_0 and o4.bias < o4.bias_at_0
    assert optimal_p(spiked(0.5, 0.5)).p_star == 0.0  # underparameterised: masking never helps
    assert optimal_p(LinearProblem(400, 4.0, 0.5)).p_star == 0.0  # isotropic: never helps
    assert optimal_p(spiked(8.0)).p_star > o4.p_star  # larger γ, larger p*
