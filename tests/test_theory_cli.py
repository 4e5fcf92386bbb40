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
    from bioR2.bench.theory import BenchConfig, run_benchmark

    cfg = BenchConfig.quick()
    cfg.d, cfg.search_d, cfg.seeds, cfg.search_seeds = 60, 40, 3, 4
    cfg.accuracy_dims, cfg.accuracy_deltas, cfg.remask_copies = (40,), (5.0,), (1,)
    res = run_benchmark(tmp_path, cfg, log=lambda m: None, command="bior2 benchmark theory --out X")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["benchmark"] == "theory" and saved["command"] == "bior2 benchmark theory --out X"
    for key in ("claims", "checkpoints", "curves", "bias_variance", "p_star", "de_accuracy", "r2mae", "methods"):
        assert key in saved, key
    assert ({c["claim"][:20] for c in saved["claims"]}
            and all(isinstance(c["reproduced"], bool) for c in saved["claims"]))
    md = (tmp_path / "results.md").read_text()
    assert "## The paper's claims" in md and "R²MAE" in md
    for fig in ("fig_risk_isotropic.png", "fig_risk_spiked.png", "fig_p_star.png", "fig_r2mae_search.png"):
        assert (tmp_path / fig).stat().st_size > 1000
    assert res["methods"]


def test_size_sweep_optimal_ratio_bookkeeping():
    from bioR2.bench.sizesweep import optimal_ratios

    runs = []
    for width, peak in ((16, 0.3), (64, 0.75)):
        for p in (0.3, 0.45, 0.6, 0.75, 0.9):
            for seed in range(3):
                acc = 0.9 - (p - peak) ** 2 + 0.001 * seed
                runs.append({"width": width, "ratio": p, "seed": seed, "accuracy": acc, "n_encoder_params": width})
    out = optimal_ratios(runs, (0.3, 0.45, 0.6, 0.75, 0.9), n_boot=50)
    assert out["16"]["best_ratio"] == 0.3 and out["64"]["best_ratio"] == 0.75
    assert out["64"]["bootstrap_best"]["0.75"] == 1.0
    assert abs(out["64"]["quadratic_vertex"] - 0.75) < 1e-6


@pytest.mark.slow
def test_size_sweep_runs_through_the_vision_pipeline(tmp_path):
    pytest.importorskip("torch")
    from bioR2.bench.sizesweep import SizeSweepConfig, run_size_sweep

    cfg = SizeSweepConfig(widths=(8, 16), ratios=(0.3, 0.75), seeds=(0,), steps=3, jobs=1, n_boot=10)
    res = run_size_sweep(tmp_path, cfg, log=lambda m: None)
    assert set(res["optimal_ratio_by_width"]) == {"8", "16"}
    assert len(res["runs"]) == 4 and all(0.0 <= r["accuracy"] <= 1.0 for r in res["runs"])
    assert (tmp_path / "fig_size_sweep.png").stat().st_size > 1000
    assert "larger models prefer higher ratios" in (tmp_path / "results.md").read_text()


def test_size_sweep_rejects_bad_options(tmp_path, capsys):
    assert main(["benchmark", "theory", "--size-sweep", "--out", str(tmp_path), "--ratios", "0.5", "1.2"]) == 1
    assert "fixed ratios must be in [0, 1)" in capsys.readouterr().err
    assert main(["benchmark", "theory", "--size-sweep", "--out", str(tmp_path), "--widths", "15"]) == 1
    assert "multiple of heads" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
