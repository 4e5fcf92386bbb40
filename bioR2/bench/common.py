"""Helpers shared by the benchmarks (``bioR2.bench``) that compare masking schemes across seeds.

- :func:`method_key` names a masking scheme the way every ``results.json`` does
  (``r2mae``, ``fixed_0.15``, ``uniform_0-1``).
- :func:`summarize_methods` turns per-seed values into the ``{"mean", "sd", "values"}``
  entries of the shared schema, and :func:`paired_against` gives paired differences against a
  reference method (seed by seed, so the seed-to-seed spread that both share cancels).
- :func:`run_all` runs the (scheme, seed) jobs in worker processes and keeps each finished
  result on disk, so an interrupted benchmark picks up where it stopped;
  :func:`compare_schedules` is the "every schedule at every seed" driver on top of it.
- :func:`downsample_curve` and :func:`plot_loss_curves` draw pretraining loss curves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..masking import FixedRatio, MaskRatio, UniformRatio, parse_mask_ratio
from ..metrics import paired_difference, summarize

__all__ = ["ResultCache", "run_all", "compare_schedules",
           "method_key", "summarize_methods", "paired_against", "describe_standing",
           "downsample_curve", "plot_loss_curves"]


def method_key(ratio: Union[MaskRatio, str, float], r2mae_range: Optional[Union[MaskRatio, str]] = None) -> str:
    """``fixed_<p>`` for a fixed ratio, ``uniform_<low>-<high>`` for a range, and ``r2mae`` for
    the domain's R²MAE range ``r2mae_range``.

    >>> method_key("0.15"), method_key("0-1"), method_key("0.2-0.4", "0.2-0.4")
    ('fixed_0.15', 'uniform_0-1', 'r2mae')
    """
    ratio = parse_mask_ratio(ratio)
    if r2mae_range is not None and ratio == parse_mask_ratio(r2mae_range):
        return "r2mae"
    if isinstance(ratio, FixedRatio):
        return f"fixed_{ratio.to_config()}"
    if isinstance(ratio, UniformRatio):
        return f"uniform_{ratio.to_config()}"
    raise TypeError(f"unknown ratio kind {type(ratio).__name__}")  # pragma: no cover


def summarize_methods(values: Mapping[str, Mapping[str, Sequence[float]]]) -> Dict[str, Dict[str, Any]]:
    """``{method: {metric: [per-seed values]}} -> {method: {metric: {"mean", "sd", "values"}}}``."""
    return {m: {k: summarize(v) for k, v in metrics.items() if len(v)} for m, metrics in values.items()}


def paired_against(values: Mapping[str, Mapping[str, Sequence[float]]], reference: str,
                   metric: str) -> Dict[str, Dict[str, Any]]:
    """Seed-paired ``reference − method`` differences of ``metric`` for every other method
    that has as many values (a positive mean: the reference scores higher)."""
    ref = values[reference][metric]
    out = {}
    for name, metrics in values.items():
        other = metrics.get(metric)
        if name == reference or other is None or len(other) != len(ref) or len(ref) == 0:
            continue
        out[name] = paired_difference(ref, other)
    return out


def downsample_curve(curve: Sequence[Sequence[float]], max_points: int = 200) -> List[List[float]]:
    """Keep at most ``max_points`` rows of a ``[(step, value, ...), ...]`` curve, each the mean
    of a contiguous window (a smoothed curve that stays small in results.json)."""
    arr = np.asarray(curve, dtype=float)
    if arr.size == 0:
        return []
    if arr.ndim != 2:
        raise ValueError("a curve is a list of (step, value, ...) rows")
    if len(arr) <= max_points:
        return arr.tolist()
    edges = np.linspace(0, len(arr), max_points + 1).astype(int)
    rows = [arr[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    out = np.stack(rows)
    out[:, 0] = [arr[b - 1, 0] for a, b in zip(edges[:-1], edges[1:]) if b > a]  # the window's last step
    return out.tolist()


def plot_loss_curves(curves: Mapping[str, Sequence[Sequence[Sequence[float]]]], path: Union[str, Path],
                     title: str = "pretraining loss", ylabel: str = "training loss") -> Path:
    """One line per method (mean over seeds, band = min..max), from ``{method: [curve per seed]}``
    where each curve is ``[(step, loss, ...), ...]`` on the same steps. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_path

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, runs in curves.items():
        runs = [np.asarray(r, dtype=float) for r in runs if len(r)]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        steps = runs[0][:n, 0]
        losses = np.stack([r[:n, 1] for r in runs])
        ax.plot(steps, losses.mean(axis=0), label=f"{name} (n={len(runs)})", lw=1.4)
        if len(runs) > 1:
            ax.fill_between(steps, losses.min(axis=0), losses.max(axis=0), alpha=0.15)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def describe_standing(methods: Mapping[str, Any], paired: Mapping[str, Any], metric: str,
                      references: Mapping[str, str]) -> str:
    """Plain-words standing of ``r2mae`` among the masking schemes (``methods`` minus the
    ``references``, which are named baselines): its rank by mean ``metric``, each seed-paired
    difference called "within noise" when it is within 2 standard errors, and how it compares
    with each reference."""
    masked = {k: v[metric]["mean"] for k, v in methods.items() if k not in references and metric in v}
    if "r2mae" not in masked:
        return "R²MAE was not among the schemes run."
    ranked = sorted(masked, key=masked.get, reverse=True)
    best = ranked[0]
    lines = [f"R²MAE ranks {ranked.index('r2mae') + 1} of {len(ranked)} masking schemes by mean {metric} "
             f"(best: {best}, {masked[best]:.4f}; R²MAE {masked['r2mae']:.4f})."]
    for name, d in paired.items():
        if name in references:
            continue
        se = d["se"] if np.isfinite(d["se"]) else 0.0
        verdict = "within noise" if abs(d["mean"]) <= 2 * se else ("R²MAE higher" if d["mean"] > 0 else "R²MAE lower")
        lines.append(f"- vs {name}: {d['mean']:+.4f} ± {d['se']:.4f} (R²MAE minus it, paired over seeds; {verdict})")
    for name, words in references.items():
        ref = methods.get(name, {}).get(metric, {}).get("mean")
        if ref is None:
            continue
        d = paired.get(name)
        if d is not None and np.isfinite(d["se"]):
            # Seed-paired (the reference's seed s is run s's own initialisation): judge against noise.
            if abs(d["mean"]) <= 2 * d["se"]:
                verdict = f"R²MAE pretraining is within noise of it ({d['mean']:+.4f} ± {d['se']:.4f}, paired)."
            elif d["mean"] > 0:
                verdict = f"R²MAE pretraining beats it ({d['mean']:+.4f} ± {d['se']:.4f}, paired)."
            else:
                verdict = f"R²MAE pretraining does NOT beat it ({d['mean']:+.4f} ± {d['se']:.4f}, paired)."
        else:
            verdict = ("R²MAE pretraining beats it." if masked["r2mae"] > ref
                       else "R²MAE pretraining does NOT beat it at this budget.")
        lines.append(f"- {words} ({name}) scores {ref:.4f}: {verdict}")
    return "\n".join(lines)


