"""``bior2 benchmark sc``: cell-type annotation on real data, R²MAE against fixed masking
ratios, U(0, 1) and the standard baselines, with stratified 5-fold CV.

Protocol (every transform and probe is fit on the training fold only):

* **train-fold** (``methods``): each masked autoencoder is pretrained on the training fold's
  cells (plus external unlabelled cells where the dataset has gene names), then a logistic
  regression probe on its embeddings is fit on the training fold and scored on the test fold.
* **transductive** (``transductive``): pretrained once per seed on all labelled cells without
  their labels (test cells' expression is seen, never their labels), then the same probes.

Per masking scheme, ``seeds`` pretraining seeds x 5 folds give accuracy and macro-F1; the
``paired`` section has, for each scheme and baseline, the mean difference to R²MAE over the
matched (seed, fold) pairs and its standard error. ``reconstruction`` holds the masked-value
MSE on held-out cells (train-fold models) across test-time masking ratios.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..domain import get_domain
from ..metrics import classification_metrics, paired_difference, summarize
from ..results import build_results, methods_table, write_results
from ..sc.spec import DEFAULT_RATIO

__all__ = ["SCHEMES", "BenchmarkConfig", "run_benchmark", "run_scoreboard", "SCOREBOARD_TEST_RATIOS"]

log = logging.getLogger(__name__)

def _schemes() -> Dict[str, str]:
    """The compared schemes by results.json name: the spec's R²MAE range, its fixed ratios, U(0, 1)."""
    from .common import method_key

    spec = get_domain("sc")
    return {method_key(r, spec.default_ratio): r for r in spec.comparison_schemes()}


SCHEMES: Dict[str, str] = _schemes()
BASELINE_NAMES = ["pca_logreg", "logreg", "logreg_balanced", "knn_pca", "scvi_logreg"]
SWEEP = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


# BenchmarkConfig field -> (section, key) of the sc spec preset that gives it when not set.
RECIPE_FIELDS = {"batch_size": ("train", "batch_size"), "lr": ("train", "lr"), "hidden": ("model", "hidden"),
                 "latent": ("model", "latent"), "dropout": ("model", "dropout")}
# What a per-fold recipe (BenchmarkConfig.fold_recipes) may set: the pretraining and fine-tuning recipe.
FOLD_RECIPE_FIELDS = (*RECIPE_FIELDS, "steps", "epochs", "finetune_steps", "finetune_lr", "finetune_mask_ratio",
                      "finetune_balanced")


@dataclass
class BenchmarkConfig:
    """Everything that defines a run (written into results.json).

    The model and its training are the sc spec's ``spec_preset`` (``sc-bench``, ``sc-bench-quick``);
    ``steps`` / ``epochs``, ``batch_size``, ``lr``, ``hidden``, ``latent`` and ``dropout`` left
    ``None`` are filled in from it (a given ``steps`` or ``epochs`` replaces the preset's length).
    """

    dataset: str = "cbmc"
    quick: bool = False
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    schemes: List[str] = field(default_factory=lambda: list(SCHEMES))  # names in SCHEMES, in this order
    n_folds: int = 5
    spec_preset: str = "sc-bench"
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    hidden: Optional[List[int]] = None
    latent: Optional[int] = None
    dropout: Optional[float] = None
    only_nonzero: bool = False
    protocols: List[str] = field(default_factory=lambda: ["train_fold", "transductive"])
    extra_cells: bool = True
    scvi_epochs: int = 100
    finetune: bool = False
    finetune_steps: int = 300
    sweep: List[float] = field(default_factory=lambda: list(SWEEP))
    threads: int = 1
    umap: bool = True
    epochs: Optional[float] = None  # set: each model trains this many epochs of its pretraining cells (not `steps`)
    finetune_lr: float = 1e-3
    embedding_metrics: bool = True  # scib-metrics scores of the transductive embeddings (when installed)
    jobs: int = 1  # worker processes (one thread each) training the models side by side
    finetune_mask_ratio: str = "0"  # genes hidden while fine-tuning, as augmentation ("0": none)
    finetune_balanced: bool = False  # fine-tuning loss weighted inversely to class frequency
    # One recipe per outer fold (chosen on that fold's inner split, see benchmarks/sc_recipe_search.py):
    # {field: value} over FOLD_RECIPE_FIELDS, replacing this config's value for that fold's models.
    # The transductive models (one per seed, every fold) keep this config's own recipe.
    fold_recipes: Optional[List[Dict[str, Any]]] = None

    def __post_init__(self) -> None:
        from ..pipeline import resolve_run_config, typed_sections

        if self.fold_recipes is not None:
            if len(self.fold_recipes) != self.n_folds:
                raise ValueError(f"fold_recipes: {len(self.fold_recipes)} recipes for {self.n_folds} folds")
            for k, recipe in enumerate(self.fold_recipes):
                unknown = sorted(set(recipe) - set(FOLD_RECIPE_FIELDS))
                if unknown:
                    raise ValueError(f"fold_recipes[{k}]: unknown field(s) {unknown}; "
                                     f"known: {list(FOLD_RECIPE_FIELDS)}")

        sections, train = typed_sections("sc", resolve_run_config("sc", preset=self.spec_preset))
        recipe = {"train": train, "model": sections.model}
        for name, (section, key) in RECIPE_FIELDS.items():
            if getattr(self, name) is None:
                setattr(self, name, getattr(recipe[section], key))
        if self.steps is None and self.epochs is None:  # the preset's length
            self.steps, self.epochs = train.steps, train.epochs

    def for_fold(self, k: int) -> "BenchmarkConfig":
        """This config with outer fold ``k``'s recipe (``fold_recipes[k]``) in place, or itself."""
        if self.fold_recipes is None:
            return self
        recipe = dict(self.fold_recipes[k])
        if "steps" in recipe and "epochs" not in recipe:  # a length in steps replaces the epochs, and back
            recipe["epochs"] = None
        if "epochs" in recipe and "steps" not in recipe:
            recipe["steps"] = None
        return replace(self, fold_recipes=None, **recipe)

    def train_options(self) -> Dict[str, Any]:
        """The train section of every model (over the preset): length, batch, learning rate."""
        return {"steps": self.steps, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}

    def model_options(self) -> Dict[str, Any]:
        return {"hidden": list(self.hidden), "latent": self.latent, "dropout": self.dropout}

    def steps_for(self, n_cells: int) -> int:
        """Pretraining steps of a model trained on ``n_cells`` cells (the trainer's own rule)."""
        from ..train import TrainConfig

        return TrainConfig(**self.train_options()).steps_for_examples(n_cells)

    @classmethod
    def preset(cls, dataset: str, quick: bool) -> "BenchmarkConfig":
        """The full run: the sc spec's ``sc-bench`` recipe (the shape `bior2 pretrain sc` trains by
        default, 50 epochs of each model's pretraining cells) with fine-tuning; quick: one seed,
        ``sc-bench-quick`` (10 epochs), scVI 20 epochs."""
        if quick:
            return cls(dataset=dataset, quick=True, seeds=[0], scvi_epochs=20, spec_preset="sc-bench-quick")
        return cls(dataset=dataset, finetune=True, spec_preset="sc-bench")


