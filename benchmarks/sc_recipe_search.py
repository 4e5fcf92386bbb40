"""Choosing the single-cell recipe without touching a test fold.

The split: the nested inner split of outer fold ``--fold`` (the benchmark's own,
:mod:`bioR2.bench.sc_protocol`: a stratified 20 % of that fold's training cells is the
*validation* set, the rest the *fit* cells), the cells every baseline of ``bior2 benchmark sc``
is tuned on for that fold. Every candidate recipe is pretrained on the fit cells only (the
train-fold protocol), a logistic-regression probe on its embedding is fit on the fit cells and
scored on the validation cells. The baselines a user would try first are scored on the same split.

A choice made on fold k's inner split is clean for fold k's test cells only: fold k's training
cells are the other folds' test cells. A recipe used on every fold must therefore be chosen on
each fold (``--fold 0`` ... ``--fold 4``, reporting each fold with its own choice) or on another
dataset than the one reported (search on pbmc68k, report cbmc, and the reverse), never on the
reported folds. ``--legacy-split`` reproduces the issue-13 search (fold 0's training cells split
80 / 20 with random_state 1), whose choice touched cbmc's test folds 1-4.

    python benchmarks/sc_recipe_search.py --dataset cbmc --out runs/sc_search/cbmc.jsonl \\
        --variants base,long,wide --seeds 0,1

Each finished (variant, seed) appends one JSON line, so an interrupted search resumes.

**Choosing** (issue 22: a recipe is chosen on at least two datasets, never on the reported test
cells): search every fold of two or more datasets, then

    python benchmarks/sc_recipe_search.py --choose runs/sc_search/cbmc.jsonl runs/sc_search/pbmc68k.jsonl \
        --out benchmarks/results/sc_recipe_search/choice.json

picks, for each outer fold k, the variant with the best mean (over datasets) of its seed-mean
validation macro-F1 on fold k's inner splits, and the fine-tuning recipe the same way on that
variant's models. Fold k's recipe has seen only fold k's training cells of each dataset, so
``bior2 benchmark sc --fold-recipes choice.json`` uses it for fold k of any of those datasets
(the benchmark checks the validation cells are its own inner split).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

# Each variant: pretraining options (model / task / train) on top of BASE. "steps" is given as
# epochs of the fit cells where "epochs" is set, so the recipe scales with the dataset.
BASE: Dict[str, Any] = {"hidden": [256, 128], "latent": 64, "dropout": 0.1, "loss": "mse", "steps": 400,
                        "lr": 1e-3, "batch_size": 256, "ratio": "0.1-0.5", "weight_decay": 0.01}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "base": {},
    "e30": {"epochs": 30},
    "e100": {"epochs": 100},
    "e100_wide": {"epochs": 100, "hidden": [512, 256]},
    "e100_nb": {"epochs": 100, "loss": "nb"},
    "e100_lat32": {"epochs": 100, "latent": 32},
    "e100_lat128": {"epochs": 100, "latent": 128},
    "e100_do0": {"epochs": 100, "dropout": 0.0},
    "e100_do3": {"epochs": 100, "dropout": 0.3},
    "e100_lr3": {"epochs": 100, "lr": 3e-3},
    "e100_deep": {"epochs": 100, "hidden": [512, 256, 128]},
    "e200": {"epochs": 200},
    "e100_wd1": {"epochs": 100, "weight_decay": 0.1},
    "e100_wide_lat128": {"epochs": 100, "hidden": [512, 256], "latent": 128},
    "e200_lat128": {"epochs": 200, "latent": 128},
    "e100_wide_lat128_nb": {"epochs": 100, "hidden": [512, 256], "latent": 128, "loss": "nb"},
    "e100_lat256": {"epochs": 100, "hidden": [512, 256], "latent": 256},
    "e100_1layer": {"epochs": 100, "hidden": [512], "latent": 128},
    "e50_wide_lat128": {"epochs": 50, "hidden": [512, 256], "latent": 128},
    "e30_wide_lat128": {"epochs": 30, "hidden": [512, 256], "latent": 128},
    "e30_wide_lat128_lr3": {"epochs": 30, "hidden": [512, 256], "latent": 128, "lr": 3e-3},
    "e50_wide_lat128_b512": {"epochs": 50, "hidden": [512, 256], "latent": 128, "batch_size": 512, "lr": 2e-3},
    "e50_wide_lat128_do3": {"epochs": 50, "hidden": [512, 256], "latent": 128, "dropout": 0.3},
    # the chosen recipe (= e50_wide_lat128), re-trained to try the fine-tuning recipes on it
    "recipe": {"epochs": 50, "hidden": [512, 256], "latent": 128},
}

# Fine-tuning recipes (encoder + linear head on the fit cells' labels), tried on a variant's models
# with --finetune.
FINETUNE: Dict[str, Dict[str, Any]] = {
    "ft300": {"steps": 300, "lr": 1e-3},
    "ft1000_lr3e-4": {"steps": 1000, "lr": 3e-4},
    "ft600_mask": {"steps": 600, "lr": 1e-3, "mask_ratio": "0.1-0.5"},
    "ft300_balanced": {"steps": 300, "lr": 1e-3, "balanced": True},
}


def split(labels: np.ndarray):
    """The issue-13 split (``--legacy-split``): fold 0's training cells, 80 / 20, random_state 1."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(np.zeros(labels.size), labels))
    train = folds[0][0]
    fit, val = train_test_split(train, test_size=0.2, stratify=labels[train], random_state=1)
    return np.sort(fit), np.sort(val)


