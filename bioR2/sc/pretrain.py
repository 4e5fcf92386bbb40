"""Pretraining an :class:`ExpressionMAE` on an AnnData: the one-call Python API behind
``bior2 pretrain sc``.

>>> model = bioR2.sc.pretrain("pbmc.h5ad", layer="counts", out="runs/pbmc", steps=2000)

The gene list is fixed here (all genes, a given list, or the ``n_top_genes`` most variable) and
saved in the run folder with the weights; gene standardisation statistics come from the training
cells only. Training goes through the shared :class:`bioR2.train.Trainer`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ..train import Trainer, TrainConfig
from .data import (
    DEFAULT_TARGET_SUM,
    CellDataset,
    CellSource,
    ExpressionReader,
    H5adSource,
    chunk_sampler_factory,
    gene_moments,
    highly_variable_genes,
    open_cells,
    read_labels,
)
from .model import ExpressionMAE
from .task import ExpressionMAETask

__all__ = ["pretrain", "pretrain_reader", "MODEL_DEFAULTS"]

MODEL_DEFAULTS: Dict[str, Any] = {"hidden": [512, 256], "latent": 64, "dropout": 0.1, "loss": "mse"}


def pretrain_reader(reader: ExpressionReader, *, rows: Optional[Sequence[int]] = None,
                    out: Optional[Union[str, os.PathLike]] = None, train: Optional[TrainConfig] = None,
                    model: Optional[Dict[str, Any]] = None, only_nonzero: bool = False, count: str = "exact",
                    batch_codes: Optional[np.ndarray] = None, batch_categories: Optional[Sequence[str]] = None,
                    stats_cells: int = 100_000, chunk_size: Optional[int] = None, resume: bool = False,
                    overwrite: bool = False, val_rows: Optional[Sequence[int]] = None) -> ExpressionMAE:
    """Pretrain on the cells ``rows`` of an :class:`ExpressionReader` (all cells by default).

    ``chunk_size`` switches to chunk-shuffled reading (for backed files); by default it is used
    whenever the reader reads from disk.
    """
    train = train or TrainConfig(mask_ratio="0.1-0.5")
    options = dict(MODEL_DEFAULTS, **(model or {}))
    rows_arr = np.arange(reader.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
    net = ExpressionMAE(reader.genes, is_log1p=reader.is_log1p, target_sum=reader.target_sum,
                        batch_categories=batch_categories, **options)
    # Standardisation statistics from (a sample of) the training cells only.
    stats_rows = _sample_rows(rows_arr, stats_cells, train.seed)
    mean, std = gene_moments(reader, stats_rows)
    net.set_gene_stats(mean, std)

    with_counts = net.loss == "nb"
    dataset = CellDataset(reader, rows_arr, batch_codes=batch_codes, with_counts=with_counts)
    val = CellDataset(reader, val_rows, batch_codes=batch_codes, with_counts=with_counts) if val_rows is not None else None
    if chunk_size is None and isinstance(reader.source, H5adSource):
        chunk_size = 8 * train.batch_size
    sampler = chunk_sampler_factory(chunk_size) if chunk_size else None
    task = ExpressionMAETask(net, only_nonzero=only_nonzero, count=count)
    Trainer(task, dataset, train, out, val_dataset=val, sampler_factory=sampler, resume=resume,
            overwrite=overwrite).fit()
    net.eval()
    return net


def _sample_rows(rows: np.ndarray, n: int, seed: int, run: int = 1024) -> np.ndarray:
    """Up to ``n`` of ``rows`` for statistics: random runs of ``run`` consecutive entries, so a
    backed file is read in a few contiguous stretches rather than cell by cell."""
    if rows.size <= n:
        return rows
    rng = np.random.default_rng(seed)
    starts = np.arange(0, rows.size, run)
    picked = np.sort(rng.choice(starts, max(1, n // run), replace=False))
    return np.concatenate([rows[s:s + run] for s in picked])


def pretrain(data: Any, out: Optional[Union[str, os.PathLike]] = None, *, layer: Optional[str] = None,
             use_raw: bool = False, is_log1p: bool = False, backed: Optional[bool] = None,
             genes: Optional[Sequence[str]] = None, n_top_genes: Optional[int] = None,
             batch_key: Optional[str] = None, mask_ratio: Any = "0.1-0.5", only_nonzero: bool = False,
             count: str = "exact", target_sum: float = DEFAULT_TARGET_SUM, model: Optional[Dict[str, Any]] = None,
             resume: bool = False, overwrite: bool = False, chunk_size: Optional[int] = None,
             **train_options: Any) -> ExpressionMAE:
    """Pretrain an expression masked autoencoder on an AnnData (object or ``.h5ad`` path).

    Parameters
    ----------
    data
        AnnData or path. Paths are read in backed mode (rows streamed from disk).
    out
        Run folder for weights, config (with the gene list), log and checkpoints; ``None`` keeps
        the model in memory only.
    layer, use_raw
        Where the values are: ``.layers[layer]``, ``.raw.X`` or (default) ``.X``.
    is_log1p
        The values are already log1p(CP10k); otherwise they are counts, normalised here.
    genes, n_top_genes
        Fix the gene list: an explicit list, or the ``n_top_genes`` most variable genes.
    batch_key
        ``obs`` column with a batch covariate given to the decoder.
    mask_ratio
        ``"0.1-0.5"`` (R²MAE, default) or a fixed ratio such as ``0.15``.
    only_nonzero, count
        Mask only detected genes; ``"exact"`` or ``"bernoulli"`` number of masked genes.
    model
        :class:`ExpressionMAE` options (``hidden``, ``latent``, ``dropout``, ``loss``).
    train_options
        :class:`~bioR2.train.TrainConfig` fields: ``steps``, ``batch_size``, ``lr``, ``seed``, ...
    """
    source = data if isinstance(data, CellSource) else open_cells(data, layer=layer, use_raw=use_raw, backed=backed)
    if genes is None and n_top_genes is not None:
        genes = highly_variable_genes(source, n_top_genes, is_log1p=is_log1p, target_sum=target_sum)
    reader = ExpressionReader(source, genes, is_log1p=is_log1p, target_sum=target_sum)
    batch_codes, categories = None, None
    if batch_key is not None:
        labels = read_labels(source, batch_key)
        categories, batch_codes = np.unique(labels, return_inverse=True)
        categories = [str(c) for c in categories]
    options = dict(train_options)
    options.setdefault("batch_size", min(256, source.n_obs))
    train = TrainConfig(mask_ratio=str(mask_ratio) if not isinstance(mask_ratio, str) else mask_ratio, **options)
    net = pretrain_reader(reader, out=out, train=train, model=model, only_nonzero=only_nonzero, count=count,
                          batch_codes=batch_codes, batch_categories=categories, chunk_size=chunk_size,
                          resume=resume, overwrite=overwrite)
    if out is not None:
        _write_provenance(Path(out), source, reader, layer, use_raw, batch_key)
    return net


def _write_provenance(out: Path, source: CellSource, reader: ExpressionReader, layer, use_raw, batch_key) -> None:
    from ..utils.io import atomic_write_json

    atomic_write_json(out / "data.json", {
        "source": source.where, "n_cells": source.n_obs, "n_genes": len(reader.genes),
        "layer": layer, "use_raw": use_raw, "is_log1p": reader.is_log1p, "batch_key": batch_key,
        "gene_alignment": reader.alignment.report(),
    })
