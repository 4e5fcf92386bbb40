"""Zero-shot variant effects from a masked-LM: the batched two-strand log-likelihood ratio.

For an SNV at 0-based position ``p`` with window length ``L`` and centre ``c = L // 2``:

* forward strand: the genome window ``[p - c, p - c + L)``, base ``c`` masked;
* reverse strand: the window ``[p - (L - 1 - c), p + c + 1)`` reverse-complemented, so the
  variant again sits at index ``c`` with its complemented alleles.

A model whose ``reverse_window`` is ``"same"`` (GPN's checkpoints, :mod:`bioR2.dna.gpn_compat`)
gets GPN's ``run_vep`` convention instead: the reverse strand is the forward window
reverse-complemented, the variant at index ``L - 1 - c`` (one base left of ``c`` for an even
``L``), so its scores equal GPN's.

Both strands of a batch go through the model in **one** forward pass (two when the strands'
variant indices differ), and only the centre position's sparse dilated cone is computed (see
:meth:`DNAMaskedLM.center_logits`). The score is
``logit[alt] - logit[ref]`` averaged over the strands (negative: the alternative allele is
less expected than the reference, GPN's sign). Because each strand's window is centred the
same way, scoring a variant on the reverse-complemented genome gives the same score (for an
even window, not so with ``reverse_window`` ``"same"``).
Positions past a contig end are ``[PAD]``; variants there are scored, not refused.
All alternative alleles of one site share one pass.
"""

from __future__ import annotations

import contextlib
from typing import Sequence, Tuple

import numpy as np
import torch

from ..utils.device import DEFAULT_DEVICE
from .data import Genome
from .model import DNAMaskedLM
from .tokenizer import ENCODE_TABLE, MASK_ID, reverse_complement_ids

__all__ = ["VariantScorer", "encode_alleles", "complement_ids"]

_COMP = np.array([0, 1, 5, 4, 3, 2, 6], dtype=np.int64)


def encode_alleles(alleles: Sequence[str]) -> np.ndarray:
    """Token ids of single-base alleles (uppercase or lowercase)."""
    raw = np.frombuffer("".join(alleles).encode("ascii", errors="replace"), dtype=np.uint8)
    return ENCODE_TABLE[raw].astype(np.int64)


def complement_ids(ids: np.ndarray) -> np.ndarray:
    return _COMP[ids]


