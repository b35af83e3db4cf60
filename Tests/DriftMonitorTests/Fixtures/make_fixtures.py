#!/usr/bin/env python3
"""Writes drift_fixtures.json: samples and the answers of SciPy / Evidently for them.

Run with the peers venv (it has scipy, numpy, pandas and evidently):

    /tmp/peers-venv/bin/python Tests/DriftMonitorTests/Fixtures/make_fixtures.py

Deterministic (seeded). Samples are rounded to a few decimals to keep the file small;
rounding only adds ties, which the tests want anyway.
"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.stats._ksstats import kolmogn

from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
from evidently.legacy.calculations.stattests.z_stattest import _z_stat_test
from evidently.legacy.calculations.stattests.registry import _get_default_stattest
from evidently.legacy.core import ColumnType

warnings.simplefilter("ignore")
rng = np.random.default_rng(20261122)


def psi_quantile(ref, cur, bins=10, eps=1e-4):
    """mlinfra's PSI convention (see DriftStatistics.swift)."""
    edges = np.quantile(ref, np.arange(1, bins) / bins)
    r = np.bincount(np.digitize(ref, edges), minlength=bins) / len(ref)
    c = np.bincount(np.digitize(cur, edges), minlength=bins) / len(cur)
    r = np.where(r == 0, eps, r)
    c = np.where(c == 0, eps, c)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_case(name, ref, cur):
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    ks = stats.ks_2samp(ref, cur)
    rs, cs = pd.Series(ref), pd.Series(cur)
    js, _ = _jensenshannon(rs, cs, ColumnType.Numerical, 0.1)
    wn, _ = _wasserstein_distance_norm(rs, cs, ColumnType.Numerical, 0.1)
    default = _get_default_stattest(rs, cs, ColumnType.Numerical).name
    return {
        "name": name, "kind": "numerical",
        "reference": ref.tolist(), "current": cur.tolist(),
        "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
        "ks_location": float(ks.statistic_location), "ks_sign": int(ks.statistic_sign),
        "ks_method": "exact" if max(len(ref), len(cur)) <= 10000 else "asymptotic",
        "wasserstein": float(stats.wasserstein_distance(ref, cur)),
        "wasserstein_normed": float(wn),
        "reference_std": float(np.std(ref)),
        "jensenshannon": float(js),
        "psi": psi_quantile(ref, cur),
        "psi_edges": np.quantile(ref, np.arange(1, 10) / 10).tolist(),
        "default_method": default,
    }


def categorical_case(name, ref, cur):
    rs, cs = pd.Series(ref), pd.Series(cur)
    case = {"name": name, "kind": "categorical", "reference": list(ref), "current": list(cur),
            "default_method": _get_default_stattest(rs, cs, ColumnType.Categorical).name}
    keys = set(ref) | set(cur)
    if len(keys) > 1:
        case["chisquare_pvalue"] = float(_chi_stat_test(rs, cs, ColumnType.Categorical, 0.05)[0])
    if len(keys) <= 2:
        case["z_pvalue"] = float(_z_stat_test(rs, cs, ColumnType.Categorical, 0.05)[0])
    case["jensenshannon"] = float(_jensenshannon(rs, cs, ColumnType.Categorical, 0.1)[0])
    return case


def r(x, d=4):
    return np.round(x, d)


cases = []
# Small random samples of unequal and equal sizes: the exact KS paths.
for k in range(60):
    n1 = int(rng.integers(1, 120))
    n2 = int(rng.integers(1, 120)) if k % 3 else n1
    shift = float(rng.choice([0.0, 0.2, 0.5, 1.5]))
    cases.append(numeric_case(f"small_{k}_{n1}x{n2}", r(rng.normal(0, 1, n1)), r(rng.normal(shift, 1, n2))))
# Medium exact: up to 10,000 (MAX_AUTO_N).
for k, (n1, n2, shift) in enumerate([(800, 1200, 0.1), (3000, 3000, 0.05), (2500, 4000, 0.0), (10000, 700, 0.08),
                                     (5000, 10000, 0.03), (1001, 999, 0.3)]):
    cases.append(numeric_case(f"medium_{k}_{n1}x{n2}", r(rng.normal(0, 1, n1), 3), r(rng.normal(shift, 1, n2), 3)))
