"""The DNA benchmark's tuned k-mer baseline, chosen on the validation split of the training data.

The validation split is the one ``benchmarks/dna_recipe_search.py`` chooses the pretraining recipe
on, carved from the *training* sequences only (never a test chromosome, never ``ecoli_heldout``):

* motif: the training peaks on ``VAL_CHROMS`` (chr3, chr4) with motif-breaking SNVs built as the
  benchmark builds its test set;
* bacterial: the last ``VAL_ECOLI_FRACTION`` of ``ecoli_train`` with its start-codon /
  Shine-Dalgarno SNVs.

The k-mer model gets the same levers the R²MAE recipe got: its context (``FLANKS`` bases each
side) and its data weighting (``WEIGHTINGS``: every training sequence, the human peaks only, or
the peaks counted several times over E. coli). Each candidate is fit on the validation split's
fitting sequences and scored by AUPRC on its variants; the best one per task is refit on every
training sequence and scores the test variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

__all__ = ["VAL_CHROMS", "FLANKS", "WEIGHTINGS", "ValidationSplit", "validation_split", "contexts",
           "tune_kmer", "tuned_kmer_scores", "selection_section"]

VAL_CHROMS: Tuple[str, ...] = ("chr3", "chr4")
VAL_ECOLI_FRACTION = 0.15
FLANKS: Tuple[int, ...] = (1, 2, 3, 4, 5)
# name -> (weight of E. coli words, weight of human-peak words)
WEIGHTINGS: Dict[str, Tuple[float, float]] = {"all": (1.0, 1.0), "human_only": (0.0, 1.0),
                                              "peaks_x4": (1.0, 4.0)}


@dataclass
class ValidationSplit:
    """Validation variants (``frames``: motif, bacterial) and the sequences a candidate is fit on."""

    frames: Dict[str, pd.DataFrame]
    fit_ecoli: List[str]
    fit_peaks: List[str]
    val_peak_contigs: List[str]
    chroms: Tuple[str, ...]


def validation_split(data, genome, chroms: Sequence[str] = VAL_CHROMS, *, max_positives: Optional[int] = None,
                     seed: int = 0) -> ValidationSplit:
    """The validation split of :func:`bioR2.bench.dna_data.build_benchmark_data`'s training data."""
    from ..dna.motifs import load_jaspar
    from ..utils.wheels import wheel_member
    from .dna_data import FACTORS, HELD_OUT_CHROMS, PEAKS, bacterial_variants, cap_positives, motif_variants, read_peaks

    chroms = tuple(chroms)
    if set(chroms) & set(HELD_OUT_CHROMS):
        raise ValueError(f"validation chromosomes {chroms} include a test chromosome ({HELD_OUT_CHROMS})")
    peaks = pd.concat([read_peaks(wheel_member(*PEAKS[f]), f) for f in PEAKS], ignore_index=True)
    peaks["contig"] = [f"{f}_{c}_{s}_{e}" for f, c, s, e in zip(peaks.factor, peaks.chrom, peaks.start, peaks.end)]
    peaks = peaks.drop_duplicates("contig").reset_index(drop=True)
    training = set(data.pretrain_contigs)
    val_peaks = peaks[peaks.chrom.isin(chroms) & peaks.contig.isin(training)]
    rng = np.random.default_rng(seed)
    motif = pd.concat([motif_variants(val_peaks[val_peaks.factor == f], f, load_jaspar(names=s["names"]),
                                       load_jaspar(patterns=s["related"]), rng, 9) for f, s in FACTORS.items()],
                      ignore_index=True)
    ecoli = genome.fetch("ecoli_train", 0, genome.length("ecoli_train"))
    cut = int(len(ecoli) * (1.0 - VAL_ECOLI_FRACTION))
    bact = bacterial_variants(ecoli[cut:], "ecoli_train", rng, 450, 9)
    bact["pos"] = bact["pos"] + cut
    if max_positives is not None:
        motif = cap_positives(motif, max_positives, ["factor"], seed)
        bact = cap_positives(bact, max_positives, [], seed)
    val = set(val_peaks.contig)
    fit_peaks = [genome.fetch(c, 0, genome.length(c)) for c in data.pretrain_contigs
                 if c != "ecoli_train" and c not in val]
    return ValidationSplit({"motif": motif, "bacterial": bact}, [ecoli[:cut]], fit_peaks, sorted(val), chroms)


