"""In-silico mutagenesis: every SNV of a region, scored, as a table or a browser track.

``bior2 score-region`` and :func:`score_region` take regions (``chr1:1000-2000``, 1-based and
inclusive like samtools / the UCSC browser, or a BED file, 0-based half-open) and score every
alternative allele at every ``ACGT`` base (3 rows per position: ``chrom, pos, ref, alt,
score``), with the same two-strand log-likelihood ratio as ``score-variants``
(:class:`~bioR2.dna.scorer.VariantScorer`): one masked forward pass per position and strand gives
the logits of all three alternative alleles. Bases that are not ``ACGT`` (``N``) get no rows.

Outputs (by extension): a table (``.tsv``, ``.csv``, ``.parquet``, optionally ``.gz``), or with
``track`` (``min``, ``mean`` or ``max`` over the three alleles) a per-position track as
bedGraph (``.bedgraph``, ``.bedGraph``, ``.bg``) or bigWig (``.bw``, ``.bigwig``; needs the
optional ``pyBigWig``: ``pip install 'bioR2[tracks]'``).

Every region is checked (known contig, inside it, total size at most ``max_positions``) before
the model runs, and the output appears atomically only when every position was scored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..utils.device import DEFAULT_DEVICE
from ..utils.io import PathLike, atomic_path
from .data import Genome, open_genome

__all__ = [
    "parse_region",
    "read_region_bed",
    "resolve_regions",
    "region_snvs",
    "score_region",
    "score_region_file",
    "region_track",
    "check_region_output",
    "default_max_positions",
    "TRACK_STATS",
]

TRACK_STATS = ("min", "mean", "max")
TRACK_FORMATS = {".bedgraph": "bedgraph", ".bg": "bedgraph", ".bedgraph.gz": "bedgraph",
                 ".bw": "bigwig", ".bigwig": "bigwig"}
_BASES = np.array(list("??ACGTN"))
_ACGT_IDS = np.array([2, 3, 4, 5], dtype=np.int64)  # A, C, G, T token ids
_REGION = re.compile(r"^(?P<chrom>[^:\s]+)(?::(?P<start>[\d,_]+)-(?P<end>[\d,_]+))?$")
# bytes a scored position costs in memory as a DataFrame (3 rows of chrom, pos, ref, alt, score)
_BYTES_PER_POSITION = 1024

Region = Tuple[str, int, int]  # (genome contig, start0, end0): 0-based, half-open


# ---------------------------------------------------------------------------- regions
def parse_region(text: str) -> Tuple[str, Optional[int], Optional[int]]:
    """``"chr1:1000-2000"`` -> ``("chr1", 999, 2000)`` (0-based half-open); ``"chr1"`` -> ``("chr1", None,
    None)`` (the whole contig). Commas in numbers are allowed (``chr1:1,000-2,000``)."""
    m = _REGION.match(str(text).strip())
    if m is None:
        raise ValueError(f"--region {text!r}: expected CHROM:START-END (1-based, inclusive), e.g. chr1:1000-2000, "
                         "or a contig name")
    if m.group("start") is None:
        return m.group("chrom"), None, None
    start, end = (int(m.group(k).replace(",", "").replace("_", "")) for k in ("start", "end"))
    if start < 1 or end < start:
        raise ValueError(f"--region {text!r}: START must be >= 1 and END >= START (1-based, inclusive)")
    return m.group("chrom"), start - 1, end


def read_region_bed(path: PathLike) -> pd.DataFrame:
    """The intervals of a BED file as ``chrom, start, end`` (0-based half-open).

    Lines starting with ``#``, ``track`` or ``browser`` are skipped; a header line without
    them, an empty file, or a malformed interval is an error naming the file and line.
    """
    import gzip

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: BED file not found")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a BED file")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    rows = []
    with (gzip.open(path, "rt") if gz else open(path, "rt")) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
            if len(fields) < 3:
                raise ValueError(f"{path}: line {lineno}: a BED line needs chrom, start, end (tab-separated); "
                                 f"got {line.strip()[:60]!r}")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                if lineno == 1 or not rows:
                    raise ValueError(f"{path}: line {lineno} looks like a header ({line.strip()[:60]!r}); BED has "
                                     "no header: delete the line or start it with '#'") from None
                raise ValueError(f"{path}: line {lineno}: start/end must be integers, got {fields[1]!r}, "
                                 f"{fields[2]!r}") from None
            if start < 0 or end <= start:
                raise ValueError(f"{path}: line {lineno}: invalid interval start={start} end={end} "
                                 "(BED is 0-based, half-open: 0 <= start < end)")
            rows.append((fields[0], start, end))
    if not rows:
        raise ValueError(f"{path}: the BED file holds no intervals (it is empty or only comments)")
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def default_max_positions() -> int:
    """Positions one call may score by default: a quarter of the available memory at
    ~1 KiB per position (3 output rows), capped at 50 million."""
    avail = 8 << 30
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return int(min(50_000_000, max(100_000, avail // 4 // _BYTES_PER_POSITION)))


def resolve_regions(genome: Genome, regions: Sequence[Union[str, Tuple[str, Optional[int], Optional[int]]]] = (),
                    bed: Union[None, PathLike, pd.DataFrame] = None, *,
                    max_positions: Optional[int] = None) -> List[Region]:
    """Check regions against the genome and return them as ``(contig, start0, end0)``.

    ``regions`` are strings (:func:`parse_region`) or ``(chrom, start0, end0)`` tuples; ``bed`` a
    BED path or a ``chrom, start, end`` DataFrame. Unknown contigs, regions past a contig end
    and a total over ``max_positions`` (default :func:`default_max_positions`) are errors.
    Overlapping regions are merged, so no position is scored twice.
    """
    items: List[Tuple[str, Optional[int], Optional[int], str]] = []
    if isinstance(regions, str):  # one region given as a string, not a list of them
        regions = [regions]
    for r in regions or ():
        chrom, s, e = parse_region(r) if isinstance(r, str) else (str(r[0]), r[1], r[2])
        items.append((chrom, s, e, f"--region {r if isinstance(r, str) else f'{chrom}:{s}-{e}'}"))
    if bed is not None:
        table = bed if isinstance(bed, pd.DataFrame) else read_region_bed(bed)
        src = "the BED intervals" if isinstance(bed, pd.DataFrame) else str(bed)
        for k, (chrom, s, e) in enumerate(zip(table["chrom"], table["start"], table["end"])):
            items.append((str(chrom), int(s), int(e), f"{src} interval {k + 1} ({chrom}:{s}-{e})"))
    if not items:
        raise ValueError("no region given: pass --region CHROM:START-END (repeatable) or --bed FILE")
    out: List[Region] = []
    for chrom, s, e, what in items:
        name = genome.resolve(chrom)
        if name is None:
            names = list(genome.contigs)
            raise ValueError(f"{what}: contig {chrom!r} is not in the genome {genome.source} (it has "
                             f"{names[:8]}{' ...' if len(names) > 8 else ''})")
        n = genome.length(name)
        s, e = (0, n) if s is None else (int(s), int(e))
        if e > n:
            raise ValueError(f"{what}: ends at {e}, past the end of {name} ({n} bases) in {genome.source}")
        out.append((name, s, e))
    merged = _merge(out)
    total = sum(e - s for _, s, e in merged)
    limit = default_max_positions() if max_positions is None else int(max_positions)
    if total > limit:
        raise ValueError(f"the regions hold {total:,} positions, more than --max-positions {limit:,}; split "
                         "them into smaller runs or raise --max-positions")
    return merged


def _merge(regions: List[Region]) -> List[Region]:
    by_contig: Dict[str, List[Tuple[int, int]]] = {}
    for c, s, e in regions:
        by_contig.setdefault(c, []).append((s, e))
    out: List[Region] = []
    for c, spans in by_contig.items():
        spans.sort()
        cur_s, cur_e = spans[0]
        for s, e in spans[1:]:
            if s <= cur_e:
                cur_e = max(cur_e, e)
            else:
                out.append((c, cur_s, cur_e))
                cur_s, cur_e = s, e
        out.append((c, cur_s, cur_e))
    return out


# ---------------------------------------------------------------------------- SNVs
def _acgt_positions(genome: Genome, contig: str, start: int, end: int) -> Tuple[np.ndarray, np.ndarray]:
    """0-based positions in ``[start, end)`` whose base is ACGT (either case) and their ref token ids."""
    ids, _ = genome.contig_tokens(contig)
    seg = ids[start:end].astype(np.int64)
    keep = np.isin(seg, _ACGT_IDS)
    return np.arange(start, end, dtype=np.int64)[keep], seg[keep]


def _alt_ids(ref_ids: np.ndarray) -> np.ndarray:
    """``(n, 3)`` the three other bases of each ref, in A, C, G, T order."""
    table = np.array([[b for b in _ACGT_IDS if b != r] for r in _ACGT_IDS], dtype=np.int64)
    return table[ref_ids - _ACGT_IDS[0]]


def region_snvs(genome: Union[Genome, PathLike], regions: Sequence = (), bed=None, *,
                max_positions: Optional[int] = None) -> pd.DataFrame:
    """Every SNV of the regions as ``chrom, pos (1-based), ref, alt`` (3 rows per ACGT base, alts in
    A, C, G, T order): the table :func:`score_region` scores, and ``score-variants`` can read."""
    genome = open_genome(genome)
    parts = []
    for contig, s, e in resolve_regions(genome, regions, bed, max_positions=max_positions):
        pos0, ref = _acgt_positions(genome, contig, s, e)
        parts.append(_rows(contig, pos0, ref, np.full((len(pos0), 3), np.nan)))
    return pd.concat(parts, ignore_index=True).drop(columns="score")


def _rows(contig: str, pos0: np.ndarray, ref: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    alts = _alt_ids(ref)
    n = len(pos0)
    return pd.DataFrame({
        "chrom": np.full(3 * n, contig, dtype=object),
        "pos": np.repeat(pos0 + 1, 3),
        "ref": _BASES[np.repeat(ref, 3)],
        "alt": _BASES[alts.reshape(-1)],
        "score": scores.reshape(-1).astype(np.float64),
    })


# ---------------------------------------------------------------------------- scoring
def _score_positions(scorer, contig: str, pos0: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``(n, 3)`` scores of the three alternative alleles at each position, as
    :meth:`VariantScorer.llr` computes them (one masked pass per position and strand; for a
    convnet whose cone fits the window, the unmasked activations are shared between positions:
    :mod:`bioR2.dna.mutagenesis`)."""
    from .mutagenesis import shared_pass_applies, shared_site_logits
    from .scorer import complement_ids

    if shared_pass_applies(scorer):  # neighbouring positions share one unmasked pass per tile
        lf, lr = shared_site_logits(scorer, contig, pos0)
    else:
        lf, lr = scorer.site_logits(np.full(len(pos0), contig, dtype=object), pos0)
    alts = _alt_ids(ref)
    rows = np.arange(len(pos0))[:, None]
    fwd = lf[rows, alts] - lf[rows, ref[:, None]]
    rev = lr[rows, complement_ids(alts)] - lr[rows, complement_ids(ref)[:, None]]
    return 0.5 * (fwd.astype(np.float64) + rev.astype(np.float64))


