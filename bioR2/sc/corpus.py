"""A corpus of single-cell datasets read as one: many ``.h5ad`` files (or AnnData objects, or a
TileDB-SOMA Experiment) with different genes, aligned to one gene vocabulary.

The pieces, from the user's list to the trainer:

* :func:`corpus_entries` turns what the user gave (paths, folders, globs, AnnData objects, a
  corpus table ``path,dataset,layer,gene_key,weight``) into :class:`CorpusEntry` rows, checked
  before anything is read or written (a missing file, a duplicate dataset id: one line naming it).
* :func:`open_entry` opens one entry as a :class:`~bioR2.sc.data.CellSource` (backed when large,
  as a single-file run is), its genes named by the ``gene_key`` var column when one is given
  (CELLxGENE files key genes by Ensembl id with symbols in ``var["feature_name"]``).
* :class:`CorpusReader` reads rows of the concatenated corpus as model input: each file through
  its own :class:`~bioR2.sc.data.ExpressionReader`, plus the *observed* mask (a gene a file does
  not measure is unobserved for its cells, never a 0) and the dataset id of every cell.
* :class:`CorpusSampler` orders the training cells: chunks of consecutive cells of each file
  (fast backed reads), per-dataset weights, chunks interleaved across files and shuffled through
  a bounded buffer, ranks taking disjoint strided shares (DDP), resumable mid-epoch.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from .data import (
    CellSource,
    ExpressionReader,
    H5adSource,
    MemorySource,
    unique_gene_names,
    choose_backed,
    open_cells,
)

__all__ = ["CorpusEntry", "corpus_entries", "read_corpus_table", "expand_paths", "open_entry", "KeyedSource",
           "CorpusReader", "CorpusSampler", "corpus_sampler_factory", "DATASET_BATCH_KEY", "check_value_kinds"]

log = logging.getLogger(__name__)

# A file measuring less of the vocabulary than this gets a warning (its cells still train).
LOW_VOCAB_OVERLAP = 0.5
# --batch-key dataset: condition the decoder on each cell's corpus dataset id.
DATASET_BATCH_KEY = "dataset"
TABLE_COLUMNS = ("path", "dataset", "layer", "gene_key", "weight")
H5AD_SUFFIXES = (".h5ad",)
_GLOB_CHARS = set("*?[")


@dataclass
class CorpusEntry:
    """One dataset of a corpus.

    data: an ``.h5ad`` path, an AnnData, or a :class:`~bioR2.sc.data.CellSource`.
    dataset: its id (kept per cell). layer: where the values are (``None``: ``.X``).
    gene_key: the var column naming genes (``None``: ``var_names``). weight: how often its cells
    are drawn per epoch relative to its size (1.0: each cell once). where: for error messages.
    """

    data: Any
    dataset: str
    layer: Optional[str] = None
    gene_key: Optional[str] = None
    weight: float = 1.0
    use_raw: bool = False
    where: str = ""


# --------------------------------------------------------------------------- entries
def _is_pathlike(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def expand_paths(items: Sequence[Union[str, os.PathLike]]) -> List[Path]:
    """Files named by ``items``: a file as is, a folder as its ``*.h5ad`` files, a glob as its
    matches (sorted). Anything that names no file is an error."""
    out: List[Path] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in H5AD_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"{path}: folder holds no .h5ad file; name the files or a glob such as {path}/*.h5ad")
            out.extend(found)
        elif _GLOB_CHARS & set(text):
            found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not found:
                raise ValueError(f"{text}: the pattern matches no file; check the folder and the pattern")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such .h5ad file or folder; check the path")
    seen: Dict[str, Path] = {}
    unique = []
    for p in out:
        key = str(p.resolve())
        if key not in seen:
            seen[key] = p
            unique.append(p)
    return unique


def _dataset_ids(paths: Sequence[Path]) -> List[str]:
    """File stems as dataset ids; stems that clash get their folder name in front."""
    stems = [p.stem for p in paths]
    ids = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise ValueError(f"dataset ids {dups} name more than one file; give each file its own dataset id in a "
                         "corpus table (--corpus corpus.csv, column dataset)")
    return ids


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def read_corpus_table(table: Union[str, os.PathLike, pd.DataFrame], *, layer: Optional[str] = None,
                      gene_key: Optional[str] = None) -> List[CorpusEntry]:
    """The entries of a corpus table (CSV or TSV, or a DataFrame): columns ``path`` (required),
    ``dataset``, ``layer``, ``gene_key``, ``weight``; an empty cell takes the default (the file
    stem, ``layer``/``gene_key`` given here, else ``.X`` / ``var_names``; weight 1.0). Relative
    paths are read from the table's folder. Every row is checked before anything is opened."""
    if isinstance(table, pd.DataFrame):
        frame, name, base = table.copy(), "corpus table", Path(".")
    else:
        path = Path(table)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such corpus table; give a CSV with columns {','.join(TABLE_COLUMNS)}")
        sep = "\t" if path.suffix in (".tsv", ".tab") else ","
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment="#")
        name, base = str(path), path.parent
    frame.columns = [str(c).strip() for c in frame.columns]
    if "path" not in frame.columns:
        raise ValueError(f"{name}: no 'path' column (columns are {list(frame.columns)}); the header must be "
                         f"{','.join(TABLE_COLUMNS)}")
    unknown = sorted(set(frame.columns) - set(TABLE_COLUMNS))
    if unknown:
        raise ValueError(f"{name}: unknown column(s) {unknown}; the columns are {','.join(TABLE_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{name}: the table lists no file")
    entries: List[CorpusEntry] = []
    for i, row in enumerate(frame.to_dict("records")):
        where = f"{name} row {i + 1}"
        if _empty(row.get("path")):
            raise ValueError(f"{where}: the path is empty; every row names one .h5ad file")
        p = Path(str(row["path"]).strip())
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise FileNotFoundError(f"{where}: no such file {p}; fix the path (relative paths are read from the "
                                    "table's folder) or drop the row")
        weight = 1.0 if _empty(row.get("weight")) else row["weight"]
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: weight {row['weight']!r} is not a number; use e.g. 1.0 or leave it "
                             "empty") from None
        if not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"{where}: weight must be > 0, got {weight:g}; drop the row to leave a file out")
        entries.append(CorpusEntry(
            data=p, dataset=p.stem if _empty(row.get("dataset")) else str(row["dataset"]).strip(),
            layer=layer if _empty(row.get("layer")) else str(row["layer"]).strip(),
            gene_key=gene_key if _empty(row.get("gene_key")) else str(row["gene_key"]).strip(),
            weight=weight, where=where))
    _check_unique(entries, name)
    return entries


