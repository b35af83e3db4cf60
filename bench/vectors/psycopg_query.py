#!/usr/bin/env python3
"""The peer's query loop (shared/peers/pgvector_ref.py: psycopg, one connection, plain SQL) over an
existing table, for a slice of the query set, so `VectorBench pgvector --rounds N` can interleave it
with mlinfra's passes on the same table and index, round by round. Prints one JSON line.

    python bench/vectors/psycopg_query.py --port PORT --user U --dbname D --table bench.items \
        --start 0 --count 200 [--ef 64] [--data /tmp/peers-data]
"""
import argparse
import json
import os
import time

import numpy as np
import psycopg


def fvecs(p):
    a = np.fromfile(p, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].view(np.float32)


def ivecs(p):
    a = np.fromfile(p, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:]


def text(v):
    return "[" + ",".join(f"{x:.7g}" for x in v) + "]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--dbname", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--column", default="embedding")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--data", default="/tmp/peers-data")
    a = ap.parse_args()
    d = os.path.join(a.data, "vectors")
    q, gt = fvecs(f"{d}/query.fvecs"), ivecs(f"{d}/gt.ivecs")
    c = psycopg.connect(host=a.host, port=a.port, user=a.user, dbname=a.dbname, autocommit=True)
    c.execute(f"set hnsw.ef_search = {a.ef}")
    cur = c.cursor()
    hits, lat = 0, []
    for i in range(a.start, a.start + a.count):
        t0 = time.perf_counter()
        cur.execute(f"select id from {a.table} order by {a.column} <-> %s::vector limit 10", (text(q[i]),))
        ids = [int(r[0]) for r in cur.fetchall()]
        lat.append(time.perf_counter() - t0)
        hits += len(set(ids) & set(gt[i][:10].tolist()))
    lat.sort()
    print(json.dumps({"tool": "psycopg, the peer's SQL", "queries": a.count, "qps_1conn": round(len(lat) / sum(lat)),
                      "lat_p50_ms": round(lat[len(lat) // 2] * 1e3, 3), "recall@10": hits / (10 * a.count)}))


if __name__ == "__main__":
    main()
