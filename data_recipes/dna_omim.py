"""Real DNA benchmark for machines with a network: OMIM regulatory variants vs gnomAD common.

Fetches hg38 (UCSC) and GPN's ``songlab/omim`` variant set (Hugging Face dataset, pinned to a
git revision), then scores the variants zero-shot with a bioR2 model and reports AUPRC/AUROC
with bootstrap CIs — the same scoring path as ``bior2 score-variants``::

    python data_recipes/dna_omim.py --dir data/omim --model runs/dna_hg38 --out results/omim
    python data_recipes/dna_omim.py --dir data/omim --model org/bior2-dna   # a model on the Hub

Pinned sources (see ``SOURCES``) and what each download is checked against:

* hg38: ``hg38.fa.gz`` from UCSC goldenPath ``bigZips``, checked against the MD5 UCSC publishes
  beside it in ``md5sum.txt``. UCSC ships plain gzip, so it is recompressed once with bgzip
  (``Bio.bgzf``) into ``hg38.fa.bgz``, which pyfaidx indexes for random access without
  decompressing (about 0.9 GB on disk instead of 3.1 GB).
* ``songlab/omim`` at revision ``7569cdb7aaf4826a194bec62701cdac4199fed96`` (``test.parquet``,
  about 45 MB; columns ``chrom`` without the ``chr`` prefix, 1-based ``pos``, ``ref``, ``alt``,
  boolean ``label``: True = OMIM regulatory, False = gnomAD common), downloaded with
  ``huggingface_hub.hf_hub_download`` and checked against the SHA-256 the Hub lists for that LFS
  file at that revision (``HfApi.get_paths_info``).

``checksums.json`` beside this script pins the same digests in the repository; a value filled
in there wins over the published one (and needs no network to check). ``--pin`` writes the
published digests of a verified download into it. Nothing is ever trusted on first download.

Downloads resume: an interrupted run leaves ``NAME.part`` (UCSC) or the Hub's ``.incomplete``
file, and the next run continues from there; transient network errors are retried.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from _download import ChecksumError, download, file_digests, verify  # noqa: E402

CHECKSUMS = HERE / "checksums.json"
OMIM_REPO = "songlab/omim"
OMIM_REVISION = "7569cdb7aaf4826a194bec62701cdac4199fed96"
UCSC = "https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips"
SOURCES: Dict[str, Dict[str, Any]] = {
    "hg38.fa.gz": {"url": f"{UCSC}/hg38.fa.gz", "md5_list": f"{UCSC}/md5sum.txt"},
    "omim_test.parquet": {
        "repo": OMIM_REPO, "repo_type": "dataset", "revision": OMIM_REVISION, "path": "test.parquet",
        "url": f"https://huggingface.co/datasets/{OMIM_REPO}/resolve/{OMIM_REVISION}/test.parquet",
    },
}
HG38_BGZ = "hg38.fa.bgz"
OMIM_COLUMNS = ("chrom", "pos", "ref", "alt", "label")
DIGESTS = ("md5", "sha256", "git-blob-sha1")


# ---------------------------------------------------------------------------- pins
def load_pins() -> Dict[str, Dict[str, Any]]:
    """``checksums.json``: per file, the pinned digests (``null`` = not pinned yet)."""
    raw = json.loads(CHECKSUMS.read_text()) if CHECKSUMS.exists() else {}
    return {k: (v if isinstance(v, dict) else {"sha256": v}) for k, v in raw.items() if not k.startswith("_")}


def pinned(name: str) -> Dict[str, str]:
    """The digests of ``name`` pinned in ``checksums.json`` (only the filled ones)."""
    entry = load_pins().get(name, {})
    if name == "omim_test.parquet" and entry.get("revision") not in (None, OMIM_REVISION):
        raise ValueError(f"{CHECKSUMS}: {name} is pinned at revision {entry['revision']}, "
                         f"but this script reads {OMIM_REVISION}; update both together")
    return {k: str(v).lower() for k, v in entry.items() if k in DIGESTS and v}


def record_pins(name: str, digests: Dict[str, str]) -> None:
    """Write verified digests of ``name`` into ``checksums.json`` (``--pin``)."""
    raw = json.loads(CHECKSUMS.read_text()) if CHECKSUMS.exists() else {}
    entry = raw.get(name) if isinstance(raw.get(name), dict) else {}
    entry.update(digests)
    raw[name] = entry
    tmp = CHECKSUMS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(raw, indent=2) + "\n")
    os.replace(tmp, CHECKSUMS)
    print(f"pinned {name} in {CHECKSUMS}: commit it", file=sys.stderr)


# ---------------------------------------------------------------------------- published digests
def ucsc_md5(folder: Path, filename: str = "hg38.fa.gz") -> str:
    """The MD5 of ``filename`` in UCSC's ``md5sum.txt`` (fetched fresh every time: it is small)."""
    listing_path = folder / "hg38.md5sum.txt"
    if listing_path.exists():
        listing_path.unlink()
    download(SOURCES["hg38.fa.gz"]["md5_list"], listing_path)
    expected = {}
    for line in listing_path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2:
            expected[fields[1].lstrip("*")] = fields[0].lower()
    if filename not in expected:
        raise ValueError(f"{SOURCES['hg38.fa.gz']['md5_list']}: lists no {filename} "
                         f"(it lists {sorted(expected)[:6]}); the UCSC folder changed")
    return expected[filename]


