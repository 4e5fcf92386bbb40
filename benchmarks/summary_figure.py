"""The README's top figure: per domain, R²MAE vs the best fixed ratio vs U(0, 1) vs the strongest
simple baseline, from committed benchmark results (mean ± sd over seeds).

    python benchmarks/summary_figure.py --out benchmarks/results/summary.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent / "results"

# (label, results file, metric, baseline methods a user would try first)
PANELS = [
    ("DNA motif SNVs, AUPRC\n(long preset, 3 seeds)", "dna_long/results.json", "auprc", ["kmer"]),
    ("cbmc annotation\nmacro-F1", "sc/full_cbmc/results.json", "macro_f1",
     ["logreg", "logreg_balanced", "pca_logreg", "scvi_logreg"]),
    ("pbmc68k annotation\nmacro-F1", "sc/full_pbmc68k/results.json", "macro_f1",
     ["logreg", "logreg_balanced", "pca_logreg", "scvi_logreg"]),
    ("MNIST linear probe\naccuracy", "vision_full/results.json", "accuracy", ["pixels"]),
    ("BBC linear probe\naccuracy (10 seeds)", "text_full/results.json", "accuracy", ["bag_of_tokens"]),
]


# What a reader of the figure calls each baseline (the results files keep the internal names).
DISPLAY_NAMES = {
    "kmer": "k-mer table",
    "logreg": "log. regression",
    "logreg_balanced": "log. regression, balanced",
    "pca_logreg": "PCA + log. regression",
    "scvi_logreg": "scVI + log. regression",
    "knn_pca": "PCA + kNN",
    "pixels": "raw pixels",
    "bag_of_tokens": "TF-IDF",
}


def display_name(method: str) -> str:
    """A method's name as the figure shows it; an unknown one is shown as it is."""
    return DISPLAY_NAMES.get(method, method.replace("_", " "))


def _entry(methods, name, metric):
    v = methods[name][metric]
    return float(v["mean"]), float(v.get("sd", 0.0))


def panel_values(path: Path, metric: str, baselines):
    methods = json.loads(path.read_text())["methods"]
    fixed = [k for k in methods if k.startswith("fixed_") and metric in methods[k]]
    best_fixed = max(fixed, key=lambda k: methods[k][metric]["mean"])
    best_base = max((b for b in baselines if b in methods), key=lambda k: methods[k][metric]["mean"])
    return [("R²MAE", *_entry(methods, "r2mae", metric)),
            (f"best fixed ({best_fixed[6:]})", *_entry(methods, best_fixed, metric)),
            ("U(0, 1)", *_entry(methods, "uniform_0-1", metric)),
            (f"baseline: {display_name(best_base)}", *_entry(methods, best_base, metric))]


def draw(root: Path = ROOT):
    """The figure (a matplotlib Figure), from the results files under ``root``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ["#d62728", "#1f77b4", "#7f7f7f", "#2ca02c"]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 3.2))
    for ax, (label, rel, metric, baselines) in zip(axes, PANELS):
        rows = panel_values(root / rel, metric, baselines)
        means = np.array([r[1] for r in rows])
        ax.bar(range(len(rows)), means, yerr=[r[2] for r in rows], color=colors, capsize=3)
        ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=35, ha="right", fontsize=7)
        # bars start at 0: a bar's length is its value (a cut axis would magnify small differences)
        ax.set_ylim(0.0, min(1.0, float((means + np.array([r[2] for r in rows])).max()) * 1.12))
        for x, (mean, sd) in enumerate((r[1], r[2]) for r in rows):
            ax.text(x, mean + sd, f"{mean:.3f}", ha="center", va="bottom", fontsize=6)
        ax.set_title(label, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("R²MAE vs fixed ratios vs U(0,1) vs the simple baseline (CPU budgets; benchmarks/RESULTS.md)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "summary.png"))
    args = ap.parse_args()
    draw().savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
