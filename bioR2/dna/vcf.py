"""VCF in, the same VCF out with scores added: ``score-variants`` on ``.vcf`` -> ``.vcf(.gz)``.

The input is read with ``pysam`` (htslib; an optional extra: ``pip install 'bioR2[vcf]'``), and
every record is written back as it came (header, ID, QUAL, FILTER, INFO, FORMAT and samples),
with the score added to INFO as a field declared ``Number=A``: one value per ALT allele, so a
multi-allelic record is scored allele by allele (``.`` for an allele that cannot be scored,
whose reason is in the ``..._STATUS`` field). A ``.vcf.gz`` output is bgzipped and gets a tabix
index (``.tbi``); ``region`` reads only that region of an indexed input (``.tbi``/``.csi``).

A header that already declares the INFO field is refused (pick another name with
``info_name``); nothing is written until every record is scored.
"""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pandas as pd

from .formats import check_output_format, detect_format, vcf_number, vcf_token
from ..utils.io import PathLike, atomic_path

__all__ = ["require_pysam", "status_field", "check_vcf_input", "score_vcf_file", "iter_vcf_region_chunks"]

DEFAULT_INFO = "BIOR2_SCORE"


def require_pysam(why: str = "reading and writing a VCF with its header, QUAL, FILTER and INFO"):
    """The ``pysam`` module, or an ``ImportError`` saying how to get it."""
    try:
        import pysam
    except ImportError:
        from ..utils.lazy import MissingExtra

        raise MissingExtra(f"{why} needs pysam: pip install 'bioR2[vcf]' (or pysam)") from None
    return pysam


def status_field(info_name: str) -> str:
    return "BIOR2_STATUS" if info_name == DEFAULT_INFO else f"{info_name}_STATUS"


def _info_fields(info_name: str, embedding_distance: bool) -> List[Tuple[str, str, str, str]]:
    fields = [("score", info_name, "Float",
               "bioR2 zero-shot score per ALT: logit[alt] - logit[ref] at the masked site, averaged over both "
               "strands (lower = more disruptive)")]
    if embedding_distance:
        fields.append(("embedding_distance", f"{info_name}_EMBEDDING_DISTANCE", "Float",
                       "bioR2: RMS difference of the ref and alt windows' hidden states, per ALT"))
    fields.append(("status", status_field(info_name), "String", "bioR2: ok, or why the ALT was not scored"))
    return fields


def _open(path: Path, region: Optional[str]):
    pysam = require_pysam()
    pysam.set_verbosity(0)  # htslib's warnings (e.g. undeclared contigs) would bypass our messages
    if not path.exists():
        raise FileNotFoundError(f"{path}: variants file not found")
    try:
        vf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable VCF ({exc})") from None
    if region is None:
        return vf, iter(vf)
    if vf.index is None:
        raise ValueError(f"{path}: --region needs an indexed VCF (bgzipped, with a .tbi or .csi beside it); run "
                         f"`tabix -p vcf {path.name}` (or bcftools index)")
    try:
        return vf, vf.fetch(region=region)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot read region {region!r} ({exc}); contigs in its index: "
                         f"{list(vf.index)[:8]}") from None


def check_vcf_input(path: PathLike, info_name: str = DEFAULT_INFO, embedding_distance: bool = False,
                    region: Optional[str] = None) -> None:
    """Refuse, before any work, a VCF that cannot be read, lacks the index ``region`` needs, or
    already declares one of the INFO fields the scores would be written to."""
    path = Path(path)
    vf, _ = _open(path, region)
    try:
        for _, key, _, _ in _info_fields(info_name, embedding_distance):
            if key in vf.header.info:
                raise ValueError(f"{path}: its header already declares INFO field {key}; pass --info-name "
                                 "ANOTHER_NAME (info_name=...) so that the existing values are kept")
    finally:
        vf.close()


def _format(values: List[Any], kind: str) -> str:
    return ",".join(vcf_token(v) if kind == "String" else vcf_number(v) for v in values)


def _score_records(scorer, score_chunk, records, skip_mismatch: bool, source: str, embedding_distance: bool,
                   first: int = 1):
    """Scores of every ALT of ``records`` (a list of pysam records): a DataFrame with one row per
    allele, ``_rec`` naming its record in the list; rows are labelled with the record's number in
    the file (``first`` for the first), which messages quote."""
    rows = []
    for k, rec in enumerate(records):
        for alt in rec.alts or ():
            rows.append((rec.chrom, rec.pos, rec.ref, alt, k))
    df = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "_rec"])
    df.index = pd.Index(df["_rec"].to_numpy() + first, name="record")
    if not len(df):
        return df.assign(status=[], score=[])
    return score_chunk(scorer, df, skip_mismatch, source, embedding_distance, require_known_contig=False)


