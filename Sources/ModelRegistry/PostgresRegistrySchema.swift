import EnginePostgres

/// The registry's tables in PostgreSQL, created and upgraded by mlinfra's numbered migrations
/// (listed in `<schema>.registry_migrations`): the same tables and columns as the SQLite file,
/// so both storages keep one record layout. Names sort by byte (`COLLATE "C"`), as SQLite's do.
enum PostgresRegistrySchema {
    static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "models, versions, aliases and the append-only audit log") { s in
            [
                """
                CREATE TABLE \(s).model (
                    name text COLLATE "C" PRIMARY KEY,
                    description text NOT NULL DEFAULT '',
                    tags text NOT NULL DEFAULT '{}',
                    protected_aliases text NOT NULL DEFAULT '[]',
                    last_version bigint NOT NULL DEFAULT 0,
                    created_at double precision NOT NULL,
                    updated_at double precision NOT NULL,
                    creation_key text)
                """,
                """
                CREATE TABLE \(s).version (
                    model text COLLATE "C" NOT NULL REFERENCES \(s).model (name) ON DELETE CASCADE,
                    version bigint NOT NULL,
                    source text NOT NULL,
                    sha256 text NOT NULL,
                    size bigint NOT NULL,
                    format text NOT NULL,
                    description text NOT NULL DEFAULT '',
                    tags text NOT NULL DEFAULT '{}',
                    run_id text,
                    dataset text,
                    git_commit text,
                    status text NOT NULL,
                    stage text NOT NULL,
                    created_by text NOT NULL,
                    created_at double precision NOT NULL,
                    updated_at double precision NOT NULL,
                    creation_key text,
                    PRIMARY KEY (model, version))
                """,
                "CREATE INDEX version_sha256 ON \(s).version (model, sha256)",
                "CREATE UNIQUE INDEX version_creation_key ON \(s).version (model, creation_key) WHERE creation_key IS NOT NULL",
                """
                CREATE TABLE \(s).alias (
                    model text COLLATE "C" NOT NULL REFERENCES \(s).model (name) ON DELETE CASCADE,
                    alias text COLLATE "C" NOT NULL,
                    version bigint NOT NULL,
                    updated_at double precision NOT NULL,
                    PRIMARY KEY (model, alias),
                    FOREIGN KEY (model, version) REFERENCES \(s).version (model, version))
                """,
                """
                CREATE TABLE \(s).audit (
                    id bigserial PRIMARY KEY,
                    time double precision NOT NULL,
                    actor text NOT NULL,
                    origin text NOT NULL,
                    action text NOT NULL,
                    model text NOT NULL,
                    subject text NOT NULL,
                    before text,
                    after text,
                    summary text NOT NULL,
                    reason text,
                    plan_id text)
                """,
                "CREATE INDEX audit_model ON \(s).audit (model, id)",
                // The audit log is append-only: the database itself refuses edits, deletions and TRUNCATE.
                """
                CREATE FUNCTION \(s).audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
                """,
                "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON \(s).audit FOR EACH ROW EXECUTE FUNCTION \(s).audit_append_only()",
                "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON \(s).audit FOR EACH STATEMENT EXECUTE FUNCTION \(s).audit_append_only()",
            ]
        },
        PostgresMigration(version: 2, name: "artifact chunks") { s in
            [
                // One row per artifact; its bytes in chunks of at most 1 MiB, stored whole or not at all.
                """
                CREATE TABLE \(s).artifact (
                    sha256 text PRIMARY KEY,
                    size bigint NOT NULL,
                    chunks integer NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now())
                """,
                """
                CREATE TABLE \(s).artifact_chunk (
                    sha256 text NOT NULL REFERENCES \(s).artifact (sha256) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
                    seq integer NOT NULL,
                    bytes bytea NOT NULL,
                    PRIMARY KEY (sha256, seq))
                """,
            ]
        },
        PostgresMigration(version: 3, name: "directory versions") { s in
            ["ALTER TABLE \(s).version ADD COLUMN kind text NOT NULL DEFAULT 'file'"]
        },
        PostgresMigration(version: 4, name: "MLflow tracking: experiments, runs, metrics, logged models, tracked artifacts") { s in
            [
                """
                CREATE TABLE \(s).experiment (
                    id bigint PRIMARY KEY,
                    name text COLLATE "C" NOT NULL UNIQUE,
                    artifact_location text NOT NULL,
                    lifecycle_stage text NOT NULL,
                    tags text NOT NULL DEFAULT '{}',
                    created_at bigint NOT NULL,
                    updated_at bigint NOT NULL)
                """,
                """
                INSERT INTO \(s).experiment (id, name, artifact_location, lifecycle_stage, created_at, updated_at)
                VALUES (0, 'Default', '\(TrackingDefaults.defaultExperimentLocation)', 'active',
                        (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint)
                """,
                """
                CREATE TABLE \(s).run (
                    id text COLLATE "C" PRIMARY KEY,
                    experiment_id bigint NOT NULL REFERENCES \(s).experiment (id),
                    name text NOT NULL,
                    user_id text NOT NULL,
                    status text NOT NULL,
                    start_time bigint NOT NULL,
                    end_time bigint,
                    lifecycle_stage text NOT NULL,
                    artifact_uri text NOT NULL,
                    params text NOT NULL DEFAULT '{}',
                    tags text NOT NULL DEFAULT '{}',
                    outputs text NOT NULL DEFAULT '[]')
                """,
                "CREATE INDEX run_experiment ON \(s).run (experiment_id, start_time)",
                """
                CREATE TABLE \(s).metric (
                    id bigserial PRIMARY KEY,
                    run_id text COLLATE "C" NOT NULL REFERENCES \(s).run (id) ON DELETE CASCADE,
                    key text NOT NULL,
                    value double precision NOT NULL,
                    timestamp bigint NOT NULL,
                    step bigint NOT NULL)
                """,
                "CREATE INDEX metric_run_key ON \(s).metric (run_id, key, id)",
                """
                CREATE TABLE \(s).logged_model (
                    id text COLLATE "C" PRIMARY KEY,
                    experiment_id bigint NOT NULL REFERENCES \(s).experiment (id),
                    name text NOT NULL,
                    source_run_id text,
                    status text NOT NULL,
                    model_type text NOT NULL,
                    artifact_location text NOT NULL,
                    params text NOT NULL DEFAULT '{}',
                    tags text NOT NULL DEFAULT '{}',
                    created_at bigint NOT NULL,
                    updated_at bigint NOT NULL)
                """,
                """
                CREATE TABLE \(s).tracked_artifact (
                    path text COLLATE "C" PRIMARY KEY,
                    sha256 text NOT NULL,
                    size bigint NOT NULL,
                    created_at bigint NOT NULL)
                """,
            ]
        },
    ]
}
