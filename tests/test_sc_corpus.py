"""Corpus pretraining: several files with different genes, one vocabulary, unobserved genes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from sc_helpers import make_counts


def _three_files(tmp_path):
    """a: G0..G39; b: lacks G0..G4; c: G0..G34 keyed by Ensembl-like ids, symbols in feature_name."""
    a = make_counts(90, 40, seed=0)
    b = make_counts(70, 40, seed=1)[:, 5:].copy()
    c = make_counts(60, 40, seed=2)[:, :35].copy()
    c.var["feature_name"] = list(c.var_names)
    c.var_names = [f"ENSG{j:05d}" for j in range(c.n_vars)]
    paths = []
    for name, ad in (("a", a), ("b", b), ("c", c)):
        p = tmp_path / f"{name}.h5ad"
        ad.write_h5ad(p)
        paths.append(p)
    return paths


def _table(tmp_path, rows):
    p = tmp_path / "corpus.csv"
    pd.DataFrame(rows, columns=["path", "dataset", "layer", "gene_key", "weight"]).to_csv(p, index=False)
    return p


def _pretrain(source, out, **kw):
    import bioR2.sc

    return bioR2.sc.pretrain(source, out, preset="sc-tiny", steps=kw.pop("steps", 3), **kw)


def test_corpus_table_union_vocab_overlap_and_dataset_batches(tmp_path):
    a, b, c = _three_files(tmp_path)
    table = _table(tmp_path, [["a.h5ad", "A", "", "", ""], ["b.h5ad", "B", "", "", "2"],
                              ["c.h5ad", "C", "", "feature_name", ""]])
    result = _pretrain(table, tmp_path / "run", vocab="union", batch_key="dataset")
    model = result.model
    assert sorted(model.genes) == sorted(f"G{j}" for j in range(40))  # Ensembl-keyed file met by symbol
    assert model.batch_categories == ["A", "B", "C"]  # the decoder conditions on the dataset
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    overlap = {r["dataset"]: r for r in info["gene_overlap"]}
    assert overlap["A"]["n_vocab_measured"] == 40 and overlap["B"]["n_vocab_measured"] == 35
    assert overlap["C"]["gene_key"] == "feature_name" and overlap["C"]["vocab_overlap"] == 0.875
    assert overlap["B"]["weight"] == 2.0
    assert info["epoch_cells"] == 90 + 2 * 70 + 60
    from bioR2.train import load_model

    assert load_model(tmp_path / "run").genes == model.genes  # the vocabulary is saved with the model
    from bioR2.hub import model_card

    assert "| B | 70 | 35 | 35 (87.5%) | 2.0 |" in model_card(tmp_path / "run")  # the corpus in the card


def test_backed_corpus_streams_rows_and_matches_in_memory(tmp_path):
    from bioR2.sc.corpus import CorpusReader, corpus_entries, open_entry
    from bioR2.sc.data import H5adSource

    a, b, c = _three_files(tmp_path)
    entries = corpus_entries([a, b])
    genes = [f"G{j}" for j in range(40)]
    backed = CorpusReader([open_entry(e, backed=True)[0] for e in entries], ["a", "b"], genes)
    memory = CorpusReader([open_entry(e, backed=False)[0] for e in entries], ["a", "b"], genes)
    assert isinstance(backed.readers[0].source, H5adSource) and not backed.in_memory and memory.in_memory
    rows = np.array([150, 3, 89, 90, 17, 159])
    np.testing.assert_array_equal(backed.read(rows), memory.read(rows))
    obs = backed.observed_rows(rows)
    assert obs[:, :5].tolist() == [[r < 90] * 5 for r in rows]  # file b lacks G0..G4
    # through the bounded buffer: the same values, each chunk read from disk once per pass
    from bioR2.sc.corpus import CorpusSampler

    buffer = backed.buffer_reads(16, 2)
    order = np.array(list(CorpusSampler(backed.dataset_codes, [1.0, 1.0], 16, 2, seed=1)))
    for i in range(0, order.size, 8):
        np.testing.assert_array_equal(backed.read(order[i:i + 8]), memory.read(order[i:i + 8]))
    assert buffer.reads == int(np.ceil(90 / 16) + np.ceil(70 / 16))
    result = _pretrain([a, b], tmp_path / "run", vocab="union", backed=True, batch_size=32, steps=4)
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    assert [r["read"] for r in info["gene_overlap"]] == ["backed", "backed"]
    assert result.steps == 4


def test_cli_several_files_intersection_and_validation_split(tmp_path):
    a, b, c = _three_files(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bioR2", "pretrain", "sc", "--h5ad", str(a), str(b), "--vocab", "intersection",
           "--preset", "sc-tiny", "--steps", "2", "--train-size", "0.8", "--out", str(out), "--threads", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["gene_overlap"] == {"a": "35/35 (100.0%)", "b": "35/35 (100.0%)"}  # printed per file
    info = json.loads((out / "data.json").read_text())
    assert info["n_genes"] == 35 and info["datasets"] == ["a", "b"]
    assert info["n_val_cells"] == round(90 * 0.2) + round(70 * 0.2)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_loss" in r for r in log)


def test_folder_glob_and_hvg_vocab_honours_flags(tmp_path):
    from bioR2.sc.corpus import corpus_entries, open_entry
    from bioR2.sc.vocab import build_vocabulary

    _three_files(tmp_path)
    assert [e.dataset for e in corpus_entries(str(tmp_path))] == ["a", "b", "c"]
    assert [e.dataset for e in corpus_entries(str(tmp_path / "[ab].h5ad"))] == ["a", "b"]
    src = [open_entry(e)[0] for e in corpus_entries([tmp_path / "a.h5ad", tmp_path / "b.h5ad"])]
    flags = [np.isin(np.arange(40), [7, 9]), None]
    genes = build_vocabulary(src, "hvg", n_top=5, flags=flags)
    assert len(genes) == 5 and {"G7", "G9"} <= set(genes)  # a's flagged genes, also variable in b
    with pytest.raises(ValueError, match="no gene list|empty"):
        build_vocabulary(src, [])


def test_hvg_seurat_v3_on_counts(tmp_path):
    pytest.importorskip("skmisc")
    from bioR2.sc.corpus import corpus_entries, open_entry
    from bioR2.sc.vocab import build_vocabulary

    _three_files(tmp_path)
    src = [open_entry(e)[0] for e in corpus_entries([tmp_path / "a.h5ad", tmp_path / "b.h5ad"])]
    genes = build_vocabulary(src, "hvg", n_top=6, flavor="seurat_v3")
    assert len(genes) == 6 and all(g.startswith("G") for g in genes)


def test_mask_never_touches_unobserved_genes_and_ratio_counts_observed():
    from bioR2.masking import mask_expression

    x = torch.rand(4, 20) + 0.1
    observed = torch.ones(4, 20, dtype=torch.bool)
    observed[:, :10] = False
    m = mask_expression(x, 0.5, eligible=observed, rng=torch.Generator().manual_seed(0)).mask
    assert not (m & ~observed).any()
    assert m.sum(1).tolist() == [5, 5, 5, 5]  # half of the 10 observed genes, not of 20


def test_task_loss_ignores_unobserved_and_encoder_hides_them():
    from bioR2.sc.model import ExpressionMAE
    from bioR2.sc.task import ExpressionMAETask

    torch.manual_seed(0)
    net = ExpressionMAE([f"G{j}" for j in range(12)], hidden=[16], latent=4, dropout=0.0)
    task = ExpressionMAETask(net)
    x = torch.rand(6, 12)
    observed = torch.ones(6, 12, dtype=torch.bool)
    observed[:, 6:] = False
    terms = task.loss_terms({"x": x, "observed": observed}, 0.5, torch.Generator().manual_seed(1))
    assert not (terms["mask"] & ~observed).any() and int(terms["n_items"]) == 6 * 3
    # changing an unobserved value changes nothing: it is never read or scored
    x2 = x.clone()
    x2[:, 8] = 5.0
    terms2 = task.loss_terms({"x": x2, "observed": observed}, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(terms["loss"], terms2["loss"])


def test_query_missing_gene_embeds_differently_from_zero_and_full_query_unchanged(tmp_path):
    import anndata

    import bioR2.sc
    from bioR2.sc.annotate import embed_reader, reader_for

    a, b, c = _three_files(tmp_path)
    result = _pretrain([a, b], tmp_path / "run", vocab="union")
    model = result.model
    full = anndata.read_h5ad(a)
    # every model gene: the plain embedding, as before (encode with no mask)
    reader = reader_for(full, model)
    emb = embed_reader(reader, model, device="cpu")
    with torch.no_grad():
        model.eval()
        direct = model.encode(torch.from_numpy(reader.read(np.arange(full.n_obs)))).numpy()
    np.testing.assert_allclose(emb, direct, rtol=1e-5, atol=1e-6)
    # the same cells with G3 zero vs without G3
    zero = full.copy()
    dense = zero.X.toarray()
    dense[:, 3] = 0
    zero.X = sp.csr_matrix(dense)
    without = zero[:, [g for g in zero.var_names if g != "G3"]].copy()
    e_zero = embed_reader(reader_for(zero, model), model, device="cpu")
    e_without = embed_reader(reader_for(without, model), model, device="cpu")
    assert not np.allclose(e_zero, e_without, atol=1e-4)
    bioR2.sc.embed(without, model, device="cpu")
    np.testing.assert_allclose(without.obsm["X_r2mae"], e_without, rtol=1e-5, atol=1e-6)


def test_sampler_weights_ddp_shards_and_resume():
    from bioR2.sc.corpus import CorpusSampler

    groups = np.repeat([0, 1, 2], [50, 30, 20])
    s = CorpusSampler(groups, [1.0, 2.0, 0.5], chunk_size=8, buffer_chunks=3, seed=3)
    s.set_epoch(1)
    order = np.array(list(s))
    assert order.size == 50 + 60 + 10
    assert np.bincount(groups[order], minlength=3).tolist() == [50, 60, 10]
    assert np.array_equal(order, np.array(list(s)))  # a function of (seed, epoch)
    s.set_start(17)
    assert np.array_equal(np.array(list(s)), order[17:])  # resume mid-epoch
    s.set_start(0)
    ranks = [CorpusSampler(groups, [1.0, 1.0, 1.0], 8, 3, num_replicas=2, rank=r, seed=3) for r in range(2)]
    for r in ranks:
        r.set_epoch(1)
    shares = [np.array(list(r)) for r in ranks]
    assert len(shares[0]) == len(shares[1]) == 50
    assert not set(shares[0]) & set(shares[1])  # disjoint shards
    single = CorpusSampler(groups, [1.0, 1.0, 1.0], 8, 3, seed=3)
    single.set_epoch(1)
    full = np.array(list(single))
    assert np.array_equal(full[0::2], shares[0]) and np.array_equal(full[1::2], shares[1])


@pytest.mark.parametrize("case", ["missing_file", "duplicate_id", "gene_key", "no_shared_gene", "mixed"])
def test_bad_corpus_input_one_clear_line_nothing_written(tmp_path, case):
    a, b, c = _three_files(tmp_path)
    rows = [["a.h5ad", "A", "", "", ""], ["b.h5ad", "B", "", "", ""]]
    if case == "missing_file":
        rows.append(["nope.h5ad", "N", "", "", ""])
        match = "nope.h5ad"
    elif case == "duplicate_id":
        rows[1][1] = "A"
        match = "used twice"
    elif case == "gene_key":
        rows[1][3] = "symbol"
        match = "no column 'symbol'"
    elif case == "no_shared_gene":
        rows.append(["c.h5ad", "C", "", "", ""])  # Ensembl ids, gene_key not given
        match = "shares no gene"
    else:
        logged = make_counts(50, 40, seed=4)
        logged.X = logged.X.astype(np.float32).multiply(0.37).tocsr()
        logged.write_h5ad(tmp_path / "logged.h5ad")
        rows.append(["logged.h5ad", "L", "", "", ""])
        match = "log-normalised"
    table = _table(tmp_path, rows)
    out = tmp_path / "run"
    kw = {"vocab": "union"} if case != "no_shared_gene" else {"vocab": "union", "genes": [f"G{j}" for j in range(40)]}
    with pytest.raises((ValueError, FileNotFoundError), match=match) as err:
        _pretrain(table, out, **kw)
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_soma_experiment_pretrain_and_bad_uri(tmp_path):
    pytest.importorskip("tiledbsoma")
    import tiledbsoma.io

    import bioR2.sc

    ad = make_counts(80, 30, seed=5)
    ad.var["feature_name"] = list(ad.var_names)
    ad.var_names = [f"ENSG{j:05d}" for j in range(30)]
    uri = str(tmp_path / "soma")
    tiledbsoma.io.from_anndata(uri, ad, measurement_name="RNA", X_layer_name="raw")
    b = make_counts(40, 30, seed=6)[:, 3:].copy()
    b.write_h5ad(tmp_path / "b.h5ad")
    result = bioR2.sc.pretrain(tmp_path / "b.h5ad", tmp_path / "run", soma=uri, preset="sc-tiny", steps=2,
                               vocab="union", obs_filter="batch == 'a'")
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    rows = {r["dataset"]: r for r in info["gene_overlap"]}
    assert rows["soma"]["n_vocab_measured"] == 30 and rows["soma"]["n_cells"] == int((ad.obs["batch"] == "a").sum())
    assert len(result.model.genes) == 30
    with pytest.raises(FileNotFoundError, match="no such SOMA Experiment"):
        bioR2.sc.pretrain(None, tmp_path / "r2", soma=str(tmp_path / "nope"), preset="sc-tiny", steps=1)
    with pytest.raises(ValueError, match="no measurement 'ATAC'"):
        bioR2.sc.pretrain(None, tmp_path / "r3", soma=uri, soma_measurement="ATAC", preset="sc-tiny", steps=1)
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_corpus_resume_mid_epoch_is_bit_identical(tmp_path):
    from safetensors.numpy import load_file

    a, b, c = _three_files(tmp_path)
    table = _table(tmp_path, [["a.h5ad", "A", "", "", ""], ["b.h5ad", "B", "", "", "2"]])
    kw = dict(vocab="union", backed=True, batch_size=16, steps=6, save_every=3, buffer_chunks=2)
    _pretrain(table, tmp_path / "full", **kw)

    def stop(record):
        if record.get("step") == 4:
            raise KeyboardInterrupt  # killed mid-epoch (an epoch here is 230 cells, 14 steps)

    with pytest.raises(KeyboardInterrupt):
        _pretrain(table, tmp_path / "cut", callbacks=[stop], **kw)
    _pretrain(table, tmp_path / "cut", resume=True, **kw)
    full = load_file(str(tmp_path / "full" / "model.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert full.keys() == cut.keys()
    for k in full:
        np.testing.assert_array_equal(full[k], cut[k])