def _set_one_thread() -> None:
    import torch

    torch.set_num_threads(1)


class ResultCache:
    """Fingerprinted results on disk: the one cache every benchmark uses.

    ``cache_dir/<name>.json`` holds ``{"fingerprint": ..., "result": ...}``. :meth:`get` returns
    the saved result only when its fingerprint (the settings that produced it) equals this
    cache's, so a changed setting recomputes instead of reusing. :meth:`start` records the
    fingerprint of work begun but not finished (``result`` null), so a job that keeps partial
    state of its own (checkpoints) can tell whether that state is its own (:meth:`started`).
    """

    def __init__(self, cache_dir: Union[str, Path], fingerprint: Mapping[str, Any]) -> None:
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def _saved(self, name: str) -> Optional[Dict[str, Any]]:
        path = self.path(name)
        if not path.exists():
            return None
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            return None
        return saved if isinstance(saved, dict) and saved.get("fingerprint") == self.fingerprint else None

    def get(self, name: str) -> Optional[Dict[str, Any]]:
        """The finished result saved under ``name`` with this fingerprint, else ``None``."""
        saved = self._saved(name)
        return None if saved is None else saved.get("result")

    def started(self, name: str) -> bool:
        """Whether ``name`` was started (or finished) with this fingerprint."""
        return self._saved(name) is not None

    def start(self, name: str) -> None:
        """Record that ``name`` is being computed with this fingerprint (no result yet)."""
        from ..utils.io import atomic_write_json

        atomic_write_json(self.path(name), {"fingerprint": self.fingerprint, "result": None})

    def put(self, name: str, result: Dict[str, Any]) -> None:
        from ..utils.io import atomic_write_json

        atomic_write_json(self.path(name), {"fingerprint": self.fingerprint, "result": result})