def contexts(genome, df: pd.DataFrame, flank: int) -> List[str]:
    """The ``2 * flank + 1`` bases centred on each variant (1-based ``pos``); all N off a contig's end."""
    k = 2 * flank + 1
    out = [genome.fetch(c, p - 1 - flank, p + flank) for c, p in zip(df.chrom, df.pos)]
    return [s if len(s) == k else "N" * k for s in out]


def _counts(ecoli: Sequence[str], peaks: Sequence[str]) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    from .dna_data import kmer_counts

    return {f: (kmer_counts(ecoli, f), kmer_counts(peaks, f)) for f in FLANKS}


def _scores(counts, genome, df: pd.DataFrame, flank: int, weighting: str) -> np.ndarray:
    from .dna_data import kmer_llr

    w_ecoli, w_peaks = WEIGHTINGS[weighting]
    ecoli, peaks = counts[flank]
    # a word's count is the weighted sum over sources; higher = the variant breaks the context
    return -kmer_llr(w_ecoli * ecoli + w_peaks * peaks, contexts(genome, df, flank), df.ref.tolist(),
                     df.alt.tolist())


def tune_kmer(split: ValidationSplit, genome) -> Dict[str, Dict[str, Any]]:
    """Per task: every (flank, weighting) candidate's validation AUPRC and the chosen one."""
    from ..metrics import auprc

    counts = _counts(split.fit_ecoli, split.fit_peaks)
    out: Dict[str, Dict[str, Any]] = {}
    for task, df in split.frames.items():
        y = df.label.to_numpy()
        scores = {f"flank={f},weighting={w}": round(auprc(y, _scores(counts, genome, df, f, w)), 4)
                  for f in FLANKS for w in WEIGHTINGS}
        best = max(scores, key=scores.get)
        flank, weighting = best.split(",")
        out[task] = {"chosen": {"flank": int(flank.split("=")[1]), "weighting": weighting.split("=")[1]},
                     "validation_auprc": scores}
    return out


def tuned_kmer_scores(data, genome, frames: Dict[str, pd.DataFrame],
                      choice: Dict[str, Dict[str, Any]]) -> Dict[str, np.ndarray]:
    """Test-variant scores of each task's chosen k-mer model, refit on every training sequence."""
    ecoli = [genome.fetch("ecoli_train", 0, genome.length("ecoli_train"))]
    peaks = [genome.fetch(c, 0, genome.length(c)) for c in data.pretrain_contigs if c != "ecoli_train"]
    counts = _counts(ecoli, peaks)
    return {task: _scores(counts, genome, df, choice[task]["chosen"]["flank"], choice[task]["chosen"]["weighting"])
            for task, df in frames.items()}


def selection_section(split: ValidationSplit, data, test_frames: Dict[str, pd.DataFrame]) -> Dict[str, Any]:
    """``{"n", "overlap_with_test", ...}``: the validation variants, and how many of the
    validation sequences (peaks, E. coli positions) are test sequences."""
    held = set(data.held_out)
    overlap = sum(c in held for c in split.val_peak_contigs)
    for name, df in split.frames.items():
        test = test_frames.get(name)
        if test is not None:
            overlap += len(set(zip(df.chrom, df.pos)) & set(zip(test.chrom, test.pos)))
    return {"scheme": f"validation split of the training sequences: peaks on {', '.join(split.chroms)} and the last "
                      f"{VAL_ECOLI_FRACTION:g} of ecoli_train; the k-mer baseline is tuned there",
            "n": int(sum(len(df) for df in split.frames.values())),
            "n_per_task": {k: int(len(df)) for k, df in split.frames.items()},
            "overlap_with_test": int(overlap)}
