"""Masked-language modelling: one task for every token model (DNA's nucleotides, text's BPE pieces).

BERT's objective on the shared masking core: :func:`bioR2.masking.mask_tokens` selects a
``mask_ratio`` fraction of each row's eligible tokens and corrupts them 80/10/10 (mask token /
random token / unchanged); the model predicts the originals, and the loss is the cross-entropy
at the selected positions only (the LM head runs on those positions alone). A domain only
declares its token set: which ids may be masked, which are never masked, which a random
replacement draws from, and optionally a per-position loss weight (GPN's down-weighting of
soft-masked bases).

The model provides ``encode(input_ids)`` (or ``encode(input_ids, attention_mask)`` when the
batch carries an ``attention_mask``) returning hidden states ``(B, L, H)``, and
``mlm_logits(hidden) -> (..., vocab)``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from ..masking import MaskRNG, mask_tokens
from .task import Task, TaskOutput

__all__ = ["MaskedTokenTask"]


def _ids_buffer(ids: Optional[Sequence[int]]) -> Optional[torch.Tensor]:
    return None if ids is None else torch.as_tensor(ids, dtype=torch.int64)


class MaskedTokenTask(Task):
    """Masked-LM loss over the selected tokens.

    Parameters
    ----------
    model
        The model being pretrained (saved by the trainer); see the module docstring.
    mask_token_id, special_ids
        The mask token, and ids that are never selected (padding, ``<s>``, ...).
    eligible_ids
        Only these ids may be selected (DNA: A/C/G/T, so ``N`` is never masked). ``None``: every
        position of the batch's ``attention_mask`` (every position when there is none).
    random_token_ids, vocab_size
        What a random replacement draws from: these ids, or every non-special id below
        ``vocab_size``.
    mask_prob, random_prob, count
        The 80/10/10 split and how many tokens a row gets (see :func:`~bioR2.masking.mask_tokens`).
    weight_key, weight_train, weight_eval
        Per-position loss weights: positions where the boolean batch entry ``weight_key`` is
        True weigh ``weight_train`` in training and ``weight_eval`` in evaluation, the others 1.
        ``None``: every selected token weighs 1.

    The task returns the SUM of weight x cross-entropy over the batch's selected tokens with
    ``n_items`` = their total weight (the number of selected tokens when unweighted); the
    trainer divides by the total over every micro-batch and process, so the loss it minimises
    and logs is the weighted mean over the global batch whatever each rank happened to mask.
    ``out.loss / out.n_items`` is this batch's own mean.
    """

    def __init__(self, model: torch.nn.Module, *, mask_token_id: int, special_ids: Sequence[int] = (),
                 eligible_ids: Optional[Sequence[int]] = None, random_token_ids: Optional[Sequence[int]] = None,
                 vocab_size: Optional[int] = None, mask_prob: float = 0.8, random_prob: float = 0.1,
                 count: str = "exact", weight_key: Optional[str] = None, weight_train: float = 1.0,
                 weight_eval: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.mask_token_id = int(mask_token_id)
        self.special_ids = [int(i) for i in special_ids]
        self.vocab_size = vocab_size
        self.mask_prob, self.random_prob = float(mask_prob), float(random_prob)
        self.count = count
        self.weight_key = weight_key
        self.weight_train, self.weight_eval = float(weight_train), float(weight_eval)
        self.register_buffer("eligible_ids", _ids_buffer(eligible_ids), persistent=False)
        self.register_buffer("random_token_ids", _ids_buffer(random_token_ids), persistent=False)

    def forward(self, batch: Dict[str, Any], mask_ratio: float, rng: MaskRNG) -> TaskOutput:
        ids: torch.Tensor = batch["input_ids"]
        attn: Optional[torch.Tensor] = batch.get("attention_mask")
        eligible = torch.isin(ids, self.eligible_ids) if self.eligible_ids is not None else attn
        masked = mask_tokens(ids, mask_ratio, mask_token_id=self.mask_token_id, special_ids=self.special_ids,
                             eligible=eligible, random_token_ids=self.random_token_ids,
                             vocab_size=self.vocab_size, mask_prob=self.mask_prob, random_prob=self.random_prob,
                             count=self.count, rng=rng)
        hidden = self.model.encode(masked.input_ids) if attn is None else self.model.encode(masked.input_ids, attn)
        sel = masked.mask
        down = None if self.weight_key is None else batch[self.weight_key]
        loss, n_items, acc = self._summed_loss(hidden, masked.labels, sel, down)
        masked_fraction = (sel.float().sum() / eligible.float().sum().clamp_min(1) if eligible is not None
                           else sel.float().mean())
        return TaskOutput(loss=loss, n_items=n_items, n_examples=int(ids.shape[0]),
                          n_tokens=int(attn.sum()) if attn is not None else int(ids.numel()),
                          metrics={"masked_fraction": masked_fraction, "masked_accuracy": acc})

    def _summed_loss(self, hidden: torch.Tensor, labels: torch.Tensor, sel: torch.Tensor,
                     down: Optional[torch.Tensor]):
        """``(sum of weight x cross-entropy over the selected tokens, total weight, accuracy)``.

        Unweighted, the total weight is the number of selected tokens. A batch with nothing
        selected (no eligible token) gives a zero sum and a count of 0, and one with nothing
        weighted (every selected base soft-masked, weight 0 in evaluation) a zero sum and a
        total weight of 0: they add nothing to the trainer's global sum and count, so they
        neither pull the mean towards 0 nor divide by 0. The head still runs (on no rows), so
        every parameter has a gradient, as DDP requires.
        """
        logits = self.model.mlm_logits(hidden[sel])  # only the selected positions go through the head
        target = labels[sel]
        ce = F.cross_entropy(logits.float(), target, reduction="none")
        correct = (logits.argmax(-1) == target).float().detach()
        n = ce.numel()
        if down is None:
            acc = correct.mean() if n else torch.zeros((), device=ce.device)
            return ce.sum(), float(n), acc
        w = self.weight_train if self.training else self.weight_eval
        soft = down[sel]
        weight = torch.where(soft, torch.full_like(ce, w), torch.ones_like(ce))
        n_soft = int(soft.sum())
        total = (n - n_soft) + w * n_soft  # counted, not summed in float32: any split adds up alike
        acc = (correct * weight).sum() / max(total, 1e-8)
        return (ce * weight).sum(), float(total), acc
