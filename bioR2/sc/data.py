"""AnnData in: counts or log-normalised expression, aligned to a fixed gene list, in batches.

The pieces, from the file to the model:

* :func:`open_cells` gives a :class:`CellSource` over an in-memory :class:`~anndata.AnnData`
  or an ``.h5ad`` on disk (``backed=True``: rows are read from the file on demand, so memory
  stays flat however large the file). The user names where the values live: ``layer=`` (default
  ``.X``) or ``use_raw=True`` (``.raw.X``).
* :class:`GeneAlignment` maps a dataset's ``var_names`` onto the model's gene list: missing
  genes are *unobserved* (read as 0 but flagged, so the model hides them instead of reading a
  measured 0: see :attr:`ExpressionReader.observed_genes`), extra genes ignored, and a dataset
  sharing too few genes is refused with the numbers in the message (scvi-tools' rule: never silently misread a query).
* :class:`ExpressionReader` reads rows, checks them (NaN/inf, negative values), and turns
  counts into CP10k + log1p (library size over the model's genes, so a query's extra genes do
  not change it; a query's missing genes count as zero, so its library size is over the shared
  genes only and those are scaled up accordingly: the lower the overlap, the larger that shift).
* :class:`CellDataset` is the map-style dataset the shared trainer consumes; it reads a whole
  batch in one call (``__getitems__``), and :class:`ChunkShuffleSampler` orders indices so that
  every batch comes from one contiguous stretch of the file (shuffled chunks).

Nothing here densifies a whole sparse matrix: only one batch or chunk is dense at a time, except
the model input a :class:`CellDataset` over an in-memory source keeps when it is small (at most
``CACHE_MAX_BYTES``, dense float32), so that training reads and normalises each row once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..utils.warn import caller_stacklevel

__all__ = [
    "unique_gene_names",
    "CellSource",
    "CSCStorageError",
    "open_cells",
    "GeneAlignment",
    "ExpressionReader",
    "CellDataset",
    "iter_chunks",
    "gene_moments",
    "sample_rows",
    "highly_variable_genes",
    "dispersion_scores",
    "read_labels",
    "labelled_rows",
    "DEFAULT_TARGET_SUM",
    "DEFAULT_MIN_OVERLAP",
    "IN_MEMORY_MAX_FILE_BYTES",
    "IN_MEMORY_MAX_MATRIX_BYTES",
    "CACHE_MAX_BYTES",
    "choose_backed",
]

DEFAULT_TARGET_SUM = 1e4
DEFAULT_MIN_OVERLAP = 0.5
# Pretraining reads an .h5ad in memory unless it is large (see choose_backed): above either of
# these it is read backed, rows streamed from disk, so memory stays flat whatever the file size.
IN_MEMORY_MAX_FILE_BYTES = 1_000_000_000  # the file on disk (anndata loads every field of it)
IN_MEMORY_MAX_MATRIX_BYTES = 2_000_000_000  # the matrix read, as it would sit in memory
# Backed reads of rows spread over at most this many times their number of rows read the whole
# stretch as one slice (one contiguous HDF5 read) and pick the rows in memory.
SPAN_READ_FACTOR = 16
# A CellDataset over a source held in memory keeps its rows' model input (dense float32) when it
# takes at most this much memory, read once instead of once per batch (see CellDataset).
CACHE_MAX_BYTES = 1_000_000_000
CACHE_CHUNK = 4096  # rows read per call while the cache is built

AnnDataLike = Any  # anndata.AnnData; kept loose so this module imports without anndata loaded


# --------------------------------------------------------------------------- sources
class CellSource:
    """Rows of one expression matrix plus its gene names and cell metadata.

    ``read_rows(indices)`` returns the raw values of those rows (in that order) as a CSR matrix
    or a dense array; ``where`` names the file and field for error messages; ``layer`` and
    ``use_raw`` say which field that is (``None``/``False``: ``.X``).
    """

    n_obs: int
    var_names: pd.Index
    where: str
    layer: Optional[str] = None
    use_raw: bool = False

    def read_rows(self, indices: np.ndarray) -> Union[sp.csr_matrix, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def obs_column(self, key: str) -> pd.Series:  # pragma: no cover
        raise NotImplementedError

    @property
    def obs_names(self) -> pd.Index:  # pragma: no cover
        raise NotImplementedError


def _field_name(layer: Optional[str], use_raw: bool) -> str:
    if use_raw:
        return ".raw.X"
    return f".layers[{layer!r}]" if layer is not None else ".X"


def _check_shape(n_obs: int, n_vars: int, where: str) -> None:
    if n_obs == 0 or n_vars == 0:
        raise ValueError(f"{where}: the expression matrix is empty ({n_obs} cells x {n_vars} genes)")


def _check_var_names(names: pd.Index, where: str) -> pd.Index:
    names = pd.Index(names.astype(str))
    if names.has_duplicates:
        dups = names[names.duplicated()].unique()[:5].tolist()
        raise ValueError(
            f"{where}: var_names has {int(names.duplicated().sum())} duplicate gene name(s), e.g. "
            f"{dups}; make them unique first (e.g. adata.var_names_make_unique())"
        )
    return names


class MemorySource(CellSource):
    """A :class:`CellSource` over an AnnData held in memory."""

    def __init__(self, adata: AnnDataLike, layer: Optional[str] = None, use_raw: bool = False,
                 where: Optional[str] = None) -> None:
        name = where or "AnnData"
        field = _field_name(layer, use_raw)
        self.where = f"{name} {field}"
        self.layer, self.use_raw = (None if use_raw else layer), bool(use_raw)
        if use_raw:
            if adata.raw is None:
                raise ValueError(f"{name}: use_raw=True but .raw is empty")
            matrix, var_names = adata.raw.X, adata.raw.var_names
        elif layer is not None:
            if layer not in adata.layers:
                raise ValueError(f"{name}: no layer {layer!r}; layers are {sorted(adata.layers.keys())}")
            matrix, var_names = adata.layers[layer], adata.var_names
        else:
            matrix, var_names = adata.X, adata.var_names
        if matrix is None:
            raise ValueError(f"{self.where}: the matrix is missing")
        if sp.issparse(matrix):
            matrix = sp.csr_matrix(matrix)  # CSC -> CSR (row access), never densified
        else:
            matrix = np.asarray(matrix)
        _check_shape(matrix.shape[0], matrix.shape[1], self.where)
        self.matrix = matrix
        self.n_obs = int(matrix.shape[0])
        self.var_names = _check_var_names(pd.Index(var_names), f"{name} var_names")
        self._obs = adata.obs
        self._name = name

    def read_rows(self, indices: np.ndarray):
        return self.matrix[np.asarray(indices, dtype=np.int64)]

    def obs_column(self, key: str) -> pd.Series:
        if key not in self._obs.columns:
            raise ValueError(f"{self._name}: obs has no column {key!r}; columns are {list(self._obs.columns)}")
        return self._obs[key]

    @property
    def obs_names(self) -> pd.Index:
        return self._obs.index


class CSCStorageError(ValueError):
    """An ``.h5ad`` matrix stored CSC, which cannot be read row by row from disk."""


class H5adSource(CellSource):
    """A :class:`CellSource` that reads rows straight from an ``.h5ad`` file (backed mode).

    Sparse matrices must be stored CSR (the AnnData default) so a row read touches only that
    row's data. The file is opened lazily in each process, so DataLoader workers each get their
    own handle.
    """

    def __init__(self, path: Union[str, os.PathLike], layer: Optional[str] = None,
                 use_raw: bool = False) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such .h5ad file")
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path}: is a folder; give an .h5ad file")
        if use_raw:
            self._key, self._var_key = "raw/X", "raw/var"
        elif layer is not None:
            self._key, self._var_key = f"layers/{layer}", "var"
        else:
            self._key, self._var_key = "X", "var"
        self.where = f"{self.path} {_field_name(layer, use_raw)}"
        self.layer, self.use_raw = (None if use_raw else layer), bool(use_raw)
        try:
            fh = h5py.File(self.path, "r")
        except OSError as exc:
            reason = str(exc).split(" (")[0].split(",")[0]  # h5py's own errno dump says nothing more
            raise ValueError(f"{self.path}: not an HDF5/.h5ad file ({reason}); give an .h5ad file") from None
        with fh:
            if self._key not in fh:
                if layer is not None and not use_raw:
                    have = sorted(fh["layers"].keys()) if "layers" in fh else []
                    raise ValueError(f"{self.path}: no layer {layer!r}; layers are {have}")
                raise ValueError(f"{self.path}: has no {_field_name(layer, use_raw)} matrix")
            node = fh[self._key]
            if isinstance(node, h5py.Group):
                encoding = node.attrs.get("encoding-type", "")
                if isinstance(encoding, bytes):
                    encoding = encoding.decode()
                if encoding == "csc_matrix":
                    raise CSCStorageError(
                        f"{self.where}: stored as CSC; backed row reads need CSR. Load it in memory "
                        "(backed=False, or --in-memory) or rewrite it: adata.X = adata.X.tocsr(); "
                        "adata.write_h5ad(...)"
                    )
                if encoding != "csr_matrix":
                    raise ValueError(f"{self.where}: unsupported matrix encoding {encoding!r}")
                shape = tuple(int(s) for s in node.attrs["shape"])
                self._sparse = True
            else:
                shape = tuple(node.shape)
                self._sparse = False
            self.var_names = _check_var_names(self._read_index(fh, self._var_key), f"{self.path} var_names")
            self._obs_index = self._read_index(fh, "obs")
        self.n_obs = int(shape[0])
        _check_shape(shape[0], shape[1], self.where)
        if len(self.var_names) != shape[1]:
            raise ValueError(f"{self.where}: {shape[1]} columns but {len(self.var_names)} var_names")
        self._fh = None
        self._pid = None
        self._matrix = None

    @staticmethod
    def _read_index(fh, key: str) -> pd.Index:
        group = fh[key]
        index_key = group.attrs.get("_index", "_index")
        if isinstance(index_key, bytes):
            index_key = index_key.decode()
        values = group[index_key][()]
        if values.dtype.kind in ("O", "S"):
            values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
        return pd.Index(values)

    def _open(self):
        import h5py

        if self._fh is None or self._pid != os.getpid():
            self._fh = h5py.File(self.path, "r")
            self._pid = os.getpid()
            node = self._fh[self._key]
            if self._sparse:
                from anndata.io import sparse_dataset

                self._matrix = sparse_dataset(node)
            else:
                self._matrix = node
        return self._matrix

    def read_rows(self, indices: np.ndarray):
        matrix = self._open()
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            return sp.csr_matrix((0, len(self.var_names)), dtype=np.float32)
        # HDF5 wants increasing indices: read the sorted unique rows, then put them back in order.
        # Rows close together (a chunk-shuffled batch: a few hundred rows out of a stretch of a few
        # thousand) are read as the one slice that spans them and picked in memory, many times
        # faster than a fancy-indexed read; rows scattered across the file are read one by one.
        uniq, inverse = np.unique(indices, return_inverse=True)
        lo, hi = int(uniq[0]), int(uniq[-1]) + 1
        if hi - lo <= SPAN_READ_FACTOR * uniq.size:
            block = matrix[lo:hi]
            block = sp.csr_matrix(block) if self._sparse else np.asarray(block)
            if hi - lo != uniq.size:
                block = block[uniq - lo]
        else:
            block = matrix[uniq]
            block = sp.csr_matrix(block) if self._sparse else np.asarray(block)
        already_in_order = inverse.size == uniq.size and bool(np.all(np.diff(indices) > 0))
        return block if already_in_order else block[inverse]

    def obs_column(self, key: str) -> pd.Series:
        import h5py
        from anndata.io import read_elem

        with h5py.File(self.path, "r") as fh:
            obs = fh["obs"]
            if key not in obs:
                cols = [k for k in obs.keys() if k != obs.attrs.get("_index", "_index")]
                raise ValueError(f"{self.path}: obs has no column {key!r}; columns are {cols}")
            values = read_elem(obs[key])
        return pd.Series(values, index=self._obs_index, name=key)

    @property
    def obs_names(self) -> pd.Index:
        return self._obs_index

    def __getstate__(self) -> Dict[str, Any]:
        # h5py handles do not pickle: workers reopen the file.
        state = dict(self.__dict__)
        state.update(_fh=None, _pid=None, _matrix=None)
        return state


def open_cells(data: Union[str, os.PathLike, AnnDataLike], *, layer: Optional[str] = None,
               use_raw: bool = False, backed: Optional[bool] = None) -> CellSource:
    """A :class:`CellSource` over an AnnData object or an ``.h5ad`` path.

    ``backed=None`` reads a path in backed mode (rows on demand) and uses an in-memory AnnData
    as it is; an AnnData opened with ``backed="r"`` is read from its file. A file whose matrix is
    stored CSC cannot be read by rows from disk: with ``backed=None`` it is loaded in memory
    (with a warning), with ``backed=True`` it is an error.
    """
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such .h5ad file")
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder; give an .h5ad file")
        if backed is not False:
            try:
                return H5adSource(path, layer=layer, use_raw=use_raw)
            except CSCStorageError:
                if backed:
                    raise
                import warnings

                warnings.warn(f"{path} {_field_name(layer, use_raw)}: stored as CSC, so the file is loaded "
                              "in memory (rewrite it as CSR to stream it from disk)", stacklevel=caller_stacklevel())
        import anndata

        try:
            adata = anndata.read_h5ad(path)
        except OSError as exc:
            raise ValueError(f"{path}: not a readable .h5ad file ({exc})") from None
        return MemorySource(adata, layer=layer, use_raw=use_raw, where=str(path))
    if getattr(data, "isbacked", False):
        return H5adSource(data.filename, layer=layer, use_raw=use_raw)
    if not hasattr(data, "obs") or not hasattr(data, "var_names"):
        raise TypeError(f"expected an AnnData or a path to an .h5ad file, got {type(data).__name__}")
    return MemorySource(data, layer=layer, use_raw=use_raw)


def _matrix_bytes(path: Path, layer: Optional[str], use_raw: bool) -> Optional[int]:
    """In-memory size of the matrix an ``.h5ad`` holds at ``layer``/``use_raw``, from its
    metadata alone (CSR/CSC: data + indices + indptr; dense: the array); None if unreadable."""
    import h5py

    key = "raw/X" if use_raw else (f"layers/{layer}" if layer is not None else "X")
    try:
        with h5py.File(path, "r") as fh:
            if key not in fh:
                return None
            node = fh[key]
            if isinstance(node, h5py.Group):
                parts = [node[k] for k in ("data", "indices", "indptr") if k in node]
                return int(sum(p.size * p.dtype.itemsize for p in parts))
            return int(node.size * node.dtype.itemsize)
    except (OSError, KeyError, TypeError):
        return None


def choose_backed(path: Union[str, os.PathLike], *, layer: Optional[str] = None,
                  use_raw: bool = False) -> Tuple[bool, str]:
    """Whether pretraining should read the ``.h5ad`` at ``path`` backed, and why.

    In memory (the whole file loaded once, every batch sliced from RAM) when it is small:
    the file is at most :data:`IN_MEMORY_MAX_FILE_BYTES` (1 GB) and the matrix read at most
    :data:`IN_MEMORY_MAX_MATRIX_BYTES` (2 GB) as it sits in memory. Backed above either, so
    memory stays flat however large the file. ``--in-memory`` / ``--backed`` override it.
    """
    path = Path(path)
    file_bytes = path.stat().st_size
    matrix_bytes = _matrix_bytes(path, layer, use_raw)
    sizes = f"file {file_bytes / 1e9:.3g} GB, matrix {'?' if matrix_bytes is None else f'{matrix_bytes / 1e9:.3g}'} GB"
    if file_bytes > IN_MEMORY_MAX_FILE_BYTES:
        return True, f"backed (automatic: {sizes}; the file is over {IN_MEMORY_MAX_FILE_BYTES / 1e9:g} GB)"
    if matrix_bytes is None or matrix_bytes > IN_MEMORY_MAX_MATRIX_BYTES:
        why = "unknown matrix size" if matrix_bytes is None else \
            f"the matrix is over {IN_MEMORY_MAX_MATRIX_BYTES / 1e9:g} GB in memory"
        return True, f"backed (automatic: {sizes}; {why})"
    return False, f"in memory (automatic: {sizes}, under the {IN_MEMORY_MAX_FILE_BYTES / 1e9:g} GB / " \
                  f"{IN_MEMORY_MAX_MATRIX_BYTES / 1e9:g} GB thresholds)"


def read_labels(source: CellSource, key: str) -> np.ndarray:
    """The ``obs[key]`` labels as strings; missing values are an error naming the column."""
    column = source.obs_column(key)
    if column.isna().any():
        raise ValueError(f"{source.where}: obs[{key!r}] has {int(column.isna().sum())} missing label(s)")
    return column.astype(str).to_numpy()


def labelled_rows(source: CellSource, key: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(rows, labels)`` of the cells whose ``obs[key]`` is set: a reference's unlabelled cells
    (NaN) are left out with a warning; a column with no labels at all is an error."""
    column = source.obs_column(key)
    known = column.notna().to_numpy()
    if not known.any():
        raise ValueError(f"{source.where}: obs[{key!r}] has no labels (every value is missing)")
    if not known.all():
        import warnings

        warnings.warn(f"{source.where}: obs[{key!r}] is missing for {int((~known).sum())} of {known.size} "
                      "cells; they are left out of the reference", stacklevel=caller_stacklevel())
    rows = np.flatnonzero(known)
    return rows, column.iloc[rows].astype(str).to_numpy()


