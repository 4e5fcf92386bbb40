"""``bioR2.sc.pretrain``: the single-cell pretraining call with its own signature and docs (the
work is :func:`bioR2.pretrain`, shared by every domain)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

if TYPE_CHECKING:
    from ..pipeline import PretrainResult

__all__ = ["pretrain"]


def pretrain(adata: Any = None, out: Union[None, str, os.PathLike] = None, *,
             layer: Optional[str] = None, use_raw: Optional[bool] = None, is_log1p: Optional[bool] = None,
             genes: Optional[Sequence[str]] = None, n_top_genes: Optional[int] = None,
             batch_key: Optional[str] = None, latent: Optional[int] = None, hidden: Optional[Sequence[int]] = None,
             steps: Optional[int] = None, epochs: Optional[float] = None, batch_size: Optional[int] = None,
             lr: Optional[float] = None, mask_ratio: Any = None, seed: Optional[int] = None,
             device: Optional[str] = None, preset: Optional[str] = None,
             config: Union[None, str, os.PathLike, Mapping[str, Any]] = None,
             resume: bool = False, overwrite: bool = False, **options: Any) -> "PretrainResult":
    """Pretrain a single-cell expression masked autoencoder with R²MAE masking.

    Each optimizer step masks a fraction of every cell's genes drawn from ``mask_ratio``
    (default the R²MAE range U(0.1, 0.5)); the model reconstructs the masked values.

    Parameters
    ----------
    adata
        The cells: an AnnData (in memory or backed) or an ``.h5ad`` path. Genes are ``var_names``.
    out
        Run folder (weights, ``config.json``, ``run_config.yaml``, ``log.jsonl``, checkpoints and
        the model card ``README.md``); ``None`` keeps the run in memory.
    layer
        Layer holding the values (default ``.X``), as scvi-tools' ``setup_anndata(layer=...)``.
    use_raw
        Read ``.raw.X``. scanpy keeps log1p values there: pass ``is_log1p=True`` with them.
    is_log1p
        The values are already log1p(CP10k); default: raw counts, normalised here.
    genes
        Train on exactly these genes (every one must be in ``var_names``).
    n_top_genes
        Keep the N most variable genes instead.
    batch_key
        ``obs`` column with a batch covariate for the decoder.
    latent, hidden
        Embedding size (columns of ``obsm["X_r2mae"]``) and encoder hidden sizes.
    steps, epochs
        Optimizer steps, or passes over the cells (``epochs`` wins when given).
    batch_size, lr, seed
        Cells per step, peak learning rate (AdamW, warm-up then cosine), random seed.
    mask_ratio
        ``0.15`` (fixed), ``"0.1-0.5"`` (R²MAE range) or any form of
        :func:`bioR2.masking.parse_mask_ratio`.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    preset, config
        A named configuration of the domain; a YAML/JSON file or mapping ``{section: {key: value}}``.
    resume, overwrite
        Continue the run in ``out`` from its latest checkpoint; start again in an ``out`` that
        holds a run.
    **options
        Any other option of the sc sections by name (``loss="nb"``, ``only_nonzero=True``,
        ``train={"warmup_steps": 100}``); see ``bior2 pretrain sc --help``.

    Returns
    -------
    PretrainResult
        ``.model`` (an :class:`~bioR2.sc.model.ExpressionMAE` in eval mode), ``.run_dir``,
        ``.history`` (a DataFrame by step), ``.summary``, ``.config``.

    Examples
    --------
    >>> result = bioR2.sc.pretrain(adata, "runs/pbmc", layer="counts", steps=2000)
    >>> bioR2.sc.embed(adata, result.model)  # obsm["X_r2mae"]
    """
    from ..pipeline import pretrain as _pretrain

    given = dict(layer=layer, use_raw=use_raw, is_log1p=is_log1p, genes=genes, n_top_genes=n_top_genes,
                 batch_key=batch_key, latent=latent, hidden=hidden, steps=steps, epochs=epochs,
                 batch_size=batch_size, lr=lr, mask_ratio=mask_ratio, seed=seed, device=device)
    options.update({k: v for k, v in given.items() if v is not None})  # None: the config's or the default
    return _pretrain("sc", adata, out, preset=preset, config=config, resume=resume, overwrite=overwrite, **options)