class VariantScorer:
    """Scores SNVs against a genome with a :class:`DNAMaskedLM` (or a GPN checkpoint's
    :class:`~bioR2.dna.gpn_compat.GPNMaskedLM`).

    Parameters
    ----------
    model, genome
        The pretrained model and the reference it scores against.
    window
        Window length (default: 512, or what the model was trained with).
    batch_size
        Sites per forward pass (each site costs two windows, one per strand).
    device
        ``"cpu"``, ``"cuda"``, ... (``"auto"``: CUDA when available).
    precision
        ``"fp32"`` or ``"bf16"`` (autocast; check the scores against fp32 on your data).
    """

    def __init__(self, model: DNAMaskedLM, genome: Genome, window: int = 512, batch_size: int = 128,
                 device: str = DEFAULT_DEVICE, precision: str = "fp32") -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        if model.arch == "transformer" and window > model.max_len:
            raise ValueError(f"window {window} exceeds the model's max_len {model.max_len}")
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
        from ..train.distributed import resolve_device

        # "auto" -> CUDA when there is one; asking for an absent CUDA is a clear error
        self.device = resolve_device(device, option="device")
        self.model = model.to(self.device).eval()
        self.genome = genome
        self.window = int(window)
        self.center = self.window // 2
        # index of the variant in the reverse-strand window (see the module docstring)
        reverse_window = getattr(model, "reverse_window", "centred")
        if reverse_window not in ("centred", "same"):
            raise ValueError(f"model.reverse_window must be 'centred' or 'same', got {reverse_window!r}")
        self.rev_center = self.window - 1 - self.center if reverse_window == "same" else self.center
        self.batch_size = int(batch_size)
        self.precision = precision

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ windows
    def site_windows(self, contigs: np.ndarray, pos0: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(forward, reverse)`` token windows ``(n, L)`` of sites, the variant at index ``c`` of the
        forward one and ``rev_center`` of the reverse one."""
        L, c, rc = self.window, self.center, self.rev_center
        n = len(pos0)
        fwd = np.empty((n, L), dtype=np.int64)
        rev_src = np.empty((n, L), dtype=np.int64)
        for contig in np.unique(contigs):
            rows = np.flatnonzero(contigs == contig)
            fwd[rows], _ = self.genome.windows(contig, pos0[rows] - c, L)
            rev_src[rows], _ = self.genome.windows(contig, pos0[rows] - (L - 1 - rc), L)
        return fwd, reverse_complement_ids(rev_src)

    # ------------------------------------------------------------------ LLR
    @torch.no_grad()
    def site_logits(self, contigs: np.ndarray, pos0: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Centre logits ``(n, vocab)`` of each site with the centre masked, per strand."""
        n = len(pos0)
        out_f = np.empty((n, self.model.tokenizer.vocab_size), dtype=np.float32)
        out_r = np.empty_like(out_f)
        for lo in range(0, n, self.batch_size):
            hi = min(n, lo + self.batch_size)
            fwd, rev = self.site_windows(contigs[lo:hi], pos0[lo:hi])
            fwd[:, self.center] = MASK_ID
            rev[:, self.rev_center] = MASK_ID
            if self.rev_center == self.center:  # both strands in one pass
                ids = torch.from_numpy(np.concatenate([fwd, rev])).to(self.device)
                with self._autocast():
                    logits = self.model.center_logits(ids, self.center).float().cpu().numpy()
                out_f[lo:hi], out_r[lo:hi] = logits[: hi - lo], logits[hi - lo:]
                continue
            for out, strand, c in ((out_f, fwd, self.center), (out_r, rev, self.rev_center)):
                ids = torch.from_numpy(np.ascontiguousarray(strand)).to(self.device)
                with self._autocast():
                    out[lo:hi] = self.model.center_logits(ids, c).float().cpu().numpy()
        return out_f, out_r

    def llr(self, contigs: Sequence[str], pos0: Sequence[int], ref: Sequence[str],
            alt: Sequence[str]) -> np.ndarray:
        """``logit[alt] - logit[ref]`` at the masked centre, averaged over both strands.

        Variants that share a site (all alternative alleles of a position) share one pass.
        """
        contigs = np.asarray(contigs, dtype=object)
        pos0 = np.asarray(pos0, dtype=np.int64)
        if len(pos0) == 0:
            return np.zeros(0, dtype=np.float64)
        sites, inverse = _unique_sites(contigs, pos0)
        lf, lr = self.site_logits(contigs[sites], pos0[sites])
        r, a = encode_alleles(list(ref)), encode_alleles(list(alt))
        lf, lr = lf[inverse], lr[inverse]
        rows = np.arange(len(pos0))
        fwd = lf[rows, a] - lf[rows, r]
        rev = lr[rows, complement_ids(a)] - lr[rows, complement_ids(r)]
        return 0.5 * (fwd.astype(np.float64) + rev.astype(np.float64))

    # ------------------------------------------------------------------ embeddings
    @torch.no_grad()
    def _ref_alt_hidden(self, contigs: np.ndarray, pos0: np.ndarray, alt_ids: np.ndarray):
        """Hidden states of ref and alt windows, both strands: 4 tensors ``(n, L, D)``."""
        fwd, rev = self.site_windows(contigs, pos0)
        fwd_alt, rev_alt = fwd.copy(), rev.copy()
        fwd_alt[:, self.center] = alt_ids
        rev_alt[:, self.rev_center] = complement_ids(alt_ids)
        ids = torch.from_numpy(np.concatenate([fwd, rev, fwd_alt, rev_alt])).to(self.device)
        with self._autocast():
            h = self.model.encode(ids).float()
        n = len(pos0)
        return h[:n], h[n:2 * n], h[2 * n:3 * n], h[3 * n:]

    def embedding_distance(self, contigs: Sequence[str], pos0: Sequence[int], alt: Sequence[str]) -> np.ndarray:
        """RMS difference of the ref and alt windows' hidden states (all positions), averaged
        over strands: larger means the substitution changes the model's view of its context more."""
        contigs, pos0 = np.asarray(contigs, dtype=object), np.asarray(pos0, dtype=np.int64)
        alt_ids = encode_alleles(list(alt))
        out = np.empty(len(pos0), dtype=np.float64)
        step = max(1, self.batch_size // 2)
        for lo in range(0, len(pos0), step):
            hi = min(len(pos0), lo + step)
            hf, hr, af, ar = self._ref_alt_hidden(contigs[lo:hi], pos0[lo:hi], alt_ids[lo:hi])
            d = 0.5 * (((af - hf) ** 2).mean(dim=(1, 2)).sqrt() + ((ar - hr) ** 2).mean(dim=(1, 2)).sqrt())
            out[lo:hi] = d.cpu().numpy()
        return out

    def features(self, contigs: Sequence[str], pos0: Sequence[int], ref: Sequence[str],
                 alt: Sequence[str]) -> np.ndarray:
        """Per-variant features for a supervised probe: strand-averaged mean ref embedding,
        mean (alt - ref) embedding, centre (alt - ref) embedding, and the LLR: ``(n, 3D + 1)``."""
        contigs, pos0 = np.asarray(contigs, dtype=object), np.asarray(pos0, dtype=np.int64)
        alt_ids = encode_alleles(list(alt))
        c, rc = self.center, self.rev_center
        parts = []
        step = max(1, self.batch_size // 2)
        for lo in range(0, len(pos0), step):
            hi = min(len(pos0), lo + step)
            hf, hr, af, ar = self._ref_alt_hidden(contigs[lo:hi], pos0[lo:hi], alt_ids[lo:hi])
            ref_mean = 0.5 * (hf.mean(1) + hr.mean(1))
            diff_mean = 0.5 * ((af - hf).mean(1) + (ar - hr).mean(1))
            diff_center = 0.5 * ((af - hf)[:, c] + (ar - hr)[:, rc])
            parts.append(torch.cat([ref_mean, diff_mean, diff_center], dim=1).cpu().numpy())
        emb = np.concatenate(parts) if parts else np.zeros((0, 3 * self.model.hidden), dtype=np.float32)
        llr = self.llr(contigs, pos0, ref, alt)[:, None]
        return np.concatenate([emb.astype(np.float64), llr], axis=1)


def _unique_sites(contigs: np.ndarray, pos0: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Indices of first occurrences of each (contig, pos) and the inverse map."""
    names, codes = np.unique(contigs.astype(str), return_inverse=True)
    key = codes.astype(np.int64) * (int(pos0.max()) + 1) + pos0
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)