# --------------------------------------------------------------------------- genes
@dataclass(frozen=True)
class GeneAlignment:
    """Where each of the model's genes sits in a dataset (``-1``: absent, unobserved)."""

    genes: Tuple[str, ...]
    source_index: np.ndarray
    n_shared: int
    n_extra: int

    @property
    def overlap(self) -> float:
        """Fraction of the model's genes found in the dataset."""
        return self.n_shared / max(len(self.genes), 1)

    @property
    def is_identity(self) -> bool:
        return self.n_extra == 0 and bool(np.all(self.source_index == np.arange(len(self.genes))))

    @classmethod
    def build(cls, genes: Sequence[str], var_names: Sequence[str], *, min_overlap: float = DEFAULT_MIN_OVERLAP,
              where: str = "dataset") -> "GeneAlignment":
        """Align ``var_names`` to ``genes``; refuse when fewer than ``min_overlap`` of them are shared."""
        genes = tuple(str(g) for g in genes)
        var_index = _check_var_names(pd.Index(var_names), f"{where} var_names")
        source_index = var_index.get_indexer(pd.Index(genes)).astype(np.int64)
        n_shared = int((source_index >= 0).sum())
        alignment = cls(genes, source_index, n_shared, int(len(var_index) - n_shared))
        if alignment.overlap < min_overlap:
            raise ValueError(
                f"{where}: shares only {n_shared} of the model's {len(genes)} genes "
                f"({alignment.overlap:.1%}), below the minimum overlap of {min_overlap:.0%}; check that "
                f"var_names use the same gene naming (symbols vs Ensembl ids) as the model, "
                f"e.g. model genes {list(genes[:3])} vs dataset genes {list(var_index[:3])}"
            )
        return alignment

    def report(self) -> str:
        return (f"{self.n_shared}/{len(self.genes)} model genes found ({self.overlap:.1%}); "
                f"{len(self.genes) - self.n_shared} unobserved (hidden, not zero-filled), "
                f"{self.n_extra} extra genes ignored")