def hf_published(repo: str, path: str, revision: str, repo_type: str = "dataset") -> Dict[str, str]:
    """What the Hub publishes for ``path`` at ``revision``: the LFS SHA-256 (or, for a file kept
    in git itself, its git blob id)."""
    from huggingface_hub import HfApi

    infos = [f for f in HfApi().get_paths_info(repo, [path], revision=revision, repo_type=repo_type)
             if getattr(f, "path", None) == path]
    if not infos or not hasattr(infos[0], "blob_id"):
        raise ValueError(f"{repo}@{revision[:7]}: has no file {path}")
    info = infos[0]
    if info.lfs is not None:
        return {"sha256": str(info.lfs.sha256).lower()}
    return {"git-blob-sha1": str(info.blob_id).lower()}


# ---------------------------------------------------------------------------- downloads
def _hf_download(spec: Dict[str, Any], local_dir: Path, retries: int = 5) -> Path:
    """``hf_hub_download`` of a pinned file (resumes its ``.incomplete`` file), with retries."""
    from huggingface_hub import errors, hf_hub_download

    final = (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError,
             errors.LocalEntryNotFoundError)
    for attempt in range(retries + 1):
        try:
            return Path(hf_hub_download(spec["repo"], spec["path"], repo_type=spec["repo_type"],
                                        revision=spec["revision"], local_dir=local_dir))
        except final:
            raise
        except (OSError, errors.HfHubHTTPError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if attempt == retries or (status is not None and 400 <= status < 500 and status != 429):
                raise
            wait = min(2.0 ** (attempt + 1), 60.0)
            print(f"{spec['repo']}/{spec['path']}: {type(exc).__name__}: {exc}; retry in {wait:.0f} s", file=sys.stderr)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _verified_sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def fetch(name: str, folder: Path, *, pin: bool = False, retries: int = 5) -> Path:
    """Download ``SOURCES[name]`` into ``folder/name`` (once, resuming) and verify it against
    the pinned digests of ``checksums.json`` when filled, else against the source's published ones."""
    spec = SOURCES[name]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    pins = pinned(name)
    sidecar = _verified_sidecar(target)
    if "repo" in spec:
        if target.exists() and not pins and sidecar.exists():
            recorded = json.loads(sidecar.read_text())
            expected, where = recorded["digests"], f"verified earlier against {recorded['source']}"
        elif pins:
            expected, where = pins, f"pinned in {CHECKSUMS.name}"
        else:
            expected = hf_published(spec["repo"], spec["path"], spec["revision"], spec["repo_type"])
            where = f"the Hub's listing of {spec['repo']}@{spec['revision'][:7]}/{spec['path']}"
        if not target.exists():
            got = _hf_download(spec, folder / ".hf", retries=retries)
            try:
                verify(got, expected, where, name=name)
            except ChecksumError as exc:
                got.unlink()
                raise ChecksumError(f"{exc}; the download was deleted. Rerun to fetch it again; if it differs "
                                    "again, the source changed since its checksum was published or pinned") from None
            os.replace(got, target)
        else:
            try:
                verify(target, expected, where)
            except ChecksumError as exc:
                target.unlink()
                raise ChecksumError(f"{exc}; the existing {target} was deleted: rerun to download it again") from None
    else:
        if pins:
            expected, where = pins, f"pinned in {CHECKSUMS.name}"
        else:
            expected, where = {"md5": ucsc_md5(folder, Path(spec["url"]).name)}, "UCSC md5sum.txt"
        download(spec["url"], target, expected=expected, source=where, retries=retries)
    digests = dict(expected)
    if pin and not pins:
        digests.update(file_digests(target, ["sha256"]))
        record_pins(name, digests)
    sidecar.write_text(json.dumps({"source": where, "digests": digests}, indent=2) + "\n")
    return target


def bgzip_fasta(src: Path, dest: Path) -> Path:
    """Recompress a gzip FASTA with BGZF (kept compressed, indexable by pyfaidx); a file that is
    already BGZF is moved as is."""
    import gzip

    from Bio import bgzf

    with open(src, "rb") as fh:
        head = fh.read(18)
    tmp = dest.with_name(dest.name + ".tmp")
    if head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC":
        shutil.copyfile(src, tmp)
    else:
        writer = bgzf.BgzfWriter(str(tmp), "wb")
        try:
            with gzip.open(src, "rb") as reader:
                for block in iter(lambda: reader.read(1 << 22), b""):
                    writer.write(block)
        finally:
            writer.close()
    os.replace(tmp, dest)
    return dest


def prepare_hg38(folder: Path, *, keep_gzip: bool = False, pin: bool = False, retries: int = 5) -> Path:
    """``folder/hg38.fa.bgz``: UCSC's hg38, verified, recompressed once with bgzip."""
    folder = Path(folder)
    genome = folder / HG38_BGZ
    if genome.exists():
        return genome
    gz = fetch("hg38.fa.gz", folder, pin=pin, retries=retries)
    print(f"recompressing {gz.name} with bgzip -> {genome.name}", file=sys.stderr)
    bgzip_fasta(gz, genome)
    provenance = json.loads(_verified_sidecar(gz).read_text())
    _verified_sidecar(genome).write_text(json.dumps({
        "from": SOURCES["hg38.fa.gz"]["url"], "download_verified_against": provenance["source"],
        "download_digests": provenance["digests"], "recompressed": "bgzip (Bio.bgzf)"}, indent=2) + "\n")
    if not keep_gzip:
        gz.unlink()
        _verified_sidecar(gz).unlink()
    return genome


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
    p.add_argument("--model", help="bioR2 DNA run folder or Hub id ORG/NAME to evaluate (omit to only download)")
    p.add_argument("--out", help="results folder (default DIR/results)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--pin", action="store_true",
                   help=f"write the verified published digests into {CHECKSUMS.name} (then commit it)")
    p.add_argument("--keep-gzip", action="store_true", help="keep UCSC's plain-gzip hg38.fa.gz after bgzipping")
    p.add_argument("--retries", type=int, default=5, help="retries per download on network errors")
    args = p.parse_args(argv)
    folder = Path(args.dir)
    try:
        fasta = prepare_hg38(folder, keep_gzip=args.keep_gzip, pin=args.pin, retries=args.retries)
        omim = load_omim(fetch("omim_test.parquet", folder, pin=args.pin, retries=args.retries))
    except (ValueError, OSError) as exc:
        print(f"dna_omim: error: {exc}", file=sys.stderr)
        return 1
    print(f"hg38: {fasta}; OMIM: {len(omim)} variants, {int(omim.label.sum())} positives", file=sys.stderr)
    if args.model:
        res = evaluate(args.model, fasta, omim, Path(args.out or folder / "results"), device=args.device)
        print(json.dumps(res["methods"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
