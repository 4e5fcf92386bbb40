"""Single-cell: pretrain an expression masked autoencoder with R²MAE on AnnData, embed cells,
annotate cell types.

Three calls from an ``.h5ad`` of counts::

    import anndata, bioR2.sc
    adata = anndata.read_h5ad("cells.h5ad")
    model = bioR2.sc.pretrain(adata, layer="counts", out="runs/cells", steps=2000)  # R²MAE U(0.1, 0.5)
    bioR2.sc.embed(adata, model, layer="counts", umap=True)      # obsm["X_r2mae"], obsm["X_umap"]
    bioR2.sc.annotate(query, model, reference=adata, label_key="cell_type", layer="counts")
    # query.obs["r2mae_label"], query.obs["r2mae_confidence"]
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.sc` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "annotate": (
        "EMBED_KEY", "Annotation", "CellTypeClassifier", "LinearProbe", "annotate", "embed",
        "embed_reader", "fine_tune", "reader_for"
    ),
    "data": (
        "CellDataset", "ChunkShuffleSampler", "ExpressionReader", "GeneAlignment",
        "highly_variable_genes", "open_cells"
    ),
    "model": ("ExpressionMAE",),
    "pretrain": ("pretrain", "pretrain_reader"),
    "task": ("ExpressionMAETask", "masked_mse", "reconstruction_error"),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .annotate import (
        EMBED_KEY,
        Annotation,
        CellTypeClassifier,
        LinearProbe,
        annotate,
        embed,
        embed_reader,
        fine_tune,
        reader_for,
    )
    from .data import (
        CellDataset,
        ChunkShuffleSampler,
        ExpressionReader,
        GeneAlignment,
        highly_variable_genes,
        open_cells,
    )
    from .model import ExpressionMAE
    from .pretrain import pretrain, pretrain_reader
    from .task import ExpressionMAETask, masked_mse, reconstruction_error

__all__ = [
    "pretrain",
    "pretrain_reader",
    "embed",
    "embed_reader",
    "annotate",
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
    "ChunkShuffleSampler",
    "highly_variable_genes",
    "reader_for",
    "EMBED_KEY",
]
