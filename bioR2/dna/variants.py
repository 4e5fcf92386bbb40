"""Variant files in, scores out: ``bior2 score-variants`` and :func:`score_variants`.

Inputs are VCF (``.vcf``, ``.vcf.gz``) or tables (TSV/CSV/parquet) with GPN's columns
``chrom, pos, ref, alt`` (``pos`` 1-based). Every input row comes back, in order, with a
``status`` (``ok``, or why it was skipped) and a ``score`` (NaN when skipped):

* chromosome names are resolved against the FASTA (``chr1`` = ``1``, ``chrM`` = ``MT``);
* the ref allele is checked against the genome: a mismatch is an error listing the first
  offenders, or with ``skip_mismatch`` a ``ref_mismatch`` status;
* a multi-allelic VCF record is scored allele by allele (one row per ALT);
* indels, non-ACGT alleles, unknown contigs and positions past a contig end are skipped with a
  reason, never a crash;
* files are read and written in chunks, so a million-variant file never holds all its windows;
* messages name rows by their 1-based line number in the file (header lines counted);
* the output is written in the format its extension names (:func:`check_output_format`:
  ``.tsv``, ``.csv``, ``.parquet``, ``.vcf``, optionally ``.gz``; a VCF carries the score and
  status in INFO), and a file none of whose contigs is in the genome is an error.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..utils.device import DEFAULT_DEVICE
from ..utils.io import PathLike, atomic_path
from .formats import OUTPUT_FORMATS, check_output_format, detect_format, is_gzip, open_text, vcf_number, vcf_token
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
    "check_output_format",
    "OUTPUT_FORMATS",
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
        hint = ""
        if len(df.columns) == 1 and len(str(df.columns[0]).split()) >= 4:
            hint = ("; the header looks space-separated: separate columns with tabs (.tsv) or commas "
                    "(.csv)")
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(map(str, df.columns))[:12]} "
                         f"(expected chrom, pos (1-based), ref, alt){hint}")
    return df


def _check_separated(chunk: pd.DataFrame, path: Path, sep_name: str) -> None:
    """A line with one field where the header has several, holding whitespace: the line was
    written with spaces instead of the file's separator."""
    rest = chunk.columns[1:]
    if not len(rest):
        return
    empty = chunk[rest].isna().all(axis=1).to_numpy()
    first = chunk.iloc[:, 0].astype(str)
    spaced = empty & chunk.iloc[:, 0].notna().to_numpy() & first.str.strip().str.contains(r"\s").to_numpy()
    if spaced.any():
        k = int(np.flatnonzero(spaced)[0])
        raise ValueError(f"{path}: line {chunk.index[k]} looks space-separated ({first.iat[k][:60]!r}); "
                         f"{sep_name}" + (f" ({int(spaced.sum())} such lines)" if spaced.sum() > 1 else ""))


def _vcf_header_lines(path: Path) -> int:
    n = 0
    with open_text(path) as fh:
        for line in fh:
            if line.startswith("##"):
                n += 1
                continue
            if not line.startswith("#CHROM"):
                raise ValueError(f"{path}: VCF has no '#CHROM POS ID REF ALT' header line")
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5:
                raise ValueError(f"{path}: the VCF header line has {len(fields)} tab-separated field(s) "
                                 f"{fields}; expected at least #CHROM, POS, ID, REF, ALT")
            return n
    raise ValueError(f"{path}: VCF has no '#CHROM' header line")


def iter_variant_chunks(path: PathLike, chunk_size: int = 100_000,
                        fmt: Optional[str] = None) -> Iterator[pd.DataFrame]:
    """Yield the variants of ``path`` in chunks, columns standardised to ``chrom, pos, ref, alt``
    (other columns kept; a VCF keeps ``id``). ``pos`` stays 1-based. Rows are indexed by their
    1-based line number in the file (index name ``line``; parquet: row number, ``row``)."""
    path = Path(path)
    try:
        yield from _iter_variant_chunks(path, chunk_size, fmt)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: truncated or corrupt gzip file ({type(exc).__name__}: {exc}); "
                         "re-download it, or re-compress it") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file (byte {exc.start}: {exc.reason}); is it binary, "
                         "or compressed without a .gz name?") from None


