"""The single-cell selection protocol: nested inner validation that never touches a test cell of
its fold, the tuned baselines, and the comparisons built from per-(seed, fold) values."""

from __future__ import annotations

import numpy as np
import pytest

from bioR2.bench.sc_protocol import inner_split, inner_splits, sc_comparisons, select, selection_section


def _folds(labels, n=5):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n, shuffle=True, random_state=0).split(np.zeros(labels.size), labels))


def test_selection_cells_never_touch_the_test_fold_they_choose_for():
    rng = np.random.default_rng(0)
    labels = rng.choice(["B", "T", "NK", "mono"], size=400, p=[0.4, 0.3, 0.2, 0.1])
    folds = _folds(labels)
    inner = inner_splits(folds, labels)
    for (train, test), (fit, val) in zip(folds, inner):
        assert not np.intersect1d(val, test).size and not np.intersect1d(fit, test).size
        assert np.array_equal(np.sort(np.concatenate([fit, val])), np.sort(train))  # a partition of the train fold
        assert 0.15 < val.size / train.size < 0.25
        assert set(labels[val]) == set(labels[train])  # stratified
    section = selection_section(folds, inner)
    assert section["overlap_with_test"] == 0 and section["n"] == sum(v.size for _, v in inner)
    # a selection split carved from the wrong fold (fold 0's training cells chose for fold 1) is counted
    leaky = [inner[0]] * len(folds)
    assert selection_section(folds, leaky)["overlap_with_test"] > 0


def test_inner_split_keeps_singleton_classes_for_fitting():
    labels = np.array(["a"] * 20 + ["b"] * 20 + ["c"])
    fit, val = inner_split(np.arange(labels.size), labels)
    assert 40 in fit and 40 not in val


def test_select_picks_the_best_candidate():
    best, scores = select([{"C": 0.1}, {"C": 1.0}, {"C": 10.0}], lambda p: -abs(np.log10(p["C"])))
    assert best == {"C": 1.0} and scores["C=0.1"] < scores["C=1.0"]
    with pytest.raises(ValueError, match="empty"):
        select([], lambda p: 0.0)


def test_tuned_baseline_uses_the_unlabelled_cells_in_pca():
    from bioR2.bench.sc_baselines import GRIDS, fit_predict_params

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8))
    y = (x[:, 0] > 0).astype(str)
    for name, grid in GRIDS.items():
        pred = fit_predict_params(name, grid[0], x[:40], y[:40], x[40:], x_unlabelled=rng.normal(size=(30, 8)))
        assert pred.shape == (20,) and set(pred) <= set(y)
    with pytest.raises(KeyError, match="unknown baseline"):
        fit_predict_params("svm", {}, x[:40], y[:40], x[40:])


def test_comparisons_pair_deterministic_baselines_over_folds():
    store = {"r2mae": {"macro_f1": [0.90, 0.91, 0.92, 0.93, 0.94, 0.91, 0.92, 0.93, 0.94, 0.95]},  # 2 seeds x 5
             "r2mae_finetune": {"macro_f1": [0.80] * 10},
             "logreg": {"macro_f1": [0.85, 0.86, 0.87, 0.88, 0.89]},
             "fixed_0.15": {"macro_f1": [0.89, 0.90, 0.92, 0.92, 0.93, 0.90, 0.91, 0.93, 0.93, 0.94]}}
    out = sc_comparisons(store, 2, 5, ["logreg", "scvi_logreg"], ["r2mae", "fixed_0.15"])
    assert out["r2mae_vs_logreg"]["unit"] == "fold" and out["r2mae_vs_logreg"]["verdict"] == "ahead"
    assert out["r2mae_vs_logreg"]["diff"] == pytest.approx(0.055, abs=1e-6)
    assert out["r2mae_vs_fixed_0.15"]["unit"] == "seed x fold" and out["r2mae_vs_fixed_0.15"]["n"] == 10
    assert out["finetune_vs_logreg"]["verdict"] == "behind"
    assert "finetune_vs_fixed_0.15" not in out  # fine-tuned vs a frozen scheme says nothing about masking
    assert "r2mae_vs_scvi_logreg" not in out  # not run: no entry


