"""Pretraining runs scored by a linear probe (vision, text): what their specs share, and
:func:`pretrain_and_probe`, the one call behind the benchmarks and the model-size sweep.

Labelled data is split once: ``data.test_fraction`` of it, drawn (stratified) with
``data.split_seed``, is held out of pretraining. After training, a logistic-regression probe on
the frozen features is fitted on the training part and scored on the held-out part; its result
is written to ``probe.json`` in the run folder and lands in the result's ``summary["probe"]``.
The held-out part also gives the validation loss (``data.validate``). Unlabelled data trains
whole, without a probe.

Standard library only at import time: the specs import it to declare their configs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from .utils.device import DEFAULT_DEVICE
from .domain import DomainData, DomainSpec, get_domain, option

__all__ = ["HeldOutConfig", "ProbeConfig", "hold_out", "finish_probe", "pretrain_and_probe"]


@dataclass
class HeldOutConfig:
    """The held-out split of labelled data: the fields every probed domain's data config has."""

    test_fraction: float = option(0.2, "labelled data: fraction held out from pretraining for the linear probe")
    split_seed: int = option(0, "seed of the stratified held-out split (the same seed holds out the same examples)")
    validate: bool = option(True, "report the masked loss of the held-out split (at train.eval_mask_ratio)")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ProbeConfig:
    """The linear probe that scores a run (logistic regression on standardised frozen features)."""

    enabled: bool = option(True, "linear probe on the held-out examples after pretraining (labelled data only)",
                           flag="--probe")
    C: float = option(1.0, "inverse regularisation strength of the probe's logistic regression", flag="--probe-c")
    required: bool = option(False, "unlabelled data is an error instead of a run without a probe", cli=False)


def hold_out(data: Any, split: Callable[[Any, float, int], Tuple[Any, Any]], cfg) -> Tuple[Any, Optional[Any]]:
    """``(train, test)`` of a run: ``data`` is a labelled or unlabelled set (``.labels``,
    ``.source``) or an explicit ``(train, test)`` pair.

    Labelled data with ``probe.enabled`` is split by ``split(data, test_fraction, split_seed)``;
    otherwise everything trains and ``test`` is None.
    """
    if isinstance(data, tuple):
        train, test = data
        return train, test
    if data.labels is None:
        if cfg.probe.enabled and cfg.probe.required:
            raise ValueError(f"{data.source}: a linear probe needs labelled data (class folders)")
        return data, None
    if not cfg.probe.enabled:
        return data, None
    classes = set(list(data.labels))
    if len(classes) < 2:  # said before pretraining, not by the probe after it
        raise ValueError(f"{data.source}: the linear probe needs at least 2 classes (class folders); this data has "
                         f"{len(classes)}; add class folders, or pass --no-probe (probe.enabled=False)")
    return split(data, float(cfg.data.test_fraction), int(cfg.data.split_seed))


def finish_probe(result: Any, cfg, data: DomainData, probe: Callable[[Any, Any, Any], Any]) -> Dict[str, Any]:
    """A spec's ``finish``: ``probe(model, train, test)`` (a :class:`~bioR2.probe.ProbeResult`)
    when the run held out a labelled split; written to ``probe.json`` in the run folder.

    ``data.content`` holds the run's ``{"train": ..., "test": ...}`` sets."""
    train, test = data.content["train"], data.content["test"]
    summary: Dict[str, Any] = {"n_train": len(train)}
    if test is None or not cfg.probe.enabled:
        return summary
    scores = probe(result.model, train, test).to_dict()
    if result.run_dir is not None and int(os.environ.get("RANK", "0")) == 0:
        from .utils.io import atomic_write_json

        atomic_write_json(result.run_dir / "probe.json", scores)
    summary["probe"] = scores
    return summary


def _mapping(value: Any) -> Dict[str, Any]:
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return dict(value)


def pretrain_and_probe(domain: Union[str, DomainSpec], data: Any = None, *, preset: Optional[str] = None,
                       model_config: Any = None,
                       device: str = DEFAULT_DEVICE, out_dir: Union[None, str, os.PathLike] = None,
                       keep_model: bool = False,
                       train_overrides: Optional[Mapping[str, Any]] = None, **options: Any):
    """Pretrain a ``domain`` model, then report the held-out linear-probe accuracy of its frozen
    features: a :class:`~bioR2.probe.ProbeRun` (``accuracy``, ``macro_f1``, ``val_loss``,
    ``loss_curve``, and the model with ``keep_model``).

    ``data``: what :func:`bioR2.pretrain` takes as the domain's source (a name such as
    ``"digits"``, a path, a labelled set split here with ``split_seed``, or an explicit
    ``(train, test)`` pair); ``None``: the domain's default data, which must be labelled.
    ``options`` are :func:`bioR2.pretrain`'s flat options (``mask_ratio``, ``width``, ``seed``,
    ``steps``, ``batch_size``, ``lr``, ``test_fraction``, ``pool``, ...); what is not given is
    the domain's default (or the named ``preset``'s). ``model_config`` (a model config or
    mapping) sets the model's
    section, and explicit options override it (``width``). The validation loss is measured on
    the held-out examples at the fixed ``eval_mask_ratio`` with run-independent masks, so it
    compares across ratios; ``eval_mask_ratio=None`` skips it. Runs train on ``device`` (``auto``:
    CUDA when there is one), log every 1% of the steps, without a progress bar, and never write
    anywhere but ``out_dir``; ``train_overrides`` sets further
    :class:`~bioR2.train.TrainConfig` fields last.
    """
    from .probe import ProbeRun
    from .pipeline import pretrain, resolve_run_config, route_options, typed_sections

    spec = get_domain(domain)
    sections = route_options(spec, options)
    given = sections.pop("train", {})
    # the run's length as the run config will resolve it (the spec's default unless given)
    steps = resolve_run_config(spec, preset=preset, sections={"train": {**given, **(train_overrides or {})}}
                               )["train"].get("steps") or 100
    train = {"progress": False, "device": device, "log_every": max(1, int(steps) // 100), **given,
             **(train_overrides or {})}
    held_out = {"validate": given.get("eval_mask_ratio", True) is not None, **sections.pop("data", {})}
    model = {**_mapping(model_config), **sections.pop("model", {})}
    probe = {"enabled": True, "required": True, **sections.pop("probe", {})}
    result = pretrain(spec, data, out_dir, preset=preset, overwrite=True, data=held_out, model=model, train=train,
                      probe=probe, **sections)
    cfg, train_cfg = typed_sections(spec, result.config)
    scores = result.summary["probe"]
    return ProbeRun(
        mask_ratio=train_cfg.mask_ratio.to_config(), width=int(cfg.model.width), seed=train_cfg.seed,
        steps=train_cfg.steps, accuracy=scores["accuracy"], macro_f1=scores["macro_f1"],
        final_loss=result.last_loss, val_loss=result.val_loss, n_encoder_params=result.model.num_parameters(),
        loss_curve=result.loss_curve, model=result.model if keep_model else None,
    )
