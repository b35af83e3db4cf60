import EnginePostgres
import Foundation
import PostgresNIO

/// Captured traffic in a schema of a PostgreSQL database, shared by the serving hosts that write
/// it and the monitors that read it. A batch is one statement (`INSERT … SELECT FROM unnest`),
/// so a flush costs one round trip whatever its size, and readers see a batch whole or not at all.
public final class PostgresCaptureStore: CaptureStore {
    let client: BlockingPostgres
    let schema: String

    public convenience init(url text: String, schema: String = CaptureStoreLocation.defaultSchema) throws {
        try self.init(url: try Self.parse(text), schema: schema)
    }

    public init(url: PostgresURL, schema: String = CaptureStoreLocation.defaultSchema) throws {
        guard PostgresMigrations.isPlainIdentifier(schema) else {
            throw CaptureStoreError(.invalid, "the capture schema name `\(schema)` is not a plain SQL identifier",
                                    remedy: "use lower-case letters, digits and `_`, starting with a letter, e.g. \(CaptureStoreLocation.defaultSchema)")
        }
        client = BlockingPostgres(url: url)
        self.schema = schema
        try failing("create or migrate the capture tables") {
            try PostgresMigrations.apply(Self.migrations, schema: schema, table: "capture_migrations", on: client)
        }
    }

    static func parse(_ text: String) throws -> PostgresURL {
        do { return try PostgresURL(parsing: text) } catch {
            throw CaptureStoreError(.invalid, "the capture store URL \(error.what)", remedy: "write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
    }

    static let migrations = [
        PostgresMigration(version: 1, name: "capture") { s in
            [
                """
                CREATE TABLE \(s).capture (
                    id bigserial PRIMARY KEY, endpoint text NOT NULL, version text NOT NULL, time double precision NOT NULL,
                    request_id text, entity text, inputs text NOT NULL, outputs text NOT NULL, latency_ms double precision NOT NULL)
                """,
                "CREATE INDEX capture_endpoint_time ON \(s).capture (endpoint, time)",
            ]
        },
        PostgresMigration(version: 2, name: "labels") { s in
            [
                """
                CREATE TABLE \(s).label (
                    id bigserial PRIMARY KEY, endpoint text NOT NULL, request_id text, entity text, time double precision,
                    label double precision NOT NULL, received double precision NOT NULL)
                """,
                "CREATE INDEX label_endpoint_received ON \(s).label (endpoint, received)",
            ]
        },
    ]

    public var location: String { "\(client.url) schema \(schema)" }

    public func append(_ records: [CaptureRecord]) throws {
        guard !records.isEmpty else { return }
        let endpoints = records.map(\.endpoint), versions = records.map(\.version), times = records.map(\.time)
        // unnest takes no array of optionals here: "" stands for "none" and becomes NULL.
        let requestIDs = records.map { $0.requestID ?? "" }, entities = records.map { $0.entity ?? "" }
        let inputs = records.map(\.inputs), outputs = records.map(\.outputs), latencies = records.map(\.latencyMs)
        try failing("write captured requests") {
            try client.withSession { session in
                try session.query("""
                    INSERT INTO \(unescaped: schema).capture (endpoint, version, time, request_id, entity, inputs, outputs, latency_ms)
                    SELECT e, v, t, NULLIF(r, ''), NULLIF(k, ''), i, o, l
                    FROM unnest(\(endpoints)::text[], \(versions)::text[], \(times)::float8[], \(requestIDs)::text[], \(entities)::text[],
                                \(inputs)::text[], \(outputs)::text[], \(latencies)::float8[]) AS u(e, v, t, r, k, i, o, l)
                    """)
            }
        }
    }

    public func records(endpoint: String, after start: Double, through end: Double, limit: Int?) throws -> [CaptureRecord] {
        // PostgreSQL's double precision takes no infinite bind from every client: clamp to the finite range.
        let from = max(start, -Double.greatestFiniteMagnitude), to = min(end, Double.greatestFiniteMagnitude)
        let limitClause = limit.map { " LIMIT \($0)" } ?? ""
        return try failing("read captured requests") {
            try client.withSession { session in
                var out = [CaptureRecord]()
                let rows = try session.query("""
                    SELECT id, endpoint, version, time, request_id, entity, inputs, outputs, latency_ms FROM \(unescaped: schema).capture
                    WHERE endpoint = \(endpoint) AND time > \(from) AND time <= \(to) ORDER BY time, id\(unescaped: limitClause)
                    """)
                for row in rows {
                    let (id, e, v, t, r, k, i, o, l) = try row.decode((Int64, String, String, Double, String?, String?, String, String, Double).self)
                    out.append(CaptureRecord(id: id, endpoint: e, version: v, time: t, requestID: r, entity: k, inputs: i, outputs: o, latencyMs: l))
                }
                return out
            }
        }
    }

    public func appendLabels(_ labels: [LabelRecord]) throws {
        guard !labels.isEmpty else { return }
        let endpoints = labels.map(\.endpoint), requestIDs = labels.map { $0.requestID ?? "" }, entities = labels.map { $0.entity ?? "" }
        // NaN stands for "no time" (entity labels always have one) and becomes NULL.
        let times = labels.map { $0.time ?? .nan }, values = labels.map(\.label), received = labels.map(\.received)
        try failing("write labels") {
            try client.withSession { session in
                try session.query("""
                    INSERT INTO \(unescaped: schema).label (endpoint, request_id, entity, time, label, received)
                    SELECT e, NULLIF(r, ''), NULLIF(k, ''), NULLIF(t, 'NaN'::float8), l, d
                    FROM unnest(\(endpoints)::text[], \(requestIDs)::text[], \(entities)::text[], \(times)::float8[],
                                \(values)::float8[], \(received)::float8[]) AS u(e, r, k, t, l, d)
                    """)
            }
        }
    }

    public func labels(endpoint: String, receivedAfter start: Double, through end: Double) throws -> [LabelRecord] {
        let from = max(start, -Double.greatestFiniteMagnitude), to = min(end, Double.greatestFiniteMagnitude)
        return try failing("read labels") {
            try client.withSession { session in
                var out = [LabelRecord]()
                let rows = try session.query("""
                    SELECT endpoint, request_id, entity, time, label, received FROM \(unescaped: schema).label
                    WHERE endpoint = \(endpoint) AND received > \(from) AND received <= \(to) ORDER BY received, id
                    """)
                for row in rows {
                    let (e, r, k, t, l, d) = try row.decode((String, String?, String?, Double?, Double, Double).self)
                    out.append(LabelRecord(endpoint: e, requestID: r, entity: k, time: t, label: l, received: d))
                }
                return out
            }
        }
    }

    public func latestTime(endpoint: String) throws -> Double? {
        try failing("read captured requests") {
            try client.withSession { session in
                var latest: Double?
                for row in try session.query("SELECT max(time) FROM \(unescaped: schema).capture WHERE endpoint = \(endpoint)") {
                    latest = try row.decode(Double?.self)
                }
                return latest
            }
        }
    }

    public func count(endpoint: String) throws -> Int {
        try failing("read captured requests") {
            try client.withSession { session in
                var n = 0
                for row in try session.query("SELECT count(*) FROM \(unescaped: schema).capture WHERE endpoint = \(endpoint)") {
                    n = Int(try row.decode(Int64.self))
                }
                return n
            }
        }
    }

    private func failing<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as CaptureStoreError { throw error } catch {
            let failure = PostgresFailure(url: client.url, what: "cannot \(what) at \(client.url)", error)
            throw CaptureStoreError(.unavailable, failure.message, remedy: failure.remedy)
        }
    }
}
