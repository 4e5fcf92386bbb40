"""TraitGym (songlab/TraitGym) as it ships, and its headline metric.

TraitGym (Benegas, Eraslan & Song 2025) publishes each dataset as a folder, e.g.
``mendelian_traits_matched_9/``, holding ``test.parquet`` (columns ``chrom`` without ``chr``,
``pos`` 1-based on hg38, ``ref``, ``alt``, ``label`` bool, ``match_group``, ``consequence``, ...)
and ``subset/{subset}.parquet`` (the ``chrom, pos, ref, alt`` of a subset; ``all`` by default).

Its leaderboard metric, ``AUPRC_by_chrom_weighted_average``, is the AUPRC (average precision)
computed on each chromosome's variants separately, averaged with weights proportional to each
chromosome's number of variants (TraitGym's ``workflow/rules/model.smk``). A zero-shot LLR is
evaluated as ``LLR.minus`` (the score negated: lower LLR = more likely causal) and
``absLLR.plus`` (its absolute value). Positives are matched 1:9 with negatives, so chance is
about 0.10.

:func:`traitgym_benchmark` scores a dataset with a model and a genome (hg38; not available on
a machine without internet, so the tests use a small fixture in TraitGym's format).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ..utils.device import DEFAULT_DEVICE
from ..utils.io import PathLike

__all__ = ["read_traitgym", "auprc_by_chrom_weighted_average", "traitgym_benchmark"]

COORDINATES = ["chrom", "pos", "ref", "alt"]


def read_traitgym(path: PathLike, subset: str = "all") -> pd.DataFrame:
    """The variants of a TraitGym dataset folder (``test.parquet``, restricted to
    ``subset/{subset}.parquet`` when that file exists), or of any variants source
    :func:`~bioR2.dna.variants.read_variants` reads that has a ``label`` column."""
    from .variants import read_variants

    path = Path(path)
    test = path / "test.parquet"
    if path.is_dir() and test.exists():
        df = pd.read_parquet(test)
        sub = path / "subset" / f"{subset}.parquet"
        if sub.exists():
            keep = pd.read_parquet(sub, columns=COORDINATES)
            df = keep.merge(df, on=COORDINATES, how="left")
        elif subset != "all":
            raise FileNotFoundError(f"{path}: no subset/{subset}.parquet (TraitGym subsets: all, "
                                    "3_prime_UTR_variant, disease, ...)")
    else:
        df = read_variants(path)
    missing = [c for c in COORDINATES + ["label"] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a TraitGym dataset has chrom, pos, ref, alt, label "
                         f"(found {list(df.columns)[:12]})")
    if df["label"].isna().any():
        raise ValueError(f"{path}: column 'label' has {int(df['label'].isna().sum())} empty value(s)")
    df = df.reset_index(drop=True)
    df["chrom"] = df["chrom"].astype(str)
    df["label"] = df["label"].astype(bool)
    return df


def auprc_by_chrom_weighted_average(chrom, label, score, n_bootstraps: int = 100, seed: int = 0) -> Dict[str, Any]:
    """TraitGym's ``AUPRC_by_chrom_weighted_average``: the AUPRC of each chromosome's variants,
    averaged with weights ``n_chrom / n``; ``se`` is the sd of that average over chromosomes
    resampled with replacement (``n_bootstraps`` times). Returns the value, ``se`` and the
    per-chromosome table."""
    from sklearn.metrics import average_precision_score

    df = pd.DataFrame({"chrom": np.asarray(chrom).astype(str), "label": np.asarray(label, dtype=bool),
                       "score": np.asarray(score, dtype=float)})
    if df["score"].isna().any():
        raise ValueError(f"{int(df['score'].isna().sum())} variant(s) have no score; TraitGym scores every variant")
    rows = []
    for c, g in df.groupby("chrom", sort=False):
        ap = float(average_precision_score(g["label"], g["score"])) if g["label"].any() else 0.0
        rows.append((c, len(g), ap, int(g["label"].sum())))
    per = pd.DataFrame(rows, columns=["chrom", "n", "AUPRC", "n_pos"])

    def stat(t: pd.DataFrame) -> float:
        return float((t["AUPRC"] * t["n"] / t["n"].sum()).sum())

    rng = np.random.default_rng(seed)
    boots = [stat(per.iloc[rng.integers(0, len(per), len(per))]) for _ in range(n_bootstraps)]
    return {"AUPRC_by_chrom_weighted_average": stat(per), "se": float(np.std(boots, ddof=1)) if len(per) > 1 else 0.0,
            "by_chrom": per.to_dict(orient="records")}


def traitgym_benchmark(model, genome, traitgym: PathLike, out: Optional[PathLike] = None, *, subset: str = "all",
                       window: Optional[int] = None, batch_size: int = 128, device: str = DEFAULT_DEVICE,
                       precision: str = "fp32") -> Dict[str, Any]:
    """Score a TraitGym dataset zero-shot and compute its metric for ``LLR.minus`` and
    ``absLLR.plus``. With ``out``, writes ``results.json``, ``results.md`` and ``scores.parquet``.

    Every variant must be scorable (TraitGym counts every one): a ref allele that disagrees
    with the genome, or a contig it lacks, is an error naming the variant (wrong genome build?).
    """
    from ..results import build_results, write_results
    from ..utils.io import atomic_path
    from .variants import score_variants

    t0 = time.perf_counter()
    df = read_traitgym(traitgym, subset)
    scored = score_variants(model, genome, df[COORDINATES].copy(), window=window, batch_size=batch_size,
                            device=device, precision=precision)
    bad = scored["status"] != "ok"
    if bad.any():
        first = scored[bad].iloc[0]
        raise ValueError(f"{traitgym}: {int(bad.sum())} variant(s) could not be scored (first: {first['chrom']}:"
                         f"{first['pos']} {first['ref']}>{first['alt']}: {first['status']}); TraitGym needs every "
                         "variant scored: use the genome it was made on (hg38)")
    llr = scored["score"].to_numpy()
    methods = {}
    for name, s in (("LLR.minus", -llr), ("absLLR.plus", np.abs(llr))):
        m = auprc_by_chrom_weighted_average(df["chrom"], df["label"], s)
        from sklearn.metrics import average_precision_score

        m["AUPRC"] = float(average_precision_score(df["label"], s))
        methods[name] = m
    info = {"n": len(df), "n_pos": int(df["label"].sum()), "chance_AUPRC": float(df["label"].mean()),
            "n_chrom": int(df["chrom"].nunique()), "subset": subset, "source": str(traitgym)}
    results = build_results("dna-traitgym", Path(traitgym).name, [], methods, time.perf_counter() - t0,
                            metric="AUPRC_by_chrom_weighted_average", data=info)
    if out is not None:
        lines = [f"# TraitGym: {Path(traitgym).name} ({subset})", "",
                 f"{info['n']} variants ({info['n_pos']} causal) on {info['n_chrom']} chromosomes; chance AUPRC "
                 f"{info['chance_AUPRC']:.3f}.", "",
                 "| score | AUPRC_by_chrom_weighted_average | se | AUPRC (pooled) |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['AUPRC_by_chrom_weighted_average']:.4f} | {v['se']:.4f} | {v['AUPRC']:.4f} |"
                  for k, v in methods.items()]
        write_results(out, results, "\n".join(lines))
        with atomic_path(Path(out) / "scores.parquet") as tmp:
            df.assign(score=llr).to_parquet(tmp, index=False)
    return results
