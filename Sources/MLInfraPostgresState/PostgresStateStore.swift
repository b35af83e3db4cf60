import Crypto
import Foundation
import MLInfraCore
import NIOCore
import PostgresNIO
import Synchronization

/// A state kept in PostgreSQL, for teams whose plan and apply run on different machines.
///
/// One row of `<schema>.states` per state (project + workspace) holds the current state's
/// bytes, exactly as the local file would; every write also adds a row to `state_versions`.
///
/// - **Writes** run in one transaction that locks the state row, checks the journal, the lock
///   and the stored lineage and serial (as `StateStoreRules` says), stores the new serial and
///   its version, and prunes versions beyond `retainVersions`.
/// - **The journal** is one `state_journal` row per finished operation (a `StateJournal`
///   line), inserted in order in groups by one writer, so operations in flight share a round
///   trip; a `kill -9` loses at most the operations whose insert had not committed. Commit
///   stores the folded state and deletes the rows in one transaction, and `read` folds a
///   journal left behind the same way, so recovery is exactly the local store's.
/// - **The lock** is a session-level `pg_try_advisory_lock` whose key is derived from the
///   schema, project and workspace (so states in two schemas never share one), plus a
///   `state_locks` row naming the holder. A holder whose session ended (crash, lost network)
///   frees the advisory lock; the next `lock` takes over its row, and `read` recovers its
///   journal. `forceUnlock` ends the holder's session if it still has one, so a holder that is
///   still running cannot keep writing, then removes the row.
///
/// The URL's password never appears in `location`, in errors, or in anything the store logs.
public final class PostgresStateStore: VersionedStateStore {
    public let url: PostgresBackendURL
    public let schema: String
    public let project: String
    public let workspace: String
    /// How many versions to keep per state (at least 2: the current one and its backup); nil keeps all.
    public let retainVersions: Int?
    /// How the state, its versions and the journal's rows are encrypted at rest.
    public let encryption: StateEncryption
    /// Whether a journal row is flushed to the server's disk before `append` returns (the default).
    /// Without it (`synchronous_commit = off` for journal inserts) a committed row is visible to every
    /// session at once and survives a `kill -9` of mlinfra, but not a crash of the database server in
    /// the following moment: the local store's guarantee without `MLINFRA_JOURNAL_FSYNC`. State
    /// writes and journal commits are always synchronous.
    public let syncsJournal: Bool
    /// What every envelope of this state is bound to, so a row copied to another state's does not open there.
    var scope: String { "postgres \(project)/\(workspace)" }

    public var location: String { "\(url) schema \(schema), state \(project)/\(workspace)" }
    var journalLocation: String { "\(url) \(schema).state_journal, state \(project)/\(workspace)" }

    private let session: PostgresSession
    private let lockKey: Int64
    /// Serialises taking and releasing the lock (a transaction-level advisory lock), so the row and the lock agree.
    private let gateKey: Int64

    /// The stored state as this store last read or wrote it, so a write need not fetch and decode a large state to check it.
    private struct Known {
        var lineage: String
        var serial: Int
        var digest: String
        /// The state itself when this store wrote or read it, so a read of an unchanged row decodes nothing.
        var state: StateFile?
    }

