"""CELLxGENE Census -> .h5ad of raw counts for one tissue, split by (dataset, donor).

Needs a network and ``pip install cellxgene-census`` (or ``pip install 'bior2[recipes]'``). The
Census release is pinned (``--census-version``, default an LTS release), so the same command
gives the same cells; the written files' SHA-256 are recorded in ``manifest.json`` next to them.

    python data_recipes/cellxgene_census.py --tissue blood --max-cells 200000 --out data/census_blood
    bior2 pretrain sc --h5ad data/census_blood/train.h5ad --n-top-genes 2000 --out runs/census
    bior2 annotate --model runs/census --reference data/census_blood/train.h5ad \\
        --label-key cell_type --query data/census_blood/test.h5ad --out test_annotated.h5ad

Which cells: one ``tissue_general``, primary data only (no cell counted twice), and only the
assays in ``--assays`` (default: 10x 3' v2, v3 and unversioned 10x 3'; ``--assays all`` keeps
every assay). Before anything is loaded, the matching cells are counted and the memory they need
is estimated from their non-zero counts (the Census ``nnz`` column; without it, cells x genes x
a typical density); the recipe refuses to load more than fits in the available RAM and says
which ``--max-cells`` would fit.

The split holds out whole donors, where a donor is a ``(dataset_id, donor_id)`` pair: Census
donor ids are only unique within a dataset (two studies may both have a ``donor_1``).

What it writes (``OUT/``): ``train.h5ad`` and ``test.h5ad`` (raw counts in ``.X``, CSR;
``var_names`` = gene symbols from ``feature_name``, Ensembl ids kept in ``var["feature_id"]``;
no (dataset, donor) in both files) and ``manifest.json`` (census version, filter, held-out
donors, cells, checksums).

:func:`prepare` (schema checks, assay filter, gene names, split, writing) and :func:`plan_cells`
(memory check, subset) are separate from the download so they can be tested on small local data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

CENSUS_VERSION = "2025-01-30"  # an LTS Census release
DEFAULT_ASSAYS = ("10x 3' v2", "10x 3' v3", "10x 3' transcription profiling")
OBS_COLUMNS = ["dataset_id", "donor_id", "cell_type", "cell_type_ontology_term_id", "tissue", "tissue_general",
               "assay", "disease", "sex", "is_primary_data"]
REQUIRED_OBS = ("dataset_id", "donor_id", "cell_type")
REQUIRED_VAR = ("feature_id", "feature_name")
SPLIT_BY = ("dataset_id", "donor_id")

# Memory model of loading + splitting: CSR float32 values with 64-bit indices, and up to three
# copies alive at once (the Census read, the checked copy in prepare, one written part).
BYTES_PER_NONZERO = 12
PEAK_COPIES = 3
TYPICAL_DENSITY = 0.05  # non-zero fraction of a 10x cell over ~60k genes, when nnz is unknown
MEMORY_FRACTION = 0.8   # of the available RAM


class NotEnoughMemory(ValueError):
    """The cells asked for do not fit in memory."""


def census_filter(tissue: str, extra: Optional[str] = None, assays: Optional[Sequence[str]] = None) -> str:
    """The SOMA value filter: one tissue_general, primary data only, optionally some assays."""
    text = f"tissue_general == '{tissue}' and is_primary_data == True"
    if assays:
        for assay in assays:
            if '"' in assay:
                raise ValueError(f"assay names cannot contain double quotes: {assay!r}")
        text += " and assay in [" + ", ".join(f'"{a}"' for a in assays) + "]"
    return f"{text} and ({extra})" if extra else text


def parse_assays(text: Optional[str]) -> Optional[list]:
    """``--assays``: a comma-separated list; ``all`` (or empty) keeps every assay."""
    if text is None:
        return list(DEFAULT_ASSAYS)
    if text.strip().lower() in ("", "all", "any"):
        return None
    return [a.strip() for a in text.split(",") if a.strip()]


# ---------------------------------------------------------------------------- memory
def available_memory_bytes() -> Optional[int]:
    """Available RAM (psutil, else ``MemAvailable`` of /proc/meminfo); ``None`` if unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate_bytes(n_cells: int, n_genes: int, nnz: Optional[int] = None) -> int:
    """Peak bytes to load ``n_cells`` and write the split (``nnz``: their total non-zeros)."""
    if nnz is None:
        nnz = int(n_cells * n_genes * TYPICAL_DENSITY)
    return int(PEAK_COPIES * (nnz * BYTES_PER_NONZERO + (n_cells + 1) * 8) + n_cells * 1024)  # + obs rows


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def plan_cells(obs, n_genes: int, *, max_cells: Optional[int] = None, seed: int = 0,
               available: Optional[int] = None, source: str = "census") -> Optional[np.ndarray]:
    """The ``soma_joinid`` of the cells to load (``None``: all of ``obs``), after the memory check.

    ``obs`` holds the matching cells' ``soma_joinid`` (and ``nnz`` when the Census has it).
    Refuses with :class:`NotEnoughMemory` when the cells (all, or ``max_cells`` of them) need
    more than ``MEMORY_FRACTION`` of ``available`` bytes (default: measured now).
    """
    n_all = len(obs)
    if n_all == 0:
        raise ValueError(f"{source}: no cells match the filter")
    ids = obs["soma_joinid"].to_numpy()
    chosen = None
    if max_cells is not None:
        if max_cells < 1:
            raise ValueError(f"--max-cells must be >= 1, got {max_cells}")
        if n_all > max_cells:
            rng = np.random.default_rng(seed)
            chosen = np.sort(rng.choice(n_all, max_cells, replace=False))
    n = n_all if chosen is None else len(chosen)
    nnz = None
    if "nnz" in obs.columns:
        per_cell = obs["nnz"].to_numpy()
        nnz = int(per_cell.sum() if chosen is None else per_cell[chosen].sum())
    need = estimate_bytes(n, n_genes, nnz)
    available = available_memory_bytes() if available is None else int(available)
    if available is None:
        print(f"{source}: cannot measure the available memory; loading {n:,} cells needs about {_gib(need)}",
              file=sys.stderr)
    else:
        budget = MEMORY_FRACTION * available
        if need > budget:
            fit = max(0, int(0.98 * n * budget / need))  # a little under: a subset's non-zeros vary
            how = ("from their non-zero counts" if nnz is not None
                   else f"at a typical {TYPICAL_DENSITY:.0%} non-zero density")
            asked = "" if max_cells is None else f" (--max-cells {max_cells:,})"
            raise NotEnoughMemory(
                f"{source}: {n:,} cells{asked} x {n_genes:,} genes need about {_gib(need)} of memory to load "
                f"and split (estimated {how}), but {_gib(available)} is available "
                f"({MEMORY_FRACTION:.0%} usable). Pass --max-cells {fit:,} (or fewer) to load a random "
                "subset, narrow the cells (--assays, --filter), or state the memory you have with --memory-gb.")
    return None if chosen is None else ids[chosen]


