"""Single-cell scale benchmark: pretrain and embed a 1,000,000-cell .h5ad in backed mode.

1. Writes a synthetic sparse AnnData (default 1,000,000 cells x 2,000 genes, ~5% nonzero,
   a few planted cell types) to disk chunk by chunk (never held in memory whole).
2. Pretrains an ExpressionMAE on it for a few hundred steps, reading chunk-shuffled batches from
   the file (``bioR2.sc.pretrain`` with a path = backed mode) -> training cells/s.
3. Embeds every cell from the file in chunks -> embedding cells/s.
4. Where scvi-tools is installed: embedding throughput of scVI's ``get_latent_representation``
   against bioR2's on the same cells of the same file, in this process (a ratio).
Peak RSS (``ru_maxrss``) is recorded after each phase; the scVI phase loads its cells in memory
(scVI's usual path), so the bioR2 peak is the one taken before it.

    python benchmarks/sc_scale.py --out runs/sc_scale            # the full 1M-cell run
    python benchmarks/sc_scale.py --cells 20000 --out /tmp/small  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: KiB


def write_synthetic(path: Path, n_cells: int, n_genes: int, density: float, chunk: int = 20_000,
                    n_types: int = 8, seed: int = 0) -> float:
    """Write a CSR .h5ad chunk by chunk; returns seconds taken."""
    import anndata
    import h5py
    import pandas as pd
    import scipy.sparse as sp
    from anndata.io import sparse_dataset, write_elem

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    # Each planted type raises detection of its own block of genes, so there is structure to learn.
    block = n_genes // (2 * n_types)
    base = np.full(n_genes, density * 0.8)
    tmp = path.with_suffix(".tmp.h5ad")
    with h5py.File(tmp, "w") as fh:
        fh.attrs["encoding-type"] = "anndata"
        fh.attrs["encoding-version"] = "0.1.0"
        types = rng.integers(0, n_types, n_cells)
        write_elem(fh, "obs", pd.DataFrame({"planted_type": pd.Categorical([f"t{t}" for t in range(n_types)])[types]},
                                           index=pd.RangeIndex(n_cells).astype(str)))
        write_elem(fh, "var", pd.DataFrame(index=[f"gene_{j}" for j in range(n_genes)]))
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            write_elem(fh, key, {})
        matrix = None
        for start in range(0, n_cells, chunk):
            stop = min(start + chunk, n_cells)
            p = np.broadcast_to(base, (stop - start, n_genes)).copy()
            for t in range(n_types):
                p[types[start:stop] == t, t * block:(t + 1) * block] += density * 4
            hit = rng.random((stop - start, n_genes), dtype=np.float32) < p
            block_csr = sp.csr_matrix(hit, dtype=np.float32)
            block_csr.data = rng.geometric(0.4, block_csr.nnz).astype(np.float32)
            if matrix is None:
                write_elem(fh, "X", block_csr, dataset_kwargs={"chunks": (1 << 18,)})
                matrix = sparse_dataset(fh["X"])
            else:
                matrix.append(block_csr)
    os.replace(tmp, path)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", default="512,256")
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--embed-batch", type=int, default=4096)
    parser.add_argument("--scvi-cells", type=int, default=100_000, help="cells for the scVI comparison (0: skip)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep-file", action="store_true", help="keep the synthetic .h5ad")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    from bioR2.sc import pretrain
    from bioR2.sc.annotate import embed_reader, reader_for
    from bioR2.utils.io import atomic_write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"synthetic_{args.cells}x{args.genes}.h5ad"
    report = {"command": " ".join([sys.executable.split("/")[-1]] + sys.argv), "cells": args.cells,
              "genes": args.genes, "density": args.density, "threads": args.threads}
    if not path.exists():
        report["write_s"] = round(write_synthetic(path, args.cells, args.genes, args.density), 1)
    report["file_gb"] = round(path.stat().st_size / 1e9, 3)
    report["rss_after_write_gb"] = round(peak_rss_gb(), 3)
    print(json.dumps(report), flush=True)

    hidden = [int(h) for h in args.hidden.split(",")]
    t0 = time.perf_counter()
    model = pretrain(path, out / "run", steps=args.steps, batch_size=args.batch_size, progress=False,
                     model={"hidden": hidden, "latent": args.latent}, overwrite=True, log_every=50).model
    train_s = time.perf_counter() - t0
    # Steady-state speed from the trainer's log (windows after the first); the wall time also
    # counts start-up and the gene-statistics pass.
    records = [json.loads(line) for line in (out / "run" / "log.jsonl").read_text().splitlines()]
    speeds = [r["examples_per_s"] for r in records if "examples_per_s" in r][1:]
    report.update(train_steps=args.steps, train_wall_s=round(train_s, 1),
                  train_cells_per_s_wall=round(args.steps * args.batch_size / train_s, 1),
                  train_cells_per_s=round(float(np.median(speeds)), 1) if speeds else None,
                  rss_after_train_gb=round(peak_rss_gb(), 3))
    print(json.dumps(report), flush=True)

    reader = reader_for(path, model)
    t0 = time.perf_counter()
    emb = embed_reader(reader, model, batch_size=args.embed_batch)
    embed_s = time.perf_counter() - t0
    np.save(out / "embedding_head.npy", emb[:1000])
    report.update(embed_s=round(embed_s, 1), embed_cells_per_s=round(args.cells / embed_s, 1),
                  embedding_shape=list(emb.shape), embedding_finite=bool(np.isfinite(emb).all()),
                  peak_rss_gb_bior2=round(peak_rss_gb(), 3))
    del emb
    print(json.dumps(report), flush=True)

    n = min(args.scvi_cells, args.cells)
    if n > 0:
        try:
            import scvi  # noqa: F401
        except Exception:
            report["scvi"] = "skipped: scvi-tools is not installed (pip install 'bior2[scvi]')"
        else:
            report["scvi"] = compare_scvi(path, reader, model, n, args.embed_batch)
    atomic_write_json(out / "scale.json", report)
    print(json.dumps(report, indent=2))
    if not args.keep_file:
        path.unlink()
    return 0


def compare_scvi(path: Path, reader, model, n: int, batch_size: int) -> dict:
    """Embedding cells/s of bioR2 (backed reads) and scVI's get_latent_representation on the first
    ``n`` cells of the same file, measured back to back in this process."""
    import anndata
    import scvi
    from bioR2.sc.annotate import embed_reader

    from bioR2.sc import ExpressionMAE

    rows = np.arange(n)
    t0 = time.perf_counter()
    embed_reader(reader, model, rows=rows, batch_size=batch_size)
    ours = n / (time.perf_counter() - t0)
    # The same pipeline with scVI's default size (one hidden layer of 128, 30 latent dims).
    small = ExpressionMAE(model.genes, hidden=[128], latent=30).eval()
    t0 = time.perf_counter()
    embed_reader(reader, small, rows=rows, batch_size=batch_size)
    ours_small = n / (time.perf_counter() - t0)
    backed = anndata.read_h5ad(path, backed="r")
    adata = backed[:n].to_memory()
    backed.file.close()
    scvi.model.SCVI.setup_anndata(adata)
    vae = scvi.model.SCVI(adata, n_latent=30)
    vae.is_trained_ = True  # inference cost does not depend on the weights; skip scVI's training
    t0 = time.perf_counter()
    vae.get_latent_representation(adata, batch_size=batch_size)
    theirs = n / (time.perf_counter() - t0)
    return {"cells": n, "batch_size": batch_size, "bior2_cells_per_s": round(ours, 1),
            "scvi_cells_per_s": round(theirs, 1), "ratio_bior2_over_scvi": round(ours / theirs, 3),
            "bior2_scvi_size_cells_per_s": round(ours_small, 1),
            "ratio_bior2_scvi_size_over_scvi": round(ours_small / theirs, 3),
            "note": "bior2 reads rows from the file (backed) and normalises; scVI's cells are in memory; "
                    "scVI default architecture (1 x 128 hidden, n_latent=30) vs bioR2's MLP"}


if __name__ == "__main__":
    sys.exit(main())
