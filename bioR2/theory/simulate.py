"""Monte-Carlo test risk of masked regression, exact given the design and paired across settings.

For one seed we draw the design ``X`` (``n × d``, rows ``N(0, Σ)``), one matrix of mask
uniforms ``U`` (``n × d``) and, for R²MAE, per-sample ratios ``p_i`` from the core's
:func:`bioR2.masking.parse_mask_ratio` samplers. A setting with ratio ``p_i`` keeps entry
``(i, j)`` when ``U_ij >= p_i``, so every setting of the same seed sees the *same* ``X``, the
same noise and nested masks (a larger ``p`` masks a superset): differences between settings
are paired and their standard errors are small.

Estimator (the ridgeless limit by default): ``β̂ = R y`` with

    R = X̃ᵀ (X̃ X̃ᵀ + λI)⁻¹   when n < d  (the Gram-matrix trick: an n × n solve)
    R = (X̃ᵀ X̃ + λI)⁻¹ X̃ᵀ   when n >= d

which at ``λ = 0`` is the minimum-norm least-squares solution ``X̃⁺ y``.

Risk, for a fresh unmasked ``x₀``: ``(β̂ − β)ᵀ Σ (β̂ − β)``. Both expectations that can be
taken exactly are taken exactly — over ``x₀`` (a quadratic form in ``Σ``) and over the label
noise ``ε`` given the design — so the only Monte-Carlo error left is over ``(X, Z)``::

    bias     = (R X β − β)ᵀ Σ (R X β − β)        everything not proportional to σ²
    variance = σ² tr(Rᵀ Σ R)                      the label-noise part
    risk     = bias + variance

With masking, ``bias`` contains the masked-out signal that acts like extra noise (the closed
forms of :mod:`bioR2.theory.asymptotics` split the same way).

Any ratio form of :func:`~bioR2.masking.parse_mask_ratio` works: row ``i`` plays the role of
step ``i // block`` of a run of ``⌈rows / block⌉`` steps (so a schedule ``sched:a>b`` spreads its
steps over the rows, and a ``sample:`` form draws per row even inside a block). A loss-weighted
form (``mdlm``) fits weighted least squares, row ``i`` weighted by ``loss_weight(p_i)`` — the
linear-model form of multiplying a step's loss; a ridgeless fit that interpolates (fewer rows
than features) does not depend on row weights.

Options beyond the issue's setup (used by :mod:`bioR2.theory.search`): ridge ``λ > 0``,
inverted-dropout rescaling ``X̃ / (1 − p_i)``, ``m`` independently masked copies of each row
(re-masking), ratios shared by blocks of rows (per-batch R²MAE), and test inputs that are
themselves masked at some ratio.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..masking import FixedRatio, MaskRatio, UniformRatio, parse_mask_ratio
from .problem import Instance, LinearProblem, SpikedCovariance, named_stream, draw_instance

__all__ = [
    "Estimator",
    "SimResult",
    "simulate",
    "simulate_risk",
    "sample_ratios",
    "row_weights",
    "masked_design",
    "fit_operator",
    "fit",
    "draw_design",
]

RatioLike = Union[MaskRatio, float, str, Mapping]


@dataclass(frozen=True)
class Estimator:
    """How the masked regression is fitted.

    ridge
        ``λ`` of ``‖y − X̃β‖² + λ‖β‖²``; 0 is the minimum-norm (ridgeless) solution.
    rescale
        Divide kept entries by ``1 − p_i`` (inverted dropout); a masked test input is then
        rescaled by ``1 / (1 − p_test)`` too. The issue's setup has no rescaling.
    remask
        ``m`` independently masked copies of every row, stacked (the ratio redrawn per copy).
    block
        Rows that share one ratio draw: 1 is per-sample R²MAE, 8 or 32 mimic mini-batches.
    """

    ridge: float = 0.0
    rescale: bool = False
    remask: int = 1
    block: int = 1

    def __post_init__(self) -> None:
        if not (self.ridge >= 0 and math.isfinite(self.ridge)):
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")
        if int(self.remask) != self.remask or self.remask < 1:
            raise ValueError(f"remask must be a positive integer, got {self.remask}")
        if int(self.block) != self.block or self.block < 1:
            raise ValueError(f"block must be a positive integer, got {self.block}")


@dataclass
class SimResult:
    """Per-seed, per-target risks of one masking setting (arrays of shape ``(seeds, targets)``)."""

    ratio: str
    seeds: List[int]
    risk: np.ndarray
    bias: np.ndarray
    variance: np.ndarray

    def summary(self, target: Optional[int] = None) -> Dict[str, float]:
        """Mean and standard error over seeds of one target, or of the target-average."""
        def pick(a: np.ndarray) -> np.ndarray:
            return a.mean(axis=1) if target is None else a[:, target]

        r = pick(self.risk)
        se = float(r.std(ddof=1) / math.sqrt(r.size)) if r.size > 1 else float("nan")
        return {"risk": float(r.mean()), "se": se, "bias": float(pick(self.bias).mean()),
                "variance": float(pick(self.variance).mean())}

    def worst_case(self) -> np.ndarray:
        """Per-seed risk of the worst target (by mean risk over seeds)."""
        return self.risk[:, int(np.argmax(self.risk.mean(axis=0)))]

    def average(self) -> np.ndarray:
        """Per-seed risk averaged over targets."""
        return self.risk.mean(axis=1)


@functools.lru_cache(maxsize=4096)
def _ratio_draws(ratio: MaskRatio, seed: int, count: int, block: int) -> np.ndarray:
    steps = -(-count // block)  # the run has one step per block of rows (schedules need it)
    return np.array([ratio.sample(seed, i // block, total_steps=steps) for i in range(count)], dtype=float)


@functools.lru_cache(maxsize=256)
def _row_draws(ratio: MaskRatio, seed: int, count: int, block: int) -> np.ndarray:
    """Per-example forms: row ``i`` is example ``i`` at step ``i // block``."""
    import torch

    out = np.empty(count, dtype=float)
    for start in range(0, count, block):
        ids = torch.arange(start, min(start + block, count))
        out[start:start + block] = ratio.sample_rows(seed, start // block, ids).numpy()
    return out


def row_weights(ratio: RatioLike, p_rows: np.ndarray) -> Optional[np.ndarray]:
    """Per-row loss weights ``loss_weight(p_i)`` of a loss-weighted form (``mdlm``); ``None``
    for every other form (all weights 1)."""
    r = parse_mask_ratio(ratio, "mask ratio")
    if not r.weighted:
        return None
    return np.array([r.loss_weight(float(p)) for p in p_rows], dtype=float)


_UNIT = UniformRatio(0.0, 1.0)


def sample_ratios(ratio: RatioLike, count: int, seed: int, block: int = 1) -> np.ndarray:
    """Per-row masking ratios from the core sampler: row ``i`` gets ``ratio.sample(seed, i // block)``.

    A fixed ratio gives a constant vector; a range ``"a-b"`` gives i.i.d. ``U(a, b)`` draws that
    depend only on ``(seed, i // block)``, so two ranges with the same seed are paired. A
    schedule runs over ``⌈count / block⌉`` steps; a ``sample:`` form draws per row
    (``sample_rows(seed, i // block, [i])``).
    """
    r = parse_mask_ratio(ratio, "mask ratio")
    if isinstance(r, FixedRatio):
        return np.full(count, r.p, dtype=float)
    if isinstance(r, UniformRatio) and r.high > r.low:
        # The core draws low + (high − low)·u(seed, step); one cached set of unit draws then
        # serves every range (hundreds of ranges share a seed in a search). Checked against the
        # core's own draws, with the direct path as fallback should the sampler ever change.
        u = _ratio_draws(_UNIT, int(seed), int(count), int(block))
        p = r.low + (r.high - r.low) * u
        probe = [0, count - 1] if count else []
        if all(abs(p[i] - r.sample(int(seed), i // int(block))) <= 1e-12 for i in probe):
            return p
    if r.per_sample:
        return _row_draws(r, int(seed), int(count), int(block)).copy()
    return _ratio_draws(r, int(seed), int(count), int(block)).copy()


def masked_design(X: np.ndarray, p_rows: np.ndarray, uniforms: np.ndarray, rescale: bool = False) -> np.ndarray:
    """``X̃ = X ⊙ Z`` with ``Z_ij = 1[U_ij >= p_i]`` (kept with probability ``1 − p_i``).

    This Bernoulli mask of a design matrix is the mathematical object under study, not a
    training mask, which is why it lives here rather than in :mod:`bioR2.masking`.
    """
    keep = uniforms >= p_rows[:, None]
    Xt = np.where(keep, X, 0.0)
    if rescale:
        Xt = Xt / (1.0 - p_rows)[:, None]
    return Xt


def fit_operator(Xt: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """The ``d × rows`` matrix ``R`` with ``β̂ = R y`` (min-norm least squares at ``ridge = 0``)."""
    import scipy.linalg as sla

    rows, d = Xt.shape
    try:
        if rows < d:  # Gram trick: rows × rows system
            K = Xt @ Xt.T
            if ridge:
                K[np.diag_indices_from(K)] += ridge
            return sla.solve(K, Xt, assume_a="pos", check_finite=False).T
        G = Xt.T @ Xt
        if ridge:
            G[np.diag_indices_from(G)] += ridge
        return sla.solve(G, Xt.T, assume_a="pos", check_finite=False)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        # A singular system (an all-zero row or column at extreme masking): the pseudo-inverse
        # is still the minimum-norm solution.
        if ridge:
            return np.linalg.solve(Xt.T @ Xt + ridge * np.eye(d), Xt.T)
        return np.linalg.pinv(Xt)


def fit(Xt: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """``β̂`` for a masked design and responses (min-norm when ``ridge = 0``)."""
    return fit_operator(Xt, ridge) @ y


def draw_design(instance: Instance, n: Optional[int] = None, copies: int = 1):
    """``(X, y, ε, U)`` of a seed: design, responses, label noise and mask uniforms.

    ``U`` has ``copies * n`` rows (one block of ``n`` per re-masked copy). The streams are
    named, so they do not depend on the order of other draws.
    """
    p = instance.problem
    n = p.n if n is None else n
    X = instance.cov.sample(named_stream(instance.seed, "design"), n)
    eps = p.sigma * named_stream(instance.seed, "noise").standard_normal((n, instance.betas.shape[1]))
    U = named_stream(instance.seed, "masks").random((copies * n, p.d))
    y = X @ instance.betas + eps
    return X, y, eps, U


class _FitStats:
    """What the risk needs from ``β̂ = R y``: ``tr(Rᵀ Σ R)`` and ``Σ_j w_j (RRᵀ)_jj``.

    Whichever representation is cheapest to get:

    * ``R`` itself (``d × n``; re-masked copies, singular systems);
    * ``M = RRᵀ`` (``n >= d`` with ridge: ``R = G⁻¹X̃ᵀ`` gives ``RRᵀ = G⁻¹ − λG⁻²``);
    * ``W = U⁻¹`` for ``n >= d`` without ridge, ``G = X̃ᵀX̃ = UᵀU``: ``RRᵀ = G⁻¹ = WWᵀ``, so every
      trace is a norm of ``W`` (one triangular inverse instead of a full ``d × d`` solve);
    * the Cholesky factor of ``K = X̃X̃ᵀ + λI`` for ``n < d``: ``R = X̃ᵀK⁻¹`` gives
      ``tr(RᵀΣR) = tr(K⁻¹) − λ‖K⁻¹‖²_F + Σ_k δ_k ‖K⁻¹X̃v_k‖²`` without forming ``R``.
    """

    def __init__(self, R: Optional[np.ndarray] = None, M: Optional[np.ndarray] = None,
                 W: Optional[np.ndarray] = None, gram=None):
        self.R, self.M, self.W, self.gram = R, M, W, gram  # gram: (cho factor, Xt, ridge)

    def trace_sigma(self, cov: SpikedCovariance) -> float:
        """``tr(Rᵀ Σ R) = tr(Σ RRᵀ)``."""
        if self.R is not None:
            return cov.trace_quad(self.R)
        if self.W is not None:  # tr(ΣWWᵀ) = ‖W‖² + Σ δ_k ‖Wᵀv_k‖²
            return float((self.W * self.W).sum() + (cov.deltas * ((self.W.T @ cov.V) ** 2).sum(axis=0)).sum())
        if self.M is not None:
            return float(np.trace(self.M) + (cov.deltas * np.einsum("jk,jl,lk->k", cov.V, self.M, cov.V)).sum())
        import scipy.linalg as sla

        cho, Xt, ridge = self.gram
        Kinv = sla.cho_solve(cho, np.eye(Xt.shape[0]), check_finite=False)
        out = float(np.trace(Kinv))
        if ridge:
            out -= ridge * float((Kinv * Kinv).sum())
        if cov.deltas.size:
            out += float((cov.deltas * ((Kinv @ (Xt @ cov.V)) ** 2).sum(axis=0)).sum())
        return out

    def diag_weighted(self, w: np.ndarray) -> float:
        """``Σ_j w_j (RRᵀ)_jj``."""
        if self.W is not None:
            return float(w @ (self.W * self.W).sum(axis=1))
        if self.M is not None:
            return float(w @ np.diag(self.M))
        if self.R is None:  # only masked test inputs need this: form R once
            import scipy.linalg as sla

            cho, Xt, _ = self.gram
            self.R = sla.cho_solve(cho, Xt, check_finite=False).T
        return float((w[:, None] * self.R**2).sum())


def _gram_upper(A: np.ndarray) -> np.ndarray:
    """The upper triangle of ``AᵀA`` (BLAS syrk: half the flops of ``A.T @ A``)."""
    from scipy.linalg import blas

    return blas.dsyrk(1.0, np.asfortranarray(A), trans=1, lower=0)


def _fit_stats(Xt: np.ndarray, signal: np.ndarray, ridge: float, copies: int, n: int,
               weights: Optional[np.ndarray] = None):
    """``B0 = R·signal`` (noise-free fit, one column per target) and the :class:`_FitStats`.

    ``weights``: per-row loss weights ``ω`` (weighted least squares, ``R = fit_operator(Ω^½X̃)Ω^½``).
    """
    import scipy.linalg as sla

    rows, d = Xt.shape
    if weights is not None:
        sw = np.sqrt(weights)
        R = fit_operator(Xt * sw[:, None], ridge) * sw[None, :]
        if copies > 1:
            R = R.reshape(d, copies, n).sum(axis=1)
        return R @ signal, _FitStats(R=R)
    if copies == 1:
        try:
            if rows >= d and not ridge:
                U = sla.cholesky(_gram_upper(Xt), lower=False, check_finite=False, overwrite_a=True)
                W, info = sla.lapack.dtrtri(U, lower=0)
                if info != 0:
                    raise np.linalg.LinAlgError("singular Cholesky factor")
                W = np.triu(W)
                return W @ (W.T @ (Xt.T @ signal)), _FitStats(W=W)
            if rows >= d:
                G = Xt.T @ Xt
                G[np.diag_indices_from(G)] += ridge
                cho = sla.cho_factor(G, check_finite=False)
                B0 = sla.cho_solve(cho, Xt.T @ signal, check_finite=False)
                Ginv = sla.cho_solve(cho, np.eye(d), check_finite=False)
                return B0, _FitStats(M=Ginv - ridge * (Ginv @ Ginv))
            K = Xt @ Xt.T
            if ridge:
                K[np.diag_indices_from(K)] += ridge
            cho = sla.cho_factor(K, check_finite=False)
            return Xt.T @ sla.cho_solve(cho, signal, check_finite=False), _FitStats(gram=(cho, Xt, ridge))
        except (np.linalg.LinAlgError, sla.LinAlgError):
            pass  # singular (an all-zero row or column): fall through to the pseudo-inverse
    R = fit_operator(Xt, ridge)
    if copies > 1:  # every copy of row i carries the same y_i: fold the copies together
        R = R.reshape(d, copies, n).sum(axis=1)
    return R @ signal, _FitStats(R=R)


def _risk_parts(cov: SpikedCovariance, stats: _FitStats, B0: np.ndarray, betas: np.ndarray,
                sigma: float, test_ratios: Sequence[float], rescale: bool):
    """Bias and variance (per target) averaged over the test masking ratios."""
    bias = np.zeros(betas.shape[1])
    var = 0.0
    sig_bb = cov.quad(betas)
    diag = None
    for pt in test_ratios:
        q = 1.0 - pt
        if pt == 0.0:
            bias += cov.quad(B0 - betas)
            var += sigma**2 * stats.trace_sigma(cov)
            continue
        if diag is None:
            diag = cov.diag()
        s = 1.0 / q if rescale else 1.0
        # E over a masked x̃₀ of (s x̃₀ᵀb − x₀ᵀβ)² with E[x̃x̃ᵀ] = q²Σ + q(1−q)diag(Σ), E[x̃x₀ᵀ] = qΣ.
        quad_S = q * q * cov.quad(B0) + q * (1 - q) * (diag[:, None] * B0**2).sum(axis=0)
        bias += s * s * quad_S - 2 * s * q * cov.bilinear(B0, betas) + sig_bb
        trS = q * q * stats.trace_sigma(cov) + q * (1 - q) * stats.diag_weighted(diag)
        var += sigma**2 * s * s * trS
    m = len(test_ratios)
    return bias / m, np.full(betas.shape[1], var / m)


def simulate(problem: LinearProblem, ratios: Iterable[RatioLike], seeds: Union[int, Sequence[int]] = 10,
             estimator: Estimator = Estimator(), test_ratios: Sequence[float] = (0.0,)) -> Dict[str, SimResult]:
    """Risk of several masking settings on the same seeds (paired).

    Parameters
    ----------
    problem
        The :class:`~bioR2.theory.problem.LinearProblem`.
    ratios
        Masking settings: ``0.3`` (fixed) or ``"0.05-0.3"`` (per-sample R²MAE), any form
        :func:`bioR2.masking.parse_mask_ratio` accepts (``mdlm``, ``set:…``, ``sched:…``, ...).
    seeds
        A count (seeds ``0 .. K−1``) or explicit seeds.
    estimator
        Ridge, rescaling, re-masking and per-batch options (:class:`Estimator`).
    test_ratios
        Masking ratios of the test input, averaged (``(0.0,)``: unmasked, the issue's risk).

    Returns
    -------
    ``{ratio string: SimResult}`` in the order given.
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    parsed = [parse_mask_ratio(r, "mask ratio") for r in ratios]
    for pt in test_ratios:
        if not 0.0 <= pt < 1.0:
            raise ValueError(f"test masking ratio must be in [0, 1), got {pt}")
    n, m = problem.n, estimator.remask
    T = len(problem.targets)
    out = {r.to_config(): SimResult(r.to_config(), seeds, *(np.zeros((len(seeds), T)) for _ in range(3)))
           for r in parsed}
    for si, seed in enumerate(seeds):
        inst = draw_instance(problem, seed)
        X, _, _, U = draw_design(inst, n, copies=m)
        Xs = np.tile(X, (m, 1)) if m > 1 else X
        signal = X @ inst.betas
        for r in parsed:
            p_rows = sample_ratios(r, m * n, seed, estimator.block)
            Xt = masked_design(Xs, p_rows, U, estimator.rescale)
            B0, stats = _fit_stats(Xt, signal, estimator.ridge, m, n, row_weights(r, p_rows))
            bias, var = _risk_parts(inst.cov, stats, B0, inst.betas, problem.sigma, test_ratios, estimator.rescale)
            res = out[r.to_config()]
            res.bias[si], res.variance[si] = bias, var
            res.risk[si] = bias + var
    return out


def simulate_risk(problem: LinearProblem, ratio: RatioLike, seeds: Union[int, Sequence[int]] = 10,
                  estimator: Estimator = Estimator(), target: Optional[int] = 0) -> Dict[str, float]:
    """``{"risk", "se", "bias", "variance"}`` of one setting (mean and standard error over seeds)."""
    res = next(iter(simulate(problem, [ratio], seeds, estimator).values()))
    return res.summary(target)
