"""A small synthetic genome with a planted motif, and variants that break it.

Used by the tests and the tutorial: a model that learns the motif must rank motif-breaking
SNVs (positives) above SNVs in the random background (negatives). Everything is generated
from a seed; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pandas as pd

from ..utils.io import PathLike, atomic_path

__all__ = ["planted_motif_genome"]


def planted_motif_genome(path: PathLike, *, motif: str = "TGACTCAGCA", n_contigs: int = 3,
                         contig_length: int = 20_000, spacing: Tuple[int, int] = (20, 60),
                         negatives_per_positive: int = 9, seed: int = 0) -> Dict[str, object]:
    """Write a FASTA of random contigs with ``motif`` planted every ``spacing`` bases.

    Returns ``{"fasta": path, "held_out": last contig name, "variants": DataFrame}`` where the
    variants (``chrom, pos (1-based), ref, alt, label``) lie on the held-out contig: label 1 for an
    SNV inside a planted motif, 0 for one at least 10 bases from any motif, with the ref and
    alt bases of each negative matched to a positive's.
    """
    rng = np.random.default_rng(seed)
    motif = motif.upper()
    names = [f"chr{i + 1}" for i in range(n_contigs)]
    seqs = []
    sites = []
    for name in names:
        seq = rng.choice(np.array(list("ACGT")), contig_length)
        starts = []
        p = int(rng.integers(*spacing))
        while p + len(motif) < contig_length:
            seq[p:p + len(motif)] = list(motif)
            starts.append(p)
            p += len(motif) + int(rng.integers(*spacing))
        seqs.append("".join(seq))
        sites.append(np.array(starts))
    path = Path(path)
    Path(str(path) + ".fai").unlink(missing_ok=True)  # a stale index would misread the new file
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            for name, seq in zip(names, seqs):
                fh.write(f">{name}\n")
                for i in range(0, len(seq), 80):
                    fh.write(seq[i:i + 80] + "\n")
    # variants on the held-out (last) contig
    held, seq, starts = names[-1], seqs[-1], sites[-1]
    near = np.zeros(contig_length, dtype=bool)
    for s in starts:
        near[max(0, s - 10): s + len(motif) + 10] = True
    rows = []
    for s in starts:
        k = int(rng.integers(len(motif)))
        ref = seq[s + k]
        alt = rng.choice([b for b in "ACGT" if b != ref])
        rows.append((held, s + k + 1, ref, alt, 1))
    background = np.flatnonzero(~near)
    by_base = {b: background[np.array([seq[i] == b for i in background])] for b in "ACGT"}
    for _, _, ref, alt, _ in list(rows):
        for i in rng.choice(by_base[ref], negatives_per_positive, replace=False):
            rows.append((held, int(i) + 1, ref, alt, 0))
    variants = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label"])
    return {"fasta": path, "held_out": held, "variants": variants}
