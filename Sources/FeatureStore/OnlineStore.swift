import Foundation
import GRDB

/// One materialized row: an entity's latest values in a view, in the feature order of the write.
struct OnlineRow: Sendable {
    /// The canonical key text (join-key values joined by `KeySpace.separator`).
    var key: String
    var eventTs: Int64
    var createdTs: Int64
    /// The values, encoded by `Payload`.
    var payload: Data
}

/// Where materialized values live and are looked up: the latest row per (view, entity).
///
/// The rules every implementation keeps (`OnlineStoreConformance` in the tests runs them all):
/// - a write replaces the held row only when its (event time, created time) is later, or equal
///   with other values; an older row never replaces a newer one, also when several processes
///   materialize overlapping windows at once — decided atomically by the store, not read and
///   then written by the client;
/// - a lookup of one request reads rows as committed, each row whole.
/// Statuses, ttl and the choice of features are the read path's (`onlineFeatures`), the same for all.
protocol OnlineStore: Sendable {
    /// Writes `rows` of `view`, whose payloads hold the features `names` in order. Returns the
    /// rows that changed (new entities, and newer rows that replaced older ones).
    func write(view: String, names: [String], rows: [OnlineRow], progress: (Double) -> Void) throws -> Int

    /// Looks up entities `0..<count` of one plan group. `key` writes the key text of an entity
    /// (false: a key value is null, nothing to look up); `found` gets each stored row's entity
    /// index, event time, layout (payload positions of the group's features) and payload bytes,
    /// valid only inside the call. `connection` is the request's read transaction on the
    /// definitions, which the SQLite store also reads the rows in.
    func read(
        _ group: OnlinePlan.Group, count: Int, connection: ReaderConnection,
        key: (Int, inout [UInt8]) throws -> Bool,
        found: (Int, Int64, OnlinePlan.Layout, UnsafeRawBufferPointer) throws -> Void
    ) throws

    /// Removes every row of `view`.
    func remove(view: String) throws

    /// Removes every row of every view (the store is being deleted).
    func removeAll() throws
}

/// A store setting kept in the store's directory (`online.json`, `catalog.json`): the one a store
/// is opened with is saved there, and a store opened without one uses what was saved.
protocol DirectorySetting: Equatable {
    static func saved(in directory: String) throws -> Self
    func save(in directory: String) throws
}

extension DirectorySetting {
    /// `given`, saved if it differs from the saved setting; without one, the saved setting.
    static func resolved(_ given: Self?, in directory: String) throws -> Self {
        guard let given else { return try saved(in: directory) }
        if try saved(in: directory) != given { try given.save(in: directory) }
        return given
    }
}

/// Which online store a feature store uses, as the spec's `online` block says.
public enum OnlineStoreSetting: Sendable, Equatable, CustomStringConvertible, DirectorySetting {
    /// The `online` table of `store.sqlite` (the default).
    case sqlite
    /// A Redis server; keys start with `mlinfra:NAMESPACE:`.
    case redis(RedisURL, namespace: String)

    public var description: String {
        switch self {
        case .sqlite: "sqlite"
        case .redis(let url, let namespace): "redis at \(url), namespace \(namespace)"
        }
    }

    /// The file in the store's directory that keeps a non-default setting for every later open.
    /// It holds the URL with its password, so it is written readable by the owner only (`OwnerOnlyFile`).
    static func file(in directory: String) -> String { directory + "/online.json" }

    private struct Saved: Codable {
        var kind: String
        var url: String?
        var namespace: String?
    }

    /// The setting saved in `directory`, or `.sqlite` when none is.
    static func saved(in directory: String) throws -> OnlineStoreSetting {
        let path = file(in: directory)
        guard let data = FileManager.default.contents(atPath: path) else { return .sqlite }
        let saved: Saved
        do { saved = try JSONDecoder().decode(Saved.self, from: data) } catch {
            throw FeatureStoreError.storage(message: "\(path) is damaged (\(error)); apply the feature_store again to rewrite it")
        }
        switch saved.kind {
        case "redis":
            guard let url = saved.url, let namespace = saved.namespace else {
                throw FeatureStoreError.storage(message: "\(path) names Redis without a URL or namespace; apply the feature_store again")
            }
            return .redis(try RedisURL(parsing: url), namespace: namespace)
        default:
            return .sqlite
        }
    }

