"""The tutorials: each stored notebook is what building its Jupytext source gives (fast, no
execution), and every source still runs top to bottom (slow).

A notebook is rebuilt with ``python tutorials/build.py NN`` (``make tutorials`` for all); the
checks themselves live in ``tutorials/build.py`` (:func:`problems`) so the build reports the same.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def _load_build():
    spec = importlib.util.spec_from_file_location("tutorials_build", TUTORIALS / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


build = _load_build()
SOURCES = build.sources()


def test_every_notebook_has_a_source() -> None:
    assert len(SOURCES) >= 6, SOURCES
    orphans = [p.name for p in sorted(TUTORIALS.glob("*.ipynb")) if not p.with_suffix(".py").exists()]
    assert not orphans, f"notebooks without a Jupytext source (edit the .py, build the .ipynb): {orphans}"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_stored_notebook_is_current(source: Path) -> None:
    """Cells equal the source's conversion, executed once each in order (counts 1..n), no error,
    no noise (progress bars, IProgress warnings, object reprs), under 1 MB."""
    problems = build.problems(source)
    assert not problems, "\n".join(problems)


def test_staleness_is_detected(tmp_path: Path) -> None:
    """The check itself: an edited source, a cell run twice or out of order, and an error are each caught."""
    import nbformat

    source = tmp_path / "01_demo.py"
    source.write_text("# %% [markdown]\n# A title\n\n# %%\nx = 1\n\n# %%\nprint(x + 1)\n")
    nb = build.convert(source)
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.execution_count = count
    nbformat.write(nb, tmp_path / "01_demo.ipynb")
    assert build.problems(source) == []

    source.write_text(source.read_text().replace("x + 1", "x + 2"))
    assert any("out of date" in p for p in build.problems(source))

    source.write_text(source.read_text().replace("x + 2", "x + 1"))
    nb.cells[-1].execution_count = 3
    nbformat.write(nb, tmp_path / "01_demo.ipynb")
    assert any("not executed top to bottom" in p for p in build.problems(source))

    nb.cells[-1].execution_count = 2
    nb.cells[-1].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="x", traceback=[]),
                            nbformat.v4.new_output("stream", name="stderr", text="  3%|▎  | 4/150 [00:00<00:08]")]
    nbformat.write(nb, tmp_path / "01_demo.ipynb")
    found = build.problems(source)
    assert any("stores an error" in p for p in found) and any("progress bar" in p for p in found)


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_tutorial_executes(source: Path, tmp_path: Path) -> None:
    """Every source runs top to bottom with the repository's bioR2 (nothing is written to tutorials/)."""
    nb = build.convert(source)
    build.run_notebook(nb, timeout=600, cwd=tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
