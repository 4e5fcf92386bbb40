"""Corpus read throughput: cells/s read, aligned to the vocabulary, normalised and masked, from
backed ``.h5ad`` files, from the same cells held in memory, and from a TileDB-SOMA Experiment.

A synthetic corpus (Poisson counts, each file a different random subset of the genes) is written
to a temporary folder; each source is then read in the training order
(:class:`bioR2.sc.corpus.CorpusSampler`: chunks of consecutive cells, interleaved across files,
shuffled through a bounded buffer) in mini-batches, each masked with
:func:`bioR2.masking.mask_expression` over the observed genes, for ``--seconds`` each. All sources
run in this one process, so the numbers compare with each other (not with other machines).

    python benchmarks/sc_corpus_read.py --files 5 --cells 20000 --genes 2000 --seconds 15
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def make_corpus(folder: Path, n_files: int, n_cells: int, n_genes: int, keep: float, seed: int):
    """``n_files`` synthetic ``.h5ad`` files of ``n_cells`` each in ``folder``, each measuring a random
    ``keep`` share of ``n_genes`` genes: ``(paths, AnnDatas, the genes)``."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    genes = np.array([f"G{j}" for j in range(n_genes)])
    paths, adatas = [], []
    for f in range(n_files):
        cols = np.sort(rng.choice(n_genes, int(keep * n_genes), replace=False))
        x = sp.random(n_cells, cols.size, density=0.07, format="csr", random_state=seed + f, dtype=np.float32)
        x.data = np.ceil(x.data * 5).astype(np.float32)
        ad = anndata.AnnData(x, obs=pd.DataFrame(index=[f"f{f}_c{i}" for i in range(n_cells)]),
                             var=pd.DataFrame(index=genes[cols]))
        p = folder / f"part{f}.h5ad"
        ad.write_h5ad(p)
        paths.append(p)
        adatas.append(ad)
    return paths, adatas, list(genes)


def read_throughput(reader, seconds: float, batch: int, chunk: int, buffer_chunks: int) -> float:
    import torch

    from bioR2.masking import mask_expression
    from bioR2.sc.corpus import CorpusSampler

    sampler = CorpusSampler(reader.dataset_codes, reader.weights, chunk, buffer_chunks, seed=0)
    order = np.array(list(sampler))
    gen = torch.Generator().manual_seed(0)
    n, start = 0, time.perf_counter()
    for i in range(0, order.size - batch + 1, batch):
        rows = order[i:i + batch]
        x = torch.from_numpy(reader.read(rows))
        observed = reader.observed_rows(rows)
        eligible = None if observed is None else torch.from_numpy(np.ascontiguousarray(observed))
        mask_expression(x, 0.3, eligible=eligible, rng=gen)
        n += rows.size
        if time.perf_counter() - start > seconds:
            break
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--cells", type=int, default=20000, help="cells per file")
    parser.add_argument("--genes", type=int, default=2000, help="genes in the vocabulary (each file has 80%%)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of reading per source")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from bioR2.sc.corpus import CorpusEntry, CorpusReader, open_entry

    out = {"files": args.files, "cells_per_file": args.cells, "genes": args.genes, "batch": args.batch,
           "threads": 1, "cells_per_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths, adatas, genes = make_corpus(folder, args.files, args.cells, args.genes, 0.8, 0)
        out["write_h5ad_s"] = round(time.perf_counter() - t0, 1)
        names = [p.stem for p in paths]
        entries = [CorpusEntry(p, p.stem) for p in paths]
        backed = CorpusReader([open_entry(e, backed=True)[0] for e in entries], names, genes)
        out["cells_per_s"]["h5ad_backed_unbuffered"] = round(read_throughput(backed, args.seconds, args.batch,
                                                                         8 * args.batch, 8))
        backed.buffer_reads(8 * args.batch, 8)
        out["cells_per_s"]["h5ad_backed"] = round(read_throughput(backed, args.seconds, args.batch, 8 * args.batch,
                                                                  8))
        memory = CorpusReader([open_entry(CorpusEntry(a, n))[0] for a, n in zip(adatas, names)], names, genes)
        out["cells_per_s"]["in_memory"] = round(read_throughput(memory, args.seconds, args.batch, 64, 8))
        try:
            import anndata
            import tiledbsoma.io

            from bioR2.sc.soma import SomaSource

            t0 = time.perf_counter()
            whole = anndata.concat(adatas, join="outer")
            tiledbsoma.io.from_anndata(str(folder / "soma"), whole, measurement_name="RNA", X_layer_name="raw")
            out["write_soma_s"] = round(time.perf_counter() - t0, 1)
            soma = CorpusReader([SomaSource(str(folder / "soma"), gene_key="var_id")], ["soma"], genes)
            out["cells_per_s"]["soma_unbuffered"] = round(read_throughput(soma, args.seconds, args.batch,
                                                                      8 * args.batch, 8))
            soma.buffer_reads(8 * args.batch, 8)
            out["cells_per_s"]["soma"] = round(read_throughput(soma, args.seconds, args.batch, 8 * args.batch,
                                                               8))
        except ImportError:
            out["cells_per_s"]["soma"] = None
            out["soma_note"] = "tiledbsoma not installed"
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
