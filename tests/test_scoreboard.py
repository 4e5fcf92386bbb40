"""`bior2 benchmark scoreboard`: ranks, average ranks, stability and the top-two test, from
results.json files written here (the committed ones are read by the README's command)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioR2.bench.scoreboard import (build_scoreboard, load_scoreboard_inputs, run_scoreboard, schedule_family,
                                    scoreboard_markdown)
from bioR2.cli import main
from bioR2.masking import parse_mask_ratio


def _results(path, domain, dataset, tasks, seeds=(0, 1, 2)):
    path.mkdir(parents=True, exist_ok=True)
    board = {"seeds": list(seeds), "schedules": {}, "tasks": tasks}
    (path / "results.json").write_text(json.dumps({"benchmark": domain, "dataset": dataset, "methods": {},
                                                   "scoreboard": board}))
    return path / "results.json"


def _task(means, higher=True, noise=0.0, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"higher_is_better": higher,
            "values": {s: list(m + noise * rng.standard_normal(n)) for s, m in means.items()}}


def test_ranks_average_ranks_and_overall(tmp_path):
    _results(tmp_path / "dna", "dna", "motif", {
        "auprc": _task({"a": 0.9, "b": 0.8, "c": 0.7}),
        "loss": _task({"a": 1.0, "b": 2.0, "c": 3.0}, higher=False),  # lower is better: a best
    })
    _results(tmp_path / "sc1", "sc", "cbmc", {"f1": _task({"a": 0.5, "b": 0.6, "c": 0.6})})  # b, c tie
    _results(tmp_path / "sc2", "sc", "pbmc", {"f1": _task({"a": 0.1, "b": 0.3, "c": 0.2})})
    board = run_scoreboard([tmp_path], tmp_path / "out", n_boot=50)
    dna, sc = board["domains"]["dna"], board["domains"]["sc"]
    assert dna["schedules"]["a"]["ranks"] == {"auprc": 1.0, "loss": 1.0}
    assert dna["schedules"]["c"]["average_rank"] == 3.0 and dna["best"] == "a"
    # two sc datasets merge, their task names prefixed; ties share the mean rank
    assert set(sc["tasks"]) == {"cbmc/f1", "pbmc/f1"}
    assert sc["schedules"]["b"]["ranks"]["cbmc/f1"] == sc["schedules"]["c"]["ranks"]["cbmc/f1"] == 1.5
    assert sc["schedules"]["b"]["average_rank"] == pytest.approx(1.25) and sc["best"] == "b"
    # overall: mean of the domains' average ranks (each domain weighs the same)
    assert board["overall"]["a"] == pytest.approx((1.0 + 3.0) / 2)
    assert board["overall"]["b"] == pytest.approx((2.0 + 1.25) / 2)
    assert board["overall_best"] == "b"
    for name in ("scoreboard.json", "scoreboard.md", "scoreboard.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    shape = json.loads((tmp_path / "out" / "scoreboard.json").read_text())
    assert set(shape["domains"]["dna"]["schedules"]["a"]) >= {"ranks", "average_rank"}


def test_noise_makes_the_ranking_unstable_and_the_top_two_a_tie(tmp_path):
    tasks = {f"t{i}": _task({"a": 0.5, "b": 0.5}, noise=0.1, n=5, seed=i) for i in range(4)}
    _results(tmp_path / "x", "text", "bbc", tasks, seeds=range(5))
    board = build_scoreboard(load_scoreboard_inputs([tmp_path]), n_boot=200)
    d = board["domains"]["text"]
    assert 0.05 < d["rank_stability"]["top_stays_top"] < 0.95
    assert d["top_two"]["sign_test_p"] > 0.05
    clear = {f"t{i}": _task({"a": 0.9, "b": 0.1}, noise=0.01, n=5, seed=i) for i in range(4)}
    _results(tmp_path / "y", "vision", "digits", clear, seeds=range(5))
    board = build_scoreboard(load_scoreboard_inputs([tmp_path / "y"]), n_boot=200)
    v = board["domains"]["vision"]
    assert v["rank_stability"]["top_stays_top"] == 1.0 and v["top_two"]["sign_test_p"] < 0.001


def test_schedule_family_parses_and_cli_prints_json(tmp_path, capsys):
    fam = schedule_family(0.05, 0.3, 0.15)
    assert len(fam) >= 8 and "sample" in fam
    for spec in fam.values():
        parse_mask_ratio(spec)
    assert "sample" not in schedule_family(0.6, 0.9, 0.75, per_sample=False)
    _results(tmp_path / "r", "dna", "motif", {"auprc": _task({"a": 0.9, "b": 0.8})})
    assert main(["benchmark", "scoreboard", "--results", str(tmp_path / "r"), "--json", "--n-boot", "10"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["overall"] == {"a": 1.0, "b": 2.0}


def test_vision_tnorm_is_mages_own_and_the_range_one_is_kept():
    from bioR2.bench.scoreboard import domain_family
    from bioR2.masking import TruncNormRatio

    fam = domain_family("vision")
    assert parse_mask_ratio(fam["tnorm"]) == TruncNormRatio(0.55, 0.25, 0.5, 1.0)  # MAGE: N(0.55, 0.25²) on [0.5, 1]
    assert fam["tnorm-range"] == "tnorm:0.75,0.075,0.6-0.9"  # the family's generic one on vision's range
    assert list(fam).index("tnorm-range") == list(fam).index("tnorm") + 1
    assert "tnorm-range" not in domain_family("dna") and domain_family("dna")["tnorm"].startswith("tnorm:0.175,")
    with pytest.raises(KeyError, match="not in the family"):
        schedule_family(0.6, 0.9, 0.75, published={"nope": "0.5"})


def test_a_schedule_one_domain_lacks_stays_out_of_the_overall_and_moves_no_rank(tmp_path):
    # dna has "sample" (best there); vision does not: the overall ranks a, b among themselves.
    _results(tmp_path / "dna", "dna", "motif", {"t": _task({"sample": 0.9, "a": 0.8, "b": 0.7}, noise=0.01)})
    _results(tmp_path / "vis", "vision", "digits", {"t": _task({"a": 0.5, "b": 0.6}, noise=0.01)})
    board = build_scoreboard(load_scoreboard_inputs([tmp_path]), n_boot=50)
    assert board["domains"]["dna"]["schedules"]["a"]["average_rank"] == 2.0  # its own table: all three
    assert board["overall"] == {"a": pytest.approx(1.5), "b": pytest.approx(1.5)}
    assert set(board["not_in_every_domain"]) == {"sample"}
    assert board["not_in_every_domain"]["sample"] == {"dna": 1.0}
    assert board["overall_top_two"]["n_pairs"] == 6 and 0.0 <= board["overall_rank_stability"]["top_stays_top"] <= 1.0
    text = scoreboard_markdown(board)
    assert "Not in every domain, so not in the overall: sample" in text and "Top two overall" in text


def test_inputs_without_a_scoreboard_are_a_clear_error(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"benchmark": "dna", "methods": {}}))
    with pytest.raises(ValueError, match="scoreboard"):
        load_scoreboard_inputs([tmp_path])
    with pytest.raises(FileNotFoundError, match="nope"):
        load_scoreboard_inputs([tmp_path / "nope"])


# --------------------------------------------------------------------------- the domain runs
def test_domain_families_share_names_and_use_each_domains_range():
    from bioR2.bench.scoreboard import domain_family, select_schedules

    names = set(domain_family("dna"))
    assert {"fixed", "r2mae", "mdlm", "mdlm-flat", "set", "sched", "tnorm", "beta", "sample"} == names
    # MAE: one ratio per batch; MAGE's own tnorm, the range-derived one kept as tnorm-range
    assert set(domain_family("vision")) == names - {"sample"} | {"tnorm-range"}
    for domain in ("dna", "sc", "vision", "text"):
        fam = domain_family(domain)
        spec = __import__(f"bioR2.{domain}.spec", fromlist=["DEFAULT_RATIO"])
        assert parse_mask_ratio(fam["r2mae"]) == parse_mask_ratio(spec.DEFAULT_RATIO)
        assert float(fam["fixed"]) == {"dna": 0.15, "sc": 0.15, "vision": 0.75, "text": 0.15}[domain]  # BERT, MAE
        assert set(domain_family(domain)) - {"tnorm-range"} <= names
    assert list(select_schedules(domain_family("sc"), ["r2mae", "fixed"])) == ["fixed", "r2mae"]  # family order
    with pytest.raises(ValueError, match="unknown schedule"):
        select_schedules(domain_family("sc"), ["fixed_0.15"])


def test_scoreboard_section_needs_a_value_per_seed_and_schedule():
    from bioR2.bench.scoreboard import scoreboard_section

    ok = scoreboard_section([0, 1], {"a": "0.1", "b": "0.2"}, {"t": (False, {"a": [1, 2], "b": [3, 4]})})
    assert ok["tasks"]["t"] == {"higher_is_better": False, "values": {"a": [1.0, 2.0], "b": [3.0, 4.0]}}
    with pytest.raises(ValueError, match="lack a value per seed"):
        scoreboard_section([0, 1], {"a": "0.1", "b": "0.2"}, {"t": (True, {"a": [1, 2], "b": [3]})})


def test_masked_eval_reproduces_the_trainers_validation_loss():
    """Fixed evaluation masks: masked_eval keys each example's mask by its index the way the
    trainer validates, so at the trainer's ratio it gives the trainer's val_loss (whatever the
    batch size), and every model is scored on the same masks."""
    from bioR2.bench.scoreboard import masked_eval
    from bioR2.vision import MAEModelConfig, load_digits, pretrain_and_probe, split_images
    from bioR2.vision.data import ImageDataset
    from bioR2.vision.task import MAETask

    train, test = split_images(load_digits(), 0.2, 0)
    run = pretrain_and_probe((train, test), mask_ratio="0.6-0.9", steps=2, batch_size=32, seed=0,
                             model_config=MAEModelConfig(width=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2),
                             eval_mask_ratio=0.75, keep_model=True, train_overrides={"eval_batches": 1000})
    task = MAETask(run.model)
    a = masked_eval(task, ImageDataset(test), 0.75, batch_size=100)["loss"]
    b = masked_eval(task, ImageDataset(test), 0.75, batch_size=360)["loss"]
    assert a == pytest.approx(run.val_loss, rel=1e-5) and b == pytest.approx(a, rel=1e-5)
    assert masked_eval(task, ImageDataset(test), 0.5)["loss"] != pytest.approx(a, rel=1e-6)


def _check_board(saved, domain, schedules, seeds, tasks):
    assert saved["benchmark"] == domain
    board = saved["scoreboard"]
    assert board["seeds"] == seeds and board["schedules"] == schedules
    assert set(board["tasks"]) == set(tasks)
    for name, body in board["tasks"].items():
        assert body["higher_is_better"] is tasks[name]
        assert set(body["values"]) == set(schedules)
        assert all(len(v) == len(seeds) and all(np.isfinite(v)) for v in body["values"].values())


def test_vision_scoreboard_writes_the_section_and_the_scoreboard_reads_it(tmp_path, capsys):
    out = tmp_path / "vision_digits"
    argv = ["benchmark", "vision", "--scoreboard", "--quick", "--seeds", "0,1", "--schemes", "fixed,sched",
            "--steps", "2", "--width", "16", "--jobs", "1", "--out", str(out)]
    assert main(argv) == 0
    saved = json.loads((out / "results.json").read_text())
    _check_board(saved, "vision", {"fixed": "0.75", "sched": "sched:0.9>0.6"}, [0, 1],
                 {"linear_probe_acc": True, "knn_acc": True, "recon_loss_0.5": False, "recon_loss_0.75": False})
    assert "| sched | `sched:0.9>0.6` |" in (out / "results.md").read_text()
    # A second call reuses every finished (schedule, seed) from the cache: the same numbers.
    assert main(argv) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["scoreboard"] == saved["scoreboard"]
    capsys.readouterr()
    assert main(["benchmark", "scoreboard", "--results", str(tmp_path), "--json", "--n-boot", "20"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert set(board["overall"]) == {"fixed", "sched"}
    assert board["domains"]["vision"]["tasks"] == ["linear_probe_acc", "knn_acc", "recon_loss_0.5", "recon_loss_0.75"]


@pytest.mark.slow
def test_sc_scoreboard_writes_the_section(tmp_path):
    out = tmp_path / "sc"
    assert main(["benchmark", "sc", "--scoreboard", "--quick", "--dataset", "pbmc68k", "--no-extra-cells",
                 "--seeds", "0,1", "--schemes", "fixed,sample", "--steps", "3", "--out", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    _check_board(saved, "sc", {"fixed": "0.15", "sample": "sample:0.1-0.5"}, [0, 1],
                 {"annotation_macro_f1": True, "nmi": True, "ari": True, "recon_mse_0.1": False,
                  "recon_mse_0.3": False, "recon_mse_0.5": False, "recon_mse_0.7": False})
    assert any("scib-metrics is not installed" in n for n in saved["scoreboard"]["notes"])


@pytest.mark.slow
def test_dna_and_text_scoreboards_write_the_section(tmp_path):
    dna = tmp_path / "dna"
    assert main(["benchmark", "dna", "--scoreboard", "--quick", "--seeds", "0,1", "--schemes", "r2mae,mdlm",
                 "--steps", "2", "--max-positives", "20", "--out", str(dna)]) == 0
    saved = json.loads((dna / "results.json").read_text())
    _check_board(saved, "dna", {"r2mae": "0.05-0.3", "mdlm": "mdlm"}, [0, 1],
                 {"motif_mafk_auprc": True, "motif_oct4_auprc": True, "bacterial_shine_dalgarno_auprc": True,
                  "bacterial_start_codon_auprc": True, "masked_acc_0.15": True, "masked_acc_0.3": True})
    assert not any((dna / "scoreboard_models").glob("*/model.safetensors"))  # weights go once scored
    text = tmp_path / "text"
    assert main(["benchmark", "text", "--scoreboard", "--quick", "--seeds", "0,1", "--schemes", "fixed,sample",
                 "--steps", "2", "--jobs", "1", "--out", str(text)]) == 0
    saved = json.loads((text / "results.json").read_text())
    _check_board(saved, "text", {"fixed": "0.15", "sample": "sample:0.15-0.4"}, [0, 1],
                 {"linear_probe_acc": True, "mlm_loss_0.15": False, "mlm_loss_0.4": False})