def run_all(fn: Callable[[Any], Dict[str, Any]], tasks: Sequence[Any], names: Sequence[str],
            cache_dir: Union[str, Path], fingerprint: Mapping[str, Any], jobs: int = 1) -> List[Dict[str, Any]]:
    """Run ``fn(task)`` for every task and return the results in task order.

    Each result (a JSON-able dict) is written to ``cache_dir/<name>.json`` as soon as it is
    done, together with ``fingerprint`` (the settings that produced it; see :class:`ResultCache`).
    A later call with the same fingerprint reuses it instead of recomputing, so a benchmark killed
    after hours keeps its finished runs. With ``jobs > 1`` the tasks run in that many spawned
    processes with one torch thread each (small models run fastest that way); ``fn`` must be importable.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    cache = ResultCache(cache_dir, fingerprint)
    results: List[Optional[Dict[str, Any]]] = [None] * len(tasks)
    todo = []
    for i, name in enumerate(names):
        saved = cache.get(name)
        if saved is not None:
            results[i] = saved
            continue
        todo.append(i)

    def keep(i: int, result: Dict[str, Any]) -> None:
        cache.put(names[i], result)
        results[i] = result

    if jobs > 1 and len(todo) > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=mp.get_context("spawn"),
                                 initializer=_set_one_thread) as pool:
            futures = {pool.submit(fn, tasks[i]): i for i in todo}
            for future in as_completed(futures):
                keep(futures[future], future.result())
    else:
        for i in todo:
            keep(i, fn(tasks[i]))
    return [r for r in results if r is not None]


def compare_schedules(job: Callable[[Any], Dict[str, Any]], payload: Any, schedules: Mapping[str, str],
                      seeds: Sequence[int], cache_dir: Union[str, Path], fingerprint: Mapping[str, Any],
                      jobs: int = 1, *, seed_major: bool = True,
                      name_of: Callable[[str, int], str] = lambda name, seed: f"{name}-seed{seed}",
                      ) -> Dict[tuple, Dict[str, Any]]:
    """Every masking schedule at every seed: ``job((payload, name, ratio, seed))`` for each
    ``name -> ratio`` of ``schedules`` and each seed, cached and resumable as :func:`run_all`
    runs them (``cache_dir/<name_of(name, seed)>.json``). ``seed_major`` orders the work seed by
    seed (a run cut short has every schedule at the seeds it finished). Returns
    ``{(name, seed): result}``."""
    pairs = ([(name, seed) for seed in seeds for name in schedules] if seed_major
             else [(name, seed) for name in schedules for seed in seeds])
    tasks = [(payload, name, schedules[name], seed) for name, seed in pairs]
    results = run_all(job, tasks, [name_of(name, seed) for name, seed in pairs], cache_dir, fingerprint, jobs)
    return dict(zip(pairs, results))
