"""Every ratio form of the masking core in the linear-model theory: draws, weights, closed forms, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from bioR2.cli import main
from bioR2.masking import parse_mask_ratio
from bioR2.masking.ratio import MDLM_WEIGHT_FLOOR
from bioR2.theory import (
    LinearProblem,
    deterministic_equivalent,
    effective_ratio,
    isotropic_risk,
    keep_moments,
    remask_limit_estimator,
    sample_ratios,
    simulate,
    spiked_risk,
)
from bioR2.theory.features import simulate_random_features
from bioR2.theory.simulate import _fit_stats, row_weights


def _close(sim, closed, rel=0.04):
    """|simulation − closed form| within 3 standard errors plus a finite-size allowance."""
    return abs(sim["risk"] - closed) <= 3 * sim["se"] + rel * closed


def test_rows_play_the_steps_of_a_run():
    # a schedule runs over ⌈rows / block⌉ steps, from its start to its end
    p = sample_ratios("sched:0.4>0.1", 32, seed=0, block=8)
    np.testing.assert_allclose(p, np.repeat(np.linspace(0.4, 0.1, 4), 8), atol=1e-15)
    p = sample_ratios("sched:0.4>0.1", 101, seed=3)
    assert p[0] == 0.4 and p[-1] == 0.1 and np.all(np.diff(p) < 0)
    # a set: its values, one per block
    p = sample_ratios("set:0.1,0.3,0.5", 3000, seed=1)
    assert set(p) == {0.1, 0.3, 0.5}
    assert len(set(sample_ratios("set:0.1,0.3,0.5", 32, seed=1, block=8)[:8])) == 1
    # mdlm draws exactly what 0-1 draws (paired); only its loss weight differs
    np.testing.assert_array_equal(sample_ratios("mdlm", 500, seed=2), sample_ratios("0-1", 500, seed=2))
    # continuous forms follow their distribution
    p = sample_ratios("beta:2,2,0.05-0.3", 3000, seed=4)
    assert stats.kstest(p, stats.beta(2, 2, loc=0.05, scale=0.25).cdf).pvalue > 1e-3


def test_per_example_forms_draw_per_row_inside_a_block():
    per_batch = sample_ratios("0.05-0.3", 64, seed=0, block=8)
    per_row = sample_ratios("sample:0.05-0.3", 64, seed=0, block=8)
    assert len(set(per_batch[:8])) == 1 and len(set(per_row[:8])) == 8
    assert per_row.min() >= 0.05 and per_row.max() < 0.3
    np.testing.assert_array_equal(per_row, sample_ratios("sample:0.05-0.3", 64, seed=0, block=8))
    ratio = parse_mask_ratio("sample:0.05-0.3")
    np.testing.assert_array_equal(per_row[8:16], ratio.sample_rows(0, 1, torch.arange(8, 16)).numpy())


def test_row_weights_only_for_a_loss_weighted_form():
    p = np.array([0.0, 5e-4, 0.25, 0.9])
    assert row_weights("0-1", p) is None and row_weights("sched:0.3>0.1", p) is None
    np.testing.assert_allclose(row_weights("mdlm", p), [1 / MDLM_WEIGHT_FLOOR, 1 / MDLM_WEIGHT_FLOOR, 4.0, 1 / 0.9])


def test_weighted_fit_is_weighted_least_squares():
    rng = np.random.default_rng(0)
    X, signal = rng.standard_normal((40, 10)), rng.standard_normal((40, 2))
    w = rng.uniform(0.5, 20.0, 40)
    B0, stats_ = _fit_stats(X, signal, 0.0, 1, 40, w)
    direct = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w[:, None] * signal))
    np.testing.assert_allclose(B0, direct, rtol=1e-9)
    np.testing.assert_allclose(stats_.R, np.linalg.solve(X.T @ (w[:, None] * X), X.T * w), rtol=1e-9)
    # fewer rows than features: the min-norm interpolant ignores the weights
    Xw = rng.standard_normal((10, 40))
    B_w, _ = _fit_stats(Xw, signal[:10], 0.0, 1, 10, w[:10])
    B_1, _ = _fit_stats(Xw, signal[:10], 0.0, 1, 10)
    np.testing.assert_allclose(B_w, B_1, rtol=1e-8, atol=1e-10)


def test_mdlm_equals_unweighted_range_when_the_fit_interpolates_and_not_otherwise():
    over = LinearProblem.from_spikes(60, 2.0, 0.5, [(10.0, 0.8)])
    res = simulate(over, ["mdlm", "0-1"], 2)
    np.testing.assert_allclose(res["mdlm"].risk, res["0-1"].risk, rtol=1e-8)
    assert spiked_risk(over, "mdlm")["risk"] == pytest.approx(spiked_risk(over, "0-1")["risk"], rel=1e-12)
    under = LinearProblem(d=40, gamma=0.5, sigma=0.5)
    res = simulate(under, ["mdlm", "0-1"], 2)
    assert not np.allclose(res["mdlm"].risk, res["0-1"].risk)


def test_keep_moments_of_every_form():
    # a set: exact; a schedule: the average over many steps is uniform over its range
    eq, eq2 = keep_moments("set:0.1,0.3,0.5")
    assert eq == pytest.approx(0.7) and eq2 == pytest.approx((0.81 + 0.49 + 0.25) / 3)
    assert keep_moments("sched:0.3>0.15") == pytest.approx(keep_moments("0.15-0.3"), rel=1e-12)
    assert keep_moments("sample:0.05-0.3") == pytest.approx(keep_moments("0.05-0.3"), rel=1e-12)
    q = stats.beta(2, 5, loc=0.6, scale=0.3)  # q = 1 − p for p = 0.1 + 0.3·Beta(5, 2)
    assert keep_moments("beta:5,2,0.1-0.4") == pytest.approx((q.mean(), q.moment(2)), rel=1e-12)
    t = stats.truncnorm(-2.5, 3.5, loc=0.55, scale=0.1)
    eq, eq2 = keep_moments("tnorm:0.55,0.1,0.3-0.9")
    assert eq == pytest.approx(1 - t.mean(), rel=1e-10)
    assert eq2 == pytest.approx(1 - 2 * t.mean() + t.moment(2), rel=1e-10)
    # mdlm: U(0, 1) unweighted; its loss weight tilts towards small ratios (large q)
    assert keep_moments("mdlm") == pytest.approx(keep_moments("0-1"), rel=1e-12)
    eps = MDLM_WEIGHT_FLOOR
    mass = 1 + math.log(1 / eps)  # ∫ dp / max(p, ε)
    eq_w = (1 - eps / 2 + math.log(1 / eps) - (1 - eps)) / mass  # ∫ (1 − p) / max(p, ε) dp / mass
    assert keep_moments("mdlm", weighted=True)[0] == pytest.approx(eq_w, rel=1e-10)


def test_effective_ratio_and_remask_limit_of_the_other_forms():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 12)), rng.standard_normal(30)
    for spec in ["set:0.1,0.3,0.5", "sched:0.4>0.1", "beta:2,2,0.05-0.5", "tnorm:0.3,0.1,0.1-0.6", "mdlm"]:
        p_eff = effective_ratio(spec)
        assert 0 < p_eff < parse_mask_ratio(spec).mean  # below the mean ratio (E[q²]/E[q] >= E[q])
        np.testing.assert_allclose(remask_limit_estimator(X, y, spec), remask_limit_estimator(X, y, p_eff), rtol=1e-9)
    assert effective_ratio("mdlm") < effective_ratio("0-1")  # weights favour small ratios
    assert effective_ratio("sched:0.4>0.1") == pytest.approx(effective_ratio("0.1-0.4"), rel=1e-12)


@pytest.mark.parametrize("spec", ["set:0.1,0.3,0.5", "sched:0.4>0.1", "beta:2,2,0.05-0.5", "tnorm:0.3,0.1,0.1-0.6",
                                  "sample:0.05-0.5"])
def test_isotropic_closed_form_of_every_form(spec):
    # Section 5 with the form's distribution: Jensen makes every random form worse than its mean
    for gamma in (0.5, 2.0):
        cf = isotropic_risk(gamma, spec, 0.5)
        assert cf["risk"] > isotropic_risk(gamma, parse_mask_ratio(spec).mean, 0.5)["risk"]
        assert cf["risk"] == pytest.approx(cf["bias"] + cf["variance"])


def test_isotropic_closed_forms_match_simulation():
    prob = LinearProblem(d=200, gamma=2.0, sigma=0.5)
    forms = ["set:0.1,0.3,0.5", "sched:0.4>0.1", "beta:2,2,0.05-0.5", "tnorm:0.3,0.1,0.1-0.6", "sample:0.05-0.5"]
    res = simulate(prob, forms, 12)
    for spec in forms:
        cf = spiked_risk(prob, spec)
        assert cf["method"].startswith("exact"), spec
        assert _close(res[parse_mask_ratio(spec).to_config()].summary(0), cf["risk"], rel=0.05), spec


def test_weighted_isotropic_closed_form_matches_simulation():
    # Section 7: below the interpolation threshold the 1/p weight changes the fit and the risk.
    prob = LinearProblem(d=200, gamma=0.5, sigma=0.5)
    res = simulate(prob, ["mdlm", "0-1"], 12)
    weighted, plain = spiked_risk(prob, "mdlm"), spiked_risk(prob, "0-1")
    assert _close(res["mdlm"].summary(0), weighted["risk"])
    assert _close(res["0-1"].summary(0), plain["risk"])
    assert weighted["risk"] != pytest.approx(plain["risk"], rel=1e-3)


def test_spiked_closed_form_of_the_other_forms():
    prob = LinearProblem.from_spikes(200, 4.0, 0.3, [(20.0, 0.9)])
    for spec in ["sched:0.3>0.1", "set:0.1,0.2,0.3", "beta:2,2,0.05-0.35", "tnorm:0.2,0.05,0.1-0.3"]:
        out = spiked_risk(prob, spec)
        assert "approximation" in out["method"]
        assert math.isfinite(out["risk"]) and out["risk"] > 0
    # the schedule is the range it sweeps (in the many-step limit)
    assert spiked_risk(prob, "sched:0.3>0.1")["risk"] == pytest.approx(spiked_risk(prob, "0.1-0.3")["risk"], rel=1e-12)
    # a dense Σ goes through the same moments
    Sigma = np.eye(30) + 4.0 * np.outer(np.ones(30), np.ones(30)) / 30
    beta = np.ones(30) / math.sqrt(30)
    a = deterministic_equivalent(Sigma, beta, "sched:0.3>0.1", n=10, sigma=0.2)
    b = deterministic_equivalent(Sigma, beta, "0.1-0.3", n=10, sigma=0.2)
    assert a["risk"] == pytest.approx(b["risk"], rel=1e-12)


def test_loss_weighted_closed_form_with_ridge_is_refused():
    prob = LinearProblem.from_spikes(100, 0.5, 0.3, [(20.0, 0.9)])
    with pytest.raises(ValueError, match="simulate"):
        spiked_risk(prob, "mdlm", ridge=1.0)
    assert math.isfinite(spiked_risk(prob, "mdlm")["risk"])  # ridgeless: the weighted moments


def test_random_features_accept_every_form():
    prob = LinearProblem.from_spikes(30, 0.5, 0.2, [(10.0, 0.8)])
    res = simulate_random_features(prob, ["mdlm", "0-1", "sched:0.3>0.1", "sample:set:0.1,0.4"], 2, width=20,
                                   n_test=200)
    assert all(np.isfinite(r.risk).all() for r in res.values())
    assert not np.allclose(res["mdlm"].risk, res["0-1"].risk)  # width < n: the weights matter
    wide = simulate_random_features(prob, ["mdlm", "0-1"], 2, width=200, n_test=200)
    np.testing.assert_allclose(wide["mdlm"].risk, wide["0-1"].risk, rtol=1e-6)  # interpolation: they do not


@pytest.mark.parametrize("form", ["sched:0.3>0.15", "set:0.1,0.2,0.3", "beta:2,2,0.05-0.3", "tnorm:0.2,0.1,0-0.5",
                                  "mdlm", "sample:0.05-0.3"])
def test_cli_risk_takes_every_form(capsys, form):
    def run(*extra):
        assert main(["theory", "risk", "--gamma", "0.5", "--p-range", form, "--sigma", "0.5", "--d", "40",
                     *extra, "--json"]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    closed = run()
    assert set(closed) == {"risk", "bias", "variance"} and closed["risk"] > 0
    sim = run("--method", "simulate", "--seeds", "2")
    assert set(sim) == {"risk", "se", "bias", "variance"} and sim["risk"] > 0


def test_cli_rejects_a_bad_form_clearly(capsys):
    with pytest.raises(SystemExit):
        main(["theory", "risk", "--gamma", "2", "--p-range", "tnorm:0.5,0,0.1-0.9"])
    assert "--p-range" in capsys.readouterr().err
