"""The pretraining task: mask a fraction of each cell's genes, reconstruct them, score only
the hidden entries. The masking ratio comes from the trainer (drawn per mini-batch for R²MAE)
and the mask from the one masking core, :func:`bioR2.masking.mask_expression`."""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from ..masking import RNGLike, mask_expression
from ..masking.select import row_counts
from ..train import Task, TaskOutput
from .model import ExpressionMAE, as_float_mask, nb_log_likelihood

__all__ = ["ExpressionMAETask", "masked_mse"]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked entries only (0 when nothing is masked)."""
    mask = mask.to(torch.bool)
    n = mask.sum()
    if int(n) == 0:
        return pred.sum() * 0.0  # keeps the graph; a batch with no masked entry teaches nothing
    return ((pred - target) ** 2).masked_fill(~mask, 0.0).sum() / n


class ExpressionMAETask(Task):
    """Masked-expression pretraining of an :class:`ExpressionMAE`.

    Parameters
    ----------
    model
        The model being pretrained.
    only_nonzero
        Mask only detected (nonzero) genes, as scGPT does; otherwise any gene.
    count
        ``"exact"``: each cell hides exactly round(ratio x eligible genes); ``"bernoulli"``: each
        gene independently with probability ``ratio``.
    """

    def __init__(self, model: ExpressionMAE, only_nonzero: bool = False, count: str = "exact") -> None:
        super().__init__()
        self.model = model
        self.only_nonzero = bool(only_nonzero)
        self.count = count

    def loss_terms(self, batch: Dict[str, Any], mask_ratio: float, rng: RNGLike) -> Dict[str, torch.Tensor]:
        """The batch's loss pieces: ``loss_sum`` (the sum of the per-entry loss over the masked
        entries, a (cell, gene) pair being one item), ``n_items`` (how many entries are masked),
        ``loss`` (their mean: ``loss_sum / n_items``, 0 when nothing is masked), ``masked_mse``
        (on the log1p(CP10k) scale) and the ``mask``."""
        x = batch["x"]
        # Genes a cell's file does not measure (a corpus of files with different genes) are
        # unobserved: the ratio is a fraction of the observed genes only, they are never scored,
        # and the encoder sees them hidden (mask value + flag), never as a measured 0.
        observed = batch.get("observed")
        masking = mask_expression(x, mask_ratio, only_nonzero=self.only_nonzero, count=self.count, rng=rng,
                                  eligible=observed)
        mask = masking.mask
        model = self.model
        z = model.standardise(x)  # once: the encoder's input and the mse target
        # The mask as 0/1 values: multiplying by it is masked_fill(~mask, 0) for the finite values
        # here (the same numbers), at a fraction of a bool-conditioned kernel's cost on CPU.
        hidden = as_float_mask(mask, z.dtype)
        if observed is None:
            latent = model.encode_standardised(z, mask, hidden)
        else:
            latent = model.encode_standardised(z, mask | ~observed.to(torch.bool))
        out = model.decode(latent, batch.get("batch"))
        if model.loss == "nb":
            counts = batch["counts"]
            library = counts.sum(dim=1, keepdim=True).clamp_min(1.0)
            share = torch.softmax(out, dim=1)  # once: the NB mean and the reconstruction
            per_entry = -nb_log_likelihood(counts, share * library, model.log_theta)
        else:
            # The loss lives on the standardised scale the encoder sees, so every gene counts
            # alike; the reported MSE is on the log1p(CP10k) scale a user reads.
            per_entry = (out - z) ** 2
        # Masked entries only; with none masked the sum is a 0 that keeps the graph.
        loss_sum = (per_entry * hidden).sum()
        # Per-row int32 counts, then their total: a whole-batch sum(dtype=int64) converts every
        # entry to int64 first, a batch-sized temporary many times slower.
        n_items = row_counts(mask).sum() if mask.dtype == torch.bool and mask.dim() == 2 else mask.sum()
        with torch.no_grad():  # the reported MSE: no graph
            if model.loss == "nb":
                recon = torch.log1p(share * model.target_sum)
            else:
                recon = out * model.gene_std + model.gene_mean
            mse = ((recon - x) ** 2 * hidden).sum() / n_items.clamp_min(1)  # masked_mse, 0 when none
        return {"loss": loss_sum / n_items.clamp_min(1), "loss_sum": loss_sum, "n_items": n_items,
                "masked_mse": mse, "mask": mask}

    def forward(self, batch: Dict[str, Any], mask_ratio: float, rng: RNGLike) -> TaskOutput:
        """The SUM of the loss over the masked entries with ``n_items`` = their number: the
        trainer divides by the count over every micro-batch and process, so the gradient is the
        global batch's mean over masked entries however many each rank masked (only-nonzero
        masking and Bernoulli counts differ per cell)."""
        terms = self.loss_terms(batch, mask_ratio, rng)
        mask = terms["mask"]
        return TaskOutput(
            loss=terms["loss_sum"], n_items=float(terms["n_items"]), n_examples=int(batch["x"].shape[0]),
            n_tokens=int(batch["x"].numel()),
            metrics={"masked_mse": terms["masked_mse"].detach(),
                     # mask.float().mean(): the exact count over the number of entries, in float32
                     "masked_fraction": terms["n_items"].to(torch.float32) / max(mask.numel(), 1)},
        )


@torch.no_grad()
def reconstruction_error(model: ExpressionMAE, x: torch.Tensor, ratio: float, *, seed: int = 0,
                         only_nonzero: bool = False, batch: Optional[torch.Tensor] = None) -> float:
    """Masked MSE (log1p scale) of ``model`` on cells ``x`` at a test-time ``ratio``; the mask is
    drawn from a generator seeded with ``seed`` so every model is scored on the same entries."""
    was = model.training
    model.eval()
    try:
        gen = torch.Generator().manual_seed(int(seed))
        masking = mask_expression(x, ratio, only_nonzero=only_nonzero, rng=gen)
        recon = model.reconstruct(x, masking.mask, batch)
        return float(masked_mse(recon, x, masking.mask))
    finally:
        model.train(was)
