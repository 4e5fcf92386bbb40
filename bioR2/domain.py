"""The domain spec: everything a domain declares so that one ``pretrain`` trains it.

Each domain (``bioR2/dna``, ``bioR2/sc``, ``bioR2/vision``, ``bioR2/text``) has a ``spec.py``
that defines one :class:`DomainSpec`:

- typed config dataclasses, one per section (``data``, ``model``, ``task``, and any extra
  section such as ``probe``); their field defaults are the domain's defaults;
- ``default_ratio``: the domain's R²MAE range, written exactly once in the package;
- ``train_defaults``: the :class:`~bioR2.train.TrainConfig` fields the domain sets differently;
- named size presets (``dna-tiny``, ``sc-small``, ...), as MAE names ``mae_vit_base_patch16``;
- three builders: data from config, model from config + data, task from model + config.

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

__all__ = ["DomainSpec", "Preset", "DomainData", "DOMAINS", "get_domain", "domain_names", "option"]

# name -> module defining ``SPEC``; imported on first use.
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
    and ``choices``; ``nargs="+"`` takes several values after one flag (a list, or one value alone)."""
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


@dataclass
class DomainData:
    """What a domain's ``build_data`` returns.

    train / val: map-style datasets for the trainer (``val`` may be None).
    content: the domain's own view of the data that ``build_model`` and ``finish`` need (a
    genome, an expression reader, an image set, a corpus, ...).
    info: JSON-able facts written to ``data.json`` in the run folder (source, sizes, split).
    sampler_factory, collate_fn: passed to the trainer when the domain needs them.
    """

    train: Any
    val: Any = None
    content: Any = None
    info: Dict[str, Any] = field(default_factory=dict)
    sampler_factory: Optional[Callable] = None
    collate_fn: Optional[Callable] = None


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
    source_help: str = "input data"

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
    return list(DOMAINS)
