"""Genomes in, training windows out.

* :class:`Genome` opens a FASTA (plain or bgzip, indexed on first use by pyfaidx) or a
  GenBank/EMBL file (converted once to an indexed FASTA in the cache) and serves token windows,
  padding with ``[PAD]`` where a window runs past a contig end.
* :func:`make_windows` tiles chosen contigs or BED intervals with windows of a given length and
  stride and drops windows with too many ``N``; :func:`split_windows` holds out named contigs.
* :class:`WindowDataset` is what the trainer reads: token ids plus a per-base ``soft_mask``
  (lowercase = soft-masked repeat), with random reverse-complement augmentation drawn from
  ``index_rng(seed, epoch, index)`` so a resumed run sees the same strands.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..utils.io import PathLike, atomic_path
from .tokenizer import ENCODE_TABLE, LOWERCASE_TABLE, N_ID, PAD_ID, reverse_complement_ids

__all__ = [
    "Genome",
    "open_genome",
    "read_bed",
    "make_windows",
    "split_windows",
    "WindowDataset",
    "contig_aliases",
]

GENBANK_SUFFIXES = (".gb", ".gbk", ".genbank", ".gbff", ".embl", ".emb")
_BGZF_MAGIC = b"\x1f\x8b\x08\x04"


# ---------------------------------------------------------------------------- file checks
def _open_text_head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        except OSError as exc:
            raise ValueError(f"{path}: a gzip file that cannot be decompressed ({exc})") from None
    return head


def is_bgzip(path: PathLike) -> bool:
    """True for a BGZF (bgzip) file: gzip with the ``BC`` extra subfield."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return head[:4] == _BGZF_MAGIC and head[12:14] == b"BC"


def _sniff_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".gz", ".bgz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(GENBANK_SUFFIXES):
        return "embl" if name.endswith((".embl", ".emb")) else "genbank"
    head = _open_text_head(path).lstrip()
    if head.startswith(b"LOCUS"):
        return "genbank"
    if head.startswith(b"ID   "):
        return "embl"
    if head.startswith(b">"):
        return "fasta"
    if not head:
        raise ValueError(f"{path}: the file is empty; expected a FASTA, GenBank or EMBL genome")
    raise ValueError(
        f"{path}: not a FASTA file (the first character is {head[:1]!r}, not '>'), and not GenBank/EMBL"
    )


def _genbank_to_fasta(path: Path, fmt: str, cache: Optional[Path]) -> Path:
    """Convert a GenBank/EMBL genome once into ``$BIOR2_CACHE/genomes/<stem>-<hash>.fa``."""
    from Bio import SeqIO

    from ..utils.wheels import cache_dir

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    folder = Path(cache) if cache is not None else cache_dir() / "genomes"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.name.split('.')[0]}-{key}.fa"
    if target.exists():
        return target
    opener = gzip.open if path.name.lower().endswith((".gz", ".bgz")) else open
    n = 0
    with atomic_path(target) as tmp, opener(path, "rt") as src, open(tmp, "w") as out:
        try:
            for record in SeqIO.parse(src, fmt):
                seq = str(record.seq)
                if not seq:
                    raise ValueError(f"{path}: record {record.id!r} has no sequence")
                out.write(f">{record.id}\n")
                for i in range(0, len(seq), 80):
                    out.write(seq[i:i + 80] + "\n")
                n += 1
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}: cannot read as {fmt} ({exc})") from None
    if n == 0:
        target.unlink(missing_ok=True)
        raise ValueError(f"{path}: no {fmt} records with a sequence")
    return target


# ---------------------------------------------------------------------------- aliases
def _alias_keys(name: str) -> List[str]:
    """Spellings that may refer to contig ``name`` (``chr1``/``1``, ``chrM``/``MT``/``M``)."""
    bare = name[3:] if name.lower().startswith("chr") else name
    keys = [name, bare, "chr" + bare]
    if bare.upper() in ("M", "MT"):
        keys += ["M", "MT", "chrM", "chrMT"]
    return keys


