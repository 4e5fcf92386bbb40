"""One ``pretrain`` for every domain, driven by the domain's :class:`~bioR2.domain.DomainSpec`.

>>> result = bioR2.pretrain("sc", adata, "runs/pbmc", layer="counts", steps=2000)
>>> result.model, result.run_dir, result.log[-1]["loss"]

The same function backs ``bior2 pretrain <domain>`` and each domain's ``bioR2.<domain>.pretrain``.
Configuration is resolved once, lowest precedence first: the domain's defaults, a named preset,
a config file (YAML/JSON, or a mapping), ``--set`` overrides, then explicit options. Unknown
sections and keys are errors that name them and list the valid ones.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from .config import (ConfigError, apply_overrides, check_field_values, dataclass_from_dict, deep_update,
                     load_config_file)
from .domain import DomainData, DomainSpec, SectionConfigs, get_domain

__all__ = ["pretrain", "domain_pretrain", "PretrainResult", "resolve_run_config", "typed_sections", "route_options"]

TRAIN = "train"


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns.

    model: the trained model (eval mode). run_dir: the run folder (None when nothing was written).
    log: the per-step records (``step``, ``loss``, ``mask_ratio``, ``lr``, ...).
    steps / last_loss / val_loss: the trainer's result. config: the resolved config (every
    section, JSON-able; ``bior2 pretrain --config`` reads it back). summary: the run's facts
    plus what the domain adds after training (e.g. a linear probe's accuracy).
    data: the :class:`~bioR2.domain.DomainData` that was trained on.
    """

    model: Any
    run_dir: Optional[Path]
    log: List[Dict[str, Any]]
    steps: int
    last_loss: float
    val_loss: Optional[float]
    config: Dict[str, Any]
    summary: Dict[str, Any] = field(default_factory=dict)
    data: Optional[DomainData] = field(default=None, repr=False)
    resumed_from: Optional[int] = None

    @property
    def history(self):
        """The training history as a pandas DataFrame indexed by step (``loss``, ``mask_ratio``,
        ``lr``, ..., ``val_loss``), as scvi-tools' ``model.history``: the run's ``log.jsonl`` when
        it has a folder (every record, resumed runs included), else the records in memory."""
        from .train.history import history_frame, read_log

        if self.run_dir is not None and (self.run_dir / "log.jsonl").is_file():
            return read_log(self.run_dir)
        final = [{"step": self.steps, "val_loss": self.val_loss}] if self.val_loss is not None else []
        return history_frame([*self.log, *final])

    @property
    def loss_curve(self) -> List[tuple]:
        """``[(step, loss, mask_ratio), ...]`` of the training steps."""
        return [(r["step"], r["loss"], r["mask_ratio"]) for r in self.log if "loss" in r]


def _section_names(spec: DomainSpec) -> List[str]:
    return [*spec.sections, TRAIN]


def _train_fields() -> List[str]:
    from .train.config import TrainConfig

    return [f.name for f in dataclasses.fields(TrainConfig)]


def _fields_of(spec: DomainSpec, section: str) -> List[str]:
    if section == TRAIN:
        return _train_fields()
    return [f.name for f in dataclasses.fields(spec.sections[section])]


def _as_mapping(value: Any, where: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise ConfigError(f"{where}: expected a mapping of options, got {type(value).__name__}")


def _check_sections(spec: DomainSpec, config: Mapping[str, Any], where: str) -> None:
    """Unknown sections, or keys that are not a section's fields, are errors naming them."""
    valid = _section_names(spec)
    for name, body in config.items():
        if name not in valid:
            hint = ""
            owners = [s for s in valid if name in _fields_of(spec, s)]
            if owners:
                hint = f" (did you mean {owners[0]}.{name}?)"
            raise ConfigError(f"{where}: unknown section {name!r}{hint}; valid sections: {', '.join(valid)}")
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where}: section {name!r} must be a mapping of options, got {body!r}")
        known = _fields_of(spec, name)
        unknown = sorted(set(body) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} in section {name!r}; "
                              f"valid keys: {', '.join(known)}")
        # every layer's values, even one a later flag replaces (--set train.steps=abc --steps 2)
        check_field_values(_section_class(spec, name), body, name, where)


