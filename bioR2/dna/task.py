"""The masked-language-modelling task the shared trainer runs for DNA.

The objective is the one of every token model (:class:`bioR2.train.MaskedTokenTask`); DNA
declares its token set: only A/C/G/T positions are eligible (``[PAD]`` and ``N`` are never
masked), and BERT's 80/10/10 replacement draws random tokens among the four nucleotides, as GPN
does. Soft-masked (lowercase) bases are masked like any other, but their loss is multiplied by
``soft_weight_train`` (0.1) in training and ``soft_weight_eval`` (0) in evaluation, GPN's
down-weighting of repeats. The task returns the weighted SUM over the masked bases with their
total weight as ``n_items``, so the trainer's mean is over every masked base of the global
batch, however many each window drew (Bernoulli count) and on any number of processes.
"""

from __future__ import annotations

import torch

from ..train.mlm import MaskedTokenTask
from .model import DNAMaskedLM
from .tokenizer import MASK_ID, NUCLEOTIDE_IDS, PAD_ID

__all__ = ["MaskedLMTask"]


class MaskedLMTask(MaskedTokenTask):
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
        super().__init__(model, mask_token_id=MASK_ID, special_ids=(PAD_ID,), eligible_ids=NUCLEOTIDE_IDS,
                         random_token_ids=NUCLEOTIDE_IDS, mask_prob=mask_prob, random_prob=random_prob,
                         count=count, weight_key="soft_mask", weight_train=soft_weight_train,
                         weight_eval=soft_weight_eval)

    @property
    def nucleotides(self) -> torch.Tensor:
        """The ids of A, C, G, T (the maskable tokens and the random replacements)."""
        return self.eligible_ids