# --------------------------------------------------------------------------- values
def _check_values(values: np.ndarray, where: str, is_log1p: bool) -> None:
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).sum())
        raise ValueError(f"{where}: contains {bad} NaN or infinite value(s)")
    low = float(values.min())
    if low < 0:
        what = "log-normalised values" if is_log1p else "counts"
        hint = (" It looks scaled or z-scored; pass the layer with raw counts (layer=...) or the "
                "log1p-normalised matrix (.raw with use_raw=True).")
        raise ValueError(f"{where}: negative {what} (min {low:g}).{hint}")


def _log_normalise(counts: np.ndarray, target_sum: float) -> np.ndarray:
    """CP10k (``target_sum`` per cell) + log1p, in place on a dense float32 block."""
    totals = counts.sum(axis=1, keepdims=True)
    # An all-zero cell stays all-zero instead of becoming NaN.
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    counts *= scale
    return np.log1p(counts, out=counts)


def _log_normalise_csr(block: sp.csr_matrix, target_sum: float) -> sp.csr_matrix:
    """:func:`_log_normalise` of a CSR block, computed on its stored entries into a new matrix
    (the block's own arrays are left as they are). Row totals are summed in float64 and rounded
    to float32: whole-number counts give exactly the dense float32 totals."""
    if not block.has_canonical_format:  # duplicate entries add up first, as they do when densified
        block = block.copy()
        block.sum_duplicates()
    n_rows = block.shape[0]
    per_row = np.diff(block.indptr)
    rows = np.repeat(np.arange(n_rows), per_row)
    totals = np.bincount(rows, weights=block.data, minlength=n_rows).astype(np.float32)
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    data = block.data.astype(np.float32) * np.repeat(scale, per_row)
    np.log1p(data, out=data)
    return sp.csr_matrix((data, block.indices, block.indptr), shape=block.shape)


