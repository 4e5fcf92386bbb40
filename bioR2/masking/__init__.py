"""The one masking core of bioR2: ratio samplers and the maskers every domain uses.

Nothing outside this package builds a mask. Ratios come from :func:`parse_mask_ratio`
(``0.15`` fixed, ``0.05-0.3`` R²MAE, and ``mdlm``, ``set:``, ``sched:``, ``tnorm:``, ``beta:``,
``sample:``; the table is in :mod:`bioR2.masking.ratio`); masks from :func:`mask_tokens` (masked LM),
:func:`mask_patches` (MAE) and :func:`mask_expression` (single-cell), each driven by a
:class:`MaskRNG` (deterministic across ranks and resumes) or a plain ``torch.Generator``.
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.masking` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "expression": ("ExpressionMasking", "mask_expression"),
    "noise": ("MaskRNG", "RNGLike", "uniform_like"),
    "patches": ("PatchMasking", "keep_patches", "mask_patches", "num_kept", "restore_patches"),
    "ratio": (
        "BetaRatio", "FixedRatio", "MDLMRatio", "MaskRatio", "MaskRatioError", "PerSampleRatio",
        "ScheduleRatio", "SetRatio", "TruncNormRatio", "UniformRatio", "mdlm_ratio", "parse_mask_ratio"
    ),
    "select": ("masked_count", "select_positions"),
    "tokens": ("IGNORE_INDEX", "TokenMasking", "mask_tokens"),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .expression import ExpressionMasking, mask_expression
    from .noise import MaskRNG, RNGLike, uniform_like
    from .patches import PatchMasking, keep_patches, mask_patches, num_kept, restore_patches
    from .ratio import (
        BetaRatio,
        FixedRatio,
        MaskRatio,
        MaskRatioError,
        MDLMRatio,
        PerSampleRatio,
        ScheduleRatio,
        SetRatio,
        TruncNormRatio,
        UniformRatio,
        mdlm_ratio,
        parse_mask_ratio,
    )
    from .select import masked_count, select_positions
    from .tokens import IGNORE_INDEX, TokenMasking, mask_tokens

__all__ = [
    "MaskRatio",
    "FixedRatio",
    "UniformRatio",
    "MDLMRatio",
    "SetRatio",
    "ScheduleRatio",
    "TruncNormRatio",
    "BetaRatio",
    "PerSampleRatio",
    "MaskRatioError",
    "parse_mask_ratio",
    "mdlm_ratio",
    "MaskRNG",
    "RNGLike",
    "uniform_like",
    "select_positions",
    "masked_count",
    "mask_tokens",
    "TokenMasking",
    "IGNORE_INDEX",
    "mask_patches",
    "PatchMasking",
    "num_kept",
    "keep_patches",
    "restore_patches",
    "mask_expression",
    "ExpressionMasking",
]
