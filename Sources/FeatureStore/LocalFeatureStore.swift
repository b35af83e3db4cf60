import Foundation
import GRDB
import Synchronization

/// A feature store kept in one directory: definitions and materialization log in
/// `store.sqlite` (WAL) or in a PostgreSQL schema shared by several machines (`CatalogSetting`,
/// mirrored into `store.sqlite`), online values in its `online` table or on a Redis server
/// (`OnlineStoreSetting`), offline data read from the views' sources where they are.
///
/// Safe to share across tasks and threads; several processes may open the same directory
/// (definitions written by one are picked up by the others on their next call).
public final class LocalFeatureStore: Sendable {
    public let directory: String
    let pool: DatabasePool
    /// The online read path: its own pooled SQLite handles and compiled request plans.
    let reader: OnlineReader
    let plans = Mutex<[OnlinePlanKey: OnlinePlan]>([:])
    /// The same plans found by the request's bytes (the feature server's path).
    let rawPlans = Mutex<[RawPlanKey: OnlinePlan]>([:])
    let clock: @Sendable () -> Int64
    /// Where materialized values are written and looked up.
    let online: any OnlineStore
    public let onlineSetting: OnlineStoreSetting
    /// Where definitions and the materialization log live; nil `shared` is `store.sqlite`.
    public let catalogSetting: CatalogSetting
    let shared: PostgresCatalog?
    /// The shared catalog's generation the mirror in `store.sqlite` holds (-1: not yet synced by this process).
    private let mirrored = Atomic<Int64>(-1)
    private let cache = Mutex(Cache())

    struct Cache {
        var generation: Int64 = -1
        var definitions = Definitions()
    }

    /// Opens (creating when needed) the store in `directory`.
    /// - Parameters:
    ///   - online: where online values live; saved in the directory (`online.json`, owner-only,
    ///     as it may hold a password), so that later opens without one — `mlinfra features`,
    ///     serving replicas — use the same store. Nil: the saved setting, else SQLite.
    ///   - storage: where definitions and the materialization log live; saved like `online`
    ///     (`catalog.json`). Nil: the saved setting, else SQLite.
    ///   - clock: now, in microseconds since the epoch; tests pass a fixed one.
    public init(
        directory: String, online: OnlineStoreSetting? = nil, storage: CatalogSetting? = nil,
        clock: @escaping @Sendable () -> Int64 = Timestamp.now
    ) throws {
        self.directory = directory
        let pool = try StoreDatabase.open(directory: directory)
        self.pool = pool
        self.reader = OnlineReader(path: pool.path)
        self.clock = clock
        let setting = try OnlineStoreSetting.resolved(online, in: directory)
        self.onlineSetting = setting
        let catalog = try CatalogSetting.resolved(storage, in: directory)
        self.catalogSetting = catalog
        switch catalog {
        case .sqlite: self.shared = nil
        case .postgres(let url, let schema): self.shared = try PostgresCatalog(url: url, schema: schema)
        }
        switch setting {
        case .sqlite: self.online = SQLiteOnlineStore(pool: pool)
        case .redis(let url, let namespace): self.online = RedisOnlineStore(url: url, namespace: namespace)
        }
        // The online read path reads definitions from store.sqlite: mirror the shared ones first.
        try syncSharedDefinitions()
    }

    /// Removes every online value of the store, of every view (for a store being deleted: the
    /// directory is the caller's to remove, the values on a server are not in it).
    public func removeOnlineValues() throws {
        try storage { try online.removeAll() }
    }

    // MARK: Definitions

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// The definitions as stored now (with a shared catalog: as the catalog holds them now).
    public func definitions() throws -> Definitions {
        try syncSharedDefinitions()
        return try storage { try pool.read { db in try self.currentDefinitions(db) } }
    }

