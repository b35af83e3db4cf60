#!/usr/bin/env python3
"""Serving benchmark: mlinfra's endpoint (router + one replica) vs the FastAPI peer, same run.

Usage (from the repository root, after `swift build -c release`):
    python3 bench/serving/bench.py [--bin .build/release/mlinfra] [--model /tmp/peers-data/xgb/model.json]
        [--duration 10] [--connections 32] [--threads 2] [--skip-peer]

1. Starts `BIN agent` on a temporary data directory and writes an endpoint (one replica,
   the peers' 200-tree XGBoost model as a file: reference) into its control store.
2. Checks /predict against the oracle (expected_proba.csv) for 50 rows.
3. wrk -t2 -c32 -d10s POST /predict with the first test row (the same row serve_bench.py sends).
4. Runs ../shared/peers/serve_bench.py (FastAPI + uvicorn + xgboost) with the same wrk settings.
5. Autoscaler reaction: an endpoint with replicas 1..4 (concurrency target 4) under a wrk load
   step; times from the step to 2 replicas serving and to 4 replicas serving.
Prints one JSON line per measurement. Only 127.0.0.1 is used; every process started is stopped by pid.
"""
import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def to_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v


def wrk(url, body, threads, connections, duration):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(json.dumps(body))}\n")
        lua = f.name
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
                          "--latency", "-s", lua, url], capture_output=True, text=True, timeout=duration + 30).stdout
    os.unlink(lua)
    res = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for p in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        res[f"lat_p{p}_ms"] = round(to_ms(m.group(1)), 3) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1) if m else ""
    return res


class Agent:
    def __init__(self, binary, data_dir):
        self.data_dir = data_dir
        self.serving = os.path.join(data_dir, "serving")
        os.makedirs(self.serving, exist_ok=True)
        self.log = open(os.path.join(self.serving, "agent.log"), "a")
        self.proc = subprocess.Popen([binary, "agent", "--data-dir", data_dir], stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        db = os.path.join(self.serving, "control.sqlite")
        t0 = time.time()
        while True:  # the agent creates the control store (its migrations) first
            try:
                with sqlite3.connect(db) as c:
                    c.execute("SELECT 1 FROM endpoint LIMIT 1")
                break
            except sqlite3.Error:
                if time.time() - t0 > 30 or self.proc.poll() is not None:
                    raise SystemExit("agent did not start; see " + self.log.name)
                time.sleep(0.1)
        self.db = db

    def put(self, name, model, port, rmin, rmax, metric="concurrency", target=8.0, window=300.0, capture=0.0):
        config = {"name": name, "model": model, "replicas": {"min": rmin, "max": rmax},
                  "autoscaling": {"metric": metric, "target": target, "scaleDownWindow": window},
                  "captureSamplePercent": capture, "host": HOST, "port": port}
        with sqlite3.connect(self.db, timeout=10) as c:
            row = c.execute("SELECT generation FROM endpoint WHERE name = ?", (name,)).fetchone()
            c.execute("INSERT OR REPLACE INTO endpoint (name, config, generation, updated_at) VALUES (?, ?, ?, ?)",
                      (name, json.dumps(config, sort_keys=True), (row[0] if row else 0) + 1, time.time()))

    def status(self, name):
        with sqlite3.connect(self.db, timeout=10) as c:
            row = c.execute("SELECT status FROM endpoint_status WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def wait_ready(self, name, timeout=120):
        t0 = time.time()
        while time.time() - t0 < timeout:
            s = self.status(name)
            if s and s.get("ready"):
                return time.time() - t0
            time.sleep(0.05)
        raise SystemExit(f"endpoint {name} not ready: {self.status(name)}; see {self.log.name}")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)


def ready_replicas(status):
    return sum(1 for v in (status or {}).get("versions", []) for r in v["replicas"] if r["state"] == "ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/mlinfra"))
    ap.add_argument("--model", default="/tmp/peers-data/xgb/model.json")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-autoscaler", action="store_true")
    a = ap.parse_args()
    a.duration = min(a.duration, 60)
    xdir = os.path.dirname(os.path.abspath(a.model))
    rows = []
    with open(os.path.join(xdir, "test_X.csv")) as f:
        next(f)
        for line in f:
            rows.append([None if v == "" else float(v) for v in line.strip().split(",")])
    with open(os.path.join(xdir, "expected_proba.csv")) as f:
        next(f)
        expected = [float(line.split(",")[1]) for line in f]

    data_dir = tempfile.mkdtemp(prefix="mlinfra-serving-bench-")
    agent = Agent(a.bin, data_dir)
    try:
        port = free_port()
        agent.put("bench", "file:" + os.path.abspath(a.model), port, 1, 1)
        startup = agent.wait_ready("bench")
        base = f"http://{HOST}:{port}"
        diffs = [abs(post(base + "/predict", {"instances": [rows[i]]})["predictions"][0] - expected[i]) for i in range(50)]
        body = {"instances": [rows[0]]}
        for _ in range(200):
            post(base + "/predict", body)
        res = {"tool": "mlinfra endpoint (router + 1 replica)", "endpoint": "/predict",
               "wrk": f"-t{a.threads} -c{a.connections} -d{a.duration}s", "ready_s": round(startup, 2),
               "oracle_max_abs_diff_50rows": max(diffs)}
        res.update(wrk(base + "/predict", body, a.threads, a.connections, a.duration))
        print(json.dumps(res), flush=True)

        if not a.skip_autoscaler:
            port2 = free_port()
            agent.put("scale", "file:" + os.path.abspath(a.model), port2, 1, 4, metric="concurrency", target=4.0, window=30.0)
            agent.wait_ready("scale")
            url = f"http://{HOST}:{port2}/predict"
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
                f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                        f"wrk.body = {json.dumps(json.dumps(body))}\n")
                lua = f.name
            step = time.time()
            load = subprocess.Popen(["wrk", "-t2", "-c32", "-d15s", "--timeout", "5s", "-s", lua, url],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            times = {}
            while load.poll() is None:
                n = ready_replicas(agent.status("scale"))
                for k in (2, 3, 4):
                    if n >= k and k not in times:
                        times[k] = round(time.time() - step, 2)
                time.sleep(0.05)
            out = load.stdout.read()
            os.unlink(lua)
            m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
            se = re.search(r"Socket errors: (.*)", out)
            print(json.dumps({"tool": "mlinfra autoscaler", "load": "wrk -t2 -c32 -d15s", "target": "concurrency 4 per replica",
                              "replicas": "1..4", "seconds_to_2_serving": times.get(2), "seconds_to_3_serving": times.get(3),
                              "seconds_to_4_serving": times.get(4),
                              "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                              "non_2xx": int(m.group(1)) if m else 0, "socket_errors": se.group(1) if se else ""}), flush=True)
    finally:
        agent.stop()

    if not a.skip_peer:
        peers = os.path.join(os.path.dirname(ROOT), "shared", "peers")
        if not os.path.isdir(peers):
            peers = "/work/shared/peers"
        out = subprocess.run(["/tmp/peers-venv/bin/python", os.path.join(peers, "serve_bench.py"), "--model", a.model,
                              "--duration", str(a.duration), "--threads", str(a.threads), "--connections", str(a.connections),
                              "--port", str(free_port())],
                             capture_output=True, text=True, timeout=a.duration + 120)
        print(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps({"peer_error": out.stderr[-500:]}), flush=True)


if __name__ == "__main__":
    main()