# --------------------------------------------------------------------------- helpers
def _folds(labels: np.ndarray, n_folds: int):
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=0)
    return list(splitter.split(np.zeros(labels.size), labels))


def _probe(emb: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
           inner: Optional[tuple] = None) -> np.ndarray:
    """Logistic-regression probe fit on ``train``, predicting ``test``; with ``inner`` (the
    nested (fit, validation) split of ``train``) its C is chosen there first, over the same grid
    as the logistic-regression baselines."""
    from ..sc.annotate import LinearProbe
    from .sc_baselines import GRIDS
    from .sc_protocol import select

    C = 1.0
    if inner is not None:
        fit, val = inner

        def score(params):
            pred = LinearProbe(C=params["C"]).fit(emb[fit], labels[fit]).predict(emb[val])
            return classification_metrics(labels[val], pred)["macro_f1"]

        C = select(GRIDS["logreg"], score)[0]["C"]
    return LinearProbe(C=C).fit(emb[train], labels[train]).predict(emb[test])


def _record(store: Dict[str, Dict[str, list]], method: str, metrics: Dict[str, Any]) -> None:
    entry = store.setdefault(method, {"accuracy": [], "macro_f1": [], "per_class_f1": []})
    entry["accuracy"].append(metrics["accuracy"])
    entry["macro_f1"].append(metrics["macro_f1"])
    entry["per_class_f1"].append(metrics["per_class_f1"])


def _summarise(store: Dict[str, Dict[str, list]]) -> Dict[str, Any]:
    out = {}
    for method, entry in store.items():
        per_class: Dict[str, List[float]] = {}
        for d in entry["per_class_f1"]:
            for k, v in d.items():
                per_class.setdefault(k, []).append(v)
        out[method] = {
            "accuracy": summarize(entry["accuracy"]),
            "macro_f1": summarize(entry["macro_f1"]),
            "per_class_f1": {k: round(float(np.mean(v)), 4) for k, v in sorted(per_class.items())},
        }
    return out


def _paired(store: Dict[str, Dict[str, list]], n_seeds: int, n_folds: int) -> Dict[str, Any]:
    """Differences ``method - r2mae`` over matched (seed, fold) pairs (baselines repeat per seed)."""
    if "r2mae" not in store:
        return {}
    out: Dict[str, Any] = {}
    for method, entry in store.items():
        if method == "r2mae":
            continue
        pair = {}
        for metric in ("accuracy", "macro_f1"):
            ref = np.asarray(store["r2mae"][metric])
            other = np.asarray(entry[metric])
            if other.size == n_folds and ref.size == n_seeds * n_folds:
                other = np.tile(other, n_seeds)  # a deterministic baseline: the same value for every seed
            if other.size != ref.size:
                continue
            pair[metric] = paired_difference(other, ref)
        out[method] = pair
    return out


# --------------------------------------------------------------------------- the run
# Config fields added after runs were cached, with the default that reproduces those runs.
_LATER_FIELDS: Dict[str, Any] = {"finetune_mask_ratio": "0", "finetune_balanced": False, "fold_recipes": None}
_CONTEXT: Dict[str, Any] = {}


def _context(config: BenchmarkConfig) -> Dict[str, Any]:
    """The dataset, its reader (labelled cells first, then external unlabelled ones), labels,
    log-normalised labelled cells and folds: built once per process (workers build their own)."""
    key = (config.dataset, config.extra_cells, config.n_folds)
    if _CONTEXT.get("key") == key:
        return _CONTEXT
    import anndata

    from ..sc.data import ExpressionReader, MemorySource
    from .sc_datasets import extra_pbmc, load_dataset

    adata, label_key = load_dataset(config.dataset)
    labels = adata.obs[label_key].astype(str).to_numpy()
    n_lab = adata.n_obs
    counts, n_extra, extra_note = adata.X, 0, None
    if config.extra_cells and config.dataset != "cbmc":
        import scipy.sparse as sp

        extra = extra_pbmc(list(adata.var_names))
        n_extra = extra.n_obs
        counts = sp.vstack([adata.X, extra.X]).tocsr()
        extra_note = (f"pretraining adds {n_extra} unlabelled cells (pbmc3k from desc==2.1.1, celltypist sample) "
                      "aligned by gene name; they never enter a probe or a test fold.")
    pool = anndata.AnnData(counts)
    pool.var_names = adata.var_names
    reader = ExpressionReader(MemorySource(pool, where=config.dataset))
    _CONTEXT.clear()
    from .sc_protocol import inner_splits

    folds = _folds(labels, config.n_folds)
    _CONTEXT.update(key=key, adata=adata, label_key=label_key, labels=labels, n_lab=n_lab, n_extra=n_extra,
                    extra_note=extra_note, reader=reader, x_log=reader.read(np.arange(n_lab)), counts=counts,
                    folds=folds, inner=inner_splits(folds, labels), extra_rows=np.arange(n_lab, n_lab + n_extra))
    return _CONTEXT


