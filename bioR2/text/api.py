"""``bioR2.text.pretrain`` (the one :func:`bioR2.pretrain` with the domain filled in) and
:func:`pretrain_and_probe` (pretrain, then score a linear probe on the held-out split).

Kept apart from ``spec.py`` so that the spec (a declaration) never imports the pipeline that
runs it; ``bioR2.text`` exports both lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..pipeline import domain_pretrain

if TYPE_CHECKING:
    from ..probe import ProbeRun
    from .tokenizer import BPETokenizer

__all__ = ["pretrain", "pretrain_and_probe"]

pretrain = domain_pretrain("text")


def pretrain_and_probe(data: Any = "bbc", *, tokenizer: Optional["BPETokenizer"] = None,
                       **options: Any) -> "ProbeRun":
    """Pretrain a masked LM, then report the held-out linear-probe accuracy of its frozen features.

    ``data``: ``"bbc"``, a text folder with class folders, a labelled :class:`TextCorpus` (split
    here) or a ``(train, test)`` pair. ``tokenizer`` reuses a trained tokenizer (a benchmark
    trains one per split and shares it across runs); otherwise one is trained on the training
    documents. Options: ``steps``, ``mask_ratio`` (default: R²MAE's 0.15-0.4), ``width``,
    ``model_config``, ``seed``, ``batch_size``, ``lr``, ``weight_decay``, ``eval_mask_ratio``
    (the held-out MLM loss's fixed ratio, 0.15; ``None``: none), ``test_fraction``,
    ``split_seed``, ``out_dir``, ``keep_model``, ``device``, ``train_overrides``; what is not
    given is the domain's default (:func:`bioR2.probing.pretrain_and_probe`).
    """
    from ..probing import pretrain_and_probe as run

    if tokenizer is not None:
        options["tokenizer"] = tokenizer.to_config()
    return run("text", data, **options)