def contig_aliases(names: Iterable[str]) -> Dict[str, str]:
    """Map alternative spellings to the genome's own contig names.

    An exact name always wins; an alias shared by two contigs is dropped (ambiguous).
    """
    names = list(names)
    exact = set(names)
    table: Dict[str, Optional[str]] = {}
    for name in names:
        for key in _alias_keys(name):
            if key in exact:
                continue
            if key in table and table[key] != name:
                table[key] = None  # ambiguous
            else:
                table[key] = name
    out = {k: v for k, v in table.items() if v is not None}
    out.update({n: n for n in names})
    return out


# ---------------------------------------------------------------------------- genome
class Genome:
    """A reference genome read through pyfaidx, served as token windows.

    Parameters
    ----------
    path
        FASTA (``.fa``, ``.fa.gz`` compressed with ``bgzip``) or GenBank/EMBL (plain or gzip).
    cache_dir
        Where GenBank/EMBL files are converted to FASTA (default ``$BIOR2_CACHE/genomes``).
    max_cached_bases
        Whole contigs are tokenised once and kept (1 byte per base, plus 1 for the case);
        the least recently used are dropped beyond this many bases.
    """

    def __init__(self, path: PathLike, cache_dir: Optional[PathLike] = None,
                 max_cached_bases: int = 600_000_000) -> None:
        self.source = Path(path)
        if not self.source.exists():
            raise FileNotFoundError(f"{self.source}: genome file not found")
        if self.source.is_dir():
            raise IsADirectoryError(f"{self.source}: is a folder; expected a FASTA/GenBank file")
        fmt = _sniff_format(self.source)
        if fmt in ("genbank", "embl"):
            self.fasta_path = _genbank_to_fasta(self.source, fmt, Path(cache_dir) if cache_dir else None)
        else:
            self.fasta_path = self.source
            with open(self.source, "rb") as fh:
                gz = fh.read(2) == b"\x1f\x8b"
            if gz and not is_bgzip(self.source):
                raise ValueError(
                    f"{self.source}: compressed with plain gzip, not bgzip, so it cannot be indexed "
                    f"for random access; run `gunzip {self.source.name}` or recompress it with "
                    "`bgzip` (htslib)"
                )
        self.max_cached_bases = int(max_cached_bases)
        self._fasta = None
        self._cache: "OrderedDict[str, Tuple[np.ndarray, np.ndarray]]" = OrderedDict()
        self._lengths = self._read_lengths()
        self._aliases = contig_aliases(self._lengths)

    # pyfaidx handles do not survive pickling into DataLoader workers: reopen lazily.
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fasta"] = None
        state["_cache"] = OrderedDict()
        return state

    @property
    def fasta(self):
        if self._fasta is None:
            import pyfaidx

            try:
                self._fasta = pyfaidx.Fasta(str(self.fasta_path), sequence_always_upper=False,
                                            as_raw=True, rebuild=False, build_index=True)
            except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as exc:
                raise ValueError(f"{self.fasta_path}: cannot index this FASTA ({exc})") from None
            except OSError as exc:
                raise ValueError(f"{self.fasta_path}: cannot read or index ({exc})") from None
        return self._fasta

    def _read_lengths(self) -> Dict[str, int]:
        lengths = {name: len(rec) for name, rec in self.fasta.records.items()}
        if not lengths:
            raise ValueError(f"{self.fasta_path}: no sequences found")
        empty = [name for name, n in lengths.items() if n == 0]
        if empty:
            raise ValueError(f"{self.fasta_path}: contig {empty[0]!r} is empty (0 bases)"
                             + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""))
        return lengths

    # ------------------------------------------------------------------ contigs
    @property
    def contigs(self) -> Dict[str, int]:
        """Contig name -> length, in file order."""
        return dict(self._lengths)

    def __len__(self) -> int:
        return len(self._lengths)

    def resolve(self, name: str) -> Optional[str]:
        """The genome's spelling of ``name`` (``1`` -> ``chr1``, ``MT`` -> ``chrM``), or None."""
        return self._aliases.get(str(name))

    def length(self, contig: str) -> int:
        try:
            return self._lengths[contig]
        except KeyError:
            raise KeyError(f"{self.source}: no contig {contig!r}") from None

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases ``[start, end)`` (0-based, half-open) with their case, clipped to the contig."""
        n = self.length(contig)
        start, end = max(0, int(start)), min(n, int(end))
        if end <= start:
            return ""
        return str(self.fasta[contig][start:end])

    def contig_tokens(self, contig: str) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids uint8, soft_mask bool)`` of a whole contig (cached)."""
        hit = self._cache.get(contig)
        if hit is not None:
            self._cache.move_to_end(contig)
            return hit
        seq = self.fetch(contig, 0, self.length(contig))
        raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
        entry = (ENCODE_TABLE[raw], LOWERCASE_TABLE[raw])
        self._cache[contig] = entry
        total = sum(v[0].size for v in self._cache.values())
        while total > self.max_cached_bases and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            total -= old[0].size
        return entry

    def windows(self, contig: str, starts: Sequence[int], length: int) -> Tuple[np.ndarray, np.ndarray]:
        """Token windows ``[start, start + length)`` of one contig: ``(n, length)`` int64 ids and
        bool soft mask; positions outside the contig are ``[PAD]`` (and not soft-masked)."""
        ids, soft = self.contig_tokens(contig)
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        pos = starts[:, None] + np.arange(length, dtype=np.int64)[None, :]
        inside = (pos >= 0) & (pos < ids.size)
        clipped = np.clip(pos, 0, ids.size - 1)
        out_ids = np.where(inside, ids[clipped], PAD_ID).astype(np.int64)
        out_soft = np.where(inside, soft[clipped], False)
        return out_ids, out_soft


