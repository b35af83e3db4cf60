import Foundation
import MLInfraCore

/// What the conformance suite needs from a store: a way to open it again (as a
/// new process would, after a crash) and raw access to its bytes, to damage them.
public struct StateStoreFixture: Sendable {
    /// A new store instance over the same storage, each call.
    public var open: @Sendable () -> any StateStore
    public var stateBytes: @Sendable () throws -> [UInt8]?
    public var setStateBytes: @Sendable ([UInt8]) throws -> Void
    public var backupBytes: @Sendable () throws -> [UInt8]?
    public var hasJournal: @Sendable () throws -> Bool
    /// Appends raw bytes to the journal, as a crash mid-append leaves them.
    public var appendToJournal: @Sendable ([UInt8]) throws -> Void
    /// Ends what a store holds beyond its process, as the process's death would (a database
    /// session); nothing for stores whose holder is known dead by its pid alone.
    public var endHolder: @Sendable (any StateStore) async -> Void = { _ in }
    /// How the stores encrypt at rest, and the scope their envelopes are bound to, so the
    /// suite's hand-made bytes are sealed as the store's own would be.
    public var encryption: StateEncryption = .none
    public var scope: String = ""

    public init(
        open: @escaping @Sendable () -> any StateStore, stateBytes: @escaping @Sendable () throws -> [UInt8]?,
        setStateBytes: @escaping @Sendable ([UInt8]) throws -> Void, backupBytes: @escaping @Sendable () throws -> [UInt8]?,
        hasJournal: @escaping @Sendable () throws -> Bool, appendToJournal: @escaping @Sendable ([UInt8]) throws -> Void
    ) {
        self.open = open
        self.stateBytes = stateBytes
        self.setStateBytes = setStateBytes
        self.backupBytes = backupBytes
        self.hasJournal = hasJournal
        self.appendToJournal = appendToJournal
    }

    /// An in-memory store over fresh storage.
    public static func inMemory() -> StateStoreFixture {
        let storage = InMemoryStateStore.Storage()
        return StateStoreFixture(
            open: { InMemoryStateStore(storage: storage) }, stateBytes: { storage.stateBytes },
            setStateBytes: { storage.setState($0) }, backupBytes: { storage.backupBytes },
            hasJournal: { storage.journalBytes != nil }, appendToJournal: { storage.appendToJournal($0) })
    }

    /// A local file store at `directory/state.json` (the directory need not exist).
    public static func localFile(directory: String, encryption: StateEncryption = .none) -> StateStoreFixture {
        let path = directory + "/state.json"
        @Sendable func read(_ p: String) -> [UInt8]? { FileManager.default.contents(atPath: p).map { [UInt8]($0) } }
        var fixture = StateStoreFixture(
            open: { LocalStateStore(path: path, encryption: encryption) }, stateBytes: { read(path) },
            setStateBytes: { bytes in
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }, backupBytes: { read(path + ".backup") },
            hasJournal: { FileManager.default.fileExists(atPath: path + ".journal") },
            appendToJournal: { bytes in
                let url = URL(fileURLWithPath: path + ".journal")
                if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
                let handle = try FileHandle(forWritingTo: url)
                defer { try? handle.close() }
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(bytes))
            })
        fixture.encryption = encryption
        return fixture
    }

    /// The state in stored bytes, opened as the store would.
    func decode(_ bytes: [UInt8], path: String) throws -> StateFile {
        try StateCodec.decode(encryption.open(bytes, kind: .state, scope: scope, location: path), path: path)
    }

    /// A state's bytes as the store would keep them.
    func encode(_ state: StateFile) -> [UInt8] {
        encryption.sealWhole(StateCodec.encode(state), kind: .state, scope: scope)
    }
}

/// A check a `StateStoreConformance` run found failing.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var check: String
    public var message: String
    public var description: String { "\(check): \(message)" }
}