def _train_model(config: BenchmarkConfig, reader, rows: np.ndarray, ratio: str, seed: int):

    from ..sc.api import pretrain

    # the spec preset plus this run's options; pretrain seeds torch with `seed` before building the
    # model, so every scheme starts from the same weights at a seed, in any process
    train = {**config.train_options(), "mask_ratio": ratio, "seed": seed, "progress": False,
             "log_every": config.steps_for(rows.size)}
    return pretrain((reader, rows), preset=config.spec_preset, model=config.model_options(), train=train,
                    only_nonzero=config.only_nonzero).model


def _job(task: Dict[str, Any]) -> Dict[str, Any]:
    """One unit of the benchmark (a worker process may run it): a masked autoencoder pretrained
    for one (protocol, scheme, seed[, fold]) and scored, or scVI on one fold / on all cells."""
    import torch

    from ..sc.annotate import embed_reader, fine_tune
    from ..sc.task import reconstruction_error
    from .sc_baselines import embedding_scores

    config = BenchmarkConfig(**task["config"])
    torch.set_num_threads(config.threads)
    c = _context(config)
    labels, folds, reader, n_lab, x_log = c["labels"], c["folds"], c["reader"], c["n_lab"], c["x_log"]
    kind, seed = task["kind"], task.get("seed", 0)
    if kind == "scvi":
        return _scvi_job(config, c, task)
    ratio = SCHEMES[task["scheme"]]
    if kind == "transductive":
        model = _train_model(config, reader, np.arange(reader.n_obs), ratio, seed)
        emb = embed_reader(reader, model, rows=np.arange(n_lab), device="cpu")
        out: Dict[str, Any] = {"folds": [classification_metrics(labels[test], _probe(emb, labels, train, test, inner))
                                         for (train, test), inner in zip(folds, c["inner"])]}
        if task.get("embedding_metrics"):
            out["embedding"] = embedding_scores(emb, labels)
        if task.get("save_embedding"):
            np.save(task["save_embedding"], emb)
        return out
    k = task["fold"]
    train, test = folds[k]
    config = config.for_fold(k)
    model = _train_model(config, reader, np.concatenate([train, c["extra_rows"]]), ratio, seed)
    emb = embed_reader(reader, model, rows=np.arange(n_lab), device="cpu")
    out = {"metrics": classification_metrics(labels[test], _probe(emb, labels, train, test, c["inner"][k]))}
    if task["scheme"] == "r2mae":
        from ..probe import standardized_logreg

        both = np.concatenate([x_log, emb], axis=1)
        clf = standardized_logreg(max_iter=3000).fit(both[train], labels[train])
        out["genes+emb"] = classification_metrics(labels[test], clf.predict(both[test]))
        if config.finetune:
            ft = fine_tune(model, reader, labels[train], rows=train, steps=config.finetune_steps,
                           lr=config.finetune_lr, mask_ratio=config.finetune_mask_ratio,
                           balanced=config.finetune_balanced, seed=seed, device="cpu")
            proba = ft.predict_proba_array(torch.from_numpy(x_log[test])).numpy()
            out["finetune"] = classification_metrics(labels[test], np.asarray(ft.classes)[proba.argmax(1)])
    x_test = torch.from_numpy(x_log[test])
    out["sweep"] = {f"{r:g}": reconstruction_error(model, x_test, r, seed=1000 * seed + k,
                                                   only_nonzero=config.only_nonzero) for r in config.sweep}
    return out


def _scvi_job(config: BenchmarkConfig, c: Dict[str, Any], task: Dict[str, Any]) -> Dict[str, Any]:
    """scVI + the tuned probe. On a fold: its size and length chosen on the fold's inner split
    (fit on the inner fit cells plus the unlabelled cells, probe scored on the inner validation
    cells), then refit on the training fold plus the unlabelled cells. ``fold`` None: trained once
    on every cell (transductive, like the transductive masked autoencoders) with the grid's
    first full-length entry, probed on every fold (and scored by scib-metrics when installed)."""
    from .sc_baselines import embedding_scores, scib_available, scvi_grid, scvi_latents
    from .sc_protocol import select

    labels, folds, counts, extra = c["labels"], c["folds"], c["counts"], c["extra_rows"]
    dense = lambda rows: np.asarray(counts[rows].toarray())  # noqa: E731

    def latents(fit_rows, other_rows, shape, epochs):
        # the unlabelled cells join every scVI fit; only the labelled rows' latents are returned.
        # One run per shape gives every length of the grid (sc_baselines.scvi_latents).
        rows = np.concatenate([fit_rows, extra])
        runs = scvi_latents(dense(rows), dense(other_rows), epochs=epochs, **shape)
        return {e: (z_fit[:fit_rows.size], z_other) for e, (z_fit, z_other) in runs.items()}

    def latent(fit_rows, other_rows, params):
        shape = {k: v for k, v in params.items() if k != "max_epochs"}
        return latents(fit_rows, other_rows, shape, [params["max_epochs"]])[params["max_epochs"]]

    grid = scvi_grid(config.scvi_epochs)
    if task["fold"] is None:
        params = next(p for p in grid if p["max_epochs"] == config.scvi_epochs)
        emb = latent(np.arange(c["n_lab"]), np.arange(1), params)[0]
        out: Dict[str, Any] = {"params": params, "folds": [
            classification_metrics(labels[test], _probe(emb, labels, train, test, inner))
            for (train, test), inner in zip(folds, c["inner"])]}
        if config.embedding_metrics and scib_available():
            out["embedding"] = embedding_scores(emb, labels)
        return out
    k = task["fold"]
    train, test = folds[k]
    fit, val = c["inner"][k]

    inner_scores: Dict[Tuple[int, int, int], float] = {}
    shapes = {(p["n_latent"], p["n_layers"]) for p in grid}
    for n_latent, n_layers in sorted(shapes):
        lengths = sorted(p["max_epochs"] for p in grid if (p["n_latent"], p["n_layers"]) == (n_latent, n_layers))
        for e, (z_fit, z_val) in latents(fit, val, {"n_latent": n_latent, "n_layers": n_layers}, lengths).items():
            both = np.concatenate([z_fit, z_val])
            pred = _probe(both, np.concatenate([labels[fit], labels[val]]), np.arange(fit.size),
                          np.arange(fit.size, fit.size + val.size))
            inner_scores[(n_latent, n_layers, e)] = classification_metrics(labels[val], pred)["macro_f1"]

    def score(params):
        return inner_scores[(params["n_latent"], params["n_layers"], params["max_epochs"])]

    best, scores = select(grid, score)
    z_train, z_test = latent(train, test, best)
    both = np.concatenate([z_train, z_test])
    # the probe's C on the same inner split as every other probe (positions within the training rows)
    inner = (np.searchsorted(train, fit), np.searchsorted(train, val))
    pred = _probe(both, np.concatenate([labels[train], labels[test]]), np.arange(train.size),
                  np.arange(train.size, train.size + test.size), inner)
    return {"metrics": classification_metrics(labels[test], pred), "params": best, "inner_scores": scores}