def _iter_variant_chunks(path: Path, chunk_size: int, fmt: Optional[str]) -> Iterator[pd.DataFrame]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: variants file not found")
    if path.is_dir():  # datasets save_to_disk, parquet shards, TraitGym: bioR2/dna/variant_folders.py
        from .variant_folders import iter_folder_chunks

        for chunk in iter_folder_chunks(path, chunk_size):
            yield _normalise_columns(chunk, path)
        return
    fmt = fmt or detect_format(path)
    # By content, not suffix: gnomAD ships bgzip files named .vcf.bgz, which pandas would not
    # recognise as compressed.
    compression = "gzip" if fmt != "parquet" and is_gzip(path) else None
    # Rows are indexed by their 1-based line number in the file (header lines counted), so
    # messages point where an editor does; parquet rows are numbered from 1.
    first_line = 1
    sep_hint = ""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own error kinds
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
        chunks = (b.to_pandas() for b in pf.iter_batches(batch_size=chunk_size))
    elif fmt == "vcf":
        skip = _vcf_header_lines(path)
        first_line = skip + 2
        sep_hint = "a VCF needs tab-separated columns"
        reader = pd.read_csv(path, sep="\t", skiprows=skip, header=0, dtype=str, chunksize=chunk_size,
                             usecols=range(5), keep_default_na=False, na_values=[""],
                             compression=compression, skip_blank_lines=False)
        chunks = (c.rename(columns={c.columns[0]: "chrom", c.columns[1]: "pos", c.columns[2]: "id",
                                    c.columns[3]: "ref", c.columns[4]: "alt"}) for c in reader)
    elif fmt in ("tsv", "csv"):
        try:
            chunks = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str, chunksize=chunk_size,
                                 keep_default_na=False, na_values=["", "NA", "NaN", "nan"],
                                 compression=compression, skip_blank_lines=False)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: the file is empty") from None
        first_line = 2
        sep_hint = f"a .{fmt} file needs {'tab' if fmt == 'tsv' else 'comma'}-separated columns"
    else:
        raise ValueError(f"{path}: unknown variants format {fmt!r}")
    offset = first_line
    try:
        for chunk in chunks:
            chunk.index = pd.RangeIndex(offset, offset + len(chunk), name="row" if fmt == "parquet" else "line")
            offset += len(chunk)
            if fmt != "parquet":
                # blank lines were kept so that the index counts lines; drop them now
                blank = np.ones(len(chunk), dtype=bool)
                for col in chunk.columns:
                    values = chunk[col]
                    blank &= (values.isna() | values.astype(str).str.strip().eq("")).to_numpy()
                chunk = chunk[~blank]
                _check_separated(chunk, path, sep_hint)
            chunk = _normalise_columns(chunk, path)
            if fmt == "vcf":
                chunk = split_alleles(chunk)
            yield chunk
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: malformed table ({exc})") from None


def split_alleles(df: pd.DataFrame) -> pd.DataFrame:
    """One row per ALT allele: a multi-allelic VCF record (``alt`` ``A,G``) becomes two rows with
    the same line number, each scored on its own."""
    alt = df["alt"].astype(str)
    multi = alt.str.contains(",", regex=False).to_numpy() & df["alt"].notna().to_numpy()
    if not multi.any():
        return df
    out = df.assign(alt=[a.split(",") if m else a for a, m in zip(alt, multi)]).explode("alt")
    return out