def _check_unique(entries: Sequence[CorpusEntry], name: str) -> None:
    ids: Dict[str, str] = {}
    for e in entries:
        if e.dataset in ids:
            raise ValueError(f"{name}: dataset id {e.dataset!r} is used twice ({ids[e.dataset]} and {e.where}); "
                             "give every file its own id in the dataset column")
        ids[e.dataset] = e.where


def is_corpus_table(obj: Any) -> bool:
    return isinstance(obj, pd.DataFrame) or (_is_pathlike(obj) and Path(obj).suffix in (".csv", ".tsv", ".tab"))


def corpus_entries(source: Any, *, layer: Optional[str] = None, gene_key: Optional[str] = None,
                   use_raw: bool = False) -> List[CorpusEntry]:
    """:class:`CorpusEntry` rows from a corpus table (path or DataFrame), a folder, a glob, or a
    list of paths / AnnData objects / entries (``dataset`` ids: file stems, ``dataset_<i>`` for
    objects)."""
    if is_corpus_table(source):
        return read_corpus_table(source, layer=layer, gene_key=gene_key)
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    entries: List[CorpusEntry] = []
    pending: List[Path] = []

    def flush() -> None:
        if pending:
            for p, ident in zip(pending, _dataset_ids(pending)):
                entries.append(CorpusEntry(p, ident, layer, gene_key, 1.0, use_raw, where=str(p)))
            pending.clear()

    for item in items:
        if isinstance(item, CorpusEntry):
            flush()
            entries.append(item)
        elif _is_pathlike(item):
            if is_corpus_table(item):
                flush()
                entries.extend(read_corpus_table(item, layer=layer, gene_key=gene_key))
            else:
                pending.extend(expand_paths([item]))
        else:
            flush()
            ident = f"dataset_{len(entries)}"
            entries.append(CorpusEntry(item, ident, layer, gene_key, 1.0, use_raw, where=f"AnnData #{len(entries)}"))
    flush()
    if not entries:
        raise ValueError("pretrain sc: the corpus is empty; give .h5ad files, a folder, a glob or a corpus table")
    for e in entries:
        if not e.where:
            e.where = str(e.data) if _is_pathlike(e.data) else e.dataset
    _check_unique(entries, "corpus")
    return entries