    private struct Journal {
        var stateID: Int64
        var generation: Int
        var lineage: String
        var baseSerial: Int
        var seq = 0
        /// Lines appended and not yet sent, in seq order (a seq may be missing while its line is sealed).
        var pending: [(seq: Int, line: [UInt8])] = []
        /// The highest seq the writer has taken to send.
        var taken = 0
        /// The highest seq committed to the database.
        var durable = 0
        var waiters: [(seq: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var writing = false
        /// Set when an insert failed: what is stored is unknown now, so no more appends or a commit.
        var broken: StateError?
        var inFlight = 0
        /// The most appends seen waiting at once: how many operations the apply runs side by side.
        var width = 0
    }

    private struct Inner {
        var migrated = false
        var known: Known?
        var journal: Journal?
        /// Lock id → the session generation it was taken on.
        var heldLocks: [String: Int] = [:]
        var context: StateWriteContext
        /// The session generation on which `synchronous_commit` was turned off for journal inserts.
        var asyncCommitGeneration: Int?
    }

    private let inner: Mutex<Inner>

    /// A store for `project`/`workspace` in `schema` of the database at `url`; nothing is created until first use.
    public init(
        url: PostgresBackendURL, schema: String = "mlinfra", project: String, workspace: String = "default", retainVersions: Int? = nil,
        encryption: StateEncryption = .none, syncsJournal: Bool = true
    ) throws {
        try PostgresStateSchema.checkName(schema)
        if let retainVersions, retainVersions < 2 {
            throw StateError(
                .backend, "retain_versions is \(retainVersions), but the current version and its backup must be kept",
                path: "backend.postgres.retain_versions", remedy: "set retain_versions to 2 or more, or leave it out to keep every version")
        }
        self.url = url
        self.schema = schema
        self.project = project
        self.workspace = workspace
        self.retainVersions = retainVersions
        self.encryption = encryption
        self.syncsJournal = syncsJournal
        self.session = PostgresSession(url: url)
        self.lockKey = PostgresStateSchema.advisoryKey(["mlinfra-state", schema, project, workspace])
        self.gateKey = PostgresStateSchema.advisoryKey(["mlinfra-state-gate", schema, project, workspace])
        let me = LockInfo.make(operation: "write")
        self.inner = Mutex(Inner(context: StateWriteContext(actor: "\(me.who)@\(me.host)", operation: "write")))
    }

    /// Ends the database session (a held advisory lock goes with it).
    public func close() async {
        await session.close()
    }

    public func setWriteContext(_ context: StateWriteContext) {
        inner.withLock { $0.context = context }
    }

    // MARK: running statements

    private var s: String { schema }
    private var logger: Logger { PostgresSession.logger }

    /// Runs `body` on the session, migrating the schema first on this store's first call; driver errors become `StateError`s.
    private func db<T: Sendable>(
        _ what: String, retry: Bool = false, _ body: @Sendable @escaping (PostgresConnection, Int) async throws -> T
    ) async throws -> T {
        let migrated = inner.withLock { $0.migrated }
        do {
            return try await session.run(retry: retry) { [self] connection, generation in
                if !migrated && !inner.withLock({ $0.migrated }) {
                    try await PostgresStateSchema.migrate(connection, schema: schema, url: url)
                    inner.withLock { $0.migrated = true }
                }
                return try await body(connection, generation)
            }
        } catch {
            throw PostgresStateErrors.backend(what, error, url: url)
        }
    }

    /// Runs `body` in a transaction on `c`: committed when it returns, rolled back when it throws.
    private func transaction<T: Sendable>(_ c: PostgresConnection, _ body: () async throws -> T) async throws -> T {
        try await c.query("BEGIN", logger: logger)
        do {
            if !syncsJournal { try await c.query("SET LOCAL synchronous_commit = on", logger: logger) }
            let value = try await body()
            try await c.query("COMMIT", logger: logger)
            return value
        } catch {
            if !c.isClosed { _ = try? await c.query("ROLLBACK", logger: logger) }
            throw error
        }
    }

    private func stateID(_ c: PostgresConnection, create: Bool) async throws -> Int64? {
        for try await id in try await c.query(
            "SELECT id FROM \(unescaped: s).states WHERE project = \(project) AND workspace = \(workspace)", logger: logger
        ).decode(Int64.self) {
            return id
        }
        guard create else { return nil }
        try await c.query(
            "INSERT INTO \(unescaped: s).states (project, workspace) VALUES (\(project), \(workspace)) ON CONFLICT (project, workspace) DO NOTHING",
            logger: logger)
        return try await stateID(c, create: false)
    }

    /// The md5 of the stored state's bytes (nil when nothing is stored): the digest mlinfra keeps
    /// beside the version it points at, or, for a body still in the row itself, its hash.
    /// With `locking`, the row is locked for the caller's transaction.
    private func storedDigest(_ c: PostgresConnection, _ id: Int64, locking: Bool = false) async throws -> String? {
        let sql = "SELECT CASE WHEN body IS NULL THEN digest ELSE md5(body) END FROM \(s).states WHERE id = \(id)" + (locking ? " FOR UPDATE" : "")
        for try await digest in try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String?.self) {
            return digest
        }
        return nil
    }

    /// Locks the state row for this transaction and returns the stored bytes' md5 (nil when nothing is stored).
    private func lockRow(_ c: PostgresConnection, _ id: Int64) async throws -> String? {
        try await storedDigest(c, id, locking: true)
    }

