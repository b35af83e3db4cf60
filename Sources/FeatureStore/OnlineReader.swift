import Foundation
import GRDBSQLite
import Synchronization

/// The online read path's SQLite connections: plain read-only handles with their statements
/// prepared once, kept in a pool so concurrent readers never wait for one another.
///
/// Each lookup runs in one read transaction (`BEGIN` … `COMMIT`), so a request sees one
/// committed state of the store: in WAL mode a materialization committed by any process is
/// visible to the next request, and never half of it.
final class OnlineReader: Sendable {
    let path: String
    private let idle = Mutex<[ReaderConnection]>([])
    /// Connections kept when idle; more are opened under load and closed when returned.
    private let keep: Int

    init(path: String) {
        self.path = path
        self.keep = max(4, ProcessInfo.processInfo.activeProcessorCount * 2)
    }

    /// A handle holding a read transaction open between `holdReadLock()` calls (see there).
    private let anchor = Mutex<ReaderConnection?>(nil)

    /// Starts (or restarts) a read transaction on a handle of its own and keeps it open.
    ///
    /// Each request's read transaction takes a shared lock on one of the WAL's read slots, which
    /// costs SQLite's unix VFS two `fcntl` calls per request — unless another handle of the same
    /// process already holds that slot, in which case SQLite only counts it. Held here on the
    /// snapshot the requests would read, it makes their locks free. Requests still begin their own
    /// transaction and see every commit at once; a writer's commit is unaffected. What the held
    /// snapshot delays is the checkpoint of newer frames into the database file, so the server calls
    /// this every few milliseconds (and `releaseReadLock()` when it stops): each call moves it to
    /// the newest commit, where the requests' slot is.
    func holdReadLock() {
        anchor.withLock { held in
            if held == nil { held = try? ReaderConnection(path: path) }
            guard let conn = held else { return }
            conn.end()
            do {
                try conn.begin()
                _ = try conn.generation()  // the first read takes the snapshot and its slot
            } catch {
                conn.end()
                held = nil
            }
        }
    }

    /// Ends the transaction `holdReadLock()` keeps open.
    func releaseReadLock() {
        anchor.withLock { held in
            held?.end()
            held = nil
        }
    }

    /// Runs `body` on a pooled connection inside one read transaction.
    func read<T>(_ body: (ReaderConnection) throws -> T) throws -> T {
        let conn = try idle.withLock { $0.popLast() } ?? ReaderConnection(path: path)
        defer {
            idle.withLock { pool in
                if pool.count < keep { pool.append(conn) }
            }
        }
        try conn.begin()
        defer { conn.end() }
        return try body(conn)
    }
}

private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)


/// One SQLite handle of the online reader. Used by one thread at a time (the pool hands it out).
final class ReaderConnection: @unchecked Sendable {
    // @unchecked Sendable: the SQLite handles are used by one thread at a time, handed out by the pool.
    let db: OpaquePointer
    private let beginStmt: OpaquePointer
    private let commitStmt: OpaquePointer
    private let generationStmt: OpaquePointer
    private let lookupStmt: OpaquePointer
    /// Decoded values of the current row (reused, so a lookup allocates nothing for numbers).
    var scratch: [FeatureValue] = []
    /// The key text of the current entity, as bytes (reused).
    var key: [UInt8] = []

