# What a libpq client (psycopg 3) takes for the statements of one mlinfra registration on
# PostgreSQL: the artifact's statement on its own autocommit connection (synchronous_commit off,
# as ours), then BEGIN + the numbering CTE + COMMIT pipelined on another, each waiting once. The
# same SQL as `PostgresRegistryStorage.recordNextVersion` and the artifact store, on a schema that
# `registry-bench --schema NAME` has made. NO_ARTIFACT=1 leaves the artifact's statement out.
#
#   python bench/registry/libpq_floor.py postgresql://USER@HOST:PORT/DB SCHEMA VERSIONS
import hashlib, json, os, statistics, sys, time
import psycopg
url, schema, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
a = psycopg.connect(url, autocommit=True); a.execute("SET synchronous_commit = off")
b = psycopg.connect(url, autocommit=True)
model = "probe-" + os.urandom(4).hex()
b.execute(f"INSERT INTO {schema}.model (name, description, tags, protected_aliases, last_version, created_at, updated_at) VALUES (%s,'','{{}}','[]',0,0,0)", (model,))
art = f"""WITH stored AS (INSERT INTO {schema}.artifact (sha256, size, chunks) VALUES (%s, %s, 1)
  ON CONFLICT (sha256) DO NOTHING RETURNING sha256)
INSERT INTO {schema}.artifact_chunk (sha256, seq, bytes) SELECT sha256, 0, %s FROM stored"""
cte = f"""WITH number AS (
  UPDATE {schema}.model SET last_version = last_version + 1, updated_at = %s
  WHERE name = %s AND (%s::text IS NULL OR NOT EXISTS (SELECT 1 FROM {schema}.version WHERE model = %s AND creation_key = %s))
  RETURNING last_version
), stored AS (
  INSERT INTO {schema}.version (model, version, source, sha256, size, format, description, tags, run_id, dataset, git_commit, status, stage, created_by, created_at, updated_at, creation_key, kind)
  SELECT %s, last_version, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM number
), logged AS (
  INSERT INTO {schema}.audit (time, actor, origin, action, model, subject, before, after, summary, reason, plan_id)
  SELECT %s, %s, %s, %s, %s, replace(%s, %s, last_version::text), %s, replace(%s, %s, last_version::text), replace(%s, %s, last_version::text), %s, %s FROM number
) SELECT last_version FROM number"""
mark = str(-2**63)
with_artifact = os.environ.get("NO_ARTIFACT") != "1"
def register(i):
    body = json.dumps({"format": "linear-json", "version": i, "weights": [0.031, 0.0042, -0.0011]}).encode()
    sha = hashlib.sha256(body).hexdigest(); now = time.time()
    if with_artifact:
        with a.pipeline():
            a.execute(art, (sha, len(body), body))
    with b.pipeline():
        b.execute("BEGIN")
        cur = b.execute(cte, (now, model, None, model, None, model, "/tmp/x.json", sha, len(body), "linear-json", "", "{}",
                              None, None, None, "READY", "None", "bench", now, now, None, "file",
                              now, "bench", "apply", "version.create", model, f"{model}/{mark}", mark, None,
                              json.dumps({"version": mark}), mark, f"version {mark} registered", mark, None, None))
        b.execute("COMMIT")
    return cur.fetchone()[0]
times = []
for i in range(n):
    t = time.perf_counter(); register(i); times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({"tool": "psycopg-one-wait", "versions": n, "register_p50_ms": round(statistics.median(times), 3),
                  "register_p99_ms": round(times[int(n * 0.99) - 1], 3), "last": register(n)}))
