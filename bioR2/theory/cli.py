"""``bior2 theory risk|optimal-p|plot`` (argparse only at import time;
``bior2 benchmark theory``: :mod:`bioR2.bench.cli`).

Examples::

    bior2 theory risk --gamma 2 --p 0.3 --sigma 0.5 --method closed-form --json
    bior2 theory risk --gamma 4 --p-range 0.05-0.3 --spike 20:0.9 --method simulate --seeds 20 --json
    bior2 theory risk --gamma 0.5 --p-range sched:0.3>0.15 --sigma 0.5 --json   # also set:, beta:, mdlm, ...
    bior2 theory optimal-p --gamma 4 --spike 20:0.9 --sigma 0 --json
    bior2 theory plot --gamma 0.5 2 4 8 --spike 20:0.9 --out risk.png --simulate
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Dict

__all__ = ["add_theory_arguments", "run_theory"]


def _spike(text: str):
    from .problem import parse_spike

    try:
        return parse_spike(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ratio(text: str):
    """``--p-range``: parsed here, at the edge, into a :class:`~bioR2.masking.MaskRatio`."""
    from ..masking import parse_mask_ratio

    try:
        return parse_mask_ratio(text, "--p-range")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _problem_options(p: argparse.ArgumentParser, gamma_many: bool = False) -> None:
    if gamma_many:
        p.add_argument("--gamma", type=float, nargs="+", default=[0.5, 2.0, 4.0, 8.0],
                       help="one or more γ = d/n (default 0.5 2 4 8)")
    else:
        p.add_argument("--gamma", type=float, required=True, help="γ = d/n (> 1: overparameterised)")
    p.add_argument("--sigma", type=float, default=0.0, help="label-noise standard deviation (default 0)")
    p.add_argument("--spike", type=_spike, action="append", default=[], metavar="DELTA:ALPHA",
                   help="a spike of strength DELTA with target alignment ALPHA, e.g. 20:0.9 (repeatable; "
                        "none: isotropic Σ = I)")
    p.add_argument("--d", type=int, default=400, help="number of features (default 400)")


# A spike's DELTA may be given negative by mistake (``--spike -5:0.5``): argparse would read it as
# an unknown option; read it as the value so its own check names the problem.
_NEGATIVE_VALUE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.eE+-]*:[-\d.eE+]*$")


def add_theory_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="theory_command", metavar="{risk,optimal-p,plot}")
    sub.required = True

    risk = sub.add_parser("risk", help="test risk at one masking ratio or range",
                          description="Test risk (β̂ − β)ᵀΣ(β̂ − β) of masked min-norm regression.")
    risk._negative_number_matcher = _NEGATIVE_VALUE
    _problem_options(risk)
    risk.add_argument("--p", type=float, default=None, help="fixed masking ratio in [0, 1)")
    risk.add_argument("--p-range", type=_ratio, default=None, metavar="A-B|FORM",
                      help="a random ratio: R²MAE A-B (per-sample p_i ~ U(A, B), e.g. 0.05-0.3), or any "
                           "form of the masking core: mdlm, set:0.25,0.5,0.75, sched:0.3>0.15, "
                           "tnorm:0.55,0.1,0.3-0.9, beta:2,2,0.05-0.3, sample:...")
    risk.add_argument("--method", choices=["closed-form", "simulate"], default="closed-form",
                      help="closed form (asymptotic / deterministic equivalent) or simulation")
    risk.add_argument("--seeds", type=int, default=10, help="simulation seeds (default 10)")
    risk.add_argument("--json", action="store_true", help='print {"risk", "se", "bias", "variance"} as JSON')

    opt = sub.add_parser("optimal-p", help="the masking ratio that minimises the risk",
                         description="p* = argmin over a grid of the closed-form (or simulated) risk.")
    opt._negative_number_matcher = _NEGATIVE_VALUE
    _problem_options(opt)
    opt.add_argument("--method", choices=["closed-form", "simulate"], default="closed-form")
    opt.add_argument("--grid-step", type=float, default=None,
                     help="grid step (default 0.0025 closed form, 0.025 simulation)")
    opt.add_argument("--p-max", type=float, default=0.95, help="largest ratio of the grid (default 0.95)")
    opt.add_argument("--seeds", type=int, default=10, help="simulation seeds (default 10)")
    opt.add_argument("--json", action="store_true", help='print {"p_star", "risk"} as JSON')

    plot = sub.add_parser("plot", help="risk-vs-ratio figure", description="Write the risk-curve figure.")
    plot._negative_number_matcher = _NEGATIVE_VALUE
    _problem_options(plot, gamma_many=True)
    plot.add_argument("--out", required=True, metavar="FIG.png", help="figure path (.png, .pdf, .svg)")
    plot.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    plot.add_argument("--p-max", type=float, default=0.6, help="largest ratio drawn (default 0.6)")
    plot.add_argument("--simulate", action="store_true", help="add simulated points (±2 se)")
    plot.add_argument("--seeds", type=int, default=10, help="simulation seeds (default 10)")


def _problem(args: argparse.Namespace, gamma: float):
    from .problem import LinearProblem

    return LinearProblem.from_spikes(args.d, gamma, args.sigma, args.spike)


def _check_common(args: argparse.Namespace) -> None:
    if getattr(args, "seeds", 1) < 1:
        raise ValueError("--seeds must be >= 1")
    gammas = args.gamma if isinstance(args.gamma, list) else [args.gamma]
    for g in gammas:
        if not (g > 0 and math.isfinite(g)):
            raise ValueError(f"--gamma must be a positive number, got {g}")


def _risk(args: argparse.Namespace) -> Dict[str, Any]:
    from .asymptotics import spiked_risk
    from .simulate import simulate_risk

    if args.p is not None and args.p_range is not None:
        raise ValueError("give either --p (fixed ratio) or --p-range (R²MAE range), not both")
    if args.p is None and args.p_range is None:
        raise ValueError("give --p P (fixed ratio) or --p-range A-B (R²MAE range)")
    from ..masking import parse_mask_ratio

    ratio = args.p_range if args.p_range is not None else parse_mask_ratio(args.p, "--p")
    problem = _problem(args, args.gamma)
    if args.method == "simulate":
        out = simulate_risk(problem, ratio, args.seeds)
        se = out["se"] if args.seeds > 1 else None  # one seed has no standard error
        if se is None:
            print("bior2 theory: note: se needs --seeds 2 or more; reported as null", file=sys.stderr)
        return {"risk": out["risk"], "se": se, "bias": out["bias"], "variance": out["variance"]}
    import numpy as np

    with np.errstate(invalid="ignore", divide="ignore"):  # an infinite risk is reported below, in words
        out = spiked_risk(problem, ratio)
    if not math.isfinite(float(out["risk"])):
        given = f"--p {args.p:g}" if args.p is not None else f"--p-range {ratio.to_config()}"
        raise ValueError(f"--gamma {args.gamma:g} with {given}: "
                         "the test risk is infinite (min-norm regression with as many samples as features and "
                         "no masking interpolates the noise); use --p > 0 or a --gamma other than 1")
    if "approximation" in out["method"]:
        print(f"bior2 theory: note: {out['method']} for a range with spikes (see bioR2.theory.asymptotics, "
              "section 6); use --method simulate for the exact value", file=sys.stderr)
    return {"risk": out["risk"], "bias": out["bias"], "variance": out["variance"]}


def _optimal(args: argparse.Namespace) -> Dict[str, Any]:
    import numpy as np

    from .asymptotics import optimal_p
    from .simulate import simulate

    if not 0 < args.p_max < 1:
        raise ValueError("--p-max must be in (0, 1)")
    problem = _problem(args, args.gamma)
    step = args.grid_step if args.grid_step is not None else (0.0025 if args.method == "closed-form" else 0.025)
    if not 0 < step <= args.p_max:
        raise ValueError("--grid-step must be in (0, --p-max]")
    grid = np.round(np.arange(0.0, args.p_max + 1e-9, step), 6)
    if args.method == "closed-form":
        o = optimal_p(problem, grid)
        return {"p_star": o.p_star, "risk": o.risk}
    res = simulate(problem, list(grid), args.seeds)
    means = {float(p): res[f"{p:g}"].risk[:, 0].mean() for p in grid}
    p_star = min(means, key=means.get)
    return {"p_star": p_star, "risk": float(means[p_star])}


def _plot(args: argparse.Namespace) -> str:
    import numpy as np

    from .asymptotics import risk_curve
    from .plotting import plot_risk_curves
    from .simulate import simulate

    if not 0 < args.p_max < 1:
        raise ValueError("--p-max must be in (0, 1)")
    fine = np.round(np.arange(0.0, args.p_max + 1e-9, 0.005), 6)
    coarse = [float(x) for x in np.round(np.arange(0.0, args.p_max + 1e-9, 0.05), 6)]
    series = []
    for g in args.gamma:
        problem = _problem(args, g)
        cf = risk_curve(problem, fine)
        s = {"label": f"γ = {g:g}", "p": fine.tolist(), "risk": cf["risk"].tolist(),
             "p_star": float(fine[int(np.nanargmin(cf["risk"]))])}
        if args.simulate:
            res = simulate(problem, coarse, args.seeds)
            s.update(sim_p=coarse, sim_risk=[res[f"{p:g}"].summary(0)["risk"] for p in coarse],
                     sim_se=[res[f"{p:g}"].summary(0)["se"] for p in coarse])
        series.append(s)
    spikes = ", ".join(f"δ={d:g}, α={a:g}" for d, a in args.spike) or "isotropic"
    path = plot_risk_curves(series, args.out, title=f"{spikes}; σ = {args.sigma:g}, d = {args.d}")
    return str(path)


def run_theory(args: argparse.Namespace) -> int:
    _check_common(args)
    if args.theory_command == "plot":
        from ..utils.outputs import check_output_path

        check_output_path(args.out, overwrite=args.overwrite)  # an existing figure is kept unless --overwrite
        if Path(args.out).suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ValueError(f"--out {args.out}: name the figure .png, .pdf or .svg")
        print(_plot(args))
        return 0
    out = _risk(args) if args.theory_command == "risk" else _optimal(args)
    if args.json:
        print(json.dumps(out, allow_nan=False))  # strict JSON: a value that is not a number is null
    else:
        print("  ".join(f"{k}={v:.6g}" if v is not None else f"{k}=n/a" for k, v in out.items()))
    return 0
