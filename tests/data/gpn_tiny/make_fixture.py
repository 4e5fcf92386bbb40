"""Make the tiny GPN checkpoint fixture of tests/test_gpn_checkpoint.py, with GPN's own code.

Run once, from the repository root, in an environment that has GPN (not a bioR2 dependency)::

    python3 -m venv .venv-gpn
    .venv-gpn/bin/pip install 'gpn[inference]==0.9.0a1' && .venv-gpn/bin/pip install -e .
    OMP_NUM_THREADS=1 .venv-gpn/bin/python tests/data/gpn_tiny/make_fixture.py

It writes, next to this script:

* ``model/``: a randomly initialised ``GPNForMaskedLM`` (ConvNet encoder, GPN's default options
  except the size: hidden 32, 6 layers, first kernel 9, then 5, dilations 1 2 4 8 8 1), whose
  weights are then perturbed (LayerNorm scales, all matrices at unit scale) so that scores are
  of order 1, saved with ``save_pretrained`` beside GPN's tokenizer (rebuilt offline the way
  ``gpn/ss/train_tokenizer_ss.py`` builds it: BPE ``[PAD] [MASK] [UNK] a c g t``, lowercase);
* ``genome.fa``: two random contigs (1500 and 600 bp) with a soft-masked (lowercase) stretch and
  a run of N;
* ``variants.tsv``: SNVs at and near both ends of both contigs, in the soft-masked stretch, next
  to the Ns, inside, and two alternative alleles of one site;
* ``expected_scores.tsv``: the variants with the score of GPN's ``python -m gpn.ss.run_vep`` at
  window 64 (the model's receptive field, 50 bases each side, exceeds the half window, so the
  window edges and the contig-end padding matter);
* ``model_options/`` and ``expected_scores_options.tsv``: the same for a second, smaller model with
  GPN's other options (learned embedding, biases, depthwise convolutions, no MLM head transform,
  tied embeddings, another dilation schedule), scored at window 20 (receptive field 12 each side);
* ``model_legacy/`` and ``expected_scores_legacy.tsv``: the same for GPN's legacy
  ``ConvNetForMaskedLM`` (``model_type`` ConvNet, the type of GPN-Brassicales), scored at window 24
  (receptive field 16 each side).

``score_run_vep`` is what ``run_vep`` wrote (it asks its Trainer for fp16, which on this
CPU-only machine computed in float32); ``score_fp32`` is the same LLR from GPN's own
``MLMforVEPModel`` on the inputs ``run_vep`` builds, in float32, without the Trainer. The two
agreed within 1.2e-6 when the fixture was made (gpn 0.9.0a1, transformers 5.24.0, torch 2.13).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

# GPN's tokenizer rebuilt offline: the one function benchmarks/dna_speed.py keeps for both scripts
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from dna_speed import build_gpn_tokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0
# folder -> (config arguments, run_vep window, expected-scores file); GPNConfig unless ``legacy``
MODELS = {
    # GPN's defaults (one-hot embedding, no biases, MLM head transform), small
    "model": (dict(vocab_size=7, hidden_size=32, intermediate_size=64, num_hidden_layers=6, first_kernel_size=9,
                   rest_kernel_size=5, dilation_cycle=5, dilation_max=8), 64, "expected_scores.tsv"),
    # the other options bioR2 supports: learned embedding, biases, depthwise convolutions, no head
    # transform, tied embeddings, dilation base 3 doubling every 2 layers
    "model_options": (dict(vocab_size=7, hidden_size=16, intermediate_size=24, num_hidden_layers=6,
                           first_kernel_size=7, rest_kernel_size=3, dilation_cycle=3, dilation_double_every=2,
                           dilation_base=3, bias=True, embedding="embedding", depthwise=True,
                           mlm_head_transform=False, tie_word_embeddings=True), 20, "expected_scores_options.tsv"),
    # GPN's legacy ConvNetForMaskedLM (model_type ConvNet, gpn/legacy.py; GPN-Brassicales is one)
    "model_legacy": (dict(legacy=True, vocab_size=7, hidden_size=16, n_layers=4, kernel_size=5, dilation_max=4,
                          dilation_cycle=3), 24, "expected_scores_legacy.tsv"),
}




def build_model(folder: Path, config: dict):
    from gpn import register_auto_classes
    from gpn.legacy import ConvNetConfig, ConvNetForMaskedLM
    from gpn.model import GPNConfig, GPNForMaskedLM

    register_auto_classes("gpn")
    torch.manual_seed(SEED)
    config = dict(config)
    if config.pop("legacy", False):
        model = ConvNetForMaskedLM(ConvNetConfig(**config)).eval()
    else:
        model = GPNForMaskedLM(GPNConfig(**config)).eval()
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and name.endswith("weight"):  # LayerNorm scales
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
            elif p.ndim == 1:  # biases (none with GPNConfig's default bias=False)
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:  # Linear (out, in), Conv1d (out, in, k): unit-variance outputs
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)
    model.save_pretrained(str(folder))
    build_gpn_tokenizer(folder)
    return model


def write_genome(path: Path) -> dict:
    rng = np.random.default_rng(SEED)
    contigs = {"chr1": "".join(rng.choice(list("ACGT"), 1500)), "chr2": "".join(rng.choice(list("ACGT"), 600))}
    s = contigs["chr1"]
    contigs["chr1"] = s[:200] + s[200:320].lower() + s[320:400] + "NNNNN" + s[405:]
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))
    return contigs


def write_variants(path: Path, contigs: dict) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 2)
    sites = [("chr1", p) for p in (1, 2, 20, 33, 250, 398, 408, 700, 1200, 1470, 1499, 1500)]
    sites += [("chr2", p) for p in (1, 5, 31, 300, 300, 569, 597, 600)]
    rows = []
    for chrom, pos in sites:
        ref = contigs[chrom][pos - 1].upper()
        taken = {ref} | {r["alt"] for r in rows if (r["chrom"], r["pos"]) == (chrom, pos)}
        alt = str(rng.choice([b for b in "ACGT" if b not in taken]))
        rows.append({"chrom": chrom, "pos": pos, "ref": ref, "alt": alt})
    df = pd.DataFrame(rows)
    df.to_csv(path, sep="\t", index=False)
    return df


def gpn_fp32_scores(model_dir: Path, genome: Path, df: pd.DataFrame, window: int) -> np.ndarray:
    """The LLR of GPN's ``MLMforVEPModel`` in float32, inputs built by GPN's ``run_vep`` code."""
    from datasets import Dataset
    from gpn.data import Genome
    from gpn.ss import run_vep as rv
    from transformers import AutoTokenizer

    captured = {}

    class Capture:  # run_vep's Trainer, replaced by a plain float32 loop over its own batches
        def __init__(self, model, args):
            self.model = model

        def predict(self, test_dataset):
            batch = test_dataset[:]
            with torch.no_grad():
                out = self.model(**{k: torch.as_tensor(np.asarray(v)) for k, v in batch.items()})
            captured["llr"] = out.numpy()
            return type("Prediction", (), {"predictions": captured["llr"]})

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    vep = rv.MLMforVEPModel(str(model_dir)).eval()
    real = rv.Trainer
    rv.Trainer = Capture
    try:
        rv.run_vep(Dataset.from_pandas(df), Genome(str(genome)), window, tok, vep)
    finally:
        rv.Trainer = real
    return captured["llr"].astype(np.float64)


def main() -> int:
    torch.set_num_threads(1)
    genome = HERE / "genome.fa"
    contigs = write_genome(genome)
    df = write_variants(HERE / "variants.tsv", contigs)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    for name, (config, window, expected_file) in MODELS.items():
        model_dir = HERE / name
        build_model(model_dir, config)
        with tempfile.TemporaryDirectory() as tmp:
            variants = Path(tmp) / "variants.parquet"
            df.to_parquet(variants, index=False)
            out = Path(tmp) / "scores.parquet"
            cmd = [sys.executable, "-m", "gpn.ss.run_vep", str(variants), str(genome), str(window), str(model_dir),
                   str(out), "--is_file", "--per_device_batch_size", "4", "--tokenizer_path", str(model_dir)]
            subprocess.run(cmd, env=env, check=True, cwd=tmp)
            run_vep = pd.read_parquet(out)["score"].to_numpy().astype(np.float64)
        fp32 = gpn_fp32_scores(model_dir, genome, df, window)
        expected = df.assign(score_run_vep=run_vep, score_fp32=fp32)
        expected.to_csv(HERE / expected_file, sep="\t", index=False, float_format="%.7g")
        print(name, f"window {window}", expected.to_string(), sep="\n")
        print(name, "run_vep vs fp32: max abs diff", float(np.abs(run_vep - fp32).max()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
