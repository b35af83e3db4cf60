#!/usr/bin/env python3
"""Serving hosts benchmark: failover time and nginx in front of two hosts vs one host's router, same run.

Usage (from the repository root, after `swift build -c release --product mlinfra`):
    python3 bench/serving/hosts.py [--bin .build/release/mlinfra] [--duration 10] [--connections 32] [--threads 2]
        [--requests 20000] [--lease 3]

1. Starts a private PostgreSQL (initdb in a temporary directory, as the `postgres` user when root)
   and a private nginx (own prefix and config), both on free ports of 127.0.0.1.
2. Starts agents "a" and "b" (separate data directories, routers on ports of their own) and an
   nginx-writer agent, then `mlinfra apply` of a spec with an endpoint (hosts: { count: 2 }) and
   a load_balancer, both on the PostgreSQL control store. The model is a linear-json file.
3. wrk POST /predict through nginx, then straight to host a's router, same settings, back to back.
4. `--requests` requests through nginx from 8 client threads while a third agent "c" joins (it
   outranks b for this endpoint, so b hands over to it) and agent "a" is SIGKILLed (the endpoint
   is re-placed on b and c); counts client errors and the time from the kill to b and c serving.
5. Failover time with one host: an endpoint on one host (hosts: { count: 1 }) and a spare; the
   serving host's agent is SIGKILLed; the time until nginx answers from the spare.
Prints one JSON line per measurement. Only 127.0.0.1 is used; every process started is stopped by pid.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from bench import HOST, free_port, wrk  # the one-host serving benchmark's helpers, same directory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BODY = {"instances": [[1.0, 2.0]]}


def post(port, timeout=5):
    req = urllib.request.Request(f"http://{HOST}:{port}/predict", data=json.dumps(BODY).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers.get("x-mlinfra-version")


def wrk_port(port, threads, connections, duration):
    return wrk(f"http://{HOST}:{port}/predict", BODY, threads, connections, duration)


class Postgres:
    def __init__(self, root):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True)
        if not bins:
            sys.exit("PostgreSQL not found in /usr/lib/postgresql/*/bin: apt-get install postgresql")
        self.bin = bins[0]
        self.dir = os.path.join(root, "pg")
        os.makedirs(self.dir + "/socket")
        self.user = "postgres" if os.geteuid() == 0 else None
        self.password = "benchpw" + str(os.getpid())
        with open(self.dir + "/pw", "w") as f:
            f.write(self.password + "\n")
        if self.user:
            subprocess.run(["chown", "-R", self.user, self.dir], check=True)
        self.port = free_port()
        self.run("initdb", "-D", self.dir + "/data", "-U", "mlinfra", "--pwfile", self.dir + "/pw", "--auth-host=scram-sha-256",
                 "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        opts = f"-c listen_addresses={HOST} -p {self.port} -k {self.dir}/socket -c fsync=off -c max_connections=200"
        self.run("pg_ctl", "-D", self.dir + "/data", "start", "-w", "-l", self.dir + "/log", "-o", opts)
        self.url = f"postgres://mlinfra:{self.password}@{HOST}:{self.port}/postgres"

    def run(self, program, *args):
        cmd = [f"{self.bin}/{program}", *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{program} failed: {r.stdout}{r.stderr}")

    def stop(self):
        self.run("pg_ctl", "-D", self.dir + "/data", "stop", "-m", "fast", "-w")


class Nginx:
    def __init__(self, root):
        self.dir = os.path.join(root, "nginx")
        os.makedirs(self.dir + "/temp")
        self.include = self.dir + "/mlinfra.conf"
        self.pid = self.dir + "/nginx.pid"
        open(self.include, "w").write("# none yet\n")
        user = "user root;\n" if os.geteuid() == 0 else ""
        temps = "".join(f"  {t}_temp_path {self.dir}/temp/{t};\n" for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
        conf = (f"{user}daemon on;\nworker_processes 1;\npid {self.pid};\nerror_log {self.dir}/error.log warn;\n"
                f"events {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n{temps}  include {self.include};\n}}\n")
        open(self.dir + "/nginx.conf", "w").write(conf)
        subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-p", self.dir, "-c", self.dir + "/nginx.conf"], check=True)

    def stop(self):
        try:
            os.kill(int(open(self.pid).read()), signal.SIGQUIT)
        except (OSError, ValueError):
            pass


def spec(router_port, lb_port, model, count):
    return f"""mlinfra: 1
project: hosts-bench
variables:
  pg: {{ type: string, sensitive: true }}
providers:
  local: {{ data_dir: .mlinfra }}
resources:
  endpoint.bench:
    model: file:{model}
    port: {router_port}
    hosts: {{ count: {count} }}
    control: {{ postgres: {{ url: "${{var.pg}}" }} }}
    ready_timeout: 60s
  load_balancer.front:
    endpoint: ${{endpoint.bench.id}}
    port: {lb_port}
    control: {{ postgres: {{ url: "${{var.pg}}" }} }}