    init(path: String) throws {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "SQLite error \(rc)"
            sqlite3_close_v2(handle)
            throw FeatureStoreError.storage(message: "cannot open \(path) for reading: \(message)")
        }
        sqlite3_busy_timeout(handle, 10_000)
        sqlite3_exec(handle, "PRAGMA query_only = 1", nil, nil, nil)
        // Pages read through a memory map: no read call, no copy, one copy of the pages for all handles.
        sqlite3_exec(handle, "PRAGMA mmap_size = 1073741824", nil, nil, nil)
        var prepared: [OpaquePointer] = []
        for sql in [
            "BEGIN", "COMMIT", "SELECT value FROM meta WHERE key = 'generation'",
            "SELECT event_ts, layout, payload FROM online WHERE view = ?1 AND entity_key = ?2",
        ] {
            var stmt: OpaquePointer?
            guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil) == SQLITE_OK, let stmt else {
                let message = String(cString: sqlite3_errmsg(handle))
                for s in prepared { sqlite3_finalize(s) }
                sqlite3_close_v2(handle)
                throw FeatureStoreError.storage(message: "cannot read the online store in \(path): \(message)")
            }
            prepared.append(stmt)
        }
        db = handle
        beginStmt = prepared[0]
        commitStmt = prepared[1]
        generationStmt = prepared[2]
        lookupStmt = prepared[3]
        scratch.reserveCapacity(64)
        key.reserveCapacity(64)
    }

    deinit {
        for s in [beginStmt, commitStmt, generationStmt, lookupStmt] { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
    }

    var lastError: String { String(cString: sqlite3_errmsg(db)) }

    func begin() throws {
        let rc = sqlite3_step(beginStmt)
        sqlite3_reset(beginStmt)
        guard rc == SQLITE_DONE else { throw FeatureStoreError.storage(message: "cannot start a read: \(lastError)") }
    }

    /// Ends the read transaction (a read has nothing to roll back).
    func end() {
        if sqlite3_get_autocommit(db) == 0 {
            sqlite3_step(commitStmt)
            sqlite3_reset(commitStmt)
        }
    }

    /// The definitions generation (bumped by every definition or layout write).
    func generation() throws -> Int64 {
        defer { sqlite3_reset(generationStmt) }
        switch sqlite3_step(generationStmt) {
        case SQLITE_ROW: return sqlite3_column_int64(generationStmt, 0)
        case SQLITE_DONE: return 0
        default: throw FeatureStoreError.storage(message: "cannot read the store's generation: \(lastError)")
        }
    }

    /// Binds the view whose rows the next lookups read.
    func bindView(_ view: String) {
        var copy = view
        copy.withUTF8 { buf in
            _ = sqlite3_bind_text(lookupStmt, 1, UnsafeRawPointer(buf.baseAddress).map { $0.assumingMemoryBound(to: CChar.self) }, Int32(buf.count), transient)
        }
    }

    /// Looks up the row of the current `key`; `found` gets its event time, layout and payload bytes
    /// (valid only inside the call). Returns false when the entity has no row.
    @inline(__always)
    func lookup(_ found: (Int64, Int64, UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        let rc = key.withUnsafeBufferPointer { buf in
            // A null pointer would bind NULL; an empty key is the empty text.
            let text = UnsafeRawPointer(buf.baseAddress ?? ("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
            return sqlite3_bind_text(lookupStmt, 2, text, Int32(buf.count), transient)
        }
        guard rc == SQLITE_OK else { throw FeatureStoreError.storage(message: "cannot look up an entity: \(lastError)") }
        defer { sqlite3_reset(lookupStmt) }
        switch sqlite3_step(lookupStmt) {
        case SQLITE_ROW:
            let ts = sqlite3_column_int64(lookupStmt, 0)
            let layout = sqlite3_column_int64(lookupStmt, 1)
            let bytes = sqlite3_column_blob(lookupStmt, 2)
            let count = Int(sqlite3_column_bytes(lookupStmt, 2))
            try found(ts, layout, UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : count))
            return true
        case SQLITE_DONE:
            return false
        default:
            throw FeatureStoreError.storage(message: "cannot look up an entity: \(lastError)")
        }
    }

    /// Runs a one-off query (definitions, layouts): `row` is called per result row with the statement.
    func query(_ sql: String, text: String? = nil, _ row: (OpaquePointer) throws -> Void) throws {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw FeatureStoreError.storage(message: "cannot read the store: \(lastError)")
        }
        defer { sqlite3_finalize(stmt) }
        if let text { sqlite3_bind_text(stmt, 1, text, -1, transient) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw FeatureStoreError.storage(message: "cannot read the store: \(lastError)") }
            try row(stmt)
        }
    }

    static func text(_ stmt: OpaquePointer, _ column: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, column) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, column))), as: UTF8.self)
    }
}

