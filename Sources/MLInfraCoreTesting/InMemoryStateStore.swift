import Foundation
import MLInfraCore
import Synchronization

/// A state store in memory, for tests: the same semantics as `LocalStateStore`
/// (serials, refusals, lock with holder details, journal with recovery),
/// checked by the same `StateStoreConformance` suite.
///
/// It keeps the state and the journal as the same bytes the file store would
/// write, so a test can damage them (`storage.setState`, `storage.appendToJournal`)
/// and see the same refusals. Several stores over one `Storage` behave like
/// several processes over one file.
public final class InMemoryStateStore: StateStore {
    /// The bytes a store keeps: shared between store instances as a file is shared between processes.
    public final class Storage: Sendable {
        struct Contents {
            var state: [UInt8]?
            var backup: [UInt8]?
            var journal: [UInt8]?
            var lock: LockInfo?
        }

        let contents = Mutex(Contents())

        public init() {}

        /// The canonical state bytes, as a file would hold them.
        public var stateBytes: [UInt8]? { contents.withLock { $0.state } }
        /// The previous state's bytes.
        public var backupBytes: [UInt8]? { contents.withLock { $0.backup } }
        public var journalBytes: [UInt8]? { contents.withLock { $0.journal } }
        public var lockHolder: LockInfo? { contents.withLock { $0.lock } }

        /// Replaces the stored state bytes, as an editor or a damaged disk would.
        public func setState(_ bytes: [UInt8]?) { contents.withLock { $0.state = bytes } }

        /// Appends raw bytes to the journal (creating it), as a crash mid-append would leave them.
        public func appendToJournal(_ bytes: [UInt8]) {
            contents.withLock { c in
                if c.journal == nil { c.journal = [] }
                c.journal!.append(contentsOf: bytes)
            }
        }
    }

    public let storage: Storage
    public let location: String

    private struct Session {
        var lineage: String
        var baseSerial: Int
        var seq: Int
    }

    private struct Inner {
        var session: Session?
        var heldLocks: Set<String> = []
    }

    private let inner = Mutex(Inner())

    /// A store over `storage` (fresh, empty storage by default).
    public init(storage: Storage = Storage(), location: String = "memory://state") {
        self.storage = storage
        self.location = location
    }

    private var journalLocation: String { location + ".journal" }

    public func read() async throws -> StateFile? {
        try inner.withLock { st in
            guard st.session == nil else { throw misuse("read was called while this store has a journal open") }
            return try storage.contents.withLock { c in
                let state = try c.state.map { try StateCodec.decode($0, path: location) }
                guard let journalBytes = c.journal else { return state }
                let mayRecover = StateStoreRules.mayRecover(
                    lock: c.lock, heldByThisStore: c.lock.map { st.heldLocks.contains($0.id) } ?? false)
                guard let journal = try StateJournal.parse(journalBytes, path: journalLocation) else {
                    if mayRecover { c.journal = nil }
                    return state
                }
                switch try StateJournal.recovery(stored: state, journal: journal, path: journalLocation) {
                case .discard:
                    if mayRecover { c.journal = nil }
                    return state
                case .write(let folded):
                    guard mayRecover else { return folded }
                    let written = InMemoryStateStore.store(folded, &c)
                    c.journal = nil
                    return written
                }
            }
        }
    }

    @discardableResult
    public func write(_ state: StateFile) async throws -> Int {
        try inner.withLock { st in
            guard st.session == nil else { throw misuse("write was called while this store has a journal open") }
            return try storage.contents.withLock { c in
                guard c.journal == nil else { throw pendingJournal() }
                try StateStoreRules.checkLock(c.lock, heldByThisStore: c.lock.map { st.heldLocks.contains($0.id) } ?? false, location: location)
                let existing = try c.state.map { try StateCodec.decode($0, path: location) }
                try StateStoreRules.checkWrite(
                    existing: existing.map { ($0.lineage, $0.serial) }, incoming: state, location: location)
                return InMemoryStateStore.store(state, &c).serial
            }
        }
    }

    private static func store(_ state: StateFile, _ c: inout Storage.Contents) -> StateFile {
        var s = state
        s.serial += 1
        s.mlinfraVersion = MLInfraVersion.current
        if let old = c.state { c.backup = old }
        c.state = StateCodec.encode(s)
        return s
    }

    public func lock(_ info: LockInfo, timeout: Double) async throws {
        try await StateStoreRules.pollLock(timeout: timeout, location: location) {
            // A holder that is provably dead (same host, process gone) is taken over, as LocalStateStore does.
            let holder: LockInfo? = storage.contents.withLock { c in
                if let h = c.lock, h.staleReason() == nil { return h }
                c.lock = info
                return nil
            }
            guard let holder else {
                inner.withLock { _ = $0.heldLocks.insert(info.id) }
                return .taken
            }
            return .heldBy(holder)
        }
    }

    public func unlock(id: String) async throws { try removeLock(id: id) }

    public func forceUnlock(id: String) async throws { try removeLock(id: id) }

    private func removeLock(id: String) throws {
        try storage.contents.withLock { c in
            guard let holder = c.lock else { throw StateStoreRules.noLockError(id: id, location: location) }
            guard holder.id == id else { throw StateStoreRules.otherLockError(id: id, holder: holder, location: location) }
            c.lock = nil
        }
        inner.withLock { _ = $0.heldLocks.remove(id) }
    }

    public func currentLock() async throws -> LockInfo? { storage.lockHolder }

    public func beginJournal(base: StateFile) async throws {
        try inner.withLock { st in
            guard st.session == nil else { throw misuse("beginJournal was called while this store has a journal open") }
            try storage.contents.withLock { c in
                guard c.journal == nil else { throw pendingJournal() }
                try StateStoreRules.checkLock(c.lock, heldByThisStore: c.lock.map { st.heldLocks.contains($0.id) } ?? false, location: location)
                let stored = try c.state.map { try StateCodec.decode($0, path: location) }
                try StateStoreRules.checkJournalBase(stored: stored.map { ($0.lineage, $0.serial) }, base: base, location: location)
                c.journal = StateJournal.beginLine(base: base, embedBase: stored == nil)
            }
            st.session = Session(lineage: base.lineage, baseSerial: base.serial, seq: 0)
        }
    }

    public func append(_ entry: JournalEntry) async throws {
        try inner.withLock { st in
            guard var session = st.session else { throw misuse("append was called with no journal begun") }
            session.seq += 1
            storage.appendToJournal(
                StateJournal.entryLine(entry, lineage: session.lineage, baseSerial: session.baseSerial, seq: session.seq))
            st.session = session
        }
    }

    @discardableResult
    public func commitJournal(_ folded: StateFile) async throws -> Int {
        try inner.withLock { st in
            guard let session = st.session else { throw misuse("commitJournal was called with no journal begun") }
            guard folded.lineage == session.lineage else {
                throw StateError(
                    .lineageMismatch,
                    "the folded state has lineage \(folded.lineage) but the journal began with lineage \(session.lineage)",
                    path: location, remedy: "commit the state the journal was begun with, with the journal's entries applied")
            }
            var base = folded
            base.serial = session.baseSerial
            let serial = storage.contents.withLock { c in
                let written = InMemoryStateStore.store(base, &c)
                c.journal = nil
                return written.serial
            }
            st.session = nil
            return serial
        }
    }

    private func misuse(_ message: String) -> StateError {
        StateError(.journalState, message, path: journalLocation, remedy: "commit the journal before other calls; begin one before appending")
    }

    private func pendingJournal() -> StateError { StateStoreRules.pendingJournalError(location: journalLocation) }
}