def _iter_scored(scorer, regions: List[Region], chunk: int, bar=None) -> Iterator[pd.DataFrame]:
    for contig, s, e in regions:
        for lo in range(s, e, chunk):
            pos0, ref = _acgt_positions(scorer.genome, contig, lo, min(e, lo + chunk))
            if len(pos0):
                yield _rows(contig, pos0, ref, _score_positions(scorer, contig, pos0, ref))
            if bar is not None:
                bar.update(min(e, lo + chunk) - lo)


def _make_scorer(model, genome, window, batch_size, device, precision):
    from .scorer import VariantScorer
    from .variants import model_window, load_model_for_scoring

    model = load_model_for_scoring(model)
    genome = open_genome(genome)
    return VariantScorer(model, genome, window=window or model_window(model), batch_size=batch_size,
                         device=device, precision=precision)


def score_region(model, genome, regions: Sequence = (), *, bed=None, window: Optional[int] = None,
                 batch_size: int = 128, max_positions: Optional[int] = None, device: str = DEFAULT_DEVICE,
                 precision: str = "fp32") -> pd.DataFrame:
    """Score every SNV of the regions; returns ``chrom, pos (1-based), ref, alt, score``.

    Parameters
    ----------
    model
        A :class:`~bioR2.dna.model.DNAMaskedLM`, a run folder, a GPN checkpoint or a Hub id
        (as for :func:`~bioR2.dna.variants.score_variants`).
    genome
        A :class:`~bioR2.dna.data.Genome` or a FASTA path.
    regions
        ``"chr1:1000-2000"`` strings (1-based, inclusive) or ``(chrom, start0, end0)`` tuples.
    bed
        A BED file or ``chrom, start, end`` DataFrame of more regions (0-based, half-open).
    max_positions
        Refuse regions holding more positions (default: sized to the available memory).

    Returns
    -------
    DataFrame
        Three rows per ACGT base (alts in A, C, G, T order); ``score`` equals what
        ``score_variants`` gives the same SNV. Use :func:`region_track` for one value per base.
    """
    genome = open_genome(genome)
    todo = resolve_regions(genome, regions, bed, max_positions=max_positions)
    scorer = _make_scorer(model, genome, window, batch_size, device, precision)
    parts = list(_iter_scored(scorer, todo, chunk=max(4096, batch_size)))
    if not parts:
        raise _no_bases(todo)
    return pd.concat(parts, ignore_index=True)


