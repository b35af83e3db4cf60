import Foundation
import ModelRegistry
import ModelRegistryTesting
import Testing

@Suite struct VersionRegistrationTests {
    @Test(arguments: RegistryBackend.allCases) func versionsAreNumberedPerModelFromOne(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        #expect(try f.register("fraud", "a").version == 1)
        #expect(try f.register("fraud", "b").version == 2)
        #expect(try f.register("churn", "a").version == 1)
        #expect(try f.register("fraud", "c").version == 3)
        #expect(try f.registry.versions(of: "fraud").map(\.version) == [1, 2, 3])
    }

    @Test func artifactIsStoredUnderItsSha256() throws {
        let f = try RegistryFixture()
        let v = try f.register("fraud", "{\"w\": [1, 2]}")
        let path = f.registry.artifactPath(sha256: v.sha256)
        #expect(path.path.hasSuffix("artifacts/sha256/\(v.sha256.prefix(2))/\(v.sha256)"))
        #expect(try Data(contentsOf: path) == Data("{\"w\": [1, 2]}".utf8))
        #expect(v.size == 13)
        #expect(v.status == "READY")
        #expect(v.stage == .none)
    }

    @Test(arguments: RegistryBackend.allCases) func sha256MatchesAnIndependentHash(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let v = try f.register("m", "abc")
        // Known SHA-256 of "abc".
        #expect(v.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: RegistryBackend.allCases) func versionNumbersAreNeverReusedAfterDeletion(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "a")
        try f.register("m", "b")
        try f.registry.deleteVersion("m", 2, context: .command())
        #expect(try f.register("m", "c").version == 3)
    }

    @Test(arguments: RegistryBackend.allCases) func registeringIntoMissingModelCanBeRefused(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let error = #expect(throws: RegistryError.self) {
            try f.registry.register(
                RegistrationRequest(model: "ghost", artifact: try f.artifact("x"), createModelIfMissing: false),
                context: .command())
        }
        #expect(error?.code == .modelNotFound)
    }

    @Test(arguments: RegistryBackend.allCases) func unreadableArtifactIsAnErrorNamingThePath(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let missing = f.root.appendingPathComponent("nope.json")
        let error = #expect(throws: RegistryError.self) {
            try f.registry.register(RegistrationRequest(model: "m", artifact: missing), context: .command())
        }
        #expect(error?.code == .artifactUnreadable)
        #expect(error?.description.contains("nope.json") == true)
        #expect(try f.registry.model("m") == nil)
    }

    @Test(arguments: RegistryBackend.allCases, ["", "a/b", "a@b", "-x", "with space"])
    func invalidModelNamesAreRefused(_ backend: RegistryBackend, _ name: String) async throws {
        let f = try await RegistryFixture.make(backend)
        let error = #expect(throws: RegistryError.self) { try f.registry.createModel(name, context: .command()) }
        #expect(error?.field == "name")
    }

    @Test(arguments: RegistryBackend.allCases) func lineageAndTagsAreKept(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let v = try f.registry.register(
            RegistrationRequest(
                model: "m", artifact: try f.artifact("x"), format: "xgboost-json", description: "first",
                tags: ["dataset": "q1"], lineage: Lineage(runID: "run-1", dataset: "fraud_2024_q1", commit: "abc123")),
            context: .command())
        let read = try #require(try f.registry.version("m", v.version))
        #expect(read.lineage == Lineage(runID: "run-1", dataset: "fraud_2024_q1", commit: "abc123"))
        #expect(read.tags == ["dataset": "q1"])
        #expect(read.format == "xgboost-json")
        #expect(read.description == "first")
        #expect(try f.registry.version(of: "m", sha256: v.sha256)?.version == v.version)
    }

    /// A registration's audit entry names its own number, also when the request's own text holds
    /// numbers like the placeholder a storage may record a version with before it knows the number.
    @Test(arguments: RegistryBackend.allCases) func theAuditEntryOfARegistrationNamesItsNumber(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "a")
        let odd = "\(Int.min) and \(Int.min + 1)"
        let v = try f.registry.register(
            RegistrationRequest(model: "m", artifact: try f.artifact("b"), description: odd, tags: ["n": "\(Int.min)"]),
            context: .command())
        #expect(v.version == 2)
        try f.register("m", "c")
        let read = try #require(try f.registry.version("m", 2))
        #expect(read.description == odd)
        #expect(read.tags == ["n": "\(Int.min)"])
        let created = try f.registry.history(of: "m").filter { $0.action == "version.create" }
        #expect(created.map(\.subject) == ["/1", "/2", "/3"])
        for (n, entry) in zip(1..., created) {
            #expect(entry.summary.hasPrefix("version \(n) registered"), "\(entry.summary)")
            #expect(entry.after?.hasSuffix(#""version":\#(n)}"#) == true, "\(entry.after ?? "nil")")
        }
        #expect(created[1].after?.contains(odd) == true)
        #expect(created[1].after?.contains(#""n":"\#(Int.min)""#) == true)
    }

    @Test(arguments: RegistryBackend.allCases) func tagsAndDescriptionUpdateInPlace(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "x", tags: ["a": "1"])
        try f.registry.setVersionTag("m", 1, key: "b", value: "2", context: .command())
        try f.registry.deleteVersionTag("m", 1, key: "a", context: .command())
        try f.registry.updateVersion("m", 1, description: "better", context: .command())
        let v = try #require(try f.registry.version("m", 1))
        #expect(v.tags == ["b": "2"])
        #expect(v.description == "better")
        try f.registry.setModelTag("m", key: "team", value: "risk", context: .command())
        #expect(try f.registry.requireModel("m").tags == ["team": "risk"])
    }
}

