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
import struct
import warnings
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..utils.io import PathLike, atomic_path
from ..utils.warn import caller_stacklevel
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
# The empty block bgzip writes last: a file without it was cut short (an interrupted download).
_BGZF_EOF = (b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00\x1b\x00\x03"
             b"\x00\x00\x00\x00\x00\x00\x00\x00\x00")
# IUPAC nucleotide codes, either case (lowercase = soft-masked); anything else is refused.
IUPAC_BASES = "ACGTURYSWKMBDHVN"
_VALID_BYTE = np.zeros(256, dtype=bool)
_VALID_BYTE[np.frombuffer((IUPAC_BASES + IUPAC_BASES.lower()).encode(), dtype=np.uint8)] = True
# Errors Bio.bgzf / zlib raise on a damaged bgzip stream.
_BGZF_ERRORS = (EOFError, struct.error, zlib.error, RuntimeError)


# ---------------------------------------------------------------------------- file checks
def _open_text_head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        except (OSError, EOFError, zlib.error) as exc:
            if is_bgzip(path):
                raise _bgzip_damaged(path, f"{type(exc).__name__}: {exc}") from None
            raise ValueError(f"{path}: a gzip file that cannot be decompressed ({exc}); is it truncated? "
                             "re-download it") from None
    return head


def is_bgzip(path: PathLike) -> bool:
    """True for a BGZF (bgzip) file: gzip with the ``BC`` extra subfield."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return head[:4] == _BGZF_MAGIC and head[12:14] == b"BC"


def _bgzip_damaged(path: PathLike, why: str) -> ValueError:
    return ValueError(f"{path}: truncated or corrupt bgzip file ({why}); re-download it, or "
                      "re-compress it with bgzip (htslib)")


def check_bgzip_intact(path: PathLike) -> None:
    """Raise ``ValueError`` when a bgzip file lacks the end-of-file block bgzip always writes
    (the file was cut short, e.g. by an interrupted download)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - len(_BGZF_EOF)))
        tail = fh.read()
    if tail != _BGZF_EOF:
        raise _bgzip_damaged(path, f"its end-of-file block is missing; {size} bytes on disk")


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
            if gz:
                check_bgzip_intact(self.source)
        self.bgzip = is_bgzip(self.fasta_path)
        self.max_cached_bases = int(max_cached_bases)
        self._fasta = None
        self._index: Optional[Tuple[str, Optional[str]]] = None  # (.fai, .gzi) once chosen
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
            if self._index is not None:  # reopened (e.g. in a DataLoader worker): index known good
                self._fasta = self._open_pyfaidx(*self._index, build=False)
            else:
                self._fasta = self._open_indexed()
        return self._fasta

    def _open_pyfaidx(self, fai: str, gzi: Optional[str], build: bool = True):
        import pyfaidx

        # rebuild=True: an index older than its FASTA (the file was replaced) is rebuilt.
        kwargs = {"gzi_indexname": gzi} if gzi is not None else {}
        try:
            return pyfaidx.Fasta(str(self.fasta_path), indexname=fai, sequence_always_upper=False,
                                 as_raw=True, rebuild=build, build_index=build, **kwargs)
        except _BGZF_ERRORS as exc:
            if self.bgzip:
                raise _bgzip_damaged(self.fasta_path, f"{type(exc).__name__}: {exc}") from None
            raise ValueError(f"{self.fasta_path}: cannot index this FASTA ({exc})") from None
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as exc:
            if self.bgzip and "BGZF" in str(exc):
                raise _bgzip_damaged(self.fasta_path, str(exc)) from None
            raise ValueError(f"{self.fasta_path}: cannot index this FASTA ({exc})") from None

    def _index_paths(self, folder: Optional[Path]) -> Tuple[str, Optional[str]]:
        """``(.fai, .gzi)`` paths beside the FASTA (``folder=None``) or in ``folder``."""
        base = str(self.fasta_path) if folder is None else str(folder / self.fasta_path.name)
        return base + ".fai", (base + ".gzi") if self.bgzip else None

    def _cache_folder(self) -> Path:
        """``$BIOR2_CACHE/fai/<hash of path, size, mtime>/``: where the index of a FASTA in a
        read-only folder is built."""
        from ..utils.wheels import cache_dir

        st = self.fasta_path.stat()
        key = f"{self.fasta_path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        folder = cache_dir() / "fai" / hashlib.sha256(key.encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _open_indexed(self):
        """Open the FASTA through pyfaidx with an index that matches it.

        The index beside the FASTA is used (built there when missing, rebuilt when it is older
        than the FASTA or disagrees with it: contig offsets or the file size). When the folder
        cannot be written, the index is built in the cache folder instead.
        """
        beside = self._index_paths(None)
        places = []
        if os.path.exists(beside[0]) or _writable(self.fasta_path.parent):
            places.append(beside)
        places.append(None)  # the cache folder, decided only when needed
        last_problem = None
        for place in places:
            if place is None:
                try:
                    place = self._index_paths(self._cache_folder())
                except OSError as exc:
                    last_problem = f"{last_problem + '; ' if last_problem else ''}no cache folder ({exc})"
                    break
            try:
                fa = self._open_pyfaidx(*place)
            except OSError as exc:  # the index could not be written there (read-only folder)
                last_problem = f"cannot write {place[0]} ({exc})"
                continue
            problem = _index_problem(fa, self.fasta_path, self.bgzip)
            if problem is None:
                self._index = place
                return fa
            fa.close()
            warnings.warn(f"{place[0]}: does not match {self.fasta_path} ({problem}); rebuilding it",
                          stacklevel=caller_stacklevel())
            removed = True
            for index_file in place:
                if index_file is not None and os.path.exists(index_file):
                    try:
                        os.unlink(index_file)
                    except OSError:
                        removed = False
            if not removed:
                last_problem = f"stale index {place[0]} cannot be removed"
                continue
            try:
                fa = self._open_pyfaidx(*place)
            except OSError as exc:
                last_problem = f"cannot write {place[0]} ({exc})"
                continue
            problem = _index_problem(fa, self.fasta_path, self.bgzip)
            if problem is None:
                self._index = place
                return fa
            fa.close()
            raise ValueError(f"{self.fasta_path}: the FASTA index built for it does not match the file "
                             f"({problem}); is the file being written to?")
        raise ValueError(f"{self.fasta_path}: cannot build a FASTA index ({last_problem}); set "
                         "BIOR2_CACHE to a writable folder")

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
        try:
            return str(self.fasta[contig][start:end])
        except _BGZF_ERRORS as exc:
            if self.bgzip:
                raise _bgzip_damaged(self.fasta_path, f"{type(exc).__name__}: {exc}") from None
            raise
        except ValueError as exc:
            if self.bgzip:
                raise _bgzip_damaged(self.fasta_path, str(exc)) from None
            raise

    def contig_tokens(self, contig: str) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids uint8, soft_mask bool)`` of a whole contig (cached)."""
        hit = self._cache.get(contig)
        if hit is not None:
            self._cache.move_to_end(contig)
            return hit
        seq = self.fetch(contig, 0, self.length(contig))
        raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
        if raw.size != self.length(contig):
            raise ValueError(f"{self.fasta_path}: contig {contig!r} reads as {raw.size} bases but its index "
                             f"says {self.length(contig)}; delete {self._index[0] if self._index else 'the .fai'} "
                             "and retry (the file changed while it was being read?)")
        valid = _VALID_BYTE[raw]
        if not valid.all():
            self._refuse_bases(contig, raw, valid)
        entry = (ENCODE_TABLE[raw], LOWERCASE_TABLE[raw])
        self._cache[contig] = entry
        total = sum(v[0].size for v in self._cache.values())
        while total > self.max_cached_bases and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            total -= old[0].size
        return entry

    def _refuse_bases(self, contig: str, raw: np.ndarray, valid: np.ndarray) -> None:
        bad = np.flatnonzero(~valid)
        first = int(bad[0])
        chars = sorted({chr(b) if 32 < b < 127 else repr(bytes([b])) for b in np.unique(raw[bad])[:10]})
        line = self._line_of(contig, first) if self.fasta_path == self.source else None
        where = f"line {line}" if line is not None else f"base {first + 1}"
        raise ValueError(
            f"{self.source}: record {contig!r}, {where}: {bad.size} character(s) that are not IUPAC "
            f"nucleotide codes ({', '.join(chars)}); a DNA FASTA may hold only {IUPAC_BASES} (either "
            "case; lowercase = soft-masked). Is this a protein or a corrupted file?")

    def _line_of(self, contig: str, pos0: int) -> Optional[int]:
        """1-based line number in the FASTA of base ``pos0`` of ``contig`` (None if unknown)."""
        try:
            rec = self.fasta.faidx.index[contig]
            byte = rec.offset + (pos0 // rec.lenc) * rec.lenb + pos0 % rec.lenc
            opener = gzip.open if self.bgzip else open
            lines, done = 1, 0
            with opener(self.fasta_path, "rb") as fh:
                while done < byte:
                    block = fh.read(min(1 << 20, byte - done))
                    if not block:
                        break
                    lines += block.count(b"\n")
                    done += len(block)
            return lines
        except Exception:  # only for a message: never hide the real error behind another
            return None

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


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _read_uncompressed(fa, start: int, n: int) -> bytes:
    """``n`` bytes at uncompressed offset ``start`` of the file behind a pyfaidx handle."""
    faidx = fa.faidx
    if faidx._bgzf:
        import bisect

        from pyfaidx import make_virtual_offset

        i = bisect.bisect_left(faidx.gzi_index, start)
        block = faidx.gzi_index[i - 1] if i > 0 else faidx.gzi_index[0]
        faidx.file.seek(make_virtual_offset(block.cstart, start - block.ustart))
    else:
        faidx.file.seek(start)
    return faidx.file.read(n)


def _index_problem(fa, path: Path, bgzip: bool, n_check: int = 64) -> Optional[str]:
    """Why the ``.fai`` behind ``fa`` does not describe ``path`` (``None`` when it does).

    A ``.fai`` newer than its FASTA is trusted by pyfaidx even when the FASTA was replaced
    (copied with its old index, restored from a backup): reading it then fails deep inside
    with an ``IndexError``. Here the header line just before a sample of records' offsets must
    name the record, and the last record must end where the (uncompressed) file ends.
    """
    index = fa.faidx.index
    names = list(index)
    if not names:
        return "it lists no sequences"
    picks = sorted(set(np.linspace(0, len(names) - 1, min(n_check, len(names))).astype(int).tolist()))
    try:
        for k in picks:
            name = names[k]
            rec = index[name]
            span = max(0, rec.offset - rec.prev_bend)
            text = _read_uncompressed(fa, rec.offset - span, span).decode("ascii", errors="replace")
            header = text.rstrip("\r\n").rsplit("\n", 1)[-1]
            if not (header.startswith(">") and header[1:].split()[:1] == [name]):
                return f"record {name!r} is not at offset {rec.offset} (found {header[:40]!r})"
        last = index[names[-1]]
        newline = last.lenb - last.lenc
        if not bgzip:
            size = path.stat().st_size
            # the last line may lack its newline; allow a little trailing whitespace
            if size < last.bend - newline or size > last.bend + 2 * max(newline, 1):
                return (f"its last record {names[-1]!r} ends at byte {last.bend}, the file has {size} bytes")
        else:
            after = _read_uncompressed(fa, last.bend, 4)
            if after.strip():
                return f"the file goes on past the end of its last record {names[-1]!r}"
    except _BGZF_ERRORS + (ValueError, OSError, IndexError) as exc:
        if bgzip and isinstance(exc, _BGZF_ERRORS):
            raise _bgzip_damaged(path, f"{type(exc).__name__}: {exc}") from None
        return f"cannot read the offsets it lists ({type(exc).__name__}: {exc})"
    return None


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
                raise ValueError(f"{path}:{lineno}: start/end must be integers, "
                                 f"got {fields[1]!r}, {fields[2]!r}") from None
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
    if stride is not None and int(stride) < 1:  # 0 is not "unset": it would be recorded as 0
        raise ValueError(f"data.stride (--stride) must be >= 1, or unset for one window length; got {stride}")
    stride = int(stride or window)
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
    n_candidates, longest, n_bases, n_n = 0, 0, 0, 0
    for chrom, group in intervals.groupby("chrom", sort=False):
        name = genome.resolve(chrom)
        if name is None:
            raise ValueError(f"{genome.source}: contig {chrom!r} from {where} is not in the genome")
        n = genome.length(name)
        spans = [(max(0, s), min(n, e)) for s, e in zip(group["start"], group["end"]) if min(n, e) > max(0, s)]
        starts = [_tile(s, e, window, stride, n) for s, e in spans]
        if not starts:
            continue
        longest = max(longest, n)
        starts = np.unique(np.concatenate(starts))
        n_candidates += starts.size
        if max_n_fraction < 1.0:
            ids, _ = genome.contig_tokens(name)
            is_n = np.concatenate([[0], np.cumsum(ids == N_ID)])
            lo = np.clip(starts, 0, n)
            hi = np.clip(starts + window, 0, n)
            # positions past the contig end count as N for this filter
            n_count = is_n[hi] - is_n[lo] + (window - (hi - lo))
            n_bases += int(sum(e - s for s, e in spans))
            n_n += int(sum(is_n[e] - is_n[s] for s, e in spans))
            starts = starts[n_count <= max_n_fraction * window]
        if starts.size:
            out.append(pd.DataFrame({"chrom": name, "start": starts, "end": starts + window}))
    if not out:
        if n_candidates == 0:
            raise ValueError(f"{genome.source}: no windows: {where} has no interval overlapping the genome"
                             + (f" among contigs {list(contigs)[:10]}" if contigs is not None else ""))
        if longest < window and longest < (1.0 - max_n_fraction) * window:
            raise ValueError(
                f"{genome.source}: no windows of length {window}: the longest contig is {longest} bases, "
                f"and a window running past a contig end counts the missing bases as N (max_n_fraction="
                f"{max_n_fraction}); choose a window of at most {longest} bases")
        frac = f" ({n_n / n_bases:.0%} of the bases are N)" if n_bases else ""
        raise ValueError(
            f"{genome.source}: no windows of length {window}: every one of the {n_candidates} windows "
            f"has more than max_n_fraction={max_n_fraction} of its bases N (unknown){frac}; is the "
            "genome assembled/unmasked (hard-masked N)? Raise max_n_fraction to keep them")
    return pd.concat(out, ignore_index=True)


def split_windows(windows: pd.DataFrame, held_out: Iterable[str],
                  genome: Optional[Genome] = None) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, held_out)`` windows: those on the named contigs go to the second part.

    With ``genome``, names are resolved through its aliases (``chr1`` = ``1``), and a name that
    is not in the genome is an error (a typo would otherwise hold out nothing, silently).
    """
    names = set()
    for c in held_out:
        name = genome.resolve(c) if genome is not None else c
        if name is None:
            raise ValueError(f"{genome.source}: no contig {c!r} (asked for in held_out); "
                             f"contigs are {list(genome.contigs)[:10]}")
        names.add(name)
    held = windows["chrom"].isin(names).to_numpy()
    return windows[~held].reset_index(drop=True), windows[held].reset_index(drop=True)


