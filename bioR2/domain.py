"""The domain spec: everything a domain declares so that one ``pretrain`` trains it.

Each domain (``bioR2/dna``, ``bioR2/sc``, ``bioR2/vision``, ``bioR2/text``) has a ``spec.py``
that defines one :class:`DomainSpec`:

- typed config dataclasses, one per section (``data``, ``model``, ``task``, and any extra
  section such as ``probe``); their field defaults are the domain's defaults;
- ``default_ratio``: the domain's R²MAE range, written exactly once in the package;
- ``train_defaults``: the :class:`~bioR2.train.TrainConfig` fields the domain sets differently;
- named size presets (``dna-tiny``, ``sc-small``, ...), as MAE names ``mae_vit_base_patch16``,
  and the benchmarks' recipes (``dna-bench-quick``, ...): a benchmark is a preset plus overrides;
- three builders: data from config, model from config + data, task from model + config, and
  ``resolve``: the one place where automatic settings (``None``) become numbers for a run;
- the domain's facts: its name in words, Hub tags and model-card text, the classic fixed ratio
  a comparison uses, whether per-example ratios apply, and its CLI commands.

:func:`bioR2.pretrain` and ``bior2 pretrain <domain>`` are generated from the spec, so adding a
domain means writing a spec and its data/model/task modules (see ``CONTRIBUTING.md``).

Spec modules import only the standard library at module level (the CLI builds its options
from them without importing torch); builders import their heavy modules inside.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

__all__ = ["DomainSpec", "Preset", "DomainData", "Command", "ModelCard", "DOMAINS", "get_domain", "domain_names",
           "all_domains", "model_domain", "option"]

# name -> module defining ``SPEC``; imported on first use. The one list of domains: the CLI, the
# Hub's model cards, checkpoints' error messages and the scoreboard iterate over it.
DOMAINS: Dict[str, str] = {
    "dna": "bioR2.dna.spec",
    "sc": "bioR2.sc.spec",
    "vision": "bioR2.vision.spec",
    "text": "bioR2.text.spec",
}


def option(default: Any = None, help: str = "", *, flag: Optional[str] = None, cli: bool = True,
           choices: Optional[Tuple[Any, ...]] = None, metavar: Optional[str] = None,
           default_factory: Optional[Callable[[], Any]] = None, nargs: Optional[str] = None) -> Any:
    """A config field with what the generated CLI needs: its ``help`` text, a ``flag`` other than
    ``--field-name`` (e.g. ``--fasta`` for ``data.source``), ``cli=False`` to keep it config-only,
    ``choices``, and ``nargs`` (``"+"``: the flag takes several values; one given stays a scalar)."""
    metadata = {"help": help, "flag": flag, "cli": cli, "choices": choices, "metavar": metavar, "nargs": nargs}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Preset:
    """A named configuration: section -> field overrides (``{"model": {"hidden": 64}}``)."""

    name: str
    description: str
    sections: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Command:
    """A CLI subcommand a domain contributes: ``bior2 <command> [<sub>]``, parsed and run by
    ``add_<hook>_arguments(parser)`` / ``run_<hook>(args)`` of ``module`` (imported when the
    parser is built; heavy imports belong inside ``run_<hook>``)."""

    command: str
    sub: Optional[str]
    module: str
    hook: str
    help: str


@dataclass(frozen=True)
class ModelCard:
    """What a model card says of a domain's models: ``what`` a model is ("DNA language model"),
    its Hub ``tags``, its intended ``use`` (``{repo}`` is filled in), its ``limits``, the Hub's
    ``pipeline_tag`` and where its validation loss is measured (``validation``)."""

    what: str
    tags: Tuple[str, ...]
    use: str
    limits: str
    pipeline_tag: Optional[str] = None
    validation: str = "held-out split"


@dataclass
class DomainData:
    """What a domain's ``build_data`` returns.

    train / val: map-style datasets for the trainer (``val`` may be None).
    content: the domain's own view of the data that ``build_model`` and ``finish`` need (a
    genome, an expression reader, an image set, a corpus, ...).
    info: JSON-able facts written to ``data.json`` in the run folder (source, sizes, split).
    sampler_factory, collate_fn: passed to the trainer when the domain needs them.
    epoch_size: examples in one pass when a sampler draws other than ``len(train)`` of them (a
    corpus weighting its datasets); epochs turn into steps with it.
    """

    train: Any
    val: Any = None
    content: Any = None
    info: Dict[str, Any] = field(default_factory=dict)
    sampler_factory: Optional[Callable] = None
    collate_fn: Optional[Callable] = None
    epoch_size: Optional[int] = None


@dataclass(frozen=True)
class DomainSpec:
    """One domain's declaration; see the module docstring.

    ``build_data(source, cfg, train_cfg) -> DomainData`` where ``source`` is a Python object
    given to :func:`bioR2.pretrain` (AnnData, Genome, ImageSet, ...) or None (read
    ``cfg.data.source``); ``cfg`` is a :class:`SectionConfigs` of the resolved sections.
    ``build_model(cfg, data, train_cfg) -> PretrainedModule`` (torch is seeded before it runs).
    ``build_task(model, cfg, data) -> Task``.
    ``finish(result, cfg, data) -> dict`` (optional): after training, e.g. a linear probe or
    provenance files; what it returns is merged into the result's ``summary``.
    ``resolve(cfg, train_cfg, data) -> TrainConfig`` (optional): the domain's automatic train
    settings for this data (``None`` fields of the config), called once by the pipeline before
    the trainer is built (:func:`bioR2.pipeline.resolve_train_config`).

    The domain's facts: ``display_name`` (in words, "single-cell"), ``card`` (:class:`ModelCard`),
    ``fixed_ratio`` (the classic fixed masking ratio that comparisons use: BERT's 0.15, MAE's
    0.75), ``per_example_ratios`` (whether one ratio per example is possible: MAE keeps one
    number of patches per batch), ``compare_ratios`` (the fixed ratios a benchmark compares the
    R²MAE range with, besides U(0, 1)), ``eval_ratios`` (the fixed ratios at which held-out masked
    loss is scored when schedules are compared), ``published_schedules`` (schedules as a paper
    published them for this domain, which replace the scoreboard family's entry of that name)
    and ``commands`` (:class:`Command`).
    """

    name: str
    description: str
    default_ratio: str
    sections: Mapping[str, type]
    build_data: Callable[..., DomainData]
    build_model: Callable[..., Any]
    build_task: Callable[..., Any]
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    presets: Tuple[Preset, ...] = ()
    finish: Optional[Callable[..., Dict[str, Any]]] = None
    resolve: Optional[Callable[..., Any]] = None
    source_help: str = "input data"
    display_name: str = ""
    card: Optional[ModelCard] = None
    fixed_ratio: float = 0.15
    per_example_ratios: bool = True
    compare_ratios: Tuple[str, ...] = ()
    eval_ratios: Tuple[float, ...] = ()
    # schedules as their papers published them for this domain, replacing the scoreboard family's
    # entry of the same name (which is kept as "<name>-range"), e.g. vision's MAGE truncated Gaussian
    published_schedules: Mapping[str, str] = field(default_factory=dict)
    commands: Tuple[Command, ...] = ()

    def resolve_train(self, cfg: "SectionConfigs", train_cfg: Any, data: DomainData) -> Any:
        """The run's :class:`~bioR2.train.TrainConfig` with every automatic (``None``) value
        fixed, frozen: first the domain's own (``resolve``, e.g. single-cell's number of epochs
        for its number of cells), then the generic ones (steps from epochs, warm-up, evaluation
        ratio: :meth:`~bioR2.train.TrainConfig.resolve`). :func:`bioR2.pretrain` calls it once,
        after the data, model and task are built and before the trainer is."""
        if self.resolve is not None:
            train_cfg = self.resolve(cfg, train_cfg, data)
        n_train = data.epoch_size or (len(data.train) if data.train is not None and hasattr(data.train, "__len__")
                                      else None)
        return train_cfg.resolve(n_train)

    def comparison_schemes(self) -> Tuple[str, ...]:
        """The masking schemes a benchmark compares by default: the R²MAE range, the domain's
        fixed ratios (``compare_ratios``, the classic one first) and MDLM's U(0, 1)."""
        return tuple(dict.fromkeys((self.default_ratio, *self.compare_ratios, "0-1")))

    @property
    def ratio_range(self) -> Tuple[float, float]:
        """``(low, high)`` of the domain's R²MAE range ``default_ratio``."""
        low, high = (float(x) for x in str(self.default_ratio).split("-"))
        return low, high

    def preset(self, name: str) -> Preset:
        for p in self.presets:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.presets) or "none"
        raise ValueError(f"{self.name}: unknown preset {name!r}; known presets: {known}")

    def section_fields(self, section: str) -> List[dataclasses.Field]:
        return list(dataclasses.fields(self.sections[section]))