@Suite struct ArtifactIntegrityTests {
    @Test(arguments: RegistryBackend.allCases) func tamperedArtifactIsRefusedOnLoadAndResolve(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let v = try f.register("fraud", "{\"weights\": [0.5]}")
        #expect(try f.registry.loadArtifact(model: "fraud", version: 1) == Data("{\"weights\": [0.5]}".utf8))
        try f.tamper(sha256: v.sha256, with: Data("{\"weights\": [9.9]}".utf8))

        let load = #expect(throws: RegistryError.self) { try f.registry.loadArtifact(model: "fraud", version: 1) }
        #expect(load?.code == .artifactCorrupted)
        #expect(load?.description.contains(v.sha256) == true)
        let resolve = #expect(throws: RegistryError.self) { try f.registry.resolve("models:/fraud/1") }
        #expect(resolve?.code == .artifactCorrupted)
    }

    @Test(arguments: RegistryBackend.allCases) func resolvedArtifactTamperedAfterResolveIsRefusedOnLoad(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("fraud", "original")
        let resolved = try f.registry.resolve("models:/fraud/1")
        try Data("changed".utf8).write(to: resolved.artifactPath)
        switch backend {
        case .sqlite:
            #expect(throws: RegistryError.self) { try f.registry.loadArtifact(resolved) }
        case .postgres:
            // The path is a checked copy, not the store: loading reads the chunks again, and the
            // next resolve finds the copy changed and replaces it.
            #expect(try f.registry.loadArtifact(resolved) == Data("original".utf8))
            #expect(try Data(contentsOf: f.registry.resolve("models:/fraud/1").artifactPath) == Data("original".utf8))
        }
    }

    @Test(arguments: RegistryBackend.allCases) func missingArtifactIsAnError(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let v = try f.register("fraud", "bytes")
        try f.removeArtifact(sha256: v.sha256)
        let error = #expect(throws: RegistryError.self) { try f.registry.loadArtifact(model: "fraud", version: 1) }
        #expect(error?.code == .artifactMissing)
    }

