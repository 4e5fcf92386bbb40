"""Build the tutorial notebooks from their Jupytext sources: executed, outputs stored.

Each tutorial's source is a Jupytext ``py:percent`` file, ``tutorials/NN_name.py`` (readable
diffs, reviewable like code). This script converts it to ``tutorials/NN_name.ipynb``, executes it
top to bottom in a fresh kernel whose ``PYTHONPATH`` starts with this repository (so the repo's
``bioR2`` is what runs, installed or not), and writes the notebook with its outputs, so a reader
on GitHub sees the figures and numbers::

    python tutorials/build.py                 # every tutorial, one after the other
    python tutorials/build.py 03 06           # only those whose name starts with 03 or 06
    python tutorials/build.py --check         # execute nothing: is every stored notebook current?
    make tutorials                            # the first line; `make tutorials-check` the last

Edit the ``.py``, never the ``.ipynb`` (it is overwritten), then rebuild it and commit both.
``tests/test_tutorials.py`` fails (fast, no execution) when a stored notebook is not what
building its source gives: other cells, cells not executed once each in order, an error, a
progress bar or other noise, or more than 1 MB (:func:`problems`); a slow test executes every
source. Outputs are only ever written by executing: no hand edits.

The kernel runs in a temporary folder (a notebook's files never land in the repository) with one
thread per numerical library (:func:`kernel_environment`). Each build prints the wall-clock and
CPU seconds and the slowest cells.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAX_BYTES = 1_000_000  # a stored notebook's size limit
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
# Output a stored notebook must not show, and what to do about it.
NOISE = [
    (re.compile(r"TqdmWarning|IProgress not found"), "tqdm's IProgress warning"),
    (re.compile(r"<matplotlib\.[\w.]+ (object )?at 0x[0-9a-f]+>"),
     "a matplotlib object's repr (end the plotting line with ';')"),
    (re.compile(r"\| *\d+/\d+ \["), "a progress bar (pass progress=False)"),
]


def sources(patterns: Sequence[str] = ()) -> List[Path]:
    """The tutorial sources (``NN_*.py``), optionally only those whose name starts with a pattern."""
    found = sorted(HERE.glob("[0-9][0-9]_*.py"))
    if patterns:
        found = [p for p in found if any(p.stem.startswith(pat) for pat in patterns)]
    return found


def notebook_for(source: Path) -> Path:
    return source.with_suffix(".ipynb")


def convert(source: Path):
    """The source as an unexecuted notebook: what the stored ``.ipynb``'s cells must equal."""
    import jupytext

    return jupytext.read(source, fmt="py:percent")


