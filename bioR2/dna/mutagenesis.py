"""Masked-centre logits of many neighbouring positions, sharing one unmasked pass.

Scoring a position masks it, so every position needs its own forward pass; but in a dilated
convnet masking position ``p`` changes a block's output only at the few positions its
dilations reach from ``p`` (the *forward cone*), and the centre's output reads only the
positions of its sparse *backward cone* (:class:`~bioR2.dna.model.ConePlan`). Everything else
equals the unmasked network's activations, which one pass over a whole tile of the region
computes for all its positions at once. Per position, each block is then recomputed only where
the two cones meet (about ``kernel_size // 2 + 1`` positions per block instead of the hundreds
the backward cone holds).

The result equals :meth:`VariantScorer.site_logits` (up to float rounding) when the backward cone
never reaches a window edge (``receptive_radius <= window // 2``, true for the default models):
then the window's zero padding is never read, and a window and a tile see the same bases.
:func:`shared_pass_applies` says whether a scorer qualifies; :mod:`bioR2.dna.region` falls back
to the per-window path otherwise (transformers, GPN checkpoints, cones wider than the window).
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch

from .tokenizer import MASK_ID, PAD_ID, reverse_complement_ids

__all__ = ["shared_pass_applies", "shared_site_logits"]


def shared_pass_applies(scorer) -> bool:
    """True when :func:`shared_site_logits` gives the scorer's own scores: a bioR2 convnet, both
    strands centred alike, and a backward cone that stays inside the window."""
    from .model import DNAMaskedLM

    model = scorer.model
    if not isinstance(model, DNAMaskedLM) or model.arch != "convnet" or scorer.rev_center != scorer.center:
        return False
    return not any(model.cone_plan(scorer.window, scorer.center).pads)


class _Plan:
    """Per block ``l``: the offsets (from the masked centre) it recomputes, ``changed[l]``; the
    offsets its input is read at, ``reads[l]``; for each, the row of the previous block's
    recomputed outputs holding it (or -1: read the unmasked pass); and the conv taps as indices
    into ``reads[l]``."""

    def __init__(self, model, window: int, center: int) -> None:
        cone = model.cone_plan(window, center)
        changed = np.array([0], dtype=np.int64)  # the embedding differs at the centre only
        affected = changed
        self.changed: List[np.ndarray] = []
        self.reads: List[np.ndarray] = []
        self.from_changed: List[np.ndarray] = []
        self.taps: List[np.ndarray] = []
        for block, needed in zip(model.blocks, cone.outputs):
            K, d = block.conv.kernel_size[0], block.conv.dilation[0]
            offsets = (np.arange(K, dtype=np.int64) - (K - 1) // 2) * d
            affected = np.unique(affected[:, None] + offsets[None, :])
            out = np.intersect1d(affected, needed - center)
            taps = out[:, None] + offsets[None, :]
            reads = np.unique(taps)
            row = np.searchsorted(changed, reads)
            hit = (row < len(changed)) & (changed[np.minimum(row, len(changed) - 1)] == reads)
            self.changed.append(out)
            self.reads.append(reads)
            self.from_changed.append(np.where(hit, row, -1))
            self.taps.append(np.searchsorted(reads, taps))
            changed = out
        self.centre_taps = [(b.conv.kernel_size[0] - 1) // 2 for b in model.blocks]
        if list(self.changed[-1]) != [0]:
            raise AssertionError("the last block must recompute the centre only")


def _plan(model, window: int, center: int) -> _Plan:
    plans = model.__dict__.setdefault("_shared_plans", {})
    key = (int(window), int(center))
    if key not in plans:
        plans[key] = _Plan(model, window, center)
    return plans[key]


@torch.no_grad()
def _strand_logits(model, plan: _Plan, tile: np.ndarray, centres: np.ndarray, batch_size: int,
                   device: torch.device, autocast) -> np.ndarray:
    """Logits ``(n, vocab)`` at each index of ``centres`` in ``tile`` (one strand), masked there."""
    ids = torch.from_numpy(np.ascontiguousarray(tile)).to(device)[None]
    keep = (ids != PAD_ID).unsqueeze(-1)
    with autocast():
        x = model.embedding(ids)
        keep_f = keep.to(x.dtype)
        unmasked = [x[0]]  # the input of each block, every tile position
        for block in model.blocks[:-1]:
            x = block(x, keep_f)
            unmasked.append(x[0])
        mask_vec = model.embedding(torch.tensor([MASK_ID], device=device))
    keep_f = keep_f[0]
    out = []
    dev = [(torch.as_tensor(r, device=device), torch.as_tensor(f, device=device), torch.as_tensor(t, device=device),
            torch.as_tensor(c, device=device))
           for r, f, t, c in zip(plan.reads, plan.from_changed, plan.taps, plan.changed)]
    for lo in range(0, len(centres), batch_size):
        j = torch.as_tensor(centres[lo:lo + batch_size], device=device)
        with autocast():
            prev = mask_vec.expand(len(j), 1, -1)
            for l, block in enumerate(model.blocks):
                reads, from_changed, taps, changed = dev[l]
                x_in = unmasked[l][j[:, None] + reads[None, :]]  # (B, n_reads, D) from the unmasked pass
                hit = from_changed >= 0
                x_in[:, hit] = prev[:, from_changed[hit]].to(x_in.dtype)
                prev = block.forward_at(x_in, taps, plan.centre_taps[l], keep_f[j[:, None] + changed[None, :]], False)
            out.append(model.head(prev[:, 0]).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.tokenizer.vocab_size), dtype=np.float32)


def shared_site_logits(scorer, contig: str, pos0: np.ndarray, tile_size: int = 4096) -> Tuple[np.ndarray, np.ndarray]:
    """``(forward, reverse)`` centre logits ``(n, vocab)`` of positions ``pos0`` of one contig,
    each masked in turn: the same as ``scorer.site_logits`` (check :func:`shared_pass_applies`
    first), from one unmasked pass per tile of ``tile_size`` bases and strand."""
    model = scorer.model
    plan = _plan(model, scorer.window, scorer.center)
    radius = int(model.receptive_radius)
    pos0 = np.asarray(pos0, dtype=np.int64)
    order = np.argsort(pos0, kind="stable")
    out_f = np.empty((len(pos0), model.tokenizer.vocab_size), dtype=np.float32)
    out_r = np.empty_like(out_f)
    k = 0
    while k < len(order):
        lo = int(pos0[order[k]])
        stop = int(np.searchsorted(pos0[order], lo + tile_size, side="left"))
        rows = order[k:stop]
        hi = int(pos0[rows].max()) + 1
        start = lo - radius
        length = hi - lo + 2 * radius
        tile, _ = scorer.genome.windows(contig, [start], length)
        tile = tile[0]
        idx = pos0[rows] - start
        out_f[rows] = _strand_logits(model, plan, tile, idx, scorer.batch_size, scorer.device, scorer._autocast)
        out_r[rows] = _strand_logits(model, plan, reverse_complement_ids(tile), length - 1 - idx,
                                     scorer.batch_size, scorer.device, scorer._autocast)
        k = stop
    return out_f, out_r
