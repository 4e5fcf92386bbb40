"""The gene vocabulary of a corpus: which genes a foundation model reads.

* ``"hvg"`` (the default): the ``n_top`` genes most often highly variable across the files.
  Each file ranks its own genes (its ``var["highly_variable"]`` flags when it has them, else
  Seurat dispersion streamed over a sample of its cells, or scanpy's ``seurat_v3`` on counts);
  genes are ordered by the number of files that call them highly variable, then by their mean
  rank, as scanpy's ``batch_key`` variant does.
* ``"union"`` / ``"intersection"`` of the files' genes.
* a list of genes, or a text file with one gene per line.

Genes are matched by name after each file's ``gene_key`` (see :mod:`bioR2.sc.corpus`), so a
file keyed by Ensembl ids with symbols in ``feature_name`` meets files keyed by symbols.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .data import CellSource, dispersion_scores, sample_rows

__all__ = ["build_vocabulary", "read_gene_file", "VOCAB_MODES", "DEFAULT_N_TOP", "file_hvg_ranks"]

VOCAB_MODES = ("hvg", "union", "intersection")
DEFAULT_N_TOP = 2000
HVG_FLAVORS = ("seurat", "seurat_v3")


def read_gene_file(path: Union[str, os.PathLike]) -> List[str]:
    """Genes from a text file, one per line (blank lines and ``#`` comments skipped)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such gene list; give hvg, union, intersection or a file with one gene a line")
    genes = [line.strip() for line in p.read_text().splitlines()]
    genes = [g for g in genes if g and not g.startswith("#")]
    if not genes:
        raise ValueError(f"{p}: the gene list is empty")
    dups = sorted({g for g in genes if genes.count(g) > 1})
    if dups:
        raise ValueError(f"{p}: genes listed twice: {dups[:5]}; list each gene once")
    return genes


def _flagged(flags: Optional[np.ndarray], names: pd.Index) -> Optional[np.ndarray]:
    if flags is None:
        return None
    flags = np.asarray(flags, dtype=bool)
    return flags if flags.size == len(names) and flags.any() else None


def file_hvg_ranks(source: CellSource, n_top: int, *, flavor: str = "seurat", is_log1p: bool = False,
                   target_sum: float = 1e4, flags: Optional[np.ndarray] = None, max_cells: int = 20_000,
                   seed: int = 0) -> Dict[str, int]:
    """Gene -> rank (0 = most variable) of a file's ``n_top`` highly variable genes.

    ``flags``: the file's own ``var["highly_variable"]`` (honoured as given; ranked in file
    order). Otherwise computed on up to ``max_cells`` cells: ``seurat`` dispersion on the
    normalised values, or ``seurat_v3`` (scanpy; needs counts and the ``scikit-misc`` package).
    """
    names = pd.Index(source.var_names)
    chosen = _flagged(flags, names)
    if chosen is not None:
        return {str(g): i for i, g in enumerate(names[chosen])}
    rows = sample_rows(np.arange(source.n_obs), max_cells, seed)
    if flavor == "seurat_v3":
        if is_log1p:
            raise ValueError(f"{source.where}: --hvg-flavor seurat_v3 ranks genes on counts, but the values are "
                             "log-normalised (--log1p); use --hvg-flavor seurat or point --layer at counts")
        import anndata
        import scanpy as sc
        import scipy.sparse as sp

        block = source.read_rows(np.sort(rows))
        adata = anndata.AnnData(sp.csr_matrix(block, dtype=np.float32), var=pd.DataFrame(index=names))
        try:
            sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=min(n_top, adata.n_vars))
        except ImportError as exc:
            raise ImportError(f"--hvg-flavor seurat_v3 needs scikit-misc ({exc}); pip install 'bior2[hvg]', "
                              "or use --hvg-flavor seurat") from None
        rank = adata.var["highly_variable_rank"].to_numpy()
        keep = np.flatnonzero(np.isfinite(rank))
        order = keep[np.argsort(rank[keep], kind="stable")][:n_top]
        return {str(names[i]): r for r, i in enumerate(order)}
    z = dispersion_scores(source, is_log1p=is_log1p, target_sum=target_sum, rows=rows)
    order = [i for i in np.argsort(-z, kind="stable")[:n_top] if np.isfinite(z[i])]
    return {str(names[i]): r for r, i in enumerate(order)}


def build_vocabulary(sources: Sequence[CellSource], mode: Union[str, Sequence[str]] = "hvg", *,
                     n_top: Optional[int] = None, flavor: str = "seurat", is_log1p: bool = False,
                     target_sum: float = 1e4, flags: Optional[Sequence[Optional[np.ndarray]]] = None,
                     max_cells: int = 20_000, seed: int = 0) -> List[str]:
    """The corpus's gene vocabulary (see the module docstring).

    ``mode``: ``"hvg"``, ``"union"``, ``"intersection"``, a path to a gene file, or a list of
    genes. ``n_top`` (hvg; default 2000) genes at most; ``flags`` per source: its
    ``var["highly_variable"]`` or ``None``.
    """
    if not isinstance(mode, str):
        genes = [str(g) for g in mode]
        if not genes:
            raise ValueError("the gene list is empty")
        return genes
    if mode not in VOCAB_MODES:
        return read_gene_file(mode)
    names = [list(map(str, s.var_names)) for s in sources]
    if mode == "union":
        seen: Dict[str, None] = {}
        for ns in names:
            seen.update(dict.fromkeys(g for g in ns if not g.startswith("__unnamed_")))
        return list(seen)
    if mode == "intersection":
        common = set(names[0]).intersection(*map(set, names[1:]))
        genes = [g for g in names[0] if g in common and not g.startswith("__unnamed_")]
        if not genes:
            where = ", ".join(s.where for s in sources)
            raise ValueError(f"the files share no gene ({where}); use --vocab union or hvg, or name genes alike "
                             "(gene_key, e.g. feature_name)")
        return genes
    if flavor not in HVG_FLAVORS:
        raise ValueError(f"hvg_flavor must be one of {HVG_FLAVORS}, got {flavor!r}")
    n_top = DEFAULT_N_TOP if n_top is None else int(n_top)
    if n_top < 1:
        raise ValueError(f"n_top_genes must be >= 1, got {n_top}")
    flags = list(flags) if flags is not None else [None] * len(sources)
    n_files: Dict[str, int] = {}
    rank_sum: Dict[str, float] = {}
    for i, source in enumerate(sources):
        ranks = file_hvg_ranks(source, n_top, flavor=flavor, is_log1p=is_log1p, target_sum=target_sum,
                               flags=flags[i], max_cells=max_cells, seed=seed + i)
        for g, r in ranks.items():
            if g.startswith("__unnamed_"):
                continue
            n_files[g] = n_files.get(g, 0) + 1
            rank_sum[g] = rank_sum.get(g, 0.0) + r
    order = sorted(n_files, key=lambda g: (-n_files[g], rank_sum[g] / n_files[g], g))
    if not order:
        raise ValueError("no gene is expressed in any file of the corpus")
    return order[:n_top]
