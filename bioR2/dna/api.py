"""``bioR2.dna.pretrain``: the DNA pretraining call with its own signature and docs (the work is
:func:`bioR2.pretrain`, shared by every domain)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

if TYPE_CHECKING:
    from ..pipeline import PretrainResult

__all__ = ["pretrain"]


def pretrain(genome: Any = None, out: Union[None, str, os.PathLike] = None, *,
             window: Optional[int] = None, stride: Optional[int] = None,
             held_out: Optional[Sequence[str]] = None, contigs: Optional[Sequence[str]] = None,
             bed: Optional[str] = None, arch: Optional[str] = None, hidden: Optional[int] = None,
             layers: Optional[int] = None, steps: Optional[int] = None, epochs: Optional[float] = None,
             batch_size: Optional[int] = None, lr: Optional[float] = None, mask_ratio: Any = None,
             seed: Optional[int] = None, device: Optional[str] = None, precision: Optional[str] = None,
             preset: Optional[str] = None, config: Union[None, str, os.PathLike, Mapping[str, Any]] = None,
             resume: bool = False, overwrite: bool = False, **options: Any) -> "PretrainResult":
    """Pretrain a single-nucleotide masked language model on a genome with R²MAE masking.

    GPN's conventions: one token per base, soft-masked (lowercase) bases down-weighted in the
    loss (0.1 in training, 0 in validation), random reverse complement, held-out contigs for
    validation. Each optimizer step masks a fraction of bases drawn from ``mask_ratio``
    (default the R²MAE range U(0.05, 0.3)).

    Parameters
    ----------
    genome
        FASTA (plain or bgzip) or GenBank/EMBL path, or a :class:`~bioR2.dna.Genome`.
    out
        Run folder (weights, ``config.json``, ``run_config.yaml``, ``log.jsonl``, checkpoints and
        the model card ``README.md``); ``None`` keeps the run in memory.
    window, stride
        Window length in bases (default 512) and step between windows (default: the window).
    held_out
        Contigs never trained on, e.g. ``["chr1"]``: the validation set.
    contigs, bed
        Train only on these contigs, or on windows tiling these BED intervals.
    arch, hidden, layers
        ``"convnet"`` (dilated convolutions, default) or ``"transformer"``; width; blocks.
    steps, epochs
        Optimizer steps, or passes over the windows (``epochs`` wins when given).
    batch_size, lr, seed
        Windows per step, peak learning rate (AdamW, warm-up then cosine), random seed.
    mask_ratio
        ``0.15`` (fixed), ``"0.05-0.3"`` (R²MAE range) or any form of
        :func:`bioR2.masking.parse_mask_ratio`.
    device, precision
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA).
    preset, config
        A named configuration (``"dna-tiny"``, ``"dna-small"``, ``"dna-gpn-size"``); a YAML/JSON
        file or mapping ``{section: {key: value}}``.
    resume, overwrite
        Continue the run in ``out`` from its latest checkpoint; start again in an ``out`` that
        holds a run.
    **options
        Any other option of the DNA sections by name (``kernel_size=5``,
        ``soft_weight_train=0.1``, ``train={"warmup_steps": 100}``); see ``bior2 pretrain dna --help``.

    Returns
    -------
    PretrainResult
        ``.model`` (a :class:`~bioR2.dna.DNAMaskedLM` in eval mode), ``.run_dir``, ``.history``
        (a DataFrame by step), ``.val_loss``, ``.summary``, ``.config``.

    Examples
    --------
    >>> result = bioR2.dna.pretrain("genome.fa", "runs/dna", held_out=["chr1"], steps=2000)
    >>> bioR2.dna.score_variants(result.model, "genome.fa", "variants.tsv")
    """
    from ..pipeline import pretrain as _pretrain

    given = dict(window=window, stride=stride, held_out=held_out, contigs=contigs, bed=bed, arch=arch,
                 hidden=hidden, layers=layers, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                 mask_ratio=mask_ratio, seed=seed, device=device, precision=precision)
    options.update({k: v for k, v in given.items() if v is not None})  # None: the config's or the default
    return _pretrain("dna", genome, out, preset=preset, config=config, resume=resume, overwrite=overwrite, **options)
