"""The expression masked autoencoder: an MLP encoder over the gene vector, a decoder that
reconstructs the hidden values, and the gene list it was trained on.

Input is log1p(CP10k) expression of the model's genes. Inside the model each gene is
standardised with the training set's mean and standard deviation (stored in the weights file),
because raw log-expression spans very different scales per gene and an MLP trained on it
mostly learns the library size. Masked genes are replaced by a *learned* per-gene mask value
and flagged by a mask-indicator channel, so the encoder can tell "hidden" from "measured 0".

The cell embedding is the encoder output for the unmasked cell (``embed``). The decoder sees
the embedding plus an optional batch covariate (one-hot), so batch effects can be explained by
the decoder rather than the embedding, as in scVI.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..train import PretrainedModule

__all__ = ["as_float_mask", "ExpressionMAE", "nb_log_likelihood"]


def _mlp(sizes: Sequence[int], dropout: float, final_act: bool) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        last = i == len(sizes) - 2
        if not last or final_act:
            layers.append(nn.LayerNorm(sizes[i + 1]))
            layers.append(nn.GELU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def as_float_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as 0/1 values of ``dtype`` (through a uint8 view: bool casts are slow on CPU)."""
    if mask.dtype == torch.bool:
        return mask.view(torch.uint8).to(dtype)
    return mask.to(dtype)


def _masked_input(z: torch.Tensor, mask_float: torch.Tensor, mask_value: torch.Tensor) -> torch.Tensor:
    """The first encoder layer's input ``[z with hidden entries set to mask_value, mask]``.

    ``lerp(z, mask_value, m)`` is exactly ``z`` where ``m`` is 0 and exactly ``mask_value`` where it
    is 1 (finite values; ``z`` is clipped), as ``torch.where(mask, mask_value, z)`` is, in one
    fast pass where a bool-conditioned ``where`` is slow on CPU; both halves are written in place
    of a ``cat``."""
    n = z.shape[1]
    inp = torch.empty(z.shape[0], 2 * n, dtype=z.dtype, device=z.device)
    torch.lerp(z, mask_value.expand_as(z), mask_float, out=inp[:, :n])
    inp[:, n:] = mask_float
    return inp


class _MaskedInputLinear(torch.autograd.Function):
    """``linear([z with hidden entries set to mask_value, mask], weight, bias)`` for a constant ``z``.

    The forward is the plain layer's (the same ``addmm``). The backward gives ``weight`` and
    ``bias`` the gradients autograd would (the same products), and skips the gradient of the
    layer's input (a batch x 2·genes x width product, a fifth of the model's arithmetic) that
    autograd computes only to reach ``mask_value``: ``mask_value[g]`` enters unit ``j`` through
    ``weight[j, g] * mask[c, g]``, so its gradient is ``sum_j weight[j, g] * (dH^T mask)[j, g]``, and
    ``dH^T mask`` is the mask-indicator half of the weight's gradient, already computed. The
    same value as autograd's up to float rounding (another summation order).
    """

    @staticmethod
    def forward(ctx, z, mask_float, mask_value, weight, bias):
        inp = _masked_input(z, mask_float, mask_value)
        ctx.save_for_backward(inp, weight)
        return torch.addmm(bias, inp, weight.t())

    @staticmethod
    def backward(ctx, grad):
        inp, weight = ctx.saved_tensors
        n = inp.shape[1] // 2
        need_value, need_weight, need_bias = ctx.needs_input_grad[2:5]
        grad_weight = grad.t().mm(inp) if (need_weight or need_value) else None
        grad_value = (weight[:, :n] * grad_weight[:, n:]).sum(0) if need_value else None
        grad_bias = grad.sum(0) if need_bias else None
        return None, None, grad_value, grad_weight if need_weight else None, grad_bias