    /// Brings the mirror of a shared catalog's definitions in `store.sqlite` up to the catalog's
    /// generation: one query when it is current. The mirror bumps the local generation, so the
    /// online read path (which reads definitions from `store.sqlite`) picks the change up.
    public func syncSharedDefinitions() throws {
        guard let shared else { return }
        let known = mirrored.load(ordering: .acquiring)
        guard let (generation, rows) = try shared.definitions(unless: known < 0 ? nil : known) else { return }
        try storage {
            try pool.write { db in
                let held = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'catalog_generation'")
                guard held != generation else { return }
                try db.execute(sql: "DELETE FROM definitions")
                let now = Date().timeIntervalSince1970
                for (kind, name, body) in rows {
                    try db.execute(
                        sql: "INSERT INTO definitions (kind, name, body, updated_at) VALUES (?, ?, ?, ?)",
                        arguments: [kind, name, body, now])
                }
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('catalog_generation', ?)", arguments: [generation])
                try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            }
        }
        mirrored.store(generation, ordering: .releasing)
    }

    /// Keeps the mirror of a shared catalog current from a thread of its own, checking every
    /// `interval`, for long-running readers (`features serve`); a failed check is retried at the next.
    public func followSharedDefinitions(every interval: Duration = .seconds(1)) {
        guard shared != nil else { return }
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        Thread.detachNewThread { [weak self] in
            while let store = self {
                try? store.syncSharedDefinitions()
                Thread.sleep(forTimeInterval: seconds)
            }
        }
    }

    /// The cached definitions, reloaded when another writer bumped the generation.
    func currentDefinitions(_ db: Database) throws -> Definitions {
        let generation = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'generation'")) ?? 0
        if let hit = cache.withLock({ $0.generation == generation ? $0.definitions : nil }) { return hit }
        var rows: [(kind: String, body: String)] = []
        for row in try Row.fetchAll(db, sql: "SELECT kind, body FROM definitions") {
            let kind: String = row["kind"]
            let body: String = row["body"]
            rows.append((kind, body))
        }
        return try remember(Self.decodeDefinitions(rows), generation: generation)
    }

    /// The definitions at `generation`, read on an online reader connection when not cached.
    func definitions(generation: Int64, _ conn: ReaderConnection) throws -> Definitions {
        if let hit = cache.withLock({ $0.generation == generation ? $0.definitions : nil }) { return hit }
        var rows: [(kind: String, body: String)] = []
        try conn.query("SELECT kind, body FROM definitions") { stmt in
            rows.append((ReaderConnection.text(stmt, 0), ReaderConnection.text(stmt, 1)))
        }
        return try remember(Self.decodeDefinitions(rows), generation: generation)
    }

    private func remember(_ defs: Definitions, generation: Int64) -> Definitions {
        cache.withLock {
            $0.generation = generation
            $0.definitions = defs
        }
        return defs
    }

    static func decodeDefinitions(_ rows: [(kind: String, body: String)]) throws -> Definitions {
        var defs = Definitions()
        let decoder = JSONDecoder()
        for (kind, body) in rows {
            let data = Data(body.utf8)
            switch kind {
            case "entity": let e = try decoder.decode(Entity.self, from: data); defs.entities[e.name] = e
            case "view": let v = try decoder.decode(FeatureView.self, from: data); defs.views[v.name] = v
            case "service": let s = try decoder.decode(FeatureService.self, from: data); defs.services[s.name] = s
            default: continue
            }
        }
        return defs
    }

