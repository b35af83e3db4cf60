#!/usr/bin/env python3
"""Drift benchmark: mlinfra vs Evidently's DataDriftPreset, in the same run.

    /tmp/peers-venv/bin/python bench/drift/run.py [--rows 1000000] [--cols 10] [--reps 3]

1. Writes reference and current data (seeded; columns shifted by different amounts) as CSV
   (full float repr) and .npy under /tmp/drift-bench/.
2. Evidently: DataFrames built from the .npy (not timed), then Report([DataDriftPreset()]).run(...)
   timed, default methods (Wasserstein normed for these columns).
3. mlinfra: the release `drift-bench` binary: profile the reference once (timed separately),
   then each check reads the current CSV, loads the stored profile and evaluates all columns.
Prints JSON lines, then a summary line with the speed-up and the largest difference between
the two tools' per-column values.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=1_000_000)
ap.add_argument("--cols", type=int, default=10)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--dir", default="/tmp/drift-bench")
ap.add_argument("--generate-only", action="store_true")
ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.build/release/drift-bench"))
a = ap.parse_args()
os.makedirs(a.dir, exist_ok=True)
cols = [f"f{i}" for i in range(a.cols)]
tag = f"{a.rows}x{a.cols}"
ref_csv, cur_csv = os.path.join(a.dir, f"ref_{tag}.csv"), os.path.join(a.dir, f"cur_{tag}.csv")
ref_npy, cur_npy = ref_csv[:-4] + ".npy", cur_csv[:-4] + ".npy"
if not os.path.exists(cur_npy):
    rng = np.random.default_rng(42)
    ref = rng.normal(0, 1, (a.rows, a.cols))
    shifts = np.linspace(0, 0.3, a.cols)
    cur = rng.normal(0, 1, (a.rows, a.cols)) * np.linspace(1, 1.3, a.cols) + shifts
    for arr, csv, npy in ((ref, ref_csv, ref_npy), (cur, cur_csv, cur_npy)):
        np.save(npy, arr)
        with open(csv, "w") as f:
            f.write(",".join(cols) + "\n")
            for row in arr:
                f.write(",".join(map(repr, row.tolist())) + "\n")


if a.generate_only:
    sys.exit(0)


def emit(d):
    print(json.dumps(d), flush=True)


ref = np.load(ref_npy)
cur = np.load(cur_npy)
t = time.perf_counter()
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402
import_s = time.perf_counter() - t
defn = DataDefinition(numerical_columns=cols)
rds = Dataset.from_pandas(pd.DataFrame(ref, columns=cols), data_definition=defn)
cds = Dataset.from_pandas(pd.DataFrame(cur, columns=cols), data_definition=defn)
ev_times, ev_cpu, ev_values = [], [], {}
for _ in range(a.reps):
    t, c = time.perf_counter(), time.process_time()
    snap = Report([DataDriftPreset()]).run(current_data=cds, reference_data=rds)
    ev_times.append(time.perf_counter() - t)
    ev_cpu.append(time.process_time() - c)
for m in snap.dict()["metrics"]:
    name = m.get("metric_name", "")
    if name.startswith("ValueDrift("):
        ev_values[name.split("column=")[1].split(",")[0]] = m["value"]
ev = {"tool": "evidently", "version": __import__("evidently").__version__, "preset": "DataDriftPreset (default methods)",
      "rows": a.rows, "columns": a.cols, "import_s": round(import_s, 3),
      "run_s_all": [round(x, 3) for x in ev_times], "run_s_median": round(sorted(ev_times)[len(ev_times) // 2], 3),
      "run_cpu_s_median": round(sorted(ev_cpu)[len(ev_cpu) // 2], 3),
      "values": ev_values}
emit(ev)
del snap, rds, cds
out = subprocess.run([a.bin, ref_csv, cur_csv, os.path.join(a.dir, "data"), str(max(a.reps, 3))], capture_output=True, text=True, check=True)
ml = json.loads(out.stdout)
emit(ml)
diff = max(abs(ml["values"][c] - ev_values[c]) for c in cols)
emit({"summary": True, "rows": a.rows, "columns": a.cols, "evidently_s": ev["run_s_median"], "mlinfra_check_s": ml["check_s_median"],
      "speedup": round(ev["run_s_median"] / ml["check_s_median"], 1),
      "evidently_cpu_s": ev["run_cpu_s_median"], "mlinfra_check_cpu_s": ml["check_cpu_s_median"],
      "cpu_speedup": round(ev["run_cpu_s_median"] / ml["check_cpu_s_median"], 1), "max_abs_value_diff": diff,
      "mlinfra_profile_s": ml["profile_s"]})