class ExpressionReader:
    """Read rows of a :class:`CellSource` as model input: aligned, checked, log-normalised.

    Parameters
    ----------
    source
        Where the rows come from.
    genes
        The model's gene list; ``None`` uses the dataset's own genes (pretraining).
    is_log1p
        ``True`` when the values are already log1p(CP10k)-style; otherwise they are counts and
        are normalised here.
    target_sum
        Counts per cell after normalisation (CP10k by default).
    min_overlap
        Refuse a dataset that holds fewer than this fraction of ``genes``.
    """

    def __init__(self, source: CellSource, genes: Optional[Sequence[str]] = None, *, is_log1p: bool = False,
                 target_sum: float = DEFAULT_TARGET_SUM, min_overlap: float = DEFAULT_MIN_OVERLAP,
                 fix_counts: Optional[str] = None) -> None:
        self.source = source
        # what to do when values read as counts are not counts (a reader for a trained model
        # cannot take --log1p: its normalisation is fixed)
        self.fix_counts = fix_counts or ("if it is already log-normalised pass is_log1p=True (--log1p), or point "
                                         "layer= (--layer) at the raw counts")
        self.is_log1p = bool(is_log1p)
        self.target_sum = float(target_sum)
        genes = list(source.var_names) if genes is None else list(genes)
        self.alignment = GeneAlignment.build(genes, source.var_names, min_overlap=min_overlap, where=source.where)
        present = self.alignment.source_index >= 0
        self._dst = np.flatnonzero(present)
        self._src = self.alignment.source_index[present]
        self._identity = self.alignment.is_identity
        self._counts_checked = self.is_log1p
        self._log1p_checked = not self.is_log1p

    def _check_log1p(self, values: np.ndarray) -> None:
        """Warn once when values declared log-normalised are all whole numbers: log1p(CP10k)
        values almost never are, raw counts always are (``is_log1p=True`` on a counts matrix)."""
        self._log1p_checked = True
        if values.size and np.array_equal(values, np.round(values)):
            top = float(values.max())
            if top > 0:
                import warnings

                warnings.warn(
                    f"{self.source.where}: declared log-normalised (is_log1p=True, --log1p), but every "
                    f"value read is a whole number (max {top:g}): it looks like raw counts; drop "
                    "is_log1p/--log1p so they are normalised, or point layer= (--layer) at the "
                    "log-normalised values", stacklevel=caller_stacklevel())

    def _check_counts(self, values: np.ndarray) -> None:
        """Warn once when values read as counts are not whole numbers: most likely the matrix
        is already log-normalised (e.g. ``.X`` while the counts sit in a layer)."""
        self._counts_checked = True
        if values.size and not np.array_equal(values, np.round(values)):
            import warnings

            warnings.warn(
                f"{self.source.where}: read as counts, but holds non-integer values (e.g. "
                f"{float(values[values != np.round(values)][0]):g}); {self.fix_counts}",
                stacklevel=caller_stacklevel())

    @property
    def genes(self) -> Tuple[str, ...]:
        return self.alignment.genes

    @property
    def n_obs(self) -> int:
        return self.source.n_obs

    @property
    def observed_genes(self) -> Optional[np.ndarray]:
        """Which model genes the source measures (bool per gene), or ``None`` when it measures
        them all. A gene it lacks is *unobserved*: read as 0 here, but the model is told (as a
        hidden entry), never shown that 0 as a measurement."""
        present = self.alignment.source_index >= 0
        return None if bool(present.all()) else present

    def observed_rows(self, indices: Sequence[int]) -> Optional[np.ndarray]:
        """``(cells, genes)`` bool: True where the cell's gene was measured; ``None`` when all were."""
        present = self.observed_genes
        if present is None:
            return None
        return np.broadcast_to(present, (len(indices), present.size))

    def _block(self, indices: Sequence[int]):
        """Checked values of the model's genes present in the source, for these rows: CSR (a
        sparse source) or dense float32, columns in the order of ``self._dst``."""
        block = self.source.read_rows(np.asarray(indices, dtype=np.int64))
        if sp.issparse(block):
            _check_values(block.data, self.source.where, self.is_log1p)
            if not self._counts_checked:
                self._check_counts(block.data)
            if not self._log1p_checked:
                self._check_log1p(block.data)
            return sp.csr_matrix(block if self._identity else block[:, self._src])
        block = np.asarray(block)
        _check_values(block, self.source.where, self.is_log1p)
        if not self._counts_checked:
            self._check_counts(block)
        if not self._log1p_checked:
            self._check_log1p(block)
        return np.asarray(block if self._identity else block[:, self._src], dtype=np.float32)

    def _dense(self, block) -> np.ndarray:
        """A :meth:`_block` as dense float32 over the model's genes (absent genes zero)."""
        dense = block.toarray().astype(np.float32, copy=False) if sp.issparse(block) else block
        if self._identity:
            return np.ascontiguousarray(dense, dtype=np.float32)
        out = np.zeros((dense.shape[0], len(self.genes)), dtype=np.float32)
        out[:, self._dst] = dense
        return out

    def raw(self, indices: Sequence[int]) -> np.ndarray:
        """Checked values of the model's genes for these rows (counts or log1p), dense float32."""
        return self._dense(self._block(indices))

    def read(self, indices: Sequence[int], with_counts: bool = False):
        """log1p(CP10k) values (float32, cells x model genes); with ``with_counts`` also the counts."""
        block = self._block(indices)
        if self.is_log1p:
            if with_counts:
                raise ValueError(f"{self.source.where}: count-based losses need counts, not log-normalised input")
            return self._dense(block)
        if sp.issparse(block) and not with_counts:
            # Normalised on the stored entries only (log1p(0) = 0): the same float32 operations
            # as on the dense block, on a few percent of the values.
            return self._dense(_log_normalise_csr(block, self.target_sum))
        values = self._dense(block)
        counts = values.copy() if with_counts else None
        logged = _log_normalise(values, self.target_sum)
        return (logged, counts) if with_counts else logged