    /// Saves the setting in `directory` (removing the file for `.sqlite`).
    func save(in directory: String) throws {
        let path = Self.file(in: directory)
        guard case .redis(let url, let namespace) = self else {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            return
        }
        try OwnerOnlyFile.write(try JSONEncoder().encode(Saved(kind: "redis", url: url.text, namespace: namespace)), to: path)
    }
}

/// The online table of `store.sqlite` (WAL): one row per (view, entity), read on the online
/// reader's plain handles inside the request's read transaction (docs/decisions/feature-store-semantics.md §6).
struct SQLiteOnlineStore: OnlineStore {
    let pool: DatabasePool

    func write(view: String, names: [String], rows: [OnlineRow], progress: (Double) -> Void) throws -> Int {
        let namesJSON = String(decoding: try JSONEncoder().encode(names), as: UTF8.self)
        return try pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO layouts (view, names) VALUES (?, ?)", arguments: [view, namesJSON])
            if db.changesCount > 0 {
                // Readers compile the layouts into their plans; tell them there is a new one.
                try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            }
            let layout = try Int64.fetchOne(db, sql: "SELECT id FROM layouts WHERE view = ? AND names = ?", arguments: [view, namesJSON])!
            let stmt = try db.makeStatement(
                sql: """
                    INSERT INTO online (view, entity_key, event_ts, created_ts, layout, payload) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (view, entity_key) DO UPDATE SET
                        event_ts = excluded.event_ts, created_ts = excluded.created_ts,
                        layout = excluded.layout, payload = excluded.payload
                    WHERE excluded.event_ts > online.event_ts
                       OR (excluded.event_ts = online.event_ts AND excluded.created_ts > online.created_ts)
                       OR (excluded.event_ts = online.event_ts AND excluded.created_ts = online.created_ts
                           AND (excluded.payload IS NOT online.payload OR excluded.layout != online.layout))
                    """)
            var written = 0
            let step = max(1, rows.count / 100)
            for (n, row) in rows.enumerated() {
                if n % step == 0 { progress(Double(n) / Double(max(1, rows.count))) }
                try stmt.execute(arguments: [view, row.key, row.eventTs, row.createdTs, layout, row.payload])
                written += db.changesCount
            }
            return written
        }
    }

    func read(
        _ group: OnlinePlan.Group, count: Int, connection conn: ReaderConnection,
        key: (Int, inout [UInt8]) throws -> Bool,
        found: (Int, Int64, OnlinePlan.Layout, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        conn.bindView(group.view)
        var layoutID: Int64 = .min
        var layout = OnlinePlan.Layout(positions: [], needed: 0)
        for row in 0..<count {
            guard try key(row, &conn.key) else { continue }
            _ = try conn.lookup { eventTs, storedLayout, payload in
                if storedLayout != layoutID {
                    layout = try group.layouts[storedLayout] ?? Self.unplannedLayout(storedLayout, group, conn)
                    layoutID = storedLayout
                }
                try found(row, eventTs, layout, payload)
            }
        }
    }

    /// A layout written after the plan was made (by a program that did not bump the generation).
    static func unplannedLayout(_ id: Int64, _ group: OnlinePlan.Group, _ conn: ReaderConnection) throws -> OnlinePlan.Layout {
        var names: [String]?
        try conn.query("SELECT names FROM layouts WHERE id = \(id)") { stmt in
            names = try OnlinePlan.decodeNames(ReaderConnection.text(stmt, 0), layout: id)
        }
        guard let names else {
            throw FeatureStoreError.storage(message: "online row refers to layout \(id), which is missing")
        }
        return group.layout(storing: names)
    }

    func remove(view: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM online WHERE view = ?", arguments: [view]) }
    }

    func removeAll() throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM online") }
    }
}
