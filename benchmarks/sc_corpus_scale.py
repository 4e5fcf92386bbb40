"""Corpus loaders at scale: a synthetic corpus of many ``.h5ad`` files with different gene
subsets (and the same cells as a TileDB-SOMA Experiment), read, aligned to one vocabulary,
log-normalised and masked by each loader in turn, each in its own process (peak RSS from
``VmHWM``), at comparable shuffle quality: contiguous blocks of ``--block`` cells, ``--mix``
cells shuffled together.

* ``bior2_h5ad`` / ``bior2_soma``: :class:`bioR2.sc.corpus.CorpusReader` through its chunk buffer,
  in :class:`~bioR2.sc.corpus.CorpusSampler` order (chunk = block, buffer = mix / block chunks).
* ``scdataset_h5ad``: scDataset's ``BlockShuffling(block_size=block)`` with
  ``fetch_factor = mix / batch``, fetching from the backed files (anndata) and aligning the genes.
* ``tiledbsoma_ml``: tiledbsoma-ml's ``ExperimentDataset`` (``shuffle_chunk_size=block``,
  ``io_batch_size=mix``) over the SOMA Experiment.

annbatch needs Python >= 3.12 (this environment has 3.11), so it is not measured.

    python benchmarks/sc_corpus_scale.py make --dir /tmp/scale --files 20 --cells 50000
    python benchmarks/sc_corpus_scale.py run --dir /tmp/scale --seconds 30 --out benchmarks/results/sc_corpus/scale.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LOADERS = ("bior2_h5ad", "bior2_soma", "scdataset_h5ad", "tiledbsoma_ml")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make(folder: Path, n_files: int, n_cells: int, n_genes: int, density: float, keep: float) -> None:
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    (folder / "h5ad").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    genes = np.array([f"G{j:05d}" for j in range(n_genes)])
    t0 = time.perf_counter()
    for f in range(n_files):
        cols = np.sort(rng.choice(n_genes, int(keep * n_genes), replace=False))
        x = sp.random(n_cells, cols.size, density=density, format="csr", random_state=f, dtype=np.float32)
        x.data = np.ceil(x.data * 5).astype(np.float32)
        ad = anndata.AnnData(x, obs=pd.DataFrame(index=[f"f{f}_c{i}" for i in range(n_cells)]),
                             var=pd.DataFrame(index=genes[cols]))
        ad.write_h5ad(folder / "h5ad" / f"part{f:02d}.h5ad")
    made = {"files": n_files, "cells_per_file": n_cells, "genes": n_genes, "density": density, "keep": keep,
            "write_h5ad_s": round(time.perf_counter() - t0, 1)}
    try:
        import tiledbsoma.io
    except ImportError:
        made["soma"] = "tiledbsoma not installed"
    else:
        t0 = time.perf_counter()
        parts = [anndata.read_h5ad(p) for p in sorted((folder / "h5ad").glob("*.h5ad"))]
        whole = anndata.concat(parts, join="outer")
        del parts
        tiledbsoma.io.from_anndata(str(folder / "soma"), whole, measurement_name="RNA", X_layer_name="raw")
        made["write_soma_s"] = round(time.perf_counter() - t0, 1)
    (folder / "made.json").write_text(json.dumps(made, indent=2) + "\n")
    print(json.dumps(made, indent=2))


def _finish(x, observed, gen):
    """The same work after every loader: log1p(CP10k) and a 0.3 mask over the observed genes."""
    import torch

    from bioR2.masking import mask_expression

    x = torch.as_tensor(x, dtype=torch.float32)
    totals = x.sum(1, keepdim=True).clamp_min(1.0)
    x = torch.log1p(x * (1e4 / totals))
    mask_expression(x, 0.3, eligible=observed, rng=gen)


def read(folder: Path, loader: str, seconds: float, batch: int, block: int, mix: int) -> dict:
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    files = sorted((folder / "h5ad").glob("*.h5ad"))
    made = json.loads((folder / "made.json").read_text())
    vocab = [f"G{j:05d}" for j in range(made["genes"])]
    n = 0
    start = None

    def tick(rows: int) -> bool:
        nonlocal n, start
        if start is None:  # the first batch (opening, first reads) is not timed
            start = time.perf_counter()
            return False
        n += rows
        return time.perf_counter() - start > seconds

    if loader.startswith("bior2"):
        from bioR2.masking import mask_expression
        from bioR2.sc.corpus import CorpusEntry, CorpusReader, CorpusSampler, open_entry

        if loader == "bior2_h5ad":
            sources = [open_entry(CorpusEntry(p, p.stem), backed=True)[0] for p in files]
            reader = CorpusReader(sources, [p.stem for p in files], vocab)
        else:
            from bioR2.sc.soma import SomaSource

            reader = CorpusReader([SomaSource(str(folder / "soma"), gene_key="var_id")], ["soma"], vocab)
        reader.buffer_reads(block, mix // block)
        order = np.array(list(CorpusSampler(reader.dataset_codes, reader.weights, block, mix // block, seed=0)))
        for i in range(0, order.size - batch + 1, batch):
            rows = order[i:i + batch]
            x = torch.from_numpy(reader.read(rows))
            observed = reader.observed_rows(rows)
            eligible = None if observed is None else torch.from_numpy(np.ascontiguousarray(observed))
            mask_expression(x, 0.3, eligible=eligible, rng=gen)
            if tick(rows.size):
                break
    elif loader == "scdataset_h5ad":
        import anndata
        import pandas as pd
        from scdataset import BlockShuffling, scDataset

        backed = [anndata.read_h5ad(p, backed="r") for p in files]
        index = pd.Index(vocab)
        cols = [index.get_indexer(a.var_names) for a in backed]
        sizes = np.array([a.n_obs for a in backed])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        present = np.zeros((len(files), len(vocab)), dtype=bool)
        for f, c in enumerate(cols):
            present[f, c] = True

        class Collection:
            def __len__(self):
                return int(offsets[-1])

            def __getitem__(self, idx):
                idx = np.sort(np.asarray(idx))
                fid = np.searchsorted(offsets, idx, side="right") - 1
                out = np.zeros((idx.size, len(vocab)), dtype=np.float32)
                for f in np.unique(fid):
                    pos = np.flatnonzero(fid == f)
                    block_ = backed[f].X[idx[pos] - offsets[f]]
                    out[np.ix_(pos, cols[f])] = block_.toarray() if hasattr(block_, "toarray") else block_
                return {"x": out, "observed": present[fid]}

        def batch_callback(fetched, batch_idx):
            return {"x": fetched["x"][batch_idx], "observed": fetched["observed"][batch_idx]}

        data = scDataset(Collection(), BlockShuffling(block_size=block), batch_size=batch,
                         fetch_factor=max(1, mix // batch), batch_callback=batch_callback, seed=0)
        for b in data:
            _finish(b["x"], torch.from_numpy(np.ascontiguousarray(b["observed"])), gen)
            if tick(b["x"].shape[0]):
                break
    elif loader == "tiledbsoma_ml":
        import tiledbsoma
        from tiledbsoma_ml import ExperimentDataset

        with tiledbsoma.Experiment.open(str(folder / "soma")) as exp:
            with exp.axis_query("RNA") as query:
                data = ExperimentDataset(query, layer_name="raw", batch_size=batch, io_batch_size=mix,
                                         shuffle=True, shuffle_chunk_size=block, seed=0)
                for x, _obs in data:
                    _finish(x, None, gen)  # the SOMA store holds the union: no per-file observed mask
                    if tick(x.shape[0]):
                        break
    else:
        raise ValueError(f"unknown loader {loader!r}; choose from {LOADERS}")
    elapsed = time.perf_counter() - start
    return {"loader": loader, "cells": n, "seconds": round(elapsed, 2), "cells_per_s": round(n / elapsed),
            "peak_rss_mb": round(_peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--dir", required=True, type=Path)
    m.add_argument("--files", type=int, default=20)
    m.add_argument("--cells", type=int, default=50000, help="cells per file")
    m.add_argument("--genes", type=int, default=2000)
    m.add_argument("--density", type=float, default=0.05)
    m.add_argument("--keep", type=float, default=0.8, help="share of the genes each file measures")
    for name in ("run", "one"):
        r = sub.add_parser(name)
        r.add_argument("--dir", required=True, type=Path)
        r.add_argument("--seconds", type=float, default=30.0)
        r.add_argument("--batch", type=int, default=256)
        r.add_argument("--block", type=int, default=1024, help="contiguous cells per block / chunk")
        r.add_argument("--mix", type=int, default=8192, help="cells shuffled together")
        r.add_argument("--loaders", nargs="+", default=list(LOADERS))
        r.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.cmd == "make":
        make(args.dir, args.files, args.cells, args.genes, args.density, args.keep)
        return
    if args.cmd == "one":
        print(json.dumps(read(args.dir, args.loaders[0], args.seconds, args.batch, args.block, args.mix)))
        return
    results = {"made": json.loads((args.dir / "made.json").read_text()), "batch": args.batch, "block": args.block,
               "mix": args.mix, "seconds": args.seconds, "threads": 1, "loaders": {}}
    for loader in args.loaders:
        cmd = [sys.executable, __file__, "one", "--dir", str(args.dir), "--seconds", str(args.seconds), "--batch",
               str(args.batch), "--block", str(args.block), "--mix", str(args.mix), "--loaders", loader]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            results["loaders"][loader] = {"error": proc.stderr.strip().splitlines()[-1][:300]}
        else:
            results["loaders"][loader] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(loader, results["loaders"][loader], file=sys.stderr)
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
