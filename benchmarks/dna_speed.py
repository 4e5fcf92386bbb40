"""bioR2 vs GPN speed at equal model size, measured in one run.

What it measures (all on the CPU threads given by ``--threads``):

1. this machine's float32 matmul peak (GFLOP/s), the yardstick for achieved FLOP/s;
2. training throughput (nucleotides/s) of one optimizer step — forward, backward, AdamW — for
   GPN's own ``GPNForMaskedLM`` (ConvNet encoder) and bioR2's ``DNAMaskedLM`` + ``MaskedLMTask``
   at the same depth, width and feed-forward size, on the same batches with 15% masking
   (80/10/10 over ACGT), timed alternately (A B A B ...) so a busy machine hits both alike;
3. variant scoring: GPN's ``python -m gpn.ss.run_vep`` end to end and its model call inside its
   loop (forward + reverse strand passes, as ``MLMforVEPModel`` does), against
   ``bior2 score-variants`` end to end and ``VariantScorer.llr`` in the loop, fp32 and bf16;
4. peak memory of ``score_variants_file`` streaming 50k vs 200k variants (a tiny model).

GPN is not a dependency of bioR2: run this with an environment that has both, e.g.::

    python3 -m venv .venv-gpn
    .venv-gpn/bin/pip install torch==2.13.0 && .venv-gpn/bin/pip install -e '.[gpn-bench]'
    .venv-gpn/bin/python benchmarks/dna_speed.py --out benchmarks/results/dna_speed

GPN's ``run_vep`` loads its tokenizer from the Hugging Face hub; offline we rebuild it here the
way ``gpn/ss/train_tokenizer_ss.py`` does (7-token BPE ``[PAD] [MASK] [UNK] a c g t`` with a
lowercase normaliser) and save it beside the randomly initialised model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent


def matmul_peak(n: int = 1024, reps: int = 8) -> float:
    """Best observed float32 GFLOP/s of an n x n matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def linear_conv_flops(model: torch.nn.Module, skip=()) -> int:
    """Forward FLOPs per position of every Linear / Conv1d (2 x multiply-adds)."""
    flops = 0
    for name, m in model.named_modules():
        if any(name.startswith(s) for s in skip):
            continue
        if isinstance(m, torch.nn.Conv1d):
            flops += 2 * m.in_channels * m.out_channels * m.kernel_size[0] // m.groups
        elif isinstance(m, torch.nn.Linear):
            flops += 2 * m.in_features * m.out_features
    return flops


def build_gpn_tokenizer(path: Path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=7, special_tokens=["[PAD]", "[MASK]", "[UNK]"],
                                  initial_alphabet=list("acgt"))
    tok.train_from_iterator(["acgt"], trainer=trainer, length=1)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]")
    fast.save_pretrained(str(path))
    return fast


def gpn_model(hidden: int, layers: int, ffn_mult: int):
    from gpn import register_auto_classes
    from gpn.model import GPNConfig, GPNForMaskedLM

    register_auto_classes("gpn")
    cfg = GPNConfig(vocab_size=7, hidden_size=hidden, intermediate_size=ffn_mult * hidden, num_hidden_layers=layers,
                    first_kernel_size=9, rest_kernel_size=5, dilation_cycle=8, dilation_max=9999)
    return GPNForMaskedLM(cfg)


def bior2_model(hidden: int, layers: int, ffn_mult: int, window: int):
    from bioR2.dna import DNAMaskedLM

    return DNAMaskedLM(hidden=hidden, layers=layers, kernel_size=5, dilation_max=128, dilation_cycle=8,
                       conv_ffn_mult=ffn_mult, window=window)


