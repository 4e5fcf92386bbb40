"""Benchmark building blocks on synthetic sequences (no download): variant construction,
baselines, evaluation tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


from bioR2.bench.dna_data import bacterial_variants, cap_positives, motif_variants, kmer_scores
from bioR2.bench.dna import BenchmarkConfig, _evaluate, _markdown
from bioR2.dna.motifs import PWM, encode_acgt


def toy_pwm(consensus: str, name: str) -> PWM:
    counts = {b: [90.0 if c == b else 3.0 for c in consensus] for b in "ACGT"}
    return PWM.from_counts("T0001.1", name, counts)


def test_pwm_scan_both_strands():
    from bioR2.dna.tokenizer import reverse_complement

    pwm = toy_pwm("TGACGCA", "toy")
    seq = "CCCC" + "TGACGCA" + "CCCCCC" + reverse_complement("TGACGCA") + "CC"
    scores = pwm.scan(encode_acgt(seq))
    assert scores[0].argmax() == 4                      # forward hit at its start
    assert scores[1].argmax() == 4 + 7 + 6              # reverse-strand hit, forward coordinates
    assert scores[1].max() == pytest.approx(scores[0].max()) == pytest.approx(pwm.max_score)
    assert np.isneginf(pwm.scan(encode_acgt("TGANGCA"))).all()


def test_motif_negatives_match_ref_and_alt():
    rng = np.random.default_rng(0)
    pwm = toy_pwm("ATGCAAAT", "OCTish")
    seqs = []
    for _ in range(40):
        s = list(rng.choice(list("ACGT"), 200))
        s[90:98] = list("ATGCAAAT")
        seqs.append("".join(s))
    peaks = pd.DataFrame({"contig": [f"p{i}" for i in range(40)], "seq": seqs})
    df = motif_variants(peaks, "oct", [pwm], [pwm], np.random.default_rng(1), negatives_per_positive=9)
    pos = df[df.label == 1]
    assert len(pos) >= 40 and ((pos.pos >= 91) & (pos.pos <= 98)).all()
    for pair, block in df.groupby("pair"):
        p = block[block.label == 1].iloc[0]
        negs = block[block.label == 0]
        assert len(negs) == 9
        assert (negs.ref == p.ref).all() and (negs.alt == p.alt).all()  # substitution type carries no signal
        assert ((negs.pos < 91 - 10) | (negs.pos > 98 + 10)).all()       # >= 10 bp from the hit
    capped = cap_positives(df, 5, ["factor"], seed=0)
    assert capped.label.sum() == 5 and len(capped) == 50


def test_bacterial_positives_sit_on_start_codon_and_sd():
    rng = np.random.default_rng(0)
    bg = lambda n: "".join(rng.choice(list("ACT"), n))  # noqa: E731  (no G: no stray ATG/SD)
    orf = "ATG" + "".join(rng.choice(["GCT", "GCA", "CTG", "AAA"], 200)) + "TAA"
    gene = bg(30) + "AGGAGG" + bg(7) + orf
    seq = bg(300) + gene + bg(300)
    df = bacterial_variants(seq, "c", rng, min_orf=450, negatives_per_positive=4)
    pos = df[df.label == 1].set_index("kind")
    sd = seq.index("AGGAGG")
    atg = seq.index("ATG", sd)  # 0-based A of the start codon
    assert atg + 1 <= pos.loc["start_codon", "pos"] <= atg + 3
    assert seq[pos.loc["shine_dalgarno", "pos"] - 1] == "G" and sd < pos.loc["shine_dalgarno", "pos"] <= sd + 6
    negs = df[df.label == 0]
    assert len(negs) >= 4 and (negs.kind == "intergenic").all()
    for _, n in negs.iterrows():  # matched on ref and alt, outside the ORF and its upstream
        p = df[(df.label == 1) & (df.pair == n.pair)].iloc[0]
        assert (n.ref, n.alt) == (p.ref, p.alt)
        assert not (sd - 25 <= n.pos - 1 < atg + len(orf))


def test_kmer_context_model_prefers_seen_centre():
    train = ["AAACAAA" * 200]
    ctx = ["AAACAAA", "AAACAAA"]
    s = kmer_scores(train, ctx, ref=["C", "C"], alt=["G", "C"])
    assert s[0] < 0 and s[1] == 0


def test_evaluate_and_markdown_tables():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(20), np.zeros(180)].astype(int)
    df = pd.DataFrame({"label": y, "group": np.arange(200) % 25, "factor": np.where(np.arange(200) % 2, "a", "b")})
    cfg = BenchmarkConfig.make(seeds=[0, 1, 2], n_boot=20)
    for s in cfg.schemes:
        for seed in cfg.seeds:
            df[f"{s}_seed{seed}"] = y * 1.0 + rng.normal(size=200)
    df["kmer"], df["pwm_oracle"] = rng.normal(size=200), y + 0.1 * rng.normal(size=200)
    df["kmer_tuned"] = y * 3.0 + rng.normal(size=200)  # far better than every model
    out = _evaluate(df, "motif", cfg)
    assert set(out["methods"]) == {"r2mae", "fixed_0.15", "uniform_0-1", "kmer", "kmer_tuned", "pwm_oracle",
                                   "positive_fraction"}
    comp = out["comparisons"]
    assert comp["r2mae_vs_kmer"]["verdict"] == "ahead" and comp["r2mae_vs_kmer"]["unit"] == "seed"
    assert comp["r2mae_vs_kmer_tuned"]["verdict"] == "behind"
    assert comp["r2mae_vs_kmer"]["diff"] == pytest.approx(
        out["methods"]["r2mae"]["auprc"]["mean"] - out["methods"]["kmer"]["auprc"]["mean"], abs=1e-6)
    assert {"r2mae_vs_kmer_tuned_a", "r2mae_vs_kmer_tuned_b", "r2mae_vs_fixed_0.15_a"} <= set(comp)  # per factor
    assert comp["r2mae_vs_fixed_0.15"]["n"] == 3
    assert len(out["methods"]["r2mae"]["auprc"]["values"]) == 3
    assert out["methods"]["pwm_oracle"]["auprc"]["mean"] > 0.9
    assert out["methods"]["positive_fraction"]["auprc"]["mean"] == pytest.approx(0.1)
    assert set(out["paired_differences"]) == {"r2mae - fixed_0.15", "r2mae - uniform_0-1"}
    results = {"command": "bior2 benchmark dna", "bior2_version": "x", "elapsed_s": 1.0, "seeds": cfg.seeds,
               "config": {"steps": 1, "batch_size": 2, "window": 3, "layers": 4, "hidden": 5},
               "tasks": {"motif": out}}
    md = _markdown(results)
    assert "| r2mae |" in md and "What it does not measure" in md and "r2mae - fixed_0.15" in md
    assert "| r2mae_vs_kmer_tuned | auprc |" in md and "| behind |" in md
    with pytest.raises(ValueError, match="unknown masking scheme"):
        BenchmarkConfig.make(schemes=["r2mae", "nope"])


def test_a_finished_model_is_reused_only_at_the_same_size(tmp_path):
    import dataclasses

    from bioR2.bench.dna import BenchmarkConfig, _train_one
    from bioR2.dna.data import Genome, make_windows
    from bioR2.train import load_model

    rng = np.random.default_rng(0)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "".join(rng.choice(list("ACGT"), 400)) + "\n")
    genome = Genome(fasta)
    windows = make_windows(genome, window=32)
    cfg = BenchmarkConfig(steps=2, hidden=8, layers=1, window=32, batch_size=4, seeds=[0])
    assert _train_one(genome, windows, "r2mae", 0, cfg, tmp_path)[1] is False
    assert _train_one(genome, windows, "r2mae", 0, cfg, tmp_path)[1] is True  # same run: reused
    bigger = dataclasses.replace(cfg, hidden=16)  # same steps, seed and ratio, another size
    run, reused = _train_one(genome, windows, "r2mae", 0, bigger, tmp_path)
    assert reused is False and load_model(run).hidden == 16


def test_long_preset_and_the_auprc_vs_steps_curve(tmp_path):
    """--preset long sizes the run; every kept checkpoint is scored, and the crossing estimate
    extends R²MAE's curve to the k-mer line (or says where it was reached)."""
    from bioR2.bench.dna import BenchmarkConfig, _curve_summary, _markdown, _score_curve, _train_one
    from bioR2.dna.data import Genome, make_windows

    long = BenchmarkConfig.make(preset="long")
    assert long.preset == "long" and long.curve_points > 0 and long.peak_stride < BenchmarkConfig().peak_stride
    assert BenchmarkConfig.make(preset="long", steps=10).steps == 10  # flags still win
    with pytest.raises(ValueError, match="preset"):
        BenchmarkConfig.make(preset="longer")
    with pytest.raises(ValueError, match="--quick and --preset"):
        BenchmarkConfig.make(quick=True, preset="long")

    rng = np.random.default_rng(0)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "".join(rng.choice(list("ACGT"), 600)) + "\n")
    genome = Genome(fasta)
    windows = make_windows(genome, window=32)
    cfg = BenchmarkConfig(steps=6, hidden=8, layers=1, window=32, batch_size=4, seeds=[0], schemes=["r2mae"],
                          curve_points=3)
    pos = rng.choice(np.arange(20, 580), 40, replace=False)
    seq = genome.fetch("a", 0, 600)
    df = pd.DataFrame({"chrom": "a", "pos": pos + 1, "ref": [seq[p] for p in pos],
                       "label": np.r_[np.ones(8), np.zeros(32)], "factor": "f"})
    df["alt"] = [{"A": "C", "C": "G", "G": "T", "T": "A"}[r] for r in df.ref]
    df["kmer"] = rng.normal(size=40)
    run, _ = _train_one(genome, windows, "r2mae", 0, cfg, tmp_path)
    steps = sorted(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("step-*"))
    assert steps == [2, 4, 6]  # every checkpoint kept
    df["r2mae_seed0"] = rng.normal(size=40)  # the final model's scores, as the benchmark stores them
    frames = {"motif": df}
    _score_curve(genome, frames, run, "r2mae", 0, cfg, tmp_path)
    curve = _curve_summary(tmp_path, frames, cfg)
    assert sorted(curve["schemes"]["r2mae"], key=int) == ["2", "4", "6"]
    assert set(curve["r2mae_crossing"]) == set(curve["kmer"]) >= {"motif", "motif_f"}
    md = _markdown({"command": "c", "bior2_version": "x", "elapsed_s": 1.0, "seeds": [0],
                    "config": {"steps": 6, "batch_size": 4, "window": 32, "layers": 1, "hidden": 8}, "tasks": {},
                    "curve": curve})
    assert "AUPRC vs training steps" in md and "k-mer" in md


