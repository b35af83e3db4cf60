#!/usr/bin/env python3
"""Makes the small XGBoost parity fixtures used by XGBoostParityTests.

Run with the peers' venv (xgboost 3.2.0, numpy):
    /tmp/peers-venv/bin/python Tests/ModelServingTests/Fixtures/make_fixtures.py

For each objective (binary:logistic, reg:squarederror, multi:softprob) it trains a small
gbtree model on seeded synthetic data with ~10% missing values, saves it with
Booster.save_model (XGBoost's own JSON, and UBJSON as <name>.model.ubj), and writes <name>.cases.json holding the inputs
(null = missing; a few values set exactly on split thresholds to pin the `<` rule) and
XGBoost's own predictions: `margin` (output_margin=True) and `prediction` (predict), as float32.
"""
import json
import os

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))


def data(rng, n, f):
    X = rng.normal(0, 1, size=(n, f)).astype(np.float32)
    return X


def with_missing(rng, X):
    X = X.copy()
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


def put_thresholds(model_path, X):
    # copy some split thresholds into the inputs so that x == split_condition occurs
    trees = json.load(open(model_path))["learner"]["gradient_booster"]["model"]["trees"]
    for r in range(min(8, len(X))):
        t = trees[r % len(trees)]
        X[r, t["split_indices"][0]] = np.float32(t["split_conditions"][0])
    return X


def make(name, objective, y_fn, extra):
    rng = np.random.default_rng(7)
    f = 6
    Xtr = with_missing(rng, data(rng, 600, f))
    ytr = y_fn(np.nan_to_num(Xtr), rng)
    params = dict(objective=objective, max_depth=4, eta=0.3, tree_method="hist", seed=7, nthread=1, **extra)
    bst = xgb.train(params, xgb.DMatrix(Xtr, label=ytr, missing=np.nan), num_boost_round=12)
    path = os.path.join(HERE, f"{name}.model.json")
    bst.save_model(path)
    bst.save_model(os.path.join(HERE, f"{name}.model.ubj"))  # the same model as UBJSON (MLflow's default)
    Xte = with_missing(rng, data(rng, 60, f))
    Xte = put_thresholds(path, Xte)
    d = xgb.DMatrix(Xte, missing=np.nan)
    margin = bst.predict(d, output_margin=True).astype(np.float32)
    pred = bst.predict(d).astype(np.float32)
    if margin.ndim == 1:
        margin, pred = margin[:, None], pred[:, None]
    cases = {
        "generated_by": f"make_fixtures.py with xgboost {xgb.__version__}",
        "objective": objective,
        "inputs": [[None if np.isnan(v) else float(v) for v in row] for row in Xte],
        "margin": [[float(v) for v in row] for row in margin],
        "prediction": [[float(v) for v in row] for row in pred],
    }
    with open(os.path.join(HERE, f"{name}.cases.json"), "w") as out:
        json.dump(cases, out)


make("binary", "binary:logistic",
     lambda X, rng: (X[:, 0] - X[:, 1] + X[:, 2] * X[:, 3] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32), {})
make("regression", "reg:squarederror",
     lambda X, rng: (3 * X[:, 0] + np.sin(X[:, 1]) * 2 + X[:, 4] + 10).astype(np.float32), {})
make("multiclass", "multi:softprob",
     lambda X, rng: np.digitize(X[:, 0] + 0.5 * X[:, 2], [-0.5, 0.5]).astype(np.float32), {"num_class": 3})
