"""Using a pretrained model: cell embeddings and cell-type annotation, with scanpy's manners.

* :func:`embed` writes ``obsm[key_added]`` (``"X_r2mae"``); ``umap=True`` also builds a neighbour
  graph on it (``uns[neighbors_key]`` and ``obsp[f"{neighbors_key}_connectivities"]`` /
  ``_distances``, ``neighbors_key`` by default ``"r2mae_neighbors"``) and a UMAP
  (``obsm["X_umap_r2mae"]``: ``X_umap_`` + ``key_added`` without its ``X_``), so
  ``sc.pl.embedding(adata, "X_umap_r2mae")`` and ``sc.tl.leiden(adata, neighbors_key=...)`` work.
* :func:`annotate` labels query cells from a labelled reference, by a linear probe (logistic
  regression on the embeddings, the default) or by fine-tuning the encoder with a
  classification head (:func:`fine_tune`, through the shared trainer), and writes
  ``obs[f"{key_prefix}_label"]`` (categorical; ``"Unknown"`` for a cell whose confidence is
  below ``min_confidence``, as CellTypist does) and ``obs[f"{key_prefix}_confidence"]``.

Manners, as scanpy and scvi-tools have them: results go only under the keys named above; a key
that already exists (an ``X_umap``, ``uns["neighbors"]`` or ``obsp["connectivities"]`` of the
user's is never one of them) is an error naming it unless ``overwrite=True``, the same rule for
both functions; ``copy=True`` returns a new AnnData and leaves the input untouched,
``copy=False`` (the default) writes in place and returns ``None``; ``uns["bior2"][key]`` records
how each result was made (the model's folder or Hub id, the bioR2 version, where the values were
read, the gene overlap; for an annotation also the reference, label key, method and
``min_confidence``). A gene overlap below 90% is a :class:`LowGeneOverlapWarning`, below
``min_overlap`` an error.

``device="auto"`` runs on CUDA when there is one (``"cpu"``, ``"cuda:1"``, ... otherwise); the
caller's model is never moved (a copy is put on the device when it lives elsewhere), and the
inputs go where the network is.

Queries are aligned to the model's genes by ``var_names`` (see :class:`~bioR2.sc.data.GeneAlignment`)
and read where the model's training data was read (its saved ``layer`` / ``use_raw``, the habit of
scvi-tools' ``setup_anndata``) unless ``layer=`` / ``use_raw=`` say otherwise (:func:`read_setup`).
:func:`embed_file` and :func:`annotate_file` do the same for ``.h5ad`` files and write a copy of the
input with the new fields (``bior2 embed`` / ``bior2 annotate``); the output path is checked before
any work (never an input, a folder, or an existing file without ``overwrite``).
"""

from __future__ import annotations

import copy as _copy
import itertools
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import __version__
from ..utils.device import DEFAULT_DEVICE
from ..masking import mask_expression
from ..hub import load_model
from ..domain import model_domain
from ..train import PretrainedModule, Task, TaskOutput, Trainer, TrainConfig
from ..train.log import progress_bar
from ..utils.outputs import check_output_path
from ..utils.warn import caller_stacklevel
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
from .io import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MIN_CONFIDENCE,
    LOW_OVERLAP,
    UNS_KEY,
    check_batch_size,
    check_fraction,
    copy_h5ad_with,
    write_uns_record,
)
from .model import ExpressionMAE

__all__ = ["embed", "embed_reader", "embed_file", "LinearProbe", "CellTypeClassifier", "fine_tune", "annotate",
           "annotate_file", "reader_for", "read_setup", "as_model", "overlap_warning", "LowGeneOverlapWarning",
           "EMBED_KEY", "X_LAYER", "UNKNOWN", "DEFAULT_MIN_CONFIDENCE"]

log = logging.getLogger(__name__)
EMBED_KEY = "X_r2mae"
ANNOTATE_KEY = "r2mae"  # annotate's default key_added: obs["r2mae_label"], obs["r2mae_confidence"]
RAW_LAYER = "raw.X"  # what uns["bior2"] records as the layer of values read with use_raw=True
UMAP_MIN_CELLS = 4  # UMAP's spectral layout needs more cells than its 2 dimensions + 1
X_LAYER = "X"  # layer="X" names .X explicitly (a model trained on a layer would read that layer)
UNKNOWN = "Unknown"  # the label of a cell below min_confidence
ModelLike = Union[ExpressionMAE, "CellTypeClassifier", str, os.PathLike]
Field = Tuple[str, str]  # ("obsm", "X_r2mae"): an AnnData field and a key in it


class LowGeneOverlapWarning(UserWarning):
    """The data holds fewer than 90% of the model's genes (the rest are unobserved: hidden from the model)."""