def _cells(nb) -> List[Tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return str(output.get("data", {}).get("text/plain", ""))


def problems(source: Path) -> List[str]:
    """What is wrong with the stored notebook of ``source`` (an empty list when it is current).

    Checked: it exists; its cells (type and source) equal the conversion of ``source``; every
    code cell has an execution count and they run 1..n in order (executed once, top to bottom);
    no output is an error or shows the noise listed in :data:`NOISE`; the file is at most
    :data:`MAX_BYTES`.
    """
    import nbformat

    target = notebook_for(source)
    rebuild = f"rebuild it: python tutorials/build.py {source.stem[:2]}"
    if not target.exists():
        return [f"{target.name} is missing; {rebuild}"]
    stored = nbformat.read(target, as_version=4)
    found: List[str] = []
    want, have = _cells(convert(source)), _cells(stored)
    if want != have:
        first = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have)))
        found.append(f"{target.name} is out of date with {source.name} (first difference at cell {first}; "
                     f"{len(want)} cells in the source, {len(have)} stored); {rebuild}")
    counts = [c.get("execution_count") for c in stored.cells if c.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        found.append(f"{target.name} was not executed top to bottom (execution counts {counts}); {rebuild}")
    for i, cell in enumerate(stored.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                found.append(f"{target.name} cell {i} stores an error: {out.get('ename')}: {out.get('evalue')}")
            text = _text(out)
            found += [f"{target.name} cell {i} shows {what}" for pattern, what in NOISE if pattern.search(text)]
    size = target.stat().st_size
    if size > MAX_BYTES:
        found.append(f"{target.name} is {size / 1e6:.1f} MB, over {MAX_BYTES / 1e6:g} MB: fewer or smaller figures")
    return list(dict.fromkeys(found))


@contextlib.contextmanager
def kernel_environment() -> Iterator[None]:
    """The environment a kernel started inside inherits: ``PYTHONPATH`` led by this repository
    (its ``bioR2`` runs, installed or not) and one thread per numerical library unless set already.

    One thread: the machines that build and test the notebooks are shared, and the tutorials'
    models are tiny. It also keeps torch on one thread after a UMAP: pynndescent restores numba's
    thread count through the OpenMP runtime torch shares, which otherwise puts torch on every core
    whatever ``torch.set_num_threads`` said (several times slower on a busy machine).
    """
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", *THREAD_VARIABLES)}
    os.environ["PYTHONPATH"] = str(REPO) + (os.pathsep + saved["PYTHONPATH"] if saved["PYTHONPATH"] else "")
    for key in THREAD_VARIABLES:
        os.environ.setdefault(key, "1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_notebook(nb, *, timeout: int = 600, kernel: str = "python3", record_timing: bool = False,
                 cwd: Optional[Path] = None) -> None:
    """Execute ``nb`` in place, top to bottom, in a fresh kernel started in :func:`kernel_environment`
    and in ``cwd`` (default: a temporary folder, removed afterwards). Raises at the first error."""
    from nbclient import NotebookClient

    with kernel_environment(), tempfile.TemporaryDirectory(prefix="bior2-tutorial-") as scratch:
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, record_timing=record_timing,
                                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                resources={"metadata": {"path": str(cwd or scratch)}})
        client.execute()


# Appended to a build and removed before writing: the kernel's CPU seconds, a fair time on a busy
# machine, where wall-clock time measures the other processes too.
_CPU_PROBE = ("import resource as _r\n"
              "print(sum(getattr(_r.getrusage(w), f) for w in (_r.RUSAGE_SELF, _r.RUSAGE_CHILDREN)"
              " for f in ('ru_utime', 'ru_stime')))")


@dataclass
class Build:
    """How one build went: wall-clock and CPU seconds, and the slowest cells."""

    wall: float
    cpu: float
    slowest: List[Tuple[float, int]]  # (seconds, cell index)


def _cell_seconds(cell) -> Optional[float]:
    from datetime import datetime

    stamps = cell.get("metadata", {}).get("execution", {})
    try:
        begin = datetime.fromisoformat(stamps["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(stamps["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - begin).total_seconds()


def _stable_ids(nb) -> None:
    """Cell ids from the cells' contents (nbformat draws random ones): a rebuild of an unchanged
    source changes no id, so the diff shows only what changed."""
    import hashlib

    seen = set()
    for cell in nb.cells:
        base = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        cell.id, k = base, 1
        while cell.id in seen:
            cell.id, k = f"{base}-{k}", k + 1
        seen.add(cell.id)


def _coalesce_streams(nb) -> None:
    """Join consecutive prints to the same stream into one output: how the kernel happened to
    flush them (timing) would otherwise change a rebuilt notebook."""
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            if (merged and out.get("output_type") == "stream" and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == out.get("name")):
                merged[-1]["text"] += out["text"]
            else:
                merged.append(out)
        if "outputs" in cell:
            cell.outputs = merged


def build(source: Path, timeout: int = 600, kernel: str = "python3") -> Build:
    """Convert ``source``, execute it and write ``notebook_for(source)`` with its outputs.

    A run that fails is written too (the stored error shows where, and the test fails) and the
    error is raised.
    """
    import nbformat

    nb = convert(source)
    nb.metadata.pop("jupytext", None)  # the .ipynb is an output: no pairing back to the source
    _stable_ids(nb)
    n_cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(_CPU_PROBE))
    start = time.perf_counter()
    try:
        run_notebook(nb, timeout=timeout, kernel=kernel, record_timing=True)
    finally:
        wall = time.perf_counter() - start
        probe = nb.cells.pop()
        timed = [(_cell_seconds(c), i) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        for cell in nb.cells[:n_cells]:
            cell.metadata.pop("execution", None)  # timestamps: noise in every diff
        _coalesce_streams(nb)
        nbformat.write(nb, notebook_for(source))
    try:
        cpu = float(probe.outputs[0]["text"])
    except (IndexError, KeyError, ValueError):
        cpu = float("nan")
    slowest = sorted(((t, i) for t, i in timed if t is not None), reverse=True)[:3]
    return Build(wall, cpu, slowest)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="name prefixes (e.g. 03 06); default: every tutorial")
    parser.add_argument("--check", action="store_true", help="check the stored notebooks, execute nothing")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    chosen = sources(args.only)
    if not chosen:
        parser.error(f"no tutorial source matches {args.only}")
    if args.check:
        found = [msg for src in chosen for msg in problems(src)]
        print("\n".join(found) or f"{len(chosen)} notebooks are current")
        return 1 if found else 0
    failed = 0
    for src in chosen:
        print(f"{src.name} ...", end=" ", flush=True)
        try:
            done = build(src, timeout=args.timeout)
        except Exception as err:  # noqa: BLE001 - report it, go on with the next notebook
            print(f"FAILED\n  {type(err).__name__}: {str(err)[-2000:]}")
            failed += 1
            continue
        left = problems(src)
        size = notebook_for(src).stat().st_size / 1024
        cells = ", ".join(f"cell {i} {t:.0f} s" for t, i in done.slowest)
        print(f"{done.wall:.0f} s wall, {done.cpu:.0f} s CPU, {size:.0f} KiB (slowest: {cells})"
              + "".join(f"\n  {m}" for m in left))
        failed += bool(left)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
