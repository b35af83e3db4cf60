#!/usr/bin/env python3
"""Feast side of bench/features/run.sh: the same data, the same work, one JSON line per step.

    python feast_bench.py historical DATA_DIR REPO_DIR   apply + get_historical_features(...).to_df()
    python feast_bench.py online DATA_DIR REPO_DIR N     apply + materialize + N single lookups, N/20 batches of 100

FEAST_REDIS=HOST:PORT: Feast's Redis online store on that server instead of its sqlite one.
Reuses the peer harness (shared/peers/feast_ref.py) for the repo layout; run it under /usr/bin/time -v
to read peak memory. The historical step times only the retrieval, not `import feast` or apply.
"""
import json
import os
import sys
import time

PEERS = os.environ.get("PEERS_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/peers"))
sys.path.insert(0, PEERS)
import feast_ref  # noqa: E402  (sets the offline environment first)
from _env import pct  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def store(data, repo):
    if os.environ.get("FEAST_REDIS"):
        feast_ref.ONLINE = 'online_store:\n    type: redis\n    connection_string: "%s"' % os.environ["FEAST_REDIS"]
    fdir = os.path.join(data, "features")
    meta = json.load(open(os.path.join(fdir, "meta.json")))
    parquet = os.path.abspath(os.path.join(fdir, "customer_features.parquet"))
    feast_ref.write_repo(repo, parquet, meta["ttl_seconds_designed_for"])
    import importlib.util
    from feast import FeatureStore
    spec = importlib.util.spec_from_file_location("bench_features", os.path.join(repo, "features.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fs = FeatureStore(repo_path=repo)
    fs.apply([mod.customer, mod.customer_stats])
    return fs, fdir, meta


def main():
    mode, data, repo = sys.argv[1], sys.argv[2], sys.argv[3]
    fs, fdir, meta = store(data, repo)
    refs = [f"{feast_ref.FV}:{c}" for c in feast_ref.FEATURES]
    if mode == "historical":
        ent = pd.read_parquet(os.path.join(fdir, "entity_df.parquet"))
        t = time.perf_counter()
        df = fs.get_historical_features(entity_df=ent, features=refs).to_df()
        print(json.dumps({"tool": "feast", "step": "historical", "seconds": round(time.perf_counter() - t, 3),
                          "entity_rows": len(ent), "rows_out": len(df), "feature_rows": meta["feature_rows"]}), flush=True)
    elif mode == "online":
        n = int(sys.argv[4])
        start = pd.Timestamp(meta["t0"]) - pd.Timedelta(days=3)
        end = pd.Timestamp(meta["t0"]) + pd.Timedelta(days=meta["horizon_days"] + 3)
        t = time.perf_counter()
        fs.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime())
        print(json.dumps({"tool": "feast", "step": "materialize", "seconds": round(time.perf_counter() - t, 3),
                          "feature_rows": meta["feature_rows"], "online": os.environ.get("FEAST_REDIS") and "redis" or "sqlite"}), flush=True)
        lo, hi = meta["entity_ids"]
        rng = np.random.default_rng(7)
        ids = rng.integers(lo, hi + 1, size=n).tolist()
        for i in ids[:50]:
            fs.get_online_features(features=refs, entity_rows=[{"customer_id": int(i)}]).to_dict()
        lat = []
        for i in ids:
            t = time.perf_counter()
            fs.get_online_features(features=refs, entity_rows=[{"customer_id": int(i)}]).to_dict()
            lat.append((time.perf_counter() - t) * 1e6)
        print(json.dumps({"tool": "feast", "step": "online_1x3", "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "n": n}), flush=True)
        blat = []
        for r in range(max(20, n // 20)):
            batch = rng.integers(lo, hi + 1, size=100).tolist()
            t = time.perf_counter()
            fs.get_online_features(features=refs, entity_rows=[{"customer_id": int(i)} for i in batch]).to_dict()
            blat.append((time.perf_counter() - t) * 1e6)
        print(json.dumps({"tool": "feast", "step": "online_100x3", "p50_us": pct(blat, 50), "p99_us": pct(blat, 99),
                          "n": len(blat)}), flush=True)
    else:
        sys.exit("mode must be historical or online")


if __name__ == "__main__":
    main()