    /// 2.5 MiB: three chunks in PostgreSQL. A download is checked as it streams, and a changed
    /// chunk leaves nothing at the destination.
    @Test(arguments: RegistryBackend.allCases)
    func aLargeArtifactRoundTripsAndATamperedChunkIsRefusedOnDownload(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let bytes = Data((0..<(5 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) })
        let file = f.root.appendingPathComponent("big.bin")
        try bytes.write(to: file)
        let v = try f.registry.register(RegistrationRequest(model: "big", artifact: file), context: .command())
        #expect(v.size == Int64(bytes.count))
        #expect(v.sha256 == (try ModelRegistry.sha256(ofFile: file)))
        let resolved = try f.registry.resolve("models:/big/1")
        #expect(try Data(contentsOf: resolved.artifactPath) == bytes)
        let out = f.root.appendingPathComponent("out.bin")
        #expect(try f.registry.exportArtifact(resolved, to: out) == Int64(bytes.count))
        #expect(try Data(contentsOf: out) == bytes)

        try f.tamper(sha256: v.sha256, with: Data("evil".utf8))
        let again = f.root.appendingPathComponent("again.bin")
        let error = #expect(throws: RegistryError.self) { try f.registry.exportArtifact(resolved, to: again) }
        #expect(error?.code == .artifactCorrupted)
        #expect(error?.description.contains(v.sha256) == true)
        #expect(!FileManager.default.fileExists(atPath: again.path))
        #expect(throws: RegistryError.self) { try f.registry.resolve("models:/big/1") }
        #expect(throws: RegistryError.self) { try f.registry.loadArtifact(model: "big", version: 1) }
    }

    @Test func sameContentIsStoredOnce() throws {
        let f = try RegistryFixture()
        let a = try f.register("m", "same")
        let b = try f.register("m", "same")
        #expect(a.sha256 == b.sha256)
        #expect(a.version != b.version)
        let dir = f.registry.artifactPath(sha256: a.sha256).deletingLastPathComponent()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [a.sha256])
    }
}

@Suite struct ResolutionTests {
    func fixture(_ backend: RegistryBackend) async throws -> RegistryFixture {
        let f = try await RegistryFixture.make(backend)
        try f.register("fraud", "v1")
        try f.register("fraud", "v2")
        try f.register("fraud", "v3")
        try f.registry.setAlias("fraud", "production", version: 2, context: .command())
        try f.registry.transitionStage("fraud", 1, to: .staging, context: .command())
        try f.registry.transitionStage("fraud", 3, to: .staging, context: .command())
        return f
    }

    static let forms = [
        ("models:/fraud/1", 1), ("models:/fraud@production", 2), ("models:/fraud/Staging", 3),
        ("models:/fraud/staging", 3), ("models:/fraud/latest", 3), ("fraud@production", 2), ("fraud/3", 3),
    ]

    @Test(arguments: RegistryBackend.allCases)
    func uriFormsResolve(_ backend: RegistryBackend) async throws {
        let f = try await fixture(backend)
        for (uri, expected) in Self.forms {
            let resolved = try f.registry.resolve(uri)
            #expect(resolved.name == "fraud", "\(uri)")
            #expect(resolved.version == expected, "\(uri)")
            #expect(resolved.format == "linear-json")
            #expect(try f.registry.loadArtifact(resolved) == Data("v\(expected)".utf8))
        }
    }

    static let bad = [
        ("models:/fraud/9", RegistryError.Code.versionNotFound), ("models:/ghost/1", .modelNotFound),
        ("models:/fraud@canary", .aliasNotFound), ("models:/fraud/Production", .noVersionInStage),
        ("models:/fraud", .invalidURI), ("models:/fraud/Prod", .invalidURI), ("models:/@x", .invalidURI),
        ("models:/fraud/0", .invalidURI),
    ]

    @Test(arguments: RegistryBackend.allCases)
    func badReferencesSayWhy(_ backend: RegistryBackend) async throws {
        let f = try await fixture(backend)
        for (uri, code) in Self.bad {
            let error = #expect(throws: RegistryError.self) { try f.registry.resolve(uri) }
            #expect(error?.code == code, "\(uri)")
        }
    }
}

@Suite struct AliasAndStageTests {
    @Test(arguments: RegistryBackend.allCases) func aliasPointsToOneVersionAndAVersionMayCarrySeveral(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        try f.register("m", "2")
        #expect(try f.registry.setAlias("m", "production", version: 1, context: .command()) == nil)
        try f.registry.setAlias("m", "champion", version: 1, context: .command())
        #expect(try f.registry.version("m", 1)?.aliases == ["champion", "production"])
        #expect(try f.registry.setAlias("m", "production", version: 2, context: .command()) == 1)
        #expect(try f.registry.requireModel("m").aliases == ["champion": 1, "production": 2])
        try f.registry.deleteAlias("m", "champion", context: .command())
        #expect(try f.registry.aliasTarget("m", "champion") == nil)
    }

