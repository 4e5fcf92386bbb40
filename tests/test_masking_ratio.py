"""Ratio samplers (every form) and the one ratio parser."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats

from bioR2.masking import (
    BetaRatio,
    FixedRatio,
    MaskRatioError,
    MDLMRatio,
    PerSampleRatio,
    ScheduleRatio,
    SetRatio,
    TruncNormRatio,
    UniformRatio,
    mdlm_ratio,
    parse_mask_ratio,
)
from bioR2.masking.ratio import MDLM_WEIGHT_FLOOR


@pytest.mark.parametrize(
    "spec, expected",
    [
        (0.15, FixedRatio(0.15)),
        ("0.15", FixedRatio(0.15)),
        (" 0.15 ", FixedRatio(0.15)),
        (0, FixedRatio(0.0)),
        ("0.05-0.3", UniformRatio(0.05, 0.3)),
        ("0-1", UniformRatio(0.0, 1.0)),
        ("5e-2", FixedRatio(0.05)),  # an exponent's '-' is not a range separator
        ("1e-2-3e-1", UniformRatio(0.01, 0.3)),
        ({"low": 0.1, "high": 0.5}, UniformRatio(0.1, 0.5)),
        ({"fixed": 0.75}, FixedRatio(0.75)),
        ({"p": 0.4}, FixedRatio(0.4)),
        (UniformRatio(0.2, 0.3), UniformRatio(0.2, 0.3)),
    ],
)
def test_parser_accepts_every_user_form(spec, expected):
    assert parse_mask_ratio(spec) == expected


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("0.3-0.05", "greater than high"),
        (1.0, "[0, 1)"),
        (-0.1, "[0, 1)"),
        ("1.5", "[0, 1)"),
        ("0.1-1.2", "[0, 1]"),
        (float("nan"), "NaN"),
        ("nan", "NaN"),
        ("abc", "cannot read"),
        ("0.1-x", "cannot read"),
        ({"low": 0.1}, "low"),
        (True, "expected a number"),
        ("1-1", "mask everything"),
    ],
)
def test_parser_errors_name_the_option(spec, fragment):
    with pytest.raises(MaskRatioError) as info:
        parse_mask_ratio(spec, option="--mask-ratio")
    assert "--mask-ratio" in str(info.value)
    assert fragment in str(info.value)


def test_round_trip_through_config_string():
    for spec in ["0.15", "0.05-0.3", "0-1", "0.6-0.9"]:
        ratio = parse_mask_ratio(spec)
        assert parse_mask_ratio(ratio.to_config()) == ratio


def test_fixed_ratio_is_constant():
    r = FixedRatio(0.15)
    assert {r.sample(seed, step) for seed in range(3) for step in range(50)} == {0.15}


def test_uniform_is_a_pure_function_of_seed_and_step():
    r = UniformRatio(0.05, 0.3)
    a = [r.sample(7, s) for s in range(100)]
    b = [r.sample(7, s) for s in reversed(range(100))][::-1]
    assert a == b  # order of calls does not matter: no hidden state
    assert a != [r.sample(8, s) for s in range(100)]  # the seed matters
    assert len(set(a)) == 100


def test_uniform_draws_are_uniform_on_the_range_ks():
    low, high = 0.05, 0.3
    r = UniformRatio(low, high)
    draws = np.array([r.sample(0, s) for s in range(5000)])
    assert draws.min() >= low and draws.max() < high
    good = stats.kstest(draws, stats.uniform(loc=low, scale=high - low).cdf)
    assert good.pvalue > 1e-3
    # The same test rejects a range that is off by a little: it can fail.
    bad = stats.kstest(draws, stats.uniform(loc=low, scale=high - low + 0.03).cdf)
    assert bad.pvalue < 1e-3


def test_mdlm_range_never_draws_one():
    r = mdlm_ratio()
    draws = [r.sample(1, s) for s in range(5000)]
    assert 0.0 <= min(draws) and max(draws) < 1.0
    assert r.mean == 0.5


def test_ratios_agree_across_processes():
    code = (
        "from bioR2.masking import UniformRatio;"
        "r=UniformRatio(0.1,0.5);print(repr([r.sample(3,s) for s in range(0,1000,37)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = [UniformRatio(0.1, 0.5).sample(3, s) for s in range(0, 1000, 37)]
    assert eval(out.stdout) == here


def test_negative_step_is_refused():
    with pytest.raises(ValueError):
        UniformRatio(0.1, 0.2).sample(0, -1)


def test_mean():
    assert math.isclose(parse_mask_ratio("0.05-0.3").mean, 0.175)


# ---------------------------------------------------------------------------------------------
# The other ratio forms: mdlm, set:, sched:, tnorm:, beta:, sample:

RANDOM_FORMS = ["0.05-0.3", "mdlm", "set:0.25,0.5,0.75", "tnorm:0.55,0.1,0.3-0.9", "beta:2,2,0.05-0.3"]


def _draws(ratio, n=5000, seed=0, total_steps=None):
    return np.array([ratio.sample(seed, s, total_steps=total_steps) for s in range(n)])


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("mdlm", MDLMRatio()),
        (" MDLM ", MDLMRatio()),
        ("set:0.25,0.5,0.75", SetRatio((0.25, 0.5, 0.75))),
        ("set: 0.75, 0.25 ,0.5", SetRatio((0.25, 0.5, 0.75))),  # kept sorted: one canonical form
        ("set:0.3", SetRatio((0.3,))),
        ("sched:0.3>0.15", ScheduleRatio(0.3, 0.15)),
        ("sched: 0.15 > 0.3", ScheduleRatio(0.15, 0.3)),
        ("tnorm:0.55,0.1,0.3-0.9", TruncNormRatio(0.55, 0.1, 0.3, 0.9)),
        ("tnorm:0.55,0.25", TruncNormRatio(0.55, 0.25, 0.0, 1.0)),
        ("beta:2,2,0.05-0.3", BetaRatio(2.0, 2.0, 0.05, 0.3)),
        ("beta:0.5,3", BetaRatio(0.5, 3.0, 0.0, 1.0)),
        ("sample:0.05-0.3", PerSampleRatio(UniformRatio(0.05, 0.3))),
        ("sample:set:0.25,0.5", PerSampleRatio(SetRatio((0.25, 0.5)))),
        ("SAMPLE:beta:2,5,0.1-0.6", PerSampleRatio(BetaRatio(2.0, 5.0, 0.1, 0.6))),
    ],
)
def test_parser_accepts_the_other_forms(spec, expected):
    assert parse_mask_ratio(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["mdlm", "0-1", "set:0.25,0.5,0.75", "sched:0.3>0.15", "tnorm:0.55,0.1,0.3-0.9", "tnorm:-0.2,0.5,0-0.4",
     "beta:2,2,0.05-0.3", "beta:0.5,0.5,0-1", "sample:0.05-0.3", "sample:tnorm:0.5,0.2,0.1-0.9",
     "sample:set:0.1,0.2", "sample:beta:2,3,0.1-0.5"],
)
def test_every_form_round_trips_through_its_config_string(spec):
    ratio = parse_mask_ratio(spec)
    assert parse_mask_ratio(ratio.to_config()) == ratio
    assert parse_mask_ratio(str(ratio)) == ratio


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("set:", "empty"),
        ("set:0.2,1.0", "[0, 1)"),
        ("set:0.2,0.2", "twice"),
        ("set:0.2,x", "cannot read"),
        ("sched:0.3", "START>END"),
        ("sched:0.3>0.1>0.05", "START>END"),
        ("sched:1.2>0.1", "start ratio must be in [0, 1)"),
        ("sched:0.3>-0.1", "end ratio must be in [0, 1)"),
        ("tnorm:0.5,0,0.1-0.9", "standard deviation must be > 0"),
        ("tnorm:0.5,-0.1,0.1-0.9", "standard deviation must be > 0"),
        ("tnorm:0.9,0.01,0-0.5", "almost no mass"),
        ("tnorm:0.5,0.1,0.9-0.1", "must be below its high"),
        ("tnorm:0.5,0.1,0.1-1.5", "[0, 1]"),
        ("tnorm:0.5,0.1,0.4", "expected a range"),
        ("tnorm:0.5", "two numbers"),
        ("tnorm:inf,0.1", "finite"),
        ("beta:0,2,0.1-0.3", "alpha must be > 0"),
        ("beta:2,-1", "beta must be > 0"),
        ("beta:2,2,0.3-0.3", "must be below its high"),
        ("beta:2,2,0.1-0.3,4", "two numbers"),
        ("sample:0.15", "same for every example"),
        ("sample:sched:0.3>0.1", "schedule"),
        ("sample:mdlm", "per-example loss weight"),
        ("sample:sample:0-1", "prefix once"),
        ("sample:0.3-0.05", "greater than high"),
        ("cosine:0.3", "unknown ratio form"),
    ],
)
def test_errors_of_the_other_forms_name_the_option(spec, fragment):
    with pytest.raises(MaskRatioError) as info:
        parse_mask_ratio(spec, option="--mask-ratio")
    message = str(info.value)
    assert message.startswith("--mask-ratio:"), message
    assert fragment in message, message


def test_direct_construction_is_validated_too():
    with pytest.raises(MaskRatioError, match="empty"):
        SetRatio(())
    with pytest.raises(MaskRatioError, match="standard deviation"):
        TruncNormRatio(0.5, 0.0)
    with pytest.raises(MaskRatioError, match="alpha"):
        BetaRatio(-1.0, 1.0)
    with pytest.raises(MaskRatioError, match="fixed ratio"):
        PerSampleRatio(FixedRatio(0.2))


@pytest.mark.parametrize("spec", RANDOM_FORMS + ["sched:0.3>0.15"])
def test_every_form_is_a_pure_function_of_seed_and_step(spec):
    r = parse_mask_ratio(spec)
    a = [r.sample(7, s, total_steps=100) for s in range(100)]
    b = [r.sample(7, s, total_steps=100) for s in reversed(range(100))][::-1]
    assert a == b  # no hidden state: the order of calls does not matter
    assert a == [parse_mask_ratio(spec).sample(7, s, total_steps=100) for s in range(100)]  # a fresh sampler agrees
    if spec != "sched:0.3>0.15":
        assert a != [r.sample(8, s, total_steps=100) for s in range(100)]  # the seed matters
    with pytest.raises(ValueError):
        r.sample(0, -1, total_steps=100)


def test_new_forms_agree_across_processes():
    forms = RANDOM_FORMS + ["sched:0.3>0.15"]
    code = (
        "from bioR2.masking import parse_mask_ratio;"
        "print(repr([[parse_mask_ratio(f).sample(3, s, total_steps=1000) for s in range(0, 1000, 37)]"
        f" for f in {forms!r}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = [[parse_mask_ratio(f).sample(3, s, total_steps=1000) for s in range(0, 1000, 37)] for f in forms]
    assert eval(out.stdout) == here


def test_forms_share_the_per_step_uniform():
    # One unit uniform per (seed, step) drives every random form: mdlm draws exactly what 0-1
    # draws, and the forms are comonotone (paired comparisons across forms).
    steps = range(300)
    mdlm = [MDLMRatio().sample(5, s) for s in steps]
    assert mdlm == [UniformRatio(0.0, 1.0).sample(5, s) for s in steps]
    for spec in RANDOM_FORMS:
        other = _draws(parse_mask_ratio(spec), 300, seed=5)
        assert stats.spearmanr(mdlm, other).statistic > 0.9, spec


def test_mdlm_is_uniform_with_a_floored_inverse_weight():
    r = parse_mask_ratio("mdlm")
    draws = _draws(r)
    assert 0.0 <= draws.min() and draws.max() < 1.0
    assert stats.kstest(draws, stats.uniform.cdf).pvalue > 1e-3
    assert r.mean == 0.5 and r.weighted
    assert r.loss_weight(0.25) == 4.0
    assert r.loss_weight(0.0) == r.loss_weight(MDLM_WEIGHT_FLOOR / 10) == 1.0 / MDLM_WEIGHT_FLOOR
    assert all(math.isfinite(r.loss_weight(p)) for p in draws)


@pytest.mark.parametrize("spec", ["0.15", "0-1", "0.05-0.3", "set:0.25,0.5", "sched:0.3>0.15",
                                  "tnorm:0.55,0.1,0.3-0.9", "beta:2,2", "sample:0.05-0.3"])
def test_only_mdlm_weights_the_loss(spec):
    r = parse_mask_ratio(spec)
    assert not r.weighted
    assert {r.loss_weight(p) for p in (0.0, 0.001, 0.3, 0.99)} == {1.0}


def test_set_draws_each_value_equally_often_chi2():
    values = (0.25, 0.5, 0.75)
    draws = _draws(SetRatio(values), 6000)
    assert set(draws) == set(values)
    counts = [int((draws == v).sum()) for v in values]
    assert stats.chisquare(counts).pvalue > 1e-3
    # the test can fail: the same draws are far from a 50/25/25 split
    assert stats.chisquare(counts, [3000, 1500, 1500]).pvalue < 1e-3
    assert SetRatio(values).mean == pytest.approx(0.5)
    assert SetRatio((0.4,)).sample(0, 3) == 0.4


def test_schedule_is_linear_from_start_to_end_over_the_run():
    r = parse_mask_ratio("sched:0.3>0.15")
    T = 11
    p = [r.sample(0, s, total_steps=T) for s in range(T)]
    assert p[0] == 0.3 and p[-1] == 0.15  # the ends exactly
    np.testing.assert_allclose(p, np.linspace(0.3, 0.15, T), rtol=0, atol=1e-15)
    assert r.sample(0, 50, total_steps=T) == 0.15  # past the end: the end ratio
    assert r.sample(0, 0, total_steps=1) == 0.3
    assert {r.sample(seed, 4, total_steps=T) for seed in range(5)} == {p[4]}  # no randomness
    assert r.mean == pytest.approx(np.mean(p))  # the average over the run
    assert r.needs_total_steps


def test_schedule_without_total_steps_is_a_clear_error():
    r = parse_mask_ratio("sched:0.3>0.15")
    with pytest.raises(MaskRatioError, match="total number of steps"):
        r.sample(0, 3)
    with pytest.raises(MaskRatioError, match="total_steps must be a positive integer"):
        r.sample(0, 3, total_steps=0)
    with pytest.raises(MaskRatioError, match="total number of steps"):
        r.sample_rows(0, 3, torch.arange(4))


def test_truncated_normal_matches_scipy_ks():
    mu, sd, low, high = 0.55, 0.1, 0.3, 0.9
    draws = _draws(parse_mask_ratio(f"tnorm:{mu},{sd},{low}-{high}"))
    assert draws.min() >= low and draws.max() <= high
    target = stats.truncnorm((low - mu) / sd, (high - mu) / sd, loc=mu, scale=sd)
    assert stats.kstest(draws, target.cdf).pvalue > 1e-3
    wrong = stats.truncnorm((low - mu) / 0.12, (high - mu) / 0.12, loc=mu, scale=0.12)
    assert stats.kstest(draws, wrong.cdf).pvalue < 1e-3  # a 20% wider sd is detected
    assert parse_mask_ratio(f"tnorm:{mu},{sd},{low}-{high}").mean == pytest.approx(target.mean(), abs=1e-12)


def test_truncated_normal_far_in_a_tail_is_still_exact():
    # MAGE-like mass on one side of the mean, and a range wholly above the mean (upper tail).
    for mu, sd, low, high in [(0.55, 0.25, 0.5, 1.0), (0.1, 0.1, 0.4, 0.9)]:
        r = TruncNormRatio(mu, sd, low, high)
        draws = _draws(r, 3000)
        target = stats.truncnorm((low - mu) / sd, (high - mu) / sd, loc=mu, scale=sd)
        assert draws.min() >= low and draws.max() < 1.0
        assert stats.kstest(draws, target.cdf).pvalue > 1e-3
        assert r.mean == pytest.approx(target.mean(), rel=1e-9)


@pytest.mark.parametrize("a, b, low, high", [(2.0, 2.0, 0.05, 0.3), (0.5, 0.5, 0.0, 1.0), (5.0, 1.5, 0.1, 0.6)])
def test_beta_matches_scipy_ks(a, b, low, high):
    r = BetaRatio(a, b, low, high)
    draws = _draws(r)
    assert draws.min() >= low and draws.max() < high
    target = stats.beta(a, b, loc=low, scale=high - low)
    assert stats.kstest(draws, target.cdf).pvalue > 1e-3
    assert stats.kstest(draws, stats.beta(a, b * 1.3, loc=low, scale=high - low).cdf).pvalue < 1e-3
    assert r.mean == pytest.approx(target.mean(), abs=1e-12)


@pytest.mark.parametrize("spec", RANDOM_FORMS + ["0.15", "sched:0.3>0.15", "sample:beta:2,5,0.1-0.6"])
def test_mean_matches_draws_and_quadrature(spec):
    r = parse_mask_ratio(spec)
    if r.per_sample:
        draws = r.sample_rows(0, 0, torch.arange(20000)).numpy()
    else:
        draws = _draws(r, 20000, total_steps=20000)
    se = draws.std() / math.sqrt(draws.size)
    assert abs(draws.mean() - r.mean) < 5 * se + 1e-6  # moment test
    p, w = r.nodes()
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    assert float(w @ p) == pytest.approx(r.mean, abs=1e-9)
    # the second moment of the quadrature matches the draws too
    assert float(w @ p**2) == pytest.approx(float((draws**2).mean()),
                                            abs=5 * (draws**2).std() / math.sqrt(draws.size) + 1e-6)


def test_quadrature_moments_are_exact_where_known():
    p, w = BetaRatio(0.5, 2.5, 0.1, 0.6).nodes(16)  # Gauss–Jacobi: exact even with a singular density
    target = stats.beta(0.5, 2.5, loc=0.1, scale=0.5)
    assert float(w @ p) == pytest.approx(target.mean(), rel=1e-12)
    assert float(w @ p**2) == pytest.approx(target.moment(2), rel=1e-12)
    p, w = TruncNormRatio(0.55, 0.1, 0.3, 0.9).nodes()
    target = stats.truncnorm(-2.5, 3.5, loc=0.55, scale=0.1)
    assert float(w @ p**2) == pytest.approx(target.moment(2), rel=1e-10)
    p, w = ScheduleRatio(0.3, 0.15).nodes()  # many steps: uniform over [0.15, 0.3]
    assert float(w @ p**2) == pytest.approx((0.3**3 - 0.15**3) / (3 * 0.15), rel=1e-12)
    p, w = SetRatio((0.25, 0.5, 0.75)).nodes()
    assert sorted(p) == [0.25, 0.5, 0.75] and np.allclose(w, 1 / 3)


def test_mdlm_weighted_quadrature_integrates_the_floored_weight():
    eps = MDLM_WEIGHT_FLOOR
    p, w = MDLMRatio().nodes(weighted=True)
    assert w.sum() == pytest.approx(1.0)
    # E_ω[p] = ∫ p ω(p) dp / ∫ ω(p) dp with ω = 1/max(p, ε): (ε/2 + 1 − ε) / (1 + ln(1/ε))
    assert float(w @ p) == pytest.approx((eps / 2 + 1 - eps) / (1 + math.log(1 / eps)), rel=1e-10)
    p0, w0 = MDLMRatio().nodes()  # unweighted: U(0, 1)
    assert float(w0 @ p0) == pytest.approx(0.5)


def test_sample_rows_of_a_per_batch_form_repeats_the_step_ratio():
    r = parse_mask_ratio("0.05-0.3")
    rows = r.sample_rows(3, 17, torch.arange(6))
    assert rows.dtype == torch.float64 and rows.shape == (6,)
    assert set(rows.tolist()) == {r.sample(3, 17)}
    sched = parse_mask_ratio("sched:0.3>0.15")
    assert set(sched.sample_rows(0, 5, torch.arange(3), total_steps=11).tolist()) == {sched.sample(0, 5, 11)}


def test_per_example_ratios_are_keyed_by_seed_step_and_dataset_index():
    r = parse_mask_ratio("sample:0.05-0.3")
    assert r.per_sample and not parse_mask_ratio("0.05-0.3").per_sample
    ids = torch.tensor([5, 900, 2**33 + 1, 17, 3])
    rows = r.sample_rows(3, 7, ids)
    assert rows.dtype == torch.float64 and rows.shape == (5,)
    # the same example gets the same ratio whatever batch, order or rank it sits in
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert torch.equal(r.sample_rows(3, 7, ids[perm]), rows[perm])
    assert torch.equal(r.sample_rows(3, 7, ids[:2]), rows[:2])
    assert not torch.equal(r.sample_rows(3, 8, ids), rows)  # another step
    assert not torch.equal(r.sample_rows(4, 7, ids), rows)  # another seed
    # sample() is the step's expected ratio (what the trainer shows); the rows are the draws
    assert r.sample(3, 7) == r.mean == pytest.approx(0.175)
    with pytest.raises(ValueError):
        r.sample_rows(3, -1, ids)


@pytest.mark.parametrize("spec, target", [
    ("sample:0.05-0.3", stats.uniform(loc=0.05, scale=0.25)),
    ("sample:beta:2,2,0.05-0.3", stats.beta(2, 2, loc=0.05, scale=0.25)),
    ("sample:tnorm:0.55,0.1,0.3-0.9", stats.truncnorm(-2.5, 3.5, loc=0.55, scale=0.1)),
])
def test_per_example_ratios_follow_the_distribution_ks(spec, target):
    r = parse_mask_ratio(spec)
    within = r.sample_rows(0, 0, torch.arange(5000)).numpy()  # many examples of one step
    across = np.concatenate([r.sample_rows(1, s, torch.arange(s * 4, s * 4 + 4)).numpy() for s in range(1000)])
    for draws in (within, across):
        assert stats.kstest(draws, target.cdf).pvalue > 1e-3
    # independent of the per-step draws of the same seed
    steps = np.array([parse_mask_ratio(spec[len("sample:"):]).sample(1, s) for s in range(1000)])
    assert abs(stats.pearsonr(steps, across[::4]).statistic) < 0.15


def test_per_example_set_draws_every_value():
    rows = parse_mask_ratio("sample:set:0.25,0.5,0.75").sample_rows(0, 0, torch.arange(3000)).numpy()
    counts = [int((rows == v).sum()) for v in (0.25, 0.5, 0.75)]
    assert sum(counts) == 3000 and stats.chisquare(counts).pvalue > 1e-3


def test_per_example_ratios_agree_across_processes():
    code = (
        "import torch; from bioR2.masking import parse_mask_ratio;"
        "print(parse_mask_ratio('sample:beta:2,2,0.05-0.3').sample_rows(3, 11, torch.arange(0, 4000, 97)).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = parse_mask_ratio("sample:beta:2,2,0.05-0.3").sample_rows(3, 11, torch.arange(0, 4000, 97)).tolist()
    assert eval(out.stdout) == here
