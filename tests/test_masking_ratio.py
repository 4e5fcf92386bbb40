"""Ratio samplers and the one ratio parser."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from bioR2.masking import FixedRatio, MaskRatioError, UniformRatio, mdlm_ratio, parse_mask_ratio


@pytest.mark.parametrize(
    "spec, expected",
    [
        (0.15, FixedRatio(0.15)),
        ("0.15", FixedRatio(0.15)),
        (" 0.15 ", FixedRatio(0.15)),
        (0, FixedRatio(0.0)),
        ("0.05-0.3", UniformRatio(0.05, 0.3)),
        ("0-1", UniformRatio(0.0, 1.0)),
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