    private func put(kind: String, name: String, body: some Encodable) throws {
        let json = String(decoding: try Self.encoder.encode(body), as: UTF8.self)
        if let shared {
            try shared.put(kind: kind, name: name, body: json)
            return try syncSharedDefinitions()
        }
        try storage {
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO definitions (kind, name, body, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
                        """, arguments: [kind, name, json, Date().timeIntervalSince1970])
                try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            }
        }
    }

    public func apply(_ entity: Entity) throws {
        guard !entity.joinKeys.isEmpty else {
            throw FeatureStoreError.invalidDefinition(object: "entity \(entity.name)", message: "join_keys is empty; name at least one key column")
        }
        try put(kind: "entity", name: entity.name, body: entity)
    }

    /// Stores a view after checking that its entities exist and its features are distinct.
    public func apply(_ view: FeatureView) throws {
        let defs = try definitions()
        for name in view.entities where defs.entities[name] == nil {
            throw FeatureStoreError.unknownObject(kind: "entity", name: name, known: defs.entities.keys.sorted())
        }
        guard !view.features.isEmpty else {
            throw FeatureStoreError.invalidDefinition(object: "feature view \(view.name)", message: "it has no features")
        }
        var seen = Set<String>()
        for f in view.features where !seen.insert(f.name).inserted {
            throw FeatureStoreError.invalidDefinition(object: "feature view \(view.name)", message: "feature '\(f.name)' is listed twice")
        }
        guard view.ttlSeconds >= 0 else {
            throw FeatureStoreError.invalidDefinition(object: "feature view \(view.name)", message: "ttl must not be negative")
        }
        try put(kind: "view", name: view.name, body: view)
    }

    public func apply(_ service: FeatureService) throws {
        _ = try definitions().resolve(features: service.features, service: nil)
        try put(kind: "service", name: service.name, body: service)
    }

    /// Writes every definition of `definitions` here (entities first), e.g. those of the store's former storage.
    public func adopt(_ definitions: Definitions) throws {
        for e in definitions.entities.values.sorted(by: { $0.name < $1.name }) { try apply(e) }
        for v in definitions.views.values.sorted(by: { $0.name < $1.name }) { try apply(v) }
        for s in definitions.services.values.sorted(by: { $0.name < $1.name }) { try apply(s) }
    }

    public enum ObjectKind: String, Sendable {
        case entity
        case view
        case service
    }

    /// Removes a definition (and, for a view, its online rows). Returns false when there was none.
    @discardableResult
    public func remove(_ kind: ObjectKind, named name: String) throws -> Bool {
        if let shared {
            let removed = try shared.remove(kind: kind.rawValue, name: name)
            try syncSharedDefinitions()
            if kind == .view { try storage { try online.remove(view: name) } }
            return removed
        }
        let removed = try storage {
            try pool.write { db in
                try db.execute(sql: "DELETE FROM definitions WHERE kind = ? AND name = ?", arguments: [kind.rawValue, name])
                let removed = db.changesCount > 0
                if kind == .view {
                    try db.execute(sql: "DELETE FROM materializations WHERE view = ?", arguments: [name])
                }
                try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                return removed
            }
        }
        if kind == .view { try storage { try online.remove(view: name) } }
        return removed
    }

    // MARK: Historical retrieval

    /// Joins the requested features onto every row of the entity file, point-in-time correct,
    /// and writes the result. Runs on the calling thread (and all cores inside).
    public func historical(_ request: HistoricalRequest, progress: ProgressHandler? = nil) throws -> HistoricalSummary {
        try HistoricalRetrieval.run(request, definitions: try definitions(), progress: progress)
    }

    // MARK: Materialization

    public struct MaterializeSummary: Sendable, Equatable {
        public struct ViewResult: Sendable, Equatable {
            public var view: String
            public var start: Int64
            public var end: Int64
            /// Entities whose latest row in the window was written (or was already there).
            public var entities: Int
            /// Online rows actually changed (a newer value replaced an older one, or a new entity).
            public var written: Int
        }
        public var views: [ViewResult]
    }

    /// Writes, per entity, the latest row with `start <= event_ts <= end` into the online store,
    /// never replacing a newer (event_ts, created_ts) with an older one. Idempotent.
    public func materialize(start: Int64, end: Int64, views names: [String]? = nil, progress: ProgressHandler? = nil) throws
        -> MaterializeSummary
    {
        guard start <= end else {
            throw FeatureStoreError.badRequest(field: "start", message: "start \(Timestamp.format(start)) is after end \(Timestamp.format(end))")
        }
        let defs = try definitions()
        let views = try selectViews(names, defs)
        var results: [MaterializeSummary.ViewResult] = []
        for view in views {
            results.append(try materialize(view: view, defs: defs, start: start, end: end, progress: progress))
        }
        return MaterializeSummary(views: results)
    }

    /// Materializes from where the last run of each view ended (or now − ttl, or the beginning
    /// when the view has no ttl) up to `end`.
    public func materializeIncremental(end: Int64, views names: [String]? = nil, progress: ProgressHandler? = nil) throws
        -> MaterializeSummary
    {
        let defs = try definitions()
        let views = try selectViews(names, defs)
        var results: [MaterializeSummary.ViewResult] = []
        for view in views {
            let last = try lastMaterialized(view: view.name)
            let start = last ?? (view.ttlSeconds > 0 ? clock() - view.ttlSeconds * Timestamp.microsPerSecond : Int64.min / 2)
            guard start <= end else {
                results.append(.init(view: view.name, start: start, end: end, entities: 0, written: 0))
                continue
            }
            results.append(try materialize(view: view, defs: defs, start: start, end: end, progress: progress))
        }
        return MaterializeSummary(views: results)
    }

    private func selectViews(_ names: [String]?, _ defs: Definitions) throws -> [FeatureView] {
        if let names, !names.isEmpty { return try names.map { try defs.view(named: $0) } }
        return defs.views.values.filter(\.online).sorted { $0.name < $1.name }
    }

    private func materialize(view: FeatureView, defs: Definitions, start: Int64, end: Int64, progress: ProgressHandler?) throws
        -> MaterializeSummary.ViewResult
    {
        progress?("reading \(view.name)", 0)
        let rows = try SourceRows.load(view: view, definitions: defs)
        // Latest row per key inside the window: (ts, cts, file order) decides.
        var best: [Int64: PointInTimeJoin.FeatureRow] = [:]
        rows.buckets.forEach { row in
            guard row.ts >= start, row.ts <= end else { return }
            if let held = best[row.key], (held.ts, held.cts, held.id) > (row.ts, row.cts, row.id) { return }
            best[row.key] = row
        }
        let items = best.sorted { $0.key < $1.key }
        let online = items.map { key, row in
            OnlineRow(key: rows.keySpace.text(of: key), eventTs: row.ts, createdTs: row.cts, payload: Payload.encode(rows.values(ofRow: row.id)))
        }
        let total = items.count
        let written = try storage {
            try self.online.write(view: view.name, names: view.features.map(\.name), rows: online) { done in
                progress?("materializing \(view.name)", done)
            }
        }
        // Recorded after the rows: a run cut short is not taken as done, and running it again changes nothing.
        let run = MaterializationRun(
            view: view.name, start: start, end: end, rows: total, at: Date().timeIntervalSince1970,
            host: ProcessInfo.processInfo.hostName)
        if let shared {
            try shared.record(run)
        } else {
            try storage {
                try pool.write { db in
                    try db.execute(
                        sql: "INSERT INTO materializations (view, start_ts, end_ts, rows, at) VALUES (?, ?, ?, ?, ?)",
                        arguments: [run.view, run.start, run.end, run.rows, run.at])
                }
            }
        }
        progress?("materialized \(view.name)", 1)
        return .init(view: view.name, start: start, end: end, entities: total, written: written)
    }

    /// The end of the last materialization of a view, if any.
    public func lastMaterialized(view: String) throws -> Int64? {
        if let shared { return try shared.lastMaterialized(view: view) }
        return try storage {
            try pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT MAX(end_ts) FROM materializations WHERE view = ?", arguments: [view])
            }
        }
    }

    /// Every materialization run of a view, oldest first: the run history.
    public func materializations(view: String) throws -> [MaterializationRun] {
        if let shared { return try shared.history(view: view) }
        return try storage {
            try pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT start_ts, end_ts, rows, at FROM materializations WHERE view = ? ORDER BY id", arguments: [view]
                ).map { MaterializationRun(view: view, start: $0["start_ts"], end: $0["end_ts"], rows: $0["rows"], at: $0["at"], host: "") }
            }
        }
    }

    /// Runs a database operation, turning GRDB errors into `FeatureStoreError.storage`.
    func storage<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as FeatureStoreError {
            throw error
        } catch {
            throw FeatureStoreError.storage(message: "\(error)")
        }
    }
}
