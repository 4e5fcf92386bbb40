"""SNVs/s of ``score-region`` over a region against ``score-variants`` on the same SNV list.

Both run in this one process on the bundled planted-motif genome
(:func:`bioR2.dna.synthetic.planted_motif_genome`) with one randomly initialised convnet (speed
does not depend on training): ``score_region_file`` over ``--length`` bases, then
``score_variants_file`` on the parquet of the very SNVs it scored (written beforehand, not timed),
each end to end from the files to a parquet output. The scores of the two are compared too.

    python benchmarks/dna_region_speed.py --length 100000 --out benchmarks/results/dna_region_speed

GPN's ``run_vep`` is not run here (it needs GPN's package in its own venv: see
``benchmarks/dna_speed.py``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--length", type=int, default=100_000, help="bases in the region")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="folder for results.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from bioR2.dna import DNAMaskedLM, region_snvs
    from bioR2.dna.region import score_region_file
    from bioR2.dna.synthetic import planted_motif_genome
    from bioR2.dna.variants import score_variants_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fasta = planted_motif_genome(tmp / "g.fa", n_contigs=1, contig_length=args.length + 2_000)["fasta"]
        region = f"chr1:1001-{1000 + args.length}"
        torch.manual_seed(0)
        model = DNAMaskedLM(hidden=args.hidden, layers=args.layers, window=args.window).eval()
        snvs = region_snvs(fasta, [region])
        snvs.to_parquet(tmp / "snvs.parquet")
        kw = dict(window=args.window, batch_size=args.batch_size, device="cpu", progress=False)

        t = time.perf_counter()
        score_region_file(model, fasta, tmp / "region.parquet", [region], **kw)
        t_region = time.perf_counter() - t
        t = time.perf_counter()
        score_variants_file(model, fasta, tmp / "snvs.parquet", tmp / "variants.parquet", **kw)
        t_variants = time.perf_counter() - t

        a = pd.read_parquet(tmp / "region.parquet")
        b = pd.read_parquet(tmp / "variants.parquet")
        assert (a[["chrom", "pos", "ref", "alt"]].to_numpy() == b[["chrom", "pos", "ref", "alt"]].to_numpy()).all()
        diff = float(np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max())
    n = len(snvs)
    res = {
        "region": region, "snvs": n, "model": {"hidden": args.hidden, "layers": args.layers, "window": args.window,
                                                "receptive_radius": model.receptive_radius},
        "threads": args.threads, "batch_size": args.batch_size,
        "score_region": {"seconds": t_region, "snvs_per_s": n / t_region},
        "score_variants": {"seconds": t_variants, "snvs_per_s": n / t_variants},
        "ratio": t_variants / t_region, "max_abs_score_difference": diff,
    }
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