def test_kmer_tuning_picks_the_context_and_data_that_score_best_on_validation(tmp_path):
    """A motif only the human peaks carry, while E. coli repeats a decoy with another centre
    base in the same context: the tuner leaves E. coli out (or outweighs it) and its choice
    has the best validation score of the grid."""
    from bioR2.bench.dna_kmer import FLANKS, WEIGHTINGS, ValidationSplit, selection_section, tune_kmer
    from bioR2.dna.data import Genome

    rng = np.random.default_rng(0)
    motif = "GATTACAGT"
    peaks = ["".join(rng.choice(list("ACGT"), 20)) + motif + "".join(rng.choice(list("ACGT"), 20)) for _ in range(60)]
    ecoli = "".join(rng.choice(list("ACGT"), 4000)) + ("GATTCCAGT" * 200)  # the E. coli words disagree
    val = peaks[:20]
    fasta = tmp_path / "g.fa"
    fasta.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(val)))
    genome = Genome(fasta)
    rows = []
    for i in range(20):
        rows.append({"chrom": f"p{i}", "pos": 25, "ref": "A", "alt": "C", "label": 1})  # breaks the motif centre
        for pos in (3, 8, 14, 45):
            ref = val[i][pos - 1]
            rows.append({"chrom": f"p{i}", "pos": pos, "ref": ref, "alt": {"A": "C", "C": "G", "G": "T", "T": "A"}[ref],
                         "label": 0})
    frames = {"motif": pd.DataFrame(rows)}
    split = ValidationSplit(frames, [ecoli], peaks[20:], [f"p{i}" for i in range(20)], ("v",))
    choice = tune_kmer(split, genome)["motif"]
    scores = choice["validation_auprc"]
    assert len(scores) == len(FLANKS) * len(WEIGHTINGS)
    assert choice["chosen"]["weighting"] != "all"
    flank = choice["chosen"]["flank"]
    assert scores[f"flank={flank},weighting=human_only"] > scores[f"flank={flank},weighting=all"]
    key = f"flank={choice['chosen']['flank']},weighting={choice['chosen']['weighting']}"
    assert scores[key] == max(scores.values()) > scores["flank=1,weighting=all"]

    class Data:
        held_out = ["p3"]  # a validation peak that is also a test sequence: counted

    assert selection_section(split, Data(), {})["overlap_with_test"] == 1
    Data.held_out = ["elsewhere"]
    assert selection_section(split, Data(), {"motif": frames["motif"].iloc[:0]})["overlap_with_test"] == 0


def test_kmer_counts_match_a_brute_force_count():
    from collections import Counter

    from bioR2.bench.dna_data import _rc, kmer_counts

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGTNacg"), n)) for n in (2, 9, 120)]
    for flank in (1, 2):
        k = 2 * flank + 1
        want = Counter(w.upper() for s in seqs for strand in (s, _rc(s)) for w in
                       (strand[i:i + k] for i in range(len(strand) - k + 1)) if "N" not in w.upper())
        got = kmer_counts(seqs, flank).ravel()
        index = {w: sum("ACGT".index(b) * 4 ** (k - 1 - j) for j, b in enumerate(w)) for w in want}
        assert got.sum() == sum(want.values())
        assert all(got[index[w]] == n for w, n in want.items())
