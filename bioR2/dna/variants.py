"""Variant files in, scores out: ``bior2 score-variants`` and :func:`score_variants`.

Inputs are VCF (``.vcf``, ``.vcf.gz``) or tables (TSV/CSV/parquet) with GPN's columns
``chrom, pos, ref, alt`` (``pos`` 1-based). Every input row comes back, in order, with a
``status`` (``ok``, or why it was skipped) and a ``score`` (NaN when skipped):

* chromosome names are resolved against the FASTA (``chr1`` = ``1``, ``chrM`` = ``MT``);
* the ref allele is checked against the genome: a mismatch is an error listing the first
  offenders, or with ``skip_mismatch`` a ``ref_mismatch`` status;
* indels, multi-allelic records, non-ACGT alleles, unknown contigs and positions past a contig
  end are skipped with a reason, never a crash;
* files are read and written in chunks, so a million-variant file never holds all its windows.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..utils.io import PathLike, atomic_path
from .data import Genome, open_genome

__all__ = [
    "VARIANT_COLUMNS",
    "detect_format",
    "iter_variant_chunks",
    "read_variants",
    "check_variants",
    "score_variants",
    "score_variants_file",
    "load_model_for_scoring",
]

VARIANT_COLUMNS = ("chrom", "pos", "ref", "alt")
_ALIASES = {
    "chrom": ("chrom", "#chrom", "chr", "chromosome", "contig", "seqname"),
    "pos": ("pos", "position", "start_1based"),
    "ref": ("ref", "reference", "ref_allele"),
    "alt": ("alt", "alternate", "alt_allele"),
}
ACGT = set("ACGT")


# ---------------------------------------------------------------------------- reading
def detect_format(path: PathLike) -> str:
    """``vcf``, ``parquet``, ``csv`` or ``tsv`` from the suffix (or the first line)."""
    path = Path(path)
    name = path.name.lower()
    for suffix in (".gz", ".bgz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".vcf"):
        return "vcf"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".txt", ".tab")):
        return "tsv"
    with _open_text(path) as fh:
        first = fh.readline()
    if first.startswith("##fileformat=VCF"):
        return "vcf"
    return "csv" if first.count(",") > first.count("\t") else "tsv"


def _open_text(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path, "rt")


def _normalise_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    lower = {str(c).lower(): c for c in df.columns}
    rename = {}
    for std, names in _ALIASES.items():
        if std in df.columns:
            continue
        for n in names:
            if n in lower:
                rename[lower[n]] = std
                break
    df = df.rename(columns=rename)
    missing = [c for c in VARIANT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(map(str, df.columns))[:12]} "
                         "(expected chrom, pos (1-based), ref, alt)")
    return df


def _vcf_header_lines(path: Path) -> int:
    n = 0
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith("##"):
                n += 1
                continue
            if not line.startswith("#CHROM"):
                raise ValueError(f"{path}: VCF has no '#CHROM POS ID REF ALT' header line")
            return n
    raise ValueError(f"{path}: VCF has no '#CHROM' header line")


def iter_variant_chunks(path: PathLike, chunk_size: int = 100_000,
                        fmt: Optional[str] = None) -> Iterator[pd.DataFrame]:
    """Yield the variants of ``path`` in chunks, columns standardised to ``chrom, pos, ref, alt``
    (other columns kept; a VCF keeps ``id``). ``pos`` stays 1-based."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: variants file not found")
    fmt = fmt or detect_format(path)
    offset = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own error kinds
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
        chunks = (b.to_pandas() for b in pf.iter_batches(batch_size=chunk_size))
    elif fmt == "vcf":
        skip = _vcf_header_lines(path)
        reader = pd.read_csv(path, sep="\t", skiprows=skip, header=0, dtype=str, chunksize=chunk_size,
                             usecols=range(5), keep_default_na=False, na_values=[""])
        chunks = (c.rename(columns={c.columns[0]: "chrom", c.columns[1]: "pos", c.columns[2]: "id",
                                    c.columns[3]: "ref", c.columns[4]: "alt"}) for c in reader)
    elif fmt in ("tsv", "csv"):
        try:
            chunks = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str, chunksize=chunk_size,
                                 keep_default_na=False, na_values=["", "NA", "NaN", "nan"])
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: the file is empty") from None
    else:
        raise ValueError(f"{path}: unknown variants format {fmt!r}")
    try:
        for chunk in chunks:
            chunk = _normalise_columns(chunk, path)
            chunk.index = pd.RangeIndex(offset, offset + len(chunk))
            offset += len(chunk)
            yield chunk
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: malformed table ({exc})") from None