def benchmark_recipe(variant: str, finetune: str) -> Dict[str, Any]:
    """A variant (+ fine-tuning recipe) as ``bior2 benchmark sc`` fold-recipe fields."""
    opts = dict(BASE, **VARIANTS[variant])
    # the benchmark's models always use these two: a variant changing them cannot be carried over
    for key, value in (("loss", "mse"), ("weight_decay", 0.01)):
        if opts[key] != value:
            raise SystemExit(f"variant {variant}: {key}={opts[key]} is not a benchmark recipe field")
    recipe: Dict[str, Any] = {"hidden": list(opts["hidden"]), "latent": opts["latent"], "dropout": opts["dropout"],
                              "lr": opts["lr"], "batch_size": opts["batch_size"]}
    recipe.update({"epochs": float(opts["epochs"])} if "epochs" in opts else {"steps": opts["steps"]})
    ft = FINETUNE[finetune]
    recipe.update(finetune_steps=ft["steps"], finetune_lr=ft["lr"], finetune_mask_ratio=ft.get("mask_ratio", "0"),
                  finetune_balanced=bool(ft.get("balanced", False)))
    return recipe


def choose(paths: list, out: Path) -> None:
    """Per outer fold, the recipe with the best mean validation macro-F1 over the datasets."""
    from bioR2.bench.sc import BenchmarkConfig, _context
    from bioR2.bench.sc_protocol import choose_per_fold, rows_digest

    by_dataset: Dict[str, list] = {}
    for path in paths:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        # rows name their dataset (older rows do not: they take the file's, or the file name's)
        datasets = {r["dataset"] for r in rows if "dataset" in r} or {Path(path).stem}
        if len(datasets) != 1:
            raise SystemExit(f"{path}: rows of several datasets {sorted(datasets)}; one file per dataset")
        by_dataset[datasets.pop()] = rows
    if len(by_dataset) < 2:
        raise SystemExit(f"--choose: a recipe is chosen on at least two datasets, got {sorted(by_dataset)}")
    per_fold = choose_per_fold(by_dataset)
    for name in by_dataset:  # the validation cells each fold was scored on, for the benchmark to check
        inner = _context(BenchmarkConfig(dataset=name))["inner"]
        for entry in per_fold:
            entry.setdefault("validation", {})[name] = rows_digest(inner[entry["fold"]][1])
    for entry in per_fold:
        entry["recipe"] = benchmark_recipe(entry["variant"], entry.get("finetune", "ft300"))
        print(f"fold {entry['fold']}: {entry['variant']} / {entry.get('finetune')} "
              f"(mean validation macro-F1 {entry['mean'][entry['variant']]:.4f})")
    choice = {"scheme": "per outer fold: every candidate pretrained on that fold's inner fit cells of each dataset "
                        "(+ unlabelled cells), a logistic-regression probe scored on its inner validation cells; "
                        "the recipe with the best mean macro-F1 over the datasets (seeds averaged), then the "
                        "fine-tuning recipe the same way on that recipe's models",
              "datasets": sorted(by_dataset), "sources": [str(p) for p in paths], "folds": per_fold}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(choice, indent=1) + "\n")
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cbmc")
    ap.add_argument("--out", required=True)
    ap.add_argument("--choose", nargs="+", metavar="JSONL", help="choose per-fold recipes from these searches")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--baselines", action="store_true", help="also score the baselines (and scVI if installed)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--finetune", action="store_true", help="also score the fine-tuning recipes on each model")
    ap.add_argument("--fold", type=int, default=0, help="outer fold whose nested inner split is searched on")
    ap.add_argument("--legacy-split", action="store_true", help="the issue-13 split (touches other folds' tests)")
    args = ap.parse_args()
    if args.choose:
        return choose(args.choose, Path(args.out))

    import torch
    from threadpoolctl import threadpool_limits

    from bioR2.bench.sc_baselines import fit_predict, scvi_available, scvi_latent
    from bioR2.bench.sc import BenchmarkConfig, _context
    from bioR2.metrics import classification_metrics
    from bioR2.probe import standardized_logreg
    from bioR2.sc.annotate import embed_reader, fine_tune
    from bioR2.sc.model import ExpressionMAE
    from bioR2.sc import pretrain
    from bioR2.train import TrainConfig

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["variant"], r["seed"], r.get("fold", "legacy")))

    # the benchmark's own data set-up: labelled cells first, then (pbmc68k) external unlabelled ones
    c = _context(BenchmarkConfig(dataset=args.dataset))
    adata, labels, reader, n_lab, n_extra, x_log = (c["adata"], c["labels"], c["reader"], c["n_lab"], c["n_extra"],
                                                    c["x_log"])
    if not 0 <= args.fold < len(c["folds"]):
        raise SystemExit(f"--fold {args.fold}: the benchmark has folds 0-{len(c['folds']) - 1}")
    fit, val = split(labels) if args.legacy_split else c["inner"][args.fold]
    pre_rows = np.concatenate([fit, np.arange(n_lab, n_lab + n_extra)])

    where = "legacy" if args.legacy_split else args.fold

    def record(row: Dict[str, Any]) -> None:
        row = {"dataset": args.dataset, "fold": where, **row}  # a file may hold several folds' searches
        print(json.dumps(row), flush=True)
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")

    if args.baselines and ("baselines", -1, where) not in done:
        row: Dict[str, Any] = {"variant": "baselines", "seed": -1}
        for name in ("logreg", "logreg_balanced", "pca_logreg"):
            m = classification_metrics(labels[val], fit_predict(name, x_log[fit], labels[fit], x_log[val]))
            row[name] = round(m["macro_f1"], 4)
            row[name + "_acc"] = round(m["accuracy"], 4)
        if scvi_available():
            dense = np.asarray(adata.X.toarray())
            z_fit, z_val = scvi_latent(dense[fit], dense[val], max_epochs=100)
            clf = standardized_logreg(max_iter=3000).fit(z_fit, labels[fit])
            m = classification_metrics(labels[val], clf.predict(z_val))
            row["scvi_logreg"] = round(m["macro_f1"], 4)
            row["scvi_logreg_acc"] = round(m["accuracy"], 4)
        record(row)

    for variant in args.variants.split(","):
        opts = dict(BASE, **VARIANTS[variant])
        for seed in [int(s) for s in args.seeds.split(",")]:
            if (variant, seed, where) in done:
                continue
            t0 = time.perf_counter()
            steps = opts["steps"]
            if "epochs" in opts:
                steps = int(round(opts["epochs"] * pre_rows.size / opts["batch_size"]))
            tc = TrainConfig(steps=steps, batch_size=opts["batch_size"], lr=opts["lr"], mask_ratio=opts["ratio"],
                             seed=seed, progress=False, log_every=steps, weight_decay=opts["weight_decay"])
            torch.manual_seed(seed)
            model = ExpressionMAE.for_reader(reader, pre_rows, seed=seed, hidden=opts["hidden"],
                                             latent=opts["latent"], dropout=opts["dropout"], loss=opts["loss"])
            model = pretrain((reader, pre_rows), model=model, train=tc).model
            emb = embed_reader(reader, model, rows=np.arange(n_lab))
            clf = standardized_logreg(max_iter=3000).fit(emb[fit], labels[fit])
            m = classification_metrics(labels[val], clf.predict(emb[val]))
            record({"variant": variant, "seed": seed, "steps": steps, "macro_f1": round(m["macro_f1"], 4),
                    "accuracy": round(m["accuracy"], 4), "seconds": round(time.perf_counter() - t0, 1)})
            for ft_name, ft_opts in (FINETUNE.items() if args.finetune else ()):
                if (f"{variant}/{ft_name}", seed, where) in done:
                    continue
                t1 = time.perf_counter()
                ft = fine_tune(model, reader, labels[fit], rows=fit, seed=seed, device="cpu", **ft_opts)
                proba = ft.predict_proba_array(torch.from_numpy(x_log[val])).numpy()
                m = classification_metrics(labels[val], np.asarray(ft.classes)[proba.argmax(1)])
                record({"variant": f"{variant}/{ft_name}", "seed": seed, "macro_f1": round(m["macro_f1"], 4),
                        "accuracy": round(m["accuracy"], 4), "seconds": round(time.perf_counter() - t1, 1)})


if __name__ == "__main__":
    main()