    /// The stored state's bytes: the row's own body when it has one, else the version it points at.
    private func body(_ c: PostgresConnection, _ id: Int64) async throws -> [UInt8]? {
        for try await buffer in try await c.query(
            """
            SELECT COALESCE(st.body, v.body) FROM \(unescaped: s).states st LEFT JOIN \(unescaped: s).state_versions v ON v.id = st.version_id
            WHERE st.id = \(id)
            """, logger: logger
        ).decode(ByteBuffer?.self) {
            return buffer.map { Array($0.readableBytesView) }
        }
        return nil
    }

    private func journalCount(_ c: PostgresConnection, _ id: Int64) async throws -> Int {
        for try await n in try await c.query("SELECT count(*) FROM \(unescaped: s).state_journal WHERE state_id = \(id)", logger: logger)
            .decode(Int64.self)
        {
            return Int(n)
        }
        return 0
    }

    private func journalBytes(_ c: PostgresConnection, _ id: Int64) async throws -> (bytes: [UInt8], rows: Int) {
        var bytes: [UInt8] = []
        var rows = 0
        for try await line in try await c.query(
            "SELECT line FROM \(unescaped: s).state_journal WHERE state_id = \(id) ORDER BY seq", logger: logger
        ).decode(ByteBuffer.self) {
            bytes.append(contentsOf: line.readableBytesView)
            rows += 1
        }
        return (bytes, rows)
    }

    private func deleteJournal(_ c: PostgresConnection, _ id: Int64) async throws {
        try await c.query("DELETE FROM \(unescaped: s).state_journal WHERE state_id = \(id)", logger: logger)
    }

    private func decode(_ bytes: [UInt8], at place: String? = nil) throws -> StateFile {
        let place = place ?? location
        do {
            return try StateCodec.decode(encryption.open(bytes, kind: .state, scope: scope, location: place), path: place)
        } catch var error as StateError where error.code == .unreadable {
            error.remedy = "restore the previous version, the backup kept in \(schema).state_versions: `mlinfra state history` lists "
                + "the versions and `mlinfra state rollback SERIAL` writes one back as a new serial; or correct the row by hand"
            throw error
        }
    }

    /// Lineage and serial of the stored state (the row locked by `lockRow`), decoding it only when it changed since this store saw it.
    /// Throws when it cannot be read or is of a newer version, which keeps it from being overwritten.
    private func storedHeader(_ c: PostgresConnection, _ id: Int64, digest: String?) async throws -> (lineage: String, serial: Int)? {
        guard let digest else { return nil }
        if let known = inner.withLock({ $0.known }), known.digest == digest { return (known.lineage, known.serial) }
        guard let bytes = try await body(c, id) else { return nil }
        let state = try decode(bytes)
        inner.withLock { $0.known = Known(lineage: state.lineage, serial: state.serial, digest: digest, state: state) }
        return (state.lineage, state.serial)
    }

