import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Synchronization
import Testing

@Suite struct LocalStateStoreTests {
    static func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    static func written(_ state: StateFile, _ store: LocalStateStore) async throws -> StateFile {
        var s = state
        s.serial = try await store.write(s)
        return s
    }

    @Test func writeLeavesOnlyStateAndBackupWithOwnerOnlyPermissions() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let store = LocalStateStore(path: dir.path + "/state/prod.json")
        var s = StateStoreConformance.sampleState()
        s.serial = try await store.write(s)
        try await store.write(s)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/state").sorted()
        #expect(files == ["prod.json", "prod.json.backup"], "temporary files were left behind: \(files)")
        let attributes = try FileManager.default.attributesOfItem(atPath: store.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600, "the state may hold secrets and must be owner-only")
        #expect(Self.contents(store.path) == StateCodec.encode(try await store.read()!), "the file is not canonical")
    }

    @Test func journalAppendCostDoesNotGrowWithTheState() async throws {
        func appendedBytes(resources: Int) async throws -> Int {
            let dir = StateTestDirectory()
            defer { dir.remove() }
            let store = LocalStateStore(path: dir.path + "/state.json")
            var s = StateFile.new()
            for i in 0..<resources { s.upsert(StateStoreConformance.sampleResource("model.m\(i)")) }
            s = try await Self.written(s, store)
            try await store.beginJournal(base: s)
            let before = Self.contents(store.journalPath)!.count
            try await store.append(.upsert(StateStoreConformance.sampleResource("endpoint.scorer")))
            let after = Self.contents(store.journalPath)!.count
            try await store.commitJournal(s)
            return after - before
        }
        let small = try await appendedBytes(resources: 1)
        let large = try await appendedBytes(resources: 5_000)
        #expect(small == large, "an append wrote \(small) bytes for a 1-resource state and \(large) for 5,000")
        #expect(small < 512)
    }

    @Test func crashAfterTheCommitLineButBeforeTheRenameIsRecovered() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let base = try await Self.written(StateStoreConformance.sampleState(), LocalStateStore(path: path))
        do {
            let applying = LocalStateStore(path: path)
            try await applying.beginJournal(base: base)
            try await applying.append(.remove(address: "model.fraud"))
        }
        let commit = StateJournal.commitLine(lineage: base.lineage, baseSerial: base.serial, seq: 2, serial: base.serial + 1)
        try appendRaw(commit, to: path + ".journal")
        let recovered = try await LocalStateStore(path: path).read()
        #expect(recovered?.serial == base.serial + 1)
        #expect(recovered?.resource("model.fraud") == nil)
        #expect(!FileManager.default.fileExists(atPath: path + ".journal"))
    }

    @Test func crashAfterTheRenameButBeforeTheJournalRemovalAppliesNothingTwice() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let base = try await Self.written(StateStoreConformance.sampleState(), LocalStateStore(path: path))
        let store = LocalStateStore(path: path)
        try await store.beginJournal(base: base)
        try await store.append(.remove(address: "model.fraud"))
        let journal = Self.contents(path + ".journal")!
        var folded = base
        folded.remove("model.fraud")
        try await store.commitJournal(folded)
        let committed = Self.contents(path)!
        // Put back the journal as it was just before its removal: entries plus the commit line.
        let commit = StateJournal.commitLine(lineage: base.lineage, baseSerial: base.serial, seq: 2, serial: base.serial + 1)
        try Data(journal + commit).write(to: URL(fileURLWithPath: path + ".journal"))
        let read = try await LocalStateStore(path: path).read()
        #expect(read?.serial == base.serial + 1, "the journal was applied a second time")
        #expect(Self.contents(path) == committed, "the committed state was rewritten")
        #expect(!FileManager.default.fileExists(atPath: path + ".journal"))
    }

    @Test func recoveryNeverOverwritesAnUnreadableStateAndRefusesARestoredBackup() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let first = try await Self.written(StateStoreConformance.sampleState(), LocalStateStore(path: path))
        let base = try await Self.written(first, LocalStateStore(path: path))
        do {
            let applying = LocalStateStore(path: path)
            try await applying.beginJournal(base: base)
            try await applying.append(.remove(address: "model.fraud"))
        }
        let damaged = Array(Self.contents(path)!.prefix(100))
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        let unreadable = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path).read() }
        #expect(unreadable?.code == .unreadable)
        #expect(Self.contents(path) == damaged)
        #expect(FileManager.default.fileExists(atPath: path + ".journal"), "the journal was dropped")
        // Restoring the backup the error names gives an older serial, which the journal does not fit.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: path + ".backup", toPath: path)
        let restored = Self.contents(path)
        let mismatch = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path).read() }
        #expect(mismatch?.code == .journalMismatch)
        #expect(mismatch?.description.contains("started at serial 2 but the state file is at serial 1") == true, "\(String(describing: mismatch))")
        #expect(Self.contents(path) == restored)
    }

    @Test func lockHeldByAnotherProcessIsReportedThenTakenOverWhenItDies() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        // Another process takes the lock with O_CREAT|O_EXCL, as a second mlinfra would, and stays alive.
        let script = """
            import json, os, socket, sys, time, getpass
            fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, json.dumps({"id": "other-process", "operation": "apply", "who": getpass.getuser(),
                "host": socket.gethostname(), "pid": os.getpid(), "created": "2026-11-22T00:00:00.000Z"}).encode())
            os.close(fd)
            print("locked", flush=True)
            time.sleep(30)
            """
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        child.arguments = ["python3", "-c", script, path + ".lock"]
        let out = Pipe()
        child.standardOutput = out
        try child.run()
        let reader = out.fileHandleForReading
        _ = await offThePool { reader.availableData }
        let notices = Mutex<[String]>([])
        let store = LocalStateStore(path: path, onTakeover: { holder, reason in notices.withLock { $0.append("\(holder.id): \(reason)") } })
        let held = await #expect(throws: StateError.self) { try await store.lock(.make(operation: "plan"), timeout: 0) }
        #expect(held?.code == .locked)
        #expect(held?.description.contains("pid \(child.processIdentifier)") == true, "\(String(describing: held))")
        #expect(held?.description.contains("stale") == false, "a live holder was called stale")
        #expect(notices.withLock { $0 }.isEmpty, "a live holder's lock was taken over")
        kill(child.processIdentifier, SIGKILL)
        await offThePool { child.waitUntilExit() }
        // Its process is provably gone: the next command takes the lock over, and says so.
        let mine = LockInfo.make(operation: "plan")
        try await store.lock(mine, timeout: 0)
        #expect(try await store.currentLock()?.id == mine.id)
        #expect(notices.withLock { $0 } == ["other-process: process \(child.processIdentifier) is not running on \(LockInfo.make(operation: "x").host)"])
    }

    @Test func aLockWhosePidWasReusedIsTakenOverButALiveHoldersIsNot() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let me = LockInfo.make(operation: "apply")
        #expect(me.processStart != nil, "this machine should expose process start times")
        // This process's pid, recorded with another start time: the pid was reused after the holder died.
        var reused = LockInfo.make(operation: "apply")
        reused.id = "reused-pid"
        reused.processStart = (me.processStart ?? "") + "0"
        try Data(reused.jsonBytes()).write(to: URL(fileURLWithPath: path + ".lock"))
        let store = LocalStateStore(path: path, onTakeover: { _, _ in })
        try await store.lock(.make(operation: "plan"), timeout: 0)
        try await store.unlock(id: try #require(try await store.currentLock()).id)

        // The same pid with its real start time is alive: refused, naming the holder.
        var live = me
        live.id = "live-holder"
        try Data(live.jsonBytes()).write(to: URL(fileURLWithPath: path + ".lock"))
        let refused = await #expect(throws: StateError.self) { try await store.lock(.make(operation: "plan"), timeout: 0) }
        #expect(refused?.description.contains("live-holder") == true)
    }

    @Test func racingCommandsNeverSeeAHalfWrittenLock() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        for _ in 0..<100 {
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        do {
                            try await LocalStateStore(path: path).lock(.make(operation: "apply"), timeout: 0)
                            return "taken"
                        } catch let error as StateError {
                            return error.description.contains("is locked by") ? "refused" : "other: \(error)"
                        } catch {
                            return "other: \(error)"
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "taken" }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { $0 == "refused" }.count == 3, "\(outcomes)")
            try FileManager.default.removeItem(atPath: path + ".lock")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp") }
        #expect(left.isEmpty, "temporary lock files were left: \(left)")
    }

    @Test(.timeLimit(.minutes(1))) func aFIFOAtTheStatePathIsRefusedNotWaitedOn() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        #expect(mkfifo(path, 0o600) == 0)
        let error = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path).read() }
        #expect(error?.description.contains("not a regular file") == true, "\(String(describing: error))")
    }

    @Test func aMissingStateBesideItsBackupIsRefusedWithHowToRestoreIt() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let store = LocalStateStore(path: path)
        var s = StateStoreConformance.sampleState()
        s.serial = try await store.write(s)
        try await store.write(s)
        let backup = Self.contents(path + ".backup")
        try FileManager.default.removeItem(atPath: path)
        let error = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path).read() }
        #expect(error?.description.contains("cp \(path).backup \(path)") == true, "\(String(describing: error))")
        // Nothing was written over the backup: a new lineage cannot start on top of it.
        let write = await #expect(throws: StateError.self) { try await LocalStateStore(path: path).write(StateStoreConformance.sampleState()) }
        #expect(write != nil)
        #expect(Self.contents(path + ".backup") == backup)
    }

    @Test func lockHeldHereKeepsAnotherProcessOut() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let info = LockInfo.make(operation: "apply")
        try await LocalStateStore(path: path).lock(info, timeout: 0)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        child.arguments = [
            "python3", "-c",
            "import os, sys\ntry:\n    os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)\nexcept FileExistsError:\n    sys.exit(3)\n",
            path + ".lock",
        ]
        try child.run()
        await offThePool { child.waitUntilExit() }
        #expect(child.terminationStatus == 3, "another process could create the lock file while it was held")
        let lock = try #require(Self.contents(path + ".lock"))
        #expect(LockInfo.parse(lock) == info)
    }

    /// A journal damaged anywhere is recovered up to the damage or refused with a `StateError`, never a crash.
    @Test func randomlyDamagedJournalsAreRecoveredOrRefused() throws {
        let base = StateStoreConformance.sampleState()
        var journal = StateJournal.beginLine(base: base, embedBase: true)
        for i in 1...6 {
            journal += StateJournal.entryLine(
                .upsert(StateStoreConformance.sampleResource("endpoint.e\(i)")), lineage: base.lineage, baseSerial: base.serial, seq: i)
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var bytes = journal
            let at = Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: bytes[at] ^= UInt8.random(in: 1...255, using: &generator)
            case 1: bytes = Array(bytes.prefix(at))
            default: bytes.removeSubrange(at..<min(bytes.count, at + 20))
            }
            do {
                if let contents = try StateJournal.parse(bytes, path: "j") {
                    _ = try StateJournal.recovery(stored: nil, journal: contents, path: "j")
                }
            } catch is StateError {
                continue
            } catch {
                Issue.record("a damaged journal gave \(type(of: error)), not a StateError: \(error)")
            }
        }
    }

    @Test func lockInfoCodableUsesISO8601() throws {
        let info = LockInfo(
            id: "abc", operation: "apply", who: "ci", host: "runner-1", pid: 4242,
            created: Date(timeIntervalSince1970: 1_763_771_000.123))
        let json = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
        #expect(json.contains("2025-11-22T00:23:20.123Z"), "\(json)")
        #expect(try JSONDecoder().decode(LockInfo.self, from: Data(json.utf8)) == info)
        #expect(LockInfo.parse(info.jsonBytes()) == info)
    }

    private func appendRaw(_ bytes: [UInt8], to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
    }
}
