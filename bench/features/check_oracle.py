#!/usr/bin/env python3
"""Compares mlinfra's historical CSV with the plain-pandas point-in-time rule at any size.

    python check_oracle.py DATA_DIR OURS_CSV

Uses shared/peers/feast_ref.py's spec_historical (stable sorts, inclusive window) and prints one
JSON line: rows compared, rows that differ, rows missing.
"""
import json
import os
import sys

PEERS = os.environ.get("PEERS_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/peers"))
sys.path.insert(0, PEERS)
import feast_ref  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def main():
    data, ours_path = sys.argv[1], sys.argv[2]
    fdir = os.path.join(data, "features")
    meta = json.load(open(os.path.join(fdir, "meta.json")))
    ent = pd.read_parquet(os.path.join(fdir, "entity_df.parquet"))
    feat = pd.read_parquet(os.path.join(fdir, "customer_features.parquet"))
    spec = feast_ref.spec_historical(ent, feat, meta["ttl_seconds_designed_for"]).sort_values("row_id").reset_index(drop=True)
    ours = pd.read_csv(ours_path, float_precision="round_trip").sort_values("row_id").reset_index(drop=True)
    missing = len(spec) - len(ours)
    bad = np.zeros(len(spec), dtype=bool)
    assert (spec["row_id"].to_numpy() == ours["row_id"].to_numpy()).all()
    for c in feast_ref.FEATURES:
        x = spec[c].astype("float64").to_numpy()
        y = ours[c].astype("float64").to_numpy()
        bad |= ~((x == y) | (np.isnan(x) & np.isnan(y)))
    print(json.dumps({"step": "oracle_check", "rows": int(len(spec)), "differing": int(bad.sum()), "missing": int(missing)}))


if __name__ == "__main__":
    main()
