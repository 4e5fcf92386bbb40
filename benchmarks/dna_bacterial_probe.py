"""Why the bacterial task is not learned zero-shot: what the pretrained models do and do not hold.

For each model folder given (e.g. the ``--preset long`` models in ``OUT/models``), on the
benchmark's bacterial SNVs (start codons / Shine-Dalgarno cores of long ORFs in held-out E. coli
vs ref/alt-matched intergenic SNVs):

1. zero-shot AUPRC, overall and per kind (what the benchmark reports);
2. a **supervised probe** on the same model's frozen features (``VariantScorer.features``:
   mean ref embedding, alt - ref embeddings, LLR; logistic regression, 5-fold out-of-fold,
   folds grouped by locus): whether the representation separates the classes even though the
   zero-shot LLR does not;
3. the exposure: how many masked predictions of a run fall on a start-codon base of a long ORF in
   the pretraining E. coli sequence, against all masked predictions.

    python benchmarks/dna_bacterial_probe.py --out benchmarks/results/dna_long/bacterial_probe.json \\
        runs/bench/dna_long/models/r2mae_seed0 runs/bench/dna_long/models/fixed_0.15_seed0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model run folders")
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="long", help="the benchmark preset the models were trained with")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from bioR2.bench.dna import BenchmarkConfig, _pretrain_windows
    from bioR2.bench.dna_data import _long_orf_starts, build_benchmark_data
    from bioR2.dna.data import Genome
    from bioR2.dna.probe import cross_val_probe
    from bioR2.dna.scorer import VariantScorer
    from bioR2.metrics import auprc
    from bioR2.train import load_model

    torch.set_num_threads(args.threads)
    data = build_benchmark_data()
    genome = Genome(data.fasta)
    df = data.bacterial.reset_index(drop=True)
    y = df.label.to_numpy()
    out: Dict[str, Any] = {"variants": int(len(df)), "positives": int(y.sum()), "positive_fraction": float(y.mean())}

    # exposure: long-ORF start codons in the pretraining E. coli sequence
    train_seq = genome.fetch("ecoli_train", 0, genome.length("ecoli_train"))
    starts, _ = _long_orf_starts(train_seq, 450)
    windows = _pretrain_windows(genome, data, BenchmarkConfig.make(preset=args.preset))
    human = float((windows.chrom != "ecoli_train").mean())
    out["exposure"] = {"ecoli_train_bases": len(train_seq), "long_orf_starts": len(starts),
                       "human_window_fraction": round(human, 3),
                       "start_codon_bases": 3 * len(starts),
                       "start_codon_share_of_ecoli_bases": round(3 * len(starts) / len(train_seq), 5)}

    per_model = {}
    for run in args.models:
        model = load_model(run).eval()
        cfg = json.loads((Path(run) / "train_config.json").read_text())
        scorer = VariantScorer(model, genome, window=model.window, batch_size=256, device="cpu")
        feats = scorer.features(df.chrom.to_numpy(), df.pos.to_numpy() - 1, df.ref.tolist(), df.alt.tolist())
        zero_shot = -feats[:, -1]
        probe = cross_val_probe(feats, y, df["group"].to_numpy(), n_splits=5)
        probe_llr_only = cross_val_probe(feats[:, -1:], y, df["group"].to_numpy(), n_splits=5)
        entry: Dict[str, Any] = {"zero_shot_auprc": auprc(y, zero_shot), "probe_auprc": auprc(y, probe),
                                 "probe_llr_only_auprc": auprc(y, probe_llr_only)}
        for kind in sorted(df.loc[y == 1, "kind"].unique()):
            sel = (y == 0) | ((df.kind == kind).to_numpy() & (y == 1))
            entry[f"{kind}_zero_shot_auprc"] = auprc(y[sel], zero_shot[sel])
            entry[f"{kind}_probe_auprc"] = auprc(y[sel], probe[sel])
        # masked predictions of the whole run, and the share on E. coli start-codon bases
        steps, batch = int(cfg["steps"]), int(cfg["batch_size"])
        window = int(model.window)
        ratio = cfg["mask_ratio"]
        lo_hi = [float(x) for x in str(ratio).split("-")] if "-" in str(ratio) else [float(ratio)] * 2
        mean_ratio = sum(lo_hi) / 2
        entry["training"] = {"steps": steps, "batch_size": batch, "window": window, "mean_mask_ratio": mean_ratio,
                             "masked_predictions": int(steps * batch * window * mean_ratio)}
        ecoli_masked = steps * batch * window * mean_ratio * (1 - human)
        entry["training"]["masked_on_start_codons"] = int(
            ecoli_masked * out["exposure"]["start_codon_share_of_ecoli_bases"])
        per_model[str(run)] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in entry.items()}
        print(json.dumps({run: per_model[str(run)]}), flush=True)
    out["models"] = per_model
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