def open_genome(genome: Union[Genome, PathLike], **kwargs) -> Genome:
    """A :class:`Genome` from a path (or the same object)."""
    return genome if isinstance(genome, Genome) else Genome(genome, **kwargs)


# ---------------------------------------------------------------------------- BED + windows
def read_bed(path: PathLike) -> pd.DataFrame:
    """Read the first three columns of a BED file (0-based, half-open) as ``chrom, start, end``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: BED file not found")
    rows = []
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            if len(fields) < 3:
                raise ValueError(f"{path}:{lineno}: a BED line needs chrom, start, end; got {line.strip()!r}")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: start/end must be integers, got {fields[1]!r}, {fields[2]!r}") from None
            if start < 0 or end <= start:
                raise ValueError(f"{path}:{lineno}: invalid interval start={start} end={end}")
            rows.append((fields[0], start, end))
    if not rows:
        raise ValueError(f"{path}: no intervals")
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def _tile(start: int, end: int, window: int, stride: int, contig_len: int) -> np.ndarray:
    """Window starts covering ``[start, end)``; the last window is aligned to ``end``."""
    span = end - start
    if span <= window:
        # One window centred on a short interval, kept inside the contig when it fits.
        s = start - (window - span) // 2
        s = min(max(s, 0), max(contig_len - window, 0))
        return np.array([s], dtype=np.int64)
    starts = np.arange(start, end - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < end:
        starts = np.append(starts, end - window)
    return starts


def make_windows(
    genome: Union[Genome, PathLike],
    window: int = 512,
    stride: Optional[int] = None,
    contigs: Optional[Sequence[str]] = None,
    bed: Union[None, PathLike, pd.DataFrame] = None,
    max_n_fraction: float = 0.1,
) -> pd.DataFrame:
    """Windows ``chrom, start, end`` (0-based) tiling contigs or BED intervals.

    ``contigs`` limits to those contigs (aliases such as ``1``/``chr1`` are resolved);
    ``bed`` tiles only its intervals instead of whole contigs. Windows whose fraction of ``N``
    exceeds ``max_n_fraction`` are dropped. A contig or interval shorter than the window gets
    one window (padded past the contig end).
    """
    genome = open_genome(genome)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    stride = int(stride or window)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if bed is not None:
        intervals = bed if isinstance(bed, pd.DataFrame) else read_bed(bed)
        where = "the BED file" if not isinstance(bed, pd.DataFrame) else "the intervals"
    else:
        intervals = pd.DataFrame({"chrom": list(genome.contigs), "start": 0,
                                  "end": list(genome.contigs.values())})
        where = "the genome"
    if contigs is not None:
        wanted = set()
        for c in contigs:
            name = genome.resolve(c)
            if name is None:
                raise ValueError(f"{genome.source}: no contig {c!r} (asked for in contigs)")
            wanted.add(name)
        intervals = intervals[[genome.resolve(c) in wanted for c in intervals["chrom"]]]
    out: List[pd.DataFrame] = []
    for chrom, group in intervals.groupby("chrom", sort=False):
        name = genome.resolve(chrom)
        if name is None:
            raise ValueError(f"{genome.source}: contig {chrom!r} from {where} is not in the genome")
        n = genome.length(name)
        starts = [_tile(max(0, s), min(n, e), window, stride, n) for s, e in zip(group["start"], group["end"]) if min(n, e) > max(0, s)]
        if not starts:
            continue
        starts = np.unique(np.concatenate(starts))
        if max_n_fraction < 1.0:
            ids, _ = genome.contig_tokens(name)
            is_n = np.concatenate([[0], np.cumsum(ids == N_ID)])
            lo = np.clip(starts, 0, n)
            hi = np.clip(starts + window, 0, n)
            # positions past the contig end count as N for this filter
            n_count = is_n[hi] - is_n[lo] + (window - (hi - lo))
            starts = starts[n_count <= max_n_fraction * window]
        out.append(pd.DataFrame({"chrom": name, "start": starts, "end": starts + window}))
    if not out:
        raise ValueError(f"{genome.source}: no windows left (window={window}, max_n_fraction={max_n_fraction})")
    return pd.concat(out, ignore_index=True)


def split_windows(windows: pd.DataFrame, held_out: Iterable[str],
                  genome: Optional[Genome] = None) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, held_out)`` windows: those on the named contigs go to the second part.

    With ``genome``, names are resolved through its aliases (``chr1`` = ``1``).
    """
    names = set()
    for c in held_out:
        name = genome.resolve(c) if genome is not None else c
        names.add(name if name is not None else c)
    held = windows["chrom"].isin(names).to_numpy()
    return windows[~held].reset_index(drop=True), windows[held].reset_index(drop=True)


