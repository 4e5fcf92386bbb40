"""Lazy package exports (PEP 562), so ``bior2 --help`` and CLI errors answer without importing torch."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Callable, List, Mapping, Sequence, Tuple


def lazy_exports(package: str, names_by_submodule: Mapping[str, Sequence[str]]
                 ) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names live in submodules.

    ``names_by_submodule`` maps each submodule (relative, e.g. ``"data"``) to the public names
    it defines; a submodule is imported on first access to one of its names, and the name is
    cached on the package. Where a
    public name equals its submodule's name (``bioR2.dna.pretrain``, the function, in
    ``pretrain.py``), the package attribute stays the function, as with eager imports.
    """
    module = sys.modules[package]
    exports = {name: submodule for submodule, names in names_by_submodule.items() for name in names}

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module_name}"), name)
        module.__dict__[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(module.__dict__) | set(exports))

    shadowed = {name for name, module_name in exports.items() if name == module_name}
    if shadowed:
        module.__class__ = _package_class(frozenset(shadowed))
    return __getattr__, __dir__


def _package_class(shadowed: frozenset) -> type:
    class LazyPackage(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            # The import system binds a loaded submodule on its package; for a name that is
            # also a public function, keep the function (loaded on first access) instead.
            if name in shadowed and isinstance(value, types.ModuleType):
                return
            super().__setattr__(name, value)

    return LazyPackage


class MissingExtra(ImportError, RuntimeError):
    """An optional dependency is not installed: the message says which extra to install. (A
    RuntimeError too, so that the CLI prints it as one line like other usage errors.)"""
