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

from dataclasses import asdict
from typing import Any, Dict

from ..domain import Command, DomainData, DomainSpec, ModelCard, Preset
from .config import SCDataConfig, SCModelConfig, SCTaskConfig

__all__ = ["SPEC", "SCDataConfig", "SCModelConfig", "SCTaskConfig", "DEFAULT_RATIO", "DEFAULT_EPOCHS",
           "default_epochs"]

DEFAULT_RATIO = "0.1-0.5"  # the single-cell R²MAE range, written once for the package

# The recipe chosen on a validation split of cbmc's training cells (benchmarks/sc_recipe_search.py,
# RESULTS.md "Single-cell recipe"): 50 epochs of the data (not a fixed step count), MLP 512,256 -> 128.
DEFAULT_EPOCHS = 50.0
DEFAULT_BATCH_SIZE = 256
# None: automatic for the run's cells (resolve_train below): 256 cells a step (all of them when
# fewer), and default_epochs(n) passes unless the run gives train.steps or train.epochs.
TRAIN_DEFAULTS: Dict[str, Any] = {"steps": None, "epochs": None, "batch_size": None}


def default_epochs(n_cells: int) -> float:
    """The default number of passes over ``n_cells`` training cells: 50 up to 160,000 cells, then
    fewer so the run stays near 31,000 steps of 256 cells (scVI's default shrinks its epochs with
    the dataset likewise): 1,000,000 cells get 8 epochs."""
    return float(min(DEFAULT_EPOCHS, max(1, round(8_000_000 / max(1, int(n_cells))))))


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
        check_requested_genes,
        choose_backed,
        highly_variable_genes,
        open_cells,
        read_labels,
        refuse_log_normalised_raw,
    )

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
        if genes is not None:
            check_requested_genes(cells, genes)
        if d.use_raw and not d.is_log1p:
            refuse_log_normalised_raw(cells)
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

    train = CellDataset(reader, rows_arr, batch_codes=batch_codes, with_counts=cfg.model.loss == "nb")
    val = None if val_rows is None else CellDataset(reader, val_rows, batch_codes=batch_codes,
                                                    with_counts=cfg.model.loss == "nb")

    if read is None or isinstance(cells, H5adSource) != read.startswith("backed"):
        read = "backed" if isinstance(cells, H5adSource) else "in memory"
        if d.in_memory or d.backed:
            read += " (asked)"
    setup = {"layer": cells.layer, "use_raw": cells.use_raw, "batch_key": d.batch_key}
    info = {"source": cells.where, "read": read, "n_cells": int(cells.n_obs), "n_train_cells": int(rows_arr.size),
            "n_genes": len(reader.genes), **setup, "is_log1p": reader.is_log1p,
            "target_sum": reader.target_sum, "batch_categories": categories,
            "gene_alignment": reader.alignment.report(), "data": d.to_dict(),
            "n_val_cells": 0 if val_rows is None else int(val_rows.size)}
    content = {"reader": reader, "rows": rows_arr, "batch_categories": categories, "setup": setup,
               "backed": isinstance(cells, H5adSource)}
    return DomainData(train=train, val=val, content=content, info=info)