# ---------------------------------------------------------------------------- download
def fetch(tissue: str, census_version: str = CENSUS_VERSION, organism: str = "Homo sapiens",
          extra_filter: Optional[str] = None, max_cells: Optional[int] = None, seed: int = 0,
          assays: Optional[Sequence[str]] = DEFAULT_ASSAYS, memory_bytes: Optional[int] = None):
    """Download the cells of one tissue as an AnnData of raw counts (needs cellxgene-census).

    Counts the matching cells first and refuses (:class:`NotEnoughMemory`) to load more than
    fits in memory (see :func:`plan_cells`)."""
    try:
        import cellxgene_census
    except ImportError:
        raise SystemExit("this recipe needs the Census client: pip install cellxgene-census") from None
    value_filter = census_filter(tissue, extra_filter, assays)
    source = f"census {census_version} {tissue}"
    with cellxgene_census.open_soma(census_version=census_version) as census:
        experiment = census["census_data"][organism.lower().replace(" ", "_")]
        obs_schema = set(getattr(getattr(experiment.obs, "schema", None), "names", None) or ["soma_joinid", "nnz"])
        columns = ["soma_joinid"] + (["nnz"] if "nnz" in obs_schema else [])
        obs = experiment.obs.read(value_filter=value_filter, column_names=columns).concat().to_pandas()
        n_genes = int(experiment.ms["RNA"].var.count)
        print(f"{source}: {len(obs):,} cells match ({value_filter}); {n_genes:,} genes", file=sys.stderr)
        coords = plan_cells(obs, n_genes, max_cells=max_cells, seed=seed, available=memory_bytes, source=source)
        adata = cellxgene_census.get_anndata(
            census, organism=organism, measurement_name="RNA", X_name="raw",
            obs_value_filter=None if coords is not None else value_filter,
            obs_coords=coords, obs_column_names=OBS_COLUMNS, var_column_names=list(REQUIRED_VAR),
        )
    adata.uns["census"] = {"version": census_version, "organism": organism, "filter": value_filter,
                           "assays": list(assays) if assays else "all", "matching_cells": int(len(obs)),
                           "max_cells": max_cells, "seed": seed}
    return adata


