"""``bior2 benchmark scoreboard``: masking-ratio schedules ranked across domains and tasks.

The paper's claim is an average over tasks ("best overall rank"). Each domain benchmark run with
``--scoreboard`` writes, next to its usual sections, one ``scoreboard`` section::

    {"scoreboard": {"seeds": [0, 1, 2],
                    "schedules": {"r2mae": "<low>-<high>", "fixed": "<p>", ...},
                    "tasks": {"motif_auprc": {"higher_is_better": true,
                                              "values": {"r2mae": [v_seed0, v_seed1, ...], ...}}}}}

This module reads any number of such ``results.json`` files (several per domain are merged:
cbmc and pbmc68k, digits and MNIST) and ranks the schedules per task (1 = best, ties share the
mean rank), averages the ranks and the min–max normalised scores per domain and overall
(every domain weighs the same), resamples seeds to say how stable the ranking is, and tests the
top two schedules against each other, paired over (task, seed). It reads committed files, so
it runs in seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["load_scoreboard_inputs", "build_scoreboard", "scoreboard_markdown", "plot_scoreboard",
           "run_scoreboard", "schedule_family", "domain_family", "select_schedules", "scoreboard_section",
           "masked_eval", "section_markdown"]

PathLike = Union[str, Path]


def schedule_family(low: float, high: float, fixed: float, per_sample: bool = True,
                    published: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The schedules the field uses, instantiated on one domain's R²MAE range ``[low, high]``
    and its classic fixed ratio: names are the same in every domain, so ranks can be averaged
    across domains. ``per_sample=False`` leaves out ``sample`` (MAE needs one ratio per batch).
    ``published``: schedules as a paper published them for this domain (the spec's
    ``published_schedules``); each replaces the entry of its name, which stays as ``<name>-range``."""
    mid, half = 0.5 * (low + high), 0.5 * (high - low)
    fam = {
        "fixed": f"{fixed:g}",                                   # BERT 0.15 / MAE 0.75
        "r2mae": f"{low:g}-{high:g}",                            # R²MAE: U(low, high) per batch
        "mdlm": "mdlm",                                          # U(0, 1), MDLM's 1/t ELBO
        "mdlm-flat": "mdlm-flat",                                # U(0, 1) without the 1/t
        "set": f"set:{low:g},{mid:g},{high:g}",                  # scGPT-style discrete set
        "sched": f"sched:{high:g}>{low:g}",                      # Ankner et al.: decreasing
        "tnorm": f"tnorm:{mid:g},{half / 2:g},{low:g}-{high:g}",  # MAGE-style truncated Gaussian
        "beta": f"beta:2,2,{low:g}-{high:g}",                    # a bell on the range
    }
    if per_sample:
        fam["sample"] = f"sample:{low:g}-{high:g}"               # one ratio per example
    for name, ratio in (published or {}).items():
        if name not in fam:
            raise KeyError(f"published schedule {name!r} is not in the family {list(fam)}")
        if fam[name] != ratio:  # the published one takes the name; the range-derived one follows it
            items = []
            for key, value in fam.items():
                items.append((key, ratio if key == name else value))
                if key == name:
                    items.append((f"{key}-range", value))
            fam = dict(items)
    return fam


def domain_family(domain: str) -> Dict[str, str]:
    """:func:`schedule_family` of a domain, from its spec: its R²MAE range (``default_ratio``),
    its classic fixed ratio (``fixed_ratio``: BERT's 0.15, MAE's 0.75) and whether one ratio per
    example applies (``per_example_ratios``; vision keeps one number of patches per batch)."""
    from ..domain import get_domain

    spec = get_domain(domain)
    low, high = spec.ratio_range
    return schedule_family(low, high, spec.fixed_ratio, per_sample=spec.per_example_ratios,
                           published=spec.published_schedules)


