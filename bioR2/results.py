"""The ``results.json`` / ``results.md`` pair every ``bior2 benchmark`` writes.

Schema (shared by all domains)::

    {"benchmark": "dna", "dataset": "motif", "seeds": [0, 1, 2], "command": "...",
     "bior2_version": "...", "elapsed_s": 123.4,
     "methods": {"r2mae": {"auprc": {"mean": m, "sd": s, "values": [...]}, ...}, ...},
     ...extra sections (paired differences, reconstruction sweeps, ...)}
"""

from __future__ import annotations

import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from . import __version__
from .utils.io import atomic_write_json, atomic_write_text

__all__ = ["build_results", "write_results", "methods_table", "current_command"]


def current_command() -> str:
    """The command line of this process, as a user would retype it."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("bior2", "__main__.py")):
        argv[0] = "bior2"
    return " ".join(shlex.quote(a) for a in argv)


def build_results(benchmark: str, dataset: str, seeds: Sequence[int], methods: Mapping[str, Any],
                  elapsed_s: float, command: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    """Assemble the shared results dict; ``extra`` adds domain sections."""
    out: Dict[str, Any] = {
        "benchmark": benchmark,
        "dataset": dataset,
        "seeds": list(seeds),
        "command": command or current_command(),
        "bior2_version": __version__,
        "elapsed_s": round(float(elapsed_s), 2),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "methods": dict(methods),
    }
    out.update(extra)
    return out


def methods_table(methods: Mapping[str, Mapping[str, Any]], metrics: Iterable[str], digits: int = 3) -> str:
    """A Markdown table: one row per method, ``mean ± sd (n)`` per metric."""
    metrics = list(metrics)
    lines = ["| method | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, entry in methods.items():
        cells: List[str] = []
        for metric in metrics:
            value = entry.get(metric) if isinstance(entry, Mapping) else None
            if isinstance(value, Mapping) and "mean" in value:
                n = len(value.get("values", []))
                cells.append(f"{value['mean']:.{digits}f} ± {value.get('sd', 0.0):.{digits}f} (n={n})")
            elif isinstance(value, (int, float)):
                cells.append(f"{value:.{digits}f}")
            else:
                cells.append("—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(out_dir: str | Path, results: Mapping[str, Any], markdown: str) -> Path:
    """Write ``results.json`` and ``results.md`` into ``out_dir`` (each atomically)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "results.json", results)
    atomic_write_text(out_dir / "results.md", markdown.rstrip() + "\n")
    return out_dir / "results.json"
