"""``bior2 demo``: the main jobs end to end on data that ships with the install.

1. **Single-cell** — scanpy's bundled ``pbmc68k_reduced`` (700 PBMCs, counts rebuilt from
   ``.raw``): split into a labelled reference and a query (stratified), pretrain an expression
   masked autoencoder with R²MAE on the reference, embed both (``obsm["X_r2mae"]`` + a UMAP),
   annotate the query, and compare with logistic regression on log-normalised genes.
2. **DNA** — a synthetic genome with a planted motif (made from a seed, nothing downloaded):
   pretrain a dilated-convolution nucleotide model with R²MAE on all contigs but one, score
   motif-breaking and background SNVs on the held-out contig zero-shot, report AUPRC against
   the positive fraction.

Everything lands in ``--out``: run folders, the annotated query ``.h5ad``, the scored variants,
a UMAP figure and ``demo_summary.json``. It takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict

__all__ = ["add_demo_arguments", "run_demo", "single_cell_demo", "dna_demo"]


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="output folder (default runs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--only", choices=["sc", "dna"], default=None, help="run one half only")
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test, numbers not meaningful)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")


def run_demo(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{out}: already holds files; pass --overwrite or another --out")
    out.mkdir(parents=True, exist_ok=True)
    summary: Dict[str, Any] = {}
    started = time.perf_counter()
    if args.only in (None, "sc"):
        summary["single_cell"] = single_cell_demo(out / "single_cell", seed=args.seed, quick=args.quick)
    if args.only in (None, "dna"):
        summary["dna"] = dna_demo(out / "dna", seed=args.seed, quick=args.quick)
    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    from .utils.io import atomic_write_json

    atomic_write_json(out / "demo_summary.json", summary)
    print(f"\nbior2 demo finished in {summary['elapsed_s']:.0f} s; everything is in {out}/")
    return 0


def single_cell_demo(out: Path, seed: int = 0, quick: bool = False) -> Dict[str, Any]:
    """Reference/query annotation on pbmc68k_reduced; returns the metrics."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from . import sc as bsc
    from .metrics import classification_metrics
    from .probe import standardized_logreg
    from .sc.example_data import pbmc68k
    from .utils.io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    print("== single-cell: pbmc68k_reduced (scanpy), reference -> query annotation")
    cells = pbmc68k()
    labels = cells.obs["bulk_labels"].astype(str).to_numpy()
    ref_idx, query_idx = train_test_split(np.arange(cells.n_obs), test_size=0.25, stratify=labels,
                                          random_state=seed)
    reference, query = cells[ref_idx].copy(), cells[query_idx].copy()
    truth = query.obs["bulk_labels"].astype(str).to_numpy()
    query.obs = query.obs.drop(columns=["bulk_labels"])  # the query is unlabelled, as a user's would be

    steps = 60 if quick else 600
    low, high = bsc.DEFAULT_RATIO.split("-")
    print(f"   pretraining an expression MAE with R²MAE U({low}, {high}) on {reference.n_obs} reference cells, "
          f"{steps} steps")
    model = bsc.pretrain(reference, out / "model", steps=steps, batch_size=128, lr=1e-3, seed=seed,
                         overwrite=True, progress=False).model
    bsc.embed(reference, model, umap=True)  # obsm["X_r2mae"], obsm["X_umap_r2mae"]
    # min_confidence=0: every cell labelled, comparable with the baseline's accuracy
    bsc.annotate(query, model, reference=reference, label_key="bulk_labels", min_confidence=0)
    r2mae = classification_metrics(truth, query.obs["r2mae_label"].astype(str).to_numpy())

    # the baseline a user would try first: logistic regression on log-normalised genes
    def lognorm(adata):
        x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
        return np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1.0) * 1e4)

    # (the same estimator as the single-cell benchmark's "logreg" baseline)
    baseline_model = standardized_logreg(max_iter=3000)
    baseline_model.fit(lognorm(reference), reference.obs["bulk_labels"].astype(str).to_numpy())
    baseline_pred = baseline_model.predict(lognorm(query))
    baseline = classification_metrics(truth, baseline_pred)
    with atomic_path(out / "query_annotated.h5ad") as tmp:
        query.write_h5ad(tmp)
    _umap_figure(reference, "bulk_labels", out / "reference_umap.png")
    print(f"   R²MAE embedding + linear probe : accuracy {r2mae['accuracy']:.3f}, macro-F1 {r2mae['macro_f1']:.3f}")
    print(f"   logistic regression on genes   : accuracy {baseline['accuracy']:.3f}, "
          f"macro-F1 {baseline['macro_f1']:.3f}")
    print(f"   query written to {out / 'query_annotated.h5ad'} (obs['r2mae_label'], obs['r2mae_confidence'])")
    return {
        "dataset": "scanpy pbmc68k_reduced (counts from .raw), 75/25 stratified split",
        "steps": steps,
        "r2mae_linear_probe": {k: r2mae[k] for k in ("accuracy", "macro_f1")},
        "logreg_genes": {k: baseline[k] for k in ("accuracy", "macro_f1")},
        "n_reference": int(reference.n_obs),
        "n_query": int(query.n_obs),
    }


def _umap_figure(adata, key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .utils.io import atomic_path

    xy = np.asarray(adata.obsm["X_umap_r2mae"])
    labels = adata.obs[key].astype(str).to_numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(sorted(set(labels))):
        sel = labels == name
        ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(i % 20), label=name)
    ax.set_title("UMAP of X_r2mae (reference cells)")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=2, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def dna_demo(out: Path, seed: int = 0, quick: bool = False) -> Dict[str, Any]:
    """Planted-motif genome -> R²MAE pretraining -> zero-shot variant scores -> AUPRC."""
    from .dna import pretrain, score_variants
    from .dna.synthetic import planted_motif_genome
    from .metrics import auprc, auroc
    from .utils.io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    print("== DNA: synthetic genome with a planted motif, zero-shot variant scoring")
    data = planted_motif_genome(out / "genome.fa", seed=seed)
    steps = 40 if quick else 300
    print(f"   pretraining a dilated-conv nucleotide model with R²MAE U(0.05, 0.3), {steps} steps, "
          f"{data['held_out']} held out")
    pretrain(data["fasta"], out / "model", model={"hidden": 32, "layers": 4},
             data={"window": 128, "stride": 64, "held_out": [data["held_out"]]},
             train={"steps": steps, "batch_size": 32, "lr": 3e-3, "seed": seed,  # R²MAE: the DNA default
                    "progress": False},
             overwrite=True)
    scored = score_variants(out / "model", data["fasta"], data["variants"])
    with atomic_path(out / "variants_scored.tsv") as tmp:
        scored.to_csv(tmp, sep="\t", index=False)
    ok = scored[scored["status"] == "ok"]
    # a motif-breaking SNV lowers the alt/ref log-likelihood ratio: rank by -score
    value, roc = auprc(ok["label"], -ok["score"]), auroc(ok["label"], -ok["score"])
    positive_fraction = float(ok["label"].mean())
    print(f"   AUPRC {value:.3f} (positive fraction {positive_fraction:.3f}), AUROC {roc:.3f} "
          f"on {len(ok)} variants; scores in {out / 'variants_scored.tsv'}")
    return {"dataset": "synthetic planted-motif genome (3 x 20 kb)", "steps": steps, "auprc": value,
            "auroc": roc, "positive_fraction": positive_fraction, "n_variants": int(len(ok))}