/// The behaviour every `StateStore` must show, as checks a test runs against each implementation:
///
/// ```swift
/// @Test(arguments: StateStoreConformance.Check.allCases)
/// func inMemory(_ check: StateStoreConformance.Check) async throws {
///     try await StateStoreConformance.run(check, on: .inMemory())
/// }
/// ```
public enum StateStoreConformance {
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        case readOfEmptyStoreIsNil
        case writeThenReadRoundTrips
        case everyWriteIncrementsSerial
        case lineageIsKeptAndOtherLineageRefused
        case staleWriteIsRefused
        case backupKeepsPreviousState
        case lockContentionReportsHolder
        case lockWaitGivesUpAfterTimeout
        case lockWaitSucceedsWhenReleased
        case unlockNeedsMatchingID
        case forceUnlockRemovesAnyLock
        case deadHoldersLockIsTakenOver
        case liveHoldersLockIsNotTakenOver
        case journalCommitWritesFoldedState
        case journalIsRecoveredAfterCrash
        case journalOnEmptyStoreIsRecovered
        case concurrentAppendsAreAllKept
        case tornJournalLineIsIgnored
        case damagedJournalLineIsRefused
        case journalOfOtherLineageIsRefused
        case writeIsRefusedWhileJournalPending
        case liveHoldersJournalIsNotRecovered
        case crashedHoldersJournalIsRecovered
        case writeIsRefusedWhileAnotherHolderHasTheLock
        case unreadableStateIsNeverOverwritten
        case newerVersionIsRefused

