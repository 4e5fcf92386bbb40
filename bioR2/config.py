"""YAML run configs with ``--set key=value`` overrides, turned into typed dataclasses.

Precedence, lowest first: built-in defaults, the YAML file (``--config``), ``--set`` overrides,
then options given explicitly on the command line.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Type, TypeVar

import yaml

__all__ = ["ConfigError", "load_config_file", "apply_overrides", "deep_update", "dataclass_from_dict",
           "check_field_values"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file or key."""


def load_config_file(path: str | Path) -> Dict[str, Any]:
    """Read a YAML (or JSON) config file into a dict."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def deep_update(base: Dict[str, Any], update: Mapping[str, Any]) -> Dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(config: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Apply ``section.key=value`` strings; values are parsed as YAML (``1e-3``, ``true``, ``[1, 2]``)."""
    out = copy.deepcopy(config)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.lr=1e-3")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"--set {item!r}: empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def dataclass_from_dict(cls: Type[T], data: Mapping[str, Any] | None, section: str) -> T:
    """Build dataclass ``cls`` from ``data``; an unknown key is an error naming the section."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"config section {section!r}: unknown key(s) {unknown}; known: {sorted(names)}"
        )
    data = check_field_values(cls, data, section, f"config section {section!r}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config section {section!r}: {exc}") from None


def _scalar_type(annotation: Any) -> Any:
    """``int``, ``float``, ``bool`` or ``str`` behind a field's type hint (``Optional`` unwrapped);
    ``None`` for anything else (lists, unions of several types, ratios), which is not checked here."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:
        return _scalar_type(args[0]) if len(args) == 1 else None
    return annotation if annotation in (int, float, bool, str) else None


def check_field_values(cls: Type[Any], data: Mapping[str, Any], section: str, where: str) -> Dict[str, Any]:
    """``data`` with each value checked against the type of ``cls``'s field, as given in a config
    file, ``--set`` or a Python call: a whole-number field refuses ``2.7`` and ``"abc"`` (instead
    of running 3 steps and recording 2.7), a number field refuses ``"abc"``; ``"3e-4"`` (which
    YAML reads as text) becomes a number, and a number given for a text field becomes text
    (``--set data.held_out=1`` means contig ``"1"``). ``None`` is left to the field. Returns a
    new dict; raises :class:`ConfigError` naming ``where`` and ``section.key``."""
    import typing

    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a hint that cannot be resolved: leave the values to the dataclass
        return dict(data)
    out = dict(data)
    for key, value in data.items():
        kind = _scalar_type(hints.get(key))
        if value is None or kind is None or key.endswith("mask_ratio"):  # ratios: parse_mask_ratio checks them
            continue
        name = f"{section}.{key}"
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {name} must be true or false, got {value!r}")
        elif kind is int:
            number = value
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    raise ConfigError(f"{where}: {name} must be a whole number, got {value!r}") from None
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not float(number).is_integer():
                raise ConfigError(f"{where}: {name} must be a whole number, got {value!r}")
            out[key] = int(number)
        elif kind is float:
            if isinstance(value, bool):
                raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise ConfigError(f"{where}: {name} must be a number, got {value!r}") from None
            if not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
            out[key] = value
        elif kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = str(value)
    return out