# ---------------------------------------------------------------------------- dataset
class WindowDataset:
    """Token windows for masked-LM training.

    Items are dicts ``{"input_ids": LongTensor(L), "soft_mask": BoolTensor(L)}``; the trainer
    reads whole batches through ``__getitems__`` (one vectorised gather per contig).
    With ``reverse_complement=True`` each window is reverse-complemented with probability 1/2,
    decided by ``index_rng(seed, epoch, index)`` so resumes and worker counts do not change it.
    """

    def __init__(self, genome: Union[Genome, PathLike], windows: pd.DataFrame,
                 reverse_complement: bool = True, seed: int = 0) -> None:
        self.genome = open_genome(genome)
        missing = {"chrom", "start", "end"} - set(windows.columns)
        if missing:
            raise ValueError(f"windows table lacks column(s) {sorted(missing)}")
        if len(windows) == 0:
            raise ValueError("no windows to train on")
        lengths = (windows["end"] - windows["start"]).unique()
        if len(lengths) != 1:
            raise ValueError(f"windows must all have one length, got {sorted(lengths)[:5]}")
        self.window = int(lengths[0])
        self.chrom = windows["chrom"].astype(str).to_numpy()
        self.start = windows["start"].to_numpy(dtype=np.int64)
        self.reverse_complement = reverse_complement
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.start)

    def _flip(self, index: int) -> bool:
        from ..train import index_rng

        return bool(self.reverse_complement and index_rng(self.seed, self.epoch, index).random() < 0.5)

    def __getitems__(self, indices: Sequence[int]):
        import torch

        indices = np.asarray(indices, dtype=np.int64)
        ids = np.empty((len(indices), self.window), dtype=np.int64)
        soft = np.empty((len(indices), self.window), dtype=bool)
        chroms = self.chrom[indices]
        for chrom in np.unique(chroms):
            rows = np.flatnonzero(chroms == chrom)
            ids[rows], soft[rows] = self.genome.windows(chrom, self.start[indices[rows]], self.window)
        for row, index in enumerate(indices):
            if self._flip(int(index)):
                ids[row] = reverse_complement_ids(ids[row])
                soft[row] = soft[row][::-1]
        return {"input_ids": torch.from_numpy(ids), "soft_mask": torch.from_numpy(soft)}

    def __getitem__(self, index: int):
        batch = self.__getitems__([index])
        return {k: v[0] for k, v in batch.items()}

    @staticmethod
    def collate(items):
        """Stack single items (used when a DataLoader does not call ``__getitems__``)."""
        import torch

        if isinstance(items, dict):
            return items
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}
