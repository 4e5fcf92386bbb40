"""The linear-model problem the theory studies: a spiked Gaussian design and unit-norm targets.

Rows ``x ~ N(0, Σ)`` with ``Σ = I + Σ_k δ_k v_k v_kᵀ`` (orthonormal spikes ``v_k``), one or
more unit-norm targets ``β = Σ_k α_k v_k + sqrt(1 − Σ_k α_k²) u`` (``α_k`` is the alignment of
``β`` with spike ``k``; ``u`` is a unit vector orthogonal to every spike), responses
``y = Xβ + ε`` with ``ε ~ N(0, σ²)``, ``n = round(d / γ)`` training rows.

A :class:`LinearProblem` is only the *specification*; :func:`draw_instance` turns it into
concrete vectors for one seed. Spikes are Haar-random (delocalised) directions, so masking a
coordinate never removes a whole spike: this is the setting in which the paper's curves (and
the checkpoints of issue 5) appear. Everything about ``Σ`` is applied through its low-rank
form, never as a dense ``d × d`` matrix, so ``d`` in the thousands stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["LinearProblem", "Instance", "draw_instance", "parse_spike", "SpikedCovariance", "named_stream"]


def parse_spike(text: str, option: str = "--spike") -> Tuple[float, float]:
    """``"20:0.9"`` -> ``(delta=20.0, alpha=0.9)``; a clear ``ValueError`` otherwise."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise ValueError(f"{option} {text!r}: expected DELTA:ALPHA, e.g. 20:0.9")
    try:
        delta, alpha = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{option} {text!r}: DELTA and ALPHA must be numbers, e.g. 20:0.9") from None
    if not (math.isfinite(delta) and delta >= 0):
        raise ValueError(f"{option} {text!r}: spike strength DELTA must be a finite number >= 0")
    if not (math.isfinite(alpha) and -1.0 <= alpha <= 1.0):
        raise ValueError(f"{option} {text!r}: alignment ALPHA must be in [-1, 1]")
    return delta, alpha


