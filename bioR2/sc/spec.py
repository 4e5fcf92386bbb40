"""The single-cell domain's spec: configs, presets and builders behind ``bioR2.pretrain("sc", ...)``,
``bioR2.sc.pretrain`` and ``bior2 pretrain sc``.

>>> result = bioR2.sc.pretrain("pbmc.h5ad", "runs/pbmc", layer="counts", steps=2000)
>>> result.model            # the ExpressionMAE; result.run_dir holds weights, config, log

The gene list is fixed by the data section (all genes, a given list, or the ``n_top_genes`` most
variable) and saved with the weights; gene standardisation statistics come from the training
cells only. Where the values were read (layer / ``.raw`` / ``.X``), how they are normalised and
the batch key are saved with the model too, so embedding and annotation read a query the same
way without being told again.

Only the standard library at import time (the CLI reads the configs without torch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from ..domain import DomainData, DomainSpec, Preset, option
from ..pipeline import domain_pretrain

__all__ = ["SPEC", "pretrain", "SCDataConfig", "SCModelConfig", "SCTaskConfig", "DEFAULT_RATIO", "DEFAULT_EPOCHS",
           "default_epochs"]

DEFAULT_RATIO = "0.1-0.5"  # the single-cell R²MAE range, written once for the package

# The recipe chosen on a validation split of cbmc's training cells (benchmarks/sc_recipe_search.py,
# RESULTS.md "Single-cell recipe"): 50 epochs of the data (not a fixed step count), MLP 512,256 -> 128.
DEFAULT_EPOCHS = 50.0
TRAIN_DEFAULTS: Dict[str, Any] = {"epochs": DEFAULT_EPOCHS, "batch_size": 256}


def default_epochs(n_cells: int) -> float:
    """The default number of passes over ``n_cells`` training cells: 50 up to 160,000 cells, then
    fewer so the run stays near 31,000 steps of 256 cells (scVI's default shrinks its epochs with
    the dataset likewise): 1,000,000 cells get 8 epochs."""
    return float(min(DEFAULT_EPOCHS, max(1, round(8_000_000 / max(1, int(n_cells))))))


@dataclass
class SCDataConfig:
    """Which cells, which values and which genes are trained on."""

    source: Any = option(None, ".h5ad file(s) of cells, a folder or a glob (one file: read in memory when small, "
                               "backed above 1 GB on disk or 2 GB of matrix; several: a corpus)", flag="--h5ad",
                         metavar="FILE", nargs="+")
    corpus: Optional[str] = option(None, "corpus table (CSV: path,dataset,layer,gene_key,weight; empty cell = "
                                         "default)", metavar="CSV")
    soma: Optional[str] = option(None, "TileDB-SOMA Experiment URI (local folder, s3://, Census) to pretrain on; "
                                       "needs pip install 'bior2[soma]'", metavar="URI")
    soma_measurement: str = option("RNA", "SOMA measurement to read", metavar="NAME")
    obs_filter: Optional[str] = option(None, "SOMA obs value filter, e.g. \"tissue == 'blood'\"", metavar="EXPR")
    var_filter: Optional[str] = option(None, "SOMA var value filter", metavar="EXPR")
    gene_key: Optional[str] = option(None, "var column naming genes, e.g. feature_name (default: var_names; "
                                           "SOMA: feature_name)", metavar="COLUMN")
    vocab: str = option("hvg", "corpus gene vocabulary: hvg (top --n-top-genes, default 2000, most often highly "
                               "variable across files), union, intersection, or a file with one gene a line",
                        metavar="MODE")
    hvg_flavor: str = option("seurat", "how a file ranks variable genes when its var has no highly_variable "
                                       "column: seurat (dispersion) or seurat_v3 (scanpy, on counts)",
                             choices=("seurat", "seurat_v3"))
    train_size: float = option(1.0, "fraction of each dataset's cells trained on; the rest is the validation "
                                     "split, its loss in the log (scVI's train_size)", metavar="F")
    val_datasets: Optional[List[str]] = option(None, "corpus datasets held out whole as the validation split",
                                               metavar="D1,D2")
    buffer_chunks: int = option(8, "corpus shuffle buffer: chunks of cells (from any file) shuffled together",
                                metavar="N")
    layer: Optional[str] = option(None, "layer holding the values (default: .X; SOMA: raw)", metavar="NAME")
    use_raw: bool = option(False, "read .raw.X instead of .X or a layer")
    is_log1p: bool = option(False, "the values are already log1p(CP10k)-normalised (default: raw counts, "
                                   "normalised here)", flag="--log1p")
    in_memory: bool = option(False, "load an .h5ad file in memory whatever its size (default: automatic, "
                                    "in memory when small)")
    backed: bool = option(False, "read an .h5ad file backed (rows streamed from disk) whatever its size "
                                 "(default: automatic, backed when large)")
    genes: Optional[List[str]] = option(None, "train on exactly these genes (default: all, or --n-top-genes)",
                                        metavar="G1,G2")
    n_top_genes: Optional[int] = option(None, "keep the N most variable genes (default: all)", metavar="N")
    batch_key: Optional[str] = option(None, "obs column with a batch covariate for the decoder ('dataset': a "
                                            "corpus's dataset ids)", metavar="COLUMN")
    target_sum: float = option(1e4, "counts per cell after normalisation (CP10k)", metavar="SUM")
    chunk_size: Optional[int] = option(None, "cells per chunk of chunk-shuffled reading (default: 8 x batch size "
                                             "for a backed file, off in memory; 0: off)", metavar="N")
    stats_cells: int = option(100_000, "cells sampled for the per-gene standardisation statistics", metavar="N")

    def __post_init__(self) -> None:
        if self.genes is not None and self.n_top_genes is not None:
            raise ValueError("data.genes and data.n_top_genes both fix the gene list; give one of them")
        if self.n_top_genes is not None and int(self.n_top_genes) < 1:
            raise ValueError(f"data.n_top_genes must be >= 1, got {self.n_top_genes}")
        if self.use_raw and self.layer is not None:
            raise ValueError(f"data.use_raw reads .raw.X; it cannot be combined with data.layer ({self.layer!r})")
        if float(self.target_sum) <= 0:
            raise ValueError(f"data.target_sum must be > 0, got {self.target_sum}")
        if self.chunk_size is not None and int(self.chunk_size) < 0:
            raise ValueError(f"data.chunk_size must be >= 0, got {self.chunk_size}")
        if self.in_memory and self.backed:
            raise ValueError("data.in_memory and data.backed both set: give one of them (neither: automatic)")
        if int(self.stats_cells) < 1:
            raise ValueError(f"data.stats_cells must be >= 1, got {self.stats_cells}")
        if not 0.0 < float(self.train_size) <= 1.0:
            raise ValueError(f"data.train_size must be in (0, 1], got {self.train_size}")
        if int(self.buffer_chunks) < 1:
            raise ValueError(f"data.buffer_chunks must be >= 1, got {self.buffer_chunks}")
        if isinstance(self.val_datasets, str):
            self.val_datasets = [v for v in self.val_datasets.split(",") if v]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class SCModelConfig:
    """An :class:`~bioR2.sc.model.ExpressionMAE`'s shape (the genes come from the data)."""

    hidden: List[int] = option(None, "encoder hidden sizes (the decoder mirrors them)", metavar="H1,H2",
                               default_factory=lambda: [512, 256])
    latent: int = option(128, "embedding size (columns of obsm['X_r2mae'])", metavar="N")
    dropout: float = option(0.1, "dropout in encoder and decoder", metavar="P")
    loss: str = option("mse", "mse on standardised log-expression, or nb: negative binomial on counts",
                       choices=("mse", "nb"))

    def __post_init__(self) -> None:
        self.hidden = [int(h) for h in self.hidden]
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"model.hidden must be positive sizes like [512, 256], got {self.hidden}")
        if int(self.latent) < 1:
            raise ValueError(f"model.latent must be >= 1, got {self.latent}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.loss not in ("mse", "nb"):
            raise ValueError(f"model.loss must be 'mse' or 'nb', got {self.loss!r}")


@dataclass
class SCTaskConfig:
    """The masked-expression objective."""

    only_nonzero: bool = option(False, "mask only detected (nonzero) genes, as scGPT does")
    count: str = option("exact", "masked genes per cell: exactly round(p x genes), or Bernoulli(p) each",
                        choices=("exact", "bernoulli"))

    def __post_init__(self) -> None:
        if self.count not in ("exact", "bernoulli"):
            raise ValueError(f"task.count must be 'exact' or 'bernoulli', got {self.count!r}")


def _opened(source: Any, d: SCDataConfig, reader: Any = None) -> None:
    """An already opened source (a CellSource or ExpressionReader) fixes where the values are read
    (and a reader also the genes and normalisation): data options saying otherwise are errors."""
    what = type(reader if reader is not None else source).__name__
    clash = []
    if d.layer is not None and d.layer != source.layer:
        clash.append(f"layer={d.layer!r} (it reads {source.where})")
    if d.use_raw and not source.use_raw:
        clash.append(f"use_raw=True (it reads {source.where})")
    if reader is not None:
        if d.is_log1p and not reader.is_log1p:
            clash.append("is_log1p=True (it reads counts)")
        if float(d.target_sum) != 1e4 and float(d.target_sum) != reader.target_sum:
            clash.append(f"target_sum={d.target_sum:g} (it uses {reader.target_sum:g})")
        if d.genes is not None or d.n_top_genes is not None:
            clash.append("genes / n_top_genes (its genes are fixed)")
    if clash:
        raise ValueError(f"pretrain sc: the data is an opened {what}; these data options disagree with it: "
                         + "; ".join(clash))


def build_data(source: Any, cfg, train_cfg) -> DomainData:
    """The training cells.

    ``source``: an AnnData (in memory or backed), an ``.h5ad`` path, a
    :class:`~bioR2.sc.data.CellSource`, an :class:`~bioR2.sc.data.ExpressionReader` (genes and
    normalisation already fixed), or ``(any of those, rows)`` to train on those rows only;
    ``None`` reads ``data.source``. The default batch size is capped to the number of cells.
    """
    import os
    from pathlib import Path

    import numpy as np

    from .data import (
        CellDataset,
        CellSource,
        ExpressionReader,
        H5adSource,
        choose_backed,
        highly_variable_genes,
        open_cells,
        read_labels,
    )
    from ..train import chunk_sampler_factory

    d = cfg.data
    read = None
    rows = None
    if isinstance(source, tuple):
        source, rows = source
    source = d.source if source is None else source
    from .corpus import build_corpus_data, is_corpus_source

    if is_corpus_source(source, d):  # several files, a folder, a glob, a corpus table or a SOMA URI
        if rows is not None:
            raise ValueError("pretrain sc: (data, rows) takes one dataset; split a corpus with train_size / "
                             "val_datasets")
        return build_corpus_data(source, cfg, train_cfg)
    if isinstance(source, (list, tuple)) and len(source) == 1:
        source = source[0]
    if source is None:
        raise ValueError("pretrain sc: no cells given (--h5ad FILE, or data.source in the config)")
    if isinstance(source, ExpressionReader):
        reader, cells = source, source.source
        _opened(cells, d, reader)
    else:
        if isinstance(source, CellSource):
            cells = source
            _opened(cells, d)
        else:
            backed = False if d.in_memory else (True if d.backed else None)
            if backed is None and isinstance(source, (str, os.PathLike)) and Path(source).is_file():
                auto, read = choose_backed(source, layer=d.layer, use_raw=bool(d.use_raw))
                backed = None if auto else False  # None: backed, or in memory with a warning if stored CSC
            cells = open_cells(source, layer=d.layer, use_raw=bool(d.use_raw), backed=backed)
        genes = d.genes
        if genes is None and d.n_top_genes is not None:
            genes = highly_variable_genes(cells, int(d.n_top_genes), is_log1p=bool(d.is_log1p),
                                          target_sum=float(d.target_sum))
        reader = ExpressionReader(cells, genes, is_log1p=bool(d.is_log1p), target_sum=float(d.target_sum))
    rows_arr = np.arange(reader.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows_arr.size == 0:
        raise ValueError(f"{cells.where}: no cells to train on")
    val_rows = None
    if float(d.train_size) < 1.0:  # scVI's train_size: a random share of the cells for validation
        pick = np.random.default_rng([int(train_cfg.seed), 7]).random(rows_arr.size) >= float(d.train_size)
        rows_arr, val_rows = rows_arr[~pick], rows_arr[pick]
        if rows_arr.size == 0 or val_rows.size == 0:
            raise ValueError(f"{cells.where}: train_size={d.train_size} leaves an empty training or validation split")

    batch_codes, categories = None, None
    if d.batch_key is not None:
        labels = read_labels(cells, d.batch_key)
        categories, batch_codes = np.unique(labels, return_inverse=True)
        categories = [str(c) for c in categories]

    if train_cfg.batch_size == TRAIN_DEFAULTS["batch_size"]:
        train_cfg.batch_size = min(train_cfg.batch_size, int(rows_arr.size))  # a small dataset: one batch
    if train_cfg.epochs is not None and float(train_cfg.epochs) == DEFAULT_EPOCHS:
        train_cfg.epochs = default_epochs(int(rows_arr.size))  # the default: fewer passes over a large dataset
    chunk_size = d.chunk_size
    if chunk_size is None and isinstance(cells, H5adSource):
        chunk_size = 8 * train_cfg.batch_size  # backed reads: every batch from one stretch of the file
    train = CellDataset(reader, rows_arr, batch_codes=batch_codes, with_counts=cfg.model.loss == "nb")
    val = None if val_rows is None else CellDataset(reader, val_rows, batch_codes=batch_codes,
                                                    with_counts=cfg.model.loss == "nb")

    if read is None or isinstance(cells, H5adSource) != read.startswith("backed"):
        read = "backed" if isinstance(cells, H5adSource) else "in memory"
        if d.in_memory or d.backed:
            read += " (asked)"
    setup = {"layer": cells.layer, "use_raw": cells.use_raw, "batch_key": d.batch_key}
    info = {"source": cells.where, "read": read, "n_cells": int(cells.n_obs), "n_train_cells": int(rows_arr.size),
            "epochs": train_cfg.epochs, "steps": train_cfg.steps_for_examples(int(rows_arr.size)),
            "n_genes": len(reader.genes), **setup, "is_log1p": reader.is_log1p,
            "target_sum": reader.target_sum, "batch_categories": categories,
            "gene_alignment": reader.alignment.report(), "data": d.to_dict(),
            "n_val_cells": 0 if val_rows is None else int(val_rows.size)}
    content = {"reader": reader, "rows": rows_arr, "batch_categories": categories, "setup": setup}
    return DomainData(train=train, val=val, content=content, info=info,
                      sampler_factory=chunk_sampler_factory(int(chunk_size)) if chunk_size else None)


def build_model(cfg, data: DomainData, train_cfg):
    """An :class:`~bioR2.sc.model.ExpressionMAE` over the reader's genes, its gene statistics from
    the training cells, with the data set-up (layer, use_raw, batch key) saved in its config."""
    from .model import ExpressionMAE

    c = data.content
    return ExpressionMAE.for_reader(c["reader"], c["rows"], stats_cells=int(cfg.data.stats_cells),
                                    seed=train_cfg.seed, batch_categories=c["batch_categories"],
                                    **c["setup"], **asdict(cfg.model))


def build_task(model, cfg, data: DomainData):
    from .task import ExpressionMAETask

    reader = data.content["reader"]
    if list(model.genes) != list(reader.genes):
        raise ValueError(f"pretrain sc: the model reads {len(model.genes)} genes that are not the data's "
                         f"{len(reader.genes)} genes in order")
    data.train.with_counts = model.loss == "nb"  # the model's loss (a resumed or given model) decides
    return ExpressionMAETask(model, **asdict(cfg.task))


def finish(result, cfg, data: DomainData) -> Dict[str, Any]:
    """The run's cells and genes in its summary (the data set-up is in the model's config.json,
    the provenance in data.json)."""
    out = {"n_cells": data.info["n_train_cells"], "n_genes": data.info["n_genes"]}
    if data.info.get("gene_overlap"):  # a corpus: how much of the vocabulary each file measures
        out["gene_overlap"] = {r["dataset"]: f"{r['n_vocab_measured']}/{data.info['n_genes']} "
                                             f"({100 * r['vocab_overlap']:.1f}%)" for r in data.info["gene_overlap"]}
    return out


SPEC = DomainSpec(
    name="sc",
    description="pretrain an expression masked autoencoder on single-cell counts (.h5ad)",
    default_ratio=DEFAULT_RATIO,
    sections={"data": SCDataConfig, "model": SCModelConfig, "task": SCTaskConfig},
    train_defaults=TRAIN_DEFAULTS,
    presets=(
        Preset("sc-tiny", "MLP 64 -> 16: tests and install checks", {"model": {"hidden": [64], "latent": 16}}),
        Preset("sc-small", "MLP 512,256 -> 128 (the default shape)",
               {"model": {"hidden": [512, 256], "latent": 128}}),
        Preset("sc-base", "MLP 1024,512 -> 128: 2000+ genes, 100k+ cells",
               {"model": {"hidden": [1024, 512], "latent": 128}}),
    ),
    build_data=build_data,
    build_model=build_model,
    build_task=build_task,
    finish=finish,
    source_help="an AnnData or .h5ad path; a list of them, a folder, a glob or a corpus table (a corpus)",
)

# bioR2.sc.pretrain(adata, out, ...): the one pretrain with the domain filled in.
pretrain = domain_pretrain(SPEC)