    @Test(arguments: RegistryBackend.allCases) func aliasToMissingVersionIsRefused(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        let error = #expect(throws: RegistryError.self) {
            try f.registry.setAlias("m", "production", version: 7, context: .command())
        }
        #expect(error?.code == .versionNotFound)
    }

    @Test(arguments: RegistryBackend.allCases, ["latest", "v3", "", "1abc", "a/b"])
    func reservedOrInvalidAliasesAreRefused(_ backend: RegistryBackend, _ alias: String) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        let error = #expect(throws: RegistryError.self) {
            try f.registry.setAlias("m", alias, version: 1, context: .command())
        }
        #expect(error?.field == "alias")
    }

    @Test(arguments: RegistryBackend.allCases) func protectedAliasIsRefusedOutsideApply(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        try f.register("m", "2")
        try f.registry.updateModel("m", protectedAliases: ["production"], context: applyContext)
        try f.registry.setAlias("m", "production", version: 1, context: applyContext)
        for origin in [ChangeContext.Origin.command, .api] {
            let context = ChangeContext(actor: "alice@laptop", origin: origin)
            let error = #expect(throws: RegistryError.self) {
                try f.registry.setAlias("m", "production", version: 2, context: context)
            }
            #expect(error?.code == .protectedAlias)
            #expect(error?.description.contains("mlinfra apply") == true)
            #expect(throws: RegistryError.self) { try f.registry.deleteAlias("m", "production", context: context) }
        }
        #expect(try f.registry.aliasTarget("m", "production") == 1)
        try f.registry.setAlias("m", "production", version: 2, context: applyContext)
        #expect(try f.registry.aliasTarget("m", "production") == 2)
        // Unprotected aliases still move imperatively.
        try f.registry.setAlias("m", "staging-candidate", version: 2, context: .command())
    }

    @Test(arguments: RegistryBackend.allCases) func deletingAVersionAnAliasPointsToNamesTheAlias(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        try f.registry.setAlias("m", "production", version: 1, context: .command())
        let error = #expect(throws: RegistryError.self) { try f.registry.deleteVersion("m", 1, context: .command()) }
        #expect(error?.code == .versionHasAliases)
        #expect(error?.description.contains("production") == true)
        try f.registry.deleteVersion("m", 1, removingAliases: true, context: .command())
        #expect(try f.registry.version("m", 1) == nil)
        #expect(try f.registry.requireModel("m").aliases.isEmpty)
    }

    @Test(arguments: RegistryBackend.allCases) func stageTransitionWithArchiveExistingArchivesTheOthers(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        for i in 1...4 { try f.register("m", "\(i)") }
        try f.registry.transitionStage("m", 1, to: .production, context: .command())
        try f.registry.transitionStage("m", 2, to: .production, context: .command())
        try f.registry.transitionStage("m", 3, to: .staging, context: .command())
        try f.registry.transitionStage("m", 4, to: .production, archiveExisting: true, context: .command())
        let stages = try f.registry.versions(of: "m").map(\.stage)
        #expect(stages == [.archived, .archived, .staging, .production])
        #expect(try f.registry.resolve("models:/m/Production").version == 4)
    }

    @Test(arguments: RegistryBackend.allCases) func stageTransitionWithoutArchiveKeepsOthers(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        for i in 1...2 { try f.register("m", "\(i)") }
        try f.registry.transitionStage("m", 1, to: .production, context: .command())
        try f.registry.transitionStage("m", 2, to: .production, context: .command())
        #expect(try f.registry.versions(of: "m").map(\.stage) == [.production, .production])
        #expect(try f.registry.resolve("models:/m/Production").version == 2)
        let error = #expect(throws: RegistryError.self) {
            try f.registry.transitionStage("m", 1, to: .archived, archiveExisting: true, context: .command())
        }
        #expect(error?.field == "archive_existing_versions")
    }
}