class ExpressionMAE(PretrainedModule):
    """Masked autoencoder over a fixed gene list.

    Parameters
    ----------
    genes
        The gene names (``var_names``) the model reads, in order. Saved with the model; a query
        is aligned to them by name.
    hidden
        Widths of the encoder's hidden layers (the decoder mirrors them).
    latent
        Embedding size (``obsm["X_r2mae"]`` has this many columns).
    dropout
        Dropout in encoder and decoder.
    is_log1p
        The training data was already log-normalised (no counts); queries must be too.
    target_sum
        Counts per cell used for normalisation (CP10k).
    batch_categories
        Names of the batch covariate's levels (``None``: no covariate).
    loss
        ``"mse"`` on masked log-expression, or ``"nb"``: negative-binomial likelihood of the
        masked counts (needs counts).
    layer, use_raw, batch_key
        Where the training data's values (``.layers[layer]``, ``.raw.X`` or ``.X``) and batch
        labels (``obs[batch_key]``) were read. Saved with the model, as scvi-tools'
        ``setup_anndata`` registry is, so :func:`~bioR2.sc.embed` and :func:`~bioR2.sc.annotate`
        read a query the same way unless told otherwise (together with ``is_log1p`` and
        ``target_sum``, which say how the values are normalised).
    """

    def __init__(self, genes: Sequence[str], hidden: Sequence[int] = (512, 256), latent: int = 128,
                 dropout: float = 0.1, is_log1p: bool = False, target_sum: float = 1e4,
                 batch_categories: Optional[Sequence[str]] = None, loss: str = "mse",
                 layer: Optional[str] = None, use_raw: bool = False, batch_key: Optional[str] = None) -> None:
        super().__init__()
        if len(genes) == 0:
            raise ValueError("ExpressionMAE needs at least one gene")
        if loss not in ("mse", "nb"):
            raise ValueError(f"loss must be 'mse' or 'nb', got {loss!r}")
        if loss == "nb" and is_log1p:
            raise ValueError("loss='nb' models counts; it cannot be used with log-normalised input")
        self.genes = [str(g) for g in genes]
        self.hidden = [int(h) for h in hidden]
        self.latent = int(latent)
        self.dropout = float(dropout)
        self.is_log1p = bool(is_log1p)
        self.target_sum = float(target_sum)
        self.batch_categories = None if batch_categories is None else [str(b) for b in batch_categories]
        self.loss = loss
        self.layer = None if layer is None else str(layer)
        self.use_raw = bool(use_raw)
        self.batch_key = None if batch_key is None else str(batch_key)
        n_genes, n_batch = len(self.genes), len(self.batch_categories or [])

        self.register_buffer("gene_mean", torch.zeros(n_genes))
        self.register_buffer("gene_std", torch.ones(n_genes))
        self.mask_value = nn.Parameter(torch.zeros(n_genes))
        self.encoder = _mlp([2 * n_genes, *self.hidden, self.latent], self.dropout, final_act=False)
        self.decoder = _mlp([self.latent + n_batch, *reversed(self.hidden)], self.dropout, final_act=True)
        last = self.hidden[0] if self.hidden else self.latent + n_batch
        self.head = nn.Linear(last, n_genes)
        if loss == "nb":
            self.log_theta = nn.Parameter(torch.zeros(n_genes))  # per-gene NB dispersion

    def get_config(self) -> Dict[str, Any]:
        return {
            "genes": self.genes, "hidden": self.hidden, "latent": self.latent, "dropout": self.dropout,
            "is_log1p": self.is_log1p, "target_sum": self.target_sum,
            "batch_categories": self.batch_categories, "loss": self.loss,
            "layer": self.layer, "use_raw": self.use_raw, "batch_key": self.batch_key,
        }

    @classmethod
    def for_reader(cls, reader: Any, rows: Optional[Sequence[int]] = None, *, stats_cells: int = 100_000,
                   seed: int = 0, **options: Any) -> "ExpressionMAE":
        """A new model over an :class:`~bioR2.sc.data.ExpressionReader`'s genes and normalisation,
        its gene standardisation set from (up to ``stats_cells`` of) the training ``rows``.

        The weights are drawn from torch's global generator (:func:`bioR2.sc.pretrain` seeds it
        with the run's seed first); ``seed`` picks the statistics sample. ``options`` are the
        other constructor arguments (``hidden``, ``latent``, ``layer``, ...).
        """
        import numpy as np

        from .data import gene_moments, sample_rows

        net = cls(reader.genes, is_log1p=reader.is_log1p, target_sum=reader.target_sum, **options)
        rows_arr = np.arange(reader.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
        # A corpus reader computes each gene's moments over the cells that measure it.
        moments = getattr(reader, "gene_moments", None) or (lambda r: gene_moments(reader, r))
        mean, std = moments(sample_rows(rows_arr, stats_cells, seed))
        net.set_gene_stats(mean, std)
        return net

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    # ------------------------------------------------------------------ statistics
    @torch.no_grad()
    def set_gene_stats(self, mean, std, min_std: float = 1e-2) -> None:
        """Set the per-gene standardisation (from the training cells)."""
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32).clamp_min(min_std)
        if mean.shape != (self.n_genes,) or std.shape != (self.n_genes,):
            raise ValueError(f"gene stats must have {self.n_genes} entries, "
                             f"got {tuple(mean.shape)}, {tuple(std.shape)}")
        self.gene_mean.copy_(mean)
        self.gene_std.copy_(std)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        # Clipped so a gene unseen in training cannot blow up the first layer.
        return ((x - self.gene_mean) / self.gene_std).clamp(-10.0, 10.0)

    # ------------------------------------------------------------------ forward
    def encode(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Embedding of log-normalised ``x``; ``mask`` (bool, True = hidden) hides entries."""
        z = self.standardise(x)
        if mask is None:
            # No mask: the indicator half of the first layer's input is all zeros, so skip it
            # (the same result at half the first layer's cost; embedding is mostly this layer).
            first = self.encoder[0]
            h = F.linear(z, first.weight[:, : self.n_genes], first.bias)
            return self._encoder_rest(h)
        return self.encode_standardised(z, mask)

    def encode_standardised(self, z: torch.Tensor, mask: torch.Tensor,
                            mask_float: Optional[torch.Tensor] = None) -> torch.Tensor:
        """:meth:`encode` of an already standardised ``z`` (``self.standardise(x)``) under a
        ``mask``; ``mask_float`` is ``mask`` as 0/1 in ``z``'s dtype when the caller has it.

        The first layer reads ``[z with hidden entries set to mask_value, mask]``. Training
        (gradients on, no autocast, ``z`` a constant) takes :class:`_MaskedInputLinear`: the
        same forward, a backward without the gradient of the layer's input."""
        first = self.encoder[0]
        if mask_float is None:
            mask_float = as_float_mask(mask, z.dtype)
        if (torch.is_grad_enabled() and not z.requires_grad and z.dim() == 2 and first.bias is not None
                and not torch.is_autocast_enabled(z.device.type)):
            h = _MaskedInputLinear.apply(z, mask_float, self.mask_value, first.weight, first.bias)
        elif not torch.is_grad_enabled() and z.dim() == 2:
            h = first(_masked_input(z, mask_float, self.mask_value))
        else:
            hidden = torch.lerp(z, self.mask_value.expand_as(z), mask_float)
            h = first(torch.cat([hidden, mask_float.expand_as(z)], dim=-1))
        return self._encoder_rest(h)

    def _encoder_rest(self, h: torch.Tensor) -> torch.Tensor:
        for layer in list(self.encoder)[1:]:
            h = layer(h)
        return h

    def decode(self, latent: torch.Tensor, batch: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Raw decoder output per gene: standardised log-expression (``mse``) or NB logits (``nb``)."""
        if self.batch_categories:
            n_batch = len(self.batch_categories)
            if batch is None:
                onehot = torch.zeros(latent.shape[0], n_batch, device=latent.device, dtype=latent.dtype)
            else:
                onehot = F.one_hot(batch.long().clamp(0, n_batch - 1), n_batch).to(latent.dtype)
                onehot = onehot * (batch >= 0).unsqueeze(1).to(latent.dtype)  # unknown batch: zeros
            latent = torch.cat([latent, onehot], dim=1)
        return self.head(self.decoder(latent))

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor, batch: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predicted log-normalised expression for every gene given the unmasked part of ``x``."""
        out = self.decode(self.encode(x, mask), batch)
        if self.loss == "nb":
            # NB mean as a share of the cell's library, mapped to the log1p(CP10k) scale.
            return torch.log1p(torch.softmax(out, dim=1) * self.target_sum)
        return out * self.gene_std + self.gene_mean

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.encode(x, mask)

    @torch.no_grad()
    def embed_array(self, x: torch.Tensor, unobserved: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Embeddings of a batch of log-normalised cells (eval mode, no masking).

        ``unobserved`` (bool, cells x genes or genes): genes the cells' data does not measure.
        They enter as hidden entries (the learned mask value and the mask flag), as genes a file
        lacks do in corpus pretraining, never as a measured 0. ``None``: every gene measured."""
        was_training = self.training
        self.eval()
        try:
            if unobserved is not None:
                unobserved = unobserved.to(device=x.device, dtype=torch.bool).expand_as(x)
                if bool(unobserved.any()):
                    return self.encode(x, unobserved)
            return self.encode(x)
        finally:
            self.train(was_training)


def nb_log_likelihood(counts: torch.Tensor, mu: torch.Tensor, log_theta: torch.Tensor,
                      eps: float = 1e-8) -> torch.Tensor:
    """Element-wise negative-binomial log-likelihood with mean ``mu`` and inverse dispersion
    ``exp(log_theta)`` (the scVI parameterisation)."""
    theta = log_theta.exp()
    log_theta_mu = torch.log(theta + mu + eps)
    return (theta * (torch.log(theta + eps) - log_theta_mu)
            + counts * (torch.log(mu + eps) - log_theta_mu)
            + torch.lgamma(counts + theta) - torch.lgamma(theta) - torch.lgamma(counts + 1.0))