# --------------------------------------------------------------------------- sources
def _var_column(entry: CorpusEntry, source: CellSource, key: str) -> pd.Series:
    """``var[key]`` (``raw.var`` with use_raw) of an entry's data, read without loading the matrix."""
    raw = bool(getattr(source, "use_raw", False))
    if isinstance(source, H5adSource):
        import h5py
        from anndata.io import read_elem

        with h5py.File(source.path, "r") as fh:
            group = fh["raw/var" if raw else "var"]
            if key not in group:
                index = group.attrs.get("_index", "_index")
                cols = [k for k in group.keys() if k != index]
                raise ValueError(f"{source.path}: var has no column {key!r} (gene_key); its columns are {cols}; "
                                 "fix gene_key (--gene-key or the corpus table) or leave it empty to use var_names")
            values = read_elem(group[key])
        return pd.Series(np.asarray(values, dtype=object))
    adata = getattr(source, "_adata", None)
    var = None if adata is None else (adata.raw.var if raw else adata.var)
    if var is None:
        raise ValueError(f"{source.where}: cannot read var columns of this source; gene_key needs an AnnData "
                         "or .h5ad")
    if key not in var.columns:
        raise ValueError(f"{entry.where}: var has no column {key!r} (gene_key); its columns are {list(var.columns)}; "
                         "fix gene_key (--gene-key or the corpus table) or leave it empty to use var_names")
    return pd.Series(var[key].to_numpy(dtype=object))


class KeyedSource(CellSource):
    """A :class:`~bioR2.sc.data.CellSource` whose genes are named by a var column (``gene_key``)."""

    def __init__(self, inner: CellSource, names: pd.Index, gene_key: str) -> None:
        self.inner = inner
        self.var_names = names
        self.gene_key = gene_key
        self.n_obs = inner.n_obs
        self.where = inner.where
        self.layer, self.use_raw = inner.layer, inner.use_raw

    def read_rows(self, indices: np.ndarray):
        return self.inner.read_rows(indices)

    def obs_column(self, key: str) -> pd.Series:
        return self.inner.obs_column(key)

    @property
    def obs_names(self) -> pd.Index:
        return self.inner.obs_names


class ChunkBuffer:
    """The bounded shuffle buffer's memory: the last ``capacity`` chunks read from any file.

    A chunk is ``chunk_size`` consecutive rows of one file, read in one contiguous call and kept
    (as the file stores it: CSR or dense) until ``capacity`` newer chunks push it out, so the
    cells the sampler draws from its buffer of chunks are read from disk once per epoch instead
    of row by row."""

    def __init__(self, chunk_size: int, capacity: int) -> None:
        from collections import OrderedDict

        self.chunk_size, self.capacity = int(chunk_size), int(capacity)
        self._blocks: "OrderedDict[Tuple[int, int], Any]" = OrderedDict()
        self.reads = 0

    def get(self, key: Tuple[int, int], load) -> Any:
        block = self._blocks.get(key)
        if block is None:
            block = load()
            self.reads += 1
            self._blocks[key] = block
            while len(self._blocks) > self.capacity:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(key)
        return block

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        from collections import OrderedDict

        state["_blocks"] = OrderedDict()  # a worker starts with an empty buffer
        return state


class BufferedSource(CellSource):
    """A backed :class:`~bioR2.sc.data.CellSource` read a chunk at a time through a shared
    :class:`ChunkBuffer` (the corpus's bounded buffer)."""

    def __init__(self, inner: CellSource, buffer: ChunkBuffer, file_id: int) -> None:
        self.inner, self.buffer, self.file_id = inner, buffer, int(file_id)
        self.var_names, self.n_obs, self.where = inner.var_names, inner.n_obs, inner.where
        self.layer, self.use_raw = inner.layer, inner.use_raw
        self.gene_key = getattr(inner, "gene_key", None)

    def read_rows(self, indices: np.ndarray):
        import scipy.sparse as sp

        indices = np.asarray(indices, dtype=np.int64)
        size = self.buffer.chunk_size
        chunks = indices // size
        parts, order = [], []
        for c in np.unique(chunks):
            lo = int(c) * size
            hi = min(lo + size, self.n_obs)
            block = self.buffer.get((self.file_id, int(c)), lambda: self.inner.read_rows(np.arange(lo, hi)))
            pos = np.flatnonzero(chunks == c)
            parts.append(block[indices[pos] - lo])
            order.append(pos)
        if len(parts) == 1:
            return parts[0]
        stacked = sp.vstack(parts, format="csr") if sp.issparse(parts[0]) else np.concatenate(parts)
        back = np.empty(indices.size, dtype=np.int64)
        back[np.concatenate(order)] = np.arange(indices.size)
        return stacked[back]

    def obs_column(self, key: str) -> pd.Series:
        return self.inner.obs_column(key)

    @property
    def obs_names(self) -> pd.Index:
        return self.inner.obs_names