def test_scvi_lengths_from_one_run_equal_separate_runs():
    """The scVI grid's epochs come from one run per shape: the weights after e epochs of a longer
    run must be exactly those of a run of e epochs (else the grid's short entries are not what
    they say)."""
    pytest.importorskip("scvi")
    from bioR2.bench.sc_baselines import scvi_latents

    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(200, 30)).astype(np.float32)
    both = scvi_latents(counts, counts[:40], epochs=[2, 3], n_latent=4, seed=3)
    short = scvi_latents(counts, counts[:40], epochs=[2], n_latent=4, seed=3)[2]
    long = scvi_latents(counts, counts[:40], epochs=[3], n_latent=4, seed=3)[3]
    np.testing.assert_array_equal(both[2][0], short[0])
    np.testing.assert_array_equal(both[2][1], short[1])
    np.testing.assert_array_equal(both[3][1], long[1])
    assert np.abs(both[2][0] - both[3][0]).max() > 0  # the two lengths are different models


def test_a_recipe_is_chosen_on_two_datasets_by_its_mean_score():
    from bioR2.bench.sc_protocol import select_across

    # "narrow" is best on one dataset only; "broad" holds on both and wins on the mean
    scores = {"cbmc": {"narrow": 0.90, "broad": 0.88}, "pbmc68k": {"narrow": 0.60, "broad": 0.70}}
    best, means = select_across(scores)
    assert best == "broad" and means["narrow"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="at least two datasets"):
        select_across({"cbmc": scores["cbmc"]})
    with pytest.raises(ValueError, match="not scored on every dataset.*narrow"):
        select_across({"cbmc": scores["cbmc"], "pbmc68k": {"broad": 0.7}})


def test_per_fold_choice_uses_only_that_folds_rows_and_averages_seeds():
    from bioR2.bench.sc_protocol import choose_per_fold

    def row(d_fold, variant, seed, f1):
        return {"fold": d_fold, "variant": variant, "seed": seed, "macro_f1": f1}

    rows = {
        "a": [row(0, "v1", 0, 0.8), row(0, "v1", 1, 0.6), row(0, "v2", 0, 0.75), row(0, "v2", 1, 0.75),
              row(0, "v2/ft_x", 0, 0.9), row(0, "v2/ft_y", 0, 0.8), row(0, "v1/ft_y", 0, 0.99),
              row(1, "v1", 0, 0.9), row(1, "v2", 0, 0.1), row("legacy", "v2", 0, 1.0),
              {"fold": 0, "variant": "baselines", "seed": -1, "logreg": 0.99}],
        "b": [row(0, "v1", 0, 0.7), row(0, "v2", 0, 0.7), row(0, "v2/ft_x", 0, 0.5), row(0, "v2/ft_y", 0, 0.7),
              row(1, "v1", 0, 0.9), row(1, "v2", 0, 0.2)],
    }
    chosen = choose_per_fold(rows)
    assert [c["fold"] for c in chosen] == [0, 1]  # the "legacy" split never counts
    # fold 0: v1 averages 0.7 over seeds on "a", v2 0.75 -> v2; its fine-tuning: ft_y (0.75) over ft_x (0.7),
    # v1's fine-tuned rows do not count
    assert chosen[0]["variant"] == "v2" and chosen[0]["mean"]["v1"] == pytest.approx(0.7)
    assert chosen[0]["finetune"] == "ft_y" and chosen[0]["finetune_mean"] == {"ft_x": 0.7, "ft_y": 0.75}
    assert chosen[1]["variant"] == "v1" and "finetune" not in chosen[1]


def test_fold_recipes_replace_the_recipe_of_their_fold_only():
    from bioR2.bench.sc import BenchmarkConfig

    base = BenchmarkConfig(dataset="cbmc", n_folds=2, epochs=50, hidden=[64], latent=8)
    config = BenchmarkConfig(dataset="cbmc", n_folds=2, epochs=50, hidden=[64], latent=8,
                             fold_recipes=[{"steps": 7, "latent": 4}, {"epochs": 3.0, "finetune_balanced": True}])
    f0, f1 = config.for_fold(0), config.for_fold(1)
    assert (f0.steps, f0.epochs, f0.latent, f0.hidden) == (7, None, 4, [64])  # steps replace the epochs
    assert f0.steps_for(1000) == 7 and f1.steps_for(1000) == round(3 * 1000 / f1.batch_size)
    assert f1.finetune_balanced and not f0.finetune_balanced and f1.latent == 8
    assert base.for_fold(1) is base
    with pytest.raises(ValueError, match="unknown field.*loss"):
        BenchmarkConfig(dataset="cbmc", n_folds=1, fold_recipes=[{"loss": "nb"}])
    with pytest.raises(ValueError, match="1 recipes for 2 folds"):
        BenchmarkConfig(dataset="cbmc", n_folds=2, fold_recipes=[{}])


