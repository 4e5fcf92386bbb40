"""Annotation baselines, each fit on the training fold only: logistic regression on z-scored
log-normalised expression (plain and class-balanced), PCA-50 + logistic regression, kNN on
PCA-50, and scVI latent + logistic regression (scvi-tools, optional).

Each is tuned over its :data:`GRIDS` entry on the nested inner split of the training fold
(:mod:`bioR2.bench.sc_protocol`); :func:`fit_predict_params` fits one candidate, with the
unlabelled cells (when given) joining the fit of the unsupervised part (PCA)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["BASELINES", "GRIDS", "fit_predict_params", "scvi_grid", "scvi_available", "scvi_latent", "scvi_latents",
           "scib_available", "embedding_scores"]

log = logging.getLogger(__name__)


def _logreg(balanced: bool = False, C: float = 1.0):
    from ..probe import standardized_logreg

    return standardized_logreg(C=C, class_weight="balanced" if balanced else None, max_iter=3000)


def pca_pipeline(n: int = 50):
    """Standardise, then the first ``n`` principal components (a scikit-learn pipeline)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from sklearn.pipeline import make_pipeline

    return make_pipeline(StandardScaler(), PCA(n_components=n, random_state=0))


def _pca_logreg():
    from sklearn.pipeline import make_pipeline

    return make_pipeline(pca_pipeline(), _logreg())  # PCA-50, then z-score + logistic regression


def _knn_pca(k: int = 15):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(pca_pipeline(), KNeighborsClassifier(n_neighbors=k))


# name -> factory of a scikit-learn estimator over log-normalised expression
BASELINES: Dict[str, Callable[[], object]] = {
    "logreg": lambda: _logreg(False),
    "logreg_balanced": lambda: _logreg(True),
    "pca_logreg": _pca_logreg,
    "knn_pca": _knn_pca,
}


# The tuning grid of each baseline (the same few-candidate budget as a recipe search; chosen on
# the inner validation split). These are the baselines' own settings, not R²MAE's.
C_GRID = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
GRIDS: Dict[str, List[Dict[str, Any]]] = {
    "logreg": [{"C": c} for c in C_GRID],
    "logreg_balanced": [{"C": c} for c in C_GRID],
    "pca_logreg": [{"n_components": n} for n in (10, 20, 30, 50, 100)],
    "knn_pca": [{"k": k} for k in (5, 10, 15, 30, 50)],
}


