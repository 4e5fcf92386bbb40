"""Token masking for masked-language modelling (BERT/RoBERTa, GPN's nucleotide MLM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from .noise import RNGLike, uniform_at
from .select import CountMode, Ratio, select_positions

__all__ = ["TokenMasking", "mask_tokens", "IGNORE_INDEX"]

IGNORE_INDEX = -100  # label of unmasked positions (PyTorch cross_entropy's ignore_index)


@dataclass
class TokenMasking:
    """Result of :func:`mask_tokens`.

    input_ids: the corrupted ids the model sees.
    labels: the original id at masked positions, ``IGNORE_INDEX`` elsewhere.
    mask: ``True`` where a position was selected for prediction.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor


def mask_tokens(
    input_ids: torch.Tensor,
    ratio: Ratio,
    *,
    mask_token_id: int,
    special_ids: Sequence[int] = (),
    eligible: Optional[torch.Tensor] = None,
    random_token_ids: Optional[Sequence[int] | torch.Tensor] = None,
    vocab_size: Optional[int] = None,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    count: CountMode = "exact",
    min_one: bool = True,
    rng: RNGLike = None,
) -> TokenMasking:
    """Mask a ``ratio`` fraction of each sequence for masked-LM training.

    Special and padding tokens (``special_ids``, and any position where ``eligible`` is
    ``False``) are never selected. Of the selected positions, ``mask_prob`` become
    ``mask_token_id``, ``random_prob`` become a random token drawn from ``random_token_ids``
    (default: every id below ``vocab_size`` that is not special), and the rest keep their
    token (BERT's 80/10/10; ``mask_prob=1, random_prob=0`` gives 100% mask tokens).

    ``count="exact"`` masks exactly ``round(ratio * n_eligible)`` positions per sequence;
    ``"bernoulli"`` masks each eligible position with probability ``ratio``. Either way, with
    ``min_one`` every sequence with an eligible token has at least one masked position.

    ``ratio`` is one float for the batch, or a 1-D tensor with one ratio per sequence
    (per-example forms such as ``sample:0.05-0.3``); a float's masks are unchanged by that.
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
    if not (0.0 <= mask_prob and 0.0 <= random_prob and mask_prob + random_prob <= 1.0):
        raise ValueError(
            f"mask_prob ({mask_prob}) and random_prob ({random_prob}) must be >= 0 and sum to <= 1"
        )
    device = input_ids.device
    allowed = torch.ones_like(input_ids, dtype=torch.bool)
    if len(special_ids):
        special = torch.as_tensor(list(special_ids), device=device, dtype=input_ids.dtype)
        allowed &= ~torch.isin(input_ids, special)
    if eligible is not None:
        allowed &= eligible.to(device=device, dtype=torch.bool)

    shape = tuple(input_ids.shape)
    mask = select_positions(allowed, ratio, rng, "tokens.select", count=count, min_one=min_one)

    labels = torch.where(mask, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    # One uniform per masked position decides its fate: [0, mask_prob) -> mask token,
    # [mask_prob, mask_prob + random_prob) -> random token (the position inside that interval
    # picks which one), the rest keep the original token.
    rows, cols = mask.nonzero(as_tuple=True)
    action = uniform_at(shape, rows, cols, rng, "tokens.replace")
    new_ids = input_ids[rows, cols]
    new_ids = torch.where(action < mask_prob, torch.full_like(new_ids, mask_token_id), new_ids)
    if random_prob > 0:
        candidates = _random_candidates(random_token_ids, vocab_size, special_ids, mask_token_id, device)
        to_random = (action >= mask_prob) & (action < mask_prob + random_prob)
        pick = ((action - mask_prob) / random_prob * candidates.numel()).to(torch.int64)
        pick = pick.clamp_(0, candidates.numel() - 1)
        new_ids = torch.where(to_random, candidates[pick].to(input_ids.dtype), new_ids)
    corrupted = input_ids.clone()
    corrupted[rows, cols] = new_ids
    return TokenMasking(input_ids=corrupted, labels=labels, mask=mask)


def _random_candidates(
    random_token_ids: Optional[Sequence[int] | torch.Tensor],
    vocab_size: Optional[int],
    special_ids: Sequence[int],
    mask_token_id: int,
    device: torch.device,
) -> torch.Tensor:
    if random_token_ids is not None:
        cands = torch.as_tensor(random_token_ids, device=device, dtype=torch.int64).flatten()
    elif vocab_size is not None:
        excluded = torch.tensor(sorted({int(i) for i in special_ids} | {int(mask_token_id)}),
                                device=device, dtype=torch.int64)
        cands = torch.arange(vocab_size, device=device, dtype=torch.int64)
        cands = cands[~torch.isin(cands, excluded)]
    else:
        raise ValueError("random replacement needs random_token_ids or vocab_size")
    if cands.numel() == 0:
        raise ValueError("no candidate tokens left for random replacement")
    return cands
