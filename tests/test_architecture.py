"""The package's shape holds: no import circles, the trainer imports nothing above it, specs are
declarations (no pipeline), and the benchmark harness writes no size, range or training default
of its own (they are the specs')."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
from pathlib import Path

import pytest

import bioR2
from bioR2.domain import all_domains

PACKAGE = Path(bioR2.__file__).parent


def _modules():
    return {".".join(("bioR2", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, is_pkg: bool):
    """Every module ``name`` imports, at the top or inside functions (relative ones resolved)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)


def _graph():
    mods = _modules()
    edges = {m: set() for m in mods}
    for m, p in mods.items():
        for target in _imports(p, m, p.name == "__init__.py"):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            # a package's __init__ re-exports are lazy or its own: they do not count
            if target and target != m and not m.startswith(target + ".") and mods[target].name != "__init__.py":
                edges[m].add(target)
    return edges


def _reaches(edges, start, goal):
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m == goal:
            return True
        if m not in seen:
            seen.add(m)
            todo.extend(edges[m])
    return False


def test_no_import_circles():
    edges = _graph()
    circles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if _reaches(edges, b, a)})
    assert not circles, f"modules that import each other (directly or through others): {circles}"


@pytest.mark.parametrize("layer, forbidden", [
    ("bioR2.train", ("bioR2.hub", "bioR2.pipeline", "bioR2.domain", "bioR2.bench", "bioR2.dna", "bioR2.sc")),
    ("bioR2.masking", ("bioR2.train", "bioR2.hub", "bioR2.pipeline", "bioR2.bench")),
])
def test_lower_layers_import_nothing_above_them(layer, forbidden):
    edges = _graph()
    bad = sorted((m, t) for m, ts in edges.items() if m.startswith(layer) for t in ts if t.startswith(forbidden))
    assert not bad, f"{layer} reaches up: {bad}"


def test_specs_are_declarations_that_never_import_the_pipeline():
    edges = _graph()
    for spec in all_domains():
        module = f"bioR2.{spec.name}.spec"
        assert "bioR2.pipeline" not in edges[module], module
        assert not {t for t in edges[module] if t.startswith("bioR2.bench")}, module


def test_the_harness_writes_no_range_size_or_training_default():
    """Masking ranges, model sizes and training settings of a benchmark come from a spec preset:
    no spec's R²MAE range is spelled out in bioR2/bench, and no harness config class has a
    numeric default for a size or training field."""
    sources = {p.name: p.read_text() for p in (PACKAGE / "bench").glob("*.py")}
    for spec in all_domains():
        for name, text in sources.items():
            assert f'"{spec.default_ratio}"' not in text, f"bench/{name} spells out {spec.name}'s range"
    owned = {"steps", "epochs", "batch_size", "lr", "hidden", "latent", "layers", "width", "depth", "heads",
             "window", "dropout", "weight_decay", "warmup_steps"}
    for info in pkgutil.iter_modules([str(PACKAGE / "bench")]):
        module = importlib.import_module(f"bioR2.bench.{info.name}")
        for obj in vars(module).values():
            if dataclasses.is_dataclass(obj) and isinstance(obj, type) and obj.__module__ == module.__name__:
                for f in dataclasses.fields(obj):
                    if f.name in owned:
                        assert f.default is None, f"{obj.__name__}.{f.name} defaults to {f.default!r} in the harness"


def test_every_benchmark_preset_resolves():
    from bioR2.pipeline import resolve_run_config, typed_sections

    for spec in all_domains():
        presets = [p.name for p in spec.presets if "-bench" in p.name]
        assert presets, f"{spec.name} has no benchmark preset"
        for name in presets:
            cfg, train = typed_sections(spec, resolve_run_config(spec, preset=name))
            assert train.steps or train.epochs, (spec.name, name)


def test_no_private_name_crosses_a_module():
    """A module uses another module's public names only (``_name`` is the module's own)."""
    crossing = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("bioR2")):
                crossing += [f"{name}: {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert not crossing, f"private names imported from other modules: {crossing}"
