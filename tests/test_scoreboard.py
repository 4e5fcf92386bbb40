"""`bior2 benchmark scoreboard`: ranks, average ranks, stability and the top-two test, from
results.json files written here (the committed ones are read by the README's command)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioR2.bench.scoreboard import build_scoreboard, load_scoreboard_inputs, run_scoreboard, schedule_family
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


def test_inputs_without_a_scoreboard_are_a_clear_error(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"benchmark": "dna", "methods": {}}))
    with pytest.raises(ValueError, match="scoreboard"):
        load_scoreboard_inputs([tmp_path])
    with pytest.raises(FileNotFoundError, match="nope"):
        load_scoreboard_inputs([tmp_path / "nope"])