def resolve_train(cfg, train_cfg, data: DomainData):
    """The single-cell automatic train settings for this run's cells: a batch of 256 cells (all
    of them when fewer), :func:`default_epochs` passes unless steps or epochs were given, and
    chunk-shuffled reading of a backed file (``data.chunk_size``: 8 batches by default)."""
    from dataclasses import replace

    from ..train import chunk_sampler_factory

    n_cells = int(data.epoch_size or len(data.train))  # a corpus: its weighted pass over the datasets
    changes: Dict[str, Any] = {}
    if train_cfg.batch_size is None:  # a small dataset: one batch
        changes["batch_size"] = min(DEFAULT_BATCH_SIZE, n_cells, len(data.train))
    if train_cfg.steps is None and train_cfg.epochs is None:
        changes["epochs"] = default_epochs(n_cells)  # fewer passes over a large dataset
    train_cfg = replace(train_cfg, **changes)
    reading = data.content.get("reading")
    if reading is not None:  # a corpus sets up its chunked, buffered reads for the batch size
        data.sampler_factory = reading(int(train_cfg.batch_size))
    else:
        chunk_size = cfg.data.chunk_size
        if chunk_size is None and data.content["backed"]:
            chunk_size = 8 * int(train_cfg.batch_size)  # backed reads: every batch from one stretch of the file
        if chunk_size:
            data.sampler_factory = chunk_sampler_factory(int(chunk_size))
    data.info.update(epochs=train_cfg.epochs, steps=train_cfg.steps_for_examples(n_cells))
    return train_cfg


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
        # The single-cell benchmark's recipes (bior2 benchmark sc [--quick]): the default shape for a fixed
        # number of passes over each model's pretraining cells (50: the recipe chosen on a validation split,
        # benchmarks/sc_recipe_search.py; quick: 10).
        Preset("sc-bench", "bior2 benchmark sc: MLP 512,256 -> 128, 50 epochs x 256 cells, lr 1e-3",
               {"model": {"hidden": [512, 256], "latent": 128},
                "train": {"epochs": DEFAULT_EPOCHS, "batch_size": DEFAULT_BATCH_SIZE, "lr": 1e-3}}),
        Preset("sc-corpus-bench-quick", "bior2 benchmark sc-corpus --quick: MLP 64 -> 16, 2 epochs x 256 cells, "
               "lr 1e-3",
               {"model": {"hidden": [64], "latent": 16},
                "train": {"epochs": 2.0, "batch_size": DEFAULT_BATCH_SIZE, "lr": 1e-3}}),
        Preset("sc-bench-quick", "bior2 benchmark sc --quick: MLP 512,256 -> 128, 10 epochs x 256 cells, lr 1e-3",
               {"model": {"hidden": [512, 256], "latent": 128},
                "train": {"epochs": 10.0, "batch_size": DEFAULT_BATCH_SIZE, "lr": 1e-3}}),
    ),
    build_data=build_data,
    build_model=build_model,
    build_task=build_task,
    finish=finish,
    resolve=resolve_train,
    source_help="an AnnData or .h5ad path; a list of them, a folder, a glob or a corpus table (a corpus)",
    display_name="single-cell",
    card=ModelCard(
        what="single-cell expression model",
        tags=("single-cell", "scRNA-seq", "transcriptomics"),
        use=("Cell embeddings (`bior2 embed --model {repo} --h5ad cells.h5ad --out embedded.h5ad`) and "
             "cell-type annotation from a labelled reference (`bior2 annotate --model {repo} --reference ref.h5ad "
             "--label-key cell_type --query query.h5ad --out annotated.h5ad`)."),
        limits=("The model knows only the genes in its config (query genes are aligned by symbol; `--min-overlap` "
                "guards low overlap). Cells from other species, tissues, assays or normalisations than the "
                "training data may embed poorly; labels transferred by annotation need expert review. "
                "Not for clinical use."),
        pipeline_tag="feature-extraction",
    ),
    fixed_ratio=0.15,  # scBERT-style
    per_example_ratios=True,
    compare_ratios=("0.15", "0.3", "0.5"),
    eval_ratios=(0.1, 0.3, 0.5, 0.7),
    commands=(
        Command("embed", None, "bioR2.sc.cli", "embed", "embed cells: writes obsm['X_r2mae']"),
        Command("annotate", None, "bioR2.sc.cli", "annotate", "annotate query cells from a labelled reference"),
        Command("benchmark", "sc", "bioR2.bench.cli", "benchmark_sc", "cell-type annotation benchmark"),
        Command("benchmark", "sc-corpus", "bioR2.bench.cli", "benchmark_sc_corpus",
                "zero-shot embedding of a held-out dataset by a corpus model (leave one dataset out)"),
    ),
)
