import Foundation
import Synchronization

/// A state kept in a local file, with `<file>.backup`, `<file>.journal` and `<file>.lock` beside it.
///
/// - Writes are atomic and durable: a temporary file in the same directory is
///   written and fsynced, the current file is hard-linked to `<file>.backup`, the
///   temporary file is renamed over the state, and the directory is fsynced.
/// - The lock is `<file>.lock`, holding the holder's `LockInfo` as JSON and created whole
///   (hard-linked from a synced temporary file), so it works between processes with no
///   daemon and is never seen half-written. A lock whose holder is provably dead is taken
///   over with a notice (`onTakeover`); one held by a live process, or by another host, is not.
/// - The journal is `<file>.journal` (see `StateJournal`): each `append` writes
///   one line and fdatasyncs it, so a `kill -9` loses at most the entry being written.
///
/// One instance may be shared by many tasks; its calls are serialised. Two
/// instances over the same file behave like two processes.
public final class LocalStateStore: StateStore {
    public let path: String
    public var location: String { path }
    public var backupPath: String { path + ".backup" }
    public var journalPath: String { path + ".journal" }
    public var lockPath: String { path + ".lock" }

    /// The stored file as this store last read or wrote it, so a write need not re-read a large state to check it.
    private struct Known {
        var lineage: String
        var serial: Int
        var fingerprint: PosixFiles.Fingerprint
    }

    private struct Session {
        var fd: Int32
        var lineage: String
        var baseSerial: Int
        /// The seq of the last line written.
        var seq: Int
        /// Makes appended lines durable (nil when the store does not sync its journal).
        var syncer: JournalSyncer?
        /// Set when a write failed: the journal's tail is unknown, so no more appends.
        var broken: StateError?
        /// Appends that wrote their line and have not returned yet; commit waits for none.
        var inFlight = 0
    }

    private struct Inner {
        var known: Known?
        var session: Session?
        var heldLocks: Set<String> = []
    }

    private let inner = Mutex(Inner())

    /// Whether `append` fdatasyncs before returning (the default). Without it an entry is
    /// still written to the operating system before `append` returns, which survives a
    /// `kill -9` of mlinfra but not an OS crash or power loss.
    public let syncsJournal: Bool

    /// Told when `lock` takes over the lock of a dead holder, with why it is known to be dead.
    public let onTakeover: @Sendable (LockInfo, String) -> Void

    /// How the state, its backup and the journal's lines are encrypted at rest.
    public let encryption: StateEncryption

    /// A store for the state file at `path`; nothing is created until the first lock, write or journal.
    public init(
        path: String, syncsJournal: Bool = true, encryption: StateEncryption = .none,
        onTakeover: (@Sendable (LockInfo, String) -> Void)? = nil
    ) {
        self.path = path
        self.syncsJournal = syncsJournal
        self.encryption = encryption
        self.onTakeover = onTakeover ?? LocalStateStore.announceTakeover
    }

    deinit {
        // A journal still open here was never committed: leave the file for recovery, as a crash would.
        inner.withLock {
            guard let s = $0.session else { return }
            s.syncer?.stop()
            close(s.fd)
        }
    }

