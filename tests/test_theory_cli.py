"""``bior2 theory ...`` answers with exactly the JSON issue 5 specifies; ``bior2 benchmark theory`` writes results."""

from __future__ import annotations

import json

import pytest

from bioR2.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_risk_closed_form_json(capsys):
    out = _json(capsys, ["theory", "risk", "--gamma", "2", "--p", "0.3", "--sigma", "0.5",
                         "--method", "closed-form", "--json"])
    assert set(out) == {"risk", "bias", "variance"}
    assert out["risk"] == pytest.approx(1.2857142857, rel=1e-6)
    assert out["bias"] + out["variance"] == pytest.approx(out["risk"])


def test_risk_simulate_json_with_range_and_spike(capsys):
    out = _json(capsys, ["theory", "risk", "--gamma", "4", "--p-range", "0.05-0.3", "--sigma", "0.5",
                         "--spike", "20:0.9", "--method", "simulate", "--d", "80", "--seeds", "3", "--json"])
    assert set(out) == {"risk", "se", "bias", "variance"}
    assert out["risk"] > 0 and out["se"] > 0


def test_optimal_p_json(capsys):
    out = _json(capsys, ["theory", "optimal-p", "--gamma", "4", "--spike", "20:0.9", "--sigma", "0", "--json"])
    assert set(out) == {"p_star", "risk"}
    assert 0.05 <= out["p_star"] <= 0.15
    iso = _json(capsys, ["theory", "optimal-p", "--gamma", "4", "--sigma", "0.5", "--json"])
    assert iso["p_star"] == 0.0


def test_plot_writes_a_figure(tmp_path, capsys):
    fig = tmp_path / "risk.png"
    assert main(["theory", "plot", "--gamma", "0.5", "4", "--spike", "20:0.9", "--out", str(fig),
                 "--simulate", "--d", "60", "--seeds", "2", "--p-max", "0.3"]) == 0
    assert fig.stat().st_size > 1000


def test_bad_input_is_a_clear_error(capsys):
    assert main(["theory", "risk", "--gamma", "2", "--p", "0.3", "--p-range", "0.1-0.2"]) == 1
    assert "not both" in capsys.readouterr().err
    assert main(["theory", "risk", "--gamma", "2"]) == 1
    assert "--p" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["theory", "risk", "--gamma", "2", "--p-range", "0.3-0.05"])
    with pytest.raises(SystemExit):
        main(["theory", "risk", "--gamma", "2", "--p", "0.1", "--spike", "20"])
    assert main(["theory", "risk", "--gamma", "2", "--p", "1.5"]) == 1


@pytest.mark.slow
def test_benchmark_writes_results(tmp_path):
    from bioR2.theory.benchmark import BenchConfig, run_benchmark

    cfg = BenchConfig.quick()
    cfg.d, cfg.search_d, cfg.seeds, cfg.search_seeds = 60, 40, 3, 4
    cfg.accuracy_dims, cfg.accuracy_deltas, cfg.remask_copies = (40,), (5.0,), (1,)
    res = run_benchmark(tmp_path, cfg, log=lambda m: None, command="bior2 benchmark theory --out X")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["benchmark"] == "theory" and saved["command"] == "bior2 benchmark theory --out X"
    for key in ("claims", "checkpoints", "curves", "bias_variance", "p_star", "de_accuracy", "r2mae", "methods"):
        assert key in saved, key
    assert {c["claim"][:20] for c in saved["claims"]} and all(isinstance(c["reproduced"], bool) for c in saved["claims"])
    md = (tmp_path / "results.md").read_text()
    assert "## The paper's claims" in md and "R²MAE" in md
    for fig in ("fig_risk_isotropic.png", "fig_risk_spiked.png", "fig_p_star.png", "fig_r2mae_search.png"):
        assert (tmp_path / fig).stat().st_size > 1000
    assert res["methods"]