"""


class Bench:
    def __init__(self, args, root, pg, nginx):
        self.args, self.root, self.pg, self.nginx = args, root, pg, nginx
        self.agents = {}
        self.env = dict(os.environ, MLINFRA_CONTROL_URL=pg.url)

    def agent(self, name, *extra, offset=None):
        log = open(os.path.join(self.root, f"agent-{name}.log"), "w")
        cmd = [self.args.bin, "agent", "--data-dir", os.path.join(self.root, "host-" + name)]
        if offset is not None:
            cmd += ["--host", name, "--advertise", HOST, f"--port-offset={offset}", "--lease", str(self.args.lease)]
        self.agents[name] = subprocess.Popen(cmd + list(extra), stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env)

    def stop(self, name, sig=signal.SIGTERM):
        p = self.agents.pop(name)
        p.send_signal(sig)
        p.wait(timeout=60)

    def apply(self, spec_dir, *cmd):
        r = subprocess.run([self.args.bin, *cmd, "--auto-approve"], cwd=spec_dir, env=dict(self.env, MLINFRA_VAR_pg=self.pg.url),
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
        return r

    def psql(self, sql):
        cmd = [f"{self.pg.bin}/psql", "-h", HOST, "-p", str(self.pg.port), "-U", "mlinfra", "-d", "postgres", "-Atc", sql]
        return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PGPASSWORD=self.pg.password)).stdout.strip()

    def placed(self, endpoint):
        rows = self.psql("SELECT s.host FROM mlinfra_control.endpoint_status s JOIN mlinfra_control.host_lease l ON l.host = s.host "
                         f"WHERE s.name = '{endpoint}' AND s.status::json->>'ready' = 'true' "
                         "AND l.expires_at > extract(epoch FROM clock_timestamp()) ORDER BY 1")
        return rows.split() if rows else []


def hammer(port, total, workers):
    """`total` POSTs through `port` from `workers` threads; returns (ok, errors, seconds)."""
    done, errors, lock = [0], [], threading.Lock()
    left = [total]

    def loop():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                status, _ = post(port)
                with lock:
                    done[0] += 1 if status == 200 else 0
                    if status != 200:
                        errors.append(status)
            except Exception as e:  # noqa: BLE001 — every failure is a client error to count
                with lock:
                    errors.append(str(e))

    start = time.time()
    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], errors, time.time() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/mlinfra"))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--lease", type=float, default=3)
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    root = tempfile.mkdtemp(prefix="mlinfra-hosts-bench-")
    os.chmod(root, 0o755)  # the postgres user must reach its directory inside
    pg = Postgres(root)
    nginx = Nginx(root)
    b = Bench(args, root, pg, nginx)
    try:
        model = os.path.join(root, "model.json")
        open(model, "w").write('{"format": "linear-json", "version": 1, "feature_names": ["x", "y"], "weights": [1, 1], "intercept": 0}')
        router, lb = free_port(), free_port()
        offsets = {n: free_port() - router for n in "abc"}
        spec_dir = os.path.join(root, "spec")
        os.makedirs(spec_dir)
        open(os.path.join(spec_dir, "main.yaml"), "w").write(spec(router, lb, model, 2))
        b.agent("a", offset=offsets["a"])
        b.agent("b", offset=offsets["b"])
        b.agent("lb", "--nginx-config", nginx.include, "--nginx-pid", nginx.pid)
        time.sleep(2)
        b.apply(spec_dir, "apply")
        time.sleep(1)
        via_nginx = wrk_port(lb, args.threads, args.connections, args.duration)
        direct = wrk_port(router + offsets["a"], args.threads, args.connections, args.duration)
        print(json.dumps({"measure": "wrk through nginx (hosts a and b)", **via_nginx}))
        print(json.dumps({"measure": "wrk direct to host a's router", **direct}))
        print(json.dumps({"measure": "nginx / direct", "rps_ratio": round(via_nginx["requests_per_s"] / direct["requests_per_s"], 3),
                          "p99_ratio": round(via_nginx["lat_p99_ms"] / direct["lat_p99_ms"], 3)}))

        b.agent("c", offset=offsets["c"])
        result = {}

        def kill_a_midway():
            time.sleep(1.5)
            killed = time.time()
            b.stop("a", signal.SIGKILL)
            while set(b.placed("bench")) != {"b", "c"}:
                time.sleep(0.05)
            result["c_ready_s"] = round(time.time() - killed, 2)

        killer = threading.Thread(target=kill_a_midway)
        killer.start()
        ok, errors, secs = hammer(lb, args.requests, 8)
        killer.join()
        print(json.dumps({"measure": f"{args.requests} requests through nginx; c joins, a is SIGKILLed, the endpoint re-placed on b and c",
                          "ok": ok, "errors": len(errors), "first_errors": errors[:3], "seconds": round(secs, 2),
                          "rps": round(ok / secs), "b_and_c_serving_after_kill_s": result.get("c_ready_s")}))

        # One host serves, one spare: the time from SIGKILL to nginx answering from the spare.
        open(os.path.join(spec_dir, "main.yaml"), "w").write(spec(router, lb, model, 1))
        b.apply(spec_dir, "apply")
        time.sleep(1)
        (serving,) = b.placed("bench")
        killed = time.time()
        b.stop(serving, signal.SIGKILL)
        failed = 0
        while True:
            try:
                if post(lb, timeout=1)[0] == 200 and b.placed("bench") and b.placed("bench")[0] != serving:
                    break
            except Exception:  # noqa: BLE001 — refused or 503 until the spare serves
                failed += 1
            time.sleep(0.02)
        print(json.dumps({"measure": "SIGKILL of the only serving host → nginx answers from the spare",
                          "seconds": round(time.time() - killed, 2), "lease_s": args.lease, "failed_probes": failed}))
        b.apply(spec_dir, "destroy")
    finally:
        for name in list(b.agents):
            b.stop(name)
        nginx.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
