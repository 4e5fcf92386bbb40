"""Single-cell: pretrain an expression masked autoencoder with R²MAE on AnnData, embed cells,
annotate cell types.

Three calls from an ``.h5ad`` of counts::

    import anndata, bioR2.sc
    adata = anndata.read_h5ad("cells.h5ad")
    result = bioR2.sc.pretrain(adata, "runs/cells", layer="counts", steps=2000)  # R²MAE U(0.1, 0.5)
    model = result.model                                          # or the run folder "runs/cells"
    bioR2.sc.embed(adata, model, umap=True)      # obsm["X_r2mae"], obsm["X_umap_r2mae"]; reads layer "counts"
    bioR2.sc.annotate(query, model, reference=adata, label_key="cell_type")
    # query.obs["r2mae_label"] ("Unknown" below min_confidence), query.obs["r2mae_confidence"]

Both write in place and return ``None`` (``copy=True``: a new AnnData), put results only under
keys you can name (``key_added``, ``neighbors_key``, ``key_prefix``), refuse to replace an existing
key unless ``overwrite=True`` (your ``X_umap`` and ``uns["neighbors"]`` are never touched), record
how each result was made in ``uns["bior2"]``, and run on ``device="auto"`` (CUDA when available).

The model remembers where its training values were (``layer``, ``use_raw``), how they were
normalised and the batch key, as scvi-tools' ``setup_anndata`` does, so ``embed`` and ``annotate``
read the query the same way unless given ``layer=`` / ``use_raw=``.

A corpus of files with different genes pretrains one model: ``bioR2.sc.pretrain(["a.h5ad",
"b.h5ad"], "runs/c")``, a folder, a glob or a corpus table (``corpus.csv``); see ``corpus``,
``vocab`` and ``soma`` (TileDB-SOMA input).

Modules: ``spec`` (configs, presets and builders behind ``bioR2.pretrain("sc", ...)``), ``data``
(AnnData sources, gene alignment, normalisation, datasets), ``model`` (the expression MAE),
``task`` (the masked-expression loss), ``annotate`` (embeddings, probes, fine-tuning, files),
``io`` (checks on option values; writing fields into a copy of an ``.h5ad``).
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.sc` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "annotate": (
        "EMBED_KEY", "DEFAULT_MIN_CONFIDENCE", "UNKNOWN", "Annotation", "CellTypeClassifier", "LinearProbe",
        "LowGeneOverlapWarning", "annotate", "annotate_file", "embed", "embed_file", "embed_reader", "fine_tune",
        "read_setup", "reader_for"
    ),
    "data": (
        "CellDataset", "ExpressionReader", "GeneAlignment",
        "highly_variable_genes", "open_cells"
    ),
    "model": ("ExpressionMAE",),
    "corpus": ("CorpusEntry", "CorpusReader", "corpus_entries", "read_corpus_table"),
    "vocab": ("build_vocabulary",),
    "spec": ("SPEC", "DEFAULT_RATIO",),
    "config": ("SCDataConfig", "SCModelConfig", "SCTaskConfig",),
    "api": ("pretrain",),
    "io": ("copy_h5ad_with",),
    "task": ("ExpressionMAETask", "masked_mse", "reconstruction_error"),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .annotate import (
        DEFAULT_MIN_CONFIDENCE,
        EMBED_KEY,
        UNKNOWN,
        Annotation,
        CellTypeClassifier,
        LinearProbe,
        LowGeneOverlapWarning,
        annotate,
        annotate_file,
        embed,
        embed_file,
        embed_reader,
        fine_tune,
        read_setup,
        reader_for,
    )
    from .data import (
        CellDataset,
        ExpressionReader,
        GeneAlignment,
        highly_variable_genes,
        open_cells,
    )
    from .corpus import CorpusEntry, CorpusReader, corpus_entries, read_corpus_table
    from .model import ExpressionMAE
    from .vocab import build_vocabulary
    from .io import copy_h5ad_with
    from .api import pretrain
    from .config import SCDataConfig, SCModelConfig, SCTaskConfig
    from .spec import SPEC, DEFAULT_RATIO
    from .task import ExpressionMAETask, masked_mse, reconstruction_error

__all__ = [
    "pretrain",
    "SPEC",
    "SCDataConfig",
    "SCModelConfig",
    "SCTaskConfig",
    "DEFAULT_RATIO",
    "embed",
    "embed_reader",
    "embed_file",
    "annotate",
    "annotate_file",
    "read_setup",
    "copy_h5ad_with",
    "fine_tune",
    "LinearProbe",
    "CellTypeClassifier",
    "Annotation",
    "ExpressionMAE",
    "ExpressionMAETask",
    "masked_mse",
    "reconstruction_error",
    "open_cells",
    "ExpressionReader",
    "GeneAlignment",
    "CellDataset",
    "highly_variable_genes",
    "reader_for",
    "EMBED_KEY",
    "DEFAULT_MIN_CONFIDENCE",
    "UNKNOWN",
    "LowGeneOverlapWarning",
    "CorpusEntry",
    "CorpusReader",
    "corpus_entries",
    "read_corpus_table",
    "build_vocabulary",
]
