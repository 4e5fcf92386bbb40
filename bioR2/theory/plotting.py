"""Figures of the theory benchmark and of ``bior2 theory plot`` (matplotlib, written atomically).

Every function takes plain data (lists / dicts of numbers), draws one figure and saves it to a
PNG path; nothing here simulates. Closed forms are lines, simulations are points with ±2
standard-error bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..utils.io import atomic_path

__all__ = ["plot_risk_curves", "plot_bias_variance", "plot_p_star", "plot_search", "plot_range_width",
           "plot_size_sweep"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    _plt().close(fig)
    return path


def _finish(fig, ax, title: str, path) -> Path:
    """The house style every risk figure ends with: small title and legend, light grid."""
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_risk_curves(series: Sequence[Mapping[str, Any]], path, title: str = "",
                     ylim: Optional[float] = None) -> Path:
    """Risk vs masking ratio, one colour per series.

    Each series: ``label``; ``p`` and ``risk`` (closed form, drawn as a line) and/or
    ``sim_p``, ``sim_risk``, ``sim_se`` (simulation, drawn as points with ±2 se).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, s in enumerate(series):
        color = f"C{i}"
        if s.get("p") is not None and s.get("risk") is not None:
            ax.plot(s["p"], s["risk"], color=color, lw=1.6, label=f"{s['label']} (closed form)")
        if s.get("sim_p") is not None:
            se = 2 * np.asarray(s.get("sim_se", np.zeros(len(s["sim_p"]))), float)
            ax.errorbar(s["sim_p"], s["sim_risk"], yerr=se, fmt="o", ms=3.5, color=color, capsize=2,
                        label=f"{s['label']} (simulation)" if s.get("p") is None else None)
        if s.get("p_star") is not None:
            ax.axvline(s["p_star"], color=color, ls=":", lw=1)
    ax.set_xlabel("masking ratio p")
    ax.set_ylabel("test risk  (β̂ − β)ᵀΣ(β̂ − β)")
    if ylim:
        ax.set_ylim(0, ylim)
    return _finish(fig, ax, title, path)


def plot_bias_variance(p: Sequence[float], parts: Mapping[str, Sequence[float]], path, title: str = "",
                       sim: Optional[Mapping[str, Any]] = None) -> Path:
    """Risk and its bias / variance parts vs ``p`` (closed form lines, simulated points)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, key in enumerate(("risk", "bias", "variance")):
        ax.plot(p, parts[key], color=f"C{i}", lw=1.6, label=f"{key} (closed form)")
        if sim is not None and key in sim:
            ax.plot(sim["p"], sim[key], "o", color=f"C{i}", ms=3.5)
    ax.set_xlabel("masking ratio p")
    ax.set_ylabel("risk")
    return _finish(fig, ax, title, path)


def plot_p_star(gammas: Sequence[float], p_star: Mapping[str, Sequence[float]], path, title: str = "",
                sim: Optional[Mapping[str, Mapping[str, Sequence[float]]]] = None) -> Path:
    """Optimal masking ratio vs ``γ``, one line per alignment (``p_star[label] = [p* per γ]``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (label, ys) in enumerate(p_star.items()):
        ax.plot(gammas, ys, "-", color=f"C{i}", lw=1.6, label=label)
        if sim and label in sim:
            ax.plot(sim[label]["gamma"], sim[label]["p_star"], "o", color=f"C{i}", ms=4)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("γ = d / n   (model size relative to data)")
    ax.set_ylabel("optimal masking ratio p*")
    return _finish(fig, ax, title, path)


def plot_search(rows: Sequence[Mapping[str, Any]], path, title: str = "") -> Path:
    """Held-out paired difference ``best range − best fixed`` (±2 se, in % of the best fixed risk)."""
    plt = _plt()
    labels, means, errs, colors = [], [], [], []
    for row in rows:
        for metric in ("average", "worst"):
            if metric in row and "held_out" in row[metric]:
                h = row[metric]["held_out"]
                scale = 100.0 / row[metric]["best_fixed"]["risk"]  # percent of the fixed ratio's risk
                labels.append(f"{row['scenario']['name']} [{metric}]")
                means.append(h["mean"] * scale)
                errs.append(2 * h["se"] * scale)
                colors.append("C0" if metric == "average" else "C1")
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(labels) + 1.2))
    y = np.arange(len(labels))
    ax.barh(y, means, xerr=errs, color=colors, alpha=0.8, capsize=2)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("risk(best range) − risk(best fixed), % of fixed, held-out seeds  (< 0: R²MAE wins)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def plot_range_width(widths: Sequence[float], series: Mapping[str, Mapping[str, Sequence[float]]], path,
                     title: str = "") -> Path:
    """Risk of ranges centred on ``p*`` vs their width (width 0 is the fixed ratio)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (label, s) in enumerate(series.items()):
        ax.errorbar(widths, s["risk"], yerr=2 * np.asarray(s["se"]), fmt="o-", ms=3.5, color=f"C{i}",
                    capsize=2, label=label)
    ax.set_xlabel("range width b − a  (centred on the best fixed p)")
    ax.set_ylabel("test risk")
    return _finish(fig, ax, title, path)


def plot_size_sweep(ratios: Sequence[float], curves: Mapping[str, Mapping[str, Sequence[float]]], path,
                    title: str = "", ylabel: str = "linear-probe accuracy") -> Path:
    """Downstream score vs masking ratio, one line per model width (mean ± sd over seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (label, c) in enumerate(curves.items()):
        ax.errorbar(ratios, c["mean"], yerr=c["sd"], fmt="o-", ms=3.5, color=f"C{i}", capsize=2, label=label)
        best = int(np.argmax(c["mean"]))
        ax.plot([ratios[best]], [c["mean"][best]], "*", ms=12, color=f"C{i}")
    ax.set_xlabel("masking ratio (fixed)")
    ax.set_ylabel(ylabel)
    return _finish(fig, ax, title, path)