# ---------------------------------------------------------------------------- training
def bench_training(args, peak: float) -> dict:
    from bioR2.dna import MaskedLMTask
    from bioR2.masking import MaskRNG, mask_tokens

    torch.manual_seed(0)
    gpn = gpn_model(args.hidden, args.layers, args.ffn_mult)
    ours = bior2_model(args.hidden, args.layers, args.ffn_mult, args.window)
    task = MaskedLMTask(ours, count="bernoulli")
    B, W = args.batch, args.window
    # bioR2 ids: A C G T = 2..5; GPN's tokenizer: a c g t = 3..6 ([PAD] [MASK] [UNK] first)
    ids = torch.randint(2, 6, (B, W))
    soft = torch.zeros_like(ids, dtype=torch.bool)
    rng = MaskRNG(0, 0, torch.arange(B))
    m = mask_tokens(ids, 0.15, mask_token_id=1, special_ids=(0,), random_token_ids=[2, 3, 4, 5], count="bernoulli",
                    rng=rng)
    gpn_inputs = torch.where(m.input_ids >= 2, m.input_ids + 1, m.input_ids)
    gpn_labels = torch.where(m.labels >= 0, m.labels + 1, m.labels)
    n_masked = int(m.mask.sum())
    opt_g = torch.optim.AdamW(gpn.parameters(), lr=1e-4)
    opt_o = torch.optim.AdamW(task.parameters(), lr=1e-4)

    def step_gpn():
        out = gpn(input_ids=gpn_inputs, labels=gpn_labels)
        out.loss.backward()
        opt_g.step()
        opt_g.zero_grad(set_to_none=True)

    def step_ours():
        out = task({"input_ids": ids, "soft_mask": soft}, 0.15, rng)
        out.loss.backward()
        opt_o.step()
        opt_o.zero_grad(set_to_none=True)

    times = {"gpn": [], "bior2": []}
    step_gpn(), step_ours()  # warm-up
    for _ in range(args.train_steps):
        for name, fn in (("gpn", step_gpn), ("bior2", step_ours)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    # FLOPs: forward x 3 (forward + backward). GPN's head runs at every position, ours at masked ones.
    g_enc = linear_conv_flops(gpn, skip=("cls",))
    g_head = linear_conv_flops(gpn.cls)
    o_enc = linear_conv_flops(ours, skip=("head",))
    o_head = linear_conv_flops(ours.head)
    flops = {"gpn": 3 * (g_enc + g_head) * B * W, "bior2": 3 * (o_enc * B * W + o_head * n_masked)}
    out = {"batch": [B, W], "masked_positions": n_masked,
           "params": {"gpn": sum(p.numel() for p in gpn.parameters()),
                      "bior2": sum(p.numel() for p in ours.parameters())},
           "encoder_flops_per_nt": {"gpn": g_enc, "bior2": o_enc}}
    for name in ("gpn", "bior2"):
        t = float(np.median(times[name]))
        out[name] = {"step_s_median": t, "step_s_all": times[name], "nt_per_s": B * W / t,
                     "gflop_per_step": flops[name] / 1e9, "gflop_per_s": flops[name] / t / 1e9,
                     "fraction_of_matmul_peak": flops[name] / t / 1e9 / peak}
    out["ratio_nt_per_s_bior2_over_gpn"] = out["bior2"]["nt_per_s"] / out["gpn"]["nt_per_s"]
    return out


# ---------------------------------------------------------------------------- scoring
def make_genome_and_variants(folder: Path, n_variants: int, window: int, length: int = 200_000) -> tuple:
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), length))
    fasta = folder / "genome.fa"
    with open(fasta, "w") as fh:
        fh.write(">chr1\n")
        for i in range(0, length, 80):
            fh.write(seq[i:i + 80] + "\n")
    pos = np.sort(rng.choice(np.arange(window, length - window), n_variants, replace=False)) + 1
    ref = [seq[p - 1] for p in pos]
    alt = [rng.choice([b for b in "ACGT" if b != r]) for r in ref]
    df = pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": ref, "alt": alt})
    df.to_parquet(folder / "variants.parquet", index=False)
    return fasta, df


def gpn_in_loop(model_dir: Path, tok, df: pd.DataFrame, fasta: Path, window: int, batch: int):
    """GPN's own VEP model call (fwd + rev passes), inputs built as run_vep builds them: a function
    that runs the loop over all variants and returns ``(scores, seconds)``."""
    from Bio.Seq import Seq
    from gpn.ss.run_vep import MLMforVEPModel

    vep = MLMforVEPModel(str(model_dir)).eval()
    seq = "".join(line.strip() for line in open(fasta) if not line.startswith(">"))
    pos0 = df.pos.to_numpy() - 1
    start = pos0 - window // 2
    fwd = [list(seq[s:s + window].upper()) for s in start]
    rev = [list(str(Seq(seq[s:s + window]).reverse_complement()).upper()) for s in start]
    c_f, c_r = window // 2, window // 2 - 1
    for f, r in zip(fwd, rev):
        f[c_f] = tok.mask_token
        r[c_r] = tok.mask_token
    enc = lambda rows: torch.tensor(tok(["".join(x) for x in rows], return_attention_mask=False,  # noqa: E731
                                        return_token_type_ids=False)["input_ids"])
    ids_f, ids_r = enc(fwd), enc(rev)
    tid = lambda bases: torch.tensor([tok(b.lower())["input_ids"][0] for b in bases])  # noqa: E731
    comp = str.maketrans("ACGT", "TGCA")
    rf, af = tid(df.ref), tid(df.alt)
    rr, ar = tid([b.translate(comp) for b in df.ref]), tid([b.translate(comp) for b in df.alt])

    def run() -> tuple:
        out = []
        t = time.perf_counter()
        with torch.no_grad():
            for lo in range(0, len(df), batch):
                hi = min(len(df), lo + batch)
                n = hi - lo
                out.append(vep(ids_f[lo:hi], torch.full((n,), c_f), rf[lo:hi], af[lo:hi],
                               ids_r[lo:hi], torch.full((n,), c_r), rr[lo:hi], ar[lo:hi]))
        return torch.cat(out).numpy(), time.perf_counter() - t

    return run