# Asymptotic: larger than 10,000 on one side, including tiny partners (kstwo with small n).
for k, (n1, n2, shift) in enumerate([(12000, 15000, 0.02), (20000, 11000, 0.0), (10001, 40, 0.5), (15000, 7, 0.0),
                                     (11000, 300, 0.15), (10500, 2, 1.0), (16000, 16000, 0.01)]):
    cases.append(numeric_case(f"large_{k}_{n1}x{n2}", r(rng.normal(0, 1, n1), 3), r(rng.normal(shift, 1, n2), 3)))
# Ties: small integer ranges (many repeated values, repeated quantile edges).
for k in range(12):
    n1, n2 = int(rng.integers(5, 3000)), int(rng.integers(5, 3000))
    hi = int(rng.choice([2, 3, 5, 8, 30]))
    cases.append(numeric_case(f"ties_{k}_{n1}x{n2}_range{hi}", rng.integers(0, hi, n1), rng.integers(0, hi + int(k % 2), n2)))
cases.append(numeric_case("ties_poisson_large", rng.poisson(3.0, 20000), rng.poisson(3.3, 12000)))
# Constant columns.
cases.append(numeric_case("constant_same", np.full(50, 3.0), np.full(40, 3.0)))
cases.append(numeric_case("constant_different", np.full(50, 3.0), np.full(40, 4.0)))
cases.append(numeric_case("constant_reference", np.full(2000, 1.0), r(rng.normal(1, 1, 1500))))
cases.append(numeric_case("constant_current_large", r(rng.normal(0, 1, 12000)), np.full(11000, 0.0)))
# Tiny samples.
cases.append(numeric_case("tiny_1x1", [1.0], [2.0]))
cases.append(numeric_case("tiny_1x1_equal", [1.0], [1.0]))
cases.append(numeric_case("tiny_2x3", [0.5, 1.5], [0.1, 0.7, 2.0]))
cases.append(numeric_case("tiny_1x5", [0.0], [1.0, 2.0, 3.0, 4.0, 5.0]))
cases.append(numeric_case("disjoint", r(rng.normal(0, 1, 300)), r(rng.normal(50, 1, 200))))
cases.append(numeric_case("lognormal_shift", r(rng.lognormal(0, 1, 5000)), r(rng.lognormal(0.1, 1, 4000))))

cat_cases = []
colors = ["red", "green", "blue", "cyan", "black"]
for k in range(10):
    m = int(rng.integers(2, 6))
    n1, n2 = int(rng.integers(20, 3000)), int(rng.integers(20, 3000))
    p = rng.dirichlet(np.ones(m))
    q = p if k % 2 else rng.dirichlet(np.ones(m))
    cat_cases.append(categorical_case(f"cat_{k}_{m}", list(rng.choice(colors[:m], n1, p=p)), list(rng.choice(colors[:m], n2, p=q))))
cat_cases.append(categorical_case("cat_new_value", ["a"] * 30 + ["b"] * 20, ["a"] * 25 + ["b"] * 20 + ["c"] * 5))
cat_cases.append(categorical_case("cat_binary", ["y"] * 300 + ["n"] * 700, ["y"] * 380 + ["n"] * 620))
cat_cases.append(categorical_case("cat_single_same", ["y"] * 30, ["y"] * 20))

# The one-sample KS law and Smirnov's one-sided law on a grid, every algorithm branch.
kstwo_grid = []
for n in [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 1000, 5000, 20000, 100000, 150000, 1000000]:
    for x in [0.3 / n, 0.6 / n, 0.9 / n, 1.5 / n, 0.01, 0.03, 0.05, 0.08, 0.1, 0.2, 0.3, 0.45, 0.5, 0.7, 0.95, 1 - 0.5 / n]:
        if 0 < x < 1:
            kstwo_grid.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n)), "smirnov": float(special.smirnov(n, x))})

gamma_grid = [{"a": a, "x": x, "q": float(special.gammaincc(a, x))}
              for a in [0.5, 1, 1.5, 2, 3.5, 10, 50.5, 200] for x in [0.01, 0.3, 1, 2.5, 7, 20, 60, 250]]

out = {"generator": "make_fixtures.py", "scipy": __import__("scipy").__version__, "numpy": np.__version__,
       "evidently": __import__("evidently").__version__,
       "numerical": cases, "categorical": cat_cases, "kstwo": kstwo_grid, "gammaincc": gamma_grid}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drift_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(f"{path}: {len(cases)} numerical, {len(cat_cases)} categorical, {len(kstwo_grid)} kstwo, "
      f"{os.path.getsize(path) / 1e6:.2f} MB", file=sys.stderr)