def refuse_log_normalised_raw(source: CellSource, n_rows: int = 256) -> None:
    """``.raw.X`` read as counts must hold counts: scanpy's usual layout keeps log1p(CP10k)
    values there, which read as counts would be normalised a second time. Checks the first
    ``n_rows`` cells; raises ``ValueError`` naming the fix (``--use-raw --log1p``)."""
    block = source.read_rows(np.arange(min(n_rows, source.n_obs), dtype=np.int64))
    values = block.data if sp.issparse(block) else np.asarray(block).ravel()
    fractional = values[values != np.round(values)]
    if fractional.size:
        raise ValueError(f"{source.where}: holds log-normalised values (e.g. {float(fractional[0]):g}), not counts "
                         "(scanpy keeps log1p values in .raw); pass --use-raw --log1p (use_raw=True, "
                         "is_log1p=True) to train on them as they are, or --layer NAME for a layer of raw counts")


def check_requested_genes(source: CellSource, genes: Sequence[str]) -> None:
    """``data.genes`` (``--genes``): every gene asked for must be in the data (a gene that is not
    would be trained on as all zeros)."""
    names = pd.Index(source.var_names).astype(str)
    missing = [g for g in genes if str(g) not in names]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        raise ValueError(f"{source.where}: data.genes (--genes) asks for {len(missing)} gene(s) not in its "
                         f"var_names: {shown}; e.g. its genes are {list(names[:3])}")


