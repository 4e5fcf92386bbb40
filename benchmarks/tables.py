"""README / RESULTS tables of the comparisons, generated from the committed results.json files.

Each table sits in the text between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``; this
script rewrites what is between the markers from the JSON (``--write``) or says where the text
and the JSON disagree (``--check``, exit status 1; tests/test_tables.py runs it).

    python benchmarks/tables.py --check
    python benchmarks/tables.py --write

A results.json with a ``comparisons`` section is read as it is. An older one (written before the
section existed) gets its comparisons computed here from the per-(seed, fold) values it stores,
with the same function (:func:`bioR2.stats.paired_comparison`), and its row says the selection of
that run was not the nested one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCUMENTS = [ROOT / "README.md", ROOT / "benchmarks" / "RESULTS.md"]
SC_BASELINES = ["logreg", "logreg_balanced", "pca_logreg", "knn_pca", "scvi_logreg"]
SC_RUNS = {"cbmc, full, recipe chosen per fold on 2 datasets": "sc/clean_full_cbmc",
           "pbmc68k, full, recipe chosen per fold on 2 datasets": "sc/clean_full_pbmc68k",
           "cbmc, full, nested selection": "sc/nested_full_cbmc",
           "pbmc68k, full, nested selection": "sc/nested_full_pbmc68k",
           "pbmc68k, quick, nested selection": "sc/protocol_quick_pbmc68k",
           "cbmc, full (issue 13 recipe)": "sc/full_cbmc", "pbmc68k, full (issue 13 recipe)": "sc/full_pbmc68k"}
MARKER = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def _load(rel: str) -> Dict[str, Any] | None:
    path = RESULTS / rel / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def sc_comparisons(results: Dict[str, Any]) -> Dict[str, Any]:
    """The run's ``comparisons``, or (an older run) the same computed from its stored values."""
    if "comparisons" in results:
        return results["comparisons"]
    from bioR2.bench.sc_protocol import sc_comparisons as compute

    cfg = results["config"]
    store = {m: {"macro_f1": v["macro_f1"]["values"]} for m, v in results["methods"].items() if "macro_f1" in v}
    return compute(store, len(results["seeds"]), cfg["n_folds"], SC_BASELINES, [])


def _ci(c: Dict[str, Any]) -> str:
    lo, hi = c["ci95"]
    return "—" if lo is None else f"[{lo:+.4f}, {hi:+.4f}]"


def _cell(c: Dict[str, Any] | None) -> str:
    return "—" if c is None else f"{c['diff']:+.4f} {_ci(c)} **{c['verdict']}**"


def sc_table() -> str:
    rows = ["| dataset, run | selection | vs | frozen R²MAE − it (macro-F1) | fine-tuned − it | unit (n) |",
            "|---|---|---|---|---|---|"]
    for label, rel in SC_RUNS.items():
        results = _load(rel)
        if results is None:
            continue
        sel = results.get("selection")
        selection = (f"nested ({sel['n']} cells; {sel['overlap_with_test']} in a test fold)" if sel
                     else "old split, untuned baselines")
        if sel and sel.get("recipe"):
            selection += f"; recipe: inner splits of {' + '.join(sel['recipe'].get('datasets', []))}"
        elif sel:
            selection += "; recipe: issue 13's"
        comps = sc_comparisons(results)
        for base in SC_BASELINES:
            frozen, tuned = comps.get(f"r2mae_vs_{base}"), comps.get(f"finetune_vs_{base}")
            if frozen is None and tuned is None:
                continue
            unit = frozen or tuned
            rows.append(f"| {label} | {selection} | {base} | {_cell(frozen)} | {_cell(tuned)} | "
                        f"{unit['unit']} ({unit['n']}) |")
    return "\n".join(rows) + "\n"


# DNA runs: label -> results folder. The issue-14 long run predates the section; its comparisons
# were computed afterwards from its per-seed AUPRCs by benchmarks/dna_kmer_tuned.py.
DNA_RUNS = {"long, issue 14 recipe": "dna_kmer_tuned", "long, the levers": "dna_long_levers"}
TASK_ORDER = ("motif", "motif_oct4", "motif_mafk", "bacterial")


def dna_comparisons(results: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """``{"task/r2mae_vs_<method>": comparison}`` of a DNA results.json: a benchmark run's own
    per-task section (the per-factor entries become tasks ``motif_<factor>``), or the flat one
    that benchmarks/dna_kmer_tuned.py writes."""
    comps = results["comparisons"]
    if all("/" in k for k in comps):
        return comps
    out: Dict[str, Dict[str, Any]] = {}
    for task, entries in comps.items():
        levels = results["tasks"][task].get("per_factor_auprc", {})
        for key, c in entries.items():
            level = next((lv for lv in levels if key.endswith(f"_{lv}")), None)
            if level is None:
                out[f"{task}/{key}"] = c
            else:
                out[f"{task}_{level.lower()}/{key[:-len(level) - 1]}"] = c
    return out


def dna_table() -> str:
    rows = ["| run | task | vs | AUPRC diff (R²MAE − it) | 95% CI | unit (n) | verdict |",
            "|---|---|---|---|---|---|---|"]
    notes = []
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    for label, rel in DNA_RUNS.items():
        results = _load(rel)
        if results is None:
            continue
        comps = {k: c for k, c in dna_comparisons(results).items()
                 if k.split("/")[1] in ("r2mae_vs_kmer", "r2mae_vs_kmer_tuned")}
        for name, c in sorted(comps.items(), key=lambda kv: (order.get(kv[0].split("/")[0], 9), kv[0].split("/")[1])):
            task, vs = name.split("/")
            rows.append(f"| {label} | {task} | {vs.replace('r2mae_vs_', '')} | {c['diff']:+.4f} | {_ci(c)} | "
                        f"{c['unit']} ({c['n']}) | {c['verdict']} |")
        choice = results["selection"]["kmer_tuned"]
        notes.append(f"{label}: the k-mer chosen on the validation split ({results['selection']['n']} variants, "
                     f"{results['selection']['overlap_with_test']} test variants): " + ", ".join(
                         f"{t}: {c['chosen']['flank']}+{c['chosen']['flank']} bp, {c['chosen']['weighting']}"
                         for t, c in choice.items()) + ".")
    return "\n".join(rows + [""] + notes) + "\n"


TABLES = {"sc-comparisons": sc_table, "dna-comparisons": dna_table}


def render(text: str) -> str:
    """``text`` with every marked table regenerated."""
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"unknown table marker {name!r}; known: {sorted(TABLES)}")
        return m.group(1) + TABLES[name]() + m.group(4)

    return MARKER.sub(fill, text)


def check(paths: List[Path]) -> List[str]:
    """Names of the documents whose marked tables differ from the JSON."""
    return [str(p) for p in paths if p.exists() and render(p.read_text()) != p.read_text()]


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when a table disagrees with the JSON")
    mode.add_argument("--write", action="store_true", help="rewrite the marked tables")
    args = ap.parse_args(argv)
    if args.check:
        stale = check(DOCUMENTS)
        for path in stale:
            print(f"{path}: a table disagrees with benchmarks/results/*/results.json; "
                  "run python benchmarks/tables.py --write", file=sys.stderr)
        return 1 if stale else 0
    from bioR2.utils.io import atomic_write_text

    for path in DOCUMENTS:
        new = render(path.read_text())
        if new != path.read_text():
            atomic_write_text(path, new)
            print(f"rewrote the tables of {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
