r"""Closed forms for the test risk of masked ridgeless regression, and the optimal masking ratio.

Notation: ``q = 1 − p`` is the keep probability, ``γ = d / n``, ``X̃ = X ⊙ Z`` with
``Z_ij ~ Bernoulli(q_i)``, ``β̂`` the minimum-norm least-squares fit of ``y = Xβ + ε`` on ``X̃``,
and the risk is ``(β̂ − β)ᵀ Σ (β̂ − β)`` for a fresh, *unmasked* test row.

1. Why a masked design behaves like a Gaussian one
--------------------------------------------------
A masked row ``x̃ = x ⊙ z`` has second moments

    E[x̃_j x̃_k] = E[z_j z_k] Σ_jk = q² Σ_jk  (j ≠ k),     E[x̃_j²] = q Σ_jj,

so ``S := E[x̃ x̃ᵀ] = q[(qΣ + p·diag(Σ)]`` and ``E[x̃ y] = E[(z ⊙ x) xᵀ] β = qΣβ``. Regressing
``y`` on ``x̃`` is therefore a *misspecified* linear model with design covariance ``S``, best
linear coefficient

    b = S⁻¹ qΣβ = [qΣ + p·diag(Σ)]⁻¹ Σβ,

and a residual ``ε̃ = y − x̃ᵀb`` that is uncorrelated with ``x̃`` and has variance

    σ̃² = Var(y) − bᵀSb = βᵀΣβ + σ² − bᵀSb.

The residual is the signal carried by masked-out entries plus the label noise: masking turns
part of the signal into noise. High-dimensional least squares is universal in the design's
distribution (its risk depends on the rows only through their covariance, as long as the rows
are "spread out" — true here because every row is a sum over ``d`` independent Bernoulli-
weighted coordinates), so we may replace ``x̃`` by a Gaussian row with covariance ``S`` and
``ε̃`` by independent noise of variance ``σ̃²``.

2. Isotropic Σ = I (exact asymptotics)
--------------------------------------
Then ``S = qI``, ``b = β`` and ``σ̃² = σ² + p‖β‖² =: s²`` (for ``Σ = I`` the masked-out
entries are independent of the observed ones, so ``ε̃`` is even exactly independent of ``X̃``).
Write ``x̃ = √q w`` with ``w`` isotropic: in ``w``-coordinates the coefficient is ``√q β``
and the classical ridgeless risks (Hastie, Montanari, Rosset & Tibshirani 2022) of
``E[(wᵀ(θ̂ − θ))²] = q ‖β̂ − β‖²`` are ``s² γ/(1 − γ)`` for ``γ < 1`` and
``q‖β‖²(1 − 1/γ) + s²/(γ − 1)`` for ``γ > 1``. Dividing by ``q`` to return to the unmasked
test metric ``‖β̂ − β‖²``:

    R(p) = s²/(1 − p) · γ/(1 − γ)                         γ < 1
    R(p) = ‖β‖² (1 − 1/γ) + s²/((1 − p)(γ − 1))           γ > 1

``R`` increases with ``p`` for every ``γ``: with an isotropic design masking never helps.
We split it as ``variance = σ²·(…)`` (the label-noise part) and ``bias`` = the rest, which
includes the masked-signal term ``p‖β‖²·(…)`` — the same split the simulation computes exactly.

3. General Σ: a deterministic equivalent
----------------------------------------
For ridge-regularised least squares ``(X̃ᵀX̃ + λI)⁻¹X̃ᵀy`` with Gaussian rows of covariance
``S`` (eigenvalues ``λ_i``), let ``κ > 0`` solve

    κ (1 − df₁(κ)/n) = λ/n,      df₁(κ) = Σ_i λ_i/(λ_i + κ)

(for ``λ → 0`` and ``d > n``: ``n = Σ_i λ_i/(λ_i + κ)``; for ``d < n``: ``κ = 0``), and
``df₂ = Σ_i λ_i²/(λ_i + κ)²``. Then ``E[β̂] ≈ S(S + κ)⁻¹ b =: m`` and, for the test metric
``Σ`` (the standard deterministic equivalents of e.g. Bach 2024, Hastie et al. 2022 with a
test covariance different from the training one),

    R ≈ (m − β)ᵀ Σ (m − β)  +  [κ² bᵀ S (S + κ)⁻² b + σ̃²] · F,
    F = (1/n) tr(Σ S (S + κ)⁻²) / (1 − df₂/n).

The first term is the squared error of the mean estimator (it contains the misspecification
``b ≠ β``), the bracket's first part is the fluctuation of the bias, and ``σ̃² F`` is the
variance from the effective noise. With ``Σ = I`` this reduces exactly to section 2.

For the spiked model we use the *delocalised* limit ``diag(Σ) → (tr Σ / d) I`` (spikes with
no large coordinates — true for random spikes as ``d → ∞``). Then ``Σ``, ``S`` and ``β`` share
an eigenbasis and every trace is a sum over ``k + 1`` blocks, so a risk costs microseconds
(:func:`spiked_risk`). :func:`deterministic_equivalent` does the same for any dense ``Σ`` and
``β`` with one eigendecomposition. The approximation drifts when ``n`` is small (finite-size
fluctuations) and when ``δ/d`` is large (the diagonal of ``Σ`` is then far from constant for a
concrete spike); the benchmark measures both.

4. R²MAE with infinite re-masking is a fixed ratio
--------------------------------------------------
Stack ``m`` independently masked copies of every row, each copy with its own ratio
``p ~ U(a, b)``, and take the min-norm fit. Once ``mn > d`` this is ordinary least squares, and
by the law of large numbers over copies

    (1/m) Σ_c X̃_cᵀ X̃_c → E[q²] XᵀX + E[q(1 − q)] diag(XᵀX),     (1/m) Σ_c X̃_cᵀ y → E[q] Xᵀy,

(same moments as in section 1, now conditional on ``X``), so

    β̂_∞ = (E[q²] XᵀX + E[q(1−q)] diag(XᵀX))⁻¹ E[q] Xᵀy
        = (q_eff XᵀX + (1 − q_eff) diag(XᵀX))⁻¹ Xᵀy,      q_eff = E[q²]/E[q]

(divide through by ``E[q]``; ``E[q(1−q)]/E[q] = 1 − q_eff``). A fixed ratio ``p`` gives the
same expression with ``q_eff = q``. Hence random ratios with infinite re-masking are *exactly*
the fixed ratio ``p_eff = 1 − E[q²]/E[q]`` (``U(0, 0.4)`` ≡ ``p = 0.1833``), and can never beat
the best fixed ratio. This estimator is a generalised ridge ("dropout is an adaptive ridge",
Wager et al. 2013): :func:`remask_limit_estimator`, :func:`effective_ratio`.

5. One mask per sample with a random ratio, isotropic Σ: exact asymptotics
--------------------------------------------------------------------------
With ``p_i ~ U(a, b)`` the rows are heteroscedastic: ``x̃_i = √q_i w_i`` with ``w_i``
isotropic, and ``y_i = x̃_iᵀβ + ε̃_i`` with ``Var(ε̃_i) = s_i² = σ² + p_i‖β‖²`` (independent of
``x̃_i`` for ``Σ = I``).

*γ > 1.* ``X̃ = Q^{1/2} W`` and ``X̃ᵀ(X̃X̃ᵀ)⁻¹ = Wᵀ(WWᵀ)⁻¹Q^{-1/2}``, so the min-norm fit is the
min-norm fit of the isotropic design ``W`` on ``y_i/√q_i = w_iᵀβ + ε̃_i/√q_i``: the bias is
unchanged and the noise level is the average of ``s_i²/q_i``::

    R = ‖β‖²(1 − 1/γ) + E_p[(σ² + p‖β‖²)/(1 − p)] / (γ − 1).

``f(p) = (σ² + p‖β‖²)/(1 − p)`` is convex, so by Jensen a range is worse than the fixed ratio
``E[p]`` (and ``f`` increases, so the best ratio is 0).

*γ < 1.* Least squares with row weights ``q_i``: ``tr(A⁻¹)`` for ``A = Σ_i q_i w_i w_iᵀ`` is
``τ`` solving ``E[qτ/(1 + qτ)] = γ`` (generalised Marchenko–Pastur), and differentiating that
fixed point along ``q_i → q_i − t·q_i s_i²`` gives the variance term::

    R = E[q s² τ/(1 + qτ)²] / E[q/(1 + qτ)²],

which is ``s²/(1 − p) · γ/(1 − γ)`` for a fixed ratio. :func:`isotropic_risk` accepts a range.

6. One mask per sample with a random ratio, spiked Σ: a Gaussian-equivalent approximation
-----------------------------------------------------------------------------------------
With ``p_i ~ U(a, b)`` per sample and one mask, the pooled second moments are
``S_mix = E[q²]Σ + E[q(1−q)] diag(Σ)`` and ``E[x̃y] = E[q]Σβ``, so the best linear coefficient
is again ``b(p_eff)`` while ``S_mix = (E[q]/q_eff)·S(p_eff)`` is *smaller* by the factor
``c = E[q]²/E[q²] <= 1`` and the effective noise is *larger*. Treating the rows as i.i.d.
Gaussian with covariance ``S_mix`` (this ignores that rows with small ``p_i`` are larger: an
approximation, measured against simulation in the benchmark), the per-sample range is the
fixed ratio ``p_eff`` plus extra noise — it cannot beat ``p_eff``. :func:`spiked_risk` accepts
a range and uses this approximation for spiked problems; its output's ``method`` says so.

7. Every other ratio form: its distribution over a run, and loss weights
--------------------------------------------------------------------------
Sections 4–6 use a random ratio only through its distribution: the moments ``E[q]``, ``E[q²]``
(4, 6) or integrals ``E[f(p)]`` (5). Each sampler of :mod:`bioR2.masking.ratio` exposes that
distribution as quadrature nodes (:meth:`~bioR2.masking.MaskRatio.nodes`), so every form works
here: ``set:…`` exactly (its atoms); ``beta:…`` by Gauss–Jacobi (exact moments); ``tnorm:…``
by Gauss–Legendre against its density; ``sched:a>b``, a deterministic ratio per step, as the
average over its steps — in the limit of many steps, ``U(min(a, b), max(a, b))`` (a run of
``T`` steps differs by ``O(1/T)``); ``sample:<form>`` like ``<form>`` (here every row already
draws its own ratio). As in section 5, a per-batch draw is modelled as a per-row one.

A loss weight ``ω(p)`` (``mdlm``: ``1/max(p, 10⁻³)``) turns the fit into weighted least
squares with row weights ``ω(p_i)``:

* re-masking limit (4): every average over copies carries ``ω``, so ``q_eff = E[ωq²]/E[ωq]``
  (:func:`keep_moments` with ``weighted=True``);
* ``γ > 1`` without ridge: the min-norm fit interpolates, and an interpolant does not depend on
  row weights — the risk is the unweighted one (5 and 6 unchanged);
* ``γ < 1``, ``Σ = I`` (5): ``β̂ − β = A⁻¹ Σ_i ω_i x̃_i ε̃_i`` with ``A = Σ_i ω_i x̃_i x̃_iᵀ =
  Σ_i c_i w_i w_iᵀ``, ``c = ωq``, so the risk ``Σ_i ω_i² s_i² x̃_iᵀA⁻²x̃_i = Σ_i c_i (ω_i s_i²)
  w_iᵀA⁻²w_i`` is section 5's with ``q → c`` and ``s² → ω s²``::

      E[cτ/(1 + cτ)] = γ,      R = E[c·ω s²·τ/(1 + cτ)²] / E[c/(1 + cτ)²];

* ``γ < 1``, spiked (6): the Gaussian equivalent of the weighted rows ``√ω x̃`` has the
  ``ω``-weighted moments (normalised by ``E[ω]``; a ridgeless fit does not see the scale);
* with ridge ``λ > 0`` the scale of ``ω`` matters and no closed form is given (use simulation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..masking import FixedRatio, MaskRatio, UniformRatio, parse_mask_ratio
from .problem import LinearProblem

__all__ = [
    "isotropic_risk",
    "deterministic_equivalent",
    "spiked_risk",
    "risk_curve",
    "optimal_p",
    "keep_moments",
    "effective_ratio",
    "remask_limit_estimator",
    "solve_kappa",
]

RatioLike = Union[MaskRatio, float, str]


def keep_moments(ratio: RatioLike, weighted: bool = False) -> Tuple[float, float]:
    """``(E[q], E[q²])`` of the keep probability ``q = 1 − p`` under the ratio's distribution over a
    run (closed forms for a fixed ratio and ``U(a, b)``, the sampler's quadrature otherwise).

    ``weighted=True``: under the loss-weighted distribution ``ω(p)P(dp)/E[ω]`` (section 7); the
    same as unweighted for every form but ``mdlm``.
    """
    r = parse_mask_ratio(ratio, "mask ratio")
    if isinstance(r, FixedRatio):
        q = 1.0 - r.p
        return q, q * q
    if isinstance(r, UniformRatio):
        lo, hi = 1.0 - r.high, 1.0 - r.low
        if hi - lo < 1e-15:
            return lo, lo * lo
        return 0.5 * (lo + hi), (hi**3 - lo**3) / (3.0 * (hi - lo))
    p, w = r.nodes(weighted=weighted)
    q = 1.0 - p
    return float(w @ q), float(w @ (q * q))


def _fit_moments(r: MaskRatio, gamma: float, ridge: float) -> Tuple[float, float]:
    """The keep moments a single-mask fit sees (section 7): loss weights matter only when the
    ridgeless fit does not interpolate (``γ < 1``); with ridge they have no closed form here."""
    if not r.weighted or (ridge == 0.0 and gamma > 1.0):
        return keep_moments(r)
    if ridge == 0.0:
        return keep_moments(r, weighted=True)
    raise ValueError(f"{r.to_config()}: no closed form for a loss-weighted ratio with ridge > 0; "
                     "use the simulation (--method simulate)")


def effective_ratio(ratio: RatioLike) -> float:
    """``p_eff = 1 − E[q²]/E[q]``: the fixed ratio equal to ``ratio`` under infinite re-masking
    (loss-weighted moments for a loss-weighted form, section 7)."""
    eq, eq2 = keep_moments(ratio, weighted=True)
    return 1.0 - eq2 / eq


def remask_limit_estimator(X: np.ndarray, y: np.ndarray, ratio: RatioLike) -> np.ndarray:
    """``(E[q²]XᵀX + E[q(1−q)]diag(XᵀX))⁻¹ E[q]Xᵀy``: the min-norm fit on infinitely many masked
    copies (the moments loss-weighted for a loss-weighted form)."""
    eq, eq2 = keep_moments(ratio, weighted=True)
    G = X.T @ X
    A = eq2 * G
    A[np.diag_indices_from(A)] += (eq - eq2) * np.diag(G)
    return np.linalg.solve(A, eq * (X.T @ y))


def _ratio_nodes(r: MaskRatio, order: int = 64) -> Tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights of the ratio distribution (one node for a fixed ratio)."""
    return r.nodes(order)


def _isotropic_range_risk(gamma: float, r: MaskRatio, sigma: float, beta_norm2: float) -> Dict[str, float]:
    """Section 5: per-sample random ratios with ``Σ = I`` (section 7 for loss weights)."""
    from scipy.optimize import brentq

    # A loss weight with a kink (mdlm's floor) needs more nodes than a smooth density.
    p, w = _ratio_nodes(r, 256 if r.weighted else 64)
    q = 1.0 - p
    if np.any(q <= 0):
        raise ValueError("a range reaching p = 1 masks whole rows; use high < 1")
    s2_noise, s2_mask = sigma**2 * np.ones_like(p), p * beta_norm2
    if gamma > 1.0:  # the ridgeless fit interpolates: loss weights do not matter
        variance = float(w @ (s2_noise / q)) / (gamma - 1.0)
        bias = beta_norm2 * (1.0 - 1.0 / gamma) + float(w @ (s2_mask / q)) / (gamma - 1.0)
        return {"risk": bias + variance, "bias": bias, "variance": variance}
    if r.weighted:  # section 7: q -> c = ωq, s² -> ωs²
        omega = np.array([r.loss_weight(float(v)) for v in p])
        q, s2_noise, s2_mask = omega * q, omega * s2_noise, omega * s2_mask
    tau = brentq(lambda t: float(w @ (q * t / (1.0 + q * t))) - gamma, 1e-12, 1e12, xtol=1e-14, rtol=1e-13)
    den = float(w @ (q / (1.0 + q * tau) ** 2))
    var_w = q * tau / (1.0 + q * tau) ** 2 / den
    variance, bias = float(w @ (var_w * s2_noise)), float(w @ (var_w * s2_mask))
    return {"risk": bias + variance, "bias": bias, "variance": variance}


def isotropic_risk(gamma: float, p: RatioLike, sigma: float, beta_norm2: float = 1.0) -> Dict[str, float]:
    """Sections 2, 5 and 7: ``{"risk", "bias", "variance"}`` for ``Σ = I`` (``γ = 1`` gives ``inf``).

    ``p`` is a fixed ratio, a per-sample range such as ``"0.05-0.3"`` or any other ratio form.
    """
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    r = parse_mask_ratio(p, "mask ratio")
    if not isinstance(r, FixedRatio):
        if gamma == 1.0:
            return {"risk": math.inf, "bias": math.inf, "variance": math.inf if sigma > 0 else 0.0}
        return _isotropic_range_risk(gamma, r, sigma, beta_norm2)
    p = r.p
    q = 1.0 - p
    if gamma == 1.0:
        return {"risk": math.inf, "bias": math.inf, "variance": math.inf if sigma > 0 else 0.0}
    if gamma < 1.0:
        factor = gamma / (1.0 - gamma) / q
        fixed = 0.0
    else:
        factor = 1.0 / (q * (gamma - 1.0))
        fixed = beta_norm2 * (1.0 - 1.0 / gamma)
    variance = sigma**2 * factor
    bias = fixed + p * beta_norm2 * factor
    return {"risk": bias + variance, "bias": bias, "variance": variance}


def solve_kappa(lams: np.ndarray, mult: np.ndarray, n: float, ridge: float = 0.0) -> float:
    """The effective regularisation ``κ`` of section 3 for eigenvalues ``lams`` with multiplicities ``mult``."""
    from scipy.optimize import brentq

    lams = np.asarray(lams, float)
    mult = np.asarray(mult, float)
    pos = lams > 0
    rank = float(mult[pos].sum())
    lam_n = ridge / n

    def df1(k: float) -> float:
        return float((mult * lams / (lams + k)).sum())

    if ridge == 0.0:
        if rank <= n:
            return 0.0
        f = lambda k: df1(k) - n  # decreasing from rank - n > 0 to -n
        lo, hi = 1e-14 * max(lams.max(), 1e-300), 1.0
        while f(hi) > 0:
            hi *= 4.0
        return brentq(f, lo, hi, xtol=1e-15, rtol=1e-13, maxiter=500)
    g = lambda k: k * (1.0 - df1(k) / n) - lam_n  # negative at lam_n, positive for large k
    lo, hi = lam_n, max(2.0 * lam_n, 1.0)
    while g(hi) < 0:
        hi *= 4.0
    return brentq(g, lo, hi, xtol=1e-15, rtol=1e-13, maxiter=500)


def _kappa_vec(lam: np.ndarray, mult: np.ndarray, n: float, ridge: float) -> np.ndarray:
    """Vectorised :func:`solve_kappa`: ``lam`` is ``(P, blocks)``, one ``κ`` per row.

    Bisection in ``log κ`` (the defining functions change sign exactly once), 200 steps:
    far below float precision and still microseconds per row.
    """
    rank = (mult * (lam > 0)).sum(axis=1)
    scale = lam.max(axis=1)
    lam_n = ridge / n

    def g(k):  # negative below the root, positive above
        df1 = (mult * lam / (lam + k[:, None])).sum(axis=1)
        return (n - df1) if ridge == 0.0 else k * (1.0 - df1 / n) - lam_n

    lo = np.log(np.maximum(1e-14 * scale, lam_n if ridge else 0.0) + 1e-300)
    hi = np.log(scale * 1e8 + lam_n + 1.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        neg = g(np.exp(mid)) < 0
        lo, hi = np.where(neg, mid, lo), np.where(neg, hi, mid)
    kappa = np.exp(0.5 * (lo + hi))
    if ridge == 0.0:
        kappa = np.where(rank <= n, 0.0, kappa)
    return kappa


def _de_blocks(lam, mult, sig, b2, beta_b, beta2, n, sigma_eff2, sigma2, ridge):
    """Section 3 in a basis where S and Σ are both diagonal, vectorised over rows.

    ``lam`` ``(P, blocks)`` eigenvalues of S; ``sig`` ``(blocks,)`` eigenvalues of Σ; ``mult``
    multiplicities; ``b2``, ``beta_b``, ``beta2`` ``(P, blocks)`` per-block energies of b, inner
    products ``⟨β, b⟩`` and energies of β; ``sigma_eff2`` ``(P,)``. Returns arrays
    ``risk, bias, variance, kappa`` of shape ``(P,)``.
    """
    kappa = _kappa_vec(lam, mult, n, ridge)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(lam > 0, lam / (lam + kappa), 0.0)
        g2 = np.where(lam > 0, lam / (lam + kappa) ** 2, 0.0)
        df2 = (mult * shrink**2).sum(axis=1)
        denom = 1.0 - df2 / n
        F = (mult * sig * g2).sum(axis=1) / n / denom
        # (m − β)ᵀΣ(m − β) per block: shrink²‖b‖² − 2 shrink⟨β, b⟩ + ‖β‖², weighted by σ_i.
        mean_err = (sig * (shrink**2 * b2 - 2.0 * shrink * beta_b + beta2)).sum(axis=1)
        fluct = kappa[:, 0] ** 2 * (g2 * b2).sum(axis=1)
        variance = sigma2 * F
        risk = mean_err + (fluct + sigma_eff2) * F
    bad = denom <= 1e-12
    risk, variance = np.where(bad, np.inf, risk), np.where(bad, np.inf, variance)
    bias = np.where(bad, np.inf, risk - variance)
    return risk, bias, variance, kappa[:, 0]


def _spiked_arrays(problem: LinearProblem, eq: np.ndarray, eq2: np.ndarray, ridge: float,
                   target: Optional[int]) -> Dict[str, np.ndarray]:
    """Section 3/6 (delocalised spikes) for arrays of keep moments ``E[q]``, ``E[q²]``."""
    d, n, k = problem.d, problem.n, problem.k
    deltas = np.array(problem.deltas, float)
    c = 1.0 + deltas.sum() / d  # mean diagonal of Σ (delocalised spikes)
    sig = np.concatenate([1.0 + deltas, [1.0]])
    mult = np.concatenate([np.ones(k), [d - k]])
    eq, eq2 = np.asarray(eq, float)[:, None], np.asarray(eq2, float)[:, None]
    lam = eq2 * sig + (eq - eq2) * c  # S = E[q²]Σ + E[q(1−q)] c I, per block
    coef = eq * sig / lam  # b = S⁻¹ E[q] Σ β, per block
    targets = range(len(problem.targets)) if target is None else [target]
    acc = [np.zeros(lam.shape[0]) for _ in range(4)]
    for t in targets:
        alphas = np.array(problem.targets[t], float)
        beta2 = np.concatenate([alphas**2, [max(0.0, 1.0 - float((alphas**2).sum()))]])[None, :]
        b2 = coef**2 * beta2
        var_y = float((sig * beta2).sum()) + problem.sigma**2
        sigma_eff2 = np.maximum(0.0, var_y - (lam * b2).sum(axis=1))
        parts = _de_blocks(lam, mult, sig, b2, coef * beta2, np.broadcast_to(beta2, lam.shape), n,
                           sigma_eff2, problem.sigma**2, ridge)
        for a, part in zip(acc, parts):
            a += part / len(targets)
    return dict(zip(("risk", "bias", "variance", "kappa"), acc))


def _moments_label(ratio: MaskRatio) -> str:
    return "exact asymptotics" if isinstance(ratio, FixedRatio) else "Gaussian-equivalent approximation"


def spiked_risk(problem: LinearProblem, ratio: RatioLike, ridge: float = 0.0,
                target: Optional[int] = 0) -> Dict[str, Any]:
    """Section 3 (delocalised spikes) for a fixed ratio; for a range or any other random form,
    section 5 (isotropic, exact) or section 6 (spiked, Gaussian-equivalent approximation), with
    section 7 for loss weights.

    Returns ``{"risk", "bias", "variance", "kappa", "method"}`` for one target
    (``target=None``: the average over the problem's targets). Reduces to
    :func:`isotropic_risk` with no spikes.
    """
    r = parse_mask_ratio(ratio, "mask ratio")
    if problem.k == 0 and not isinstance(r, FixedRatio) and ridge == 0.0:
        out = isotropic_risk(problem.gamma, r, problem.sigma)
        return {**out, "kappa": float("nan"), "method": "exact asymptotics (isotropic, per-sample ratios)"}
    eq, eq2 = _fit_moments(r, problem.gamma, ridge)
    out = _spiked_arrays(problem, np.array([eq]), np.array([eq2]), ridge, target)
    res: Dict[str, Any] = {key: float(v[0]) for key, v in out.items()}
    res["method"] = _moments_label(r)
    return res


def deterministic_equivalent(Sigma: np.ndarray, beta: np.ndarray, ratio: RatioLike, n: int,
                             sigma: float = 0.0, ridge: float = 0.0) -> Dict[str, float]:
    """Section 3 for any covariance matrix ``Sigma`` (``d × d``) and target ``beta``.

    Uses the exact ``diag(Σ)`` (no delocalisation), so it is the closed form to compare with a
    simulation whose spikes are fixed. One ``d × d`` eigendecomposition per call.
    """
    Sigma = np.asarray(Sigma, float)
    beta = np.asarray(beta, float).reshape(-1)
    if Sigma.shape != (beta.size, beta.size):
        raise ValueError(f"Sigma {Sigma.shape} does not match beta of length {beta.size}")
    eq, eq2 = _fit_moments(parse_mask_ratio(ratio, "mask ratio"), beta.size / n, ridge)
    D = np.diag(np.diag(Sigma))
    S = eq2 * Sigma + (eq - eq2) * D
    b = np.linalg.solve(S, eq * (Sigma @ beta))
    lam, Q = np.linalg.eigh(S)
    lam = np.clip(lam, 0.0, None)
    bt, betat = Q.T @ b, Q.T @ beta
    sig_t = Q.T @ Sigma @ Q
    var_y = float(beta @ Sigma @ beta) + sigma**2
    sigma_eff2 = max(0.0, var_y - float(b @ S @ b))
    kappa = solve_kappa(lam, np.ones_like(lam), n, ridge)
    shrink = lam / (lam + kappa) if kappa > 0 else np.ones_like(lam)
    df2 = float((shrink**2).sum())
    denom = 1.0 - df2 / n
    if denom <= 1e-12:
        return {"risk": math.inf, "bias": math.inf, "variance": math.inf, "kappa": kappa}
    F = float((np.diag(sig_t) * lam / (lam + kappa) ** 2).sum()) / n / denom
    err = shrink * bt - betat
    mean_err = float(err @ sig_t @ err)
    fluct = kappa**2 * float((lam / (lam + kappa) ** 2 * bt**2).sum())
    variance = sigma**2 * F
    risk = mean_err + (fluct + sigma_eff2) * F
    return {"risk": risk, "bias": risk - variance, "variance": variance, "kappa": float(kappa)}


def risk_curve(problem: LinearProblem, ps: Sequence[float], ridge: float = 0.0,
               target: Optional[int] = 0) -> Dict[str, np.ndarray]:
    """Closed-form ``risk``, ``bias``, ``variance`` over a grid of fixed ratios (vectorised)."""
    ps = np.asarray(ps, float)
    if np.any((ps < 0) | (ps >= 1)):
        raise ValueError("fixed masking ratios must be in [0, 1)")
    q = 1.0 - ps
    out = _spiked_arrays(problem, q, q * q, ridge, target)
    return {key: out[key] for key in ("risk", "bias", "variance")}


@dataclass(frozen=True)
class OptimalRatio:
    """``p*`` on a grid, its risk and the bias/variance split there and at ``p = 0``."""

    p_star: float
    risk: float
    bias: float
    variance: float
    risk_at_0: float
    bias_at_0: float
    variance_at_0: float

    def as_dict(self) -> Dict[str, float]:
        return dict(self.__dict__)


def optimal_p(problem: LinearProblem, grid: Optional[Sequence[float]] = None, ridge: float = 0.0,
              target: Optional[int] = 0) -> OptimalRatio:
    """Minimise the closed-form risk over ``grid`` (default ``0, 0.0025, …, 0.95``)."""
    grid = np.round(np.arange(0.0, 0.9501, 0.0025), 6) if grid is None else np.asarray(grid, float)
    curve = risk_curve(problem, grid, ridge, target)
    i = int(np.nanargmin(curve["risk"]))
    at0 = spiked_risk(problem, 0.0, ridge, target)
    return OptimalRatio(float(grid[i]), float(curve["risk"][i]), float(curve["bias"][i]),
                        float(curve["variance"][i]), at0["risk"], at0["bias"], at0["variance"])
