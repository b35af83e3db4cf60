#!/usr/bin/env python3
"""Performance-metrics benchmark: mlinfra vs scikit-learn on the same labelled predictions, same run.

    /tmp/mlinfra-ci-venv/bin/python bench/performance/run.py [--rows 1000000] [--reps 5]

1. Writes 1M labels (0/1, 20 % positive) and scores (a logistic of a shifted normal, rounded to
   4 decimals so that ties occur, as they do with tree models) as float64 files (seeded).
2. scikit-learn: roc_auc_score(y, p) and f1_score(y, p > 0.5) on NumPy arrays, timed (median of reps).
3. mlinfra: the release `metrics-bench` binary on the same files: ROC AUC, F1, and all six
   classification metrics together; each measure the median of reps.
Steps 2 and 3 alternate for --rounds rounds. Prints JSON lines, one line of ratios per round,
then a summary with the median ratios and the largest difference in value.
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
from sklearn import metrics

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=1_000_000)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--dir", default="/tmp/metrics-bench")
ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.build/release/metrics-bench"))
a = ap.parse_args()
os.makedirs(a.dir, exist_ok=True)
rng = np.random.default_rng(7)
y = (rng.random(a.rows) < 0.2).astype(np.float64)
p = np.round(1 / (1 + np.exp(-(1.5 * y - 1 + rng.normal(size=a.rows)))), 4)
labels, scores = os.path.join(a.dir, "labels.f64"), os.path.join(a.dir, "scores.f64")
y.tofile(labels)
p.tofile(scores)


def timed(fn):
    ts, v = [], None
    for _ in range(a.reps):
        t = time.perf_counter()
        v = fn()
        ts.append(time.perf_counter() - t)
    return v, sorted(ts)[len(ts) // 2]


rounds = []
for _ in range(a.rounds):
    # Alternating rounds: on a shared machine both tools see the same load.
    sk_auc, sk_auc_s = timed(lambda: metrics.roc_auc_score(y, p))
    sk_f1, sk_f1_s = timed(lambda: metrics.f1_score(y, p > 0.5))
    print(json.dumps({"tool": "scikit-learn", "measure": "roc_auc", "rows": a.rows, "seconds": sk_auc_s, "value": sk_auc}))
    print(json.dumps({"tool": "scikit-learn", "measure": "f1", "rows": a.rows, "seconds": sk_f1_s, "value": sk_f1}))
    out = subprocess.run([a.bin, labels, scores, str(a.reps)], check=True, capture_output=True, text=True).stdout
    ours = {}
    for line in out.splitlines():
        print(line)
        r = json.loads(line)
        ours[r["measure"]] = r
    rounds.append({
        "roc_auc_speedup": sk_auc_s / ours["roc_auc"]["seconds"], "f1_speedup": sk_f1_s / ours["f1"]["seconds"],
        "roc_auc_plus_f1_speedup": (sk_auc_s + sk_f1_s) / (ours["roc_auc"]["seconds"] + ours["f1"]["seconds"]),
        "all_six_vs_sklearn_auc_plus_f1": (sk_auc_s + sk_f1_s) / ours["all six metrics"]["seconds"],
        "max_abs_difference": max(abs(ours["roc_auc"]["value"] - sk_auc), abs(ours["f1"]["value"] - sk_f1)),
    })
    print(json.dumps({"round": len(rounds), **rounds[-1]}))


def med(key):
    xs = sorted(r[key] for r in rounds)
    return xs[len(xs) // 2]


print(json.dumps({
    "summary": True, "rows": a.rows, "rounds": a.rounds, "reps": a.reps, "sklearn_version": __import__("sklearn").__version__,
    **{k: med(k) for k in ("roc_auc_speedup", "f1_speedup", "roc_auc_plus_f1_speedup", "all_six_vs_sklearn_auc_plus_f1")},
    "max_abs_difference": max(r["max_abs_difference"] for r in rounds),
}))