def read_variants(path: PathLike, fmt: Optional[str] = None) -> pd.DataFrame:
    """All variants of a file as one DataFrame (use :func:`iter_variant_chunks` for big files)."""
    chunks = list(iter_variant_chunks(path, fmt=fmt))
    if not chunks:
        raise ValueError(f"{path}: no variants")
    return pd.concat(chunks)


# ---------------------------------------------------------------------------- checking
def check_variants(df: pd.DataFrame, genome: Genome, *, skip_mismatch: bool = False,
                   source: str = "variants") -> pd.DataFrame:
    """Add ``status``, and the resolved ``_contig`` / 0-based ``_pos0`` used for scoring.

    Raises ``ValueError`` for malformed rows (missing chrom/ref/alt, non-integer or < 1 pos) and,
    unless ``skip_mismatch``, for ref alleles that disagree with the genome.
    """
    df = df.copy()
    for col in ("chrom", "ref", "alt"):
        bad = df[col].isna()
        if bad.any():
            raise ValueError(f"{source}: column {col!r} is empty at row(s) {list(df.index[bad][:5])}")
    pos = pd.to_numeric(df["pos"], errors="coerce")
    bad = pos.isna() | (pos != np.floor(pos)) | (pos < 1)
    if bad.any():
        rows = list(df.index[bad][:5])
        raise ValueError(f"{source}: column 'pos' must be a 1-based integer; bad value(s) "
                         f"{df.loc[rows, 'pos'].tolist()} at row(s) {rows}")
    df["pos"] = pos.astype(np.int64)
    ref = df["ref"].astype(str).str.upper()
    alt = df["alt"].astype(str).str.upper()
    status = np.array(["ok"] * len(df), dtype=object)

    def mark(cond: np.ndarray, reason: str) -> None:
        status[cond & (status == "ok")] = reason

    mark((alt.str.contains(",")).to_numpy(), "skipped: multi-allelic (several alt alleles)")
    mark(alt.isin([".", "*", "<*>"]).to_numpy(), "skipped: no alternative allele")
    mark(((ref.str.len() != 1) | (alt.str.len() != 1)).to_numpy(), "skipped: not an SNV (indel or MNV)")
    mark((~ref.isin(ACGT) | ~alt.isin(ACGT)).to_numpy(), "skipped: non-ACGT allele")
    mark((ref == alt).to_numpy(), "skipped: alt equals ref")
    contig = np.array([genome.resolve(str(c)) for c in df["chrom"]], dtype=object)
    mark(np.array([c is None for c in contig]), "skipped: contig not in genome")
    pos0 = df["pos"].to_numpy() - 1
    lengths = np.array([genome.length(c) if c is not None else 0 for c in contig], dtype=np.int64)
    mark(pos0 >= lengths, "skipped: position past the contig end")

    ok = np.flatnonzero(status == "ok")
    if ok.size:
        found = np.empty(ok.size, dtype=object)
        cont_ok = contig[ok]
        for name in pd.unique(cont_ok):
            rows = np.flatnonzero(cont_ok == name)
            ids, _ = genome.contig_tokens(name)
            found[rows] = np.array(list("??ACGTN"))[ids[pos0[ok[rows]]]]
        mism = found != ref.to_numpy()[ok]
        if mism.any():
            bad_rows = ok[mism]
            if not skip_mismatch:
                examples = ", ".join(
                    f"{df['chrom'].iat[i]}:{df['pos'].iat[i]} ref={ref.iat[i]} genome={found[mism][k]}"
                    for k, i in enumerate(bad_rows[:5]))
                raise ValueError(
                    f"{source}: {mism.sum()} variant(s) whose ref allele does not match the genome "
                    f"{genome.source} (first: {examples}). Is this the right genome build? Pass "
                    "--skip-mismatch (skip_mismatch=True) to score the rest and mark these.")
            for k, i in enumerate(bad_rows):
                status[i] = f"ref_mismatch: genome has {found[mism][k]}"
    df["status"] = status
    df["_contig"] = contig
    df["_pos0"] = pos0
    return df


# ---------------------------------------------------------------------------- scoring
def load_model_for_scoring(model):
    """A :class:`~bioR2.dna.model.DNAMaskedLM` from a run folder (or the model itself)."""
    from ..train import load_model
    from .model import DNAMaskedLM

    if isinstance(model, DNAMaskedLM):
        return model
    loaded = load_model(model)
    if not isinstance(loaded, DNAMaskedLM):
        raise ValueError(f"{model}: not a DNA model (it holds a {type(loaded).__name__})")
    return loaded


def _load(model, genome):
    return load_model_for_scoring(model), open_genome(genome)