def open_entry(entry: CorpusEntry, *, backed: Optional[bool] = None) -> Tuple[CellSource, str]:
    """``(source, how it is read)`` for one corpus entry; ``backed=None``: backed when large."""
    data, read = entry.data, "in memory"
    if isinstance(data, CellSource):
        source, read = data, ("backed" if isinstance(data, H5adSource) else "in memory")
    else:
        if _is_pathlike(data) and backed is None:
            auto, _ = choose_backed(data, layer=entry.layer, use_raw=entry.use_raw)
            backed = None if auto else False
        source = open_cells(data, layer=entry.layer, use_raw=entry.use_raw, backed=backed)
        read = "backed" if isinstance(source, H5adSource) else "in memory"
        if isinstance(source, MemorySource) and not _is_pathlike(data):
            source._adata = data  # for var columns (gene_key)
        elif isinstance(source, MemorySource):
            import anndata

            source._adata = anndata.read_h5ad(data, backed="r")  # var only; the matrix stays on disk
    if entry.gene_key:
        names = unique_gene_names(_var_column(entry, source, entry.gene_key).tolist())
        source = KeyedSource(source, names, entry.gene_key)
    return source, read


def check_value_kinds(sources: Sequence[CellSource], datasets: Sequence[str], is_log1p: bool,
                      n_rows: int = 200) -> None:
    """Refuse a corpus mixing counts and log-normalised values: whole numbers in some files and
    fractions in others (from the first ``n_rows`` cells of each), naming a file of each kind."""
    import scipy.sparse as sp

    kinds = []
    for source, name in zip(sources, datasets):
        block = source.read_rows(np.arange(min(n_rows, source.n_obs)))
        values = block.data if sp.issparse(block) else np.asarray(block).ravel()
        values = values[values != 0]
        if values.size == 0:
            kinds.append(None)
            continue
        frac = values[values != np.round(values)]
        kinds.append(("log-normalised", float(frac[0])) if frac.size else ("counts", float(values.max())))
    have = {k[0] for k in kinds if k is not None}
    if len(have) > 1:
        counts = next(s.where for s, k in zip(sources, kinds) if k and k[0] == "counts")
        logn, example = next((s.where, k[1]) for s, k in zip(sources, kinds) if k and k[0] == "log-normalised")
        raise ValueError(
            f"{logn}: holds log-normalised values (e.g. {example:g}) while {counts} holds counts; every file of a "
            "corpus must hold the same kind: point that file's layer (corpus table column layer) at its raw counts"
            + (" or drop --log1p" if is_log1p else ""))
    if is_log1p and have == {"counts"}:
        log.warning("the corpus is declared log-normalised (--log1p) but every file holds whole numbers (counts)")