    /// Writes `state` as serial `state.serial + 1` with its version row, inside the caller's transaction.
    private func store(_ state: StateFile, _ c: PostgresConnection, _ id: Int64, operation: String? = nil, planID: String? = nil) async throws -> StateFile {
        var st = state
        st.serial += 1
        st.mlinfraVersion = MLInfraVersion.current
        let bytes = encryption.sealWhole(StateCodec.encode(st), kind: .state, scope: scope)
        let digest = Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        let context = inner.withLock { $0.context }
        // The body goes once, into the version row; the state row points at it.
        var versionID: Int64 = 0
        do {
            for try await row in try await c.query(
                """
                INSERT INTO \(unescaped: s).state_versions (state_id, serial, lineage, body, written_by, operation, plan_id, mlinfra_version)
                VALUES (\(id), \(Int64(st.serial)), \(st.lineage), \(ByteBuffer(bytes: bytes)), \(context.actor), \(operation ?? context.operation),
                        \(planID), \(MLInfraVersion.current))
                RETURNING id
                """, logger: logger
            ).decode(Int64.self) {
                versionID = row
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && planID != nil {
            throw StateError(
                .serialConflict, "the saved plan \(planID!) was already applied to this state; it was not applied again",
                path: location, remedy: "run `mlinfra plan` for a new plan")
        }
        try await c.query(
            """
            UPDATE \(unescaped: s).states SET body = NULL, version_id = \(versionID), digest = \(digest), lineage = \(st.lineage),
                serial = \(Int64(st.serial)), updated_at = now()
            WHERE id = \(id)
            """, logger: logger)
        if let keep = retainVersions {
            try await c.query(
                """
                DELETE FROM \(unescaped: s).state_versions WHERE state_id = \(id) AND id < (
                    SELECT id FROM \(unescaped: s).state_versions WHERE state_id = \(id) ORDER BY id DESC OFFSET \(keep - 1) LIMIT 1)
                """, logger: logger)
        }
        inner.withLock { $0.known = Known(lineage: st.lineage, serial: st.serial, digest: digest, state: st) }
        return st
    }

    // MARK: read and write

    public func read() async throws -> StateFile? {
        guard inner.withLock({ $0.journal == nil }) else { throw journalOpen("read") }
        return try await db("could not read the state", retry: true) { [self] c, generation in
            for _ in 0..<5 {
                guard let id = try await stateID(c, create: false) else { return nil }
                let state: StateFile?
                if let known = inner.withLock({ $0.known }), let cached = known.state, try await storedDigest(c, id) == known.digest {
                    state = cached  // the bytes this store last wrote or read: nothing to fetch or decode
                } else {
                    let stored = try await body(c, id)
                    state = try stored.map { try decode($0) }
                    if let state, let stored {
                        let digest = Insecure.MD5.hash(data: stored).map { String(format: "%02x", $0) }.joined()
                        inner.withLock { $0.known = Known(lineage: state.lineage, serial: state.serial, digest: digest, state: state) }
                    }
                }
                let journal = try await journalBytes(c, id)
                guard journal.rows > 0 else { return state }
                let holder = try await lockHolder(c, id)
                var mayRecover = StateStoreRules.mayRecover(lock: holder, heldByThisStore: holder.map { held($0.id, generation) } ?? false)
                if !mayRecover, try await !advisoryLockIsHeld(c) { mayRecover = true }
                let recovery: StateJournal.Recovery
                if let contents = try StateJournal.parse(journal.bytes, path: journalLocation, encryption: encryption, scope: scope) {
                    recovery = try StateJournal.recovery(stored: state, journal: contents, path: journalLocation)
                } else {
                    recovery = .discard
                }
                if case .write(let folded) = recovery, !mayRecover { return folded }
                guard mayRecover else { return state }
                // Fold (or drop) the journal in one transaction; if another reader did it first, read again.
                let done: StateFile?? = try await transaction(c) {
                    _ = try await lockRow(c, id)
                    guard try await journalCount(c, id) == journal.rows else { return .none }
                    switch recovery {
                    case .discard:
                        try await deleteJournal(c, id)
                        return .some(state)
                    case .write(let folded):
                        let written = try await store(folded, c, id, operation: "recover journal")
                        try await deleteJournal(c, id)
                        return .some(written)
                    }
                }
                if let done { return done }
            }
            throw StateError(
                .journalState, "the journal kept changing while it was being recovered", path: journalLocation,
                remedy: "run the command again")
        }
    }

    @discardableResult
    public func write(_ state: StateFile) async throws -> Int {
        guard inner.withLock({ $0.journal == nil }) else { throw journalOpen("write") }
        return try await db("could not write the state") { [self] c, generation in
            let id = try await stateID(c, create: true)!
            return try await transaction(c) {
                let digest = try await lockRow(c, id)
                guard try await journalCount(c, id) == 0 else { throw pendingJournal() }
                try await checkLock(c, id, generation)
                try StateStoreRules.checkWrite(existing: try await storedHeader(c, id, digest: digest), incoming: state, location: location)
                return try await store(state, c, id).serial
            }
        }
    }

    // MARK: lock

    private enum Attempt: Sendable { case taken, heldBy(LockInfo), unrecorded }

    public func lock(_ info: LockInfo, timeout: Double) async throws {
        try await StateStoreRules.pollLock(timeout: timeout, location: location) {
            let attempt = try await db("could not take the state lock", retry: true) { [self] c, generation in
                let id = try await stateID(c, create: true)!
                if inner.withLock({ $0.heldLocks.values.contains(generation) }) {
                    return try await lockHolder(c, id).map(Attempt.heldBy) ?? .unrecorded
                }
                var got = false
                do {
                    // Taking the advisory lock and recording the holder happen under a transaction-level gate, so
                    // another session never sees the lock taken without its holder's row.
                    return try await transaction(c) {
                        try await c.query("SELECT pg_advisory_xact_lock(\(gateKey))", logger: logger)
                        for try await ok in try await c.query("SELECT pg_try_advisory_lock(\(lockKey))", logger: logger).decode(Bool.self) {
                            got = ok
                        }
                        guard got else { return try await lockHolder(c, id).map(Attempt.heldBy) ?? .unrecorded }
                        // A row left here belongs to a session that ended (its advisory lock was free): take it over.
                        try await c.query("DELETE FROM \(unescaped: s).state_locks WHERE state_id = \(id)", logger: logger)
                        try await c.query(
                            """
                            INSERT INTO \(unescaped: s).state_locks (state_id, lock_id, operation, who, host, pid, ci_run_url, process_start, backend_pid, created)
                            VALUES (\(id), \(info.id), \(info.operation), \(info.who), \(info.host), \(info.pid), \(info.ciRunURL), \(info.processStart),
                                    pg_backend_pid(), \(info.created))
                            """, logger: logger)
                        inner.withLock { $0.heldLocks[info.id] = generation }
                        return .taken
                    }
                } catch {
                    if got {
                        inner.withLock { _ = $0.heldLocks.removeValue(forKey: info.id) }
                        _ = try? await c.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                    }
                    throw error
                }
            }
            switch attempt {
            case .taken: return .taken
            case .heldBy(let holder): return .heldBy(holder)
            case .unrecorded:
                return .unrecorded(StateError(
                    .locked, "the state is locked by a database session that has not recorded its details yet", path: location,
                    remedy: "retry in a moment, or with `--lock-timeout 30s`"))
            }
        }
    }

    private func held(_ lockID: String, _ generation: Int) -> Bool {
        inner.withLock { $0.heldLocks[lockID] == generation }
    }

    private func lockHolder(_ c: PostgresConnection, _ id: Int64) async throws -> LockInfo? {
        for try await (lockID, operation, who, host, pid, ci, start, created) in try await c.query(
            "SELECT lock_id, operation, who, host, pid, ci_run_url, process_start, created FROM \(unescaped: s).state_locks WHERE state_id = \(id)",
            logger: logger
        ).decode((String, String, String, String, Int32, String?, String?, Date).self) {
            return LockInfo(id: lockID, operation: operation, who: who, host: host, pid: pid, created: created, processStart: start, ciRunURL: ci)
        }
        return nil
    }

    /// Whether some session of this database holds the state's advisory lock.
    private func advisoryLockIsHeld(_ c: PostgresConnection) async throws -> Bool {
        for try await held in try await c.query(
            """
            SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND classid::bigint = ((\(lockKey)::bigint >> 32) & 4294967295) AND objid::bigint = (\(lockKey)::bigint & 4294967295))
            """, logger: logger
        ).decode(Bool.self) {
            return held
        }
        return false
    }

    /// Refuses a write while someone else holds the lock, or when this store's lock went with a lost session.
    private func checkLock(_ c: PostgresConnection, _ id: Int64, _ generation: Int) async throws {
        let lost = inner.withLock { $0.heldLocks.first { $0.value != generation }?.key }
        if let lost {
            throw StateError(
                .locked,
                "this command's database session was lost after it took the state lock (lock ID \(lost)): the session ended "
                    + "(server restart, network, or `mlinfra force-unlock`), so another command may hold the lock now; nothing more was written",
                path: location, remedy: "run the command again; an interrupted apply is recovered from its journal")
        }
        guard let holder = try await lockHolder(c, id) else { return }
        if let taken = inner.withLock({ $0.heldLocks[holder.id] }), taken != generation {
            throw StateError(
                .locked,
                "this command's database session was lost after it took the state lock (lock ID \(holder.id)), so the lock may have "
                    + "passed to another command; nothing more was written",
                path: location, remedy: "run the command again; an interrupted apply is recovered from its journal")
        }
        try StateStoreRules.checkLock(holder, heldByThisStore: held(holder.id, generation), location: location)
    }

    public func unlock(id lockID: String) async throws {
        try await removeLock(lockID, force: false)
    }

    public func forceUnlock(id lockID: String) async throws {
        try await removeLock(lockID, force: true)
    }

    private func removeLock(_ lockID: String, force: Bool) async throws {
        try await db("could not remove the state lock") { [self] c, generation in
            guard let id = try await stateID(c, create: false), let holder = try await lockHolder(c, id) else {
                throw StateStoreRules.noLockError(id: lockID, location: location)
            }
            guard holder.id == lockID else { throw StateStoreRules.otherLockError(id: lockID, holder: holder, location: location) }
            let mine = held(lockID, generation)
            if force && !mine {
                // End the holder's session if it still holds the advisory lock, so a live holder cannot keep writing.
                var holderPID: Int32?
                for try await pid in try await c.query(
                    "SELECT backend_pid FROM \(unescaped: s).state_locks WHERE state_id = \(id)", logger: logger
                ).decode(Int32.self) {
                    holderPID = pid
                }
                if let holderPID {
                    for try await ended in try await c.query(
                        """
                        SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                            AND pid = \(holderPID) AND pid <> pg_backend_pid()
                            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                            AND classid::bigint = ((\(lockKey)::bigint >> 32) & 4294967295) AND objid::bigint = (\(lockKey)::bigint & 4294967295)
                        """, logger: logger
                    ).decode(Bool.self) where !ended {
                        throw StateError(
                            .backend, "could not end the lock holder's database session (backend pid \(holderPID)) within 10s",
                            path: location, remedy: "ask the database administrator to run SELECT pg_terminate_backend(\(holderPID))")
                    }
                }
            }
            try await transaction(c) {
                try await c.query("SELECT pg_advisory_xact_lock(\(gateKey))", logger: logger)
                try await c.query("DELETE FROM \(unescaped: s).state_locks WHERE state_id = \(id) AND lock_id = \(lockID)", logger: logger)
                if mine { try await c.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger) }
            }
            inner.withLock { _ = $0.heldLocks.removeValue(forKey: lockID) }
        }
    }

    public func currentLock() async throws -> LockInfo? {
        try await db("could not read the state lock", retry: true) { [self] c, _ in
            guard let id = try await stateID(c, create: false) else { return nil }
            return try await lockHolder(c, id)
        }
    }

    // MARK: journal

    public func beginJournal(base: StateFile) async throws {
        guard inner.withLock({ $0.journal == nil }) else { throw journalOpen("beginJournal") }
        let (id, generation) = try await db("could not start the journal") { [self] c, generation in
            let id = try await stateID(c, create: true)!
            try await transaction(c) {
                let digest = try await lockRow(c, id)
                guard try await journalCount(c, id) == 0 else { throw pendingJournal() }
                try await checkLock(c, id, generation)
                let stored = try await storedHeader(c, id, digest: digest)
                try StateStoreRules.checkJournalBase(stored: stored, base: base, location: location)
                let line = ByteBuffer(bytes: StateJournal.beginLine(base: base, embedBase: stored == nil, encryption: encryption, scope: scope))
                try await c.query("INSERT INTO \(unescaped: s).state_journal (state_id, seq, line) VALUES (\(id), 0, \(line))", logger: logger)
            }
            return (id, generation)
        }
        inner.withLock { $0.journal = Journal(stateID: id, generation: generation, lineage: base.lineage, baseSerial: base.serial) }
    }

    /// Queues the entry's line and waits until the writer has committed it.
    public func append(_ entry: JournalEntry) async throws {
        // The seq is taken under the lock; the line is built and sealed outside it, so appends that
        // finish together do not wait for each other's encryption.
        let (seq, lineage, baseSerial) = try inner.withLock { st -> (Int, String, Int) in
            guard var j = st.journal else { throw noJournal("append") }
            if let broken = j.broken { throw broken }
            j.seq += 1
            j.inFlight += 1
            j.width = max(j.width, j.inFlight)
            st.journal = j
            return (j.seq, j.lineage, j.baseSerial)
        }
        defer { inner.withLock { $0.journal?.inFlight -= 1 } }
        let line = StateJournal.entryLine(entry, lineage: lineage, baseSerial: baseSerial, seq: seq, encryption: encryption, scope: scope)
        let startWriter = try inner.withLock { st -> Bool in
            guard var j = st.journal else { throw noJournal("append") }
            if let broken = j.broken { throw broken }
            let at = j.pending.lastIndex { $0.seq < seq }.map { $0 + 1 } ?? 0
            j.pending.insert((seq, line), at: at)
            let start = !j.writing
            j.writing = true
            st.journal = j
            return start
        }
        if startWriter { Task { await self.writeJournal() } }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, any Error>? = inner.withLock { st in
                guard let j = st.journal else { return .failure(noJournal("append")) }
                if j.durable >= seq { return .success(()) }
                if let broken = j.broken { return .failure(broken) }
                st.journal!.waiters.append((seq, continuation))
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Inserts queued lines in seq order, a group per round trip, until none are left.
    private func writeJournal() async {
        while true {
            await gatherGroup()
            let batch = inner.withLock { st -> (id: Int64, generation: Int, lines: [(seq: Int, line: [UInt8])])? in
                guard var j = st.journal else { return nil }
                // Only the run that follows the last line taken: a line whose seq comes before it may
                // still be being sealed, and its append starts the writer again once it is queued.
                var count = 0
                while count < min(j.pending.count, 1000), j.pending[count].seq == j.taken + 1 + count { count += 1 }
                guard count > 0 else {
                    j.writing = false
                    st.journal = j
                    return nil
                }
                let lines = Array(j.pending.prefix(count))
                j.pending.removeFirst(count)
                j.taken += count
                st.journal = j
                return (j.stateID, j.generation, lines)
            }
            guard let batch else { return }
            do {
                try await db("could not append to the journal") { [self] c, generation in
                    guard generation == batch.generation else {
                        throw StateError(
                            .backend, "the database session was lost during apply, and with it the state lock; the operation was not recorded",
                            path: journalLocation, remedy: "run apply again: it recovers the operations recorded before the loss")
                    }
                    var binds = PostgresBindings(capacity: 1 + batch.lines.count * 2)
                    binds.append(batch.id)
                    var values: [String] = []
                    for (k, entry) in batch.lines.enumerated() {
                        binds.append(Int64(entry.seq))
                        binds.append(ByteBuffer(bytes: entry.line))
                        values.append("($1, $\(2 + 2 * k), $\(3 + 2 * k))")
                    }
                    let insert = PostgresQuery(
                        unsafeSQL: "INSERT INTO \(s).state_journal (state_id, seq, line) VALUES " + values.joined(separator: ", "), binds: binds)
                    // Once per session, so each group stays one round trip; `transaction` turns it back on for state writes.
                    if !syncsJournal, inner.withLock({ $0.asyncCommitGeneration }) != generation {
                        try await c.query("SET synchronous_commit = off", logger: logger)
                        inner.withLock { $0.asyncCommitGeneration = generation }
                    }
                    try await c.query(insert, logger: logger)
                }
                let ready = inner.withLock { st -> [CheckedContinuation<Void, any Error>] in
                    guard var j = st.journal else { return [] }
                    j.durable = batch.lines.last!.seq
                    let ready = j.waiters.filter { $0.seq <= j.durable }.map(\.continuation)
                    j.waiters.removeAll { $0.seq <= j.durable }
                    st.journal = j
                    return ready
                }
                for continuation in ready { continuation.resume() }
            } catch {
                let failure = error as? StateError ?? PostgresStateErrors.backend("could not append to the journal", error, url: url)
                let waiting = inner.withLock { st -> [CheckedContinuation<Void, any Error>] in
                    guard var j = st.journal else { return [] }
                    j.broken = failure
                    j.pending = []
                    j.writing = false
                    let waiting = j.waiters.map(\.continuation)
                    j.waiters = []
                    st.journal = j
                    return waiting
                }
                for continuation in waiting { continuation.resume(throwing: failure) }
                return
            }
        }
    }

    /// Lets the operations that are finishing at this moment join the next group, so one round trip
    /// carries them all instead of the first alone: yields to them (a bounded number of times) until as
    /// many lines are queued as the apply has had operations waiting at once. Each operation still
    /// waits until its own line is committed, so at most that many are unrecorded at any instant.
    private func gatherGroup() async {
        for _ in 0..<32 {
            let gathered = inner.withLock { st in st.journal.map { $0.pending.count >= $0.width } ?? true }
            if gathered { return }
            await Task.yield()
        }
    }

    @discardableResult
    public func commitJournal(_ folded: StateFile) async throws -> Int {
        let j = try inner.withLock { st -> Journal in
            guard let j = st.journal else { throw noJournal("commitJournal") }
            guard j.inFlight == 0 else {
                throw StateError(
                    .journalState, "commitJournal was called while appends were still in flight", path: journalLocation,
                    remedy: "await every append before committing")
            }
            if let broken = j.broken { throw broken }
            guard folded.lineage == j.lineage else {
                throw StateError(
                    .lineageMismatch,
                    "the folded state has lineage \(folded.lineage) but the journal began with lineage \(j.lineage)",
                    path: location, remedy: "commit the state the journal was begun with, with the journal's entries applied")
            }
            return j
        }
        let planID = inner.withLock { $0.context.planID }
        let serial = try await db("could not commit the journal") { [self] c, generation in
            guard generation == j.generation else {
                throw StateError(
                    .backend, "the database session was lost during apply, and with it the state lock; the state was not committed",
                    path: location, remedy: "run apply again: it recovers the operations recorded in the journal")
            }
            return try await transaction(c) {
                _ = try await lockRow(c, j.stateID)
                var base = folded
                base.serial = j.baseSerial
                let written = try await store(base, c, j.stateID, planID: planID)
                try await deleteJournal(c, j.stateID)
                return written.serial
            }
        }
        inner.withLock { $0.journal = nil }
        return serial
    }

    // MARK: versions

    public func versions(limit: Int) async throws -> [StateVersionInfo] {
        try await db("could not list the state's versions", retry: true) { [self] c, _ in
            guard let id = try await stateID(c, create: false) else { return [] }
            var out: [StateVersionInfo] = []
            for try await (serial, lineage, by, at, operation, plan, version) in try await c.query(
                """
                SELECT serial, lineage, written_by, written_at, operation, plan_id, mlinfra_version
                FROM \(unescaped: s).state_versions WHERE state_id = \(id) ORDER BY id DESC LIMIT \(Int64(limit))
                """, logger: logger
            ).decode((Int64, String, String, Date, String, String?, String).self) {
                out.append(
                    StateVersionInfo(
                        serial: Int(serial), lineage: lineage, writtenBy: by, writtenAt: at, operation: operation, planID: plan,
                        mlinfraVersion: version))
            }
            return out
        }
    }

    public func state(atSerial serial: Int) async throws -> StateFile? {
        try await db("could not read a version of the state", retry: true) { [self] c, _ in
            guard let id = try await stateID(c, create: false) else { return nil }
            for try await body in try await c.query(
                """
                SELECT body FROM \(unescaped: s).state_versions WHERE state_id = \(id) AND serial = \(Int64(serial))
                ORDER BY id DESC LIMIT 1
                """, logger: logger
            ).decode(ByteBuffer.self) {
                return try decode(Array(body.readableBytesView), at: "\(url) \(schema).state_versions serial \(serial), state \(project)/\(workspace)")
            }
            return nil
        }
    }

    public func version(appliedPlan planID: String) async throws -> StateVersionInfo? {
        try await db("could not look up the saved plan", retry: true) { [self] c, _ in
            guard let id = try await stateID(c, create: false) else { return nil }
            for try await (serial, lineage, by, at, operation, version) in try await c.query(
                """
                SELECT serial, lineage, written_by, written_at, operation, mlinfra_version
                FROM \(unescaped: s).state_versions WHERE state_id = \(id) AND plan_id = \(planID)
                """, logger: logger
            ).decode((Int64, String, String, Date, String, String).self) {
                return StateVersionInfo(
                    serial: Int(serial), lineage: lineage, writtenBy: by, writtenAt: at, operation: operation, planID: planID,
                    mlinfraVersion: version)
            }
            return nil
        }
    }

    // MARK: workspaces

    /// The workspaces of this store's project that hold a state, sorted.
    public func workspaces() async throws -> [String] {
        try await db("could not list the workspaces", retry: true) { [self] c, _ in
            var out: [String] = []
            for try await name in try await c.query(
                "SELECT workspace FROM \(unescaped: s).states WHERE project = \(project) AND (body IS NOT NULL OR version_id IS NOT NULL) ORDER BY workspace",
                logger: logger
            ).decode(String.self) {
                out.append(name)
            }
            return out
        }
    }

    /// Removes this workspace's state, its versions and its journal. The caller holds the lock
    /// (which goes with the row); refused while another holder has it.
    public func deleteState() async throws {
        try await db("could not delete the workspace's state") { [self] c, generation in
            guard let id = try await stateID(c, create: false) else { return }
            try await transaction(c) {
                _ = try await lockRow(c, id)
                try await checkLock(c, id, generation)
                try await c.query("DELETE FROM \(unescaped: s).states WHERE id = \(id)", logger: logger)
            }
            if inner.withLock({ !$0.heldLocks.isEmpty }) {
                try await c.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                inner.withLock { $0.heldLocks = [:] }
            }
        }
    }

    // MARK: errors

    private func journalOpen(_ call: String) -> StateError { StateStoreRules.journalOpenError(call, location: journalLocation) }

    private func noJournal(_ call: String) -> StateError { StateStoreRules.noJournalError(call, location: journalLocation) }

    private func pendingJournal() -> StateError { StateStoreRules.pendingJournalError(location: journalLocation) }
}
