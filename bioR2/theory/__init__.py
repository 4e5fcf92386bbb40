"""The paper's linear-model theory of masking: why and when masking helps, and which ratio.

Masked ridgeless regression — rows ``x ~ N(0, Σ)`` with a spiked ``Σ``, inputs masked
entry-wise at ratio ``p`` (fixed) or ``p_i ~ U(a, b)`` (R²MAE, per sample), the minimum-norm
least-squares fit, and its test risk on unmasked inputs — by simulation
(:mod:`~bioR2.theory.simulate`) and in closed form (:mod:`~bioR2.theory.asymptotics`, whose
docstring holds the derivations). :mod:`~bioR2.theory.search` looks for settings where a
random ratio beats the best fixed one.

>>> from bioR2.theory import LinearProblem, spiked_risk, simulate_risk
>>> problem = LinearProblem.from_spikes(d=400, gamma=4, sigma=0.0, spikes=[(20, 0.9)])
>>> round(spiked_risk(problem, 0.1)["risk"], 3)
0.346
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.theory` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "asymptotics": (
        "deterministic_equivalent", "effective_ratio", "isotropic_risk", "keep_moments",
        "optimal_p", "remask_limit_estimator", "risk_curve", "spiked_risk"
    ),
    "problem": ("LinearProblem", "draw_instance", "parse_spike"),
    "simulate": (
        "Estimator", "SimResult", "fit", "fit_operator", "masked_design", "sample_ratios",
        "simulate", "simulate_risk"
    ),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .asymptotics import (
        deterministic_equivalent,
        effective_ratio,
        isotropic_risk,
        keep_moments,
        optimal_p,
        remask_limit_estimator,
        risk_curve,
        spiked_risk,
    )
    from .problem import LinearProblem, draw_instance, parse_spike
    from .simulate import Estimator, SimResult, fit, fit_operator, masked_design, sample_ratios, simulate, simulate_risk

__all__ = [
    "LinearProblem",
    "draw_instance",
    "parse_spike",
    "Estimator",
    "SimResult",
    "simulate",
    "simulate_risk",
    "sample_ratios",
    "masked_design",
    "fit",
    "fit_operator",
    "isotropic_risk",
    "spiked_risk",
    "deterministic_equivalent",
    "risk_curve",
    "optimal_p",
    "keep_moments",
    "effective_ratio",
    "remask_limit_estimator",
]
