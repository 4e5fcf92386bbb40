"""Position weight matrices: JASPAR from its sqlite release, scanning both strands with numpy.

JASPAR 2024 ships inside the ``pyjaspar`` wheel (MIT package, CC BY 4.0 data); the sqlite file is
fetched at run time with :func:`bioR2.utils.wheels.wheel_member`. Matrices are turned into
log-odds against a uniform background with Biopython's ``Bio.motifs`` and then scanned with
vectorised numpy over one-hot sequences, so a thousand peaks take a fraction of a second.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["PWM", "load_jaspar", "jaspar_path", "encode_acgt", "JASPAR_PIN"]

JASPAR_PIN = ("pyjaspar", "4.0.0", "pyjaspar/data/JASPAR2024.sqlite")
_CODE = np.full(256, 4, dtype=np.int8)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _i
    _CODE[ord(_b.lower())] = _i


def encode_acgt(seq: str) -> np.ndarray:
    """0-3 for A/C/G/T (either case), 4 for anything else."""
    return _CODE[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]


def jaspar_path() -> Path:
    """The cached JASPAR 2024 sqlite (downloaded from the pinned pyjaspar wheel once)."""
    from ..utils.wheels import wheel_member

    return wheel_member(*JASPAR_PIN)


@dataclass
class PWM:
    """A motif as log-odds (4 x width, rows A C G T) with its information content per column."""

    matrix_id: str
    name: str
    log_odds: np.ndarray
    ic: np.ndarray

    @property
    def width(self) -> int:
        return self.log_odds.shape[1]

    @property
    def min_score(self) -> float:
        return float(self.log_odds.min(0).sum())

    @property
    def max_score(self) -> float:
        return float(self.log_odds.max(0).sum())

    def reverse_complement(self) -> "PWM":
        return PWM(self.matrix_id, self.name, self.log_odds[::-1, ::-1].copy(), self.ic[::-1].copy())

    @classmethod
    def from_counts(cls, matrix_id: str, name: str, counts: Dict[str, Sequence[float]],
                    pseudocount: float = 0.5) -> "PWM":
        from Bio import motifs

        m = motifs.Motif(alphabet="ACGT", counts={b: list(map(float, counts[b])) for b in "ACGT"})
        pwm = m.counts.normalize(pseudocounts=pseudocount)
        lo = m.counts.normalize(pseudocounts=pseudocount).log_odds()
        log_odds = np.array([list(lo[b]) for b in "ACGT"], dtype=np.float64)
        p = np.array([list(pwm[b]) for b in "ACGT"], dtype=np.float64)
        ic = 2.0 + (p * np.log2(p)).sum(0)
        return cls(matrix_id, name, log_odds, ic)

    def scan(self, codes: np.ndarray) -> np.ndarray:
        """Scores ``(2, n - width + 1)`` of every window: row 0 forward, row 1 reverse strand.

        Windows containing a non-ACGT base score ``-inf``.
        """
        w = self.width
        n = codes.size - w + 1
        if n <= 0:
            return np.full((2, 0), -np.inf)
        table = np.vstack([self.log_odds, np.full((1, w), -np.inf)])  # row 4: N
        rc = self.reverse_complement()
        rc_table = np.vstack([rc.log_odds, np.full((1, w), -np.inf)])
        idx = np.lib.stride_tricks.sliding_window_view(codes.astype(np.int64), w)
        cols = np.arange(w)[None, :]
        return np.stack([table[idx, cols].sum(1), rc_table[idx, cols].sum(1)])


def load_jaspar(names: Sequence[str] = (), patterns: Sequence[str] = (), path: Optional[Path] = None,
                collection: str = "CORE") -> List[PWM]:
    """Latest version of each JASPAR matrix whose name is in ``names`` (exact, case-insensitive)
    or matches one of the regex ``patterns``."""
    path = Path(path) if path is not None else jaspar_path()
    if not path.exists():
        raise FileNotFoundError(f"{path}: JASPAR sqlite not found")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT ID, BASE_ID, VERSION, NAME FROM MATRIX WHERE COLLECTION = ?",
                           (collection,)).fetchall()
        wanted_names = {n.lower() for n in names}
        regexes = [re.compile(p, re.IGNORECASE) for p in patterns]
        latest: Dict[str, Tuple[int, int, str]] = {}
        for mid, base, version, name in rows:
            if name.lower() in wanted_names or any(r.search(name) for r in regexes):
                if base not in latest or version > latest[base][1]:
                    latest[base] = (mid, version, name)
        out = []
        for base, (mid, version, name) in sorted(latest.items()):
            counts: Dict[str, List[float]] = {b: [] for b in "ACGT"}
            for row, col, val in con.execute("SELECT row, col, val FROM MATRIX_DATA WHERE ID = ? ORDER BY col", (mid,)):
                counts[row.upper()].append(float(val))
            out.append(PWM.from_counts(f"{base}.{version}", name, counts))
    finally:
        con.close()
    missing = wanted_names - {p.name.lower() for p in out}
    if missing:
        raise ValueError(f"{path}: no {collection} matrix named {sorted(missing)}")
    return out
