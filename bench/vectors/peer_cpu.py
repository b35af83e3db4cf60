#!/usr/bin/env python3
"""hnswlib and faiss IndexFlatL2 timed in CPU seconds (time.process_time), beside ann_ref.py's wall clock.

On a machine shared with other work, wall-clock rates mostly measure the other work;
CPU time of a single-threaded run does not. Same data, parameters and recall maths as
shared/peers/ann_ref.py. Prints one JSON line per (library, ef).

    /tmp/peers-venv/bin/python bench/vectors/peer_cpu.py [--data /tmp/peers-data] [--efs 16,32,64,128]
"""
import argparse
import json
import os
import time

import numpy as np


def recall(ids, gt, k):
    return float(np.mean([len(set(r[:k].tolist()) & set(g[:k].tolist())) / k for r, g in zip(ids, gt)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/peers-data")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--efs", default="16,32,64,128")
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    vd = os.path.join(a.data, "vectors")
    base = np.load(os.path.join(vd, "base.npy"))
    query = np.load(os.path.join(vd, "query.npy"))
    gt = np.load(os.path.join(vd, "gt.npy"))
    n, d = base.shape

    import hnswlib
    idx = hnswlib.Index(space="l2", dim=d)
    c = time.process_time()
    idx.init_index(max_elements=n, M=a.M, ef_construction=a.ef_construction, random_seed=100)
    idx.add_items(base, np.arange(n), num_threads=1)
    build_cpu = time.process_time() - c
    for ef in [int(x) for x in a.efs.split(",")]:
        idx.set_ef(max(ef, a.k))
        c = time.process_time()
        labels = [idx.knn_query(q[None, :], k=a.k, num_threads=1)[0][0] for q in query]
        el = time.process_time() - c
        print(json.dumps({"tool": "hnswlib", "index": "HNSW", "ef": ef, "build_cpu_s": round(build_cpu, 2),
                          "qps_cpu": round(len(query) / el), f"recall@{a.k}": round(recall(np.array(labels), gt, a.k), 4),
                          "note": "one knn_query call per query, as mlinfra's query API is called"}), flush=True)
        c = time.process_time()
        labels, _ = idx.knn_query(query, k=a.k, num_threads=1)
        el = time.process_time() - c
        print(json.dumps({"tool": "hnswlib", "index": "HNSW", "ef": ef, "qps_cpu_batched_call": round(len(query) / el)}), flush=True)
    del idx

    import faiss
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexFlatL2(d)
    flat.add(base)
    c = time.process_time()
    _, labels = flat.search(query, a.k)
    el = time.process_time() - c
    print(json.dumps({"tool": "faiss", "index": "IndexFlatL2", "qps_cpu": round(len(query) / el),
                      f"recall@{a.k}": round(recall(labels, gt, a.k), 4)}), flush=True)


if __name__ == "__main__":
    main()
