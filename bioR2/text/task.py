"""The masked-LM pretraining task: RoBERTa's objective on the shared masking core."""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from ..masking import MaskRNG, mask_tokens
from ..train import Task, TaskOutput
from .model import MaskedLM

__all__ = ["MLMTask"]


class MLMTask(Task):
    """Select a ``mask_ratio`` fraction of each window's real tokens (never ``<s>``, ``</s>``,
    ``<pad>``, ``<unk>`` or ``<mask>``), corrupt them 80/10/10 (mask token / random token /
    unchanged), and predict the originals. The loss is the cross-entropy over the selected
    positions only; the LM head is evaluated at those positions alone."""

    def __init__(self, model: MaskedLM, mask_prob: float = 0.8, random_prob: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.mask_prob = mask_prob
        self.random_prob = random_prob

    def forward(self, batch: Dict[str, torch.Tensor], mask_ratio: float, rng: MaskRNG) -> TaskOutput:
        ids, attn = batch["input_ids"], batch["attention_mask"]
        m = self.model
        masked = mask_tokens(ids, mask_ratio, mask_token_id=m.tokenizer.mask_id, special_ids=m.special_ids,
                             eligible=attn, vocab_size=m.vocab_size, mask_prob=self.mask_prob,
                             random_prob=self.random_prob, rng=rng)
        hidden = m(masked.input_ids, attn)
        selected = masked.mask
        n_masked = int(selected.sum())
        if n_masked == 0:
            # Nothing to predict in this batch (only possible when no window has a real token).
            loss = hidden.sum() * 0.0
            acc = torch.zeros(())
        else:
            logits = m.mlm_logits(hidden[selected])
            target = masked.labels[selected]
            loss = F.cross_entropy(logits, target)
            acc = (logits.argmax(-1) == target).float().mean().detach()
        return TaskOutput(loss=loss, n_examples=int(ids.shape[0]), n_tokens=int(attn.sum()),
                          metrics={"mlm_accuracy": acc, "masked_fraction": n_masked / max(1, int(attn.sum()))})
