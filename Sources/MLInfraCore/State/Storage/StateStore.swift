import Foundation

/// Where a state lives: read, write, lock, and a journal for per-operation persistence during apply.
///
/// Storage knows nothing of the format beyond `StateCodec`; every store must
/// pass `StateStoreConformance` (in MLInfraTesting). The rules every store keeps:
/// - `write` stores the state with `serial` one higher than the one passed in and
///   returns that serial; the caller passes the state it read (or last wrote), so a
///   write over a state someone else changed in between (a higher stored serial) or
///   over a different lineage is refused.
/// - While another holder has the lock, `write` and `beginJournal` are refused: a
///   command that writes takes the lock through the same store instance first.
/// - A stored state that cannot be read, or of a newer format version, is refused
///   and never overwritten, by `write` or by journal recovery.
/// - During apply, `beginJournal` / `append` / `commitJournal` persist each finished
///   operation at a cost independent of the state's size; `read` folds a journal left
///   by an interrupted command into a new serial before returning the state.
/// One try at a state lock.
public enum LockAttempt: Sendable {
    case taken
    case heldBy(LockInfo)
    /// Held by someone who has not said who yet (a lock being written or recorded); the error
    /// to give if that lasts until the timeout.
    case unrecorded(StateError)
}

public protocol StateStore: Sendable {
    /// Where the state lives, for messages (`state/prod.json`, `memory://test`).
    var location: String { get }

    /// The stored state, or nil when there is none yet. Recovers a journal left by an
    /// interrupted command first (writing the result as a new serial), unless a live
    /// process other than this store's holder has the lock: then the journal is folded in
    /// memory only and left for its owner.
    func read() async throws -> StateFile?

    /// Stores `state` with serial `state.serial + 1` and returns that serial.
    @discardableResult
    func write(_ state: StateFile) async throws -> Int

    /// Takes the lock. When another live holder has it, fails at once (`timeout` 0) with the
    /// holder's details, or polls until `timeout` seconds have passed. A holder that is
    /// provably dead (`LockInfo.staleReason`) is taken over, and the takeover is told.
    func lock(_ info: LockInfo, timeout: Double) async throws

    /// Releases the lock this store took; fails when the lock is gone or has another id.
    func unlock(id: String) async throws

    /// Removes the lock with this id, whoever holds it (`mlinfra force-unlock ID`).
    func forceUnlock(id: String) async throws

    /// The current lock holder, if any.
    func currentLock() async throws -> LockInfo?

    /// Starts a journal for an apply over `base`, which must be the stored state
    /// (or, when nothing is stored yet, a new state of serial 0).
    func beginJournal(base: StateFile) async throws

    /// Appends one finished operation to the journal; it is durable when this returns.
    func append(_ entry: JournalEntry) async throws

    /// Stores the folded state as serial `base.serial + 1`, removes the journal, and returns the serial.
    @discardableResult
    func commitJournal(_ folded: StateFile) async throws -> Int
}

/// One finished resource operation (or the outputs at the end of an apply), as recorded in a journal.
public enum JournalEntry: Sendable, Hashable {
    /// A resource was created, updated, replaced, imported or tainted.
    case upsert(ResourceInstanceState)
    /// A resource was destroyed or forgotten.
    case remove(address: String)
    /// The root outputs, replacing all previous ones.
    case outputs([String: OutputState])
}

extension StateFile {
    /// Applies one journal entry, as recovery and the applier do.
    public mutating func apply(_ entry: JournalEntry) {
        switch entry {
        case .upsert(let r): upsert(r)
        case .remove(let address): remove(address)
        case .outputs(let o): outputs = o
        }
    }
}

/// Checks shared by every store, so that they refuse the same things with the same words.
public enum StateStoreRules {
    /// Refuses a write of `incoming` over the stored state `existing` (lineage and serial of it).
    public static func checkWrite(existing: (lineage: String, serial: Int)?, incoming: StateFile, location: String) throws {
        guard let existing else { return }
        if existing.lineage != incoming.lineage {
            throw StateError(
                .lineageMismatch,
                "the stored state has lineage \(existing.lineage), but the state being written has lineage "
                    + "\(incoming.lineage): they are different states, and the stored one was left unchanged",
                path: location,
                remedy: "check that the backend points at the right state file; to start over, move the existing file away first")
        }
        if existing.serial > incoming.serial {
            throw StateError(
                .serialConflict,
                "the stored state is at serial \(existing.serial) but this command read serial \(incoming.serial): "
                    + "another command wrote it in between, and it was left unchanged",
                path: location,
                remedy: "run the command again so it starts from the current state (commands that write take the lock to prevent this)")
        }
    }