def genome_record(genome: Genome) -> Dict[str, Any]:
    """``{"name", "sha256"}`` of the genome file a model was trained on (for data.json and the model
    card: the same name can hold another assembly; the checksum says which file it was)."""
    path = Path(str(genome.source))
    record: Dict[str, Any] = {"name": path.name}
    if path.is_file():
        from ..utils.io import sha256_file

        record["sha256"] = sha256_file(path)
    return record


def check_held_out_weight(genome: Genome, held_windows: pd.DataFrame, soft_weight_eval: float) -> None:
    """Warn when every held-out base weighs 0 in validation: all soft-masked (lowercase) with
    ``task.soft_weight_eval == 0`` makes the held-out loss NaN (GPN's convention, said in words)."""
    if float(soft_weight_eval) > 0 or len(held_windows) == 0:
        return
    for chrom in held_windows["chrom"].unique():
        _, soft = genome.contig_tokens(chrom)
        rows = held_windows[held_windows["chrom"] == chrom]
        if any((~soft[max(0, int(a)):int(b)]).any() for a, b in zip(rows["start"], rows["end"])):
            return
    names = ", ".join(map(str, held_windows["chrom"].unique()[:5]))
    warnings.warn(f"{genome.source}: every base of the held-out contig(s) {names} (data.held_out, --held-out) is "
                  "soft-masked (lowercase), and soft-masked bases weigh task.soft_weight_eval = 0 in validation, "
                  "so the held-out loss will be NaN; hold out a contig with uppercase bases, or pass "
                  "--soft-weight-eval 0.1", UserWarning, stacklevel=caller_stacklevel())


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