def _score_chunk(scorer, df: pd.DataFrame, skip_mismatch: bool, source: str,
                 embedding_distance: bool) -> pd.DataFrame:
    checked = check_variants(df, scorer.genome, skip_mismatch=skip_mismatch, source=source)
    ok = (checked["status"] == "ok").to_numpy()
    score = np.full(len(checked), np.nan)
    sub = checked[ok]
    score[ok] = scorer.llr(sub["_contig"].to_numpy(), sub["_pos0"].to_numpy(),
                           sub["ref"].astype(str).to_numpy(), sub["alt"].astype(str).to_numpy())
    out = checked.drop(columns=["_contig", "_pos0"])
    out["score"] = score
    if embedding_distance:
        dist = np.full(len(checked), np.nan)
        dist[ok] = scorer.embedding_distance(sub["_contig"].to_numpy(), sub["_pos0"].to_numpy(),
                                             sub["alt"].astype(str).to_numpy())
        out["embedding_distance"] = dist
    return out


def score_variants(model, genome, variants: Union[pd.DataFrame, PathLike], *, window: Optional[int] = None,
                   batch_size: int = 128, skip_mismatch: bool = False, embedding_distance: bool = False,
                   device: str = "cpu", precision: str = "fp32") -> pd.DataFrame:
    """Score SNVs zero-shot; returns the input columns plus ``status`` and ``score``.

    ``model`` is a :class:`~bioR2.dna.model.DNAMaskedLM` or a run folder; ``genome`` a
    :class:`~bioR2.dna.data.Genome` or a FASTA path; ``variants`` a DataFrame with
    ``chrom, pos (1-based), ref, alt`` or a file path. ``score`` is ``logit[alt] - logit[ref]``
    at the masked centre, averaged over both strands (lower = more disruptive).
    """
    from .scorer import VariantScorer

    model, genome = _load(model, genome)
    window = window or _model_window(model)
    scorer = VariantScorer(model, genome, window=window, batch_size=batch_size, device=device,
                           precision=precision)
    if isinstance(variants, pd.DataFrame):
        df = _normalise_columns(variants, Path("<DataFrame>"))
        return _score_chunk(scorer, df, skip_mismatch, "variants DataFrame", embedding_distance)
    parts = [_score_chunk(scorer, c, skip_mismatch, str(variants), embedding_distance)
             for c in iter_variant_chunks(variants)]
    if not parts:
        raise ValueError(f"{variants}: no variants")
    return pd.concat(parts)


def _model_window(model) -> int:
    return int(getattr(model, "window", None) or 512)


class _TableWriter:
    """Writes chunks to one TSV or parquet file, atomically at close."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.fmt = "parquet" if out.name.lower().endswith((".parquet", ".pq")) else "tsv"
        self._ctx = atomic_path(out)
        self.tmp = self._ctx.__enter__()
        self._writer = None
        self._schema = None
        self._first = True

    def write(self, df: pd.DataFrame) -> None:
        if self.fmt == "tsv":
            df.to_csv(self.tmp, sep="\t", index=False, header=self._first, mode="w" if self._first else "a",
                      na_rep="NA")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False, schema=self._schema)
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self.tmp, self._schema)
            self._writer.write_table(table)
        self._first = False

    def close(self, ok: bool) -> None:
        if self._writer is not None:
            self._writer.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)


def score_variants_file(model, genome, variants: PathLike, out: PathLike, *, window: Optional[int] = None,
                        batch_size: int = 128, chunk_size: int = 50_000, skip_mismatch: bool = False,
                        embedding_distance: bool = False, device: str = "cpu", precision: str = "fp32",
                        progress: Optional[bool] = None) -> Dict[str, Any]:
    """Stream ``variants`` through the scorer into ``out`` (``.tsv``/``.tsv.gz``/``.parquet``).

    Reads, scores and writes ``chunk_size`` variants at a time; the output appears atomically
    only when every chunk succeeded. Returns counts per status.
    """
    from .scorer import VariantScorer

    model, genome = _load(model, genome)
    window = window or _model_window(model)
    scorer = VariantScorer(model, genome, window=window, batch_size=batch_size, device=device,
                           precision=precision)
    out = Path(out)
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        bar = tqdm(unit="variant", dynamic_ncols=True)
    writer = _TableWriter(out)
    counts: Dict[str, int] = {}
    n = 0
    ok = False
    try:
        for chunk in iter_variant_chunks(variants, chunk_size=chunk_size):
            scored = _score_chunk(scorer, chunk, skip_mismatch, str(variants), embedding_distance)
            writer.write(scored)
            for status, k in scored["status"].value_counts().items():
                counts[status] = counts.get(status, 0) + int(k)
            n += len(scored)
            if bar is not None:
                bar.update(len(scored))
        if n == 0:
            raise ValueError(f"{variants}: no variants")
        ok = True
    finally:
        writer.close(ok)
        if bar is not None:
            bar.close()
    return {"variants": n, "status_counts": counts, "out": str(out)}
