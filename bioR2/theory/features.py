"""A nonlinear stand-in: masked random-features (ReLU) regression, simulated like the linear model.

The model is ``f(x) = relu(Wᵀ x̃ / √d)ᵀ θ`` with a fixed random ``W`` (``d × width``) and ``θ``
fitted by minimum-norm least squares (or ridge) on the masked training inputs ``x̃``; the
target stays linear, ``y = xᵀβ + ε``. Test risk ``E[(f(x₀) − x₀ᵀβ)²]`` is a Monte-Carlo mean
over a fixed test sample of unmasked (or masked) rows, exact over the label noise. The test
sample, ``W``, the design and the mask uniforms are shared by every setting of a seed, so
settings are paired exactly as in :func:`bioR2.theory.simulate.simulate`.
"""

from __future__ import annotations

from typing import Dict, Iterable, Sequence, Union

import numpy as np

from ..masking import parse_mask_ratio
from .problem import LinearProblem, named_stream, draw_instance
from .simulate import (Estimator, RatioLike, SimResult, draw_design, fit_operator, masked_design, row_weights,
                       sample_ratios)

__all__ = ["simulate_random_features"]


def simulate_random_features(problem: LinearProblem, ratios: Iterable[RatioLike], seeds: Union[int, Sequence[int]],
                             width: int, n_test: int = 1000, estimator: Estimator = Estimator(),
                             test_ratios: Sequence[float] = (0.0,)) -> Dict[str, SimResult]:
    """Risk of masked random-features regression for several masking settings (paired seeds).

    ``width`` is the number of ReLU features (the model size; ``width / n`` plays the role of
    ``γ``). Re-masking is not supported here (``estimator.remask`` must be 1).
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    if estimator.remask != 1:
        raise ValueError("random features: re-masking (remask > 1) is not supported")
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    parsed = [parse_mask_ratio(r, "mask ratio") for r in ratios]
    T = len(problem.targets)
    out = {r.to_config(): SimResult(r.to_config(), seeds, *(np.zeros((len(seeds), T)) for _ in range(3)))
           for r in parsed}
    for si, seed in enumerate(seeds):
        inst = draw_instance(problem, seed)
        X, _, _, U = draw_design(inst)
        W = named_stream(seed, "rf-weights").standard_normal((problem.d, width)) / np.sqrt(problem.d)
        X0 = inst.cov.sample(named_stream(seed, "rf-test"), n_test)
        y0 = X0 @ inst.betas
        U0 = named_stream(seed, "rf-test-masks").random(X0.shape)
        tests = []
        for pt in test_ratios:
            X0in = X0 if pt == 0.0 else masked_design(X0, np.full(n_test, pt), U0, estimator.rescale)
            tests.append(np.maximum(X0in @ W, 0.0))
        signal = X @ inst.betas
        for r in parsed:
            p_rows = sample_ratios(r, problem.n, seed, estimator.block)
            F = np.maximum(masked_design(X, p_rows, U, estimator.rescale) @ W, 0.0)
            w = row_weights(r, p_rows)
            if w is None:
                R = fit_operator(F, estimator.ridge)
            else:  # a loss-weighted form (mdlm): weighted least squares
                sw = np.sqrt(w)
                R = fit_operator(F * sw[:, None], estimator.ridge) * sw
            theta = R @ signal
            bias = np.mean([((F0 @ theta - y0) ** 2).mean(axis=0) for F0 in tests], axis=0)
            var = problem.sigma**2 * np.mean([((F0 @ R) ** 2).sum() / n_test for F0 in tests])
            res = out[r.to_config()]
            res.bias[si], res.variance[si] = bias, var
            res.risk[si] = bias + var
    return out