# --------------------------------------------------------------------------- models and devices
def as_model(model: ModelLike, purpose: str = "this") -> nn.Module:
    """An :class:`ExpressionMAE` / :class:`CellTypeClassifier`, or a run folder (or Hub id) to
    load one from; any other model is refused in one line naming what it is."""
    given = model
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if not isinstance(model, (ExpressionMAE, CellTypeClassifier)):
        what = f"a {model_domain(model)} model ({type(model).__name__})"
        holder = f"{given} holds" if model is not given else "the model is"
        raise ValueError(f"{holder} {what}; {purpose} needs a single-cell model from bior2 pretrain sc "
                         "(bioR2.sc.pretrain)")
    return model


def _mae(model: nn.Module) -> ExpressionMAE:
    return model.mae if isinstance(model, CellTypeClassifier) else model


def _device(device: Union[str, torch.device]) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:N"``, ... as a :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    from ..train import distributed  # looked up at call time (tests stand a fake device in)

    return distributed.resolve_device(str(device), option="device")


def _on_device(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` itself when all its tensors are on ``device``, else a copy moved there: the
    caller's model is never moved (a GPU-trained model stays on the GPU, and back)."""
    if all(t.device == device for t in itertools.chain(module.parameters(), module.buffers())):
        return module
    return _copy.deepcopy(module).to(device)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.float().cpu().numpy()


def _check_h5ad_out(out: Any) -> None:
    """The copy written is an AnnData: its name must say so (``x.txt`` would hold HDF5)."""
    if not str(out).endswith(".h5ad"):
        raise ValueError(f"--out {out}: the output is an AnnData file; name it .h5ad (e.g. {Path(str(out)).stem}.h5ad)")


def _check_common(min_overlap: float, batch_size: int) -> Tuple[float, int]:
    return check_fraction(min_overlap, "min_overlap"), check_batch_size(batch_size)


# --------------------------------------------------------------------------- reading
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


def overlap_warning(where: str, alignment: GeneAlignment) -> Optional[str]:
    """The warning for a gene overlap below 90% (``None`` at or above it)."""
    if alignment.overlap >= LOW_OVERLAP:
        return None
    n_model = len(alignment.genes)
    return (f"{where}: only {alignment.n_shared} of the model's {n_model} genes are in the data "
            f"({alignment.overlap:.1%}); the other {n_model - alignment.n_shared} are unobserved (hidden "
            "from the model, not read as zeros), which blurs embeddings and labels; check the gene naming "
            "(symbols vs Ensembl ids) or use a model trained on these genes")


def reader_for(data: Any, model: ModelLike, *, layer: Optional[str] = None, use_raw: Optional[bool] = None,
               backed: Optional[bool] = None, min_overlap: float = DEFAULT_MIN_OVERLAP) -> ExpressionReader:
    """An :class:`ExpressionReader` of ``data`` aligned to the model's genes, reading the values
    where :func:`read_setup` says. An overlap below ``min_overlap`` (in (0, 1]) is an error, below
    90% a :class:`LowGeneOverlapWarning`."""
    min_overlap = check_fraction(min_overlap, "min_overlap")
    mae = _mae(as_model(model))
    if isinstance(data, CellSource):
        source = data
    else:
        layer, use_raw = read_setup(mae, layer, use_raw)
        source = open_cells(data, layer=layer, use_raw=use_raw, backed=backed)
    fix = ("this model was trained on raw counts and normalises them itself: point layer= (--layer) at the "
           "counts, or use_raw=True (--use-raw) when .raw holds them")
    reader = ExpressionReader(source, mae.genes, is_log1p=mae.is_log1p, target_sum=mae.target_sum,
                              min_overlap=min_overlap, fix_counts=fix)
    message = overlap_warning(source.where, reader.alignment)
    if message is not None:
        warnings.warn(message, LowGeneOverlapWarning, stacklevel=caller_stacklevel())
    elif not reader.alignment.is_identity:
        log.info("%s: %s", source.where, reader.alignment.report())
    return reader


# --------------------------------------------------------------------------- provenance and keys
def _model_name(model: Any) -> str:
    """The model's folder (absolute) or Hub id, or what it is when given as an object."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        return str(path.resolve()) if path.exists() else str(model)
    return f"{type(model).__name__} object (not loaded from a folder)"


def _data_name(data: Any) -> str:
    if isinstance(data, (str, os.PathLike)):
        return str(Path(data).resolve())
    if isinstance(data, CellSource):
        return data.where
    shape = getattr(data, "shape", None)
    return f"{type(data).__name__} ({shape[0]} cells x {shape[1]} genes)" if shape else type(data).__name__


def _overlap(alignment: GeneAlignment) -> Dict[str, Any]:
    return {"n_shared": int(alignment.n_shared), "n_model_genes": len(alignment.genes),
            "fraction": float(alignment.overlap)}


def _record(function: str, model: Any, reader: ExpressionReader, fields: Sequence[Field],
            **extra: Any) -> Dict[str, Any]:
    """``uns["bior2"][key]``: how a result was made (no ``None`` values: .h5ad cannot store them)."""
    source = reader.source
    record = {"function": function, "model": _model_name(model), "bior2_version": __version__,
              # .raw.X is neither .X nor a layer: record it as what it is
              "layer": RAW_LAYER if source.use_raw else (source.layer if source.layer is not None else X_LAYER),
              "use_raw": bool(source.use_raw),
              "gene_overlap": _overlap(reader.alignment), "fields": [f"{f}/{k}" for f, k in fields]}
    record.update({k: v for k, v in extra.items() if v is not None})
    return record


def _present(adata: Any, fields: Sequence[Field]) -> List[Field]:
    """The ``fields`` that already exist in an AnnData."""
    found = []
    for field, key in fields:
        container = adata.obs.columns if field == "obs" else getattr(adata, field)
        if key in container:
            found.append((field, key))
    return found


def _open_file(path: Any, model: nn.Module, layer: Optional[str], use_raw: Optional[bool]) -> CellSource:
    """The cells of an ``.h5ad`` file, read where :func:`read_setup` says: the file and its matrix
    are checked before any work (rows are read from disk; a CSC file is loaded, with a warning)."""
    where, raw = read_setup(model, layer, use_raw)
    return open_cells(path, layer=where, use_raw=raw)


def _present_in_file(path: Any, fields: Sequence[Field]) -> List[Field]:
    """The ``fields`` that already exist in an ``.h5ad`` file (read without loading it)."""
    import h5py

    with h5py.File(path, "r") as fh:
        return [(f, k) for f, k in fields if f in fh and k in fh[f]]


def _refuse_existing(existing: Sequence[Field], where: str, overwrite: bool, other: str) -> None:
    """The one overwrite rule of ``embed`` and ``annotate``: an existing key is an error naming it."""
    if existing and not overwrite:
        names = ", ".join(f"{f}[{k!r}]" for f, k in existing)
        raise ValueError(f"{where} already has {names}; pass overwrite=True (--overwrite) to replace "
                         f"{'it' if len(existing) == 1 else 'them'}, or choose another {other}")


def _check_copy(adata: Any, copy: bool, function: str) -> None:
    if not hasattr(adata, "obs") or not hasattr(adata, "obsm"):
        raise ValueError(f"{function} writes into an AnnData, got {type(adata).__name__}; for an .h5ad file "
                         f"use {function}_file(path, model, out, ...) (bior2 {function})")
    if copy and getattr(adata, "isbacked", False):
        raise ValueError(f"{function}: copy=True needs an AnnData in memory, not a backed one; "
                         "load it (adata.to_memory()) or use copy=False")


# --------------------------------------------------------------------------- embedding
def _unobserved(reader: Any, rows: np.ndarray, device: torch.device) -> Optional[torch.Tensor]:
    """bool (cells x model genes), True where the cell's data does not measure the gene (the model
    hides those entries, as it hides masked ones, instead of reading a 0); ``None`` when every
    model gene is measured (the plain, unmasked embedding)."""
    observed = reader.observed_rows(rows) if hasattr(reader, "observed_rows") else None
    if observed is None:
        return None
    return torch.from_numpy(~np.asarray(observed, dtype=bool)).to(device)


@torch.no_grad()
def embed_reader(reader: ExpressionReader, model: ModelLike, rows: Optional[Sequence[int]] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, device: Union[str, torch.device] = DEFAULT_DEVICE,
                 progress: Optional[bool] = None) -> np.ndarray:
    """Embeddings (cells x latent, float32) of ``rows`` of a reader, ``batch_size`` cells at a
    time on ``device`` (``"auto"``: CUDA when available). ``progress``: a bar in a terminal or
    notebook (``None``), always (``True``) or never (``False``)."""
    batch_size = check_batch_size(batch_size)
    device = _device(device)
    mae = _on_device(_mae(as_model(model, "embed")), device)
    rows_arr = np.arange(reader.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.empty((rows_arr.size, mae.latent), dtype=np.float32)
    bar = progress_bar(rows_arr.size, enabled=progress, unit="cell", desc="embedding")
    try:
        for start in range(0, rows_arr.size, batch_size):
            chunk = rows_arr[start:start + batch_size]
            x = torch.from_numpy(reader.read(chunk)).to(device)
            out[start:start + x.shape[0]] = _numpy(mae.embed_array(x, _unobserved(reader, chunk, device)))
            if bar is not None:
                bar.update(x.shape[0])
    finally:
        if bar is not None:
            bar.close()
    return out


def _embed_fields(key_added: str, umap: bool, neighbors_key: Optional[str]) -> Tuple[List[Field], str, str]:
    """What ``embed`` writes: ``(fields, umap key, neighbors key)``; the UMAP and graph keys are
    derived from ``key_added`` (``X_r2mae`` -> ``X_umap_r2mae``, ``r2mae_neighbors``)."""
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise ValueError(f"key_added must be a non-empty name without '/', got {key_added!r}")
    base = key_added[2:] if key_added.startswith("X_") and len(key_added) > 2 else key_added
    umap_key, neighbors_key = f"X_umap_{base}", neighbors_key or f"{base}_neighbors"
    if "/" in neighbors_key:
        raise ValueError(f"neighbors_key must be a name without '/', got {neighbors_key!r}")
    fields = [("obsm", key_added)]
    if umap:
        fields += [("obsm", umap_key), ("uns", neighbors_key), ("obsp", f"{neighbors_key}_connectivities"),
                   ("obsp", f"{neighbors_key}_distances")]
    return fields, umap_key, neighbors_key


def _neighbors_umap(emb: np.ndarray, obs_names: Any, key_added: str, umap_key: str,
                    neighbors_key: str) -> Dict[str, Dict[str, Any]]:
    """scanpy's neighbours + UMAP of ``emb``, computed on a scratch AnnData so that nothing of the
    user's is touched; returned as ``{field: {key: value}}`` to write, and ``"record"``."""
    import anndata
    import pandas as pd
    import scanpy as sc

    scratch = anndata.AnnData(obs=pd.DataFrame(index=pd.Index(obs_names).astype(str)))
    scratch.obsm["rep"] = emb
    threads = torch.get_num_threads()
    try:
        sc.pp.neighbors(scratch, use_rep="rep")
        sc.tl.umap(scratch)
    finally:
        # numba's thread pool, which UMAP resets, is shared with torch: keep the user's setting
        torch.set_num_threads(threads)
    conn, dist = f"{neighbors_key}_connectivities", f"{neighbors_key}_distances"
    params = dict(scratch.uns["neighbors"]["params"], use_rep=key_added)
    return {
        "obsm": {umap_key: np.asarray(scratch.obsm["X_umap"])},
        "obsp": {conn: scratch.obsp["connectivities"], dist: scratch.obsp["distances"]},
        "uns": {neighbors_key: {"connectivities_key": conn, "distances_key": dist, "params": params}},
        "record": {"neighbors_key": neighbors_key, "umap_key": umap_key,
                   "umap_params": dict(scratch.uns["umap"]["params"])},
    }


def _embedding(data: Any, model: nn.Module, *, key_added: str, umap: bool, neighbors_key: Optional[str],
               layer: Optional[str], use_raw: Optional[bool], min_overlap: float, batch_size: int,
               device: torch.device) -> Tuple[ExpressionReader, np.ndarray, Dict[str, Dict[str, Any]]]:
    """``(reader, embedding, {field: {key: value}} to write)`` of an AnnData or .h5ad path."""
    reader = reader_for(data, model, layer=layer, use_raw=use_raw, min_overlap=min_overlap)
    if umap and reader.n_obs < UMAP_MIN_CELLS:  # said before the work, not in scipy's words after it
        raise ValueError(f"{reader.source.where}: --umap (umap=True) needs at least {UMAP_MIN_CELLS} cells; "
                         f"this data has {reader.n_obs}; embed without --umap")
    emb = embed_reader(reader, model, batch_size=batch_size, device=device)
    writes: Dict[str, Dict[str, Any]] = {"obsm": {key_added: emb}, "record": {}}
    if umap:
        _, umap_key, neighbors_key = _embed_fields(key_added, umap, neighbors_key)
        graph = _neighbors_umap(emb, reader.source.obs_names, key_added, umap_key, neighbors_key)
        for field, entries in graph.items():
            writes.setdefault(field, {}).update(entries)
    return reader, emb, writes


def _put(adata: Any, writes: Dict[str, Dict[str, Any]], record_key: str, record: Dict[str, Any]) -> None:
    """Write ``{field: {key: value}}`` into an AnnData and set ``uns["bior2"][record_key]``."""
    for field, entries in writes.items():
        if field == "record":
            continue
        for key, value in entries.items():
            if field == "obs":
                adata.obs[key] = value
            else:
                getattr(adata, field)[key] = value
    records = adata.uns.get(UNS_KEY)
    adata.uns[UNS_KEY] = {**(dict(records) if isinstance(records, dict) else {}), record_key: record}


def embed(adata: Any, model: ModelLike, *, layer: Optional[str] = None, use_raw: Optional[bool] = None,
          key_added: str = EMBED_KEY, umap: bool = False, neighbors_key: Optional[str] = None,
          min_overlap: float = DEFAULT_MIN_OVERLAP, batch_size: int = DEFAULT_BATCH_SIZE,
          device: Union[str, torch.device] = DEFAULT_DEVICE, overwrite: bool = False,
          copy: bool = False) -> Optional[Any]:
    """Embed every cell of ``adata`` into ``adata.obsm[key_added]``.

    ``model`` is a pretrained :class:`ExpressionMAE`, its run folder or a Hub id. ``layer`` /
    ``use_raw`` say where the values are (by default where the model's training data was,
    :func:`read_setup`). ``umap=True`` also writes a neighbour graph (``uns[neighbors_key]``,
    ``obsp[f"{neighbors_key}_connectivities"]`` / ``_distances``; default ``"r2mae_neighbors"``)
    and ``obsm["X_umap_r2mae"]`` (``X_umap_`` + ``key_added`` without ``X_``); ``X_umap``,
    ``uns["neighbors"]`` and ``obsp["connectivities"]`` are never touched. Any of these keys that
    already exists is an error unless ``overwrite``. ``uns["bior2"][key_added]`` records the
    model, version, layer and gene overlap. ``batch_size`` cells go through the model at a time on
    ``device`` (``"auto"``: CUDA when available). ``copy=True`` returns a new AnnData (the input
    untouched), else ``adata`` is written in place and ``None`` returned (scanpy's habit).
    A backed AnnData is read in chunks.
    """
    min_overlap, batch_size = _check_common(min_overlap, batch_size)
    _check_copy(adata, copy, "embed")
    fields, _, _ = _embed_fields(key_added, umap, neighbors_key)
    _refuse_existing(_present(adata, fields), "adata", overwrite, "key_added / neighbors_key")
    model_arg, model = model, as_model(model, "embed")
    reader, _, writes = _embedding(adata, model, key_added=key_added, umap=umap, neighbors_key=neighbors_key,
                                   layer=layer, use_raw=use_raw, min_overlap=min_overlap, batch_size=batch_size,
                                   device=_device(device))
    target = adata.copy() if copy else adata
    _put(target, writes, key_added, _record("embed", model_arg, reader, fields, **writes["record"]))
    return target if copy else None


def embed_file(h5ad: Union[str, os.PathLike], model: ModelLike, out: Union[str, os.PathLike], *,
               layer: Optional[str] = None, use_raw: Optional[bool] = None, key_added: str = EMBED_KEY,
               umap: bool = False, neighbors_key: Optional[str] = None, min_overlap: float = DEFAULT_MIN_OVERLAP,
               batch_size: int = DEFAULT_BATCH_SIZE, device: Union[str, torch.device] = DEFAULT_DEVICE,
               overwrite: bool = False) -> Tuple[np.ndarray, GeneAlignment]:
    """Embed the cells of the file ``h5ad`` into a copy of it, ``out``, with ``obsm[key_added]``
    (and with ``umap=True`` the fields :func:`embed` names).

    ``out`` is checked first (:func:`~bioR2.utils.outputs.check_output_path`): never the input,
    a folder or an unwritable place, and an existing file only with ``overwrite``. The input's
    other fields are carried over byte for byte and its matrix is read in chunks (backed), never
    loaded whole; ``umap=True`` loads the file, adds the graph and UMAP and writes it anew. An
    existing key is an error unless ``overwrite``. Returns the embedding and the gene alignment.
    """
    from anndata.io import write_elem

    min_overlap, batch_size = _check_common(min_overlap, batch_size)
    check_output_path(out, [h5ad], overwrite=overwrite)
    _check_h5ad_out(out)
    fields, _, _ = _embed_fields(key_added, umap, neighbors_key)
    model_arg, model = model, as_model(model, "embed")
    data: Any = _open_file(h5ad, model, layer, use_raw)
    _refuse_existing(_present_in_file(h5ad, fields), str(h5ad), overwrite, "--key-added / --neighbors-key")
    if umap:  # the graph and UMAP are written by AnnData: the file is loaded
        import anndata

        data = anndata.read_h5ad(h5ad)
    reader, emb, writes = _embedding(data, model, key_added=key_added, umap=umap, neighbors_key=neighbors_key,
                                     layer=layer, use_raw=use_raw, min_overlap=min_overlap, batch_size=batch_size,
                                     device=_device(device))
    record = _record("embed", model_arg, reader, fields, **writes["record"])
    if umap:
        from ..utils.io import atomic_path

        _put(data, writes, key_added, record)
        with atomic_path(out) as tmp:
            data.write_h5ad(tmp)
        return emb, reader.alignment

    def write(fh) -> None:
        if f"obsm/{key_added}" in fh:
            del fh[f"obsm/{key_added}"]
        write_elem(fh, f"obsm/{key_added}", emb)
        write_uns_record(fh, key_added, record)

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
    def from_pretrained_mae(cls, mae: ExpressionMAE, classes: Sequence[str],
                            head_dropout: float = 0.1) -> "CellTypeClassifier":
        clf = cls(mae.get_config(), classes, head_dropout)
        clf.mae.load_state_dict(mae.state_dict())
        return clf

    def get_config(self) -> Dict[str, Any]:
        return {"mae": self.mae.get_config(), "classes": self.classes, "head_dropout": self.head_dropout}

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.mae.encode(x, mask))

    @torch.no_grad()
    def predict_proba_array(self, x: torch.Tensor, unobserved: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class probabilities of log-normalised cells; ``unobserved`` (bool) hides unmeasured genes."""
        was = self.training
        self.eval()
        try:
            return torch.softmax(self(x, unobserved), dim=1)
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
        self.register_buffer("class_weight",
                             class_weight if class_weight is not None else torch.ones(len(model.classes)))

    def forward(self, batch, mask_ratio, rng) -> TaskOutput:
        x = batch["x"]
        observed = batch.get("observed")
        mask = None
        if mask_ratio > 0:
            mask = mask_expression(x, mask_ratio, rng=rng, min_one=False, eligible=observed).mask
        if observed is not None:  # genes the reference does not measure: hidden, never read as 0
            mask = ~observed if mask is None else (mask | ~observed)
        logits = self.model(x, mask)
        loss = F.cross_entropy(logits, batch["y"], weight=self.class_weight)
        acc = (logits.argmax(1) == batch["y"]).float().mean()
        return TaskOutput(loss=loss, n_examples=int(x.shape[0]), metrics={"accuracy": acc.detach()})



def fine_tune(model: ModelLike, reader: ExpressionReader, labels: Sequence[Any], *,
              rows: Optional[Sequence[int]] = None, steps: int = 500, batch_size: int = 128, lr: float = 3e-4,
              mask_ratio: str = "0", balanced: bool = False, seed: int = 0, out=None,
              head_dropout: float = 0.1, device: Union[str, torch.device] = DEFAULT_DEVICE) -> CellTypeClassifier:
    """Fine-tune the pretrained encoder with a classification head on labelled cells.

    ``labels`` has one entry per row in ``rows`` (or per cell of the reader). ``mask_ratio``
    hides genes as augmentation (``"0"`` for none); ``balanced`` weights classes inversely to
    their frequency. Training runs through :class:`bioR2.train.Trainer` on ``device``
    (``"auto"``: CUDA when available), ``batch_size`` cells a step; the classifier returned is
    on that device (the given model is copied, never changed).
    """
    batch_size = check_batch_size(batch_size)
    steps = check_batch_size(steps, "steps")
    mae = _mae(as_model(model, "fine_tune"))
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
                         seed=seed, warmup_steps=max(1, steps // 20), progress=False, log_every=max(1, steps),
                         device=str(device))
    Trainer(task, data, config, out).fit()
    clf.eval()
    return clf


@dataclass
class Annotation:
    """Labels and confidences for query cells.

    ``labels`` holds :data:`UNKNOWN` where ``confidence`` (the top class's probability, kept as
    it is) is below ``min_confidence``; ``classes`` are the reference's classes;
    ``alignment`` / ``reference_alignment`` are the gene overlaps of the query and reference.
    """

    labels: np.ndarray
    confidence: np.ndarray
    classes: np.ndarray
    min_confidence: float = 0.0
    alignment: Optional[GeneAlignment] = None
    reference_alignment: Optional[GeneAlignment] = None

    @property
    def n_unknown(self) -> int:
        return int(np.sum(self.confidence < self.min_confidence))

    def categorical(self):
        """The labels as a pandas Categorical: the classes, then :data:`UNKNOWN` (always a category)."""
        import pandas as pd

        categories = sorted(set(str(c) for c in self.classes) - {UNKNOWN}) + [UNKNOWN]
        return pd.Categorical(self.labels, categories=categories)


def _predict(clf: Union[LinearProbe, CellTypeClassifier], reader: ExpressionReader, mae: ExpressionMAE,
             batch_size: int, device: torch.device, min_confidence: float) -> Annotation:
    if isinstance(clf, LinearProbe):
        proba = clf.predict_proba(embed_reader(reader, mae, batch_size=batch_size, device=device))
        classes = clf.classes_
    else:
        net = _on_device(clf, device)  # the head and its inputs on one device
        parts = []
        for rows in iter_chunks(reader.n_obs, batch_size):
            x = torch.from_numpy(reader.read(rows)).to(device)
            parts.append(_numpy(net.predict_proba_array(x, _unobserved(reader, rows, device))))
        proba = np.concatenate(parts)
        classes = np.asarray(clf.classes)
    best = proba.argmax(axis=1)
    confidence = proba[np.arange(len(best)), best].astype(np.float32)
    labels = np.asarray(classes, dtype=object)[best]
    labels[confidence < min_confidence] = UNKNOWN
    return Annotation(labels.astype(str), confidence, np.asarray(classes), float(min_confidence),
                      alignment=reader.alignment)


def _check_annotate(method: str, min_confidence: float, min_overlap: float, batch_size: int
                    ) -> Tuple[float, float, int]:
    if method not in ("linear", "finetune"):
        raise ValueError(f"method must be 'linear' or 'finetune', got {method!r}")
    return (check_fraction(min_confidence, "min_confidence", zero_ok=True), *_check_common(min_overlap, batch_size))


def _annotation(query: Any, model: nn.Module, reference: Any, label_key: Optional[str], *, method: str,
                layer: Optional[str], use_raw: Optional[bool], reference_layer: Optional[str],
                reference_use_raw: Optional[bool], min_confidence: float, min_overlap: float, batch_size: int,
                device: torch.device, fine_tune_options: Optional[Dict[str, Any]]
                ) -> Tuple[Annotation, ExpressionReader]:
    """The :class:`Annotation` of ``query`` (an AnnData, a path or a CellSource) and its reader."""
    query_reader = reader_for(query, model, layer=layer, use_raw=use_raw, min_overlap=min_overlap)
    mae = _mae(model)
    ref_alignment = None
    if isinstance(model, CellTypeClassifier):
        clf: Union[LinearProbe, CellTypeClassifier] = model
    else:
        if reference is None or label_key is None:
            raise ValueError("annotate needs a labelled reference and its label_key (or a fine-tuned classifier)")
        ref_reader = reader_for(reference, mae, layer=reference_layer if reference_layer is not None else layer,
                                use_raw=use_raw if reference_use_raw is None else reference_use_raw,
                                min_overlap=min_overlap)
        ref_alignment = ref_reader.alignment
        rows, labels = labelled_rows(ref_reader.source, label_key)  # unlabelled cells left out
        found = np.unique(labels)
        if found.size < 2:
            raise ValueError(
                f"{ref_reader.source.where}: obs[{label_key!r}] holds a single label ({found[0]!r}) among "
                f"its {labels.size} labelled cells; a reference needs at least 2 labels to tell cells "
                "apart (every query cell would get this one)")
        if method == "linear":
            clf = LinearProbe().fit(embed_reader(ref_reader, mae, rows, batch_size=batch_size, device=device), labels)
        else:
            clf = fine_tune(mae, ref_reader, labels, rows=rows, **{"device": device, **(fine_tune_options or {})})
    result = _predict(clf, query_reader, mae, batch_size, device, min_confidence)
    result.reference_alignment = ref_alignment
    return result, query_reader


def _annotation_record(model_arg: Any, model: nn.Module, reader: ExpressionReader, result: Annotation,
                       fields: Sequence[Field], reference: Any, label_key: Optional[str],
                       method: str) -> Dict[str, Any]:
    given = isinstance(model, CellTypeClassifier)
    extra = {"method": "classifier" if given else method, "min_confidence": float(result.min_confidence),
             "n_unknown": result.n_unknown, "classes": [str(c) for c in result.classes]}
    if not given:
        extra.update(reference=_data_name(reference), label_key=str(label_key),
                     reference_gene_overlap=_overlap(result.reference_alignment))
    return _record("annotate", model_arg, reader, fields, **extra)


def _key_name(key_added: Optional[str], key_prefix: Optional[str]) -> str:
    """``key_added`` (scanpy's name) or its alias ``key_prefix``; the default ``"r2mae"``."""
    if key_added is not None and key_prefix is not None and key_added != key_prefix:
        raise ValueError(f"key_added={key_added!r} and key_prefix={key_prefix!r}: key_prefix is another name for "
                         "key_added; give one of them")
    return key_added if key_added is not None else (key_prefix if key_prefix is not None else ANNOTATE_KEY)


def _label_fields(key_prefix: str) -> List[Field]:
    if not isinstance(key_prefix, str) or not key_prefix or "/" in key_prefix:
        raise ValueError(f"key_prefix must be a non-empty name without '/', got {key_prefix!r}")
    return [("obs", f"{key_prefix}_label"), ("obs", f"{key_prefix}_confidence")]


def annotate(query: Any, model: ModelLike, reference: Any = None, label_key: Optional[str] = None, *,
             method: str = "linear", layer: Optional[str] = None, use_raw: Optional[bool] = None,
             reference_layer: Optional[str] = None, reference_use_raw: Optional[bool] = None,
             key_added: Optional[str] = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
             min_overlap: float = DEFAULT_MIN_OVERLAP, batch_size: int = DEFAULT_BATCH_SIZE,
             device: Union[str, torch.device] = DEFAULT_DEVICE, overwrite: bool = False, copy: bool = False,
             fine_tune_options: Optional[Dict[str, Any]] = None, key_prefix: Optional[str] = None) -> Optional[Any]:
    """Label the cells of the AnnData ``query`` from the labelled ``reference`` (``obs[label_key]``;
    reference cells whose label is missing are left out, with a warning).

    ``method="linear"``: logistic regression on embeddings; ``"finetune"``: the encoder
    fine-tuned with a classification head (:func:`fine_tune`; ``fine_tune_options`` are its
    arguments). A :class:`CellTypeClassifier` as ``model`` is used directly (no reference
    needed). The query (and the reference, unless ``reference_layer`` / ``reference_use_raw``
    are given) is read at ``layer`` / ``use_raw``, by default where the model's training data
    was (:func:`read_setup`).

    Writes ``obs[f"{key_added}_label"]`` (categorical, with ``"Unknown"`` for cells whose
    confidence is below ``min_confidence``, in [0, 1]; 0 labels every cell) and
    ``obs[f"{key_added}_confidence"]`` (the top class's probability), and records the model,
    reference, label key, method and ``min_confidence`` in ``uns["bior2"][f"{key_added}_label"]``.
    ``key_added`` defaults to ``"r2mae"``; ``key_prefix`` is another name for it.
    Existing columns of those names are an error unless ``overwrite``. ``batch_size`` cells go
    through the model at a time on ``device`` (``"auto"``: CUDA when available; fine-tuning
    trains there too). ``copy=True`` returns a new AnnData (the input untouched), else ``query``
    is written in place and ``None`` returned. For an ``.h5ad`` file use :func:`annotate_file`.
    """
    min_confidence, min_overlap, batch_size = _check_annotate(method, min_confidence, min_overlap, batch_size)
    _check_copy(query, copy, "annotate")
    fields = _label_fields(_key_name(key_added, key_prefix))
    _refuse_existing(_present(query, fields), "query", overwrite, "key_added")
    model_arg, model = model, as_model(model, "annotate")
    result, reader = _annotation(query, model, reference, label_key, method=method, layer=layer, use_raw=use_raw,
                                 reference_layer=reference_layer, reference_use_raw=reference_use_raw,
                                 min_confidence=min_confidence, min_overlap=min_overlap, batch_size=batch_size,
                                 device=_device(device), fine_tune_options=fine_tune_options)
    target = query.copy() if copy else query
    record = _annotation_record(model_arg, model, reader, result, fields, reference, label_key, method)
    (_, label_col), (_, conf_col) = fields
    _put(target, {"obs": {label_col: result.categorical(), conf_col: result.confidence}}, label_col, record)
    return target if copy else None


def annotate_file(query: Union[str, os.PathLike], model: ModelLike, out: Union[str, os.PathLike],
                  reference: Any = None, label_key: Optional[str] = None, *, method: str = "linear",
                  layer: Optional[str] = None, use_raw: Optional[bool] = None,
                  reference_layer: Optional[str] = None, reference_use_raw: Optional[bool] = None,
                  key_added: Optional[str] = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                  min_overlap: float = DEFAULT_MIN_OVERLAP, batch_size: int = DEFAULT_BATCH_SIZE,
                  device: Union[str, torch.device] = DEFAULT_DEVICE, overwrite: bool = False,
                  fine_tune_options: Optional[Dict[str, Any]] = None, key_prefix: Optional[str] = None) -> Annotation:
    """:func:`annotate` the cells of the file ``query`` into a copy of it, ``out``, with
    ``obs[f"{key_added}_label"]``, ``obs[f"{key_added}_confidence"]`` (``key_prefix``: another name
    for ``key_added``) and the
    ``uns["bior2"]`` record; every other field is carried over byte for byte.

    Checked before any work: ``out`` (never the query or the reference, a folder or an
    unwritable place; an existing file only with ``overwrite``), the model, the query file and
    its columns (existing ones are an error unless ``overwrite``). Returns the :class:`Annotation`.
    """
    from anndata.io import read_elem, write_elem

    min_confidence, min_overlap, batch_size = _check_annotate(method, min_confidence, min_overlap, batch_size)
    reference_path = reference if isinstance(reference, (str, os.PathLike)) else None
    check_output_path(out, [query, reference_path], overwrite=overwrite)
    _check_h5ad_out(out)
    fields = _label_fields(_key_name(key_added, key_prefix))
    model_arg, model = model, as_model(model, "annotate")
    source = _open_file(query, model, layer, use_raw)
    _refuse_existing(_present_in_file(query, fields), str(query), overwrite, "--key-added")
    result, reader = _annotation(source, model, reference, label_key, method=method, layer=layer, use_raw=use_raw,
                                 reference_layer=reference_layer, reference_use_raw=reference_use_raw,
                                 min_confidence=min_confidence, min_overlap=min_overlap, batch_size=batch_size,
                                 device=_device(device), fine_tune_options=fine_tune_options)
    record = _annotation_record(model_arg, model, reader, result, fields, reference, label_key, method)

    def write(fh) -> None:
        obs = read_elem(fh["obs"])
        obs[fields[0][1]] = result.categorical()
        obs[fields[1][1]] = result.confidence
        del fh["obs"]
        write_elem(fh, "obs", obs)
        write_uns_record(fh, fields[0][1], record)

    copy_h5ad_with(query, out, write)
    return result
