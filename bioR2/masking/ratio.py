"""Masking-ratio samplers: every ratio schedule the field uses, behind one parser.

A sampler is a *pure function* of ``(seed, global_step)`` (and of the example's dataset index
for per-example ratios, and of the run's total steps for a schedule): every DDP rank and every
resumed run draws the same ratio at the same step without talking to the others. That is why
there is no generator state here to save or broadcast.

User-facing forms, parsed by :func:`parse_mask_ratio` (the only parser in the package) and
written back by ``to_config()``:

==========================  =======================  ========================================  =========================
form                        sampler                  meaning (one draw per optimizer step)     source
==========================  =======================  ========================================  =========================
``0.15``                    :class:`FixedRatio`      the same ratio at every step              BERT 0.15; MAE 0.75
``0.05-0.3``                :class:`UniformRatio`    ``p ~ U(0.05, 0.3)``                      R²MAE (Dong, Wang &
                                                                                               Kluger 2025)
``0-1``                     :class:`UniformRatio`    ``p ~ U(0, 1)``, unweighted               the full range the paper
                                                                                               tests
``mdlm``                    :class:`MDLMRatio`       ``p ~ U(0, 1)`` (the same draws as        MDLM (Sahoo et al. 2024)
                                                     ``0-1``) with the ELBO's ``1/t`` weight
                                                     (see below)
``mdlm-flat``               :class:`MDLMFlatRatio`   ``p ~ U(0, 1)`` without the ``1/t``       the same, unweighted
                                                     weight
``set:0.25,0.5,0.75``       :class:`SetRatio`        one of the values, each equally likely    scGPT (Cui et al. 2024)
``sched:0.3>0.15``          :class:`ScheduleRatio`   linear from 0.3 at the first step to      Ankner et al. 2023
                                                     0.15 at the last (deterministic; needs
                                                     the run's total steps)
``tnorm:0.55,0.1,0.3-0.9``  :class:`TruncNormRatio`  ``N(0.55, 0.1²)`` truncated to            MAGE (Li et al. 2023)
                                                     [0.3, 0.9]
``beta:2,2,0.05-0.3``       :class:`BetaRatio`       ``0.05 + 0.25·Beta(2, 2)``                a smooth bump on an R²MAE
                                                                                               range
``sample:<form>``           :class:`PerSampleRatio`  every *example* draws its own ratio from  per-example variant
                                                     ``<form>`` (uniform, set, tnorm, beta)    (MDLM draws its ``t``
                                                                                               per example)
==========================  =======================  ========================================  =========================

Also accepted: ``"0.15"``, ``{"fixed": 0.15}`` / ``{"p": 0.15}`` and ``{"low": 0.05, "high": 0.3}``
(YAML), and the ``tnorm``/``beta`` range may be left out (``beta:2,2`` is Beta(2, 2) on [0, 1)).

A ratio is the fraction of eligible positions that are masked. A fixed ratio must lie in
``[0, 1)``; a uniform range needs ``0 <= low <= high <= 1`` (draws are in ``[low, high)``, so
``0-1`` never draws exactly 1). Every random per-step draw is a transform of one unit uniform
``u(seed, step)`` (:meth:`MaskRatio.quantile`), so the forms are *paired*: at the same seed and
step, ``0-1`` and ``mdlm`` draw the same ratio and a higher ``u`` is a higher ratio in every form.

What a sampler offers (:class:`MaskRatio`)
------------------------------------------
``sample(seed, step, total_steps=None)``
    The step's ratio (a float). A schedule needs ``total_steps`` (the trainer passes
    ``train.steps``); without it, :class:`MaskRatioError`.
``sample_rows(seed, step, example_ids, total_steps=None)``
    One ratio per row as a float64 tensor: the step's ratio repeated, or, for ``sample:``, a
    draw per example keyed by ``(seed, step, dataset index)``.
``per_sample``
    True for ``sample:`` forms: the trainer then hands the task ``sample_rows(...)``.
``loss_weight(p)`` / ``step_weight(p)``
    The objective's weight in MDLM's per-position convention (1.0 except ``mdlm``; ``weighted``
    says whether it is ever not 1), and the factor the trainer puts on a step's loss (1.0 except
    ``mdlm-flat``).
``mean``
    The average ratio over a run (the default validation ratio).
``quantile(u)`` / ``nodes(order, weighted=False)``
    The ratio as a function of a unit uniform, and quadrature nodes and weights of the ratio's
    distribution over a run, which the closed forms of :mod:`bioR2.theory` integrate against.

How per-example ratios reach the maskers
----------------------------------------
Tasks are untouched. The trainer calls ``task(batch, mask_ratio, rng)`` as always; for a
``sample:`` form ``mask_ratio`` is a 1-D float64 tensor with one ratio per row, computed by
``ratio.sample_rows(seed, step, rng.example_ids)`` — the :class:`~bioR2.masking.MaskRNG`
already carries the rows' dataset indices, so the per-example ratio, like the mask itself, is
the same on any number of ranks and after a resume. :func:`~bioR2.masking.mask_tokens` and
:func:`~bioR2.masking.mask_expression` accept a float or such a tensor (a float takes exactly the
code path it always did, so its masks are bit-identical); :func:`~bioR2.masking.mask_patches`
refuses a tensor, because MAE needs one ``len_keep`` for the whole batch. A task that does
arithmetic on the ratio itself (rather than handing it to a masker) must accept the tensor to
support ``sample:``. The per-example draws come from their own ``MaskRNG`` stream, independent
of the per-step uniform and of the maskers' noise.

The MDLM weight, and what it assumes
------------------------------------
MDLM's ELBO is ``E_t[(1/t) · Σ_{masked ℓ} −log p(x_ℓ)] / L``: the ``1/t`` multiplies a *sum* over the
masked positions divided by the sequence length ``L``. :meth:`MaskRatio.loss_weight` states a
form's weight in that per-position convention (``mdlm``: ``1/max(p, 1e-3)``, the floor mirroring
MDLM's ``sampling_eps``); the linear theory fits exactly that weighted objective.
The package's tasks average over the *masked* items (``≈ pL`` of them), which already carries
the ``1/p``: so in training ``mdlm`` puts no extra factor on the loss (:meth:`MaskRatio.step_weight`
is 1, the same training as ``0-1``), and ``mdlm-flat`` — U(0, 1) *without* the ``1/t``, i.e. the
masked sum over ``L`` — puts ``p`` on it. In the theory ``mdlm-flat`` is plain ``0-1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: `import bioR2.masking.ratio` stays light
    import torch

__all__ = [
    "MaskRatio",
    "FixedRatio",
    "UniformRatio",
    "MDLMRatio",
    "MDLMFlatRatio",
    "SetRatio",
    "ScheduleRatio",
    "TruncNormRatio",
    "BetaRatio",
    "PerSampleRatio",
    "MaskRatioError",
    "parse_mask_ratio",
    "mdlm_ratio",
    "MDLM_WEIGHT_FLOOR",
]

# Separates the ratio stream from the other uses of (seed, step) in the package.
_RATIO_STREAM = 0x52324D41  # "R2MA"
# The MaskRNG stream of per-example ratios (independent of every masker's streams).
_ROW_STREAM = "ratio.per_example"
# ``mdlm`` weights the loss by 1 / max(p, floor): MDLM samples t in [1e-3, 1] (its sampling_eps).
MDLM_WEIGHT_FLOOR = 1e-3
# The largest float below 1: no draw masks everything.
_BELOW_ONE = float(np.nextafter(1.0, 0.0))


class MaskRatioError(ValueError):
    """A masking ratio or range that cannot be used; the message names the option."""


@dataclass(frozen=True)
class MaskRatio:
    """Base class: ``sample(seed, step)`` returns the step's masking ratio.

    Subclasses define :meth:`sample`, :attr:`mean`, :meth:`to_config` and, when random,
    :meth:`quantile`; everything else has a default here.
    """

    per_sample: ClassVar[bool] = False  # True: one ratio per example (``sample:`` forms)
    needs_total_steps: ClassVar[bool] = False  # True: sample() needs the run's total steps
    weighted: ClassVar[bool] = False  # True: loss_weight(p) is not always 1

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:  # pragma: no cover
        raise NotImplementedError

    def sample_rows(self, seed: int, step: int, example_ids: Any,
                    total_steps: Optional[int] = None) -> "torch.Tensor":
        """One ratio per row (float64, on ``example_ids``' device): the step's ratio repeated."""
        import torch

        ids = torch.as_tensor(example_ids)
        value = self.sample(seed, step, total_steps)
        return torch.full((int(ids.reshape(-1).shape[0]),), value, dtype=torch.float64, device=ids.device)

    def quantile(self, u: Any) -> np.ndarray:
        """The ratio as a function of unit uniforms ``u`` in [0, 1): the inverse CDF of a
        per-step draw (for a schedule: the ratio at fraction ``u`` of the run)."""
        raise NotImplementedError  # pragma: no cover

    def loss_weight(self, p: float) -> float:
        """The objective's weight at ratio ``p`` relative to a loss normalised per *position*
        (MDLM's convention; what the linear theory fits). 1.0 unless :attr:`weighted`."""
        return 1.0

    def step_weight(self, p: float) -> float:
        """The factor the trainer puts on a step's loss. The tasks average over the *masked*
        items (about ``p·L`` of them), which already carries MDLM's ``1/p``: so this is
        ``loss_weight(p)·p`` for a weighted form, and 1.0 for every other form (their losses,
        and numbers, are what they always were)."""
        return 1.0

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Quadrature ``(p, w)`` of the ratio's distribution over a run (``w`` sums to 1):
        ``Σ w f(p) ≈ E[f(p)]``. ``weighted=True`` integrates against the loss-weighted
        distribution ``loss_weight(p)·P(dp) / E[loss_weight]`` instead.

        Default: Gauss–Legendre in the unit uniform, mapped through :meth:`quantile` (exact
        for a quantile that is a polynomial, fast for any smooth one).
        """
        x, w = np.polynomial.legendre.leggauss(int(order))
        p = np.asarray(self.quantile((x + 1.0) / 2.0), dtype=float)
        return _reweight(self, p, w / 2.0, weighted)

    @property
    def mean(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_config(self) -> str:
        """The string form accepted by :func:`parse_mask_ratio` (``0.15``, ``0.05-0.3``, ...)."""
        raise NotImplementedError  # pragma: no cover

    def __str__(self) -> str:
        return self.to_config()


def _reweight(ratio: MaskRatio, p: np.ndarray, w: np.ndarray, weighted: bool):
    if weighted and ratio.weighted:
        w = w * np.array([ratio.loss_weight(float(v)) for v in p])
        w = w / w.sum()
    return p, w


@dataclass(frozen=True)
class FixedRatio(MaskRatio):
    """The same ratio ``p`` at every step (standard MAE / BERT practice)."""

    p: float

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        return self.p

    def quantile(self, u: Any) -> np.ndarray:
        return np.full(np.shape(u), self.p, dtype=float)

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        return np.array([self.p]), np.array([1.0])

    @property
    def mean(self) -> float:
        return self.p

    def to_config(self) -> str:
        return _fmt(self.p)


@dataclass(frozen=True)
class UniformRatio(MaskRatio):
    """R²MAE: a ratio drawn per mini-batch (per optimizer step) from ``U(low, high)``."""

    low: float
    high: float

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        if self.high == self.low:
            return self.low
        u = _unit_uniform(seed, step)
        return self.low + (self.high - self.low) * u

    def quantile(self, u: Any) -> np.ndarray:
        return self.low + (self.high - self.low) * np.asarray(u, dtype=float)

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        if self.high - self.low < 1e-15:
            return np.array([self.low]), np.array([1.0])
        x, w = np.polynomial.legendre.leggauss(int(order))
        return self.low + (self.high - self.low) * (x + 1.0) / 2.0, w / 2.0

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def to_config(self) -> str:
        return f"{_fmt(self.low)}-{_fmt(self.high)}"


@dataclass(frozen=True)
class MDLMRatio(MaskRatio):
    """MDLM: ``p ~ U(0, 1)`` (the same draws as ``0-1``) with the loss weighted by
    ``1 / max(p, MDLM_WEIGHT_FLOOR)`` (see the module docstring for what that weight assumes)."""

    weighted: ClassVar[bool] = True

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        return _UNIT.sample(seed, step)

    def quantile(self, u: Any) -> np.ndarray:
        return np.asarray(u, dtype=float).copy()

    def loss_weight(self, p: float) -> float:
        return 1.0 / max(float(p), MDLM_WEIGHT_FLOOR)

    def step_weight(self, p: float) -> float:
        # the masked-item average the tasks return IS the 1/t-weighted ELBO: nothing to add
        return 1.0

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        if not weighted:
            return _UNIT.nodes(order)
        # ∫ f(p) dp / max(p, ε) = ∫_0^ε f(p)/ε dp + ∫_{ln ε}^0 f(e^s) ds: Gauss–Legendre on each
        # piece (the second in log p, where 1/p is absorbed), then normalised.
        eps = MDLM_WEIGHT_FLOOR
        x, w = np.polynomial.legendre.leggauss(int(order))
        t = (x + 1.0) / 2.0
        p_low, w_low = eps * t, w / 2.0
        log_eps = math.log(eps)
        p_high, w_high = np.exp(log_eps * (1.0 - t)), (-log_eps) * w / 2.0
        p, wt = np.concatenate([p_low, p_high]), np.concatenate([w_low, w_high])
        return p, wt / wt.sum()

    @property
    def mean(self) -> float:
        return 0.5

    def to_config(self) -> str:
        return "mdlm"


@dataclass(frozen=True)
class MDLMFlatRatio(MaskRatio):
    """``p ~ U(0, 1)`` (the same draws as ``0-1``) *without* MDLM's ``1/t``: the loss is a sum
    over the masked positions divided by the number of eligible ones, so a step's weight grows
    with its ratio (the trainer puts ``p`` on the tasks' masked-item average)."""

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        return _UNIT.sample(seed, step)

    def quantile(self, u: Any) -> np.ndarray:
        return np.asarray(u, dtype=float).copy()

    def step_weight(self, p: float) -> float:
        return float(p)

    @property
    def mean(self) -> float:
        return 0.5

    def to_config(self) -> str:
        return "mdlm-flat"


@dataclass(frozen=True)
class SetRatio(MaskRatio):
    """One of ``values`` per step, each equally likely (scGPT draws from {0.25, 0.5, 0.75}).
    The values are kept sorted."""

    values: Tuple[float, ...]

    def __post_init__(self) -> None:
        # Sorted: the canonical form, and a higher unit uniform is a higher ratio as in every form.
        object.__setattr__(self, "values", tuple(sorted(float(v) for v in self.values)))
        if not self.values:
            raise MaskRatioError("set: the set of ratios is empty; write e.g. set:0.25,0.5,0.75")
        for v in self.values:
            if not 0.0 <= v < 1.0:
                raise MaskRatioError(f"set: every ratio must be in [0, 1), got {v:g}")
        if len(set(self.values)) != len(self.values):
            raise MaskRatioError(f"set: a ratio appears twice in {self.to_config()}")

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        if len(self.values) == 1:
            return self.values[0]
        return float(self.quantile(_unit_uniform(seed, step)))

    def quantile(self, u: Any) -> np.ndarray:
        k = len(self.values)
        idx = np.minimum(np.floor(np.asarray(u, dtype=float) * k).astype(np.int64), k - 1)
        return np.asarray(self.values, dtype=float)[idx]

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        k = len(self.values)
        return np.asarray(self.values, dtype=float), np.full(k, 1.0 / k)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    def to_config(self) -> str:
        return "set:" + ",".join(_fmt(v) for v in self.values)


@dataclass(frozen=True)
class ScheduleRatio(MaskRatio):
    """A ratio that moves linearly from ``start`` (first step) to ``end`` (last step).

    ``p(step) = start + (end − start) · step / (total_steps − 1)``; steps past the end keep
    ``end``. Deterministic, so every rank and resume agree; it needs the run's total steps.
    Ankner et al. (2023): 0.3 → 0.15 beats a fixed 0.15 for BERT.
    """

    start: float
    end: float
    needs_total_steps: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for name, v in (("start", self.start), ("end", self.end)):
            if not 0.0 <= v < 1.0:
                raise MaskRatioError(f"sched: the {name} ratio must be in [0, 1), got {v:g}")

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        if total_steps is None:
            raise MaskRatioError(
                f"{self.to_config()}: a schedule needs the run's total number of steps: "
                "sample(seed, step, total_steps=...) (the trainer passes train.steps)"
            )
        if isinstance(total_steps, bool) or int(total_steps) != total_steps or total_steps < 1:
            raise MaskRatioError(f"{self.to_config()}: total_steps must be a positive integer, got {total_steps!r}")
        if step < 0:
            raise ValueError(f"global step must be >= 0, got {step}")
        if total_steps == 1:
            return self.start
        frac = min(int(step), int(total_steps) - 1) / (int(total_steps) - 1)
        return self.start * (1.0 - frac) + self.end * frac  # exactly start and end at the ends

    def quantile(self, u: Any) -> np.ndarray:
        return self.start + (self.end - self.start) * np.asarray(u, dtype=float)

    @property
    def mean(self) -> float:
        return 0.5 * (self.start + self.end)

    def to_config(self) -> str:
        return f"sched:{_fmt(self.start)}>{_fmt(self.end)}"


@dataclass(frozen=True)
class TruncNormRatio(MaskRatio):
    """``N(mu, sd²)`` truncated to ``[low, high]`` (MAGE: mean 0.55, sd 0.25 on [0.5, 1])."""

    mu: float
    sd: float
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.mu):
            raise MaskRatioError(f"tnorm: the mean must be a finite number, got {self.mu!r}")
        if not (self.sd > 0 and math.isfinite(self.sd)):
            raise MaskRatioError(f"tnorm: the standard deviation must be > 0, got {self.sd:g}")
        _check_support("tnorm", self.low, self.high)
        if self._mass() < 1e-10:
            raise MaskRatioError(
                f"tnorm: N({self.mu:g}, {self.sd:g}²) puts almost no mass on [{self.low:g}, {self.high:g}]; "
                "move the mean into the range or widen the standard deviation"
            )

    def _ab(self) -> Tuple[float, float]:
        return (self.low - self.mu) / self.sd, (self.high - self.mu) / self.sd

    def _mass(self) -> float:
        a, b = self._ab()
        # In the upper tail, differences of upper-tail probabilities keep their precision.
        return _phi_cdf(-a) - _phi_cdf(-b) if a > 0 else _phi_cdf(b) - _phi_cdf(a)

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        return float(self.quantile(_unit_uniform(seed, step)))

    def quantile(self, u: Any) -> np.ndarray:
        from scipy.special import ndtr, ndtri

        u = np.asarray(u, dtype=float)
        a, b = self._ab()
        if a > 0:
            lo, hi = ndtr(-a), ndtr(-b)
            z = -ndtri(lo - u * (lo - hi))
        else:
            lo, hi = ndtr(a), ndtr(b)
            z = ndtri(lo + u * (hi - lo))
        return np.clip(self.mu + self.sd * z, self.low, min(self.high, _BELOW_ONE))

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        # Gauss–Legendre in p against the (entire, hence fast-converging) truncated density.
        x, w = np.polynomial.legendre.leggauss(int(order))
        p = self.low + (self.high - self.low) * (x + 1.0) / 2.0
        w = w * np.exp(-0.5 * ((p - self.mu) / self.sd) ** 2)
        return p, w / w.sum()

    @property
    def mean(self) -> float:
        a, b = self._ab()
        dens = (math.exp(-0.5 * a * a) - math.exp(-0.5 * b * b)) / math.sqrt(2.0 * math.pi)
        return self.mu + self.sd * dens / self._mass()

    def to_config(self) -> str:
        return f"tnorm:{_fmt(self.mu)},{_fmt(self.sd)},{_fmt(self.low)}-{_fmt(self.high)}"


@dataclass(frozen=True)
class BetaRatio(MaskRatio):
    """``low + (high − low) · Beta(alpha, beta)``: a smooth bump (or U, or skew) on a range."""

    alpha: float
    beta: float
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        for name, v in (("alpha", self.alpha), ("beta", self.beta)):
            if not (v > 0 and math.isfinite(v)):
                raise MaskRatioError(f"beta: {name} must be > 0, got {v:g}")
        _check_support("beta", self.low, self.high)

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        return float(self.quantile(_unit_uniform(seed, step)))

    def quantile(self, u: Any) -> np.ndarray:
        from scipy.special import betaincinv

        x = betaincinv(self.alpha, self.beta, np.asarray(u, dtype=float))
        return np.clip(self.low + (self.high - self.low) * x, self.low, min(self.high, _BELOW_ONE))

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        # Gauss–Jacobi: exact for polynomials in p under the Beta density, even for alpha, beta < 1.
        from scipy.special import roots_jacobi

        x, w = roots_jacobi(int(order), self.beta - 1.0, self.alpha - 1.0)
        p = self.low + (self.high - self.low) * (x + 1.0) / 2.0
        return p, w / w.sum()

    @property
    def mean(self) -> float:
        return self.low + (self.high - self.low) * self.alpha / (self.alpha + self.beta)

    def to_config(self) -> str:
        return f"beta:{_fmt(self.alpha)},{_fmt(self.beta)},{_fmt(self.low)}-{_fmt(self.high)}"


# The per-step distributions an example can draw its own ratio from.
_PER_EXAMPLE_BASES = (UniformRatio, SetRatio, TruncNormRatio, BetaRatio)


@dataclass(frozen=True)
class PerSampleRatio(MaskRatio):
    """Every example draws its own ratio from ``base``, as a pure function of
    ``(seed, step, dataset index)`` (the module docstring says how it reaches the maskers).

    :meth:`sample` returns the expected ratio of a step (``base.mean``); the ratios actually
    used come from :meth:`sample_rows`. Per-example draws are independent of the per-step ones.
    """

    base: MaskRatio
    per_sample: ClassVar[bool] = True

    def __post_init__(self) -> None:
        b = self.base
        if isinstance(b, PerSampleRatio):
            raise MaskRatioError("sample: write the prefix once (sample:0.05-0.3)")
        if isinstance(b, FixedRatio):
            raise MaskRatioError(f"sample:{b.to_config()}: a fixed ratio is the same for every example; "
                                 f"write {b.to_config()}")
        if isinstance(b, ScheduleRatio):
            raise MaskRatioError(f"sample:{b.to_config()}: a schedule gives every example of a step the same ratio; "
                                 f"write {b.to_config()}")
        if b.weighted:
            raise MaskRatioError(f"sample:{b.to_config()}: a per-example loss weight needs per-example losses, which "
                                 "tasks do not return; use the per-batch form or sample:0-1")
        if not isinstance(b, _PER_EXAMPLE_BASES):
            raise MaskRatioError(f"sample: cannot draw {b!r} per example")

    def sample(self, seed: int, step: int, total_steps: Optional[int] = None) -> float:
        if step < 0:
            raise ValueError(f"global step must be >= 0, got {step}")
        return self.base.mean

    def sample_rows(self, seed: int, step: int, example_ids: Any,
                    total_steps: Optional[int] = None) -> "torch.Tensor":
        import torch

        from .noise import MaskRNG

        if step < 0:
            raise ValueError(f"global step must be >= 0, got {step}")
        ids = torch.as_tensor(example_ids)
        device = ids.device
        ids = ids.reshape(-1).to(device="cpu", dtype=torch.int64)
        u = MaskRNG(int(seed), int(step), ids).uniform((), _ROW_STREAM)
        p = self.base.quantile(u.numpy().astype(np.float64))
        return torch.from_numpy(np.ascontiguousarray(p, dtype=np.float64)).to(device)

    def quantile(self, u: Any) -> np.ndarray:
        return self.base.quantile(u)

    def nodes(self, order: int = 64, weighted: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        return self.base.nodes(order, weighted)

    @property
    def mean(self) -> float:
        return self.base.mean

    def to_config(self) -> str:
        return "sample:" + self.base.to_config()


def mdlm_ratio() -> UniformRatio:
    """The MDLM-style full range ``U(0, 1)`` the paper compares R²MAE against, *unweighted*
    (``parse_mask_ratio("mdlm")`` adds MDLM's ``1/t`` loss weight)."""
    return UniformRatio(0.0, 1.0)


_UNIT = UniformRatio(0.0, 1.0)


def _unit_uniform(seed: int, step: int) -> float:
    """A float in [0, 1) that depends only on ``(seed, step)``."""
    if step < 0:
        raise ValueError(f"global step must be >= 0, got {step}")
    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(step), _RATIO_STREAM])
    # 53 random bits -> float64 in [0, 1); cheaper than building a Generator per step.
    hi, lo = (int(w) for w in seq.generate_state(2, dtype=np.uint32))
    return ((hi << 21) | (lo >> 11)) / float(1 << 53)


def _phi_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _check_support(form: str, low: float, high: float) -> None:
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise MaskRatioError(f"{form}: range bounds must be in [0, 1], got low={low:g}, high={high:g}")
    if not low < high:
        raise MaskRatioError(f"{form}: the range's low ({low:g}) must be below its high ({high:g})")


def _fmt(x: float) -> str:
    return f"{x:g}"


_FORMS_HINT = ("write a fixed ratio like 0.15 or an R²MAE range like 0.05-0.3 "
               "(other forms: mdlm, set:0.25,0.5,0.75, sched:0.3>0.15, tnorm:0.55,0.1,0.3-0.9, "
               "beta:2,2,0.05-0.3, sample:0.05-0.3)")


def _as_float(value: Any, option: str) -> float:
    if isinstance(value, bool):
        raise MaskRatioError(f"{option}: expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise MaskRatioError(f"{option}: cannot read {value!r} as a number; {_FORMS_HINT}") from None
    if math.isnan(out):
        raise MaskRatioError(f"{option}: NaN is not a masking ratio")
    return out


def _check_fixed(p: float, option: str) -> FixedRatio:
    if not 0.0 <= p < 1.0:
        raise MaskRatioError(f"{option}: a fixed masking ratio must be in [0, 1), got {p:g}")
    return FixedRatio(p)


def _check_range(low: float, high: float, option: str) -> UniformRatio:
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise MaskRatioError(
            f"{option}: range bounds must be in [0, 1], got low={low:g}, high={high:g}"
        )
    if low > high:
        raise MaskRatioError(f"{option}: low ({low:g}) is greater than high ({high:g})")
    if low == 1.0:
        raise MaskRatioError(f"{option}: a range starting at 1 would mask everything")
    return UniformRatio(low, high)


def _split_range(text: str) -> Optional[Tuple[str, str]]:
    """``"0.05-0.3"`` -> ``("0.05", "0.3")``: a '-' after the first character that is not an
    exponent's sign separates the bounds (a leading '-' is a sign); None without one."""
    dash = next((i for i in range(1, len(text)) if text[i] == "-" and text[i - 1] not in "eE"), -1)
    if dash > 0:
        return text[:dash], text[dash + 1:]
    return None


def _range_part(text: str, form: str, option: str) -> Tuple[float, float]:
    parts = _split_range(text.strip())
    if parts is None:
        raise MaskRatioError(f"{option}: {form}: expected a range like 0.3-0.9, got {text.strip()!r}")
    return _as_float(parts[0], option), _as_float(parts[1], option)


def _numbers(body: str) -> Sequence[str]:
    return [part.strip() for part in body.split(",")]


def _parse_prefixed(head: str, body: str, text: str, option: str) -> MaskRatio:
    if head == "set":
        parts = [p for p in _numbers(body) if p]
        return SetRatio(tuple(_as_float(p, option) for p in parts))
    if head == "sched":
        ends = body.split(">")
        if len(ends) != 2:
            raise MaskRatioError(f"{option}: sched: expected START>END like sched:0.3>0.15, got {text!r}")
        return ScheduleRatio(_as_float(ends[0].strip(), option), _as_float(ends[1].strip(), option))
    if head in ("tnorm", "beta"):
        parts = _numbers(body)
        if len(parts) not in (2, 3):
            example = "tnorm:0.55,0.1,0.3-0.9" if head == "tnorm" else "beta:2,2,0.05-0.3"
            raise MaskRatioError(f"{option}: {head}: expected two numbers and an optional range like {example}, "
                                 f"got {text!r}")
        a, b = _as_float(parts[0], option), _as_float(parts[1], option)
        low, high = _range_part(parts[2], head, option) if len(parts) == 3 else (0.0, 1.0)
        return (TruncNormRatio if head == "tnorm" else BetaRatio)(a, b, low, high)
    if head == "sample":
        return PerSampleRatio(parse_mask_ratio(body, option))
    raise MaskRatioError(f"{option}: unknown ratio form {head + ':'!r} in {text!r}; {_FORMS_HINT}")


RatioSpec = Union[MaskRatio, float, int, str, Mapping[str, Any]]


def parse_mask_ratio(value: RatioSpec, option: str = "mask_ratio") -> MaskRatio:
    """Turn any user-facing ratio form into a :class:`MaskRatio` (the module docstring lists them).

    ``option`` names where the value came from (``--mask-ratio``, ``train.mask_ratio``) so an
    error message points at the right place.

    >>> parse_mask_ratio("0.05-0.3")
    UniformRatio(low=0.05, high=0.3)
    >>> parse_mask_ratio(0.15)
    FixedRatio(p=0.15)
    >>> parse_mask_ratio("sched:0.3>0.15").sample(0, 100, total_steps=101)
    0.15
    """
    if isinstance(value, MaskRatio):
        return value
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"low", "high"}:
            return _check_range(
                _as_float(value["low"], f"{option}.low"),
                _as_float(value["high"], f"{option}.high"),
                option,
            )
        for key in ("fixed", "p"):
            if keys == {key}:
                return _check_fixed(_as_float(value[key], f"{option}.{key}"), option)
        raise MaskRatioError(
            f"{option}: a mapping must be {{low: .., high: ..}} or {{fixed: ..}}, "
            f"got keys {sorted(keys)}"
        )
    if isinstance(value, str):
        text = value.strip()
        try:  # a plain number, including exponent forms such as 5e-2
            float(text)
        except ValueError:
            pass
        else:
            return _check_fixed(_as_float(text, option), option)
        if text.lower() == "mdlm":
            return MDLMRatio()
        if text.lower() == "mdlm-flat":
            return MDLMFlatRatio()
        head, colon, body = text.partition(":")
        if colon:
            try:
                return _parse_prefixed(head.strip().lower(), body, text, option)
            except MaskRatioError as exc:
                message = str(exc)
                if message.startswith(option + ":"):
                    raise
                raise MaskRatioError(f"{option}: {message} (in {text!r})") from None
        bounds = _split_range(text)
        if bounds is not None:
            return _check_range(_as_float(bounds[0], option), _as_float(bounds[1], option), option)
        return _check_fixed(_as_float(text, option), option)
    return _check_fixed(_as_float(value, option), option)