        public var description: String { rawValue }
    }

    /// Runs one check on a fixture over fresh, empty storage.
    public static func run(_ check: Check, on f: StateStoreFixture) async throws {
        var t = Checker(check: check.rawValue)
        let store = f.open()
        switch check {
        case .readOfEmptyStoreIsNil:
            try t.expect(try await store.read() == nil, "read of an empty store is not nil")
            try t.expect(try await store.currentLock() == nil, "an empty store has a lock")
            try t.expect(try f.hasJournal() == false, "an empty store has a journal")

        case .writeThenReadRoundTrips:
            let s = sampleState()
            try t.expect(try await store.write(s) == 1, "the first write of a serial-0 state did not return serial 1")
            var expected = s
            expected.serial = 1
            try t.expect(try await store.read() == expected, "read did not return what was written (with serial 1)")
            try t.expect(try await f.open().read() == expected, "a new instance did not read what was written")

        case .everyWriteIncrementsSerial:
            var s = sampleState()
            for n in 1...3 {
                s.serial = try await store.write(s)
                try t.expect(s.serial == n, "write \(n) returned serial \(s.serial)")
            }
            try t.expect(try await f.open().read()?.serial == 3, "the stored serial is not 3 after three writes")

        case .lineageIsKeptAndOtherLineageRefused:
            let s = sampleState()
            try await store.write(s)
            try t.expect(try await store.read()?.lineage == s.lineage, "the lineage changed on write")
            let before = try f.stateBytes()
            try await t.expectError(.lineageMismatch, mentioning: [s.lineage]) { try await store.write(StateFile.new()) }
            try t.expect(try f.stateBytes() == before, "a refused write changed the stored bytes")

        case .staleWriteIsRefused:
            var mine = sampleState()
            mine.serial = try await store.write(mine)
            let other = f.open()
            var theirs = try await other.read()!
            theirs.outputs["endpoint_url"] = OutputState(value: "http://127.0.0.1:9000")
            try await other.write(theirs)
            let before = try f.stateBytes()
            try await t.expectError(.serialConflict, mentioning: ["serial 2", "serial 1"]) { try await store.write(mine) }
            try t.expect(try f.stateBytes() == before, "a refused write changed the stored bytes")

        case .backupKeepsPreviousState:
            var s = sampleState()
            s.serial = try await store.write(s)
            let first = try f.stateBytes()
            s.remove("model.fraud")
            try await store.write(s)
            try t.expect(try f.backupBytes() == first, "the backup does not hold the previous state")
            try t.expect(try f.decode(try f.backupBytes() ?? [], path: "backup").serial == 1, "the backup is not serial 1")

        case .lockContentionReportsHolder:
            let holder = LockInfo.make(operation: "apply")
            try await store.lock(holder, timeout: 0)
            let other = f.open()
            let start = Date()
            try await t.expectError(
                .locked, mentioning: [holder.id, "apply", holder.who, holder.host, "pid \(holder.pid)", "force-unlock"]
            ) { try await other.lock(LockInfo.make(operation: "destroy"), timeout: 0) }
            try t.expect(Date().timeIntervalSince(start) < 5, "a lock with timeout 0 did not fail at once")
            try t.expect(try await other.currentLock() == holder, "currentLock does not report the holder")

        case .lockWaitGivesUpAfterTimeout:
            try await store.lock(LockInfo.make(operation: "apply"), timeout: 0)
            let start = Date()
            try await t.expectError(.locked, mentioning: ["gave up after waiting"]) {
                try await f.open().lock(LockInfo.make(operation: "plan"), timeout: 0.3)
            }
            let waited = Date().timeIntervalSince(start)
            // The upper bound only shows it gave up; a busy machine may wake the poller late.
            try t.expect(waited >= 0.3 && waited < 30, "the wait took \(waited)s for a 0.3s timeout")

        case .lockWaitSucceedsWhenReleased:
            let first = LockInfo.make(operation: "apply")
            try await store.lock(first, timeout: 0)
            let second = LockInfo.make(operation: "destroy")
            let other = f.open()
            let waiter = Task { try await other.lock(second, timeout: 10) }
            try await Task.sleep(for: .milliseconds(250))
            try await store.unlock(id: first.id)
            try await waiter.value
            try t.expect(try await store.currentLock() == second, "the waiter does not hold the lock after it was released")

        case .unlockNeedsMatchingID:
            let info = LockInfo.make(operation: "apply")
            try await store.lock(info, timeout: 0)
            try await t.expectError(.lockNotHeld, mentioning: [info.id, "wrong-id"]) { try await store.unlock(id: "wrong-id") }
            try t.expect(try await store.currentLock() == info, "a refused unlock removed the lock")
            try await store.unlock(id: info.id)
            try t.expect(try await store.currentLock() == nil, "unlock left the lock")
            try await t.expectError(.lockNotHeld, mentioning: ["no lock"]) { try await store.unlock(id: info.id) }

        case .forceUnlockRemovesAnyLock:
            let info = LockInfo.make(operation: "apply")
            try await store.lock(info, timeout: 0)
            let other = f.open()
            try await t.expectError(.lockNotHeld, mentioning: [info.id]) { try await other.forceUnlock(id: "nope") }
            try await other.forceUnlock(id: info.id)
            try t.expect(try await store.currentLock() == nil, "force-unlock left the lock")
            try await other.lock(LockInfo.make(operation: "apply"), timeout: 0)
            try await t.expectError(.lockNotHeld, mentioning: [info.id, "left in place"]) { try await f.open().forceUnlock(id: info.id) }
            try t.expect(try await store.currentLock() != nil, "force-unlock with another lock's id removed the lock")

        case .deadHoldersLockIsTakenOver:
            var dead = LockInfo.make(operation: "apply")
            dead.pid = 999_999_999
            try await store.lock(dead, timeout: 0)
            await f.endHolder(store)
            let next = LockInfo.make(operation: "apply")
            let taker = f.open()
            try await taker.lock(next, timeout: 0)
            try t.expect(try await taker.currentLock() == next, "the lock of a holder that is provably dead was not taken over")

        case .liveHoldersLockIsNotTakenOver:
            let live = LockInfo.make(operation: "apply")
            try await store.lock(live, timeout: 0)
            try await t.expectError(.locked, mentioning: [live.id, "pid \(live.pid)"]) {
                try await f.open().lock(LockInfo.make(operation: "plan"), timeout: 0)
            }
            try t.expect(try await store.currentLock() == live, "a live holder's lock was taken over")

        case .journalCommitWritesFoldedState:
            let base = try await written(sampleState(), store)
            try await store.beginJournal(base: base)
            var folded = base
            for entry in sampleEntries() {
                try await store.append(entry)
                folded.apply(entry)
            }
            try t.expect(try await store.commitJournal(folded) == base.serial + 1, "commit did not return base serial + 1")
            try t.expect(try f.hasJournal() == false, "commit left the journal")
            folded.serial = base.serial + 1
            try t.expect(try await f.open().read() == folded, "the committed state is not the folded one")

        case .journalIsRecoveredAfterCrash:
            let base = try await written(sampleState(), store)
            var expected = base
            do {
                let applying = f.open()
                try await applying.beginJournal(base: base)
                for entry in sampleEntries() {
                    try await applying.append(entry)
                    expected.apply(entry)
                }
            }
            expected.serial = base.serial + 1
            try t.expect(try f.hasJournal(), "the journal is gone before recovery")
            try t.expect(try await f.open().read() == expected, "recovery did not fold the journal into serial + 1")
            try t.expect(try f.hasJournal() == false, "recovery left the journal")
            try t.expect(try await f.open().read() == expected, "a second read changed the recovered state")

        case .journalOnEmptyStoreIsRecovered:
            let base = StateFile.new()
            do {
                let applying = f.open()
                try await applying.beginJournal(base: base)
                try await applying.append(.upsert(sampleResource("registry.main")))
            }
            let recovered = try await f.open().read()
            try t.expect(recovered?.lineage == base.lineage, "recovery lost the new state's lineage")
            try t.expect(recovered?.serial == 1, "recovery of a new state did not write serial 1")
            try t.expect(recovered?.resource("registry.main") == sampleResource("registry.main"), "recovery lost the entry")

        case .concurrentAppendsAreAllKept:
            let base = try await written(sampleState(), store)
            do {
                let applying = f.open()
                try await applying.beginJournal(base: base)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<40 {
                        group.addTask { try await applying.append(.upsert(sampleResource("endpoint.e\(i)"))) }
                    }
                    try await group.waitForAll()
                }
            }
            let recovered = try await f.open().read()
            let missing = (0..<40).filter { recovered?.resource("endpoint.e\($0)") == nil }
            try t.expect(missing.isEmpty, "concurrent appends \(missing) were lost")
            try t.expect(recovered?.serial == base.serial + 1, "recovery did not write serial + 1")

        case .tornJournalLineIsIgnored:
            let base = try await written(sampleState(), store)
            let applying = f.open()
            try await applying.beginJournal(base: base)
            try await applying.append(.upsert(sampleResource("vector_store.docs")))
            let line = StateJournal.entryLine(
                .upsert(sampleResource("endpoint.torn")), lineage: base.lineage, baseSerial: base.serial, seq: 2,
                encryption: f.encryption, scope: f.scope)
            try f.appendToJournal(Array(line.prefix(line.count / 2)))
            let recovered = try await f.open().read()
            try t.expect(recovered?.resource("vector_store.docs") != nil, "the complete entry before the torn line was lost")
            try t.expect(recovered?.resource("endpoint.torn") == nil, "the torn line was applied")
            try t.expect(recovered?.serial == base.serial + 1, "recovery did not write serial + 1")

        case .damagedJournalLineIsRefused:
            let base = try await written(sampleState(), store)
            let applying = f.open()
            try await applying.beginJournal(base: base)
            try await applying.append(.upsert(sampleResource("vector_store.docs")))
            try f.appendToJournal(Array("0badc0de {\"garbage\": true}\n".utf8))
            try f.appendToJournal(
                StateJournal.entryLine(
                    .remove(address: "model.fraud"), lineage: base.lineage, baseSerial: base.serial, seq: 3, encryption: f.encryption, scope: f.scope))
            let before = try f.stateBytes()
            try await t.expectError(.journalMismatch, mentioning: ["line 3", "damaged"]) { _ = try await f.open().read() }
            try t.expect(try f.stateBytes() == before, "a refused journal changed the state")
            try t.expect(try f.hasJournal(), "a refused journal was removed")

        case .journalOfOtherLineageIsRefused:
            let base = try await written(sampleState(), store)
            do {
                let applying = f.open()
                try await applying.beginJournal(base: base)
                try await applying.append(.remove(address: "model.fraud"))
            }
            var replaced = StateFile.new()
            replaced.serial = 7
            let replacedBytes = f.encode(replaced)
            try f.setStateBytes(replacedBytes)
            try await t.expectError(.journalMismatch, mentioning: [base.lineage, replaced.lineage, "not applied"]) {
                _ = try await f.open().read()
            }
            try t.expect(try f.stateBytes() == replacedBytes, "a refused journal changed the state")
            try t.expect(try f.hasJournal(), "a refused journal was removed")

        case .writeIsRefusedWhileJournalPending:
            let base = try await written(sampleState(), store)
            do {
                let applying = f.open()
                try await applying.beginJournal(base: base)
                try await applying.append(.remove(address: "model.fraud"))
            }
            try await t.expectError(.journalState, mentioning: ["journal", "recover"]) { try await f.open().write(base) }
            try await t.expectError(.journalState, mentioning: ["journal"]) { try await f.open().beginJournal(base: base) }

        case .liveHoldersJournalIsNotRecovered:
            let base = try await written(sampleState(), store)
            let lockInfo = LockInfo.make(operation: "apply")
            try await store.lock(lockInfo, timeout: 0)
            try await store.beginJournal(base: base)
            try await store.append(.remove(address: "model.fraud"))
            let before = try f.stateBytes()
            let view = try await f.open().read()
            try t.expect(view?.resource("model.fraud") == nil, "a reader did not see the live journal's entries")
            try t.expect(try f.stateBytes() == before, "a reader wrote the state while another holder's apply was running")
            try t.expect(try f.hasJournal(), "a reader removed a live holder's journal")
            var folded = base
            folded.remove("model.fraud")
            try t.expect(try await store.commitJournal(folded) == base.serial + 1, "the holder's commit failed")
            try await store.unlock(id: lockInfo.id)

        case .writeIsRefusedWhileAnotherHolderHasTheLock:
            let s = try await written(sampleState(), store)
            let holder = LockInfo.make(operation: "apply")
            try await store.lock(holder, timeout: 0)
            let other = f.open()
            try await t.expectError(.locked, mentioning: [holder.id, "apply"]) { try await other.write(s) }
            try await t.expectError(.locked, mentioning: [holder.id]) { try await other.beginJournal(base: s) }
            try t.expect(try await store.write(s) == s.serial + 1, "the holder could not write")
            try await store.unlock(id: holder.id)
            try t.expect(try await other.write(try await other.read()!) == s.serial + 2, "a write after unlock failed")

        case .crashedHoldersJournalIsRecovered:
            let base = try await written(sampleState(), store)
            var crashed = LockInfo.make(operation: "apply")
            crashed.pid = 999_999_999
            do {
                let applying = f.open()
                try await applying.lock(crashed, timeout: 0)
                try await applying.beginJournal(base: base)
                try await applying.append(.remove(address: "model.fraud"))
            }
            let recovered = try await f.open().read()
            try t.expect(recovered?.resource("model.fraud") == nil, "the crashed holder's entry was not recovered")
            try t.expect(recovered?.serial == base.serial + 1, "recovery did not write serial + 1")
            try t.expect(try f.hasJournal() == false, "recovery left the crashed holder's journal")
            try t.expect(try await f.open().currentLock() == crashed, "recovery removed the stale lock instead of leaving it to force-unlock")

        case .unreadableStateIsNeverOverwritten:
            let garbage = Array("{\"format\": \"mlinfra-state\", \"version\": 1, \"resources\": [".utf8)
            try f.setStateBytes(garbage)
            try await t.expectError(.unreadable, mentioning: ["backup", "unchanged"]) { _ = try await store.read() }
            try await t.expectError(.unreadable, mentioning: []) { try await f.open().write(StateFile.new()) }
            try await t.expectError(.unreadable, mentioning: []) { try await f.open().beginJournal(base: StateFile.new()) }
            try t.expect(try f.stateBytes() == garbage, "an unreadable state was overwritten")

        case .newerVersionIsRefused:
            var text = String(decoding: StateCodec.encode(sampleState()), as: UTF8.self)
            text = text.replacingOccurrences(of: "\"version\": 1\n", with: "\"version\": 99\n")
            let newer = Array(text.utf8)
            try f.setStateBytes(newer)
            try await t.expectError(.newerVersion, mentioning: ["version 99", "newer"]) { _ = try await store.read() }
            try await t.expectError(.newerVersion, mentioning: []) { try await f.open().write(sampleState()) }
            try t.expect(try f.stateBytes() == newer, "a newer-version state was overwritten")
        }
    }

    private static func written(_ s: StateFile, _ store: any StateStore) async throws -> StateFile {
        var s = s
        s.serial = try await store.write(s)
        return s
    }

    // MARK: sample data

    /// A small state using every kind of value, a tainted resource, sensitive paths and outputs.
    public static func sampleState() -> StateFile {
        var s = StateFile.new()
        s.upsert(sampleResource("registry.main"))
        s.upsert(
            ResourceInstanceState(
                address: "model.fraud", type: "model", id: "fraud", status: .tainted,
                inputs: ["registry": "main", "description": "fraud \"scorer\"\nline two", "tags": ["team": "risk"]],
                attributes: ["created": 1_763_771_000.5, "versions": [1, 2, 3], "owner": nil, "score": -0.0125],
                sensitivePaths: ["inputs.description"], dependencies: ["registry.main"], schemaVersion: 2))
        s.outputs = [
            "registry_url": OutputState(value: "http://127.0.0.1:8080"),
            "api_key": OutputState(value: "s3cr3t", sensitive: true),
        ]
        return s
    }

    public static func sampleResource(_ address: String) -> ResourceInstanceState {
        let name = String(address.split(separator: ".").last ?? "x")
        return ResourceInstanceState(
            address: address, type: String(address.split(separator: ".").first ?? "x"), id: name,
            inputs: ["name": .string(name), "replicas": 2, "enabled": true],
            attributes: ["id": .string(name), "url": .string("http://127.0.0.1:7000/\(name)"), "ratio": 0.25],
            schemaVersion: 1)
    }

    static func sampleEntries() -> [JournalEntry] {
        [
            .upsert(sampleResource("vector_store.docs")),
            .remove(address: "model.fraud"),
            .upsert(sampleResource("endpoint.scorer")),
            .outputs(["scorer_url": OutputState(value: "http://127.0.0.1:7000/scorer")]),
        ]
    }

    private struct Checker {
        let check: String

        func expect(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConformanceFailure(check: check, message: message) }
        }

        /// Runs `body`, which must throw a `StateError` of `code` whose description mentions every string given.
        func expectError(_ code: StateError.Code, mentioning parts: [String], _ body: () async throws -> Void) async throws {
            do {
                try await body()
            } catch let error as StateError {
                try expect(error.code == code, "expected a \(code) error, got \(error.code): \(error)")
                for part in parts where !error.description.contains(part) {
                    throw ConformanceFailure(check: check, message: "the error does not mention \"\(part)\": \(error)")
                }
                return
            }
            throw ConformanceFailure(check: check, message: "expected a \(code) error, but the call succeeded")
        }
    }
}