def select_schedules(family: Mapping[str, str], names: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """The schedules of ``family`` named in ``names`` (all of them when ``None``), in the
    family's order; an unknown name is an error that lists the known ones."""
    if not names:
        return dict(family)
    unknown = [n for n in names if n not in family]
    if unknown:
        raise ValueError(f"--scoreboard: unknown schedule(s) {unknown}; the family is {list(family)}")
    return {n: r for n, r in family.items() if n in names}


def scoreboard_section(seeds: Sequence[int], schedules: Mapping[str, str],
                       tasks: Mapping[str, Tuple[bool, Mapping[str, Sequence[float]]]],
                       notes: Sequence[str] = ()) -> Dict[str, Any]:
    """The ``scoreboard`` section of a results.json: ``tasks`` maps a task name to
    ``(higher_is_better, {schedule: [one value per seed]})``. Every task must have every schedule
    at every seed (the ranks compare like with like)."""
    out_tasks: Dict[str, Any] = {}
    for task, (higher, values) in tasks.items():
        missing = [s for s in schedules if s not in values or len(values[s]) != len(seeds)]
        if missing:
            raise ValueError(f"scoreboard task {task!r}: schedules {missing} lack a value per seed")
        out_tasks[task] = {"higher_is_better": bool(higher),
                           "values": {s: [float(v) for v in values[s]] for s in schedules}}
    section: Dict[str, Any] = {"seeds": [int(s) for s in seeds], "schedules": dict(schedules), "tasks": out_tasks}
    if notes:
        section["notes"] = list(notes)
    return section


def section_markdown(section: Mapping[str, Any]) -> str:
    """A results.md table of one run's scoreboard section: mean ± sd over seeds per task."""
    tasks = list(section["tasks"])
    lines = ["| schedule | ratio | " + " | ".join(f"{t} ({'↑' if section['tasks'][t]['higher_is_better'] else '↓'})"
                                                for t in tasks) + " |",
             "|---|---|" + "---|" * len(tasks)]
    for s, ratio in section["schedules"].items():
        cells = []
        for t in tasks:
            v = np.asarray(section["tasks"][t]["values"][s], dtype=float)
            cells.append(f"{v.mean():.4f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.4f}")
        lines.append(f"| {s} | `{ratio}` | " + " | ".join(cells) + " |")
    lines += ["", f"Mean ± sd over seeds {section['seeds']}; ↑ higher is better, ↓ lower is better. "
              "`bior2 benchmark scoreboard` ranks the schedules from this section."]
    for note in section.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


def masked_eval(task: Any, dataset: Any, ratio: float, *, batch_size: int = 256, collate_fn: Any = None,
                max_examples: Optional[int] = None) -> Dict[str, float]:
    """The held-out masked loss of ``task`` on ``dataset`` at a fixed ``ratio``, the way the
    trainer validates (masks keyed by ``(EVAL_MASK_SEED, example index)``, so every model sees
    the same masks at the same ratio): ``{"loss": ..., <each logged metric>: ...}``, the
    metrics averaged with the loss's weights (a task returning a sum with ``n_items`` or a
    mean with a ``weight`` is handled as the trainer does). ``max_examples`` scores the first
    examples only."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from ..masking import MaskRNG
    from ..train import EVAL_MASK_SEED
    from ..train.sampler import IndexedDataset

    if max_examples is not None and len(dataset) > max_examples:
        dataset = Subset(dataset, range(int(max_examples)))  # batched reads pass through (torch >= 2.1)
    data = IndexedDataset(dataset, collate_fn)
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=data.collate)
    was_training = task.training
    task.eval()
    total, count = 0.0, 0.0
    metrics: Dict[str, float] = {}
    with torch.no_grad():
        for indices, batch in loader:
            out = task(batch, float(ratio), MaskRNG(EVAL_MASK_SEED, 0, indices))
            if out.n_items is not None:
                loss, weight = float(out.loss), float(out.n_items)
                total += loss
            else:
                weight = float(out.n_examples if out.weight is None else out.weight)
                total += float(out.loss) * weight
            count += weight
            for k, v in out.metrics.items():
                metrics[k] = metrics.get(k, 0.0) + float(v) * weight
    task.train(was_training)
    if count <= 0:
        return {"loss": float("nan")}
    return {"loss": total / count, **{k: v / count for k, v in metrics.items()}}


# --------------------------------------------------------------------------- inputs
def _results_files(paths: Iterable[PathLike]) -> List[Path]:
    files: List[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(p.rglob("results.json"))
            if not found:
                raise FileNotFoundError(f"{p}: holds no results.json")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return files


def load_scoreboard_inputs(paths: Iterable[PathLike]) -> Dict[str, Dict[str, Any]]:
    """``{domain: {"tasks": {task: {"higher_is_better", "values": {schedule: [per seed]}}},
    "seeds": [...], "sources": [...]}}`` from results files that have a ``scoreboard`` section
    (files without one are skipped; a task name is prefixed with its dataset when a domain has
    several datasets)."""
    raw: Dict[str, List[Tuple[Path, Mapping[str, Any]]]] = {}
    for path in _results_files(paths):
        try:
            results = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        board = results.get("scoreboard")
        if not board:
            continue
        domain = str(results.get("benchmark") or "unknown")
        raw.setdefault(domain, []).append((path, {**board, "dataset": results.get("dataset")}))
    out: Dict[str, Dict[str, Any]] = {}
    for domain, boards in raw.items():
        several = len({b["dataset"] for _, b in boards}) > 1
        tasks: Dict[str, Any] = {}
        seeds: List[int] = []
        for path, board in boards:
            for task, body in board.get("tasks", {}).items():
                name = f"{board['dataset']}/{task}" if several and board.get("dataset") else task
                if name in tasks:
                    raise ValueError(f"{path}: task {name!r} of domain {domain!r} appears in two results files")
                values = {s: [float(v) for v in vals] for s, vals in body["values"].items()}
                tasks[name] = {"higher_is_better": bool(body.get("higher_is_better", True)), "values": values}
            seeds = seeds or list(board.get("seeds", []))
        out[domain] = {"tasks": tasks, "seeds": seeds, "sources": [str(p) for p, _ in boards]}
    if not out:
        raise ValueError("no results.json with a 'scoreboard' section among the inputs; run the domain "
                         "benchmarks with --scoreboard first")
    return out


# --------------------------------------------------------------------------- statistics
def _ranks(means: Mapping[str, float], higher_is_better: bool) -> Dict[str, float]:
    """1 = best; tied schedules share the mean of their ranks."""
    names = list(means)
    keys = np.array([means[n] for n in names], dtype=float)
    order = np.argsort(-keys if higher_is_better else keys, kind="stable")
    ranks = np.empty(len(names))
    ranks[order] = np.arange(1, len(names) + 1)
    for value in np.unique(keys):
        tied = keys == value
        ranks[tied] = ranks[tied].mean()
    return {n: float(r) for n, r in zip(names, ranks)}


def _normalised(means: Mapping[str, float], higher_is_better: bool) -> Dict[str, float]:
    """Min–max over the schedules of one task: 1 = best, 0 = worst (all 1 when all tie)."""
    vals = np.array(list(means.values()), dtype=float)
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo <= 0:
        return {n: 1.0 for n in means}
    return {n: ((v - lo) / (hi - lo)) if higher_is_better else ((hi - v) / (hi - lo)) for n, v in means.items()}


def _domain_table(tasks: Mapping[str, Any], schedules: Sequence[str], seed_index: Optional[np.ndarray] = None):
    """Per-task ranks and normalised scores at the (optionally resampled) seeds."""
    ranks: Dict[str, Dict[str, float]] = {}
    scores: Dict[str, Dict[str, float]] = {}
    for task, body in tasks.items():
        means = {}
        for s in schedules:
            vals = np.asarray(body["values"][s], dtype=float)
            means[s] = float(np.mean(vals if seed_index is None else vals[seed_index % len(vals)]))
        ranks[task] = _ranks(means, body["higher_is_better"])
        scores[task] = _normalised(means, body["higher_is_better"])
    return ranks, scores


def _paired_top_two(tasks: Mapping[str, Any], first: str, second: str) -> Dict[str, Any]:
    """``first − second`` in normalised units (each task's values scaled by that task's spread
    across schedules), paired over (task, seed): mean, standard error, a two-sided sign test."""
    diffs = []
    for body in tasks.values():
        a, b = np.asarray(body["values"][first], float), np.asarray(body["values"][second], float)
        all_means = [np.mean(v) for v in body["values"].values()]
        spread = (max(all_means) - min(all_means)) or 1.0
        sign = 1.0 if body["higher_is_better"] else -1.0
        n = min(len(a), len(b))
        diffs.extend(sign * (a[:n] - b[:n]) / spread)
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return {"first": first, "second": second, "n_pairs": 0}
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    from scipy.stats import binomtest

    p = float(binomtest(wins, wins + losses).pvalue) if wins + losses else 1.0
    return {"first": first, "second": second, "n_pairs": int(d.size), "mean_normalised_diff": float(d.mean()),
            "se": se, "wins": wins, "losses": losses, "sign_test_p": p}


def build_scoreboard(inputs: Mapping[str, Mapping[str, Any]], n_boot: int = 1000, seed: int = 0) -> Dict[str, Any]:
    """The scoreboard dict (see the module docstring): per domain, each schedule's rank per task,
    average rank (with a seed-bootstrap standard error), average normalised score; the overall
    average rank over domains; rank stability under seed resampling; the top-two paired test."""
    rng = np.random.default_rng(seed)
    domains_out: Dict[str, Any] = {}
    overall_ranks: Dict[str, List[float]] = {}
    overall_scores: Dict[str, List[float]] = {}
    for domain, body in inputs.items():
        tasks = body["tasks"]
        schedules = sorted(set.intersection(*[set(t["values"]) for t in tasks.values()])) if tasks else []
        if len(schedules) < 2:
            continue
        ranks, scores = _domain_table(tasks, schedules)
        avg_rank = {s: float(np.mean([ranks[t][s] for t in tasks])) for s in schedules}
        avg_score = {s: float(np.mean([scores[t][s] for t in tasks])) for s in schedules}
        n_seeds = min(len(v) for t in tasks.values() for v in t["values"].values())
        boot_ranks = []
        for _ in range(n_boot if n_seeds > 1 else 0):
            idx = rng.integers(0, n_seeds, n_seeds)
            r, _ = _domain_table(tasks, schedules, idx)
            boot_ranks.append([np.mean([r[t][s] for t in tasks]) for s in schedules])
        boot = np.asarray(boot_ranks) if boot_ranks else None
        ordered = sorted(schedules, key=lambda s: (avg_rank[s], -avg_score[s]))
        stability: Dict[str, Any] = {}
        if boot is not None:
            best_idx = schedules.index(ordered[0])
            stability = {
                "n_boot": int(len(boot)),
                "top_stays_top": float(np.mean(np.argmin(boot, axis=1) == best_idx)),
                "spearman_vs_observed": float(np.mean([_spearman(b, [avg_rank[s] for s in schedules]) for b in boot])),
            }
        domains_out[domain] = {
            "tasks": list(tasks),
            "sources": body.get("sources", []),
            "seeds": body.get("seeds", []),
            "schedules": {s: {"ranks": ranks_of(ranks, s), "average_rank": avg_rank[s],
                              "average_rank_se": (float(boot[:, schedules.index(s)].std(ddof=1))
                                                  if boot is not None else None),
                              "average_normalised_score": avg_score[s],
                              "means": {t: float(np.mean(tasks[t]["values"][s])) for t in tasks}}
                          for s in schedules},
            "order": ordered,
            "best": ordered[0],
            "rank_stability": stability,
            "top_two": _paired_top_two(tasks, ordered[0], ordered[1]),
        }
        for s in schedules:
            overall_ranks.setdefault(s, []).append(avg_rank[s])
            overall_scores.setdefault(s, []).append(avg_score[s])
    if not domains_out:
        raise ValueError("no domain has at least two schedules scored on the same tasks")
    n_domains = len(domains_out)
    # Overall: the schedules scored in every domain, ranked again among themselves in each domain
    # (so a schedule one domain lacks, e.g. vision's per-sample one, moves no rank), each domain
    # weighing the same.
    common = [s for s, v in overall_ranks.items() if len(v) == n_domains]
    domain_tasks = {d: inputs[d]["tasks"] for d in domains_out}
    overall: Dict[str, float] = {}
    overall_score: Dict[str, float] = {}
    stability: Dict[str, Any] = {}
    top_two: Dict[str, Any] = {}
    overall_order: List[str] = []
    if len(common) >= 2:
        per_domain = {d: _average_ranks(t, common) for d, t in domain_tasks.items()}
        overall = {s: float(np.mean([per_domain[d][0][s] for d in per_domain])) for s in common}
        overall_score = {s: float(np.mean([per_domain[d][1][s] for d in per_domain])) for s in common}
        overall_order = sorted(common, key=lambda s: (overall[s], -overall_score[s]))
        n_seeds = {d: min(len(v) for t in tasks.values() for v in t["values"].values())
                   for d, tasks in domain_tasks.items()}
        if n_boot and all(n > 1 for n in n_seeds.values()):
            boot = np.zeros((n_boot, len(common)))
            for b in range(n_boot):
                for d, tasks in domain_tasks.items():
                    idx = rng.integers(0, n_seeds[d], n_seeds[d])
                    ranks_b = _average_ranks(tasks, common, idx)[0]
                    boot[b] += [ranks_b[s] / n_domains for s in common]
            best_idx = common.index(overall_order[0])
            stability = {"n_boot": n_boot, "top_stays_top": float(np.mean(np.argmin(boot, axis=1) == best_idx)),
                         "spearman_vs_observed": float(np.mean([_spearman(b, [overall[s] for s in common])
                                                                for b in boot])),
                         "average_rank_se": {s: float(boot[:, i].std(ddof=1)) for i, s in enumerate(common)}}
        merged = {f"{d}/{t}": {**body, "values": {s: body["values"][s] for s in common}}
                  for d, tasks in domain_tasks.items() for t, body in tasks.items()}
        top_two = _paired_top_two(merged, overall_order[0], overall_order[1])
    partial = {s: {d: domains_out[d]["schedules"][s]["average_rank"] for d in domains_out
                   if s in domains_out[d]["schedules"]}
               for s in overall_ranks if s not in common}
    return {
        "domains": domains_out,
        "overall": overall,
        "overall_normalised_score": overall_score,
        "overall_order": overall_order,
        "overall_best": overall_order[0] if overall_order else None,
        "overall_rank_stability": stability,
        "overall_top_two": top_two,
        "not_in_every_domain": partial,
        "note": ("ranks: 1 = best per task, ties share the mean rank; average_rank_se: standard deviation "
                 "of the domain's average rank over seed-bootstrap resamples; overall: the schedules scored in "
                 "every domain, ranked again among themselves per task, averaged over a domain's tasks and then "
                 "over domains (each domain weighs the same); its stability resamples every domain's seeds "
                 "together, and its top-two test pairs over every (domain, task, seed)"),
    }


def _average_ranks(tasks: Mapping[str, Any], schedules: Sequence[str], seed_index: Optional[np.ndarray] = None):
    """``({schedule: average rank}, {schedule: average normalised score})`` over ``tasks``,
    ranking ``schedules`` among themselves."""
    ranks, scores = _domain_table(tasks, schedules, seed_index)
    return ({s: float(np.mean([ranks[t][s] for t in tasks])) for s in schedules},
            {s: float(np.mean([scores[t][s] for t in tasks])) for s in schedules})


def ranks_of(ranks: Mapping[str, Mapping[str, float]], schedule: str) -> Dict[str, float]:
    return {t: r[schedule] for t, r in ranks.items()}


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    import warnings

    from scipy.stats import spearmanr

    with warnings.catch_warnings():  # a resample where every schedule ties: rho undefined, counted as 1
        warnings.simplefilter("ignore")
        rho = spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 1.0


# --------------------------------------------------------------------------- outputs
def scoreboard_markdown(board: Mapping[str, Any]) -> str:
    lines = ["# Masking-ratio schedules: the scoreboard", ""]
    for domain, d in board["domains"].items():
        tasks = d["tasks"]
        lines += [f"## {domain} (tasks: {len(tasks)}, seeds: {len(d['seeds'])})", "",
                  "| schedule | " + " | ".join(tasks) + " | average rank | avg normalised score |",
                  "|---|" + "---|" * (len(tasks) + 2)]
        for s in d["order"]:
            e = d["schedules"][s]
            se = f" ± {e['average_rank_se']:.2f}" if e["average_rank_se"] is not None else ""
            cells = [f"{e['means'][t]:.3f} ({e['ranks'][t]:g})" for t in tasks]
            lines.append(f"| {s} | " + " | ".join(cells) + f" | {e['average_rank']:.2f}{se} | "
                         f"{e['average_normalised_score']:.2f} |")
        t2, st = d["top_two"], d["rank_stability"]
        lines += ["", f"Best: **{d['best']}**. Cells: mean over seeds (rank).", ""]
        if t2.get("n_pairs"):
            lines.append(f"Top two, paired over (task, seed): {t2['first']} − {t2['second']} = "
                         f"{t2['mean_normalised_diff']:+.3f} ± {t2['se']:.3f} normalised units, "
                         f"{t2['wins']} wins / {t2['losses']} losses, sign test p = {t2['sign_test_p']:.3g}.")
        if st:
            lines.append(f"Rank stability ({st['n_boot']} seed resamples): the top schedule stays top in "
                         f"{100 * st['top_stays_top']:.0f}% of them; mean Spearman of average ranks vs observed "
                         f"{st['spearman_vs_observed']:.2f}.")
        lines.append("")
    domains = list(board["domains"])
    stab = board.get("overall_rank_stability") or {}
    se = stab.get("average_rank_se", {})
    lines += ["## Overall (mean of the domains' average ranks, schedules scored in every domain)", "",
              "| schedule | " + " | ".join(domains) + " | overall average rank | avg normalised score |",
              "|---|" + "---|" * (len(domains) + 2)]
    for s in board["overall_order"]:
        cells = [f"{board['domains'][d]['schedules'][s]['average_rank']:.2f}" for d in domains]
        spread = f" ± {se[s]:.2f}" if s in se else ""
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {board['overall'][s]:.2f}{spread} | "
                     f"{board['overall_normalised_score'][s]:.2f} |")
    lines += ["", "Domain columns: the domain's average rank among all its schedules (as in its table above); "
              "overall: ranked again among the schedules every domain has."]
    if board["overall_order"]:
        lines += ["", f"Overall best: **{board['overall_best']}**."]
    t2 = board.get("overall_top_two") or {}
    if t2.get("n_pairs"):
        lines.append(f"Top two overall, paired over (domain, task, seed): {t2['first']} − {t2['second']} = "
                     f"{t2['mean_normalised_diff']:+.3f} ± {t2['se']:.3f} normalised units, {t2['wins']} wins / "
                     f"{t2['losses']} losses, sign test p = {t2['sign_test_p']:.3g}.")
    if stab:
        lines.append(f"Overall rank stability ({stab['n_boot']} resamples of every domain's seeds): the top "
                     f"schedule stays top in {100 * stab['top_stays_top']:.0f}% of them; mean Spearman of the "
                     f"overall average ranks vs observed {stab['spearman_vs_observed']:.2f}.")
    for s, per in board.get("not_in_every_domain", {}).items():
        lines.append(f"Not in every domain, so not in the overall: {s} (average rank "
                     + ", ".join(f"{d} {r:.2f}" for d, r in per.items()) + ").")
    lines += ["", board["note"]]
    return "\n".join(lines)


def plot_scoreboard(board: Mapping[str, Any], path: PathLike) -> Path:
    """Heat map of ranks: one row per schedule, one column per (domain, task), plus each
    domain's average and the overall average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_path

    everywhere = list(board["overall_order"])
    schedules = everywhere + sorted({s for d in board["domains"].values() for s in d["schedules"]} - set(everywhere))
    columns, matrix = [], []
    for domain, d in board["domains"].items():
        for task in d["tasks"] + ["average"]:
            columns.append(f"{domain}:{task}")
    for s in schedules:
        row = []
        for domain, d in board["domains"].items():
            e = d["schedules"].get(s)
            for task in d["tasks"]:
                row.append(e["ranks"][task] if e else np.nan)
            row.append(e["average_rank"] if e else np.nan)
        matrix.append(row)
    columns.append("overall")
    for i, s in enumerate(schedules):
        matrix[i].append(board["overall"].get(s, np.nan))
    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(columns) + 2), 0.45 * len(schedules) + 2))
    im = ax.imshow(m, cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(len(schedules)), schedules, fontsize=8)
    for (i, j), v in np.ndenumerate(m):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6, color="w" if v > np.nanmean(m) else "k")
    fig.colorbar(im, ax=ax, label="rank (1 = best)")
    ax.set_title("masking-ratio schedules: rank per task", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
    return path


def run_scoreboard(inputs: Sequence[PathLike], out: Optional[PathLike] = None, n_boot: int = 1000) -> Dict[str, Any]:
    """Read ``inputs`` (results files or folders), build the scoreboard, and write
    ``out/scoreboard.json``, ``out/scoreboard.md`` and ``out/scoreboard.png`` when ``out`` is given."""
    from ..utils.io import atomic_write_json, atomic_write_text

    board = build_scoreboard(load_scoreboard_inputs(inputs), n_boot=n_boot)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "scoreboard.json", board)
        atomic_write_text(out / "scoreboard.md", scoreboard_markdown(board) + "\n")
        plot_scoreboard(board, out / "scoreboard.png")
    return board