@dataclass(frozen=True)
class LinearProblem:
    """Specification of one masked-regression problem.

    Parameters
    ----------
    d
        Number of features.
    gamma
        ``d / n``; ``gamma > 1`` is the overparameterised regime.
    sigma
        Label-noise standard deviation.
    deltas
        Spike strengths ``δ_k`` (empty: isotropic ``Σ = I``).
    targets
        One alignment vector per downstream target; ``targets[t][k]`` is ``α`` of target ``t``
        with spike ``k``. Must satisfy ``Σ_k α_k² <= 1``. The default is one target with no
        alignment (``β`` orthogonal to every spike, or a random direction when isotropic).
    """

    d: int = 400
    gamma: float = 2.0
    sigma: float = 0.0
    deltas: Tuple[float, ...] = ()
    targets: Tuple[Tuple[float, ...], ...] = field(default=((),))

    def __post_init__(self) -> None:
        object.__setattr__(self, "deltas", tuple(float(x) for x in self.deltas))
        k = len(self.deltas)
        targets = tuple(tuple(float(a) for a in t) if len(t) else (0.0,) * k for t in self.targets)
        object.__setattr__(self, "targets", targets)
        if int(self.d) != self.d or self.d < 1:
            raise ValueError(f"d must be a positive integer, got {self.d!r}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive number, got {self.gamma!r}")
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"sigma must be >= 0, got {self.sigma!r}")
        if any(not (math.isfinite(x) and x >= 0) for x in self.deltas):
            raise ValueError(f"spike strengths must be finite and >= 0, got {self.deltas}")
        if k > self.d - 1:
            raise ValueError(f"{k} spikes need d > {k}, got d={self.d}")
        if not targets:
            raise ValueError("a problem needs at least one target")
        for t, alphas in enumerate(targets):
            if len(alphas) != k:
                raise ValueError(f"target {t}: {len(alphas)} alignments for {k} spikes")
            if sum(a * a for a in alphas) > 1 + 1e-12:
                raise ValueError(f"target {t}: alignments {alphas} have squared norm > 1")
        if self.n < 1:
            raise ValueError(f"d={self.d}, gamma={self.gamma} leaves no training rows")

    @classmethod
    def from_spikes(cls, d: int, gamma: float, sigma: float,
                    spikes: Sequence[Tuple[float, float]] = ()) -> "LinearProblem":
        """One target from ``(delta, alpha)`` pairs, the form the CLI's ``--spike`` uses."""
        spikes = list(spikes)
        return cls(d=d, gamma=gamma, sigma=sigma, deltas=tuple(s[0] for s in spikes),
                   targets=(tuple(s[1] for s in spikes),))

    @property
    def n(self) -> int:
        """Training rows, ``round(d / gamma)``."""
        return int(round(self.d / self.gamma))

    @property
    def k(self) -> int:
        """Number of spikes."""
        return len(self.deltas)

    def with_(self, **changes) -> "LinearProblem":
        """A copy with some fields changed (``problem.with_(gamma=4)``)."""
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class SpikedCovariance:
    """``Σ = I + V diag(δ) Vᵀ`` applied without forming the ``d × d`` matrix."""

    V: np.ndarray  # (d, k), orthonormal columns
    deltas: np.ndarray  # (k,)

    def quad(self, e: np.ndarray) -> np.ndarray:
        """``eᵀ Σ e`` for ``e`` of shape ``(d,)`` or ``(d, m)`` (one value per column)."""
        proj = self.V.T @ e
        return (e * e).sum(axis=0) + (self.deltas.reshape((-1,) + (1,) * (proj.ndim - 1)) * proj**2).sum(axis=0)

    def bilinear(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``aᵀ Σ b`` column-wise."""
        pa, pb = self.V.T @ a, self.V.T @ b
        w = self.deltas.reshape((-1,) + (1,) * (pa.ndim - 1))
        return (a * b).sum(axis=0) + (w * pa * pb).sum(axis=0)

    def matvec(self, e: np.ndarray) -> np.ndarray:
        return e + self.V @ (self.deltas[:, None] * (self.V.T @ e)) if e.ndim == 2 else \
            e + self.V @ (self.deltas * (self.V.T @ e))

    def trace_quad(self, R: np.ndarray) -> float:
        """``tr(Rᵀ Σ R)`` for ``R`` of shape ``(d, n)``."""
        proj = self.V.T @ R
        return float((R * R).sum() + (self.deltas[:, None] * proj**2).sum())

    def diag(self) -> np.ndarray:
        """The diagonal of ``Σ``: ``1 + Σ_k δ_k V_jk²``."""
        return 1.0 + (self.V**2) @ self.deltas

    def dense(self) -> np.ndarray:
        """The full matrix (tests and small ``d`` only)."""
        return np.eye(self.V.shape[0]) + (self.V * self.deltas) @ self.V.T

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows of ``N(0, Σ)``: ``x = g + Σ_k (sqrt(1 + δ_k) − 1)(gᵀv_k) v_k``."""
        g = rng.standard_normal((n, self.V.shape[0]))
        scale = np.sqrt(1.0 + self.deltas) - 1.0
        return g + ((g @ self.V) * scale) @ self.V.T


@dataclass(frozen=True)
class Instance:
    """One seed's concrete problem: spikes, targets, and the covariance they define."""

    problem: LinearProblem
    seed: int
    cov: SpikedCovariance
    betas: np.ndarray  # (d, T): one unit-norm target per column

    @property
    def V(self) -> np.ndarray:
        return self.cov.V


def named_stream(seed: int, name: str) -> np.random.Generator:
    """The random stream called ``name`` of ``seed``: independent streams per seed, so the design
    of seed s never depends on how many targets or masks another part of the code drew first."""
    tag = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng([int(seed), tag])


def draw_instance(problem: LinearProblem, seed: int, rng: Optional[np.random.Generator] = None) -> Instance:
    """Spikes (Haar-random orthonormal) and targets for ``seed``.

    The spikes and targets depend only on ``(seed, d, k, number of targets)``, so every
    masking setting simulated with the same seed sees the same ``Σ`` and ``β`` (paired seeds).
    """
    d, k, T = problem.d, problem.k, len(problem.targets)
    rng = rng or named_stream(seed, "spikes")
    # QR of a Gaussian matrix: k spike directions plus T orthogonal-complement directions.
    q, r = np.linalg.qr(rng.standard_normal((d, k + T)))
    q = q * np.sign(np.diag(r))  # Haar, not QR-convention-dependent
    V, U = q[:, :k], q[:, k:]
    alphas = np.array(problem.targets, dtype=float).reshape(T, k)
    rest = np.sqrt(np.clip(1.0 - (alphas**2).sum(axis=1), 0.0, None))
    betas = V @ alphas.T + U * rest
    return Instance(problem, int(seed), SpikedCovariance(V, np.array(problem.deltas, dtype=float)), betas)
