"""``bioR2.vision.pretrain`` (the one :func:`bioR2.pretrain` with the domain filled in) and
:func:`pretrain_and_probe` (pretrain, then score a linear probe on the held-out split).

Kept apart from ``spec.py`` so that the spec (a declaration) never imports the pipeline that
runs it; ``bioR2.vision`` exports both lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..pipeline import domain_pretrain

if TYPE_CHECKING:
    from ..probe import ProbeRun

__all__ = ["pretrain", "pretrain_and_probe"]

pretrain = domain_pretrain("vision")


def pretrain_and_probe(data: Any = "digits", **options: Any) -> "ProbeRun":
    """Pretrain a ViT-MAE, then report the held-out linear-probe accuracy of its frozen features.

    ``data`` is ``"digits"``, ``"mnist"``, an image folder, a labelled :class:`ImageSet`
    (split here with ``split_seed``) or an explicit ``(train, test)`` pair. Options: ``steps``, ``lr``, ``mask_ratio``
    (default: R²MAE's 0.6-0.9), ``width``, ``depth``, ``heads``, ``model_config``, ``seed``,
    ``batch_size``, ``weight_decay``, ``eval_mask_ratio`` (the held-out reconstruction loss's
    fixed ratio, 0.75; ``None``: none), ``pool``, ``test_fraction``, ``split_seed``,
    ``out_dir``, ``keep_model``, ``device``, ``train_overrides``; what is not given is the
    domain's default (:func:`bioR2.probing.pretrain_and_probe`).
    """
    from ..probing import pretrain_and_probe as run

    return run("vision", data, **options)