def bench_scoring(args, folder: Path) -> dict:
    from bioR2.dna import Genome, VariantScorer

    torch.manual_seed(0)
    gpn = gpn_model(args.hidden, args.layers, args.ffn_mult)
    gdir = folder / "gpn_model"
    gpn.save_pretrained(str(gdir))
    tok = build_gpn_tokenizer(gdir)
    ours = bior2_model(args.hidden, args.layers, args.ffn_mult, args.window).eval()
    odir = folder / "bior2_model"
    ours.save_pretrained(odir)
    fasta, df = make_genome_and_variants(folder, args.variants, args.window)
    res: dict = {"variants": len(df), "window": args.window, "batch_sites": args.score_batch}

    # in the loop: GPN, bioR2 fp32, bioR2 bf16 timed in turn, --rounds times (medians)
    run_gpn = gpn_in_loop(gdir, tok, df, fasta, args.window, args.score_batch)
    genome = Genome(fasta)
    scorer = VariantScorer(ours, genome, window=args.window, batch_size=args.score_batch)
    scorer_bf16 = VariantScorer(ours, genome, window=args.window, batch_size=args.score_batch, precision="bf16")
    args_v = (df.chrom.to_numpy(dtype=object), df.pos.to_numpy() - 1, df.ref.tolist(), df.alt.tolist())
    scorer.llr(*[a[:2] for a in args_v])  # warm-up
    scorer_bf16.llr(*[a[:2] for a in args_v])

    def timed(fn):
        t = time.perf_counter()
        out = fn(*args_v)
        return out, time.perf_counter() - t

    times: dict = {"gpn": [], "fp32": [], "bf16": []}
    for _ in range(args.rounds):
        times["gpn"].append(run_gpn()[1])
        fp32, t = timed(scorer.llr)
        times["fp32"].append(t)
        bf16, t = timed(scorer_bf16.llr)
        times["bf16"].append(t)
    t_gpn, t_ours, t_bf16 = (float(np.median(times[k])) for k in ("gpn", "fp32", "bf16"))
    res["in_loop"] = {
        "rounds": args.rounds,
        "seconds_all": times,
        "gpn_variants_per_s": len(df) / t_gpn,
        "bior2_fp32_variants_per_s": len(df) / t_ours,
        "bior2_bf16_variants_per_s": len(df) / t_bf16,
        "bf16_max_abs_diff_vs_fp32": float(np.abs(bf16 - fp32).max()),
        "fp32_score_sd": float(np.std(fp32)),
        "bf16_spearman_vs_fp32": float(pd.Series(bf16).corr(pd.Series(fp32), method="spearman")),
    }
    res["in_loop"]["ratio_fp32"] = res["in_loop"]["bior2_fp32_variants_per_s"] / res["in_loop"]["gpn_variants_per_s"]
    res["in_loop"]["ratio_bf16"] = res["in_loop"]["bior2_bf16_variants_per_s"] / res["in_loop"]["gpn_variants_per_s"]

    if "e2e" in args.skip:
        return res
    # end to end, as a user runs each tool
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    py = sys.executable
    cmd_gpn = [py, "-m", "gpn.ss.run_vep", str(folder / "variants.parquet"), str(fasta), str(args.window), str(gdir),
               str(folder / "gpn_scores.parquet"), "--is_file", "--per_device_batch_size", str(args.score_batch),
               "--tokenizer_path", str(gdir)]
    cmd_ours = [py, "-m", "bioR2", "score-variants", "--model", str(odir), "--fasta", str(fasta), "--variants",
                str(folder / "variants.parquet"), "--out", str(folder / "bior2_scores.parquet"),
                "--batch-size", str(args.score_batch), "--window", str(args.window)]
    e2e = {}
    for name, cmd in (("bior2", cmd_ours), ("gpn", cmd_gpn)):
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        e2e[name] = {"wall_s": wall, "variants_per_s": len(df) / wall, "returncode": proc.returncode,
                     "command": " ".join(cmd[1:])}
        if proc.returncode != 0:
            e2e[name]["error_tail"] = (proc.stderr or proc.stdout)[-1500:]
    if e2e["gpn"]["returncode"] == 0 and e2e["bior2"]["returncode"] == 0:
        e2e["ratio"] = e2e["bior2"]["variants_per_s"] / e2e["gpn"]["variants_per_s"]
    res["end_to_end"] = e2e
    return res


