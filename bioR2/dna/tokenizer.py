"""Single-nucleotide tokenizer: ``[PAD] [MASK] A C G T N``, vectorised with numpy.

One token per base keeps a per-base log-likelihood ratio exact (GPN's convention). Case is
not part of the token: lowercase (soft-masked repeat) bases get the same id as uppercase, and
:meth:`NucleotideTokenizer.encode` returns a separate boolean ``soft_mask`` that the training
task turns into a per-base loss weight. Any other IUPAC code (R, Y, ...) becomes ``N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

__all__ = ["NucleotideTokenizer", "PAD_ID", "MASK_ID", "A_ID", "C_ID", "G_ID", "T_ID", "N_ID",
           "VOCAB", "NUCLEOTIDE_IDS", "ENCODE_TABLE", "LOWERCASE_TABLE", "reverse_complement_ids", "reverse_complement"]

VOCAB: Tuple[str, ...] = ("[PAD]", "[MASK]", "A", "C", "G", "T", "N")
PAD_ID, MASK_ID, A_ID, C_ID, G_ID, T_ID, N_ID = range(7)
NUCLEOTIDE_IDS: Tuple[int, ...] = (A_ID, C_ID, G_ID, T_ID)

# byte -> token id (anything that is not ACGT, either case, is N)
# (uint8 so that a whole chromosome costs one byte per base)
ENCODE_TABLE = np.full(256, N_ID, dtype=np.uint8)
for _i, _b in zip(NUCLEOTIDE_IDS, "ACGT"):
    ENCODE_TABLE[ord(_b)] = _i
    ENCODE_TABLE[ord(_b.lower())] = _i
_ENCODE = ENCODE_TABLE
LOWERCASE_TABLE = np.zeros(256, dtype=bool)
_LOWER = LOWERCASE_TABLE
_LOWER[ord("a"):ord("z") + 1] = True
# token id -> complement id (PAD, MASK and N map to themselves)
_COMPLEMENT = np.array([PAD_ID, MASK_ID, T_ID, G_ID, C_ID, A_ID, N_ID], dtype=np.int64)
_DECODE = np.array([ord(c) for c in "-?ACGTN"], dtype=np.uint8)
_COMPLEMENT_BYTES = bytes.maketrans(b"ACGTNacgtnRYKMSWBDHVrykmswbdhv", b"TGCANtgcanYRMKSWVHDByrmkswvhdb")


def reverse_complement_ids(ids: np.ndarray) -> np.ndarray:
    """Reverse complement of token ids along the last axis (numpy or torch)."""
    try:
        import torch

        if isinstance(ids, torch.Tensor):
            table = torch.as_tensor(_COMPLEMENT, device=ids.device)
            return table[ids.long()].flip(-1).to(ids.dtype)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return _COMPLEMENT[np.asarray(ids)][..., ::-1]


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string (case and IUPAC codes preserved)."""
    return seq.translate(_COMPLEMENT_BYTES)[::-1]


@dataclass(frozen=True)
class NucleotideTokenizer:
    """Maps DNA text to token ids and back. Stateless; ``vocab`` is stored in model configs."""

    vocab: Tuple[str, ...] = VOCAB

    def __post_init__(self) -> None:
        if tuple(self.vocab) != VOCAB:
            raise ValueError(f"unsupported DNA vocabulary {list(self.vocab)}; bioR2 uses {list(VOCAB)}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def mask_id(self) -> int:
        return MASK_ID

    @property
    def nucleotide_ids(self) -> Tuple[int, ...]:
        return NUCLEOTIDE_IDS

    def token_id(self, base: str) -> int:
        """The id of one base (case-insensitive)."""
        if len(base) != 1:
            raise ValueError(f"expected a single base, got {base!r}")
        return int(_ENCODE[ord(base) if ord(base) < 256 else ord("N")])

    def encode(self, seq: Union[str, bytes, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids, soft_mask)``: int64 token ids and a bool array, True at lowercase bases."""
        raw = _as_bytes(seq)
        return _ENCODE[raw].astype(np.int64), _LOWER[raw]

    def encode_batch(self, seqs: Sequence[Union[str, bytes]], length: int) -> Tuple[np.ndarray, np.ndarray]:
        """Encode equal-or-shorter sequences into ``(n, length)`` arrays, right-padded with PAD."""
        ids = np.full((len(seqs), length), PAD_ID, dtype=np.int64)
        soft = np.zeros((len(seqs), length), dtype=bool)
        for row, seq in enumerate(seqs):
            raw = _as_bytes(seq)[:length]
            ids[row, : raw.size] = _ENCODE[raw]
            soft[row, : raw.size] = _LOWER[raw]
        return ids, soft

    def decode(self, ids: Union[np.ndarray, Sequence[int]]) -> str:
        """Token ids back to an uppercase string (PAD is ``-``, MASK is ``?``)."""
        arr = np.asarray(ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= len(VOCAB)):
            raise ValueError(f"token ids must be in [0, {len(VOCAB)}), got {arr.min()}..{arr.max()}")
        return _DECODE[arr].tobytes().decode("ascii")

    def to_config(self) -> Dict[str, List[str]]:
        return {"vocab": list(self.vocab)}


def _as_bytes(seq: Union[str, bytes, np.ndarray]) -> np.ndarray:
    if isinstance(seq, np.ndarray):
        if seq.dtype != np.uint8:
            raise TypeError(f"expected a uint8 byte array, got dtype {seq.dtype}")
        return seq
    if isinstance(seq, str):
        seq = seq.encode("ascii", errors="replace")
    return np.frombuffer(seq, dtype=np.uint8)