# --------------------------------------------------------------------------- reading
class CorpusReader:
    """Rows of a corpus (files concatenated in order) as model input.

    Global row ``i`` is row ``i - offsets[f]`` of file ``f``. :meth:`read` returns log1p(CP10k)
    values over the vocabulary (unobserved genes 0), :meth:`observed_rows` which of them the
    cell's file measures, :attr:`dataset_codes` the dataset of every cell.

    Parameters
    ----------
    sources, datasets
        One :class:`~bioR2.sc.data.CellSource` per file and its dataset id.
    genes
        The vocabulary (the model's genes).
    is_log1p, target_sum
        As for :class:`~bioR2.sc.data.ExpressionReader`.
    """

    def __init__(self, sources: Sequence[CellSource], datasets: Sequence[str], genes: Sequence[str], *,
                 is_log1p: bool = False, target_sum: float = 1e4, weights: Optional[Sequence[float]] = None) -> None:
        self.datasets = [str(d) for d in datasets]
        self.readers = [ExpressionReader(s, genes, is_log1p=is_log1p, target_sum=target_sum, min_overlap=0.0)
                        for s in sources]
        for r, name in zip(self.readers, self.datasets):
            if r.alignment.n_shared == 0:
                raise ValueError(
                    f"{r.source.where} (dataset {name!r}): shares no gene with the vocabulary of {len(r.genes)} genes "
                    f"(e.g. vocabulary {list(r.genes[:3])} vs file {list(r.source.var_names[:3])}); name its genes "
                    "like the others (gene_key column of the corpus table, e.g. feature_name) or drop the file")
        self.weights = np.ones(len(self.readers)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.is_log1p = bool(is_log1p)
        self.target_sum = float(target_sum)
        sizes = np.array([r.n_obs for r in self.readers], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.observed = np.stack([r.alignment.source_index >= 0 for r in self.readers])  # files x genes
        self.dataset_codes = np.repeat(np.arange(len(self.readers)), sizes)
        self.in_memory = all(isinstance(_base(r.source), MemorySource) for r in self.readers)

    @property
    def genes(self) -> Tuple[str, ...]:
        return self.readers[0].genes

    def buffer_reads(self, chunk_size: int, buffer_chunks: int) -> Optional[ChunkBuffer]:
        """Read backed files (and SOMA) a chunk of ``chunk_size`` rows at a time through one
        shared :class:`ChunkBuffer` of ``2 * buffer_chunks + 2`` chunks (a sampler chunk can
        straddle two of a file's chunks); files held in memory are read as they are."""
        buffer = ChunkBuffer(chunk_size, 2 * int(buffer_chunks) + 2)
        used = False
        for i, r in enumerate(self.readers):
            if not isinstance(_base(r.source), MemorySource):
                r.source = BufferedSource(r.source, buffer, i)
                used = True
        return buffer if used else None

    @property
    def n_obs(self) -> int:
        return int(self.offsets[-1])

    @property
    def source(self) -> CellSource:  # the first file: where errors that need one point
        return self.readers[0].source

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def locate(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """``(file, local row)`` of global rows."""
        idx = np.asarray(indices, dtype=np.int64)
        files = np.searchsorted(self.offsets, idx, side="right") - 1
        return files, idx - self.offsets[files]

    def _per_file(self, indices, fn, width: int, dtype) -> np.ndarray:
        files, local = self.locate(indices)
        out = np.zeros((files.size, width), dtype=dtype)
        for f in np.unique(files):
            pos = np.flatnonzero(files == f)
            out[pos] = fn(self.readers[int(f)], local[pos])
        return out

    def read(self, indices: Sequence[int], with_counts: bool = False):
        """log1p(CP10k) values (float32, cells x vocabulary; unobserved genes 0); with
        ``with_counts`` also the counts."""
        n = len(self.genes)
        if not with_counts:
            return self._per_file(indices, lambda r, rows: r.read(rows), n, np.float32)
        files, local = self.locate(indices)
        x = np.zeros((files.size, n), dtype=np.float32)
        counts = np.zeros_like(x)
        for f in np.unique(files):
            pos = np.flatnonzero(files == f)
            x[pos], counts[pos] = self.readers[int(f)].read(local[pos], with_counts=True)
        return x, counts

    def raw(self, indices: Sequence[int]) -> np.ndarray:
        return self._per_file(indices, lambda r, rows: r.raw(rows), len(self.genes), np.float32)

    def observed_rows(self, indices: Sequence[int]) -> Optional[np.ndarray]:
        """bool (cells x vocabulary): True where the cell's file measures the gene; ``None`` when
        every file measures every vocabulary gene."""
        if bool(self.observed.all()):
            return None
        files, _ = self.locate(indices)
        return self.observed[files]

    def gene_moments(self, indices: Optional[np.ndarray] = None, chunk_size: int = 4096
                     ) -> Tuple[np.ndarray, np.ndarray]:
        """Per-gene mean and standard deviation of the log-normalised values over the cells whose
        file measures the gene (an unobserved 0 never enters them)."""
        rows = np.arange(self.n_obs) if indices is None else np.sort(np.asarray(indices, dtype=np.int64))
        if rows.size == 0:
            raise ValueError(f"{self.source.where}: no cells to compute gene statistics on")
        n_genes = len(self.genes)
        total, total_sq, n = np.zeros(n_genes), np.zeros(n_genes), np.zeros(n_genes)
        for start in range(0, rows.size, chunk_size):
            chunk = rows[start:start + chunk_size]
            x = self.read(chunk).astype(np.float64)
            seen = self.observed[self.locate(chunk)[0]]
            total += x.sum(axis=0)
            total_sq += (x * x).sum(axis=0)
            n += seen.sum(axis=0)
        mean = total / np.maximum(n, 1)
        var = np.maximum(total_sq / np.maximum(n, 1) - mean * mean, 0.0)
        return mean.astype(np.float32), np.sqrt(var).astype(np.float32)

    def overlap(self) -> List[Dict[str, Any]]:
        """Per file: its dataset id, where it is read, its genes, how many vocabulary genes it
        measures and their share of the vocabulary."""
        rows = []
        for r, name, w in zip(self.readers, self.datasets, self.weights):
            a = r.alignment
            rows.append({"dataset": name, "source": r.source.where, "n_cells": int(r.n_obs),
                         "n_genes_file": int(len(r.source.var_names)), "n_vocab_measured": int(a.n_shared),
                         "vocab_overlap": round(float(a.overlap), 4), "weight": float(w),
                         "gene_key": getattr(r.source, "gene_key", None)})
        return rows


def _base(source: CellSource) -> CellSource:
    while isinstance(source, (KeyedSource, BufferedSource)):
        source = source.inner
    return source


def split_rows(reader: CorpusReader, *, train_size: float = 1.0, val_datasets: Optional[Sequence[str]] = None,
               seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``(train rows, validation rows)``, both sorted: whole datasets (``val_datasets``) and/or a
    random ``1 - train_size`` of each remaining dataset's cells (scVI's ``train_size``)."""
    codes = reader.dataset_codes
    held = np.zeros(reader.n_obs, dtype=bool)
    if val_datasets:
        unknown = sorted(set(val_datasets) - set(reader.datasets))
        if unknown:
            raise ValueError(f"val_datasets {unknown} are not in the corpus; its datasets are {reader.datasets}")
        held |= np.isin(codes, [reader.datasets.index(d) for d in val_datasets])
        if held.all():
            raise ValueError("val_datasets holds out every dataset; leave at least one to train on")
    if train_size < 1.0:
        rng = np.random.default_rng([int(seed), 7])
        for f in range(len(reader.datasets)):
            rows = np.flatnonzero((codes == f) & ~held)
            n_val = int(round(rows.size * (1.0 - train_size)))
            if n_val:
                held[rng.choice(rows, n_val, replace=False)] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


# --------------------------------------------------------------------------- order
class CorpusSampler:
    """The training order over a corpus: file chunks, dataset weights, a bounded shuffle buffer.

    Positions ``0 .. n-1`` index the training dataset; ``groups[p]`` is the file of position
    ``p`` (positions of one file consecutive, in file order). Each epoch (a function of
    ``seed`` and the epoch only): every file's positions are cut into chunks of ``chunk_size``
    consecutive cells and shuffled; a file of weight ``w`` contributes ``round(w * n_f)`` cells
    (repeating its chunks for ``w > 1``); all chunks are interleaved at random across files and
    read through a buffer of ``buffer_chunks`` chunks whose cells are shuffled together, so a
    mini-batch mixes files while only ``buffer_chunks x chunk_size`` cells are in flight.
    Distributed: rank ``r`` takes positions ``r, r + W, ...`` of the (padded) epoch order, so
    ranks read disjoint cells and rank-local batch ``k`` together is the single-process batch ``k``.
    """

    def __init__(self, groups: np.ndarray, weights: Sequence[float], chunk_size: int = 1024,
                 buffer_chunks: int = 8, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
                 seed: int = 0) -> None:
        if chunk_size < 1 or buffer_chunks < 1:
            raise ValueError(f"chunk_size and buffer_chunks must be >= 1, got {chunk_size}, {buffer_chunks}")
        self.groups = np.asarray(groups, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.chunk_size, self.buffer_chunks = int(chunk_size), int(buffer_chunks)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed = bool(shuffle), int(seed)
        self.epoch, self.start = 0, 0
        bounds = np.flatnonzero(np.diff(self.groups)) + 1
        self._spans = list(zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [self.groups.size]])))
        total = sum(int(round(self.weights[self.groups[a]] * (b - a))) for a, b in self._spans if b > a)
        self.per_rank = math.ceil(total / self.num_replicas) if total else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start(self, start: int) -> None:
        self.start = int(start)

    def _file_chunks(self, a: int, b: int, rng: np.random.Generator) -> List[np.ndarray]:
        n = b - a
        want = int(round(self.weights[self.groups[a]] * n))
        starts = np.arange(a, b, self.chunk_size)
        chunks: List[np.ndarray] = []
        have = 0
        while have < want:
            order = rng.permutation(starts.size) if self.shuffle else np.arange(starts.size)
            for s in starts[order]:
                c = np.arange(s, min(s + self.chunk_size, b), dtype=np.int64)[: want - have]
                chunks.append(c)
                have += c.size
                if have >= want:
                    break
        return chunks

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch, 11])
        chunks: List[np.ndarray] = []
        for a, b in self._spans:
            if b > a:
                chunks.extend(self._file_chunks(int(a), int(b), rng))
        if not chunks:
            return np.zeros(0, dtype=np.int64)
        if self.shuffle:
            chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        parts = []
        for i in range(0, len(chunks), self.buffer_chunks):
            window = np.concatenate(chunks[i:i + self.buffer_chunks])
            parts.append(rng.permutation(window) if self.shuffle else window)
        order = np.concatenate(parts)
        if self.num_replicas == 1:
            return order
        padded = np.resize(order, self.per_rank * self.num_replicas)  # wraps around to pad
        return padded[self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.start:].tolist())

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)


def corpus_sampler_factory(groups: np.ndarray, weights: Sequence[float], chunk_size: int = 1024,
                           buffer_chunks: int = 8):
    """A ``sampler_factory`` for :class:`bioR2.train.Trainer` giving :class:`CorpusSampler`."""

    def factory(dataset, num_replicas: int, rank: int, shuffle: bool, seed: int) -> CorpusSampler:
        return CorpusSampler(groups, weights, chunk_size, buffer_chunks, num_replicas, rank, shuffle, seed)

    return factory


# --------------------------------------------------------------------------- the domain's data
def _hvg_flags(entry: CorpusEntry, source: CellSource) -> Optional[np.ndarray]:
    """The file's own ``var["highly_variable"]`` (honoured by the hvg vocabulary), if it has one."""
    inner = _base(source)
    if not isinstance(inner, (H5adSource, MemorySource)):
        return None
    try:
        column = _var_column(entry, inner, "highly_variable")
    except ValueError:
        return None
    try:
        return column.astype(bool).to_numpy()
    except (TypeError, ValueError):
        return None


def is_corpus_source(source: Any, data_cfg: Any) -> bool:
    """Whether pretraining reads a corpus (several files, a folder, a glob, a table, a SOMA URI)
    rather than one AnnData / ``.h5ad``."""
    if getattr(data_cfg, "corpus", None) or getattr(data_cfg, "soma", None):
        return True
    if isinstance(source, (list, tuple)):
        return not (len(source) == 1 and _is_pathlike(source[0]) and Path(source[0]).is_file()
                    and not is_corpus_table(source[0]))
    if isinstance(source, CorpusEntry) or is_corpus_table(source):
        return True
    if _is_pathlike(source):
        return Path(source).is_dir() or bool(_GLOB_CHARS & set(str(source)))
    return False


def open_corpus(source: Any, d: Any, *, seed: int = 0) -> Tuple[CorpusReader, List[str], List[Dict[str, Any]]]:
    """``(reader, read modes, entries as dicts)`` of the corpus a data config (``d``:
    :class:`~bioR2.sc.spec.SCDataConfig`) and ``source`` name, with its vocabulary built.
    Every file is opened and checked here, before anything is written."""
    backed = False if d.in_memory else (True if d.backed else None)
    if getattr(d, "soma", None):
        from .soma import soma_entry

        source_, name = soma_entry(d.soma, measurement=d.soma_measurement, layer=d.layer, gene_key=d.gene_key,
                                   obs_filter=d.obs_filter, var_filter=d.var_filter)
        entries = [CorpusEntry(source_, name, layer=source_.x_layer, gene_key=None, weight=1.0, where=source_.where)]
        if source is not None and not (isinstance(source, (list, tuple)) and not source):
            entries += corpus_entries(source, layer=d.layer, gene_key=d.gene_key, use_raw=bool(d.use_raw))
            _check_unique(entries, "corpus")
    else:
        if d.corpus:
            source = [d.corpus] + ([] if source is None else list(source) if isinstance(source, (list, tuple))
                                   else [source])
        entries = corpus_entries(source, layer=d.layer, gene_key=d.gene_key, use_raw=bool(d.use_raw))
    opened = [open_entry(e, backed=backed) for e in entries]
    sources = [s for s, _ in opened]
    datasets = [e.dataset for e in entries]
    check_value_kinds(sources, [e.where for e in entries], bool(d.is_log1p))
    if d.genes is not None:
        mode: Union[str, Sequence[str]] = list(d.genes)
    else:
        mode = d.vocab
    if d.n_top_genes is not None and mode != "hvg":
        raise ValueError(f"--n-top-genes sizes the hvg vocabulary; it does not apply to --vocab {d.vocab} "
                         "(drop one of them)")
    flags = [_hvg_flags(e, s) for e, s in zip(entries, sources)] if mode == "hvg" else None
    genes = _vocabulary(sources, mode, d, flags, seed)
    reader = CorpusReader(sources, datasets, genes, is_log1p=bool(d.is_log1p), target_sum=float(d.target_sum),
                          weights=[e.weight for e in entries])
    described = [{"dataset": e.dataset, "where": e.where, "layer": e.layer, "gene_key": e.gene_key,
                  "weight": e.weight} for e in entries]
    return reader, [r for _, r in opened], described


def _vocabulary(sources, mode, d, flags, seed) -> List[str]:
    from .vocab import build_vocabulary

    return build_vocabulary(sources, mode, n_top=d.n_top_genes, flavor=d.hvg_flavor, is_log1p=bool(d.is_log1p),
                            target_sum=float(d.target_sum), flags=flags, max_cells=int(d.stats_cells), seed=seed)


def batch_codes_for(reader: CorpusReader, key: Optional[str]) -> Tuple[Optional[np.ndarray], Optional[List[str]]]:
    """Per-cell batch codes and their categories for ``--batch-key``: ``dataset`` names the
    corpus dataset ids; any other key an obs column every file must have."""
    if key is None:
        return None, None
    if key == DATASET_BATCH_KEY:
        return reader.dataset_codes.copy(), list(reader.datasets)
    from .data import read_labels

    labels = np.concatenate([read_labels(r.source, key) for r in reader.readers])
    categories, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in categories]


def build_corpus_data(source: Any, cfg: Any, train_cfg: Any):
    """:class:`~bioR2.domain.DomainData` of a corpus for ``bioR2.sc.pretrain`` (see
    :func:`bioR2.sc.spec.build_data`, which sends corpora here)."""
    from ..domain import DomainData
    from .data import CellDataset

    d = cfg.data
    reader, reads, described = open_corpus(source, d, seed=int(train_cfg.seed))
    train_rows, val_rows = split_rows(reader, train_size=float(d.train_size), val_datasets=d.val_datasets,
                                      seed=int(train_cfg.seed))
    if train_rows.size == 0:
        raise ValueError("pretrain sc: the split leaves no cell to train on; raise train_size")
    codes, categories = batch_codes_for(reader, d.batch_key)
    groups = reader.dataset_codes[train_rows]
    epoch_cells = int(sum(round(reader.weights[f] * int((groups == f).sum())) for f in np.unique(groups)))
    with_counts = cfg.model.loss == "nb"
    train = CellDataset(reader, train_rows, batch_codes=codes, with_counts=with_counts)
    val = CellDataset(reader, val_rows, batch_codes=codes, with_counts=with_counts) if val_rows.size else None

    def reading(batch_size: int):
        """The sampler factory once the batch size is resolved (the spec's resolve_train calls it).
        Backed files: chunks of 8 batches of consecutive cells (fast reads); in memory: small
        chunks, which, interleaved at random, give a near-uniform shuffle."""
        chunk = d.chunk_size if d.chunk_size else (8 * batch_size if not reader.in_memory else 64)
        reader.buffer_reads(int(chunk), int(d.buffer_chunks))
        info["chunk_size"] = int(chunk)
        return corpus_sampler_factory(groups, reader.weights, int(chunk), int(d.buffer_chunks))

    overlap = reader.overlap()
    for row, how in zip(overlap, reads):
        row["read"] = how
        if row["vocab_overlap"] < LOW_VOCAB_OVERLAP:
            warnings.warn(f"{row['source']} (dataset {row['dataset']!r}): measures only {row['n_vocab_measured']} of "
                          f"the {len(reader.genes)} vocabulary genes ({100 * row['vocab_overlap']:.1f}%); the rest are "
                          "unobserved for its cells. Check its gene naming (gene_key) if that is unexpected",
                          stacklevel=2)
        log.info("corpus %s: %d cells, %d/%d vocabulary genes measured (%.1f%%), read %s", row["dataset"],
                 row["n_cells"], row["n_vocab_measured"], len(reader.genes), 100 * row["vocab_overlap"], how)
    setup = {"layer": d.layer, "use_raw": bool(d.use_raw), "batch_key": d.batch_key}
    info = {"source": "corpus", "n_datasets": len(reader.datasets), "datasets": reader.datasets,
            "n_cells": reader.n_obs, "n_train_cells": int(train_rows.size), "n_val_cells": int(val_rows.size),
            "epoch_cells": epoch_cells,
            "n_genes": len(reader.genes), "vocab": d.vocab if d.genes is None else "given list",
            "hvg_flavor": d.hvg_flavor, **setup, "is_log1p": reader.is_log1p, "target_sum": reader.target_sum,
            "batch_categories": categories, "corpus": described, "gene_overlap": overlap,
            "split": {"train_size": float(d.train_size), "val_datasets": d.val_datasets},
            "data": d.to_dict()}
    content = {"reader": reader, "rows": train_rows, "batch_categories": categories, "setup": setup,
               "reading": reading}
    return DomainData(train=train, val=val, content=content, info=info, epoch_size=epoch_cells)