def score_vcf_file(scorer, variants: PathLike, out: PathLike, *, score_chunk, tally,
                   info_name: str = DEFAULT_INFO,
                   region: Optional[str] = None, chunk_size: int = 50_000, skip_mismatch: bool = False,
                   embedding_distance: bool = False, bar=None) -> Dict[str, Any]:
    """Copy the VCF ``variants`` to ``out`` with each ALT's score in INFO (see the module docstring).

    ``scorer`` is a :class:`~bioR2.dna.scorer.VariantScorer`; ``score_chunk(scorer, df, ...)`` scores a
    table of alleles and ``tally`` counts them by contig (:func:`bioR2.dna.variants.score_chunk`,
    :class:`~bioR2.dna.variants.ContigTally`, passed in so that this module stays below ``variants``).
    ``out`` ending in ``.gz``/``.bgz`` is bgzipped and indexed (``out.tbi``). Returns
    ``{"variants": alleles, "records", "status_counts", "out"}``.
    """
    pysam = require_pysam()
    variants, out = Path(variants), Path(out)
    check_vcf_input(variants, info_name, embedding_distance, region)
    compressed = out.name.lower().endswith((".gz", ".bgz"))
    fields = _info_fields(info_name, embedding_distance)
    vf, records = _open(variants, region)
    header = str(vf.header).rstrip("\n").split("\n")
    extra = [f'##INFO=<ID={key},Number=A,Type={kind},Description="{desc}">' for _, key, kind, desc in fields]
    header = header[:-1] + extra + header[-1:]
    counts: Dict[str, int] = {}
    index = None
    try:
        with atomic_path(out) as tmp:
            index = Path(str(tmp) + ".tbi")
            totals = [0, 0]
            _write(pysam, tmp, compressed, header, records, fields, scorer, score_chunk, str(variants), chunk_size,
                   skip_mismatch, embedding_distance, bar, tally, counts, totals)
            n_alleles, n_records = totals
            if n_records == 0:
                raise ValueError(f"{variants}: no variants" + (f" in region {region}" if region else ""))
            tally.check(str(variants), scorer.genome)
            if compressed:
                try:
                    pysam.tabix_index(str(tmp), preset="vcf", force=True)
                except (OSError, ValueError):
                    # an unsorted input stays unsorted: write it, but say why it has no index
                    warnings.warn(f"{out}: written without a tabix index: the input's records are not sorted by "
                                  "contig and position (sort it with `bcftools sort` to get one)", stacklevel=3)
        if compressed and index.exists():
            os.replace(index, str(out) + ".tbi")
        elif compressed and Path(str(out) + ".tbi").exists():
            os.unlink(str(out) + ".tbi")  # an index of the file this one replaced
    finally:
        vf.close()
        if index is not None and index.exists():
            index.unlink()
    return {"variants": n_alleles, "records": n_records, "status_counts": counts, "out": str(out)}


def _write(pysam, tmp: Path, compressed: bool, header: List[str], records, fields, scorer, score_chunk, source: str,
           chunk_size: int, skip_mismatch: bool, embedding_distance: bool, bar, tally, counts: Dict[str, int],
           totals: List[int]) -> None:
    """Write the header and every record, ``chunk_size`` records scored at a time."""
    fh = pysam.BGZFile(str(tmp), "wb") if compressed else open(tmp, "wb")
    try:
        fh.write(("\n".join(header) + "\n").encode())
        while True:
            chunk = list(itertools.islice(records, chunk_size))
            if not chunk:
                break
            scored = _score_records(scorer, score_chunk, chunk, skip_mismatch, source, embedding_distance,
                                    first=totals[1] + 1)
            if len(scored):
                tally.add(scored)
                for status, k in scored["status"].value_counts().items():
                    counts[status] = counts.get(status, 0) + int(k)
            by_rec = {k: g for k, g in scored.groupby("_rec")} if len(scored) else {}
            lines = []
            for k, rec in enumerate(chunk):
                cols = str(rec).rstrip("\n").split("\t")  # the record as it came
                g = by_rec.get(k)
                if g is not None:
                    add = ";".join(f"{key}={_format(g[col].tolist(), kind)}" for col, key, kind, _ in fields)
                    cols[7] = add if cols[7] in (".", "") else f"{cols[7]};{add}"
                lines.append("\t".join(cols) + "\n")
            fh.write("".join(lines).encode())
            totals[0] += len(scored)
            totals[1] += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        fh.close()


def iter_vcf_region_chunks(path: PathLike, region: str, chunk_size: int = 100_000):
    """The records of ``region`` of an indexed VCF as DataFrames ``chrom, pos, id, ref, alt`` with
    one row per ALT allele (for table outputs of ``score-variants --region``)."""
    path = Path(path)
    vf, records = _open(path, region)
    try:
        while True:
            chunk = list(itertools.islice(records, chunk_size))
            if not chunk:
                break
            rows = [(r.chrom, r.pos, r.id or ".", r.ref, alt) for r in chunk for alt in (r.alts or (".",))]
            df = pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"])
            df.index.name = "row"
            yield df
    finally:
        vf.close()


def vcf_to_vcf(variants: PathLike, out: PathLike) -> bool:
    """True when ``score-variants`` copies a VCF into a VCF (this module's path)."""
    return check_output_format(out)[0] == "vcf" and Path(variants).is_file() and detect_format(variants) == "vcf"
