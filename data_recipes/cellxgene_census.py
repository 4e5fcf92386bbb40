"""CELLxGENE Census -> .h5ad of raw counts for one tissue, split by donor.

Needs a network and ``pip install cellxgene-census`` (not a bioR2 dependency). The Census
release is pinned (``--census-version``, default an LTS release), so the same command gives the
same cells; the written files' SHA-256 are recorded in ``manifest.json`` next to them.

    python data_recipes/cellxgene_census.py --tissue blood --max-cells 200000 --out data/census_blood
    bior2 pretrain sc --h5ad data/census_blood/train.h5ad --n-top-genes 2000 --out runs/census
    bior2 annotate --model runs/census --reference data/census_blood/train.h5ad \\
        --label-key cell_type --query data/census_blood/test.h5ad --out test_annotated.h5ad

What it writes (``OUT/``): ``train.h5ad`` and ``test.h5ad`` (raw counts in ``.X``, CSR;
``var_names`` = gene symbols from ``feature_name``, Ensembl ids kept in ``var["feature_id"]``;
no donor in both files) and ``manifest.json`` (census version, filter, donors, cells, checksums).

:func:`prepare` (schema checks, gene names, donor split, writing) is separate from the download
so it can be tested on a small local file with the Census schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

CENSUS_VERSION = "2025-01-30"  # an LTS Census release
OBS_COLUMNS = ["donor_id", "cell_type", "cell_type_ontology_term_id", "tissue", "tissue_general", "assay",
               "disease", "sex", "is_primary_data", "dataset_id"]
REQUIRED_OBS = ("donor_id", "cell_type")
REQUIRED_VAR = ("feature_id", "feature_name")


def census_filter(tissue: str, extra: Optional[str] = None) -> str:
    """The SOMA value filter: one tissue_general, primary data only (no duplicated cells)."""
    text = f"tissue_general == '{tissue}' and is_primary_data == True"
    return f"{text} and ({extra})" if extra else text


def fetch(tissue: str, census_version: str = CENSUS_VERSION, organism: str = "Homo sapiens",
          extra_filter: Optional[str] = None, max_cells: Optional[int] = None, seed: int = 0):
    """Download the cells of one tissue as an AnnData of raw counts (needs cellxgene-census)."""
    try:
        import cellxgene_census
    except ImportError:
        raise SystemExit("this recipe needs the Census client: pip install cellxgene-census") from None
    value_filter = census_filter(tissue, extra_filter)
    with cellxgene_census.open_soma(census_version=census_version) as census:
        coords = None
        if max_cells:
            obs = (census["census_data"][organism.lower().replace(" ", "_")].obs
                   .read(value_filter=value_filter, column_names=["soma_joinid"]).concat().to_pandas())
            if len(obs) > max_cells:
                rng = np.random.default_rng(seed)
                coords = np.sort(rng.choice(obs["soma_joinid"].to_numpy(), max_cells, replace=False))
        adata = cellxgene_census.get_anndata(
            census, organism=organism, measurement_name="RNA", X_name="raw",
            obs_value_filter=None if coords is not None else value_filter,
            obs_coords=coords, obs_column_names=OBS_COLUMNS, var_column_names=list(REQUIRED_VAR),
        )
    adata.uns["census"] = {"version": census_version, "organism": organism, "filter": value_filter,
                           "max_cells": max_cells, "seed": seed}
    return adata


def prepare(adata, out_dir: str | Path, *, test_fraction: float = 0.2, seed: int = 0,
            source: str = "census") -> Dict[str, Any]:
    """Check the Census schema, name genes, split by donor and write train/test .h5ad + manifest."""
    import scipy.sparse as sp

    from bioR2.utils.io import atomic_path, atomic_write_json, sha256_file

    for column in REQUIRED_OBS:
        if column not in adata.obs.columns:
            raise ValueError(f"{source}: obs has no column {column!r} (Census schema); columns are {list(adata.obs.columns)}")
    for column in REQUIRED_VAR:
        if column not in adata.var.columns:
            raise ValueError(f"{source}: var has no column {column!r} (Census schema); columns are {list(adata.var.columns)}")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(f"{source}: no cells matched ({adata.n_obs} cells x {adata.n_vars} genes)")
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
    donors = adata.obs["donor_id"].astype(str)
    if donors.isin(["", "nan", "None"]).any():
        raise ValueError(f"{source}: obs['donor_id'] has missing values")
    unique = np.array(sorted(donors.unique()))
    if unique.size < 2:
        raise ValueError(f"{source}: a donor split needs at least 2 donors, found {unique.size}")
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * unique.size)))
    test_donors = set(rng.choice(unique, n_test, replace=False).tolist())
    is_test = donors.isin(test_donors).to_numpy()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: Dict[str, Any] = {"source": source, "census": dict(adata.uns.get("census", {})),
                                "split": {"by": "donor_id", "test_fraction": test_fraction, "seed": seed,
                                          "test_donors": sorted(test_donors)}, "files": {}}
    for name, mask in (("train", ~is_test), ("test", is_test)):
        part = adata[mask].copy()
        path = out_dir / f"{name}.h5ad"
        with atomic_path(path) as tmp:
            part.write_h5ad(tmp)
        manifest["files"][path.name] = {"cells": int(part.n_obs), "genes": int(part.n_vars),
                                        "donors": int(part.obs["donor_id"].nunique()),
                                        "sha256": sha256_file(path)}
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tissue", required=True, help="Census tissue_general, e.g. blood, lung, brain")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--census-version", default=CENSUS_VERSION, help=f"pinned Census release (default {CENSUS_VERSION})")
    parser.add_argument("--organism", default="Homo sapiens")
    parser.add_argument("--filter", default=None, help="extra SOMA filter, e.g. \"assay == '10x 3\\' v3'\"")
    parser.add_argument("--max-cells", type=int, default=None, help="random subset of this many cells")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="fraction of donors held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    adata = fetch(args.tissue, args.census_version, args.organism, args.filter, args.max_cells, args.seed)
    manifest = prepare(adata, args.out, test_fraction=args.test_fraction, seed=args.seed,
                       source=f"census {args.census_version} {args.tissue}")
    print(json.dumps(manifest["files"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