@Suite struct AuditLogTests {
    @Test(arguments: RegistryBackend.allCases) func everyChangeIsRecordedWithActorReasonAndPlan(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.registry.createModel("m", description: "d", context: .command(reason: "new model"))
        try f.register("m", "1")
        try f.register("m", "2")
        try f.registry.updateModel("m", description: "d2", protectedAliases: ["production"], context: applyContext)
        try f.registry.updateVersion("m", 1, tags: ["k": "v"], context: .command())
        try f.registry.setAlias("m", "production", version: 1, context: applyContext)
        try f.registry.setAlias("m", "production", version: 2, context: applyContext)
        try f.registry.setAlias("m", "canary", version: 1, context: .command())
        try f.registry.deleteAlias("m", "canary", context: .command())
        try f.registry.transitionStage("m", 2, to: .production, context: .command())
        try f.registry.deleteVersion("m", 1, context: .command())

        let log = try f.registry.history(of: "m")
        #expect(log.map(\.action) == [
            "model.create", "version.create", "version.create", "model.update", "version.update", "alias.set",
            "alias.set", "alias.set", "alias.delete", "stage.transition", "version.delete",
        ])
        #expect(log[0].reason == "new model")
        #expect(log[0].origin == .command)
        let move = log[6]
        #expect(move.summary == "alias production: 1 → 2")
        #expect(move.actor == "ci@builder")
        #expect(move.origin == .apply)
        #expect(move.planID == "plan-abc123")
        #expect(move.reason == "promote v2")
        #expect(move.before == #"{"version":1}"#)
        #expect(move.after == #"{"version":2}"#)
        #expect(log[5].before == nil)
        #expect(log.last?.after == nil)
        #expect(zip(log, log.dropFirst()).allSatisfy { $0.id < $1.id && $0.time <= $1.time })
    }

    @Test(arguments: RegistryBackend.allCases) func unchangedUpdatesAndRepeatedAliasSetsAreNotLogged(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        try f.registry.setAlias("m", "a", version: 1, context: .command())
        let count = try f.registry.history(of: "m").count
        try f.registry.setAlias("m", "a", version: 1, context: .command())
        try f.registry.updateVersion("m", 1, description: "", context: .command())
        #expect(try f.registry.history(of: "m").count == count)
    }

    @Test(arguments: RegistryBackend.allCases) func failedChangesLeaveNoTrace(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        let count = try f.registry.history().count
        #expect(throws: RegistryError.self) { try f.registry.setAlias("m", "a", version: 5, context: .command()) }
        #expect(throws: RegistryError.self) { try f.registry.createModel("m", context: .command()) }
        #expect(try f.registry.history().count == count)
    }

    @Test(arguments: RegistryBackend.allCases) func theAuditTableRefusesEditsAndDeletions(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("m", "1")
        #expect(!f.rawSQLSucceeds("UPDATE {s}.audit SET actor = 'x'"))
        #expect(!f.rawSQLSucceeds("DELETE FROM {s}.audit"))
        if backend == .postgres { #expect(!f.rawSQLSucceeds("TRUNCATE {s}.audit")) }
        #expect(f.rawSQLSucceeds("UPDATE {s}.model SET description = 'edited'"), "other tables stay writable")
        #expect(try f.registry.history().count == 2)
    }
}