    /// Says on standard error which lock was taken over and why: never silently.
    @Sendable static func announceTakeover(_ holder: LockInfo, _ reason: String) {
        let line = "Took over the state lock \(holder.id) of \(holder.operation) by \(holder.who)@\(holder.host) "
            + "(since \(LockInfo.timestamp(holder.created))): \(reason).\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    // MARK: read and write

    public func read() async throws -> StateFile? {
        try inner.withLock { st in
            guard st.session == nil else { throw journalOpen("read") }
            let stored = try PosixFiles.read(path)
            if stored == nil, !PosixFiles.exists(journalPath) { try refuseOrphanedBackup() }
            let state = try stored.map { try decode($0.bytes) }
            if let state, let stored {
                st.known = Known(lineage: state.lineage, serial: state.serial, fingerprint: stored.fingerprint)
            }
            guard let journalBytes = try PosixFiles.read(journalPath)?.bytes else { return state }
            let holder = try readLock()
            let mayRecover = StateStoreRules.mayRecover(lock: holder, heldByThisStore: holder.map { st.heldLocks.contains($0.id) } ?? false)
            guard let journal = try StateJournal.parse(journalBytes, path: journalPath, encryption: encryption, scope: "") else {
                if mayRecover { try removeJournal() }
                return state
            }
            switch try StateJournal.recovery(stored: state, journal: journal, path: journalPath) {
            case .discard:
                if mayRecover { try removeJournal() }
                return state
            case .write(let folded):
                guard mayRecover else { return folded }
                let written = try store(folded, &st)
                try removeJournal()
                return written
            }
        }
    }

    @discardableResult
    public func write(_ state: StateFile) async throws -> Int {
        try inner.withLock { st in
            guard st.session == nil else { throw journalOpen("write") }
            guard !PosixFiles.exists(journalPath) else { throw pendingJournal() }
            try checkLock(st)
            let existing = try storedHeader(&st)
            if existing == nil { try refuseOrphanedBackup() }
            try StateStoreRules.checkWrite(existing: existing, incoming: state, location: path)
            return try store(state, &st).serial
        }
    }

    /// A state file gone while its backup is still there was lost (deleted by hand, a bad
    /// restore): refused, so that a new lineage never starts over it and overwrites the backup.
    private func refuseOrphanedBackup() throws {
        guard PosixFiles.exists(backupPath) else { return }
        throw StateError(
            .unreadable, "the state file is missing but its backup \(backupPath) exists", path: path,
            remedy: "restore it with `cp \(backupPath) \(path)` (the backup is the state before the last write); "
                + "if the resources are really gone and you want to start over, move the backup away first")
    }

    /// Writes `state` as serial `state.serial + 1`, stamped with this mlinfra's version.
    private func store(_ state: StateFile, _ st: inout Inner) throws -> StateFile {
        var s = state
        s.serial += 1
        s.mlinfraVersion = MLInfraVersion.current
        let bytes = encryption.sealWhole(StateCodec.encode(s), kind: .state, scope: "")
        let fingerprint = try PosixFiles.replace(path, with: bytes, backup: backupPath)
        st.known = Known(lineage: s.lineage, serial: s.serial, fingerprint: fingerprint)
        return s
    }

    /// The state in the stored bytes, opened first when they are encrypted.
    private func decode(_ bytes: [UInt8]) throws -> StateFile {
        try StateCodec.decode(encryption.open(bytes, kind: .state, scope: "", location: path), path: path)
    }

    /// Lineage and serial of the stored file, reading it only when it changed since this store last saw it.
    /// Throws when the file cannot be read or is of a newer version, which keeps it from being overwritten.
    private func storedHeader(_ st: inout Inner) throws -> (lineage: String, serial: Int)? {
        guard let fingerprint = try PosixFiles.fingerprint(path) else { return nil }
        if let known = st.known, known.fingerprint == fingerprint { return (known.lineage, known.serial) }
        guard let stored = try PosixFiles.read(path) else { return nil }
        let state = try decode(stored.bytes)
        st.known = Known(lineage: state.lineage, serial: state.serial, fingerprint: stored.fingerprint)
        return (state.lineage, state.serial)
    }

    // MARK: lock

    public func lock(_ info: LockInfo, timeout: Double) async throws {
        try await StateStoreRules.pollLock(timeout: timeout, location: path) {
            switch try tryLock(info) {
            case .taken:
                inner.withLock { _ = $0.heldLocks.insert(info.id) }
                return .taken
            case .heldBy(let holder): return .heldBy(holder)
            case .unreadable:
                return .unrecorded(StateError(
                    .locked, "the lock file exists but holds no readable lock (it may be being written)", path: lockPath,
                    remedy: "retry; if no mlinfra command is running, delete \(lockPath)"))
            }
        }
    }

    private enum Attempt { case taken, heldBy(LockInfo), unreadable }

    /// Creates the lock file whole or not at all: the holder's JSON is written and synced in a
    /// temporary file, then hard-linked to the lock's name, which fails if a lock exists — so no
    /// reader ever sees a half-written lock. A holder that is provably dead (same host, its
    /// process gone or its pid reused) is taken over, with a notice, and the attempt repeated.
    private func tryLock(_ info: LockInfo) throws -> Attempt {
        let dir = PosixFiles.directory(of: lockPath)
        try PosixFiles.makeDirectories(dir)
        let temp = "\(lockPath).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StateError.io("create lock file", path: temp, errno: errno) }
        defer { unlink(temp) }
        do {
            defer { close(fd) }
            try PosixFiles.writeAll(fd, info.jsonBytes(), path: temp)
            guard fsync(fd) == 0 else { throw StateError.io("fsync", path: temp, errno: errno) }
        }
        if link(temp, lockPath) == 0 {
            try PosixFiles.syncDirectory(dir)
            return .taken
        }
        guard errno == EEXIST else { throw StateError.io("create lock file", path: lockPath, errno: errno) }
        guard let holder = try readLock() else {
            return PosixFiles.exists(lockPath) ? .unreadable : try tryLock(info)
        }
        if let reason = holder.staleReason(), try takeOver(holder) {
            onTakeover(holder, reason)
            return try tryLock(info)
        }
        return .heldBy(holder)
    }

    /// Removes a dead holder's lock if it is still the one in place, under an advisory lock on
    /// `<file>.lock.guard` so that two commands taking over at once never remove a fresh lock.
    private func takeOver(_ dead: LockInfo) throws -> Bool {
        let guardPath = lockPath + ".guard"
        let fd = open(guardPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StateError.io("open", path: guardPath, errno: errno) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StateError.io("lock", path: guardPath, errno: errno) }
        defer { flock(fd, LOCK_UN) }
        guard let current = try readLock(), current.id == dead.id else { return false }
        try PosixFiles.remove(lockPath)
        try PosixFiles.syncDirectory(PosixFiles.directory(of: lockPath))
        return true
    }

    private func checkLock(_ st: Inner) throws {
        guard PosixFiles.exists(lockPath) else { return }
        let holder = try readLock()
        try StateStoreRules.checkLock(holder, heldByThisStore: holder.map { st.heldLocks.contains($0.id) } ?? false, location: path)
    }

    private func readLock() throws -> LockInfo? {
        guard let bytes = try PosixFiles.read(lockPath)?.bytes else { return nil }
        return LockInfo.parse(bytes)
    }

    public func unlock(id: String) async throws {
        try removeLock(id: id)
    }

    public func forceUnlock(id: String) async throws {
        try removeLock(id: id)
    }

    private func removeLock(id: String) throws {
        try inner.withLock { st in
            guard PosixFiles.exists(lockPath) else { throw StateStoreRules.noLockError(id: id, location: path) }
            if let holder = try readLock(), holder.id != id {
                throw StateStoreRules.otherLockError(id: id, holder: holder, location: path)
            }
            try PosixFiles.remove(lockPath)
            try PosixFiles.syncDirectory(PosixFiles.directory(of: lockPath))
            st.heldLocks.remove(id)
        }
    }

    public func currentLock() async throws -> LockInfo? {
        try readLock()
    }

    // MARK: journal

    public func beginJournal(base: StateFile) async throws {
        try inner.withLock { st in
            guard st.session == nil else { throw journalOpen("beginJournal") }
            guard !PosixFiles.exists(journalPath) else { throw pendingJournal() }
            try checkLock(st)
            let stored = try storedHeader(&st)
            try StateStoreRules.checkJournalBase(stored: stored, base: base, location: path)
            try PosixFiles.makeDirectories(PosixFiles.directory(of: journalPath))
            let fd = open(journalPath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StateError.io("create journal", path: journalPath, errno: errno) }
            do {
                try PosixFiles.writeAll(fd, StateJournal.beginLine(base: base, embedBase: stored == nil, encryption: encryption), path: journalPath)
                try PosixFiles.sync(fd, path: journalPath)
                try PosixFiles.syncDirectory(PosixFiles.directory(of: journalPath))
            } catch {
                close(fd)
                unlink(journalPath)
                throw error
            }
            st.session = Session(
                fd: fd, lineage: base.lineage, baseSerial: base.serial, seq: 0,
                syncer: syncsJournal ? JournalSyncer(fd: fd, path: journalPath) : nil)
        }
    }

    /// Writes the entry's line, then waits until it is durable.
    ///
    /// Lines are written under the lock, so they never interleave; `JournalSyncer`
    /// makes them durable in groups, so N operations in flight share about one
    /// fdatasync per round.
    public func append(_ entry: JournalEntry) async throws {
        let (seq, syncer) = try inner.withLock { st -> (Int, JournalSyncer?) in
            guard var session = st.session else { throw noJournal("append") }
            if let broken = session.broken { throw broken }
            session.seq += 1
            let line = StateJournal.entryLine(
                entry, lineage: session.lineage, baseSerial: session.baseSerial, seq: session.seq, encryption: encryption)
            do {
                try PosixFiles.writeAll(session.fd, line, path: journalPath)
            } catch let error as StateError {
                session.broken = error
                st.session = session
                throw error
            }
            session.syncer?.wrote(session.seq)
            session.inFlight += 1
            st.session = session
            return (session.seq, session.syncer)
        }
        do {
            try await syncer?.durable(seq)
        } catch {
            inner.withLock { $0.session?.inFlight -= 1 }
            throw error
        }
        inner.withLock { $0.session?.inFlight -= 1 }
    }

    @discardableResult
    public func commitJournal(_ folded: StateFile) async throws -> Int {
        try inner.withLock { st in
            guard var session = st.session else { throw noJournal("commitJournal") }
            guard session.inFlight == 0 else {
                throw StateError(
                    .journalState, "commitJournal was called while appends were still in flight", path: journalPath,
                    remedy: "await every append before committing")
            }
            guard folded.lineage == session.lineage else {
                throw StateError(
                    .lineageMismatch,
                    "the folded state has lineage \(folded.lineage) but the journal began with lineage \(session.lineage)",
                    path: path, remedy: "commit the state the journal was begun with, with the journal's entries applied")
            }
            session.syncer?.stop()
            session.syncer = nil
            session.seq += 1
            let serial = session.baseSerial + 1
            do {
                try PosixFiles.writeAll(
                    session.fd,
                    StateJournal.commitLine(
                        lineage: session.lineage, baseSerial: session.baseSerial, seq: session.seq, serial: serial, encryption: encryption),
                    path: journalPath)
                try PosixFiles.sync(session.fd, path: journalPath)
            } catch let error as StateError {
                // The journal's tail is unknown now: no more appends; the next read recovers what is on disk.
                session.broken = error
                st.session = session
                throw error
            }
            st.session = session
            var base = folded
            base.serial = session.baseSerial
            let written = try store(base, &st)
            close(session.fd)
            st.session = nil
            try removeJournal()
            return written.serial
        }
    }

    private func removeJournal() throws {
        try PosixFiles.remove(journalPath)
        try PosixFiles.syncDirectory(PosixFiles.directory(of: journalPath))
    }

    private func journalOpen(_ call: String) -> StateError { StateStoreRules.journalOpenError(call, location: journalPath) }

    private func noJournal(_ call: String) -> StateError { StateStoreRules.noJournalError(call, location: journalPath) }

    private func pendingJournal() -> StateError { StateStoreRules.pendingJournalError(location: journalPath) }
}
