"""The tuned k-mer baseline against a finished ``bior2 benchmark dna`` run.

Builds the benchmark's test variants and the chr3/chr4 + E. coli-tail validation split
(:mod:`bioR2.bench.dna_kmer`), chooses the k-mer model's context (1-5 bp each side) and data
weighting there per task, refits the choice on every training sequence, scores the test variants,
and compares R²MAE's per-seed AUPRC from the run's ``results.json`` with it
(:func:`bioR2.stats.paired_comparison`: one test set, so paired over seeds).

    python benchmarks/dna_kmer_tuned.py --run benchmarks/results/dna_long \\
        --out benchmarks/results/dna_kmer_tuned/results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="folder of a finished bior2 benchmark dna run (results.json)")
    ap.add_argument("--out", required=True, help="results.json to write (refused if it exists, unless --overwrite)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    run = json.loads((Path(args.run) / "results.json").read_text())
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise SystemExit(f"{out} exists; pass --overwrite to replace it")
    if run["config"].get("max_positives") is not None:
        raise SystemExit(f"{args.run}/results.json: config.max_positives is set (a quick run); compare a full run")

    from bioR2.bench.dna_data import build_benchmark_data
    from bioR2.bench.dna_kmer import selection_section, tune_kmer, tuned_kmer_scores, validation_split
    from bioR2.dna.data import Genome
    from bioR2.metrics import auprc
    from bioR2.stats import paired_comparison
    from bioR2.utils.io import atomic_write_json

    t0 = time.perf_counter()
    data = build_benchmark_data()
    genome = Genome(data.fasta)
    frames = {"motif": data.motif, "bacterial": data.bacterial}
    for name, df in frames.items():
        if len(df) != run["tasks"][name]["variants"]:
            raise SystemExit(f"{args.run}: task {name} has {run['tasks'][name]['variants']} variants, "
                             f"the data now {len(df)}: not the same test set")
    split = validation_split(data, genome)
    choice = tune_kmer(split, genome)
    scores = tuned_kmer_scores(data, genome, frames, choice)
    kmer_auprc, comparisons = {}, {}
    for name, df in frames.items():
        y = df.label.to_numpy()
        kmer_auprc[name] = auprc(y, scores[name])
        r2 = run["tasks"][name]["methods"]["r2mae"]["auprc"]["values"]
        comparisons[f"{name}/r2mae_vs_kmer_tuned"] = paired_comparison(r2, kmer_auprc[name], metric="auprc")
        if name == "motif":
            for factor, entry in run["tasks"][name]["per_factor_auprc"].items():
                sel = (df.factor == factor).to_numpy()
                kmer_auprc[f"motif_{factor}"] = auprc(y[sel], scores[name][sel])
                comparisons[f"motif_{factor}/r2mae_vs_kmer_tuned"] = paired_comparison(
                    entry["r2mae"]["values"], kmer_auprc[f"motif_{factor}"], metric="auprc")
                comparisons[f"motif_{factor}/r2mae_vs_kmer"] = paired_comparison(
                    entry["r2mae"]["values"], entry["kmer"], metric="auprc")
        comparisons[f"{name}/r2mae_vs_kmer"] = paired_comparison(
            r2, run["tasks"][name]["methods"]["kmer"]["auprc"]["values"][0], metric="auprc")
    result = {"command": "python benchmarks/dna_kmer_tuned.py --run " + args.run + " --out " + args.out,
              "run": run["command"], "kmer_tuned_auprc": {k: round(v, 4) for k, v in kmer_auprc.items()},
              "selection": {**selection_section(split, data, frames), "kmer_tuned": choice},
              "comparisons": comparisons, "elapsed_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(out, result)
    print(json.dumps({k: result[k] for k in ("kmer_tuned_auprc", "comparisons")}, indent=1))


if __name__ == "__main__":
    main()