def read_variants(path: PathLike, fmt: Optional[str] = None) -> pd.DataFrame:
    """All variants of a file as one DataFrame (use :func:`iter_variant_chunks` for big files)."""
    chunks = list(iter_variant_chunks(path, fmt=fmt))
    if not chunks:
        raise ValueError(f"{path}: no variants")
    return pd.concat(chunks)


# ---------------------------------------------------------------------------- checking
def _where(df: pd.DataFrame, mask) -> str:
    """``line(s) [3, 7]`` for rows read from a file (index = 1-based line numbers, see
    :func:`iter_variant_chunks`), ``row(s) [...]`` (the DataFrame's index) otherwise."""
    word = "line(s)" if df.index.name == "line" else "row(s)"
    labels = df.index[np.asarray(mask, dtype=bool)][:5]
    return f"{word} {[int(x) if isinstance(x, (int, np.integer)) else x for x in labels]}"


def check_variants(df: pd.DataFrame, genome: Genome, *, skip_mismatch: bool = False,
                   source: str = "variants", require_known_contig: bool = True) -> pd.DataFrame:
    """Add ``status``, and the resolved ``_contig`` / 0-based ``_pos0`` used for scoring.

    Raises ``ValueError`` for malformed rows (missing chrom/ref/alt, non-integer or < 1 pos),
    unless ``skip_mismatch`` for ref alleles that disagree with the genome, and (with
    ``require_known_contig``) when no variant's contig is in the genome at all (the wrong
    genome, or another naming scheme). Rows read from a file are named by their line number.
    """
    df = df.copy()
    for col in ("chrom", "ref", "alt"):
        bad = df[col].isna().to_numpy()
        if bad.any():
            raise ValueError(f"{source}: column {col!r} is empty at {_where(df, bad)}")
    pos = pd.to_numeric(df["pos"], errors="coerce")
    bad = (pos.isna() | (pos != np.floor(pos)) | (pos < 1)).to_numpy()
    if bad.any():
        raise ValueError(f"{source}: column 'pos' must be a 1-based integer; bad value(s) "
                         f"{df['pos'][bad].tolist()[:5]} at {_where(df, bad)}")
    df["pos"] = pos.astype(np.int64)
    for col in ("chrom", "ref", "alt"):  # ' A' would read as a 2-letter allele, "not an SNV"
        text = df[col].astype(str)
        padded = (text != text.str.strip()).to_numpy()
        if padded.any():
            raise ValueError(f"{source}: column {col!r} has values padded with spaces "
                             f"({text[padded].tolist()[:3]}) at {_where(df, padded)}; remove the spaces "
                             "(fields are separated by tabs only)")
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
    unknown = np.array([c is None for c in contig], dtype=bool)
    if require_known_contig and len(df) and unknown.all():
        raise unknown_contigs_error(source, df["chrom"], genome)
    mark(unknown, "skipped: contig not in genome")
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
                line = {"line": "line ", "record": "record "}.get(df.index.name, "row ")
                examples = ", ".join(
                    f"{df['chrom'].iat[i]}:{df['pos'].iat[i]} ref={ref.iat[i]} genome={found[mism][k]} "
                    f"({line}{df.index[i]})"
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


def unknown_contigs_error(source: str, chroms: Sequence[Any], genome: Genome) -> ValueError:
    """The error for a variants file none of whose contigs is in the genome."""
    seen = [str(c) for c in pd.unique(pd.Series(list(chroms), dtype=object))[:8]]
    names = list(genome.contigs)
    return ValueError(
        f"{source}: none of the variants' contigs is in the genome {genome.source}: the file has "
        f"{seen}, the genome has {names[:10]}{' ...' if len(names) > 10 else ''} "
        f"({len(names)} contigs). Is this the genome the variants were called on?")


# ---------------------------------------------------------------------------- scoring
def load_model_for_scoring(model):
    """A :class:`~bioR2.dna.model.DNAMaskedLM` from a run folder (or the model itself), or a
    :class:`~bioR2.dna.gpn_compat.GPNMaskedLM` from a GPN checkpoint folder (``config.json`` of
    ``model_type`` GPN + weights: see :mod:`bioR2.dna.gpn_compat`). A Hub id ``ORG/NAME[@REV]`` is
    downloaded first."""
    from pathlib import Path

    from ..hub import load_model
    from ..domain import model_domain
    from .gpn_compat import GPNMaskedLM, is_hf_checkpoint, load_gpn_checkpoint
    from .model import DNAMaskedLM

    if isinstance(model, (DNAMaskedLM, GPNMaskedLM)):
        return model
    if isinstance(model, (str, Path)):
        if isinstance(model, str) and not Path(model).exists():
            from ..hub import is_repo_id, resolve_model_path  # lazy: huggingface_hub only for a Hub id

            if is_repo_id(model):
                model = resolve_model_path(model)
        if is_hf_checkpoint(model):  # GPN's, or another Hugging Face model (refused by name)
            return load_gpn_checkpoint(model)
    loaded = load_model(model)
    if not isinstance(loaded, DNAMaskedLM):
        raise ValueError(f"{model}: holds a {model_domain(loaded)} model ({type(loaded).__name__}); "
                         "scoring variants needs a DNA model from `bior2 pretrain dna` or a GPN checkpoint")
    return loaded


def load_model_and_genome(model, genome):
    """``(model, genome)`` ready to score: a model (or run folder, GPN folder, Hub id) checked for
    DNA scoring, and a genome opened from a path (or an open :class:`~bioR2.dna.Genome`)."""
    return load_model_for_scoring(model), open_genome(genome)


def score_chunk(scorer, df: pd.DataFrame, skip_mismatch: bool, source: str,
                embedding_distance: bool, require_known_contig: bool = True) -> pd.DataFrame:
    checked = check_variants(df, scorer.genome, skip_mismatch=skip_mismatch, source=source,
                             require_known_contig=require_known_contig)
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


class ContigTally:
    """Across the chunks of a file: was any variant's contig in the genome? (A file whose
    contigs are all unknown is an error; a chunk of unplaced contigs alone is not.)"""

    def __init__(self) -> None:
        self.known = 0
        self.seen: List[str] = []

    def add(self, scored: pd.DataFrame) -> None:
        unknown = (scored["status"] == "skipped: contig not in genome").to_numpy()
        self.known += int((~unknown).sum())
        if len(self.seen) < 8:
            for c in pd.unique(scored["chrom"].astype(str)):
                if c not in self.seen and len(self.seen) < 8:
                    self.seen.append(c)

    def check(self, source: str, genome: Genome) -> None:
        if self.seen and self.known == 0:
            raise unknown_contigs_error(source, self.seen, genome)


def score_variants(model, genome, variants: Union[pd.DataFrame, PathLike], *, window: Optional[int] = None,
                   batch_size: int = 128, skip_mismatch: bool = False, embedding_distance: bool = False,
                   device: str = DEFAULT_DEVICE, precision: str = "fp32") -> pd.DataFrame:
    """Score SNVs zero-shot; returns the input columns plus ``status`` and ``score``.

    ``model`` is a :class:`~bioR2.dna.model.DNAMaskedLM` or a run folder; ``genome`` a
    :class:`~bioR2.dna.data.Genome` or a FASTA path; ``variants`` a DataFrame with
    ``chrom, pos (1-based), ref, alt`` or a file path (rows then indexed by their line number in
    the file). ``score`` is ``logit[alt] - logit[ref]`` at the masked centre, averaged over both
    strands (lower = more disruptive).
    """
    from .scorer import VariantScorer

    model, genome = load_model_and_genome(model, genome)
    window = window or model_window(model)
    scorer = VariantScorer(model, genome, window=window, batch_size=batch_size, device=device,
                           precision=precision)
    if isinstance(variants, pd.DataFrame):
        df = _normalise_columns(variants, Path("<DataFrame>"))
        return score_chunk(scorer, df, skip_mismatch, "variants DataFrame", embedding_distance)
    tally = ContigTally()
    parts = []
    for c in iter_variant_chunks(variants):
        parts.append(score_chunk(scorer, c, skip_mismatch, str(variants), embedding_distance,
                                  require_known_contig=False))
        tally.add(parts[-1])
    if not parts or not sum(len(p) for p in parts):
        raise ValueError(f"{variants}: no variants")
    tally.check(str(variants), genome)
    return pd.concat(parts)


def model_window(model) -> int:
    return int(getattr(model, "window", None) or 512)


# ---------------------------------------------------------------------------- writing
_VCF_INFO = (
    ("score", "BIOR2_SCORE", "Float", "bioR2 zero-shot score: logit[alt] - logit[ref] at the masked "
                                      "site, averaged over both strands (lower = more disruptive)"),
    ("embedding_distance", "BIOR2_EMBEDDING_DISTANCE", "Float",
     "bioR2: RMS difference of the ref and alt windows' hidden states"),
    ("probe_score", "BIOR2_PROBE_SCORE", "Float", "bioR2: out-of-fold probability from a linear probe"),
    ("status", "BIOR2_STATUS", "String", "bioR2: ok, or why the variant was not scored"),
)


class TableWriter:
    """Writes chunks to one output file in the format its extension names (TSV, CSV, parquet
    or VCF, optionally gzipped; see :func:`check_output_format`), atomically at close."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.fmt, self.compressed = check_output_format(self.out)
        self._ctx = atomic_path(self.out)
        self.tmp = self._ctx.__enter__()
        self._writer = None
        self._schema = None
        self._first = True
        self._handle = None

    def write(self, df: pd.DataFrame) -> None:
        if self.fmt in ("tsv", "csv"):
            df.to_csv(self.tmp, sep="\t" if self.fmt == "tsv" else ",", index=False, header=self._first,
                      mode="w" if self._first else "a", na_rep="NA",
                      compression="gzip" if self.compressed else None)
        elif self.fmt == "vcf":
            self._write_vcf(df)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False, schema=self._schema)
            if self._writer is None:
                # A column empty throughout the first chunk is typed null; later chunks may
                # hold text there, so such columns are written as strings.
                self._schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                                          for f in table.schema], metadata=table.schema.metadata)
                table = table.cast(self._schema)
                self._writer = pq.ParquetWriter(self.tmp, self._schema)
            self._writer.write_table(table)
        self._first = False

    def _write_vcf(self, df: pd.DataFrame) -> None:
        if self._handle is None:
            if self.compressed:  # bgzip, so that tabix/bcftools can index it
                from Bio import bgzf

                self._handle = bgzf.BgzfWriter(str(self.tmp), "wb")
            else:
                self._handle = open(self.tmp, "wb")
            self._info = [(col, key) for col, key, _, _ in _VCF_INFO if col in df.columns]
            header = ["##fileformat=VCFv4.2", "##source=bioR2"]
            header += [f'##INFO=<ID={key},Number=1,Type={kind},Description="{desc}">'
                       for col, key, kind, desc in _VCF_INFO if col in df.columns]
            header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
            self._handle.write(("\n".join(header) + "\n").encode())
        ids = df["id"].fillna(".").astype(str) if "id" in df.columns else pd.Series(".", index=df.index)
        cols = {col: (df[col].map(vcf_token) if key == "BIOR2_STATUS" else df[col].map(vcf_number))
                for col, key in self._info}
        lines = []
        for i in range(len(df)):
            info = ";".join(f"{key}={cols[col].iat[i]}" for col, key in self._info)
            lines.append(f"{df['chrom'].iat[i]}\t{df['pos'].iat[i]}\t{ids.iat[i]}\t{df['ref'].iat[i]}\t"
                         f"{df['alt'].iat[i]}\t.\t.\t{info or '.'}\n")
        self._handle.write("".join(lines).encode())

    def close(self, ok: bool) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)


def score_variants_file(model, genome, variants: PathLike, out: PathLike, *, window: Optional[int] = None,
                        batch_size: int = 128, chunk_size: int = 50_000, skip_mismatch: bool = False,
                        embedding_distance: bool = False, device: str = DEFAULT_DEVICE, precision: str = "fp32",
                        progress: Optional[bool] = None, region: Optional[str] = None,
                        info_name: str = "BIOR2_SCORE") -> Dict[str, Any]:
    """Stream ``variants`` through the scorer into ``out``, in the format its extension names:
    ``.tsv``/``.tsv.gz``, ``.csv``/``.csv.gz``, ``.parquet``, or ``.vcf``/``.vcf.gz`` (a VCF
    with the score and status in INFO: ``BIOR2_SCORE``, ``BIOR2_STATUS``). Any other extension
    is refused before anything is computed.

    Reads, scores and writes ``chunk_size`` variants at a time; the output appears atomically
    only when every chunk succeeded. Returns counts per status.

    A VCF written from a VCF keeps every input column and header line and gets the scores as
    INFO fields declared ``Number=A`` (``info_name``, default ``BIOR2_SCORE``), one value per
    ALT; ``.vcf.gz`` is bgzipped with a tabix index (:mod:`bioR2.dna.vcf`, needs ``pysam``).
    ``region`` (``chr1:1000-2000``) reads only that region of an indexed VCF.
    """
    from .scorer import VariantScorer
    from .vcf import check_vcf_input, vcf_to_vcf

    check_output_format(out)
    from_vcf = Path(variants).is_file() and detect_format(variants) == "vcf"
    if region is not None and not from_vcf:
        raise ValueError(f"{variants}: --region reads a region of an indexed VCF; this input is not a VCF")
    if from_vcf and (region is not None or vcf_to_vcf(variants, out)):
        check_vcf_input(variants, info_name, embedding_distance, region)  # before the model loads
    model, genome = load_model_and_genome(model, genome)
    window = window or model_window(model)
    scorer = VariantScorer(model, genome, window=window, batch_size=batch_size, device=device,
                           precision=precision)
    out = Path(out)
    from ..train.log import progress_bar

    bar = progress_bar(enabled=progress, unit="variant")
    if vcf_to_vcf(variants, out):
        from .vcf import score_vcf_file

        try:
            return score_vcf_file(scorer, variants, out, score_chunk=score_chunk, tally=ContigTally(),
                                  info_name=info_name, region=region, chunk_size=chunk_size,
                                  skip_mismatch=skip_mismatch, embedding_distance=embedding_distance, bar=bar)
        finally:
            if bar is not None:
                bar.close()
    if region is not None:
        from .vcf import iter_vcf_region_chunks

        chunks = iter_vcf_region_chunks(variants, region, chunk_size=chunk_size)
    else:
        chunks = iter_variant_chunks(variants, chunk_size=chunk_size)
    writer = TableWriter(out)
    counts: Dict[str, int] = {}
    tally = ContigTally()
    n = 0
    ok = False
    try:
        for chunk in chunks:
            scored = score_chunk(scorer, chunk, skip_mismatch, str(variants), embedding_distance,
                                  require_known_contig=False)
            tally.add(scored)
            writer.write(scored)
            for status, k in scored["status"].value_counts().items():
                counts[status] = counts.get(status, 0) + int(k)
            n += len(scored)
            if bar is not None:
                bar.update(len(scored))
        if n == 0:
            raise ValueError(f"{variants}: no variants")
        tally.check(str(variants), genome)
        ok = True
    finally:
        writer.close(ok)
        if bar is not None:
            bar.close()
    return {"variants": n, "status_counts": counts, "out": str(out)}