@Suite struct ConcurrencyTests {
    /// The worker executable built beside the test bundle.
    static func workerURL() throws -> URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("ModelRegistryWorker")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw RegistryError(.invalidArgument, "ModelRegistryWorker not found beside \(exe.path)")
    }

    /// Two processes register into one model that neither created first (so both race to create
    /// it too); on PostgreSQL 500 each, as two hosts of a team would.
    @Test(arguments: [(RegistryBackend.sqlite, 40), (.postgres, 500)])
    func twoProcessesRegisteringAtOnceGetDistinctGaplessNumbers(_ backend: RegistryBackend, _ perProcess: Int) async throws {
        let f = try await RegistryFixture.make(backend)
        let worker = try Self.workerURL()
        var processes: [(Process, Pipe)] = []
        for tag in ["a", "b"] {
            let p = Process()
            p.executableURL = worker
            p.arguments = [f.registry.directory.path, "shared", "\(perProcess)", tag]
            p.environment = ProcessInfo.processInfo.environment.merging(f.workerEnvironment) { _, new in new }
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            processes.append((p, out))
        }
        var numbers: [Int] = []
        for (p, out) in processes {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            numbers += text.split(separator: "\n").compactMap { Int($0) }
        }
        #expect(numbers.count == 2 * perProcess)
        #expect(Set(numbers) == Set(1...(2 * perProcess)))
        let versions = try f.registry.versions(of: "shared")
        #expect(versions.map(\.version) == Array(1...(2 * perProcess)))
        #expect(Set(versions.compactMap { $0.tags["worker"] }) == ["a", "b"])
        let history = try f.registry.history(of: "shared")
        #expect(history.filter { $0.action == "version.create" }.count == 2 * perProcess)
        #expect(history.filter { $0.action == "model.create" }.count == 1)
        #expect(try f.registry.model("shared")?.lastVersion == 2 * perProcess)
        for v in versions.suffix(20) { _ = try f.registry.loadArtifact(model: "shared", version: v.version) }
    }
}

extension ConcurrencyTests {
    /// Four writers move one alias at once, 40 times each. Each move reads the alias only once it
    /// holds the model, so the audit log is one unbroken chain: every entry's "before" is the
    /// "after" of the entry before it, and the last "after" is where the alias points.
    @Test(arguments: RegistryBackend.allCases)
    func concurrentAliasMovesLeaveAnUnbrokenAuditChain(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        for v in 1...5 { try f.register("m", "\(v)") }
        let registry = f.registry
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    for k in 0..<40 { try registry.setAlias("m", "production", version: 1 + (writer + k) % 5, context: .command()) }
                }
            }
            try await group.waitForAll()
        }
        let moves = try registry.history(of: "m").filter { $0.action == "alias.set" }
        #expect(moves.count >= 5)
        #expect(moves.first?.before == nil)
        for (earlier, later) in zip(moves, moves.dropFirst()) {
            #expect(later.before == earlier.after, "audit entry \(later.id) does not follow entry \(earlier.id)")
            #expect(later.before != later.after)
        }
        let target = try #require(try registry.aliasTarget("m", "production"))
        #expect(moves.last?.after == #"{"version":\#(target)}"#)
    }
}

@Suite struct CreationKeyTests {
    @Test(arguments: RegistryBackend.allCases) func aKeyedRegistrationOrModelCreateIsDoneOnce(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let first = try f.registry.createModel("fraud", creationKey: "L/model.fraud", context: applyContext)
        #expect(try f.registry.createModel("fraud", creationKey: "L/model.fraud", context: applyContext).name == first.name)
        #expect(throws: RegistryError.self) { try f.registry.createModel("fraud", creationKey: "other", context: applyContext) }
        let artifact = try f.artifact("weights")
        let request = RegistrationRequest(model: "fraud", artifact: artifact, creationKey: "L/model_version.v1")
        let v1 = try f.registry.register(request, context: applyContext)
        let again = try f.registry.register(request, context: applyContext)
        #expect(again.version == v1.version)
        #expect(try f.registry.versions(of: "fraud").count == 1)
        try Data("other weights".utf8).write(to: artifact)
        #expect(throws: RegistryError.self) { try f.registry.register(request, context: applyContext) }
    }
}

@Suite struct PostgresCommitTests {
    /// Without waiting for the disk, changes are still transactions that every other session sees at once.
    @Test func aRegistryThatDoesNotWaitForTheDiskIsSeenByOthersAtOnce() async throws {
        let f = try await RegistryFixture.make(.postgres)
        var location = f.location
        location.waitsForDisk = false
        let fast = try ModelRegistry(location: location)
        let v = try fast.register(RegistrationRequest(model: "m", artifact: try f.artifact("fast")), context: .command())
        try fast.setAlias("m", "champion", version: v.version, context: .command())
        #expect(try f.registry.resolve("models:/m@champion").version == 1)
        #expect(try f.registry.loadArtifact(model: "m", version: 1) == Data("fast".utf8))
        #expect(try f.registry.history(of: "m").map(\.action) == ["model.create", "version.create", "alias.set"])
    }
}
