"""Using a pretrained model: cell embeddings and cell-type annotation.

* :func:`embed` writes ``obsm["X_r2mae"]`` (then ``scanpy.pp.neighbors(adata, use_rep="X_r2mae")``
  and ``scanpy.tl.umap`` work as usual; ``umap=True`` runs both).
* :func:`annotate` labels query cells from a labelled reference, by a linear probe (logistic
  regression on the embeddings, the default) or by fine-tuning the encoder with a
  classification head (:func:`fine_tune`, through the shared trainer), and writes
  ``obs["r2mae_label"]`` and ``obs["r2mae_confidence"]``; every existing field is left alone.

Queries are aligned to the model's genes by ``var_names`` (see :class:`~bioR2.sc.data.GeneAlignment`)
and read where the model's training data was read (its saved ``layer`` / ``use_raw``, the habit of
scvi-tools' ``setup_anndata``) unless ``layer=`` / ``use_raw=`` say otherwise (:func:`read_setup`).
:func:`embed_file` and :func:`annotate_file` do the same for ``.h5ad`` files and write a copy of the
input with the new fields (``bior2 embed`` / ``bior2 annotate``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..masking import mask_expression
from ..train import PretrainedModule, Task, TaskOutput, Trainer, TrainConfig, load_model
from .data import (
    DEFAULT_MIN_OVERLAP,
    CellDataset,
    CellSource,
    ExpressionReader,
    GeneAlignment,
    iter_chunks,
    labelled_rows,
    open_cells,
)
from .model import ExpressionMAE

__all__ = ["embed", "embed_reader", "embed_file", "LinearProbe", "CellTypeClassifier", "fine_tune", "annotate",
           "annotate_file", "reader_for", "read_setup", "as_model", "EMBED_KEY", "X_LAYER"]

log = logging.getLogger(__name__)
EMBED_KEY = "X_r2mae"
X_LAYER = "X"  # layer="X" names .X explicitly (a model trained on a layer would read that layer)
ModelLike = Union[ExpressionMAE, "CellTypeClassifier", str, os.PathLike]


def as_model(model: ModelLike) -> nn.Module:
    """An :class:`ExpressionMAE` / :class:`CellTypeClassifier` or a run folder to load one from."""
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if not isinstance(model, (ExpressionMAE, CellTypeClassifier)):
        raise TypeError(f"expected an ExpressionMAE or CellTypeClassifier, got {type(model).__name__}")
    return model


def _mae(model: nn.Module) -> ExpressionMAE:
    return model.mae if isinstance(model, CellTypeClassifier) else model


def read_setup(model: ModelLike, layer: Optional[str] = None, use_raw: Optional[bool] = None
               ) -> Tuple[Optional[str], bool]:
    """``(layer, use_raw)``: where to read a dataset's values for ``model``.

    Neither given: where the model's training data was read (saved with the model, as scvi-tools'
    ``setup_anndata`` registry is). Either given: exactly that place, the other at its default
    (``layer=None`` / ``"X"``: ``.X``; ``use_raw=False``), so ``use_raw=False`` or ``layer="X"``
    read ``.X`` whatever the model was trained on.
    """
    if layer is None and use_raw is None:
        mae = _mae(as_model(model))
        return getattr(mae, "layer", None), bool(getattr(mae, "use_raw", False))
    return (None if layer == X_LAYER else layer), bool(use_raw)


def reader_for(data: Any, model: ModelLike, *, layer: Optional[str] = None, use_raw: Optional[bool] = None,
               backed: Optional[bool] = None, min_overlap: float = DEFAULT_MIN_OVERLAP) -> ExpressionReader:
    """An :class:`ExpressionReader` of ``data`` aligned to the model's genes (the overlap is logged),
    reading the values where :func:`read_setup` says."""
    mae = _mae(as_model(model))
    if isinstance(data, CellSource):
        source = data
    else:
        layer, use_raw = read_setup(mae, layer, use_raw)
        source = open_cells(data, layer=layer, use_raw=use_raw, backed=backed)
    reader = ExpressionReader(source, mae.genes, is_log1p=mae.is_log1p, target_sum=mae.target_sum,
                              min_overlap=min_overlap)
    if not reader.alignment.is_identity:
        log.info("%s: %s", source.where, reader.alignment.report())
    return reader


@torch.no_grad()
def embed_reader(reader: ExpressionReader, model: ModelLike, rows: Optional[Sequence[int]] = None,
                 batch_size: int = 2048, device: str = "cpu") -> np.ndarray:
    """Embeddings (cells x latent, float32) of ``rows`` of a reader, read in chunks."""
    mae = _mae(as_model(model)).to(device)
    mae.eval()
    rows_arr = np.arange(reader.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.empty((rows_arr.size, mae.latent), dtype=np.float32)
    for start in range(0, rows_arr.size, batch_size):
        x = torch.from_numpy(reader.read(rows_arr[start:start + batch_size])).to(device)
        out[start:start + x.shape[0]] = mae.encode(x).float().cpu().numpy()
    return out


def embed(adata: Any, model: ModelLike, *, layer: Optional[str] = None, use_raw: Optional[bool] = None,
          key_added: str = EMBED_KEY, min_overlap: float = DEFAULT_MIN_OVERLAP, batch_size: int = 2048,
          umap: bool = False) -> np.ndarray:
    """Embed every cell of ``adata`` and store it in ``adata.obsm[key_added]``.

    ``model`` is a pretrained :class:`ExpressionMAE` or its run folder. ``layer``/``use_raw`` say
    where the query's values are (counts, or log-normalised for a model trained on such); by
    default where the model's training data was (:func:`read_setup`). With ``umap=True`` also
    runs ``scanpy.pp.neighbors(use_rep=key_added)`` and ``scanpy.tl.umap``.
    Returns the embedding array. A backed AnnData is read in chunks.
    """
    model = as_model(model)
    reader = reader_for(adata, model, layer=layer, use_raw=use_raw, min_overlap=min_overlap)
    emb = embed_reader(reader, model, batch_size=batch_size)
    adata.obsm[key_added] = emb
    if umap:
        _umap(adata, key_added)
    return emb


def _umap(adata: Any, key: str) -> None:
    import scanpy as sc

    sc.pp.neighbors(adata, use_rep=key)
    sc.tl.umap(adata)


def embed_file(h5ad: Union[str, os.PathLike], model: ModelLike, out: Union[str, os.PathLike], *,
               layer: Optional[str] = None, use_raw: Optional[bool] = None, key_added: str = EMBED_KEY,
               min_overlap: float = DEFAULT_MIN_OVERLAP, umap: bool = False, overwrite: bool = False
               ) -> Tuple[np.ndarray, GeneAlignment]:
    """Embed the cells of the file ``h5ad`` into a copy of it, ``out``, with ``obsm[key_added]``.

    The input's other fields are carried over byte for byte and its matrix is read in chunks
    (backed), never loaded whole; ``umap=True`` loads the file, adds neighbors + UMAP and writes
    it anew. An existing ``obsm[key_added]`` is an error unless ``overwrite``. Returns the
    embedding and the gene alignment of the file to the model.
    """
    from anndata.io import write_elem

    from .io import copy_h5ad_with

    model = as_model(model)
    if umap:
        import anndata

        from ..utils.io import atomic_path

        adata = anndata.read_h5ad(h5ad)
        if key_added in adata.obsm and not overwrite:
            raise ValueError(f"{h5ad}: obsm already has {key_added!r}; pass --overwrite (overwrite=True)")
        reader = reader_for(adata, model, layer=layer, use_raw=use_raw, min_overlap=min_overlap)
        emb = embed_reader(reader, model)
        adata.obsm[key_added] = emb
        _umap(adata, key_added)
        with atomic_path(out) as tmp:
            adata.write_h5ad(tmp)
        return emb, reader.alignment
    reader = reader_for(h5ad, model, layer=layer, use_raw=use_raw, min_overlap=min_overlap)
    emb = embed_reader(reader, model)

    def write(fh) -> None:
        if f"obsm/{key_added}" in fh:
            if not overwrite:
                raise ValueError(f"{h5ad}: obsm already has {key_added!r}; pass --overwrite (overwrite=True)")
            del fh[f"obsm/{key_added}"]
        write_elem(fh, f"obsm/{key_added}", emb)

    copy_h5ad_with(h5ad, out, write)
    return emb, reader.alignment


# --------------------------------------------------------------------------- linear probe
class LinearProbe:
    """Logistic regression on standardised embeddings (fit on the reference only)."""

    def __init__(self, C: float = 1.0, class_weight: Optional[str] = None, max_iter: int = 2000) -> None:
        from ..probe import standardized_logreg

        self.pipeline = standardized_logreg(C=C, class_weight=class_weight, max_iter=max_iter)

    def fit(self, features: np.ndarray, labels: Sequence[Any]) -> "LinearProbe":
        self.pipeline.fit(features, np.asarray(labels))
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.pipeline.classes_

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(features)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]


# --------------------------------------------------------------------------- fine-tuning
class CellTypeClassifier(PretrainedModule):
    """The pretrained encoder with a linear classification head on its embedding."""

    def __init__(self, mae: Dict[str, Any], classes: Sequence[str], head_dropout: float = 0.1) -> None:
        super().__init__()
        self.mae = ExpressionMAE(**mae)
        self.classes = [str(c) for c in classes]
        self.head_dropout = float(head_dropout)
        self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(self.mae.latent, len(self.classes)))

    @classmethod
    def from_pretrained_mae(cls, mae: ExpressionMAE, classes: Sequence[str], head_dropout: float = 0.1) -> "CellTypeClassifier":
        clf = cls(mae.get_config(), classes, head_dropout)
        clf.mae.load_state_dict(mae.state_dict())
        return clf

    def get_config(self) -> Dict[str, Any]:
        return {"mae": self.mae.get_config(), "classes": self.classes, "head_dropout": self.head_dropout}

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.mae.encode(x, mask))

    @torch.no_grad()
    def predict_proba_array(self, x: torch.Tensor) -> torch.Tensor:
        was = self.training
        self.eval()
        try:
            return torch.softmax(self(x), dim=1)
        finally:
            self.train(was)


class _LabelledCells:
    """Cells with integer labels for the classification task."""

    def __init__(self, cells: CellDataset, labels: np.ndarray) -> None:
        self.cells, self.labels = cells, torch.as_tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.cells)

    def __getitems__(self, indices):
        batch = self.cells.__getitems__(indices)
        batch["y"] = self.labels[torch.as_tensor(indices, dtype=torch.int64)]
        return batch

    def __getitem__(self, index):
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


class ClassificationTask(Task):
    """Cross-entropy fine-tuning; the step's mask ratio (often 0) hides genes as augmentation."""

    def __init__(self, model: CellTypeClassifier, class_weight: Optional[torch.Tensor] = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("class_weight", class_weight if class_weight is not None else torch.ones(len(model.classes)))

    def forward(self, batch, mask_ratio, rng) -> TaskOutput:
        x = batch["x"]
        mask = mask_expression(x, mask_ratio, rng=rng, min_one=False).mask if mask_ratio > 0 else None
        logits = self.model(x, mask)
        loss = F.cross_entropy(logits, batch["y"], weight=self.class_weight)
        acc = (logits.argmax(1) == batch["y"]).float().mean()
        return TaskOutput(loss=loss, n_examples=int(x.shape[0]), metrics={"accuracy": acc.detach()})


def fine_tune(model: ModelLike, reader: ExpressionReader, labels: Sequence[Any], *,
              rows: Optional[Sequence[int]] = None, steps: int = 500, batch_size: int = 128, lr: float = 3e-4,
              mask_ratio: str = "0", balanced: bool = False, seed: int = 0, out=None,
              head_dropout: float = 0.1) -> CellTypeClassifier:
    """Fine-tune the pretrained encoder with a classification head on labelled cells.

    ``labels`` has one entry per row in ``rows`` (or per cell of the reader). ``mask_ratio``
    hides genes as augmentation (``"0"`` for none); ``balanced`` weights classes inversely to
    their frequency. Training runs through :class:`bioR2.train.Trainer`.
    """
    mae = _mae(as_model(model))
    rows_arr = np.arange(reader.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
    labels = np.asarray(labels).astype(str)
    if labels.size != rows_arr.size:
        raise ValueError(f"fine_tune: {labels.size} labels for {rows_arr.size} cells")
    classes, y = np.unique(labels, return_inverse=True)
    clf = CellTypeClassifier.from_pretrained_mae(mae, classes, head_dropout)
    weight = None
    if balanced:
        counts = np.bincount(y, minlength=len(classes)).astype(np.float32)
        weight = torch.as_tensor(counts.sum() / (len(classes) * counts))
    task = ClassificationTask(clf, weight)
    data = _LabelledCells(CellDataset(reader, rows_arr), y)
    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(data)), lr=lr, mask_ratio=mask_ratio,
                         seed=seed, warmup_steps=max(1, steps // 20), progress=False, log_every=max(1, steps))
    Trainer(task, data, config, out).fit()
    clf.eval()
    return clf


@dataclass
class Annotation:
    """Labels and confidences for query cells."""

    labels: np.ndarray
    confidence: np.ndarray
    classes: np.ndarray


def _predict(clf: Union[LinearProbe, CellTypeClassifier], reader: ExpressionReader, mae: ExpressionMAE,
             batch_size: int = 2048) -> Annotation:
    if isinstance(clf, LinearProbe):
        proba = clf.predict_proba(embed_reader(reader, mae, batch_size=batch_size))
        classes = clf.classes_
    else:
        parts = []
        for rows in iter_chunks(reader.n_obs, batch_size):
            parts.append(clf.predict_proba_array(torch.from_numpy(reader.read(rows))).numpy())
        proba = np.concatenate(parts)
        classes = np.asarray(clf.classes)
    best = proba.argmax(axis=1)
    return Annotation(classes[best], proba[np.arange(len(best)), best].astype(np.float32), classes)


def annotate(query: Any, model: ModelLike, reference: Any = None, label_key: Optional[str] = None, *,
             method: str = "linear", layer: Optional[str] = None, use_raw: Optional[bool] = None,
             reference_layer: Optional[str] = None, reference_use_raw: Optional[bool] = None,
             key_prefix: str = "r2mae", overwrite: bool = False, min_overlap: float = DEFAULT_MIN_OVERLAP,
             fine_tune_options: Optional[Dict[str, Any]] = None) -> Annotation:
    """Label the cells of ``query`` from the labelled ``reference`` (``obs[label_key]``; reference
    cells whose label is missing are left out, with a warning).

    ``method="linear"``: logistic regression on embeddings; ``"finetune"``: the encoder
    fine-tuned with a classification head. A :class:`CellTypeClassifier` as ``model`` is used
    directly (no reference needed). The query (and the reference, unless ``reference_layer`` /
    ``reference_use_raw`` are given) is read at ``layer`` / ``use_raw``, by default where the model's
    training data was (:func:`read_setup`). Writes ``obs[f"{key_prefix}_label"]`` and
    ``obs[f"{key_prefix}_confidence"]`` when ``query`` is an in-memory AnnData; existing
    columns of those names are an error unless ``overwrite``. Returns the :class:`Annotation`.
    """
    model = as_model(model)
    label_col, conf_col = f"{key_prefix}_label", f"{key_prefix}_confidence"
    in_memory = hasattr(query, "obs") and not getattr(query, "isbacked", False)
    if in_memory and not overwrite:
        clash = [c for c in (label_col, conf_col) if c in query.obs.columns]
        if clash:
            raise ValueError(f"query obs already has {clash}; pass overwrite=True or another key_prefix")
    query_reader = reader_for(query, model, layer=layer, use_raw=use_raw, min_overlap=min_overlap)
    mae = _mae(model)
    if isinstance(model, CellTypeClassifier):
        clf: Union[LinearProbe, CellTypeClassifier] = model
    else:
        if reference is None or label_key is None:
            raise ValueError("annotate needs a labelled reference and its label_key (or a fine-tuned classifier)")
        ref_reader = reader_for(reference, mae, layer=reference_layer if reference_layer is not None else layer,
                                use_raw=use_raw if reference_use_raw is None else reference_use_raw,
                                min_overlap=min_overlap)
        rows, labels = labelled_rows(ref_reader.source, label_key)  # unlabelled cells left out
        found = np.unique(labels)
        if found.size < 2:
            raise ValueError(
                f"{ref_reader.source.where}: obs[{label_key!r}] holds a single label ({found[0]!r}) among "
                f"its {labels.size} labelled cells; a reference needs at least 2 labels to tell cells "
                "apart (every query cell would get this one)")
        if method == "linear":
            clf = LinearProbe().fit(embed_reader(ref_reader, mae, rows), labels)
        elif method == "finetune":
            clf = fine_tune(mae, ref_reader, labels, rows=rows, **(fine_tune_options or {}))
        else:
            raise ValueError(f"method must be 'linear' or 'finetune', got {method!r}")
    result = _predict(clf, query_reader, mae)
    if in_memory:
        import pandas as pd

        query.obs[label_col] = pd.Categorical(result.labels, categories=sorted(set(result.classes)))
        query.obs[conf_col] = result.confidence
    return result


def annotate_file(query: Union[str, os.PathLike], model: ModelLike, out: Union[str, os.PathLike],
                  reference: Any = None, label_key: Optional[str] = None, *, method: str = "linear",
                  layer: Optional[str] = None, use_raw: Optional[bool] = None,
                  reference_layer: Optional[str] = None, reference_use_raw: Optional[bool] = None,
                  key_prefix: str = "r2mae", overwrite: bool = False, min_overlap: float = DEFAULT_MIN_OVERLAP,
                  fine_tune_options: Optional[Dict[str, Any]] = None) -> Annotation:
    """:func:`annotate` the cells of the file ``query`` into a copy of it, ``out``, with
    ``obs[f"{key_prefix}_label"]`` and ``obs[f"{key_prefix}_confidence"]``; every other field is
    carried over byte for byte. Existing columns of those names are an error unless
    ``overwrite`` (checked before any work). Returns the :class:`Annotation`."""
    import h5py
    import pandas as pd
    from anndata.io import read_elem, write_elem

    from .io import copy_h5ad_with

    model = as_model(model)
    label_col, conf_col = f"{key_prefix}_label", f"{key_prefix}_confidence"
    where, raw = read_setup(model, layer, use_raw)
    open_cells(query, layer=where, use_raw=raw)  # checks the file and its matrix first
    with h5py.File(query, "r") as fh:
        existing = [c for c in (label_col, conf_col) if c in fh["obs"]]
    if existing and not overwrite:
        raise ValueError(f"{query}: obs already has {existing}; pass --overwrite (overwrite=True) or another "
                         "key prefix")
    result = annotate(query, model, reference, label_key, method=method, layer=layer, use_raw=use_raw,
                      reference_layer=reference_layer, reference_use_raw=reference_use_raw,
                      min_overlap=min_overlap, fine_tune_options=fine_tune_options)

    def write(fh) -> None:
        obs = read_elem(fh["obs"])
        obs[label_col] = pd.Categorical(result.labels, categories=sorted(set(result.classes)))
        obs[conf_col] = result.confidence
        del fh["obs"]
        write_elem(fh, "obs", obs)

    copy_h5ad_with(query, out, write)
    return result