    /// The error for a lock held by `holder`, saying who holds it and whether it looks stale.
    public static func lockedError(_ holder: LockInfo, location: String, waited: Double) -> StateError {
        var message = "the state is locked by \(holder.who)@\(holder.host) (pid \(holder.pid)), operation "
            + "\"\(holder.operation)\", since \(LockInfo.timestamp(holder.created)), lock ID \(holder.id)"
        if let run = holder.ciRunURL { message += ", CI run \(run)" }
        if waited > 0 { message += "; gave up after waiting \(formatSeconds(waited))" }
        let remedy: String
        if let reason = holder.staleReason() {
            message += ". The lock looks stale: \(reason)"
            remedy = "if no mlinfra command is running on \(holder.host), run `mlinfra force-unlock \(holder.id)`"
        } else {
            remedy = "wait for that command to finish, or retry with `--lock-timeout 5m` to wait for it; if it crashed, "
                + "run `mlinfra force-unlock \(holder.id)`"
        }
        return StateError(.locked, message, path: location, remedy: remedy)
    }

    public static func noLockError(id: String, location: String) -> StateError {
        StateError(
            .lockNotHeld, "there is no lock to remove (lock ID \(id) was given)", path: location,
            remedy: "nothing to do: the state is not locked")
    }

    public static func otherLockError(id: String, holder: LockInfo, location: String) -> StateError {
        StateError(
            .lockNotHeld,
            "the lock has ID \(holder.id) (held by \(holder.who)@\(holder.host), pid \(holder.pid)), not \(id); it was left in place",
            path: location, remedy: "pass the lock ID shown, `mlinfra force-unlock \(holder.id)`, if that lock is really stale")
    }

    /// Tries `attempt` until it takes the lock or `timeout` seconds have passed, every 10–100 ms;
    /// then fails with the holder's details (or the attempt's own error for a holder not yet
    /// recorded). The polling every store's `lock` shares.
    public static func pollLock(timeout: Double, location: String, _ attempt: () async throws -> LockAttempt) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            let outcome = try await attempt()
            if case .taken = outcome { return }
            let elapsed = (clock.now - start).components
            let waited = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
            if waited >= timeout {
                switch outcome {
                case .heldBy(let holder): throw lockedError(holder, location: location, waited: waited)
                case .unrecorded(let error): throw error
                case .taken: return
                }
            }
            try await Task.sleep(for: .milliseconds(Int(min(0.1, max(0.01, timeout - waited)) * 1000)))
        }
    }

    /// Refuses a journal whose base is not the stored state: another lineage, or another serial.
    public static func checkJournalBase(stored: (lineage: String, serial: Int)?, base: StateFile, location: String) throws {
        guard let stored, stored.lineage != base.lineage || stored.serial != base.serial else { return }
        try checkWrite(existing: stored, incoming: base, location: location)
        throw StateError(
            .serialConflict, "the journal's base is serial \(base.serial) but the stored state is at serial \(stored.serial)",
            path: location, remedy: "read the state again and start from what was read")
    }

    /// A call made while the store has a journal open.
    public static func journalOpenError(_ call: String, location: String) -> StateError {
        StateError(
            .journalState, "\(call) was called while this store has a journal open", path: location,
            remedy: "commit the journal (commitJournal) before reading, writing or beginning another one")
    }

    /// An append or commit with no journal begun.
    public static func noJournalError(_ call: String, location: String) -> StateError {
        StateError(.journalState, "\(call) was called with no journal begun", path: location, remedy: "call beginJournal first")
    }

    /// A write while an interrupted command's journal waits to be recovered.
    public static func pendingJournalError(location: String) -> StateError {
        StateError(
            .journalState,
            "a journal left by an interrupted command is waiting to be recovered (or another command is applying now)",
            path: location, remedy: "take the lock and read the state first, which recovers the journal into a new serial")
    }

    static func formatSeconds(_ s: Double) -> String {
        s < 10 ? String(format: "%.1fs", s) : "\(Int(s.rounded()))s"
    }

    /// Refuses a write while someone else holds the lock: writers must take the lock
    /// through the same store first. A stale lock refuses too, naming the force-unlock to run.
    public static func checkLock(_ lock: LockInfo?, heldByThisStore: Bool, location: String) throws {
        guard let lock, !heldByThisStore else { return }
        throw lockedError(lock, location: location, waited: 0)
    }

    /// Whether `read` may write a recovered journal: not when a live process other than this store holds the lock.
    public static func mayRecover(lock: LockInfo?, heldByThisStore: Bool) -> Bool {
        guard let lock, !heldByThisStore else { return true }
        return lock.staleReason() != nil
    }
}