def run_benchmark(config: BenchmarkConfig, out_dir: str | Path, command: Optional[str] = None,
                  recipe_selection: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Run the benchmark described by ``config``; write results.json/results.md/figures to ``out_dir``.

    ``recipe_selection`` (with ``config.fold_recipes``): how each fold's recipe was chosen, as
    written by ``benchmarks/sc_recipe_search.py --choose``; it goes into the ``selection``
    section after its validation cells are checked to be this run's inner splits.

    Every model (and every scVI fit) is one job whose result is kept in ``out_dir/runs`` as soon
    as it is done (:func:`bioR2.bench.common.run_all`), so an interrupted run resumes; ``jobs``
    worker processes (one thread each) share the cores.
    """
    import torch
    from threadpoolctl import threadpool_limits

    from .common import run_all
    from .sc_baselines import GRIDS, pca_pipeline, embedding_scores, fit_predict_params, scib_available, scvi_available
    from .sc_protocol import sc_comparisons, select, selection_section

    t0 = time.perf_counter()
    # Torch and BLAS each default to every core; on a shared machine that oversubscription is
    # several times slower than one thread each.
    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _CONTEXT.clear()  # the data as it is now (workers, fresh processes, load their own)
    c = _context(config)
    adata, labels, n_lab, n_extra, x_log, folds = (c["adata"], c["labels"], c["n_lab"], c["n_extra"], c["x_log"],
                                                   c["folds"])
    notes: List[str] = [f"data: {adata.uns.get('source', config.dataset)}; {n_lab} cells x {adata.n_vars} genes, "
                        f"{len(set(labels))} classes (obs['{c['label_key']}'])"]
    if config.dataset == "cbmc":
        notes.append("cbmc ships no gene names: genes are named gene_000 ... by index, so no external cells "
                     "can be aligned to it; pretraining uses the labelled cells only.")
    if c["extra_note"]:
        notes.append(c["extra_note"])

    # ---------------------------------------------------------------- baselines (deterministic, tuned)
    # Each baseline's setting is chosen on the fold's inner validation split (never a test cell of
    # the fold), then refit on the whole training fold; the unlabelled cells join every PCA fit.
    base: Dict[str, Dict[str, list]] = {}
    tuning: Dict[str, List[Dict[str, Any]]] = {}
    x_extra = c["reader"].read(c["extra_rows"]) if n_extra else None
    for k, ((train, test), (fit, val)) in enumerate(zip(folds, c["inner"])):
        for name, grid in GRIDS.items():
            def score(params, name=name, fit=fit, val=val):
                pred = fit_predict_params(name, params, x_log[fit], labels[fit], x_log[val], x_extra)
                return classification_metrics(labels[val], pred)["macro_f1"]

            best, scores = select(grid, score)
            tuning.setdefault(name, []).append({"fold": k, "chosen": best, "inner_macro_f1": scores})
            _record(base, name, classification_metrics(
                labels[test], fit_predict_params(name, best, x_log[train], labels[train], x_log[test], x_extra)))
    log.info("baselines done (%.0fs)", time.perf_counter() - t0)
    scib = config.embedding_metrics and scib_available()
    emb_scores: Dict[str, Dict[str, List[float]]] = {}

    def add_embedding(method: str, scores: Dict[str, float]) -> None:
        for k, v in scores.items():
            emb_scores.setdefault(method, {}).setdefault(k, []).append(v)

    if scib:
        add_embedding("pca", embedding_scores(pca_pipeline().fit_transform(x_log), labels))
    selection = selection_section(folds, c["inner"])
    if config.fold_recipes is not None:
        selection["recipe"] = _recipe_selection_section(recipe_selection, config, c["inner"])
    if selection["overlap_with_test"]:  # pragma: no cover - a broken split must never be reported as clean
        raise RuntimeError(f"selection cells overlap the test folds: {selection}")

    # ---------------------------------------------------------------- the jobs
    cfg_dict = asdict(config)
    umap_path = out_dir / "runs" / f"umap_r2mae_seed{config.seeds[0]}.npy"
    tasks: List[Dict[str, Any]] = []
    names: List[str] = []
    with_scvi = scvi_available()
    if with_scvi:
        for k in range(len(folds)):
            tasks.append({"config": cfg_dict, "kind": "scvi", "fold": k})
            names.append(f"scvi_fold{k}")
        if scib or "transductive" in config.protocols:
            tasks.append({"config": cfg_dict, "kind": "scvi", "fold": None})
            names.append("scvi_all")
    for seed in config.seeds:
        for scheme in config.schemes:
            if "transductive" in config.protocols:
                first = scheme == "r2mae" and seed == config.seeds[0] and config.umap
                tasks.append({"config": cfg_dict, "kind": "transductive", "scheme": scheme, "seed": seed,
                              "embedding_metrics": scib, "save_embedding": str(umap_path) if first else None})
                names.append(f"transductive_{scheme}_seed{seed}")
            if "train_fold" in config.protocols:
                for k in range(len(folds)):
                    tasks.append({"config": cfg_dict, "kind": "train_fold", "scheme": scheme, "seed": seed, "fold": k})
                    names.append(f"train_fold_{scheme}_seed{seed}_fold{k}")
    # What a job's result depends on (not which seeds/schemes are run, nor threads/jobs/figures).
    fingerprint = {k: v for k, v in cfg_dict.items() if k not in ("seeds", "schemes", "threads", "jobs", "umap",
                                                                 "quick", "protocols", "embedding_metrics")}
    for name, default in _LATER_FIELDS.items():  # fields added later leave older runs' caches valid at their default
        if fingerprint.get(name) == default:
            fingerprint.pop(name)
    fingerprint.update(n_extra=n_extra, schemes=SCHEMES, version=3)  # 3: nested selection, tuned probes
    results_list = run_all(_job, tasks, names, out_dir / "runs", fingerprint, jobs=config.jobs)
    log.info("%d jobs done (%.0fs)", len(results_list), time.perf_counter() - t0)

    # ---------------------------------------------------------------- assemble (in task order)
    stores: Dict[str, Dict[str, Dict[str, list]]] = {p: {} for p in config.protocols}
    sweep: Dict[str, Dict[str, List[float]]] = {}
    for task, res in zip(tasks, results_list):
        if task["kind"] == "scvi":
            if task["fold"] is None:
                if "embedding" in res:
                    add_embedding("scvi", res["embedding"])
                if "transductive" in stores:
                    for m in res["folds"]:
                        _record(stores["transductive"], "scvi_logreg", m)
            else:
                _record(base, "scvi_logreg", res["metrics"])
                tuning.setdefault("scvi_logreg", []).append({"fold": task["fold"], "chosen": res["params"],
                                                             "inner_macro_f1": res["inner_scores"]})
        elif task["kind"] == "transductive":
            for m in res["folds"]:
                _record(stores["transductive"], task["scheme"], m)
            if "embedding" in res:
                add_embedding(task["scheme"], res["embedding"])
        else:
            store = stores["train_fold"]
            _record(store, task["scheme"], res["metrics"])
            if "genes+emb" in res:
                _record(store, "r2mae_genes+emb", res["genes+emb"])
            if "finetune" in res:
                _record(store, "r2mae_finetune", res["finetune"])
            for r, err in res["sweep"].items():
                sweep.setdefault(task["scheme"], {}).setdefault(r, []).append(err)
    if with_scvi:
        notes.append(f"scVI (scvi-tools): n_latent, n_layers and epochs (up to {config.scvi_epochs}) chosen on each "
                     "fold's inner validation split, trained on the training fold's counts plus the unlabelled "
                     "cells; transductive scVI is trained once on every cell.")
    else:
        notes.append("scvi_logreg skipped: scvi-tools is not installed (pip install 'bior2[scvi]').")
    umap_emb = np.load(umap_path) if (config.umap and umap_path.exists()) else None
    if config.umap and umap_emb is None and "transductive" in config.protocols:
        notes.append(f"no UMAP: {umap_path} (written by the first R²MAE transductive model) is missing")

    n_seeds = len(config.seeds)
    main = "train_fold" if "train_fold" in config.protocols else "transductive"
    methods_store = dict(stores[main])
    methods_store.update(base)
    methods = _summarise(methods_store)
    paired = {p: _paired(dict(base, **stores[p]), n_seeds, config.n_folds) for p in config.protocols}
    names_base = [*GRIDS, "scvi_logreg"]
    comparisons = sc_comparisons(dict(stores[main], **base), n_seeds, config.n_folds, names_base, config.schemes)
    if "transductive" in stores:
        # the transductive table compares transductive models only: R²MAE and scVI trained on every cell
        trans = sc_comparisons(dict(base, **stores["transductive"]), n_seeds, config.n_folds, names_base,
                               config.schemes)
        comparisons.update({f"transductive_{k}": v for k, v in trans.items()})
    notes.append("selection: every baseline setting (C, components, k, scVI size and epochs) and every probe's C "
                 "is chosen by macro-F1 on the inner validation split of its outer training fold "
                 f"({selection['n']} cells over {config.n_folds} folds, none a test cell of its fold); "
                 "comparisons: 95% t-intervals, paired over folds for per-fold-deterministic baselines (seeds "
                 "averaged within a fold first), over seed x fold otherwise; 'ahead' only when the interval "
                 "excludes 0.")
    reconstruction = {s: {r: summarize(v) for r, v in d.items()} for s, d in sweep.items()}
    extra = {
        "protocol": {"main": main, "folds": f"stratified {config.n_folds}-fold, shuffle, random_state=0",
                     "train_fold": "pretrained on each training fold (+ external unlabelled cells)",
                     "transductive": "pretrained on all labelled cells without labels, once per seed"},
        "config": asdict(config),
        "masking_schemes": SCHEMES,
        "transductive": _summarise(dict(base, **stores["transductive"])) if "transductive" in stores else {},
        "paired": paired,
        "comparisons": comparisons,
        "selection": selection,
        "tuning": tuning,
        "reconstruction": reconstruction,
        "notes": notes,
    }
    if emb_scores:
        extra["embedding_metrics"] = {m: {k: summarize(v) for k, v in d.items()} for m, d in emb_scores.items()}
        notes.append("embedding metrics (scib-metrics 0.5.x): every labelled cell's embedding; R²MAE and the "
                     "masking schemes: the transductive models (one per seed); pca: PCA-50 of the standardised "
                     "log-expression; scvi: scVI trained on all labelled cells. cbmc and pbmc68k have one batch, "
                     "so isolated_labels averages every label's silhouette.")
    elif config.embedding_metrics:
        notes.append("embedding metrics skipped: scib-metrics is not installed (pip install 'bior2[scib]').")
    results = build_results("sc", config.dataset, config.seeds, methods, time.perf_counter() - t0, command, **extra)
    figures = _figures(out_dir, umap_emb, labels, reconstruction, config.dataset, seed=config.seeds[0])
    results["figures"] = figures
    write_results(out_dir, results, _markdown(results, main))
    return results


def _recipe_selection_section(choice: Optional[Dict[str, Any]], config: BenchmarkConfig,
                              inner: List[Tuple[np.ndarray, np.ndarray]]) -> Dict[str, Any]:
    """The ``selection.recipe`` entry: per fold, the recipe chosen and the datasets it was chosen on.

    A choice made on this dataset must have been scored on this run's own inner validation
    cells of that fold (their digest is compared), otherwise it may have seen a test cell: refused."""
    from .sc_protocol import rows_digest

    if not choice:
        return {"scheme": "per-fold recipes given without a record of how they were chosen", "folds": []}
    per_fold = choice.get("folds", [])
    if len(per_fold) != config.n_folds:
        raise ValueError(f"recipe choice: {len(per_fold)} folds, the benchmark has {config.n_folds}")
    for k, entry in enumerate(per_fold):
        digest = entry.get("validation", {}).get(config.dataset)
        if config.dataset in entry.get("datasets", []) and digest != rows_digest(inner[k][1]):
            raise ValueError(f"recipe choice: fold {k} was scored on other {config.dataset} validation cells than "
                             "this run's inner split, which may hold test cells of this fold")
        if entry.get("recipe") != config.fold_recipes[k]:
            raise ValueError(f"recipe choice: fold {k}'s recipe {entry.get('recipe')} is not the config's "
                             f"{config.fold_recipes[k]}")
    return {**{k: v for k, v in choice.items() if k != "folds"},
            "folds": per_fold, "overlap_with_test": 0}


# --------------------------------------------------------------------------- scoreboard
SCOREBOARD_TEST_RATIOS = get_domain("sc").eval_ratios  # held-out reconstruction error at these fixed ratios
SCOREBOARD_MASK_SEED = 0                       # the test masks: the same for every model


def cluster_scores(emb: np.ndarray, labels: np.ndarray, seed: int = 0) -> Dict[str, float]:
    """NMI and ARI (scikit-learn) between the cell labels and KMeans clusters of the embedding,
    with as many clusters as labels (10 restarts; features standardised first)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.preprocessing import StandardScaler

    k = len(np.unique(labels))
    z = StandardScaler().fit_transform(np.asarray(emb, dtype=np.float64))
    pred = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    return {"nmi": float(normalized_mutual_info_score(labels, pred)), "ari": float(adjusted_rand_score(labels, pred))}


def run_scoreboard(config: BenchmarkConfig, out_dir: str | Path, schedules: Optional[Dict[str, str]] = None,
                   command: Optional[str] = None) -> Dict[str, Any]:
    """``bior2 benchmark sc --scoreboard``: one masked autoencoder per (schedule, seed) of the
    single-cell schedule family, pretrained with ``config``'s recipe on the training cells of
    one held-out split (fold 0 of the benchmark's stratified folds; plus the external unlabelled
    cells where the dataset has them), then scored on: annotation macro-F1 of the held-out cells
    (logistic-regression probe on the embedding, fit on the training cells), NMI and ARI of
    KMeans clusters of every labelled cell's embedding (no label is used in pretraining), and
    the masked-value MSE of the held-out cells at test ratios 0.1 / 0.3 / 0.5 / 0.7 (the same
    masks for every model). Finished (schedule, seed) results are cached in ``out/runs``."""
    import torch
    from threadpoolctl import threadpool_limits

    from ..sc.annotate import embed_reader
    from ..sc.task import reconstruction_error
    from .common import ResultCache, summarize_methods
    from .scoreboard import domain_family, scoreboard_section, section_markdown

    t0 = time.perf_counter()
    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)
    schedules = dict(schedules or domain_family("sc"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _CONTEXT.clear()  # the data as it is now
    c = _context(config)
    adata, labels, n_lab, n_extra, reader = c["adata"], c["labels"], c["n_lab"], c["n_extra"], c["reader"]
    train, test = c["folds"][0]
    rows = np.concatenate([train, np.arange(n_lab, n_lab + n_extra)])
    x_test = torch.from_numpy(reader.read(test))
    base = {k: v for k, v in asdict(config).items() if k not in ("seeds", "schemes", "threads", "umap", "protocols",
                                                                 "finetune", "finetune_steps", "scvi_epochs", "sweep",
                                                                 "finetune_lr", "embedding_metrics", "jobs")}
    # The family's ratios are part of the fingerprint: a schedule whose ratio changes recomputes.
    cache = ResultCache(out_dir / "runs", {**base, "split": "fold 0", "n_extra": n_extra,
                                           "test_ratios": list(SCOREBOARD_TEST_RATIOS),
                                           "family": {**domain_family("sc"), **schedules}})
    per: Dict[tuple, Dict[str, Any]] = {}
    for seed in config.seeds:  # seed-major: a run cut short has every schedule at the seeds it finished
        for name, ratio in schedules.items():
            key = f"{name}_seed{seed}"
            saved = cache.get(key)
            if saved is None:
                t = time.perf_counter()
                model = _train_model(config, reader, rows, ratio, seed)  # the same initial weights at a seed
                emb = embed_reader(reader, model, rows=np.arange(n_lab))
                saved = {"schedule": name, "ratio": ratio, "seed": seed,
                         **{f"annotation_{k}": v for k, v in classification_metrics(
                             labels[test], _probe(emb, labels, train, test)).items() if k != "per_class_f1"},
                         **cluster_scores(emb, labels)}
                for r in SCOREBOARD_TEST_RATIOS:
                    saved[f"recon_mse_{r:g}"] = reconstruction_error(model, x_test, r, seed=SCOREBOARD_MASK_SEED,
                                                                     only_nonzero=config.only_nonzero)
                saved["seconds"] = round(time.perf_counter() - t, 1)
                cache.put(key, saved)
                log.info("scoreboard %s seed %d done (%.0fs)", name, seed, time.perf_counter() - t0)
            per[(name, seed)] = saved
    metrics = [("annotation_macro_f1", True), ("nmi", True), ("ari", True),
               *((f"recon_mse_{r:g}", False) for r in SCOREBOARD_TEST_RATIOS)]
    tasks = {m: (hi, {s: [per[(s, seed)][m] for seed in config.seeds] for s in schedules}) for m, hi in metrics}
    notes = [f"data: {adata.uns.get('source', config.dataset)}; {n_lab} labelled cells x {adata.n_vars} genes, "
             f"{len(set(labels))} classes; held-out split: fold 0 of the stratified {config.n_folds}-fold split "
             f"({train.size} training / {test.size} held-out cells)"
             + (f"; pretraining adds {n_extra} unlabelled external cells" if n_extra else ""),
             f"{config.steps_for(rows.size)} steps x batch {config.batch_size}, "
             f"MLP {config.hidden} -> {config.latent}, the same for "
             "every schedule; the same initial weights at a seed",
             "annotation_macro_f1: logistic-regression probe on the embedding, fit on the training cells, scored on "
             "the held-out cells",
             "nmi / ari: scikit-learn's NMI and ARI of KMeans (k = number of labels, 10 restarts, standardised "
             "embedding) on every labelled cell; scib-metrics is not installed, so these are not scib's "
             "Leiden-optimised scores",
             "recon_mse_<r>: masked-value MSE (log1p CP10k) of the held-out cells at test ratio r, the same masks "
             "for every model"]
    board = scoreboard_section(config.seeds, schedules, tasks, notes)
    extra_metrics = [("annotation_accuracy", True)]
    values = {s: {m: [per[(s, seed)][m] for seed in config.seeds] for m, _ in metrics + extra_metrics}
              for s in schedules}
    results = build_results("sc", config.dataset, config.seeds, summarize_methods(values), time.perf_counter() - t0,
                            command, primary_task="scoreboard", config=asdict(config),
                            timings_s={f"{k[0]}_seed{k[1]}": v.get("seconds") for k, v in per.items()},
                            notes=notes, scoreboard=board)
    md = [f"# Single-cell benchmark: masking-ratio schedules (scoreboard), {config.dataset}", "",
          f"Command: `{results['command']}`  ",
          f"Elapsed: {results['elapsed_s']:.0f} s; seeds {list(config.seeds)}.", "", section_markdown(board), ""]
    write_results(out_dir, results, "\n".join(md))
    return results


# --------------------------------------------------------------------------- reporting
def _figures(out_dir: Path, emb: Optional[np.ndarray], labels: np.ndarray, reconstruction: Dict[str, Any],
             dataset: str, seed: int = 0) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_path

    written = []
    if emb is not None:
        import anndata
        import scanpy as sc

        ad = anndata.AnnData(np.zeros((emb.shape[0], 1), dtype=np.float32))
        ad.obsm["X_r2mae"] = emb
        ad.obs["label"] = labels
        sc.pp.neighbors(ad, use_rep="X_r2mae", random_state=0)
        sc.tl.umap(ad, random_state=0)
        fig, ax = plt.subplots(figsize=(6.5, 5))
        xy = ad.obsm["X_umap"]
        names = sorted(set(labels))
        palette = plt.get_cmap("tab20" if len(names) > 10 else "tab10")  # one colour per class
        for i, name in enumerate(names):
            sel = labels == name
            ax.scatter(xy[sel, 0], xy[sel, 1], s=3, color=palette(i % palette.N), label=f"{name} ({sel.sum()})")
        low, high = DEFAULT_RATIO.split("-")
        ax.set_title(f"{dataset}: UMAP of the R²MAE U({low}, {high}) embedding (transductive, seed {seed})")
        ax.legend(markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
        ax.set_xticks([]), ax.set_yticks([])
        with atomic_path(out_dir / "umap.png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        written.append("umap.png")
    if reconstruction:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for scheme, d in reconstruction.items():
            ratios = sorted(d, key=float)
            ax.errorbar([float(r) for r in ratios], [d[r]["mean"] for r in ratios],
                        yerr=[d[r]["sd"] for r in ratios], label=f"{scheme} ({SCHEMES.get(scheme, '')})",
                        marker="o", ms=3)
        ax.set_xlabel("test-time masking ratio")
        ax.set_ylabel("masked MSE, held-out cells (log1p CP10k)")
        ax.set_title(f"{dataset}: reconstruction across ratios")
        ax.legend(fontsize=7)
        with atomic_path(out_dir / "reconstruction.png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        written.append("reconstruction.png")
    return written


def _fmt_pair(p: Dict[str, Any]) -> str:
    return f"{p['mean']:+.4f} ± {p['se']:.4f} (n={p['n']})"


def _verdict(results: Dict[str, Any], main: str) -> List[str]:
    """R²MAE against the best other masking scheme and the best baseline by mean macro-F1, in the
    words of its ``comparisons`` entry (95 % interval over the pairing unit)."""
    methods, comparisons = results["methods"], results.get("comparisons", {})
    lines = []
    if "r2mae" not in methods:
        return lines
    r2 = methods["r2mae"]["macro_f1"]["mean"]
    fixed = {k: methods[k]["macro_f1"]["mean"] for k in SCHEMES if k != "r2mae" and k in methods}
    baselines = {k: methods[k]["macro_f1"]["mean"] for k in BASELINE_NAMES if k in methods}
    for group, values in (("masking scheme", fixed), ("baseline", baselines)):
        if not values:
            continue
        best = max(values, key=values.get)
        c = comparisons.get(f"r2mae_vs_{best}")
        if c is None:
            continue
        lo, hi = c["ci95"]
        ci = f"[{lo:+.4f}, {hi:+.4f}]" if lo is not None else "(no interval)"
        lines.append(f"- macro_f1: R²MAE {r2:.4f} vs best other {group} `{best}` {values[best]:.4f}; "
                     f"R²MAE − {best} = {c['diff']:+.4f} {ci} (95%, over {c['unit']}): **{c['verdict']}**.")
    return lines


def _recipe_lines(recipe: Optional[Dict[str, Any]]) -> List[str]:
    """The per-fold recipes of a run with ``fold_recipes``, as a table (nothing otherwise)."""
    if not recipe:
        return []
    lines = [f"Per-fold recipes ({recipe.get('scheme', '')}; chosen on {', '.join(recipe.get('datasets', []))}; "
             "the transductive models keep the preset's recipe):", "",
             "| fold | pretraining | fine-tuning | recipe |", "|---|---|---|---|"]
    for entry in recipe.get("folds", []):
        lines.append(f"| {entry.get('fold')} | {entry.get('variant', '')} | {entry.get('finetune', '')} | "
                     f"{json.dumps(entry.get('recipe', {}))} |")
    return [*lines, ""]


def _markdown(results: Dict[str, Any], main: str) -> str:
    from ..stats import comparison_table

    cfg = results["config"]
    lines = [
        f"# Single-cell annotation benchmark: {results['dataset']}",
        "",
        f"Command: `{results['command']}`  ",
        f"Elapsed: {results['elapsed_s']:.0f} s; seeds {results['seeds']}; {cfg['n_folds']}-fold stratified CV; "
        + (f"{cfg['epochs']:g} epochs of each model's pretraining cells" if cfg.get("epochs") is not None
           else f"{cfg['steps']} pretraining steps")
        + f" x batch {cfg['batch_size']}, MLP {cfg['hidden']} -> {cfg['latent']}, "
        f"masking {'nonzero genes' if cfg['only_nonzero'] else 'all genes'}"
        # per-fold recipes replace this preset in the train-fold models; say so where a reader starts
        + ("; the preset of the transductive models: each outer fold's own recipe is in the per-fold table "
           "below." if results.get("selection", {}).get("recipe") else "."),
        "",
        "Notes:",
        *[f"- {n}" for n in results["notes"]],
        "",
        f"## Accuracy and macro-F1 ({main.replace('_', '-')} protocol; mean ± sd over seeds x folds)",
        "",
        "R²MAE and the masking schemes: logistic regression on the embedding. Baselines are "
        "deterministic per fold (sd over folds).",
        "",
        methods_table(results["methods"], ["accuracy", "macro_f1"]),
        "",
        "## Comparisons (model − baseline, 95% t-interval over the pairing unit)",
        "",
        f"Selection: {results['selection']['scheme']}; {results['selection']['n']} selection cells, "
        f"{results['selection']['overlap_with_test']} of them in the test fold they choose for."
        if results.get("selection") else "",
        "",
        *_recipe_lines(results.get("selection", {}).get("recipe")),
        *comparison_table(results.get("comparisons", {})),
        "",
        "## Is R²MAE better? (95% interval over the pairing unit; ahead / behind only when it excludes 0)",
        "",
        *_verdict(results, main),
        "",
    ]
    for protocol, pairs in results["paired"].items():
        lines += [f"### Paired differences to R²MAE, {protocol.replace('_', '-')} protocol (other − r2mae)", "",
                  "| method | accuracy | macro_f1 |", "|---|---|---|"]
        for method, p in pairs.items():
            cells = [(_fmt_pair(p[m]) if m in p else "—") for m in ("accuracy", "macro_f1")]
            lines.append(f"| {method} | {cells[0]} | {cells[1]} |")
        lines.append("")
    if results.get("transductive"):
        lines += ["## Transductive protocol (pretrained on all cells without labels)", "",
                  methods_table(results["transductive"], ["accuracy", "macro_f1"]), ""]
    if results.get("embedding_metrics"):
        em = results["embedding_metrics"]
        keys = list(next(iter(em.values())))
        lines += ["## Embedding metrics (scib-metrics; every labelled cell; mean ± sd over seeds)", "",
                  "| embedding | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for method, d in em.items():
            lines.append(f"| {method} | " + " | ".join(
                f"{d[k]['mean']:.4f}" + (f" ± {d[k]['sd']:.4f}" if len(d[k]["values"]) > 1 else "")
                for k in keys) + " |")
        lines.append("")
    if results.get("reconstruction"):
        ratios = sorted(next(iter(results["reconstruction"].values())), key=float)
        lines += ["## Masked-value MSE on held-out cells across test-time ratios (train-fold models)", "",
                  "| scheme | " + " | ".join(ratios) + " |", "|---|" + "---|" * len(ratios)]
        for scheme, d in results["reconstruction"].items():
            lines.append(f"| {scheme} | " + " | ".join(f"{d[r]['mean']:.4f}" for r in ratios) + " |")
        lines.append("")
    r2 = results["methods"].get("r2mae", {}).get("per_class_f1")
    if r2:
        best_base = max((k for k in BASELINE_NAMES if k in results["methods"]),
                        key=lambda k: results["methods"][k]["macro_f1"]["mean"], default=None)
        lines += ["## Per-class F1 (mean over seeds x folds)", "",
                  f"| class | r2mae | {best_base} |", "|---|---|---|"]
        other = results["methods"].get(best_base, {}).get("per_class_f1", {})
        for cls, v in r2.items():
            lines.append(f"| {cls} | {v:.3f} | {other.get(cls, float('nan')):.3f} |")
        lines.append("")
    for fig in results.get("figures", []):
        lines.append(f"![{fig}]({fig})")
    return "\n".join(lines)