def region_track(scores: pd.DataFrame, stat: str = "min") -> pd.DataFrame:
    """One value per position: ``chrom, start (0-based), end, value`` where value is the ``min``,
    ``mean`` or ``max`` of the three alleles' scores (``min``: the most disruptive change)."""
    if stat not in TRACK_STATS:
        raise ValueError(f"--track {stat!r}: choose one of {', '.join(TRACK_STATS)}")
    g = scores.groupby(["chrom", "pos"], sort=False)["score"].agg(stat).reset_index()
    return pd.DataFrame({"chrom": g["chrom"], "start": g["pos"] - 1, "end": g["pos"], "value": g["score"]})


# ---------------------------------------------------------------------------- writing
def check_region_output(out: PathLike, track: Optional[str]) -> Tuple[str, bool]:
    """``(format, compressed)`` of a ``score-region`` output, or a ``ValueError`` saying what to
    change: a track needs ``.bedgraph``/``.bw``, a table ``.tsv``/``.csv``/``.parquet``; bigWig
    needs ``pyBigWig``."""
    from .variants import check_output_format

    name = Path(out).name.lower()
    fmt = next((f for sfx, f in sorted(TRACK_FORMATS.items(), key=lambda kv: -len(kv[0]))
                if name.endswith(sfx) and len(name) > len(sfx)), None)
    if track is not None and track not in TRACK_STATS:
        raise ValueError(f"--track {track!r}: choose one of {', '.join(TRACK_STATS)}")
    if fmt is not None:
        if track is None:
            raise ValueError(f"--out {out}: a {fmt} track holds one value per base; pass --track min|mean|max "
                             "(or name the output .tsv/.csv/.parquet for every allele)")
        if fmt == "bigwig":
            _require_pybigwig()
        return fmt, name.endswith(".gz")
    if track is not None:
        raise ValueError(f"--out {out}: --track writes a per-base track; name the output .bedgraph or .bw")
    return check_output_format(out)