class SectionConfigs:
    """The resolved config sections of a run, as typed dataclasses: ``cfg.data.window``."""

    def __init__(self, sections: Mapping[str, Any]) -> None:
        self._sections = dict(sections)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_sections"][name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> Dict[str, Any]:
        out = {}
        for name, value in self._sections.items():
            out[name] = value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value)
        return out


def get_domain(name: Any) -> DomainSpec:
    """The :class:`DomainSpec` named ``name`` (``"dna"``, ``"sc"``, ``"vision"``, ``"text"``)."""
    if isinstance(name, DomainSpec):
        return name
    module = DOMAINS.get(str(name))
    if module is None:
        raise ValueError(f"unknown domain {name!r}; known domains: {', '.join(DOMAINS)}")
    return importlib.import_module(module).SPEC


def domain_names() -> List[str]:
    """The registered domains' names, in registration order."""
    return list(DOMAINS)


def all_domains() -> List[DomainSpec]:
    """Every registered domain's spec (a spec module not written yet is left out)."""
    specs = []
    for name in DOMAINS:
        try:
            specs.append(get_domain(name))
        except ModuleNotFoundError:
            continue
    return specs


def model_domain(model: Any) -> str:
    """The domain a model belongs to, in words ("DNA", "single-cell", ...), from its module path:
    the error a user sees when a model of one domain is given to another domain's command."""
    parts = type(model).__module__.split(".")
    key = parts[1] if len(parts) > 1 and parts[0] == "bioR2" else ""
    if key in DOMAINS:
        return get_domain(key).display_name or key
    return f"non-bioR2 ({type(model).__module__})"
