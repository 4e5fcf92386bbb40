"""The loss curve of a run: ``bior2 plot-log RUN --out curve.png`` and :func:`plot_history`.

Training loss per step (with its running mean), the held-out loss where it was measured, and the
masking ratio drawn at each step on a second axis (R²MAE draws one per step).

Only argparse at import time; matplotlib and pandas are imported when a figure is drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Union

from .utils.io import PathLike

__all__ = ["plot_history", "add_plot_log_arguments", "run_plot_log"]

FORMATS = (".png", ".pdf", ".svg")


def plot_history(history: Any, out: PathLike, *, title: Optional[str] = None, smooth: int = 20) -> Path:
    """Draw a run's history (:func:`bioR2.train.read_log`'s DataFrame, a run folder or a
    ``PretrainResult``) to ``out`` (.png, .pdf or .svg, written atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .utils.io import atomic_path
    from .train.history import read_log

    if not hasattr(history, "columns"):
        history = read_log(history)
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"--out {out}: name the figure .png, .pdf or .svg")
    if "loss" not in history.columns or history["loss"].dropna().empty:
        raise ValueError("the training log holds no loss records (did the run take a step?)")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    loss = history["loss"].dropna()
    ax.plot(loss.index, loss.values, color="0.7", lw=0.8, label="training loss")
    if len(loss) >= smooth:
        ax.plot(loss.index, loss.rolling(smooth, min_periods=1).mean().values, color="C0", lw=1.6,
                label=f"training loss (mean of {smooth} steps)")
    if "val_loss" in history.columns and not history["val_loss"].dropna().empty:
        val = history["val_loss"].dropna()
        ax.plot(val.index, val.values, "o-", color="C3", ms=4, label="held-out loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("masked loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if "mask_ratio" in history.columns and not history["mask_ratio"].dropna().empty:
        ratio = history["mask_ratio"].dropna()
        ax2 = ax.twinx()
        ax2.plot(ratio.index, ratio.values, ".", color="C2", ms=2, alpha=0.5, label="mask ratio drawn")
        ax2.set_ylabel("mask ratio", color="C2")
        ax2.set_ylim(0, 1)
        more = ax2.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, fontsize=8, loc="upper right")
    ax.set_title(title or "training history", fontsize=10)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=out.suffix.lstrip(".").lower())
    plt.close(fig)
    return out


def add_plot_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run folder of `bior2 pretrain` (or its log.jsonl)")
    parser.add_argument("--out", required=True, metavar="FIG.png", help="figure path (.png, .pdf or .svg)")
    parser.add_argument("--smooth", type=int, default=20, metavar="N",
                        help="running mean of the training loss over N steps (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run_plot_log(args: argparse.Namespace) -> int:
    from .utils.outputs import check_output_path
    from .train.history import LOG_FILE, read_log

    if args.smooth < 1:
        raise ValueError(f"--smooth must be >= 1, got {args.smooth}")
    run: Union[str, Path] = Path(args.run)
    log = run / LOG_FILE if run.is_dir() else run
    check_output_path(args.out, [log], overwrite=args.overwrite)
    if Path(args.out).suffix.lower() not in FORMATS:
        raise ValueError(f"--out {args.out}: name the figure .png, .pdf or .svg")
    history = read_log(run)
    path = plot_history(history, args.out, title=f"{Path(args.run).resolve().name}: training history",
                        smooth=args.smooth)
    print(f"bior2: wrote {path} ({len(history)} logged steps)", file=sys.stderr)
    return 0
