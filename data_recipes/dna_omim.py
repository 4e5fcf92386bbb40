"""Real DNA benchmark for machines with a network: OMIM regulatory variants vs gnomAD common.

Fetches hg38 (UCSC) and GPN's ``songlab/omim`` variant set (Hugging Face dataset, pinned to a
git revision), then scores the variants zero-shot with a bioR2 model and reports AUPRC/AUROC
with bootstrap CIs — the same scoring path as ``bior2 score-variants``::

    python data_recipes/dna_omim.py --dir data/omim --model runs/dna_hg38 --out results/omim

Pinned sources (see ``SOURCES``):

* hg38: ``hg38.fa.gz`` from UCSC goldenPath ``bigZips``, checked against UCSC's own
  ``md5sum.txt`` published beside it. UCSC ships plain gzip (not bgzip), so the recipe
  decompresses it once to ``hg38.fa`` (about 3.1 GB) for random access.
* ``songlab/omim`` at revision ``7569cdb7aaf4826a194bec62701cdac4199fed96`` (``test.parquet``,
  about 45 MB; columns ``chrom`` without the ``chr`` prefix, 1-based ``pos``, ``ref``,
  ``alt``, boolean ``label``: True = OMIM regulatory, False = gnomAD common).

Checksums: every downloaded file's SHA-256 is compared with ``checksums.json`` beside this
script. An entry that is still ``null`` there (nobody has recorded it yet: this repository was
written offline) is filled in on the first successful download, and every later download must
match it; commit the updated ``checksums.json``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Dict, Optional

import pandas as pd

HERE = Path(__file__).resolve().parent
CHECKSUMS = HERE / "checksums.json"
OMIM_REVISION = "7569cdb7aaf4826a194bec62701cdac4199fed96"
SOURCES = {
    "hg38.fa.gz": {
        "url": "https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/hg38.fa.gz",
        "md5_list": "https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/md5sum.txt",
    },
    "omim_test.parquet": {
        "url": f"https://huggingface.co/datasets/songlab/omim/resolve/{OMIM_REVISION}/test.parquet",
    },
}
OMIM_COLUMNS = ("chrom", "pos", "ref", "alt", "label")


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_checksums() -> Dict[str, Optional[str]]:
    return json.loads(CHECKSUMS.read_text()) if CHECKSUMS.exists() else {}


def fetch(name: str, folder: Path) -> Path:
    """Download ``SOURCES[name]`` into ``folder`` (once) and verify it."""
    spec = SOURCES[name]
    target = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_suffix(target.suffix + ".part")
        print(f"downloading {spec['url']}", file=sys.stderr)
        with urllib.request.urlopen(spec["url"]) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(target)
    if "md5_list" in spec:
        with urllib.request.urlopen(spec["md5_list"]) as src:
            listing = src.read().decode()
        expected = {line.split()[1].lstrip("*"): line.split()[0] for line in listing.splitlines() if line.strip()}
        upstream = Path(spec["url"]).name
        if upstream not in expected or _digest(target, "md5") != expected[upstream]:
            raise ValueError(f"{target}: MD5 does not match UCSC's md5sum.txt entry for {upstream}; delete it and retry")
    sums = _load_checksums()
    sha = _digest(target, "sha256")
    if sums.get(name) is None:
        sums[name] = sha
        CHECKSUMS.write_text(json.dumps(sums, indent=2) + "\n")
        print(f"recorded SHA-256 of {name} in {CHECKSUMS}: commit it", file=sys.stderr)
    elif sums[name] != sha:
        raise ValueError(f"{target}: SHA-256 {sha} differs from the pinned {sums[name]}; delete it and retry")
    return target


def prepare_hg38(folder: Path) -> Path:
    """``folder/hg38.fa`` (decompressed once: UCSC's gzip is not bgzip)."""
    fasta = folder / "hg38.fa"
    if not fasta.exists():
        gz = fetch("hg38.fa.gz", folder)
        tmp = fasta.with_suffix(".fa.part")
        with gzip.open(gz, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 22)
        tmp.replace(fasta)
    return fasta


def load_omim(path: Path) -> pd.DataFrame:
    """Read GPN's OMIM table: ``chrom, pos, ref, alt`` plus an integer ``label`` (1 = OMIM)."""
    df = pd.read_parquet(path)
    missing = [c for c in OMIM_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)[:12]}")
    if df["label"].isna().any():
        raise ValueError(f"{path}: column 'label' has missing values")
    labels = df["label"].astype(str).str.lower().map({"true": 1, "false": 0, "1": 1, "0": 0})
    if labels.isna().any():
        raise ValueError(f"{path}: column 'label' must be boolean or 0/1")
    out = df.copy()
    out["chrom"] = out["chrom"].astype(str)
    out["label"] = labels.astype(int)
    return out


def evaluate(model, fasta: Path, variants: pd.DataFrame, out_dir: Path, n_boot: int = 1000,
             batch_size: int = 128, device: str = "cpu") -> dict:
    """Score with ``model`` (run folder or model), write scores + results.json/results.md."""
    from bioR2.dna import score_variants
    from bioR2.metrics import binary_metrics
    from bioR2.results import build_results, methods_table, write_results

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import time

    t0 = time.perf_counter()
    scored = score_variants(model, fasta, variants, batch_size=batch_size, skip_mismatch=True, device=device)
    ok = scored["status"] == "ok"
    scored.to_parquet(out_dir / "scores.parquet", index=False)
    y = scored.loc[ok, "label"].to_numpy()
    metrics = binary_metrics(y, -scored.loc[ok, "score"].to_numpy(), groups=scored.loc[ok, "chrom"].to_numpy(),
                             n_boot=n_boot)
    methods = {"model": {k: {"mean": v["value"], "sd": 0.0, "values": [v["value"]], "ci_low": v["ci_low"],
                             "ci_high": v["ci_high"]} for k, v in metrics.items()},
               "positive_fraction": {"auprc": {"mean": float(y.mean()), "sd": 0.0, "values": [float(y.mean())]}}}
    results = build_results("dna", "songlab/omim@" + OMIM_REVISION[:7], [0], methods, time.perf_counter() - t0,
                            scored=int(ok.sum()), skipped=int((~ok).sum()))
    md = "# OMIM regulatory vs gnomAD common (zero-shot, -LLR)\n\n" + methods_table(methods, ["auprc", "auroc"])
    write_results(out_dir, results, md)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="download folder")
    p.add_argument("--model", help="bioR2 DNA run folder to evaluate (omit to only download)")
    p.add_argument("--out", help="results folder (default DIR/results)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    folder = Path(args.dir)
    fasta = prepare_hg38(folder)
    omim = load_omim(fetch("omim_test.parquet", folder))
    print(f"hg38: {fasta}; OMIM: {len(omim)} variants, {int(omim.label.sum())} positives", file=sys.stderr)
    if args.model:
        res = evaluate(args.model, fasta, omim, Path(args.out or folder / "results"), device=args.device)
        print(json.dumps(res["methods"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