def _require_pybigwig():
    try:
        import pyBigWig
    except ImportError:
        from ..utils.lazy import MissingExtra

        raise MissingExtra("bigWig output needs pyBigWig: pip install 'bioR2[tracks]' (or pyBigWig), or write "
                          "a .bedgraph") from None
    return pyBigWig


def _no_bases(regions: List[Region]) -> ValueError:
    return ValueError(f"the regions {[f'{c}:{s + 1}-{e}' for c, s, e in regions][:5]} hold no ACGT base (all N?)")


def _write_track(chunks: Iterator[pd.DataFrame], out: Path, fmt: str, compressed: bool, stat: str,
                 genome: Genome, regions: List[Region]) -> int:
    n = 0
    with atomic_path(out) as tmp:
        if fmt == "bigwig":
            bw = _require_pybigwig().open(str(tmp), "w")
            # header: the contigs in genome order (bigWig entries must come sorted the same way)
            bw.addHeader([(c, genome.length(c)) for c in genome.contigs])
            try:
                for track in map(lambda c: region_track(c, stat), chunks):
                    bw.addEntries(track["chrom"].tolist(), track["start"].tolist(), ends=track["end"].tolist(),
                                  values=track["value"].astype(float).tolist())
                    n += len(track)
            finally:
                bw.close()
        else:
            import gzip

            with (gzip.open(tmp, "wt") if compressed else open(tmp, "w")) as fh:
                fh.write(f'track type=bedGraph name="bioR2_{stat}" description="bioR2 {stat} score of 3 SNVs"\n')
                for chunk in chunks:
                    track = region_track(chunk, stat)
                    track.to_csv(fh, sep="\t", header=False, index=False, float_format="%.6g")
                    n += len(track)
        if n == 0:  # inside the atomic block: nothing is left behind
            raise _no_bases(regions)
    return n


