"""data_recipes/dna_omim.py parses GPN's OMIM schema (local sample, no network)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


RECIPE = Path(__file__).resolve().parent.parent / "data_recipes" / "dna_omim.py"


def load_recipe():
    spec = importlib.util.spec_from_file_location("dna_omim", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_omim_schema_sample_parses_and_scores(tmp_path):
    recipe = load_recipe()
    rng = np.random.default_rng(0)
    seqs = {f"chr{c}": "".join(rng.choice(list("ACGT"), 400)) for c in ("1", "2", "X")}
    fasta = tmp_path / "hg38_sample.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    rows = []
    for i, (c, p) in enumerate([("1", 5), ("1", 200), ("2", 50), ("2", 399), ("X", 100), ("X", 300)]):
        ref = seqs[f"chr{c}"][p - 1]
        rows.append({"chrom": c, "pos": p, "ref": ref, "alt": "A" if ref != "A" else "G", "label": i % 2 == 0,
                     "consequence": "upstream_gene"})
    pd.DataFrame(rows).to_parquet(tmp_path / "test.parquet")  # GPN's schema: chrom w/o 'chr', bool label
    omim = recipe.load_omim(tmp_path / "test.parquet")
    assert omim["label"].tolist() == [1, 0, 1, 0, 1, 0]
    from bioR2.dna import DNAMaskedLM

    model = DNAMaskedLM(hidden=16, layers=2, window=64)
    res = recipe.evaluate(model, fasta, omim, tmp_path / "out", n_boot=20)
    assert res["scored"] == 6 and res["skipped"] == 0
    assert 0 <= res["methods"]["model"]["auprc"]["mean"] <= 1
    assert json.loads((tmp_path / "out" / "results.json").read_text())["dataset"].startswith("songlab/omim@")
    bad = pd.DataFrame(rows).drop(columns=["label"])
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"bad.parquet: missing column\(s\) \['label'\]"):
        recipe.load_omim(tmp_path / "bad.parquet")


def test_recipe_pins_revision_and_checksum_file():
    recipe = load_recipe()
    assert len(recipe.OMIM_REVISION) == 40
    assert recipe.OMIM_REVISION in recipe.SOURCES["omim_test.parquet"]["url"]
    assert recipe.SOURCES["omim_test.parquet"]["revision"] == recipe.OMIM_REVISION
    sums = json.loads(recipe.CHECKSUMS.read_text())
    assert set(sums) == set(recipe.SOURCES)
    assert sums["omim_test.parquet"]["revision"] == recipe.OMIM_REVISION
    assert set(sums["hg38.fa.gz"]) >= {"md5", "sha256"} and "sha256" in sums["omim_test.parquet"]


# ---------------------------------------------------------------------------- downloads (no network)
_rng = np.random.default_rng(7)
GENOME = {c: "".join(_rng.choice(list("ACGT"), n)) for c, n in (("chr1", 800), ("chr2", 630), ("chrX", 350))}
GENOME["chr1"] = GENOME["chr1"][:600] + "NNNN" + GENOME["chr1"][604:]


@pytest.fixture
def fake_sources(tmp_path, monkeypatch):
    """UCSC and the Hub served from tmp_path: file:// URLs, a fake hf_hub_download and
    get_paths_info; checksums.json is a temporary copy."""
    import gzip
    import hashlib

    recipe = load_recipe()
    remote = tmp_path / "remote"
    remote.mkdir()
    fasta = "".join(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n"
                    for name, seq in GENOME.items())
    gz = remote / "hg38.fa.gz"
    gz.write_bytes(gzip.compress(fasta.encode()))  # plain gzip, like UCSC's
    (remote / "md5sum.txt").write_text(f"{hashlib.md5(gz.read_bytes()).hexdigest()}  hg38.fa.gz\n"
                                       "0123456789abcdef0123456789abcdef  hg38.2bit\n")
    rows = []
    for i, (c, p) in enumerate([("1", 5), ("1", 200), ("2", 50), ("2", 399), ("X", 100), ("X", 300)]):
        ref = GENOME[f"chr{c}"][p - 1]
        rows.append({"chrom": c, "pos": p, "ref": ref, "alt": "A" if ref != "A" else "G", "label": i % 2 == 0})
    pd.DataFrame(rows).to_parquet(remote / "test.parquet")
    monkeypatch.setitem(recipe.SOURCES, "hg38.fa.gz",
                        {"url": gz.as_uri(), "md5_list": (remote / "md5sum.txt").as_uri()})
    pins = tmp_path / "checksums.json"
    pins.write_text(recipe.CHECKSUMS.read_text())
    monkeypatch.setattr(recipe, "CHECKSUMS", pins)

    import huggingface_hub
    from huggingface_hub.hf_api import RepoFile

    hub = {"calls": [], "sha256": hashlib.sha256((remote / "test.parquet").read_bytes()).hexdigest(),
           "listing_calls": 0}

    def fake_hf_hub_download(repo_id, filename, *, repo_type=None, revision=None, local_dir=None, **kw):
        hub["calls"].append((repo_id, filename, repo_type, revision))
        dest = Path(local_dir) / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((remote / filename).read_bytes())
        return str(dest)

    def fake_get_paths_info(api, repo_id, paths, *, revision=None, repo_type=None, **kw):
        hub["listing_calls"] += 1
        assert (repo_id, revision, repo_type) == ("songlab/omim", recipe.OMIM_REVISION, "dataset")
        size = (remote / paths[0]).stat().st_size
        return [RepoFile(path=paths[0], size=size, oid="f" * 40,
                         lfs={"size": size, "oid": hub["sha256"], "pointerSize": 134})]

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hf_hub_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", fake_get_paths_info)
    import _download  # the recipes' downloader, importable once the recipe is loaded

    monkeypatch.setattr(_download, "_sleep", lambda s: None)
    return recipe, remote, hub, _download


def test_first_run_downloads_verifies_bgzips_and_scores(tmp_path, fake_sources, capsys):
    from bioR2.dna import DNAMaskedLM
    from bioR2.dna.data import Genome, is_bgzip
    from bioR2.train import save_model

    recipe, remote, hub, _ = fake_sources
    save_model(tmp_path / "model", DNAMaskedLM(hidden=8, layers=1, window=32))
    folder = tmp_path / "omim"
    assert recipe.main(["--dir", str(folder), "--model", str(tmp_path / "model")]) == 0
    genome = folder / "hg38.fa.bgz"
    assert is_bgzip(genome) and not (folder / "hg38.fa.gz").exists()  # kept compressed, as bgzip
    g = Genome(genome)  # pyfaidx indexes the bgzip file in place
    assert str(g.fasta["chr1"][598:606]) == GENOME["chr1"][598:606] and "NNNN" in GENOME["chr1"][598:606]
    assert str(g.fasta["chrX"][:]) == GENOME["chrX"]
    provenance = json.loads((folder / "hg38.fa.bgz.verified.json").read_text())
    assert (provenance["download_verified_against"] == "UCSC md5sum.txt"
            and len(provenance["download_digests"]["md5"]) == 32)
    assert hub["calls"] == [("songlab/omim", "test.parquet", "dataset", recipe.OMIM_REVISION)]
    assert hub["listing_calls"] == 1  # checked against the Hub's LFS sha256 at the pinned revision
    assert (folder / "omim_test.parquet").exists()
    results = json.loads((folder / "results" / "results.json").read_text())
    assert results["scored"] == 6
    # a second run reuses both files: no download, no listing (the verified digest is recorded)
    assert recipe.main(["--dir", str(folder)]) == 0
    assert len(hub["calls"]) == 1 and hub["listing_calls"] == 1


def test_checksum_mismatch_is_clear_and_leaves_no_file(tmp_path, fake_sources):
    recipe, remote, hub, _ = fake_sources
    folder = tmp_path / "dl"
    (remote / "md5sum.txt").write_text("00000000000000000000000000000000  hg38.fa.gz\n")
    with pytest.raises(recipe.ChecksumError, match=r"hg38.fa.gz: md5 [0-9a-f]{32} does not match 0{32} "
                                                   r"\(UCSC md5sum.txt\); the download was deleted"):
        recipe.prepare_hg38(folder)
    assert not (folder / "hg38.fa.gz").exists() and not (folder / "hg38.fa.gz.part").exists()
    assert not (folder / "hg38.fa.bgz").exists()
    assert recipe.main(["--dir", str(folder)]) == 1  # the script: one error line, exit 1
    # the Hub file: the published LFS sha256 differs -> deleted, not moved into place
    hub["sha256"] = "0" * 64
    with pytest.raises(recipe.ChecksumError, match=r"sha256 .* does not match 0{64} \(the Hub's listing of "
                                                   r"songlab/omim@7569cdb/test.parquet\)"):
        recipe.fetch("omim_test.parquet", folder)
    assert not (folder / "omim_test.parquet").exists() and not list((folder / ".hf").glob("*.parquet"))


def test_pinned_checksums_win_over_published_ones(tmp_path, fake_sources):
    import hashlib

    recipe, remote, hub, _ = fake_sources
    folder = tmp_path / "dl"
    gz_md5 = hashlib.md5((remote / "hg38.fa.gz").read_bytes()).hexdigest()
    # pinned: md5sum.txt is not even read (its URL is gone) and the Hub is not asked
    recipe.SOURCES["hg38.fa.gz"]["md5_list"] = (remote / "gone.txt").as_uri()
    recipe.record_pins("hg38.fa.gz", {"md5": gz_md5})
    recipe.record_pins("omim_test.parquet", {"sha256": hub["sha256"]})
    recipe.fetch("hg38.fa.gz", folder)
    recipe.fetch("omim_test.parquet", folder)
    assert hub["listing_calls"] == 0
    # a wrong pin fails even though the published digest would match
    recipe.record_pins("omim_test.parquet", {"sha256": "1" * 64})
    (folder / "omim_test.parquet").unlink()
    with pytest.raises(recipe.ChecksumError, match="pinned in checksums.json"):
        recipe.fetch("omim_test.parquet", folder)
    # --pin records the published digests of a verified download
    pins = json.loads(recipe.CHECKSUMS.read_text())
    pins["omim_test.parquet"]["sha256"] = None
    recipe.CHECKSUMS.write_text(json.dumps(pins))
    recipe.fetch("omim_test.parquet", folder, pin=True)
    assert json.loads(recipe.CHECKSUMS.read_text())["omim_test.parquet"]["sha256"] == hub["sha256"]
    pins = json.loads(recipe.CHECKSUMS.read_text())
    pins["omim_test.parquet"]["revision"] = "0" * 40
    recipe.CHECKSUMS.write_text(json.dumps(pins))
    with pytest.raises(ValueError, match="pinned at revision 0{40}"):
        recipe.fetch("omim_test.parquet", folder)


def test_partial_download_resumes_and_network_errors_are_retried(tmp_path, fake_sources, capsys):
    recipe, remote, hub, dl = fake_sources
    data = (remote / "hg38.fa.gz").read_bytes()
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "hg38.fa.gz.part").write_bytes(data[:100])  # left by an interrupted run
    starts = []
    real_open = dl._open_range

    class Flaky:
        """Serves 50 bytes, then drops the connection (once)."""

        def __init__(self, inner):
            self.inner, self.sent = inner, False

        def read(self, n):
            if self.sent:
                raise ConnectionResetError("connection reset by peer")
            self.sent = True
            return self.inner.read(50)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

    def recording_open(url, start, timeout):
        stream, total, resumed = real_open(url, start, timeout)
        starts.append(start)
        if url.endswith("hg38.fa.gz") and len(starts) == 2:  # the first open is md5sum.txt
            return Flaky(stream), total, resumed
        return stream, total, resumed

    dl._open_range = recording_open
    try:
        path = recipe.fetch("hg38.fa.gz", folder)
    finally:
        dl._open_range = real_open
    assert path.read_bytes() == data and not (folder / "hg38.fa.gz.part").exists()
    assert starts == [0, 100, 150]  # md5sum.txt, resume at the partial's end, resume after the drop
    err = capsys.readouterr().err
    assert "resuming hg38.fa.gz at 100 bytes" in err and "retry 1/5" in err


def test_retries_run_out_and_the_partial_is_kept(tmp_path, fake_sources):
    recipe, remote, hub, dl = fake_sources
    import hashlib
    import io

    target = tmp_path / "dl" / "x.bin"
    src = remote / "blob.bin"
    src.write_bytes(b"0123456789" * 10)

    class Dropping(io.BytesIO):
        def read(self, n=-1):  # 7 bytes per connection, then the connection drops
            if self.tell() % 7 == 0 and getattr(self, "served", False):
                raise TimeoutError("read timed out")
            self.served = True
            return super().read(7)

    def dropping_open(url, start, timeout):
        stream = Dropping(src.read_bytes())
        stream.seek(start)
        return stream, src.stat().st_size, start > 0

    real_open = dl._open_range
    dl._open_range = dropping_open
    try:
        with pytest.raises(dl.DownloadError, match="failed after 2 retries .*TimeoutError.*rerun to resume"):
            dl.download(src.as_uri(), target, retries=2)
    finally:
        dl._open_range = real_open
    assert (target.parent / "x.bin.part").read_bytes() == src.read_bytes()[:21]  # 3 connections x 7 bytes kept
    assert not target.exists()
    # a partial whose bytes are wrong is caught by the checksum and removed
    (target.parent / "x.bin.part").write_bytes(b"garbage")

    with pytest.raises(dl.ChecksumError, match="the download was deleted"):
        dl.download(src.as_uri(), target, expected={"sha256": hashlib.sha256(src.read_bytes()).hexdigest()})
    assert not (target.parent / "x.bin.part").exists() and not target.exists()
    dl.download(src.as_uri(), target, expected={"sha256": hashlib.sha256(src.read_bytes()).hexdigest()})
    assert target.read_bytes() == src.read_bytes()


def test_hub_download_is_retried_on_network_errors(tmp_path, fake_sources, monkeypatch):
    import huggingface_hub

    recipe, remote, hub, _ = fake_sources
    real = huggingface_hub.hf_hub_download
    failures = []

    def flaky(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise ConnectionError("connection reset")
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", flaky)
    monkeypatch.setattr(recipe.time, "sleep", lambda s: None)
    assert recipe.fetch("omim_test.parquet", tmp_path / "dl").exists() and failures == [1]