def scvi_grid(max_epochs: int) -> List[Dict[str, Any]]:
    """scVI's grid: latent size, encoder/decoder depth, and half or all of ``max_epochs``."""
    return [{"n_latent": n, "n_layers": layers, "max_epochs": e}
            for n in (10, 30) for layers in (1, 2) for e in (max(1, max_epochs // 2), max_epochs)]


def _pca_fit_transform(n: int, x_train: np.ndarray, x_test: np.ndarray,
                       x_unlabelled: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    fit_on = x_train if x_unlabelled is None or not len(x_unlabelled) else np.concatenate([x_train, x_unlabelled])
    pca = pca_pipeline(min(n, fit_on.shape[1], fit_on.shape[0] - 1)).fit(fit_on)
    return pca.transform(x_train), pca.transform(x_test)


def fit_predict_params(name: str, params: Dict[str, Any], x_train: np.ndarray, y_train: np.ndarray,
                       x_test: np.ndarray, x_unlabelled: Optional[np.ndarray] = None) -> np.ndarray:
    """Fit baseline ``name`` with ``params`` (one entry of :data:`GRIDS`) on the training cells
    and predict ``x_test``; the PCA of ``pca_logreg`` / ``knn_pca`` is also fit on ``x_unlabelled``."""
    from sklearn.neighbors import KNeighborsClassifier

    if name in ("logreg", "logreg_balanced"):
        return _logreg(name == "logreg_balanced", C=params["C"]).fit(x_train, y_train).predict(x_test)
    if name == "pca_logreg":
        z_train, z_test = _pca_fit_transform(params["n_components"], x_train, x_test, x_unlabelled)
        return _logreg().fit(z_train, y_train).predict(z_test)
    if name == "knn_pca":
        z_train, z_test = _pca_fit_transform(50, x_train, x_test, x_unlabelled)
        return KNeighborsClassifier(n_neighbors=min(params["k"], len(y_train))).fit(z_train, y_train).predict(z_test)
    raise KeyError(f"unknown baseline {name!r}; known: {sorted(GRIDS)}")


def scib_available() -> bool:
    try:
        import scib_metrics  # noqa: F401
    except Exception:  # ImportError, or a broken optional install (jax)
        return False
    return True


def embedding_scores(emb: np.ndarray, labels: np.ndarray, batch: Optional[np.ndarray] = None) -> Dict[str, float]:
    """scib-metrics' bio-conservation scores of an embedding (``pip install 'bior2[scib]'``):
    NMI and ARI of KMeans clusters against the labels (``nmi_ari_cluster_labels_kmeans``), the
    label silhouette rescaled to [0, 1] (``silhouette_label``) and the isolated-labels score
    (``isolated_labels``; with a single batch every label counts as isolated, so it is the
    silhouette of each label averaged over labels)."""
    import scib_metrics

    x = np.asarray(emb, dtype=np.float32)
    y = np.asarray(labels).astype(str)
    b = np.zeros(y.size, dtype=int) if batch is None else np.asarray(batch)
    out = {k: float(v) for k, v in scib_metrics.nmi_ari_cluster_labels_kmeans(x, y).items()}
    out["silhouette_label"] = float(scib_metrics.silhouette_label(x, y, rescale=True))
    out["isolated_labels"] = float(scib_metrics.isolated_labels(x, y, b))
    return out


def scvi_available() -> bool:
    try:
        import scvi  # noqa: F401
    except Exception:  # ImportError, or a broken optional install
        return False
    return True


def scvi_latents(train_counts, test_counts, *, epochs: Sequence[int], n_latent: int = 30, seed: int = 0,
                 batch_size: int = 128, n_layers: int = 1) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """Train scVI once on the training cells' counts for ``max(epochs)`` epochs and return, for
    every ``e`` in ``epochs``, the latent means of train and test cells after ``e`` epochs.

    One run serves every length: nothing in scVI's schedule depends on ``max_epochs`` (the KL
    warm-up counts epochs up to its own fixed length, the learning rate is constant, and the
    shuffling draws the same stream), so the weights after ``e`` epochs of the long run are the
    weights a ``max_epochs=e`` run ends with (tests/test_sc_protocol.py checks it). The weights are
    copied at the end of each such epoch and the latents computed after training.
    """
    import copy

    import anndata
    import scvi
    from lightning.pytorch.callbacks import Callback

    wanted = sorted({int(e) for e in epochs})
    if not wanted or wanted[0] < 1:
        raise ValueError(f"scVI epochs must be positive integers, got {list(epochs)}")
    snapshots: Dict[int, Dict[str, Any]] = {}

    class _Snapshot(Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: D401 - Lightning hook
            done = trainer.current_epoch + 1
            if done in wanted:
                snapshots[done] = copy.deepcopy(pl_module.module.state_dict())

    scvi.settings.seed = seed
    scvi.settings.verbosity = logging.WARNING
    train = anndata.AnnData(np.asarray(train_counts, dtype=np.float32))
    test = anndata.AnnData(np.asarray(test_counts, dtype=np.float32))
    scvi.model.SCVI.setup_anndata(train)
    model = scvi.model.SCVI(train, n_latent=n_latent, n_layers=n_layers)
    model.train(max_epochs=wanted[-1], accelerator="cpu", batch_size=batch_size, enable_progress_bar=False,
                early_stopping=False, callbacks=[_Snapshot()])
    out: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    for e in wanted:
        model.module.load_state_dict(snapshots[e])
        out[e] = (model.get_latent_representation(train), model.get_latent_representation(test))
    return out


def scvi_latent(train_counts, test_counts, *, n_latent: int = 30, max_epochs: int = 100, seed: int = 0,
                batch_size: int = 128, n_layers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Train scVI on the training cells' counts and return latent means of train and test cells."""
    return scvi_latents(train_counts, test_counts, epochs=[max_epochs], n_latent=n_latent, seed=seed,
                        batch_size=batch_size, n_layers=n_layers)[max_epochs]


def fit_predict(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                C: Optional[float] = None) -> np.ndarray:
    """Fit baseline ``name`` on the training fold and predict the test fold."""
    model = BASELINES[name]()
    model.fit(x_train, y_train)
    return model.predict(x_test)