def iter_chunks(n_obs: int, chunk_size: int) -> Iterator[np.ndarray]:
    """Consecutive row ranges ``[0, c), [c, 2c), ...`` as index arrays."""
    for start in range(0, n_obs, chunk_size):
        yield np.arange(start, min(start + chunk_size, n_obs), dtype=np.int64)


def gene_moments(reader: ExpressionReader, indices: Optional[np.ndarray] = None,
                 chunk_size: int = 4096) -> Tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation of the log-normalised values, streamed in chunks."""
    rows = np.arange(reader.n_obs) if indices is None else np.sort(np.asarray(indices, dtype=np.int64))
    if rows.size == 0:
        raise ValueError(f"{reader.source.where}: no cells to compute gene statistics on")
    total = np.zeros(len(reader.genes), dtype=np.float64)
    total_sq = np.zeros_like(total)
    for start in range(0, rows.size, chunk_size):
        x = reader.read(rows[start:start + chunk_size]).astype(np.float64)
        total += x.sum(axis=0)
        total_sq += (x * x).sum(axis=0)
    mean = total / rows.size
    var = np.maximum(total_sq / rows.size - mean * mean, 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def sample_rows(rows: np.ndarray, n: int, seed: int, run: int = 1024) -> np.ndarray:
    """Up to ``n`` of ``rows`` (for statistics): random runs of ``run`` consecutive entries, so a
    backed file is read in a few contiguous stretches rather than cell by cell. All of ``rows``
    when there are no more than ``n``; the draw uses its own generator seeded with ``seed``."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size <= n:
        return rows
    rng = np.random.default_rng(seed)
    starts = np.arange(0, rows.size, run)
    picked = np.sort(rng.choice(starts, max(1, n // run), replace=False))
    return np.concatenate([rows[s:s + run] for s in picked])


def dispersion_scores(source: CellSource, *, is_log1p: bool = False, target_sum: float = DEFAULT_TARGET_SUM,
                      n_bins: int = 20, chunk_size: int = 4096, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Seurat-style normalised dispersion of every gene of ``source`` (``-inf`` for genes never
    expressed), streamed in chunks over ``rows`` (default: every cell); higher is more variable.

    Dispersion (variance / mean of the normalised expression) is z-scored within bins of mean
    expression, as ``scanpy.pp.highly_variable_genes(flavor="seurat")`` does, so highly expressed
    genes do not win by their mean alone. Normalisation here uses every gene of the file.
    """
    reader = ExpressionReader(source, None, is_log1p=is_log1p, target_sum=target_sum, min_overlap=0.0)
    rows = np.arange(reader.n_obs) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    n = int(rows.size)
    total = np.zeros(len(reader.genes))
    total_sq = np.zeros_like(total)
    for start in range(0, n, chunk_size):
        x = np.expm1(reader.read(rows[start:start + chunk_size]).astype(np.float64))  # Seurat: linear scale
        total += x.sum(axis=0)
        total_sq += (x * x).sum(axis=0)
    mean = total / max(n, 1)
    var = np.maximum(total_sq / max(n, 1) - mean * mean, 0.0) * n / max(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = np.where(mean > 0, var / mean, 0.0)
        log_disp = np.log(np.where(dispersion > 0, dispersion, np.nan))
        log_mean = np.log1p(mean)
    frame = pd.DataFrame({"log_mean": log_mean, "log_disp": log_disp})
    frame["bin"] = pd.cut(frame["log_mean"], bins=n_bins)
    grouped = frame.groupby("bin", observed=False)["log_disp"]
    mu, sd = grouped.transform("mean"), grouped.transform("std")
    z = ((frame["log_disp"] - mu) / sd.replace(0, np.nan)).fillna(0.0)
    z[frame["log_disp"].isna()] = -np.inf  # never pick genes that are never expressed
    return z.to_numpy()


def highly_variable_genes(source: CellSource, n_top: int, *, is_log1p: bool = False,
                          target_sum: float = DEFAULT_TARGET_SUM, n_bins: int = 20,
                          chunk_size: int = 4096) -> List[str]:
    """The ``n_top`` most variable genes, Seurat-style (:func:`dispersion_scores`), streamed in
    chunks (works backed), in the file's gene order."""
    if n_top <= 0:
        raise ValueError(f"n_top_genes must be > 0, got {n_top}")
    names = list(source.var_names)
    if n_top >= len(names):
        return names
    z = dispersion_scores(source, is_log1p=is_log1p, target_sum=target_sum, n_bins=n_bins, chunk_size=chunk_size)
    top = np.argsort(-z, kind="stable")[:n_top]
    return [names[i] for i in np.sort(top)]


# --------------------------------------------------------------------------- datasets
class CellDataset:
    """Map-style dataset of cells for the trainer: items are ``{"x": float32 genes}``.

    ``rows`` restricts it to a subset of the source's cells (e.g. training folds); item ``i`` is
    row ``rows[i]``. A reader whose cells lack some model genes (a query, a corpus of files with
    different genes) adds ``"observed"`` (bool, cells x genes). ``batch_codes`` (int per source
    row) adds ``"batch"`` for a batch covariate; ``with_counts`` adds ``"counts"`` for count
    likelihoods. ``__getitems__`` reads a whole mini-batch in one call and returns it already
    collated.

    ``cache``: hold the model input of every row (log-normalised, dense float32; with
    ``with_counts`` the counts too) in memory, read once, and serve batches from it instead of
    reading and normalising every batch again (the same values: normalisation is per row).
    ``None`` (default) caches a source held in memory (:class:`MemorySource`) when that copy
    takes at most ``CACHE_MAX_BYTES``; a backed file is always read batch by batch, so memory
    stays flat. ``True`` caches whatever the source and size, ``False`` never.
    """

    def __init__(self, reader: ExpressionReader, rows: Optional[Sequence[int]] = None, *,
                 batch_codes: Optional[np.ndarray] = None, with_counts: bool = False,
                 cache: Optional[bool] = None) -> None:
        self.reader = reader
        self.rows = np.arange(reader.n_obs, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        self.batch_codes = None if batch_codes is None else np.asarray(batch_codes, dtype=np.int64)
        self.with_counts = with_counts
        self.cache = cache
        self._cached: Optional[Tuple[bool, np.ndarray, Optional[np.ndarray]]] = None

    def __len__(self) -> int:
        return int(self.rows.size)

    def cache_bytes(self) -> int:
        """Memory the cache of these rows takes (or would take)."""
        per_row = len(self.reader.genes) * 4 * (2 if self.with_counts else 1)
        return int(self.rows.size) * per_row

    def _use_cache(self) -> bool:
        if self.cache is not None:
            return bool(self.cache)
        in_memory = getattr(self.reader, "in_memory", None)  # a corpus says so itself
        if in_memory is None:
            in_memory = isinstance(self.reader.source, MemorySource)
        return bool(in_memory) and self.cache_bytes() <= CACHE_MAX_BYTES

    def _cache(self) -> Optional[Tuple[bool, np.ndarray, Optional[np.ndarray]]]:
        """The cached rows (built on first use, again if ``with_counts`` changed), or ``None``."""
        if self._cached is not None and self._cached[0] == bool(self.with_counts):
            return self._cached
        self._cached = None
        if not self._use_cache():
            return None
        n_genes = len(self.reader.genes)
        x = np.empty((self.rows.size, n_genes), dtype=np.float32)
        counts = np.empty_like(x) if self.with_counts else None
        for start in range(0, self.rows.size, CACHE_CHUNK):
            rows = self.rows[start:start + CACHE_CHUNK]
            if counts is not None:
                x[start:start + rows.size], counts[start:start + rows.size] = self.reader.read(rows, with_counts=True)
            else:
                x[start:start + rows.size] = self.reader.read(rows)
        self._cached = (bool(self.with_counts), x, counts)
        return self._cached

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch's loader is made: builds the cache (when one
        is used) in the training process, before any DataLoader worker starts."""
        self._cache()

    def _batch(self, positions: Sequence[int]) -> Dict[str, Any]:
        import torch

        positions = np.asarray(positions, dtype=np.int64)
        rows = self.rows[positions]
        out: Dict[str, Any] = {}
        cached = self._cache()
        if cached is not None:
            x = cached[1][positions]
            if self.with_counts:
                out["counts"] = torch.from_numpy(cached[2][positions])
        elif self.with_counts:
            x, counts = self.reader.read(rows, with_counts=True)
            out["counts"] = torch.from_numpy(counts)
        else:
            x = self.reader.read(rows)
        out["x"] = torch.from_numpy(x)
        observed = self.reader.observed_rows(rows) if hasattr(self.reader, "observed_rows") else None
        if observed is not None:  # genes a cell's file does not measure: hidden, never scored
            out["observed"] = torch.from_numpy(np.ascontiguousarray(observed))
        if self.batch_codes is not None:
            out["batch"] = torch.from_numpy(self.batch_codes[rows])
        return out

    def __getstate__(self) -> Dict[str, Any]:
        # A pickled copy (a DataLoader worker under the spawn start method) reads its batches
        # from the source, as before: neither a pickled copy of the cache nor a cache of every
        # row built again in each worker. Forked workers share the parent's cache.
        state = dict(self.__dict__)
        state.update(_cached=None, cache=False)
        return state

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return {k: v[0] for k, v in self._batch([index]).items()}

    def __getitems__(self, indices: Sequence[int]) -> Dict[str, Any]:
        return self._batch(indices)


def unique_gene_names(values: Sequence[Any]) -> pd.Index:
    """Gene names from a var column: a missing name, or a repeat of an earlier one, gets a name
    that matches no vocabulary gene (the first occurrence of a symbol is the one read)."""
    out, seen = [], set()
    for i, v in enumerate(values):
        name = None if (v is None or (isinstance(v, float) and v != v) or str(v).strip() == "") else str(v)
        if name is None or name in seen:
            name = f"__unnamed_{i}"
        seen.add(name)
        out.append(name)
    return pd.Index(out)