# ---------------------------------------------------------------------------- memory
_MEM_CHILD = r"""
import sys, time, torch
torch.set_num_threads(1)
from bioR2.dna.variants import score_variants_file
t = time.perf_counter()
s = score_variants_file(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], chunk_size=50_000, batch_size=512)
# VmHWM, not ru_maxrss: the latter keeps the parent's size from before exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(hwm, time.perf_counter() - t, s["variants"])
"""


def bench_memory(folder: Path, sizes=(50_000, 200_000)) -> dict:
    from bioR2.dna import DNAMaskedLM

    rng = np.random.default_rng(1)
    length = 1_000_000
    seq = "".join(rng.choice(list("ACGT"), length))
    fasta = folder / "mem.fa"
    fasta.write_text(">chr1\n" + "\n".join(seq[i:i + 80] for i in range(0, length, 80)) + "\n")
    model = DNAMaskedLM(hidden=16, layers=2, kernel_size=5, window=64)
    model.save_pretrained(folder / "tiny")
    out = {}
    for n in sizes:
        pos = rng.integers(1, length + 1, n)
        ref = np.array(list(seq))[pos - 1]
        alt = np.where(ref == "A", "C", "A")
        path = folder / f"v{n}.tsv"
        pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": ref, "alt": alt}).to_csv(path, sep="\t", index=False)
        proc = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(folder / "tiny"), str(fasta), str(path),
                               str(folder / f"s{n}.tsv")], capture_output=True, text=True)
        if proc.returncode != 0:
            out[str(n)] = {"error": proc.stderr[-800:]}
            continue
        rss_kb, secs, count = proc.stdout.split()
        out[str(n)] = {"peak_rss_mib": int(rss_kb) / 1024, "seconds": float(secs), "variants": int(count)}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--ffn-mult", type=int, default=4)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--variants", type=int, default=128)
    p.add_argument("--score-batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=1, help="in-loop scoring: GPN / fp32 / bf16 timed in turn")
    p.add_argument("--skip", nargs="*", default=[], choices=["train", "score", "e2e", "memory"],
                   help="e2e: the end-to-end scoring runs (in the loop still runs)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict = {"command": " ".join([Path(sys.executable).name] + sys.argv), "threads": args.threads,
                     "model": {"layers": args.layers, "hidden": args.hidden, "ffn_mult": args.ffn_mult,
                               "window": args.window},
                     "torch": torch.__version__}
    try:
        import gpn  # noqa: F401
        from importlib.metadata import version
        results["gpn_version"] = version("gpn")
        results["transformers_version"] = version("transformers")
    except ImportError:
        print("gpn is not installed here: see the module docstring", file=sys.stderr)
        return 2
    results["matmul_peak_gflops"] = matmul_peak()
    folder = Path(tempfile.mkdtemp(prefix="dna_speed_"))
    try:
        if "train" not in args.skip:
            results["training"] = bench_training(args, results["matmul_peak_gflops"])
            print(json.dumps(results["training"], indent=1), file=sys.stderr)
        if "score" not in args.skip:
            results["scoring"] = bench_scoring(args, folder)
            print(json.dumps(results["scoring"], indent=1), file=sys.stderr)
        if "memory" not in args.skip:
            results["memory_streaming"] = bench_memory(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results["elapsed_s"] = time.perf_counter() - t0
    previous = out / "results.json"
    if args.skip and previous.exists():  # a partial rerun updates the sections it measured
        merged = json.loads(previous.read_text())
        merged.setdefault("reruns", []).append(results["command"])
        keep = {"command", "elapsed_s", "matmul_peak_gflops"}  # the peak belongs to the training run
        if "e2e" in args.skip and "scoring" in results and "end_to_end" in merged.get("scoring", {}):
            old = merged["scoring"]["end_to_end"]  # kept, marked as measured by an earlier run
            old.setdefault("measured_by", merged.get("command"))
            results["scoring"]["end_to_end"] = old
        merged.update({k: v for k, v in results.items() if k not in keep})
        results = merged
    previous.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
