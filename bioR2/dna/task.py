"""The masked-language-modelling task the shared trainer runs for DNA.

Masks come from :func:`bioR2.masking.mask_tokens`: only A/C/G/T positions are eligible
(``[PAD]`` and ``N`` are never masked), with BERT's 80/10/10 replacement drawing random
tokens among the four nucleotides, as GPN does. Soft-masked (lowercase) bases are masked like
any other, but their loss is multiplied by ``soft_weight_train`` (0.1) in training and
``soft_weight_eval`` (0) in evaluation, GPN's down-weighting of repeats.
"""

from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn.functional as F

from ..masking import mask_tokens
from ..train import Task, TaskOutput
from .model import DNAMaskedLM
from .tokenizer import MASK_ID, NUCLEOTIDE_IDS, PAD_ID

__all__ = ["MaskedLMTask"]


class MaskedLMTask(Task):
    """Masked-LM loss over the masked nucleotides, weighted per base.

    Parameters
    ----------
    model
        The :class:`~bioR2.dna.model.DNAMaskedLM` being pretrained (saved by the trainer).
    soft_weight_train, soft_weight_eval
        Loss weight of lowercase (soft-masked) bases in training / evaluation.
    count
        ``"bernoulli"`` (each base masked with probability ``ratio``, GPN/BERT practice) or
        ``"exact"`` (exactly ``round(ratio * n)`` per window).
    mask_prob, random_prob
        The 80/10/10 split of masked positions (mask token / random nucleotide / unchanged).
    """

    def __init__(self, model: DNAMaskedLM, soft_weight_train: float = 0.1, soft_weight_eval: float = 0.0,
                 count: str = "bernoulli", mask_prob: float = 0.8, random_prob: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.soft_weight_train = float(soft_weight_train)
        self.soft_weight_eval = float(soft_weight_eval)
        self.count = count
        self.mask_prob, self.random_prob = float(mask_prob), float(random_prob)
        self.register_buffer("nucleotides", torch.tensor(NUCLEOTIDE_IDS), persistent=False)

    def forward(self, batch: Dict[str, Any], mask_ratio: float, rng) -> TaskOutput:
        ids: torch.Tensor = batch["input_ids"]
        soft: torch.Tensor = batch["soft_mask"]
        eligible = torch.isin(ids, self.nucleotides)
        masked = mask_tokens(ids, mask_ratio, mask_token_id=MASK_ID, special_ids=(PAD_ID,),
                             eligible=eligible, random_token_ids=self.nucleotides,
                             mask_prob=self.mask_prob, random_prob=self.random_prob,
                             count=self.count, rng=rng)
        hidden = self.model.encode(masked.input_ids)
        sel = masked.mask
        logits = self.model.head(hidden[sel])  # only masked positions go through the head
        target = ids[sel]
        ce = F.cross_entropy(logits.float(), target, reduction="none")
        soft_w = self.soft_weight_train if self.training else self.soft_weight_eval
        weight = torch.where(soft[sel], torch.full_like(ce, soft_w), torch.ones_like(ce))
        total = weight.sum()
        # All-lowercase masked positions at eval weight 0: a zero loss that still has a graph.
        loss = (ce * weight).sum() / total.clamp_min(1e-8)
        with torch.no_grad():
            acc = ((logits.argmax(-1) == target).float() * weight).sum() / total.clamp_min(1e-8)
        return TaskOutput(loss=loss, n_examples=int(ids.shape[0]), n_tokens=int(ids.numel()),
                          metrics={"masked_fraction": sel.float().sum() / eligible.float().sum().clamp_min(1),
                                   "masked_accuracy": acc})
