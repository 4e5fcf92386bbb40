"""bioR2.hub: push a run folder (to a fake, local Hub) and load it back by repo id, offline.

No test touches the network: uploads go through a monkeypatched ``HfApi`` that writes commits
into a temporary folder laid out like the Hugging Face cache (``models--org--name/snapshots/
<commit>/`` + ``refs/<branch>``), and ``snapshot_download`` reads that cache with
``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from toy import ToyAutoencoder

from bioR2 import load_model
from bioR2.train import CheckpointError, save_checkpoint, save_model

huggingface_hub = pytest.importorskip("huggingface_hub")

from bioR2 import hub  # noqa: E402



class FakeHub:
    """Stands in for the Hub: every upload becomes a commit in a local HF-cache layout."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.created, self.branches, self.uploads = [], [], []

    def repo_folder(self, repo_id: str) -> Path:
        return self.cache / ("models--" + repo_id.replace("/", "--"))

    def install(self, monkeypatch):
        fake = self

        def create_repo(api, repo_id, *, private=None, exist_ok=False, repo_type=None, **kw):
            fake.created.append({"repo_id": repo_id, "private": private, "token": api.token})
            return f"https://huggingface.co/{repo_id}"

        def create_branch(api, repo_id, *, branch, exist_ok=False, repo_type=None, **kw):
            fake.branches.append((repo_id, branch))

        def upload_folder(api, *, repo_id, folder_path, allow_patterns=None, revision=None, commit_message=None,
                          repo_type=None, **kw):
            names = sorted(p.name for p in Path(folder_path).iterdir() if p.is_file()
                           and (allow_patterns is None or p.name in allow_patterns))
            fake.uploads.append({"repo_id": repo_id, "files": names, "revision": revision,
                                 "message": commit_message})
            repo = fake.repo_folder(repo_id)
            branch = revision or "main"
            ref = repo / "refs" / branch
            parent = repo / "snapshots" / ref.read_text() if ref.exists() else None
            digest = hashlib.sha1()
            for name in names:
                digest.update(name.encode() + (Path(folder_path) / name).read_bytes())
            commit = digest.hexdigest()
            snap = repo / "snapshots" / commit
            if parent is not None and parent.exists():
                shutil.copytree(parent, snap, dirs_exist_ok=True)
            snap.mkdir(parents=True, exist_ok=True)
            for name in names:
                shutil.copyfile(Path(folder_path) / name, snap / name)
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(commit)
            return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{commit}"})()

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
        monkeypatch.setattr(huggingface_hub.HfApi, "create_branch", create_branch)
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
        return self


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """HF_HUB_CACHE=tmp, HF_HUB_OFFLINE=1 (also in huggingface_hub, which read the env at import)."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def toy_run(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = ToyAutoencoder(n_features=6, hidden=8)
    save_model(folder, model)
    (folder / "train_config.json").write_text(json.dumps({"steps": 40, "batch_size": 8, "lr": 1e-3,
                                                         "mask_ratio": "0.1-0.5", "seed": seed}))
    (folder / "log.jsonl").write_text(
        json.dumps({"step": 39, "loss": 0.75}) + "\n" + json.dumps({"step": 40, "loss": 0.5}) + "\n"
        + json.dumps({"step": 40, "val_loss": 0.625, "val_mask_ratio": 0.3}) + "\n" + '{"step": 4')  # cut line
    save_checkpoint(folder, 40, model, {"step": 40})
    return folder


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------- repo ids
def test_repo_ids_and_local_paths(tmp_path, monkeypatch):
    assert hub.parse_repo_id("org/name") == ("org/name", None)
    assert hub.parse_repo_id("my-org/bior2.dna_v1@v1.0") == ("my-org/bior2.dna_v1", "v1.0")
    for bad in ("name", "a/b/c", "/abs/path", "./rel", "../up/x", "org/", "org/na me", "~/x", "org/name-", "org-/name",
                "org/a--b"):
        assert not hub.is_repo_id(bad), bad
        with pytest.raises(ValueError, match="not a Hugging Face Hub repo id"):
            hub.parse_repo_id(bad)
    assert not hub.is_repo_id(Path("org/name"))  # a Path always means a local folder
    # an existing local folder wins over the Hub, even when its name looks like an id
    monkeypatch.chdir(tmp_path)
    toy_run(tmp_path / "org" / "name")
    assert hub.resolve_model_path("org/name") == Path("org/name")
    assert isinstance(load_model("org/name"), ToyAutoencoder)
    # a non-id that does not exist comes back unchanged, and load_model says "no such folder"
    assert hub.resolve_model_path("no/such/folder") == Path("no/such/folder")
    with pytest.raises(CheckpointError, match="no such model folder"):
        load_model("no/such/folder")


def test_resolve_passes_revision_and_patterns(tmp_path, monkeypatch):
    seen = {}
    snap = toy_run(tmp_path / "snap")

    def fake_snapshot_download(repo_id, **kw):
        seen.update(kw, repo_id=repo_id)
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert hub.resolve_model_path("org/model@v2") == snap
    assert seen["repo_id"] == "org/model" and seen["revision"] == "v2" and seen["local_files_only"] is False
    assert "*.safetensors" in seen["allow_patterns"] and "*.pt" not in seen["allow_patterns"]
    assert seen["library_name"] == "bior2"
    with pytest.raises(ValueError, match="two revisions"):
        hub.resolve_model_path("org/model@v2", revision="v3")


# ---------------------------------------------------------------------------- push + load
def test_push_then_load_by_repo_id_offline(tmp_path, monkeypatch, offline_cache):
    fake = FakeHub(offline_cache).install(monkeypatch)
    run = toy_run(tmp_path / "run")
    result = hub.push_to_hub(run, "lab/toy-r2mae", private=True, token="hf_fake")
    assert fake.created == [{"repo_id": "lab/toy-r2mae", "private": True, "token": "hf_fake"}]
    upload = fake.uploads[0]
    # the model, its provenance and the card; never checkpoints, training state or (by default) the log
    assert upload["files"] == sorted(["config.json", "model.safetensors", "manifest.json", "train_config.json",
                                      "README.md"])
    assert result.url.startswith("https://huggingface.co/lab/toy-r2mae/commit/")
    assert result.card == run / "README.md" and result.card.exists()

    loaded = load_model("lab/toy-r2mae")  # resolved by snapshot_download from the (offline) cache
    assert isinstance(loaded, ToyAutoencoder) and same_weights(loaded, load_model(run))
    snapshot = hub.resolve_model_path("lab/toy-r2mae")
    assert offline_cache in snapshot.parents and (snapshot / "README.md").exists()
    assert isinstance(ToyAutoencoder.from_pretrained(snapshot), ToyAutoencoder)
    # the trainer's layer reads folders only; a Hub id there names the function that downloads it
    with pytest.raises(CheckpointError, match="bioR2.load_model"):
        ToyAutoencoder.from_pretrained("lab/toy-r2mae")

    # another run pushed to a branch: org/name@branch loads it, org/name still loads main
    run2 = toy_run(tmp_path / "run2", seed=1)
    hub.push_to_hub(run2, "lab/toy-r2mae", revision="v1")
    assert fake.branches == [("lab/toy-r2mae", "v1")] and fake.uploads[-1]["revision"] == "v1"
    assert same_weights(load_model("lab/toy-r2mae@v1"), load_model(run2))
    assert same_weights(load_model("lab/toy-r2mae"), load_model(run))


def test_offline_and_missing_repos_fail_with_one_clear_line(tmp_path, offline_cache):
    with pytest.raises(CheckpointError, match=r"lab/absent: no such local folder.*not in the local cache.*"
                                              r"HF_HUB_OFFLINE=1"):
        load_model("lab/absent")
    # a cached repo that is not a bioR2 model
    snap = offline_cache / "models--lab--bert" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap / "vocab.json").write_text("{}")
    (offline_cache / "models--lab--bert" / "refs").mkdir()
    (offline_cache / "models--lab--bert" / "refs" / "main").write_text("a" * 40)
    with pytest.raises(hub.HubError, match="has no config.json; it is not a bioR2 model"):
        load_model("lab/bert")
    with pytest.raises(CheckpointError, match="no revision|not in the local cache"):
        load_model("lab/bert@nope")


def test_dna_scoring_loader_accepts_a_repo_id(tmp_path, monkeypatch, offline_cache):
    from bioR2.dna import DNAMaskedLM
    from bioR2.dna.variants import load_model_for_scoring

    FakeHub(offline_cache).install(monkeypatch)
    save_model(tmp_path / "dna", DNAMaskedLM(hidden=8, layers=1, window=32))
    hub.push_to_hub(tmp_path / "dna", "lab/dna-tiny")
    assert isinstance(load_model_for_scoring("lab/dna-tiny"), DNAMaskedLM)


def test_push_refuses_broken_or_unfinished_runs(tmp_path, monkeypatch, offline_cache):
    fake = FakeHub(offline_cache).install(monkeypatch)
    run = toy_run(tmp_path / "run")
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        hub.push_to_hub(run, "lab/toy")
    assert fake.uploads == [] and fake.created == []
    weights.unlink()
    with pytest.raises(CheckpointError, match=r"no final model yet, its latest checkpoint is .*step-00000040"):
        hub.push_to_hub(run, "lab/toy")
    with pytest.raises(ValueError, match="not a Hugging Face Hub repo id"):
        hub.push_to_hub(run / "checkpoints" / "step-00000040", "not-an-id")
    with pytest.raises(ValueError, match="give repo_id"):
        hub.push_to_hub(run / "checkpoints" / "step-00000040")
    # a checkpoint folder can be pushed; its training state is not uploaded
    hub.push_to_hub(run / "checkpoints" / "step-00000040", "lab/toy")
    assert "train_state.pt" not in fake.uploads[-1]["files"] and "model.safetensors" in fake.uploads[-1]["files"]


# ---------------------------------------------------------------------------- model card
def dna_run(folder: Path) -> Path:
    from bioR2.dna import DNAMaskedLM

    save_model(folder, DNAMaskedLM(hidden=8, layers=1, window=32))
    (folder / "data.json").write_text(json.dumps({
        "domain": "dna", "source": "data/hg38.fa.bgz", "window": 32, "n_train_windows": 12000,
        "data": {"fasta": "data/hg38.fa.bgz", "contigs": ["chr1", "chr2"], "stride": 16}}))
    (folder / "run_config.yaml").write_text(yaml.safe_dump({
        "domain": "dna", "data": {"source": "data/hg38.fa.bgz", "window": 32}, "model": {"hidden": 8},
        "train": {"steps": 600, "mask_ratio": "0.05-0.3"}}))
    (folder / "train_config.json").write_text(json.dumps({"steps": 600, "batch_size": 64, "lr": 0.001,
                                                         "mask_ratio": "0.05-0.3", "precision": "bf16",
                                                         "seed": 3}))
    (folder / "log.jsonl").write_text(json.dumps({"step": 600, "loss": 1.2345}) + "\n"
                                      + json.dumps({"step": 600, "val_loss": 1.3021, "val_mask_ratio": 0.175}) + "\n")
    (folder / "probe.json").write_text(json.dumps({"accuracy": 0.8125, "macro_f1": 0.79, "n_train": 800,
                                                   "n_test": 200, "n_features": 8}))
    (folder / "results.json").write_text(json.dumps({
        "benchmark": "dna", "dataset": "songlab/omim@7569cdb", "seeds": [0],
        "methods": {"model": {"auprc": {"mean": 0.0412, "sd": 0.0, "values": [0.0412]},
                              "auroc": {"mean": 0.6123, "sd": 0.0, "values": [0.6123]}}}}))
    (folder / "results.md").write_text("# OMIM\n")
    return folder


def test_model_card_sections_and_local_dir(tmp_path):
    run = dna_run(tmp_path / "run")
    out = tmp_path / "upload"
    result = hub.push_to_hub(run, "lab/bior2-dna", local_dir=out, license="cc-by-4.0")
    expected = ["config.json", "model.safetensors", "manifest.json", "train_config.json", "run_config.yaml",
                "data.json", "probe.json", "results.json", "results.md", "README.md"]
    assert result.files == expected and result.url is None
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)  # exactly what would be uploaded
    assert isinstance(load_model(out), torch.nn.Module)  # the upload is a loadable model folder
    card = (out / "README.md").read_text()
    assert card == (run / "README.md").read_text()
    assert card.startswith("---\n")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "bior2" and front["license"] == "cc-by-4.0"
    assert {"r2mae", "dna", "bior2"} <= set(front["tags"])
    assert front["pipeline_tag"] == "fill-mask" and front["datasets"] == ["hg38.fa.bgz"]
    assert front["model-index"][0]["results"][0]["metrics"][0]["value"] == 1.3021  # the validation loss
    for section in ("# lab/bior2-dna: an R²MAE DNA language model", "## Model", "## Training data", "## Training",
                    "## Evaluation", "## How to use", "## Intended use", "## Limitations"):
        assert f"\n{section}\n" in card, section
    assert "bioR2.dna.model:DNAMaskedLM" in card and "- domain: dna" in card
    assert "data/hg38.fa.bgz" in card and "n_train_windows: 12,000" in card  # data + provenance
    assert "[0.05, 0.3]" in card and "--mask-ratio 0.05-0.3" in card          # masking range
    assert "- steps: 600" in card and "- precision: bf16" in card
    assert "final training loss: 1.2345 (step 600)" in card and "validation loss: 1.3021" in card
    assert "- accuracy: 0.8125" in card                                     # probe.json
    assert "songlab/omim@7569cdb" in card and "0.041 ± 0.000 (n=1)" in card  # results.json table
    assert 'load_model("lab/bior2-dna")' in card and "bior2 score-variants --model lab/bior2-dna" in card
    assert "not for clinical use" in card.lower()
    # --keep-card: a hand-edited card survives a push
    (run / "README.md").write_text("---\nlibrary_name: bior2\n---\n# edited\n")
    hub.push_to_hub(run, "lab/bior2-dna", local_dir=out, write_card=False, include_log=True, overwrite=True)
    assert (out / "README.md").read_text().endswith("# edited\n") and (out / "log.jsonl").exists()
    with pytest.raises(ValueError, match="is the run folder itself"):
        hub.push_to_hub(run, "lab/x", local_dir=run)


def test_write_model_card_for_a_bare_model_folder(tmp_path):
    save_model(tmp_path / "m", ToyAutoencoder(n_features=4, hidden=4))
    path = hub.write_model_card(tmp_path / "m")
    assert path == tmp_path / "m" / "README.md"
    card = path.read_text()
    assert "## Training data" in card and "Not recorded in the run folder" in card
    assert "no benchmark" in card and "ORG/NAME" in card
    with pytest.raises(CheckpointError, match="not found"):
        hub.write_model_card(tmp_path / "empty")


# ---------------------------------------------------------------------------- CLI
def test_push_cli_hook(tmp_path, capsys):
    from bioR2 import cli, hub_cli

    assert ("push", None, "bioR2.hub_cli", "push") == cli.HOOKS[-1][:4] and "push" in cli.COMMAND_HELP
    parser = argparse.ArgumentParser(prog="bior2 push")
    hub_cli.add_push_arguments(parser)
    run = toy_run(tmp_path / "run")
    args = parser.parse_args(["--model", str(run), "--local-dir", str(tmp_path / "up"), "--repo", "lab/toy"])
    assert hub_cli.run_push(args) == 0
    assert "nothing uploaded" in capsys.readouterr().err and (tmp_path / "up" / "README.md").exists()
    with pytest.raises(ValueError, match="give --repo"):
        hub_cli.run_push(parser.parse_args(["--model", str(run)]))
    cli.build_parser()  # the whole parser builds (a broken domain CLI fails here, not skips)
    with pytest.raises(SystemExit):
        cli.main(["push", "--help"])
    assert "--local-dir" in capsys.readouterr().out
    assert cli.main(["push", "--model", str(tmp_path / "missing"), "--repo", "lab/toy"]) == 1
    assert "no such run folder" in capsys.readouterr().err
    assert cli.main(["push", "--model", str(run), "--repo", "lab/toy", "--local-dir", str(tmp_path / "up2")]) == 0
    assert (tmp_path / "up2" / "model.safetensors").exists()


def test_push_offline_says_so(tmp_path, offline_cache):
    with pytest.raises(hub.HubError, match="HF_HUB_OFFLINE=1 is set; unset it to upload"):
        hub.push_to_hub(toy_run(tmp_path / "run"), "lab/toy")
