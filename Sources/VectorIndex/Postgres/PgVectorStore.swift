import Foundation
import Logging
import NIOPosix
import PostgresNIO

/// Collections in PostgreSQL with pgvector: the store is a schema, each collection a table
/// `(id text PRIMARY KEY, embedding vector(d), metadata jsonb, document text)` with an HNSW or
/// IVFFlat index on `embedding` (or none: exact search) and a GIN index on `metadata`.
///
/// The table and its indexes are the truth: `info` reads the dimension from the column type, the
/// index kind, metric and build settings from the index definition (so an index dropped or
/// changed by hand is seen), and only the query settings pgvector keeps nowhere (`ef_search`,
/// `probes`, and the metric of an unindexed table) from the table's comment. A table made by
/// hand with those columns is adopted as it is.
///
/// Calls take turns on one connection (an actor), so session settings such as `hnsw.ef_search`
/// are set only when they change. Filtered queries return `min(k, matches)` records: see `query`
/// and `docs/decisions/pgvector-store.md`.
public actor PgVectorStore: CollectionStore {
    /// The URL without its password, for messages.
    public nonisolated let location: String
    /// The schema holding the store's tables.
    public nonisolated let schema: String
    private let configuration: PostgresConnection.Configuration
    private let scrub: @Sendable (String) -> String
    private var connection: PostgresConnection?
    /// Session settings as last set on `connection` (`hnsw.ef_search` → `64`).
    private var settings: [String: String] = [:]
    /// Row counts seen since the last write, for `candidates` of unfiltered queries.
    private var counts: [String: Int] = [:]
    private var configs: [String: CollectionConfig] = [:]
    private var extensionVersion: (major: Int, minor: Int)?

    static let logger = Logger(label: "mlinfra.vectors.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// pgvector's largest `hnsw.ef_search`.
    static let maxEfSearch = 1_000
    /// Rows in one INSERT: four parameters each, under PostgreSQL's 65535.
    static let rowsPerStatement = 1_000

    /// A store in `schema` of the database `configuration` reaches. `location` names the server in
    /// messages (no password); `scrub` removes the password from text the driver sends back.
    public init(
        configuration: PostgresConnection.Configuration, schema: String, location: String,
        scrub: @escaping @Sendable (String) -> String = { $0 }
    ) throws {
        try VectorStore.checkName(schema)
        guard schema.utf8.count <= 63 else {
            throw VectorError.invalidField("name", "'\(schema)' is longer than PostgreSQL's 63-byte names; a pgvector store's name is its schema")
        }
        self.configuration = configuration
        self.schema = schema
        self.location = location
        self.scrub = scrub
    }

    deinit {
        if let connection { connection.close().whenComplete { _ in withExtendedLifetime(connection) {} } }
    }

    /// Closes the connection; the next call opens a new one.
    public func close() async {
        guard let connection else { return }
        self.connection = nil
        settings = [:]
        try? await connection.close()
    }

    /// The pgvector version installed in the database (`0.6.2`), nil before the extension exists.
    public func pgvectorVersion() async throws -> String? {
        try await rows("SELECT extversion FROM pg_extension WHERE extname = 'vector'", PostgresBindings(), as: String.self).first
    }

    // MARK: - The store

    /// Creates the pgvector extension (when this user may) and the store's schema; returns pgvector's version.
    @discardableResult
    public func prepare() async throws -> String {
        do {
            try await execute("CREATE EXTENSION IF NOT EXISTS vector")
        } catch let error as VectorError {
            throw VectorError(.storage,
                "\(location) has no pgvector extension, and this user may not create it (\(error.message)); "
                    + "install pgvector on the server and run `CREATE EXTENSION vector` as a superuser")
        }
        try await execute("CREATE SCHEMA IF NOT EXISTS \(Self.identifier(schema))")
        return try await pgvectorVersion() ?? "unknown"
    }

    /// Whether the store's schema exists.
    public func exists() async throws -> Bool {
        var binds = PostgresBindings()
        binds.append(schema)
        return try await !rows("SELECT nspname::text FROM pg_namespace WHERE nspname = $1", binds, as: String.self).isEmpty
    }

    /// Drops the store's schema with every collection in it.
    public func dropStore() async throws {
        try await execute("DROP SCHEMA IF EXISTS \(Self.identifier(schema)) CASCADE")
        configs = [:]
        counts = [:]
    }

    /// The schemas of the database that hold a vector collection (a table with an `embedding vector` column) named `name`.
    public func schemas(holding name: String) async throws -> [String] {
        var binds = PostgresBindings()
        binds.append(name)
        return try await rows(
            """
            SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding' AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid AND t.typname = 'vector'
            WHERE c.relname = $1 AND c.relkind = 'r' ORDER BY 1
            """, binds, as: String.self)
    }

    // MARK: - Collections

    public func listCollections() async throws -> [CollectionInfo] {
        var binds = PostgresBindings()
        binds.append(schema)
        let names = try await rows(
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding' AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid AND t.typname = 'vector'
            WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname
            """, binds, as: String.self)
        var out: [CollectionInfo] = []
        for name in names { out.append(try await info(name)) }
        return out
    }

    public func info(_ name: String) async throws -> CollectionInfo {
        let (config, count) = try await describe(name)
        return CollectionInfo(name: name, config: config, count: count, sequence: 0)
    }

    /// Reads a table's definition: columns, the vector index and the comment.
    private func describe(_ name: String) async throws -> (CollectionConfig, Int) {
        var binds = PostgresBindings()
        binds.append(table(name))
        let columns = try await rows(
            """
            SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypmod,
                   coalesce(obj_description(a.attrelid, 'pg_class'), '')
            FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, binds, as: (String, String, Int32, String).self)
        guard !columns.isEmpty else {
            throw VectorError.collectionNotFound(name, known: try await tableNames())
        }
        let types = Dictionary(columns.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        guard let vectorColumn = columns.first(where: { $0.0 == "embedding" }), vectorColumn.1.hasPrefix("vector") else {
            throw VectorError(.conflict, field: "name", "table \(schema).\(name) has no `embedding vector(N)` column, so it is not a vector collection")
        }
        let missing = [("id", "text PRIMARY KEY"), ("metadata", "jsonb NOT NULL DEFAULT '{}'"), ("document", "text")].filter { types[$0.0] == nil }
        guard missing.isEmpty else {
            throw VectorError(.conflict, field: "name",
                "table \(schema).\(name) lacks the column\(missing.count == 1 ? "" : "s") \(missing.map(\.0).joined(separator: ", ")) of a vector collection; add "
                    + missing.map { "`ALTER TABLE \"\(schema)\".\"\(name)\" ADD COLUMN \($0.0) \($0.1)`" }.joined(separator: " and "))
        }
        let dimension = Int(vectorColumn.2)
        let comment = TableComment(parsing: vectorColumn.3)
        let indexes = try await rows(
            """
            SELECT am.amname::text, opc.opcname::text, coalesce(array_to_string(c.reloptions, ','), '')
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
            JOIN pg_opclass opc ON opc.oid = i.indclass[0]
            WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND am.amname IN ('hnsw', 'ivfflat')
            ORDER BY c.relname LIMIT 1
            """, binds, as: (String, String, String).self)
        var config = CollectionConfig(dimension: dimension, metric: comment.metric ?? .l2, hnsw: nil)
        if let (method, opclass, options) = indexes.first {
            config.metric = Self.metric(opclass: opclass) ?? config.metric
            let values = Dictionary(
                options.split(separator: ",").compactMap { pair -> (String, Int)? in
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, let n = Int(parts[1]) else { return nil }
                    return (String(parts[0]), n)
                }, uniquingKeysWith: { a, _ in a })
            // pgvector's defaults when the index was made without WITH (…).
            if method == "hnsw" {
                config.hnsw = HNSWParameters(m: values["m"] ?? 16, efConstruction: values["ef_construction"] ?? 64, efSearch: comment.efSearch ?? 40)
            } else {
                let lists = values["lists"] ?? 100
                config.ivfflat = IVFFlatParameters(lists: lists, probes: min(comment.probes ?? 1, lists))
            }
        }
        let count = try await rows("SELECT count(*) FROM \(quoted(name))", PostgresBindings(), as: Int.self).first ?? 0
        configs[name] = config
        counts[name] = count
        return (config, count)
    }

    private func tableNames() async throws -> [String] {
        try await listCollections().map(\.name)
    }

    public func ensureCollection(_ name: String, config: CollectionConfig) async throws {
        try Self.check(name: name, config: config)
        let existing: CollectionConfig?
        do {
            existing = try await describe(name).0
        } catch let error as VectorError where error.code == .notFound {
            existing = nil
        }
        guard let old = existing else { return try await create(name, config: config) }
        guard old.dimension == config.dimension && old.metric == config.metric else {
            throw VectorError(.conflict, field: "name",
                "collection '\(name)' exists with dimension \(old.dimension) and metric \(old.metric.rawValue); drop it first to change them (its records would be lost)")
        }
        if config.rebuildsIndex(from: old) { try await rebuildIndex(name, config: config) }
        try await execute("COMMENT ON TABLE \(quoted(name)) IS \(TableComment(config).literal)")
        configs[name] = config
    }

    private func create(_ name: String, config: CollectionConfig) async throws {
        try await prepare()
        try await execute(
            "CREATE TABLE \(quoted(name)) (id text PRIMARY KEY, embedding vector(\(config.dimension)) NOT NULL, "
                + "metadata jsonb NOT NULL DEFAULT '{}', document text)")
        try await execute("CREATE INDEX ON \(quoted(name)) USING gin (metadata jsonb_path_ops)")
        if let definition = Self.indexDefinition(config) {
            try await execute("CREATE INDEX \(Self.identifier(Self.indexName(name))) ON \(quoted(name)) \(definition)")
        }
        try await execute("COMMENT ON TABLE \(quoted(name)) IS \(TableComment(config).literal)")
        configs[name] = config
        counts[name] = 0
    }

    /// Builds the new index beside the old one (`CREATE INDEX CONCURRENTLY`: reads and writes go
    /// on), then drops the old one and gives the new one its name. The rows stay where they are.
    private func rebuildIndex(_ name: String, config: CollectionConfig) async throws {
        let fresh = Self.indexName(name) + "_new"
        var binds = PostgresBindings()
        binds.append(table(name))
        let old = try await rows(
            """
            SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
            WHERE i.indrelid = to_regclass($1) AND am.amname IN ('hnsw', 'ivfflat')
            """, binds, as: String.self)
        // A build that failed earlier leaves an invalid index of that name behind.
        try await execute("DROP INDEX CONCURRENTLY IF EXISTS \(Self.identifier(schema)).\(Self.identifier(fresh))")
        if let definition = Self.indexDefinition(config) {
            try await execute("CREATE INDEX CONCURRENTLY \(Self.identifier(fresh)) ON \(quoted(name)) \(definition)")
        }
        for index in old where index != fresh {
            try await execute("DROP INDEX CONCURRENTLY IF EXISTS \(Self.identifier(schema)).\(Self.identifier(index))")
        }
        if Self.indexDefinition(config) != nil {
            try await execute("ALTER INDEX \(Self.identifier(schema)).\(Self.identifier(fresh)) RENAME TO \(Self.identifier(Self.indexName(name)))")
        }
    }

    public func dropCollection(_ name: String) async throws {
        _ = try await describe(name)
        try await execute("DROP TABLE \(quoted(name))")
        configs[name] = nil
        counts[name] = nil
    }

    // MARK: - Writes

    public func upsert(_ name: String, _ records: [VectorRecord], progress: (@Sendable (Int, Int) -> Void)?) async throws {
        guard !records.isEmpty else { return }
        let config = try await cachedConfig(name)
        try config.check(records, collection: name)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let table = quoted(name)
        try await transaction { connection in
            var done = 0
            while done < records.count {
                let batch = records[done..<min(done + Self.rowsPerStatement, records.count)]
                var binds = PostgresBindings(capacity: batch.count * 4)
                var values: [String] = []
                for record in batch {
                    let n = binds.count
                    values.append("($\(n + 1), $\(n + 2)::vector, $\(n + 3)::jsonb, $\(n + 4))")
                    binds.append(record.id)
                    binds.append(Self.vectorText(record.vector))
                    binds.append(String(decoding: try encoder.encode(record.metadata), as: UTF8.self))
                    binds.append(record.document)
                }
                let sql = "INSERT INTO \(table) (id, embedding, metadata, document) VALUES \(values.joined(separator: ", ")) "
                    + "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, document = EXCLUDED.document"
                try await Self.run(PostgresQuery(unsafeSQL: sql, binds: binds), on: connection)
                done += batch.count
                progress?(done, records.count)
            }
        }
        counts[name] = nil
    }

    public func delete(_ name: String, ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        var binds = PostgresBindings()
        binds.append(ids)
        let deleted = try await rows("DELETE FROM \(quoted(name)) WHERE id = ANY($1) RETURNING id", binds, as: String.self)
        counts[name] = nil
        return deleted.count
    }

    // MARK: - Reads

    public func get(_ name: String, ids: [String]) async throws -> [VectorRecord] {
        guard !ids.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(ids)
        let found = try await records(name, where: "id = ANY($1)", binds, suffix: "")
        let byID = Dictionary(found.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return ids.compactMap { byID[$0] }
    }

    public func get(_ name: String, where filter: WhereFilter?, limit: Int?, offset: Int) async throws -> [VectorRecord] {
        var condition = SQLCondition()
        let sql = filter?.sql(column: "metadata", into: &condition) ?? "true"
        let limitText = limit.map { " LIMIT \($0)" } ?? ""
        return try await records(name, where: sql, condition.binds, suffix: " ORDER BY id\(limitText) OFFSET \(max(offset, 0))")
    }

    private func records(_ name: String, where condition: String, _ binds: PostgresBindings, suffix: String) async throws -> [VectorRecord] {
        let found = try await rows(
            "SELECT id, embedding::text, metadata::text, document FROM \(quoted(name)) WHERE \(condition)\(suffix)", binds,
            as: (String, String, String, String?).self)
        return found.map { VectorRecord(id: $0.0, vector: Self.parseVector($0.1), metadata: Self.parseMetadata($0.2), document: $0.3) }
    }

    public func count(_ name: String, where filter: WhereFilter?) async throws -> Int {
        var condition = SQLCondition()
        let sql = filter?.sql(column: "metadata", into: &condition) ?? "true"
        let n = try await rows("SELECT count(*) FROM \(quoted(name)) WHERE \(sql)", condition.binds, as: Int.self).first ?? 0
        if filter == nil { counts[name] = n }
        return n
    }

    /// The `k` nearest records to `vector`, closest first.
    ///
    /// Unfiltered, the index answers with the collection's `ef_search` (or `probes`). With a
    /// filter, the matching rows are counted first. pgvector applies a filter after the index
    /// scan, so a scan with `ef_search` candidates yields about `ef_search × selectivity` matches:
    /// when the matches are fewer than a widened scan would visit (`ef / selectivity` candidates,
    /// `2m` neighbours each), or the widening passes pgvector's limits, the matching rows are
    /// scanned exactly (the ORDER BY is written so that no vector index serves it). Otherwise,
    /// where pgvector has iterative index scans (0.8+), the index is searched with them, so that
    /// pgvector itself goes on until `k` rows pass the filter; without them, `ef_search` (or
    /// `probes`) is widened by the selectivity and widened again until `min(k, matches)` rows
    /// come back. The exact scan is the last resort of either.
    public func query(_ name: String, _ vector: [Float], k: Int, ef: Int?, where filter: WhereFilter?) async throws -> QueryResult {
        try QueryLimits.check(k: k, ef: ef)
        let config = try await cachedConfig(name)
        try config.check(vector, field: "vector", collection: name)
        let base = max(ef ?? config.hnsw?.efSearch ?? 40, k)
        guard let filter else {
            let found = try await search(name, config, vector, k: k, condition: nil, breadth: base, exact: config.indexKind == "exact")
            let strategy: QueryStrategy = config.indexKind == "exact" ? .exact : config.ivfflat != nil ? .ivfflat : .hnsw
            return QueryResult(matches: found, strategy: strategy, candidates: try await liveCount(name))
        }
        var condition = SQLCondition()
        let sql = filter.sql(column: "metadata", into: &condition)
        let matches = try await rows("SELECT count(*) FROM \(quoted(name)) WHERE \(sql)", condition.binds, as: Int.self).first ?? 0
        let exact = { () async throws -> QueryResult in
            QueryResult(
                matches: try await self.search(name, config, vector, k: k, condition: (sql, condition), breadth: 0, exact: true),
                strategy: .filteredExact, candidates: matches)
        }
        guard matches > 0, config.indexKind != "exact" else { return try await exact() }
        let selectivity = Double(matches) / Double(max(try await liveCount(name), matches, 1))
        let wanted = min(k, matches)
        let iterative = try await hasIterativeScans()
        if let hnsw = config.hnsw {
            var breadth = iterative ? base : Int(min(Double(base) / selectivity, Double(Self.maxEfSearch + 1)))
            let visited = Double(iterative ? Int(Double(base) / selectivity) : breadth) * Double(2 * hnsw.m)
            if breadth > Self.maxEfSearch || Double(matches) <= visited { return try await exact() }
            while true {
                let found = try await search(name, config, vector, k: k, condition: (sql, condition), breadth: breadth, exact: false)
                if found.count >= wanted { return QueryResult(matches: found, strategy: iterative ? .iterativeScan : .hnsw, candidates: matches) }
                if breadth >= Self.maxEfSearch { return try await exact() }
                breadth = min(breadth * 2, Self.maxEfSearch)
            }
        }
        let ivf = config.ivfflat!
        var probes = Int(min(Double(ef ?? ivf.probes) / selectivity, Double(ivf.lists)))
        if probes >= ivf.lists { return try await exact() }
        if iterative {
            // Widened as without iterative scans, so that as many matching rows are compared as the
            // unfiltered `probes` compare; pgvector visits further lists itself when too few pass.
            // In `relaxed_order` rows may come slightly out of order: sorted here.
            let found = try await search(name, config, vector, k: k, condition: (sql, condition), breadth: probes, exact: false)
                .sorted { $0.distance < $1.distance }
            return found.count >= wanted ? QueryResult(matches: found, strategy: .iterativeScan, candidates: matches) : try await exact()
        }
        while true {
            let found = try await search(name, config, vector, k: k, condition: (sql, condition), breadth: probes, exact: false)
            if found.count >= wanted { return QueryResult(matches: found, strategy: .ivfflat, candidates: matches) }
            probes = min(probes * 2, ivf.lists)
            if probes >= ivf.lists { return try await exact() }
        }
    }

    /// One k-NN statement. `breadth` is `hnsw.ef_search` or `ivfflat.probes`; `exact` keeps every
    /// vector index out of the ORDER BY (`+ 0` is not the indexed expression). A filtered index
    /// query uses pgvector's iterative scan where it has one.
    private func search(
        _ name: String, _ config: CollectionConfig, _ vector: [Float], k: Int, condition: (String, SQLCondition)?, breadth: Int, exact: Bool
    ) async throws -> [QueryMatch] {
        if !exact {
            let iterative = try await hasIterativeScans()
            if config.hnsw != nil {
                try await set("hnsw.ef_search", String(min(breadth, Self.maxEfSearch)))
                if iterative { try await set("hnsw.iterative_scan", condition == nil ? "off" : "strict_order") }
            } else {
                try await set("ivfflat.probes", String(breadth))
                if iterative { try await set("ivfflat.iterative_scan", condition == nil ? "off" : "relaxed_order") }
            }
        }
        var binds = condition?.1.binds ?? PostgresBindings()
        binds.append(Self.vectorText(vector))
        let q = "$\(binds.count)::vector"
        let distance = "embedding \(Self.operator(config.metric)) \(q)"
        let sql = "SELECT id, \(distance), metadata::text, document FROM \(quoted(name)) WHERE \(condition?.0 ?? "true") "
            + "ORDER BY \(exact ? "(\(distance)) + 0" : distance) LIMIT \(k)"
        return try await rows(sql, binds, as: (String, Double, String, String?).self).map {
            QueryMatch(id: $0.0, distance: Float(Self.distance($0.1, config.metric)), metadata: Self.parseMetadata($0.2), document: $0.3)
        }
    }

    public func flush() async throws {}

    private func liveCount(_ name: String) async throws -> Int {
        if let n = counts[name] { return n }
        return try await count(name, where: nil)
    }

    private func cachedConfig(_ name: String) async throws -> CollectionConfig {
        if let config = configs[name] { return config }
        return try await describe(name).0
    }

    private func hasIterativeScans() async throws -> Bool {
        if extensionVersion == nil, let text = try await pgvectorVersion() {
            let parts = text.split(separator: ".").compactMap { Int($0) }
            extensionVersion = (parts.first ?? 0, parts.dropFirst().first ?? 0)
        }
        guard let v = extensionVersion else { return false }
        return v.major > 0 || v.minor >= 8
    }

    private func set(_ setting: String, _ value: String) async throws {
        guard settings[setting] != value else { return }
        try await execute("SET \(setting) = \(value)")
        settings[setting] = value
    }

    // MARK: - SQL text

    static func check(name: String, config: CollectionConfig) throws {
        try VectorStore.checkName(name)
        guard name.utf8.count <= 59 else {
            throw VectorError.invalidField("name", "'\(name)' is too long for a pgvector table; use at most 59 characters")
        }
        if let problem = config.problems().first { throw problem }
        if config.dimension > 16_000 {
            throw VectorError.invalidField("dimension", "must be at most 16000 for pgvector's vector type, got \(config.dimension)")
        }
        if config.indexKind != "exact" && config.dimension > 2_000 {
            throw VectorError.invalidField("dimension", "must be at most 2000 for a pgvector \(config.indexKind) index, got \(config.dimension); use index: exact")
        }
    }

    static func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
    private func quoted(_ name: String) -> String { Self.identifier(schema) + "." + Self.identifier(name) }
    private func table(_ name: String) -> String { quoted(name) }
    static func indexName(_ name: String) -> String { name + "_ann" }

    static func opclass(_ metric: Metric) -> String {
        switch metric {
        case .l2: "vector_l2_ops"
        case .cosine: "vector_cosine_ops"
        case .ip: "vector_ip_ops"
        }
    }

    static func metric(opclass: String) -> Metric? {
        Metric.allCases.first { Self.opclass($0) == opclass }
    }

    static func `operator`(_ metric: Metric) -> String {
        switch metric {
        case .l2: "<->"
        case .cosine: "<=>"
        case .ip: "<#>"
        }
    }

    /// pgvector's distance as `Metric` defines it: squared L2, `1 - cos`, `1 - a·b`.
    static func distance(_ raw: Double, _ metric: Metric) -> Double {
        switch metric {
        case .l2: raw * raw
        case .cosine: max(raw, 0)
        case .ip: 1 + raw
        }
    }

    static func indexDefinition(_ config: CollectionConfig) -> String? {
        let ops = opclass(config.metric)
        if let hnsw = config.hnsw { return "USING hnsw (embedding \(ops)) WITH (m = \(hnsw.m), ef_construction = \(hnsw.efConstruction))" }
        if let ivf = config.ivfflat { return "USING ivfflat (embedding \(ops)) WITH (lists = \(ivf.lists))" }
        return nil
    }

    /// pgvector's text form of a vector (`[1.0,2.5]`), as statements bind it.
    public static func vectorText(_ vector: [Float]) -> String {
        "[" + vector.map { "\($0)" }.joined(separator: ",") + "]"
    }

    static func parseVector(_ text: String) -> [Float] {
        text.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").compactMap { Float($0) }
    }

    static func parseMetadata(_ text: String) -> [String: MetadataValue] {
        (try? JSONDecoder().decode([String: MetadataValue].self, from: Data(text.utf8))) ?? [:]
    }

    // MARK: - The connection

    private func connected() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        settings = [:]
        do {
            let c = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: Self.logger)
            connection = c
            return c
        } catch {
            throw VectorError(.storage, "could not connect to the pgvector store at \(location): \(describeError(error))")
        }
    }

    private func execute(_ sql: String) async throws {
        _ = try await rows(sql, PostgresBindings(), as: Int.self)
    }

    private func rows<each T: PostgresDecodable>(_ sql: String, _ binds: PostgresBindings, as: (repeat each T).Type) async throws -> [(repeat each T)] {
        let connection = try await connected()
        do {
            let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: Self.logger)
            var out: [(repeat each T)] = []
            for try await row in result { out.append(try row.decode((repeat each T).self)) }
            return out
        } catch {
            throw translate(error)
        }
    }

    private func transaction(_ body: (PostgresConnection) async throws -> Void) async throws {
        let connection = try await connected()
        do {
            try await Self.run("BEGIN", on: connection)
            do {
                try await body(connection)
                try await Self.run("COMMIT", on: connection)
            } catch {
                try? await Self.run("ROLLBACK", on: connection)
                throw error
            }
        } catch {
            throw translate(error)
        }
    }

    /// Runs a statement whose rows, if any, are not wanted.
    private static func run(_ query: PostgresQuery, on connection: PostgresConnection) async throws {
        for try await _ in try await connection.query(query, logger: logger) {}
    }

    private func translate(_ error: any Error) -> VectorError {
        if let vector = error as? VectorError { return vector }
        if let e = error as? PSQLError, let state = e.serverInfo?[.sqlState] {
            if state == "42P01" {  // undefined_table
                return VectorError(.notFound, field: "collection", "a collection of store '\(schema)' does not exist in \(location)")
            }
            if state == "22000" || state == "22P02" {  // data_exception from pgvector: a dimension mismatch, a bad vector
                return VectorError(.invalidInput, field: "records", describeError(error))
            }
        }
        if connection?.isClosed ?? false { connection = nil }
        return VectorError(.storage, "the pgvector store at \(location) failed: \(describeError(error))")
    }

    private func describeError(_ error: any Error) -> String {
        guard let e = error as? PSQLError else { return scrub("\(error)") }
        if let info = e.serverInfo, let message = info[.message] {
            return scrub("the server said: \(message)" + (info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""))
        }
        return scrub("\(e.code)" + (e.underlying.map { ": \($0)" } ?? ""))
    }
}

/// What pgvector keeps nowhere, in the table's comment: the query settings and the metric of a
/// table without an index (`{"ef_search": 64, "metric": "cosine", "probes": 10}`).
struct TableComment {
    var metric: Metric?
    var efSearch: Int?
    var probes: Int?

    init(_ config: CollectionConfig) {
        metric = config.metric
        efSearch = config.hnsw?.efSearch
        probes = config.ivfflat?.probes
    }

    init(parsing text: String) {
        guard let object = try? JSONDecoder().decode([String: MetadataValue].self, from: Data(text.utf8)) else { return }
        if case .string(let m)? = object["metric"] { metric = Metric(rawValue: m) }
        if case .int(let n)? = object["ef_search"] { efSearch = n }
        if case .int(let n)? = object["probes"] { probes = n }
    }

    /// A SQL string literal (COMMENT takes no parameters; the text holds only numbers and a metric name).
    var literal: String {
        var parts = ["\"metric\": \"\(metric?.rawValue ?? "l2")\""]
        if let efSearch { parts.append("\"ef_search\": \(efSearch)") }
        if let probes { parts.append("\"probes\": \(probes)") }
        return "'{" + parts.joined(separator: ", ") + "}'"
    }
}
