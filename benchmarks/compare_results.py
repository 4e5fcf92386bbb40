"""Compare two ``results.json`` files number by number (a refactor must not move a result).

    python benchmarks/compare_results.py BEFORE/results.json AFTER/results.json

Every value is compared except what records the run rather than its result: ``command``,
``elapsed_s``, ``timings_s``, ``machine``, ``cpu_s``, ``seconds`` and the ``config`` record (its
layout may change). NaN equals NaN. Prints each difference and exits 1 when there is one.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, List

IGNORED = {"command", "elapsed_s", "timings_s", "machine", "cpu_s", "seconds", "config", "bior2_version"}


def differences(before: Any, after: Any, path: str = "") -> List[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: List[str] = []
        for key in sorted(set(before) | set(after)):
            if key in IGNORED:
                continue
            if key not in before or key not in after:
                out.append(f"{path}/{key}: only in {'after' if key not in before else 'before'}")
                continue
            out += differences(before[key], after[key], f"{path}/{key}")
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} items before, {len(after)} after"]
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{path}[{i}]")]
    if isinstance(before, float) and isinstance(after, float) and math.isnan(before) and math.isnan(after):
        return []
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f, open(argv[1]) as g:
        diffs = differences(json.load(f), json.load(g))
    for line in diffs:
        print(line)
    print(f"{len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
