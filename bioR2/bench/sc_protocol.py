"""The single-cell benchmark's selection protocol: every choice (a baseline's C, k or number of
components, scVI's size, the probe's C) is made on cells that are never a test cell of the fold
it is scored on.

Nested selection: inside each outer training fold, a stratified ``INNER_FRACTION`` of the
training cells is the **inner validation** set. A candidate is fit on the rest of the training
fold, scored (macro-F1) on the inner validation cells, and the best candidate is refit on the
whole training fold and scored once on the test fold. Every method gets the same grid budget
on the same inner split (:data:`bioR2.bench.sc_baselines.GRIDS`), and the same unlabelled cells
(the external cells go to every method that can use them: PCA and scVI fit on them too).

:func:`selection_section` is the ``"selection"`` entry of results.json, with the overlap of
selection and test cells counted (0 by construction; the test checks it).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["INNER_FRACTION", "inner_split", "inner_splits", "select", "select_across", "choose_per_fold", "rows_digest",
           "selection_section", "sc_comparisons"]

INNER_FRACTION = 0.2  # share of each outer training fold held out as its inner validation set
INNER_SEED = 0        # the inner split is the same for every method and seed


def inner_split(train: np.ndarray, labels: np.ndarray, fraction: float = INNER_FRACTION,
                seed: int = INNER_SEED) -> Tuple[np.ndarray, np.ndarray]:
    """Split the outer training rows ``train`` into (fit, validation) rows, stratified by label.

    Classes too small to stratify (fewer than 2 cells in the training fold) stay in the fit part.
    """
    from sklearn.model_selection import train_test_split

    train = np.asarray(train)
    y = np.asarray(labels)[train]
    values, counts = np.unique(y, return_counts=True)
    small = np.isin(y, values[counts < 2])
    rows, keep = train[~small], train[small]
    fit, val = train_test_split(rows, test_size=fraction, random_state=seed, stratify=y[~small])
    return np.sort(np.concatenate([fit, keep])), np.sort(val)


def inner_splits(folds: Sequence[Tuple[np.ndarray, np.ndarray]], labels: np.ndarray) -> List[Tuple[np.ndarray,
                                                                                                    np.ndarray]]:
    """:func:`inner_split` of every outer fold's training rows."""
    return [inner_split(train, labels) for train, _ in folds]


def select(candidates: Sequence[Mapping[str, Any]], score: Callable[[Mapping[str, Any]], float]
           ) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """The candidate with the highest ``score`` (first on ties) and every candidate's score."""
    if not candidates:
        raise ValueError("nothing to select from: the grid is empty")
    scores = {_label(c): float(score(c)) for c in candidates}
    best = max(candidates, key=lambda c: scores[_label(c)])
    return dict(best), scores


def select_across(scores: Mapping[str, Mapping[str, float]]) -> Tuple[str, Dict[str, float]]:
    """The candidate that does best across datasets: ``scores[dataset][candidate]`` is a candidate's
    validation score on one dataset; the choice is the highest mean over the datasets (first on
    ties), returned with every candidate's mean. A choice needs at least two datasets, each
    scoring every candidate, so that it is never tuned to one dataset."""
    if len(scores) < 2:
        raise ValueError(f"a recipe is chosen on at least two datasets, got {sorted(scores)}")
    names = [list(s) for s in scores.values()]
    candidates = [c for c in names[0] if all(c in other for other in names[1:])]
    missing = sorted({c for n in names for c in n} - set(candidates))
    if missing:
        raise ValueError(f"candidates not scored on every dataset: {missing}")
    if not candidates:
        raise ValueError("nothing to select from: no candidate scored")
    means = {c: float(np.mean([s[c] for s in scores.values()])) for c in candidates}
    best = max(candidates, key=lambda c: means[c])
    return best, means


