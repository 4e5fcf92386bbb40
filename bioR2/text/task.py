"""The masked-LM pretraining task for text: RoBERTa's objective on the shared masking core.

The objective is the one of every token model (:class:`bioR2.train.MaskedTokenTask`); text
declares its token set: a window's real tokens are eligible (never ``<s>``, ``</s>``, ``<pad>``,
``<unk>`` or ``<mask>``), and a random replacement draws from every non-special id of the
tokenizer's vocabulary. The task returns the SUM of the cross-entropy over the selected tokens
with their number as ``n_items``, so windows of different lengths (padding) weigh by their
masked tokens alike on one process, under accumulation and under DDP.
"""

from __future__ import annotations

from ..train.mlm import MaskedTokenTask
from .model import MaskedLM

__all__ = ["MLMTask"]


class MLMTask(MaskedTokenTask):
    """Select a ``mask_ratio`` fraction of each window's real tokens, corrupt them 80/10/10
    (mask token / random token / unchanged), and predict the originals: the cross-entropy over
    the selected positions only; the LM head is evaluated at those positions alone."""

    def __init__(self, model: MaskedLM, mask_prob: float = 0.8, random_prob: float = 0.1) -> None:
        super().__init__(model, mask_token_id=model.tokenizer.mask_id, special_ids=model.special_ids,
                         vocab_size=model.vocab_size, mask_prob=mask_prob, random_prob=random_prob)