# ---------------------------------------------------------------------------- prepare
def prepare(adata, out_dir: str | Path, *, test_fraction: float = 0.2, seed: int = 0,
            source: str = "census", assays: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Check the Census schema, keep ``assays`` (all when ``None``), name genes, split by
    ``(dataset_id, donor_id)`` and write train/test .h5ad + manifest."""
    import scipy.sparse as sp

    from bioR2.utils.io import atomic_path, atomic_write_json, sha256_file

    for column in REQUIRED_OBS:
        if column not in adata.obs.columns:
            raise ValueError(f"{source}: obs has no column {column!r} (Census schema); "
                             f"columns are {list(adata.obs.columns)}")
    for column in REQUIRED_VAR:
        if column not in adata.var.columns:
            raise ValueError(f"{source}: var has no column {column!r} (Census schema); "
                             f"columns are {list(adata.var.columns)}")
    assay_counts = None
    if assays:
        if "assay" not in adata.obs.columns:
            raise ValueError(f"{source}: obs has no column 'assay' to filter by; pass --assays all")
        assay_counts = adata.obs["assay"].astype(str).value_counts().to_dict()
        adata = adata[adata.obs["assay"].astype(str).isin(list(assays)).to_numpy()]
    if adata.n_obs == 0 or adata.n_vars == 0:
        kept = f" (assays {list(assays)}; found {assay_counts})" if assays else ""
        raise ValueError(f"{source}: no cells matched ({adata.n_obs} cells x {adata.n_vars} genes){kept}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    x = adata.X
    x = sp.csr_matrix(x) if sp.issparse(x) else sp.csr_matrix(np.asarray(x))
    if x.nnz and (x.data.min() < 0 or not np.all(np.isfinite(x.data))):
        raise ValueError(f"{source}: X must hold raw counts (finite, non-negative)")
    if x.nnz and not np.allclose(x.data, np.round(x.data)):
        raise ValueError(f"{source}: X holds non-integer values; request X_name='raw' (raw counts)")
    adata = adata.copy()
    adata.X = x.astype(np.float32)
    # Gene symbols as var_names (what users and other datasets share); ids stay in var.
    adata.var_names = adata.var["feature_name"].astype(str).to_numpy()
    adata.var_names_make_unique()
    parts = {c: adata.obs[c].astype(str) for c in SPLIT_BY}
    for column, values in parts.items():
        if values.isin(["", "nan", "None"]).any():
            raise ValueError(f"{source}: obs[{column!r}] has missing values")
    group = parts["dataset_id"] + "\t" + parts["donor_id"]  # donor ids are unique only within a dataset
    unique = np.array(sorted(group.unique()))
    if unique.size < 2:
        raise ValueError(f"{source}: a donor split needs at least 2 (dataset_id, donor_id) donors, found {unique.size}")
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * unique.size)))
    test_groups = set(rng.choice(unique, n_test, replace=False).tolist())
    is_test = group.isin(test_groups).to_numpy()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: Dict[str, Any] = {
        "source": source, "census": dict(adata.uns.get("census", {})),
        "assays": {"kept": list(assays) if assays else "all", "cells_by_assay_before": assay_counts},
        "split": {"by": list(SPLIT_BY), "donors": int(unique.size), "test_fraction": test_fraction, "seed": seed,
                  "test_donors": [g.split("\t") for g in sorted(test_groups)]},
        "files": {}}
    for name, mask in (("train", ~is_test), ("test", is_test)):
        part = adata[mask].copy()
        path = out_dir / f"{name}.h5ad"
        with atomic_path(path) as tmp:
            part.write_h5ad(tmp)
        donors = part.obs[list(SPLIT_BY)].astype(str).drop_duplicates()
        manifest["files"][path.name] = {"cells": int(part.n_obs), "genes": int(part.n_vars),
                                        "donors": int(len(donors)), "datasets": int(part.obs["dataset_id"].nunique()),
                                        "sha256": sha256_file(path)}
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tissue", required=True, help="Census tissue_general, e.g. blood, lung, brain")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--census-version", default=CENSUS_VERSION,
                        help=f"pinned Census release (default {CENSUS_VERSION})")
    parser.add_argument("--organism", default="Homo sapiens")
    parser.add_argument("--assays", default=None,
                        help="comma-separated Census assay names to keep, or 'all' "
                             f"(default: {', '.join(DEFAULT_ASSAYS)})")
    parser.add_argument("--filter", default=None, help="extra SOMA filter, e.g. \"disease == 'normal'\"")
    parser.add_argument("--max-cells", type=int, default=None,
                        help="random subset of this many cells (needed when all cells do not fit in memory)")
    parser.add_argument("--memory-gb", type=float, default=None,
                        help="memory available for the cells (default: measured: psutil or /proc/meminfo)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="fraction of (dataset, donor) pairs held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    assays = parse_assays(args.assays)
    memory = None if args.memory_gb is None else int(args.memory_gb * 2**30)
    try:
        adata = fetch(args.tissue, args.census_version, args.organism, args.filter, args.max_cells, args.seed,
                      assays=assays, memory_bytes=memory)
        manifest = prepare(adata, args.out, test_fraction=args.test_fraction, seed=args.seed, assays=assays,
                           source=f"census {args.census_version} {args.tissue}")
    except (ValueError, OSError) as exc:
        print(f"cellxgene_census: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest["files"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
