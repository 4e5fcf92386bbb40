"""The linear-probe benchmarks (``bior2 benchmark vision|text``, :mod:`bioR2.bench.probed`) at toy
size: the shared results schema, built on each spec's benchmark preset plus overrides."""

from __future__ import annotations

import json

from bioR2.bench.probed import ProbeBenchmarkConfig, config_from_options
from bioR2.bench.text import TextBenchmark
from bioR2.bench.text import run_benchmark as run_text
from bioR2.bench.vision import VisionBenchmark
from bioR2.bench.vision import run_benchmark as run_vision
from bioR2.domain import get_domain


def test_vision_benchmark_writes_the_shared_schema(tmp_path):
    cfg = ProbeBenchmarkConfig(domain="vision", preset="vision-bench-quick", seeds=(0, 1), ratios=("0.6-0.9", "0.75"),
                               steps=3, jobs=1, overrides={"model": {"width": 16, "depth": 1, "heads": 2,
                                                                     "decoder_width": 16, "decoder_depth": 1},
                                                           "train": {"batch_size": 64}})
    results = run_vision(tmp_path, config=cfg)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["benchmark"] == "vision" and saved["seeds"] == [0, 1]
    assert set(saved["methods"]) == {"r2mae", "fixed_0.75", "random_init", "pixels"}
    acc = saved["methods"]["r2mae"]["accuracy"]
    assert set(acc) == {"mean", "sd", "values"} and len(acc["values"]) == 2
    assert "fixed_0.75" in saved["paired_accuracy_vs_r2mae"]
    # the recipe is the preset with the overrides, recorded as it ran
    config = saved["config"]
    assert config["preset"] == "vision-bench-quick" and config["steps"] == 3 and config["batch_size"] == 64
    assert config["model"]["width"] == 16 and config["model"]["depth"] == 1
    assert config["lr"] == get_domain("vision").preset("vision-bench-quick").sections["train"]["lr"]
    assert (tmp_path / "loss_curves.png").exists() and (tmp_path / "reconstructions.png").exists()
    assert "R²MAE's standing" in (tmp_path / "results.md").read_text()
    assert results["methods"] == saved["methods"]


def test_text_benchmark_writes_the_shared_schema(tmp_path, text_corpus):
    cfg = ProbeBenchmarkConfig(domain="text", preset="text-bench-quick", data=str(text_corpus), seeds=(0, 1), steps=3,
                               jobs=1, overrides={"model": {"vocab_size": 300, "min_frequency": 1, "max_len": 24,
                                                            "width": 16, "depth": 1, "heads": 2},
                                                  "train": {"batch_size": 8}})
    run_text(tmp_path / "out", config=cfg)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["benchmark"] == "text"
    # the default schemes are the spec's comparison set: its range, its fixed ratios, U(0, 1)
    assert saved["config"]["ratios"] == list(get_domain("text").comparison_schemes())
    assert set(saved["methods"]) == {"r2mae", "fixed_0.15", "fixed_0.4", "uniform_0-1", "random_init",
                                     "bag_of_tokens"}
    assert len(saved["methods"]["uniform_0-1"]["accuracy"]["values"]) == 2
    assert (tmp_path / "out" / "loss_curves.png").exists()
    assert "R²MAE's standing" in (tmp_path / "out" / "results.md").read_text()


def test_command_options_override_the_preset():
    cfg = config_from_options("vision", "vision-bench-quick", seeds=[3], data="mnist", steps=7, width=24, jobs=None)
    recipe = cfg.recipe(VisionBenchmark())
    assert cfg.seeds == (3,) and recipe["data"]["source"] == "mnist" and recipe["train"]["steps"] == 7
    assert recipe["model"]["width"] == recipe["model"]["decoder_width"] == 24  # vision's --width sets both
    preset = get_domain("vision").preset("vision-bench-quick").sections
    assert recipe["model"]["depth"] == preset["model"]["depth"]
    text = config_from_options("text", "text-bench", width=32).recipe(TextBenchmark())
    assert text["model"]["width"] == 32 and text["train"]["steps"] == get_domain("text").preset(
        "text-bench").sections["train"]["steps"]
