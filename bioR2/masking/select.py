"""Choosing which eligible positions to mask: the one rule every masker shares."""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["select_positions", "CountMode", "masked_count"]

CountMode = Literal["exact", "bernoulli"]


def masked_count(n_eligible: torch.Tensor, ratio: float, min_one: bool = True) -> torch.Tensor:
    """Per-row number of masked positions in ``exact`` mode: ``round(ratio * n_eligible)``.

    Clamped to ``[1, n_eligible]`` when ``min_one`` (rows with nothing eligible get 0), so a
    masked-LM loss is never empty even at small ratios on short sequences.
    """
    k = torch.floor(n_eligible.to(torch.float64) * ratio + 0.5).to(torch.int64)
    if min_one:
        k = torch.maximum(k, (n_eligible > 0).to(torch.int64))
    return torch.minimum(k, n_eligible.to(torch.int64))


def select_positions(
    eligible: torch.Tensor,
    ratio: float,
    noise: torch.Tensor,
    count: CountMode = "exact",
    min_one: bool = True,
) -> torch.Tensor:
    """Boolean ``(B, L)`` mask choosing a ``ratio`` fraction of each row's eligible positions.

    ``count="exact"``: every row masks exactly :func:`masked_count` positions (the lowest-noise
    eligible ones), so the realised fraction equals ``ratio`` up to rounding.
    ``count="bernoulli"``: each eligible position is masked independently with probability
    ``ratio`` (BERT/GPN practice); the realised fraction is binomial around ``ratio``.
    With ``min_one``, a row with at least one eligible position always masks at least one.
    """
    if eligible.shape != noise.shape:
        raise ValueError(f"eligible {tuple(eligible.shape)} and noise {tuple(noise.shape)} differ")
    eligible = eligible.to(torch.bool)
    # Ineligible positions sort after every eligible one (noise is < 1).
    scores = noise.masked_fill(~eligible, 2.0)
    if count == "exact":
        k = masked_count(eligible.sum(dim=1), ratio, min_one)
        ranks = scores.argsort(dim=1, stable=True).argsort(dim=1)
        return ranks < k[:, None]
    if count == "bernoulli":
        mask = (noise < ratio) & eligible
        if min_one:
            empty = (~mask.any(dim=1)) & eligible.any(dim=1)
            if bool(empty.any()):
                rows = empty.nonzero(as_tuple=True)[0]
                mask[rows, scores[rows].argmin(dim=1)] = True
        return mask
    raise ValueError(f"count must be 'exact' or 'bernoulli', got {count!r}")