def score_region_file(model, genome, out: PathLike, regions: Sequence = (), *, bed=None,
                      track: Optional[str] = None, window: Optional[int] = None, batch_size: int = 128,
                      max_positions: Optional[int] = None, device: str = DEFAULT_DEVICE, precision: str = "fp32",
                      progress: Optional[bool] = None) -> Dict[str, object]:
    """Score every SNV of the regions into ``out`` (a table, or with ``track`` a bedGraph/bigWig
    track; see the module docstring). Everything is checked before the model runs; the output
    appears only when complete. Returns ``{"positions", "snvs", "out"}``."""
    from ..train.log import progress_bar
    from .variants import TableWriter

    out = Path(out)
    fmt, compressed = check_region_output(out, track)
    genome = open_genome(genome)
    todo = resolve_regions(genome, regions, bed, max_positions=max_positions)
    order = {c: i for i, c in enumerate(genome.contigs)}
    todo.sort(key=lambda r: (order[r[0]], r[1]))  # genome order: what a bigWig needs
    scorer = _make_scorer(model, genome, window, batch_size, device, precision)
    total = sum(e - s for _, s, e in todo)
    bar = progress_bar(total, enabled=progress, unit="base")
    counter = {"snvs": 0}

    def counted():
        for chunk in _iter_scored(scorer, todo, chunk=max(4096, batch_size), bar=bar):
            counter["snvs"] += len(chunk)
            yield chunk

    try:
        if fmt in ("bedgraph", "bigwig"):
            _write_track(counted(), out, fmt, compressed, track, genome, todo)
        else:
            writer = TableWriter(out)
            ok = False
            try:
                for chunk in counted():
                    writer.write(chunk)
                if counter["snvs"] == 0:
                    raise _no_bases(todo)
                ok = True
            finally:
                writer.close(ok)
    finally:
        if bar is not None:
            bar.close()
    return {"positions": counter["snvs"] // 3, "snvs": counter["snvs"], "out": str(out)}
