"""Annotation baselines, each fit on the training fold only: logistic regression on z-scored
log-normalised expression (plain and class-balanced), PCA-50 + logistic regression, kNN on
PCA-50, and scVI latent + logistic regression (scvi-tools, optional)."""

from __future__ import annotations

import logging
from typing import Callable, Dict, Optional

import numpy as np

__all__ = ["BASELINES", "scvi_available", "scvi_latent", "scib_available", "embedding_scores"]

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


def scvi_latent(train_counts, test_counts, *, n_latent: int = 30, max_epochs: int = 100, seed: int = 0,
                batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Train scVI on the training cells' counts and return latent means of train and test cells."""
    import anndata
    import scvi

    scvi.settings.seed = seed
    scvi.settings.verbosity = logging.WARNING
    train = anndata.AnnData(train_counts.astype(np.float32))
    test = anndata.AnnData(test_counts.astype(np.float32))
    scvi.model.SCVI.setup_anndata(train)
    model = scvi.model.SCVI(train, n_latent=n_latent)
    model.train(max_epochs=max_epochs, accelerator="cpu", batch_size=batch_size, enable_progress_bar=False,
                early_stopping=False)
    return model.get_latent_representation(train), model.get_latent_representation(test)


def fit_predict(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                C: Optional[float] = None) -> np.ndarray:
    """Fit baseline ``name`` on the training fold and predict the test fold."""
    model = BASELINES[name]()
    model.fit(x_train, y_train)
    return model.predict(x_test)