def _section_class(spec: DomainSpec, section: str) -> type:
    from .train.config import TrainConfig

    return TrainConfig if section == TRAIN else spec.sections[section]


def route_options(spec: DomainSpec, options: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Flat keyword options (``layer="counts", steps=500``) sorted into their sections.

    A key that names a section takes a mapping for that section (``probe={"enabled": False}``);
    a field name that two sections share must be given in its section's mapping.
    """
    routed: Dict[str, Dict[str, Any]] = {}
    for key, value in options.items():
        if key in _section_names(spec):
            routed.setdefault(key, {}).update(_as_mapping(value, key))
            continue
        owners = [s for s in _section_names(spec) if key in _fields_of(spec, s)]
        if not owners:
            valid = {s: _fields_of(spec, s) for s in _section_names(spec)}
            listing = "; ".join(f"{s}: {', '.join(v)}" for s, v in valid.items())
            raise ConfigError(f"pretrain {spec.name}: unknown option {key!r}; valid options by section: {listing}")
        if len(owners) > 1:
            raise ConfigError(f"pretrain {spec.name}: option {key!r} exists in sections {owners}; "
                              f"pass it as {owners[0]}={{{key!r}: ...}}")
        routed.setdefault(owners[0], {})[key] = value
    return routed


def _steps_or_epochs(resolved: Dict[str, Any], layer: Mapping[str, Any]) -> Dict[str, Any]:
    """``train.steps`` and ``train.epochs`` are one choice, the run's length: a layer that sets one
    of them (and not the other) clears the other's value from the layers below (a domain's
    default length, a preset's), so the most specific layer decides."""
    train = layer.get(TRAIN) or {}
    if isinstance(train, Mapping):
        for given, cleared in (("steps", "epochs"), ("epochs", "steps")):
            if train.get(given) is not None and train.get(cleared) is None:
                resolved[TRAIN][cleared] = None
    return resolved


def resolve_run_config(spec: Union[str, DomainSpec], *, preset: Optional[str] = None,
                       config: Union[None, str, os.PathLike, Mapping[str, Any]] = None,
                       overrides: Iterable[str] = (),
                       sections: Optional[Mapping[str, Mapping[str, Any]]] = None) -> Dict[str, Dict[str, Any]]:
    """The run's nested config: defaults <- preset <- ``config`` <- ``overrides`` <- ``sections``.

    ``config`` is a YAML/JSON path or a mapping; it may name a ``preset`` at its top level.
    Returns plain dicts (every section present, the domain's R²MAE range as the default
    ``train.mask_ratio``); :func:`typed_sections` turns them into dataclasses.
    """
    spec = get_domain(spec)
    resolved: Dict[str, Dict[str, Any]] = {name: {} for name in spec.sections}
    resolved[TRAIN] = {"mask_ratio": spec.default_ratio, **copy.deepcopy(dict(spec.train_defaults))}
    file_config: Dict[str, Any] = {}
    where = "config"
    if config is not None:
        if isinstance(config, Mapping):
            file_config = copy.deepcopy(dict(config))
        else:
            where = str(config)
            file_config = load_config_file(config)
        for meta in ("domain", "preset"):
            value = file_config.pop(meta, None)
            if meta == "domain" and value is not None and value != spec.name:
                raise ConfigError(f"{where}: the config is for domain {value!r}, not {spec.name!r}")
            if meta == "preset" and value is not None and preset is None:
                preset = value
    if preset:
        preset_sections = spec.preset(preset).sections
        _check_sections(spec, preset_sections, f"preset {preset!r}")
        resolved = _steps_or_epochs(deep_update(resolved, preset_sections), preset_sections)
    _check_sections(spec, file_config, where)
    resolved = _steps_or_epochs(deep_update(resolved, file_config), file_config)
    overrides = list(overrides or [])
    if overrides:
        changed = apply_overrides({}, overrides)
        _check_sections(spec, changed, "--set")
        resolved = _steps_or_epochs(deep_update(resolved, changed), changed)
    if sections:
        given = {k: _as_mapping(v, k) for k, v in sections.items()}
        _check_sections(spec, given, f"pretrain {spec.name}")
        for name, body in given.items():
            resolved[name].update(body)  # whole values: a list option replaces, not merges
        resolved = _steps_or_epochs(resolved, given)
    if preset:
        resolved["preset"] = preset  # type: ignore[assignment]
    return resolved


def typed_sections(spec: Union[str, DomainSpec], resolved: Mapping[str, Any]):
    """``(SectionConfigs, TrainConfig)`` from :func:`resolve_run_config`'s dict."""
    from .train.config import TrainConfig

    spec = get_domain(spec)
    typed = {name: dataclass_from_dict(cls, resolved.get(name), name) for name, cls in spec.sections.items()}
    return SectionConfigs(typed), dataclass_from_dict(TrainConfig, resolved.get(TRAIN), TRAIN)


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _existing_run(out: Path) -> bool:
    return (out / "checkpoints").exists() or (out / "model.safetensors").exists()


def pretrain(domain: Union[str, DomainSpec], source: Any = None, out: Union[None, str, os.PathLike] = None, *,
             preset: Optional[str] = None, config: Union[None, str, os.PathLike, Mapping[str, Any]] = None,
             data: Any = None, model: Any = None, task: Any = None, train: Any = None,
             resume: bool = False, overwrite: bool = False,
             callbacks: Optional[List[Callable[[Dict[str, Any]], None]]] = None,
             **options: Any) -> PretrainResult:
    """Pretrain a model of ``domain`` (``"dna"``, ``"sc"``, ``"vision"``, ``"text"``) with masking.

    Parameters
    ----------
    source
        The input as a Python object or path: a genome (path or ``Genome``), an AnnData (object
        or ``.h5ad`` path), images (``"digits"``, a folder, an ``ImageSet``), text (``"bbc"``, a
        file, a folder, a ``Corpus``). ``None`` reads ``data.source`` from the config.
    out
        Run folder: weights (safetensors) + model config, ``run_config.yaml`` (the resolved config,
        reusable with ``--config``), ``data.json``, the trainer's ``log.jsonl`` and checkpoints.
        ``None`` keeps everything in memory.
    preset
        A named configuration of the domain (see ``bior2 pretrain <domain> --help``).
    config
        A YAML/JSON file or a mapping ``{section: {key: value}}``.
    data, model, task, train
        Section options as mappings or the domain's config dataclasses (``train`` may be a
        :class:`~bioR2.train.TrainConfig`). ``model`` may also be a ready model to train further.
    options
        Flat options routed to their section by name: ``steps=500``, ``mask_ratio="0.1-0.5"``,
        ``layer="counts"``. ``mask_ratio`` takes every form of :func:`bioR2.masking.parse_mask_ratio`;
        the default is the domain's R²MAE range.
    """
    from .train import Trainer, latest_checkpoint, load_model
    from .train.preflight import check_before_writing
    from .utils.io import atomic_write_json, atomic_write_text

    spec = get_domain(domain)
    ready_model = model if (model is not None and hasattr(model, "get_config")) else None
    sections: Dict[str, Dict[str, Any]] = {}
    for name, value in (("data", data), ("model", None if ready_model is not None else model),
                        ("task", task), (TRAIN, train)):
        if value is not None:
            if name not in _section_names(spec):
                raise ConfigError(f"pretrain {spec.name}: this domain has no {name!r} section")
            sections[name] = _as_mapping(value, name)
    for name, body in route_options(spec, options).items():
        sections.setdefault(name, {}).update(body)
    resolved = resolve_run_config(spec, preset=preset, config=config, sections=sections)
    cfg, train_cfg = typed_sections(spec, resolved)

    out_dir = Path(out) if out is not None else None
    if out_dir is not None and _existing_run(out_dir) and not resume and not overwrite:
        raise FileExistsError(f"{out_dir}: already holds a run; pass resume=True (--resume) to continue it "
                              "or overwrite=True (--overwrite) to start again")
    check_before_writing(train_cfg, out_dir)  # device, precision, counts: before any file exists
    domain_data = spec.build_data(source, cfg, train_cfg)

    import torch

    ckpt = latest_checkpoint(out_dir) if (resume and out_dir is not None) else None
    if ready_model is not None:
        net = ready_model
    elif ckpt is not None:
        # A resumed run continues the model it started with (its vocabulary, genes, statistics).
        net = load_model(ckpt)
    else:
        torch.manual_seed(train_cfg.seed)  # the initial weights depend on the run's seed only
        net = spec.build_model(cfg, domain_data, train_cfg)
    lm_task = spec.build_task(net, cfg, domain_data)
    # The one place where automatic train settings (None) become numbers for this data; the
    # frozen result is what the trainer runs and what run_config.yaml records.
    train_cfg = spec.resolve_train(cfg, train_cfg, domain_data)

    records: List[Dict[str, Any]] = []
    trainer = Trainer(lm_task, domain_data.train, train_cfg, out_dir, val_dataset=domain_data.val,
                      collate_fn=domain_data.collate_fn, sampler_factory=domain_data.sampler_factory,
                      resume=resume, overwrite=overwrite, callbacks=[records.append, *(callbacks or [])])
    # Every option of the run, defaults included: `bior2 pretrain --config run_config.yaml` repeats it.
    config_out = {"domain": spec.name, **({"preset": resolved["preset"]} if "preset" in resolved else {}),
                  **cfg.to_dict(), TRAIN: train_cfg.to_dict()}
    if out_dir is not None and _is_rank_zero():
        import yaml

        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "run_config.yaml", yaml.safe_dump(config_out, sort_keys=False))
        atomic_write_json(out_dir / "data.json", {"domain": spec.name, **domain_data.info})
    fit = trainer.fit()
    net.eval()
    result = PretrainResult(model=net, run_dir=out_dir, log=records, steps=fit.steps, last_loss=fit.last_loss,
                            val_loss=fit.val_loss, config=config_out, data=domain_data,
                            resumed_from=fit.resumed_from,
                            summary={"domain": spec.name, "steps": fit.steps, "final_loss": fit.last_loss,
                                     "val_loss": fit.val_loss, "mask_ratio": train_cfg.mask_ratio.to_config()})
    if spec.finish is not None:
        result.summary.update(spec.finish(result, cfg, domain_data) or {})
    if out_dir is not None and _is_rank_zero():
        from .run_card import write_run_card

        write_run_card(out_dir)  # RUN/README.md, with the probe's numbers when finish wrote them
    return result


def domain_pretrain(domain: Union[str, DomainSpec]) -> Callable[..., PretrainResult]:
    """``bioR2.<domain>.pretrain``: :func:`pretrain` with the domain filled in (same options,
    same result)."""
    name = domain if isinstance(domain, str) else domain.name

    def pretrain_domain(source: Any = None, out: Union[None, str, os.PathLike] = None, **kwargs: Any) -> PretrainResult:
        return pretrain(domain, source, out, **kwargs)

    pretrain_domain.__name__ = pretrain_domain.__qualname__ = "pretrain"
    pretrain_domain.__doc__ = (f"Pretrain a {name} model: ``bioR2.pretrain({name!r}, source, out, ...)``.\n\n"
                               + (pretrain.__doc__ or "").split("\n", 1)[1])
    return pretrain_domain