def choose_per_fold(rows_by_dataset: Mapping[str, Sequence[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """Per outer fold, the pretraining recipe and then the fine-tuning recipe chosen across datasets.

    ``rows_by_dataset[dataset]`` holds a recipe search's rows (``benchmarks/sc_recipe_search.py``):
    ``{"fold": k, "variant": "v", "seed": s, "macro_f1": x}`` for a pretrained candidate's frozen
    embedding scored on fold k's inner validation cells, and ``"variant": "v/ft"`` for fine-tuning
    recipe ``ft`` applied to candidate v's models. Seeds are averaged within a dataset; the
    candidate with the best mean over datasets wins (:func:`select_across`), then the fine-tuning
    recipe with the best mean on the winner's models. Only folds scored on every dataset count.
    """
    def seed_means(rows, fold, keep) -> Dict[str, float]:
        vals: Dict[str, List[float]] = {}
        for r in rows:
            if r.get("fold") == fold and "macro_f1" in r and keep(str(r["variant"])):
                vals.setdefault(str(r["variant"]), []).append(float(r["macro_f1"]))
        return {v: float(np.mean(x)) for v, x in vals.items()}

    fold_sets = [{r["fold"] for r in rows if isinstance(r.get("fold"), int)} for rows in rows_by_dataset.values()]
    folds = sorted(set.intersection(*fold_sets)) if fold_sets else []
    chosen = []
    for k in folds:
        frozen = {d: seed_means(rows, k, lambda v: "/" not in v) for d, rows in rows_by_dataset.items()}
        variant, means = select_across(frozen)
        prefix = variant + "/"  # the winner's fine-tuned models
        tuned = {d: {v[len(prefix):]: x for v, x in seed_means(rows, k, lambda v: v.startswith(prefix)).items()}
                 for d, rows in rows_by_dataset.items()}
        entry: Dict[str, Any] = {"fold": k, "variant": variant, "datasets": sorted(rows_by_dataset),
                                 "scores": {d: {v: round(x, 4) for v, x in s.items()} for d, s in frozen.items()},
                                 "mean": {v: round(x, 4) for v, x in means.items()}}
        if any(tuned.values()):
            finetune, ft_means = select_across(tuned)
            entry.update(finetune=finetune, finetune_mean={v: round(x, 4) for v, x in ft_means.items()})
        chosen.append(entry)
    return chosen


def rows_digest(rows: np.ndarray) -> str:
    """A short fingerprint of a set of row indices (to check a selection was made on these cells)."""
    import hashlib

    return hashlib.sha1(np.sort(np.asarray(rows, dtype=np.int64)).tobytes()).hexdigest()[:16]


def _label(params: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items()) or "default"


def selection_section(folds: Sequence[Tuple[np.ndarray, np.ndarray]],
                      inner: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Dict[str, Any]:
    """``{"scheme", "n", "n_per_fold", "overlap_with_test"}``: the inner validation cells of each
    outer fold and how many of them (or of the fit cells) are test cells of that fold."""
    overlap = sum(int(np.intersect1d(np.concatenate([fit, val]), test).size)
                  for (fit, val), (_, test) in zip(inner, folds))
    sizes = [int(val.size) for _, val in inner]
    return {"scheme": f"nested: a stratified {INNER_FRACTION:g} of each outer training fold is its inner "
                      "validation set; choices are fit on the rest, scored there, refit on the training fold",
            "n": int(sum(sizes)), "n_per_fold": sizes, "overlap_with_test": overlap}


def _grid(values: Sequence[float], n_seeds: int, n_folds: int) -> Optional[np.ndarray]:
    """Seed-major values as ``[n_seeds, n_folds]``, or ``None`` when they do not fill the grid."""
    arr = np.asarray(values, dtype=float)
    if arr.size == n_folds * n_seeds:
        return arr.reshape(n_seeds, n_folds)
    return None


def sc_comparisons(store: Mapping[str, Mapping[str, Sequence[float]]], n_seeds: int, n_folds: int,
                   baselines: Sequence[str], schemes: Sequence[str], metric: str = "macro_f1") -> Dict[str, Any]:
    """``{"r2mae_vs_<m>": ..., "finetune_vs_<m>": ...}`` from a protocol's per-(seed, fold) values:
    the frozen R²MAE embedding (``r2mae``) and the fine-tuned encoder (``r2mae_finetune``) against
    every baseline (deterministic per fold: paired over folds, unless it has a value per seed),
    and the frozen embedding against every other masking scheme (paired over seed x fold)."""
    from ..stats import paired_comparison

    out: Dict[str, Any] = {}
    for model, prefix in (("r2mae", "r2mae"), ("r2mae_finetune", "finetune")):
        if model not in store:
            continue
        m = _grid(store[model][metric], n_seeds, n_folds)
        if m is None:
            continue
        # the fine-tuned encoder against the baselines only: the other schemes' entries are frozen
        # embeddings, so a fine-tuned-vs-frozen difference would say nothing about masking
        for other in [*baselines, *(schemes if model == "r2mae" else ())]:
            if other == "r2mae" or other not in store:
                continue
            vals = np.asarray(store[other][metric], dtype=float)
            if vals.size == n_folds:
                b: Any = vals
            else:
                b = _grid(vals, n_seeds, n_folds)
                if b is None:
                    continue
            out[f"{prefix}_vs_{other}"] = paired_comparison(m, b, metric=metric)
    return out