def test_a_fold_job_trains_with_its_folds_recipe(monkeypatch):
    from bioR2.bench import sc as bench

    labels = np.array(["x", "y"] * 20)
    folds = _folds(labels, 2)
    stub = {"labels": labels, "folds": folds, "reader": None, "n_lab": labels.size, "x_log": None,
            "inner": inner_splits(folds, labels), "extra_rows": np.arange(0)}
    monkeypatch.setattr(bench, "_context", lambda config: stub)
    seen = []

    class Trained(Exception):
        pass

    def train(config, reader, rows, ratio, seed):
        seen.append((config.latent, config.steps_for(rows.size)))
        raise Trained

    monkeypatch.setattr(bench, "_train_model", train)
    config = bench.BenchmarkConfig(dataset="cbmc", n_folds=2, steps=5, latent=8,
                                   fold_recipes=[{"latent": 3}, {"latent": 5, "steps": 2}])
    for k in (0, 1):
        with pytest.raises(Trained):
            bench._job({"config": bench.asdict(config), "kind": "train_fold", "scheme": "r2mae", "seed": 0, "fold": k})
    assert seen == [(3, 5), (5, 2)]


def test_a_recipe_choice_scored_on_other_validation_cells_is_refused():
    from bioR2.bench.sc import BenchmarkConfig, _recipe_selection_section
    from bioR2.bench.sc_protocol import rows_digest

    labels = np.array(["x", "y", "z"] * 30)
    folds = _folds(labels, 2)
    inner = inner_splits(folds, labels)
    recipes = [{"latent": 3}, {"latent": 5}]
    config = BenchmarkConfig(dataset="cbmc", n_folds=2, fold_recipes=recipes)
    choice = {"scheme": "test", "folds": [
        {"fold": k, "recipe": recipes[k], "datasets": ["cbmc", "other"],
         "validation": {"cbmc": rows_digest(inner[k][1]), "other": "0"}} for k in (0, 1)]}
    section = _recipe_selection_section(choice, config, inner)
    assert section["overlap_with_test"] == 0 and len(section["folds"]) == 2
    # fold 0's inner validation cells used to choose fold 1's recipe: they are fold 1's test cells
    leaky = {"folds": [choice["folds"][0], {**choice["folds"][1], "validation": {"cbmc": rows_digest(inner[0][1])}}]}
    with pytest.raises(ValueError, match="fold 1 was scored on other cbmc validation cells"):
        _recipe_selection_section(leaky, config, inner)
    missing = {"folds": [choice["folds"][0], {**choice["folds"][1], "validation": {}}]}
    with pytest.raises(ValueError, match="fold 1"):
        _recipe_selection_section(missing, config, inner)
    with pytest.raises(ValueError, match="not the config's"):
        _recipe_selection_section(choice, BenchmarkConfig(dataset="cbmc", n_folds=2, fold_recipes=recipes[::-1]),
                                  inner)


def test_fold_recipes_file_errors_name_the_file_and_field(tmp_path):
    from bioR2.bench.cli import _read_fold_recipes

    bad = tmp_path / "choice.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="choice.json: cannot read"):
        _read_fold_recipes(str(bad))
    bad.write_text('{"folds": [{"variant": "v"}]}')
    with pytest.raises(ValueError, match="choice.json: field 'folds'"):
        _read_fold_recipes(str(bad))
    good = tmp_path / "good.json"
    good.write_text('{"folds": [{"recipe": {"latent": 3}}]}')
    assert _read_fold_recipes(str(good))["folds"][0]["recipe"] == {"latent": 3}


def test_results_md_says_per_fold_recipes_replace_the_preset():
    """A reader of results.md starts at the preset line: with per-fold recipes it must point at them."""
    import json
    from pathlib import Path

    from bioR2.bench.sc import _markdown

    root = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "sc"
    clean = json.loads((root / "clean_full_pbmc68k" / "results.json").read_text())
    text = _markdown(clean, "train_fold")
    header = next(line for line in text.splitlines() if line.startswith("Elapsed:"))
    assert "each outer fold's own recipe is in the per-fold table" in header
    assert "| fold | pretraining | fine-tuning | recipe |" in text
    nested = json.loads((root / "nested_full_pbmc68k" / "results.json").read_text())
    assert "per-fold table" not in _markdown(nested, "train_fold")
