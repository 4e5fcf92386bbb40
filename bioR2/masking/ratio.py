"""Masking-ratio samplers: fixed ``p``, R²MAE's ``U(low, high)``, and the MDLM-style ``U(0, 1)``.

A sampler is a *pure function* of ``(seed, global_step)``: every DDP rank and every resumed run
draws the same ratio at the same step without talking to the others. That is why there is no
generator state here to save or broadcast.

User-facing forms, parsed by :func:`parse_mask_ratio` (the only parser in the package)::

    0.15                 fixed ratio
    "0.15"               fixed ratio
    "0.05-0.3"           R²MAE, uniform on [0.05, 0.3)
    {"low": 0.05, "high": 0.3}   the YAML/dict form of the same
    {"fixed": 0.15}      the YAML/dict form of a fixed ratio

A ratio is the fraction of eligible positions that are masked. A fixed ratio must lie in
``[0, 1)``; a uniform range needs ``0 <= low <= high <= 1`` (draws are in ``[low, high)``, so
``0-1`` is the MDLM range and never draws exactly 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

import numpy as np

__all__ = [
    "MaskRatio",
    "FixedRatio",
    "UniformRatio",
    "MaskRatioError",
    "parse_mask_ratio",
    "mdlm_ratio",
]

# Separates the ratio stream from the other uses of (seed, step) in the package.
_RATIO_STREAM = 0x52324D41  # "R2MA"


class MaskRatioError(ValueError):
    """A masking ratio or range that cannot be used; the message names the option."""


@dataclass(frozen=True)
class MaskRatio:
    """Base class: ``sample(seed, step)`` returns the step's masking ratio."""

    def sample(self, seed: int, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def mean(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_config(self) -> str:
        """The string form accepted by :func:`parse_mask_ratio` (``0.15`` or ``0.05-0.3``)."""
        raise NotImplementedError  # pragma: no cover

    def __str__(self) -> str:
        return self.to_config()


@dataclass(frozen=True)
class FixedRatio(MaskRatio):
    """The same ratio ``p`` at every step (standard MAE / BERT practice)."""

    p: float

    def sample(self, seed: int, step: int) -> float:
        return self.p

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

    def sample(self, seed: int, step: int) -> float:
        if self.high == self.low:
            return self.low
        u = _unit_uniform(seed, step)
        return self.low + (self.high - self.low) * u

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def to_config(self) -> str:
        return f"{_fmt(self.low)}-{_fmt(self.high)}"


def mdlm_ratio() -> UniformRatio:
    """The MDLM-style full range ``U(0, 1)`` the paper compares R²MAE against."""
    return UniformRatio(0.0, 1.0)


def _unit_uniform(seed: int, step: int) -> float:
    """A float in [0, 1) that depends only on ``(seed, step)``."""
    if step < 0:
        raise ValueError(f"global step must be >= 0, got {step}")
    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(step), _RATIO_STREAM])
    # 53 random bits -> float64 in [0, 1); cheaper than building a Generator per step.
    hi, lo = (int(w) for w in seq.generate_state(2, dtype=np.uint32))
    return ((hi << 21) | (lo >> 11)) / float(1 << 53)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _as_float(value: Any, option: str) -> float:
    if isinstance(value, bool):
        raise MaskRatioError(f"{option}: expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise MaskRatioError(
            f"{option}: cannot read {value!r} as a number; write a fixed ratio like 0.15 "
            "or an R²MAE range like 0.05-0.3"
        ) from None
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


RatioSpec = Union[MaskRatio, float, int, str, Mapping[str, Any]]


def parse_mask_ratio(value: RatioSpec, option: str = "mask_ratio") -> MaskRatio:
    """Turn any user-facing ratio form into a :class:`MaskRatio`.

    ``option`` names where the value came from (``--mask-ratio``, ``train.mask_ratio``) so an
    error message points at the right place.

    >>> parse_mask_ratio("0.05-0.3")
    UniformRatio(low=0.05, high=0.3)
    >>> parse_mask_ratio(0.15)
    FixedRatio(p=0.15)
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
        # A '-' after the first character that is not an exponent's sign separates the bounds;
        # a leading '-' is a sign.
        dash = next((i for i in range(1, len(text)) if text[i] == "-" and text[i - 1] not in "eE"), -1)
        if dash > 0:
            low_s, high_s = text[:dash], text[dash + 1 :]
            return _check_range(_as_float(low_s, option), _as_float(high_s, option), option)
        return _check_fixed(_as_float(text, option), option)
    return _check_fixed(_as_float(value, option), option)