/// A compiled online request: the resolved features grouped by view, with the positions of the
/// wanted features in each stored layout. Built once per request shape and definitions generation.
final class OnlinePlan: Sendable {
    struct Layout: Sendable {
        /// Position in the payload of each wanted feature of the group, -1 when the layout lacks it.
        let positions: [Int]
        /// Values to decode from the payload's start (the last wanted position + 1).
        let needed: Int
    }

    struct Group: Sendable {
        let view: String
        let keyNames: [String]
        let keyTypes: [ValueType]
        let ttlMicros: Int64
        /// Names of the wanted features and the output column each goes to.
        let features: [String]
        let outputs: [Int]
        let layouts: [Int64: Layout]

        func layout(storing names: [String]) -> Layout {
            var index: [String: Int] = [:]
            for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
            let positions = features.map { index[$0] ?? -1 }
            return Layout(positions: positions, needed: (positions.max() ?? -1) + 1)
        }
    }

    let generation: Int64
    /// Output column names of the features (join keys excluded), in request order.
    let names: [String]
    /// `names` as JSON strings joined by commas, as the response's `feature_names` lists them.
    let encodedNames: [UInt8]
    let groups: [Group]

    init(generation: Int64, names: [String], groups: [Group]) {
        self.generation = generation
        self.names = names
        var encoded: [UInt8] = []
        for (i, name) in names.enumerated() {
            if i > 0 { encoded.append(0x2C) }
            JSONText.quote(name, into: &encoded)
        }
        self.encodedNames = encoded
        self.groups = groups
    }

    /// Resolves a request against the definitions and reads the views' layouts.
    static func build(
        features: [FeatureReference]?, service: String?, fullFeatureNames: Bool, definitions defs: Definitions, generation: Int64,
        connection: ReaderConnection
    ) throws -> OnlinePlan {
        let refs = try defs.resolve(features: features, service: service)
        var order: [String] = []
        var wanted: [String: [(feature: String, output: Int)]] = [:]
        for (i, ref) in refs.enumerated() {
            if wanted[ref.view] == nil { order.append(ref.view) }
            wanted[ref.view, default: []].append((ref.feature, i))
        }
        var groups: [Group] = []
        for viewName in order {
            let view = try defs.view(named: viewName)
            let items = wanted[viewName]!
            var group = Group(
                view: viewName, keyNames: try defs.joinKeys(of: view), keyTypes: try defs.joinKeyTypes(of: view),
                ttlMicros: view.ttlSeconds * Timestamp.microsPerSecond, features: items.map(\.feature), outputs: items.map(\.output),
                layouts: [:])
            var layouts: [Int64: Layout] = [:]
            try connection.query("SELECT id, names FROM layouts WHERE view = ?1", text: viewName) { stmt in
                let id = sqlite3_column_int64(stmt, 0)
                layouts[id] = group.layout(storing: try decodeNames(ReaderConnection.text(stmt, 1), layout: id))
            }
            group = Group(
                view: group.view, keyNames: group.keyNames, keyTypes: group.keyTypes, ttlMicros: group.ttlMicros,
                features: group.features, outputs: group.outputs, layouts: layouts)
            groups.append(group)
        }
        return OnlinePlan(generation: generation, names: refs.map { $0.columnName(full: fullFeatureNames) }, groups: groups)
    }

    static func decodeNames(_ json: String, layout id: Int64) throws -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(json.utf8))
        } catch {
            throw FeatureStoreError.storage(message: "layout \(id) of the online table is damaged; materialize again")
        }
    }
}

/// What identifies a request's plan: the features asked for (or the service) and the naming.
struct OnlinePlanKey: Hashable, Sendable {
    let features: [FeatureReference]?
    let service: String?
    let fullFeatureNames: Bool

    /// Hashes a cheap summary; equality still compares everything (and an identical array in O(1)).
    func hash(into hasher: inout Hasher) {
        hasher.combine(features?.count ?? -1)
        if let last = features?.last { hasher.combine(last.feature) }
        hasher.combine(service)
        hasher.combine(fullFeatureNames)
    }
}
