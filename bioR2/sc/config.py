"""The single-cell domain's config sections: data (cells, values, genes), model, task.

Plain dataclasses, one per config section, whose field defaults are the domain's defaults; the
spec (``spec.py``) declares them, ``bior2 pretrain sc`` makes one flag per field. Standard
library only (the CLI reads them without torch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from ..domain import option

__all__ = ["SCDataConfig", "SCModelConfig", "SCTaskConfig"]


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

