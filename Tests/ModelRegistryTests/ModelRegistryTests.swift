import Foundation
import GRDB
import ModelRegistry
import ModelRegistryTesting
import Testing

@Suite struct VersionRegistrationTests {
    @Test func versionsAreNumberedPerModelFromOne() throws {
        let f = try RegistryFixture()
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

    @Test func sha256MatchesAnIndependentHash() throws {
        let f = try RegistryFixture()
        let v = try f.register("m", "abc")
        // Known SHA-256 of "abc".
        #expect(v.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func versionNumbersAreNeverReusedAfterDeletion() throws {
        let f = try RegistryFixture()
        try f.register("m", "a")
        try f.register("m", "b")
        try f.registry.deleteVersion("m", 2, context: .command())
        #expect(try f.register("m", "c").version == 3)
    }

    @Test func registeringIntoMissingModelCanBeRefused() throws {
        let f = try RegistryFixture()
        let error = #expect(throws: RegistryError.self) {
            try f.registry.register(
                RegistrationRequest(model: "ghost", artifact: try f.artifact("x"), createModelIfMissing: false),
                context: .command())
        }
        #expect(error?.code == .modelNotFound)
    }

    @Test func unreadableArtifactIsAnErrorNamingThePath() throws {
        let f = try RegistryFixture()
        let missing = f.root.appendingPathComponent("nope.json")
        let error = #expect(throws: RegistryError.self) {
            try f.registry.register(RegistrationRequest(model: "m", artifact: missing), context: .command())
        }
        #expect(error?.code == .artifactUnreadable)
        #expect(error?.description.contains("nope.json") == true)
        #expect(try f.registry.model("m") == nil)
    }

    @Test(arguments: ["", "a/b", "a@b", "-x", "with space"])
    func invalidModelNamesAreRefused(_ name: String) throws {
        let f = try RegistryFixture()
        let error = #expect(throws: RegistryError.self) { try f.registry.createModel(name, context: .command()) }
        #expect(error?.field == "name")
    }

    @Test func lineageAndTagsAreKept() throws {
        let f = try RegistryFixture()
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

    @Test func tagsAndDescriptionUpdateInPlace() throws {
        let f = try RegistryFixture()
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
    @Test func tamperedArtifactIsRefusedOnLoadAndResolve() throws {
        let f = try RegistryFixture()
        let v = try f.register("fraud", "{\"weights\": [0.5]}")
        #expect(try f.registry.loadArtifact(model: "fraud", version: 1) == Data("{\"weights\": [0.5]}".utf8))
        try Data("{\"weights\": [9.9]}".utf8).write(to: f.registry.artifactPath(sha256: v.sha256))

        let load = #expect(throws: RegistryError.self) { try f.registry.loadArtifact(model: "fraud", version: 1) }
        #expect(load?.code == .artifactCorrupted)
        #expect(load?.description.contains(v.sha256) == true)
        let resolve = #expect(throws: RegistryError.self) { try f.registry.resolve("models:/fraud/1") }
        #expect(resolve?.code == .artifactCorrupted)
    }

    @Test func resolvedArtifactTamperedAfterResolveIsRefusedOnLoad() throws {
        let f = try RegistryFixture()
        try f.register("fraud", "original")
        let resolved = try f.registry.resolve("models:/fraud/1")
        try Data("changed".utf8).write(to: resolved.artifactPath)
        #expect(throws: RegistryError.self) { try f.registry.loadArtifact(resolved) }
    }

    @Test func missingArtifactIsAnError() throws {
        let f = try RegistryFixture()
        let v = try f.register("fraud", "bytes")
        try FileManager.default.removeItem(at: f.registry.artifactPath(sha256: v.sha256))
        let error = #expect(throws: RegistryError.self) { try f.registry.loadArtifact(model: "fraud", version: 1) }
        #expect(error?.code == .artifactMissing)
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
    func fixture() throws -> RegistryFixture {
        let f = try RegistryFixture()
        try f.register("fraud", "v1")
        try f.register("fraud", "v2")
        try f.register("fraud", "v3")
        try f.registry.setAlias("fraud", "production", version: 2, context: .command())
        try f.registry.transitionStage("fraud", 1, to: .staging, context: .command())
        try f.registry.transitionStage("fraud", 3, to: .staging, context: .command())
        return f
    }

    @Test(arguments: [
        ("models:/fraud/1", 1), ("models:/fraud@production", 2), ("models:/fraud/Staging", 3),
        ("models:/fraud/staging", 3), ("models:/fraud/latest", 3), ("fraud@production", 2), ("fraud/3", 3),
    ])
    func uriFormsResolve(_ uri: String, _ expected: Int) throws {
        let f = try fixture()
        let resolved = try f.registry.resolve(uri)
        #expect(resolved.name == "fraud")
        #expect(resolved.version == expected)
        #expect(resolved.format == "linear-json")
        #expect(try f.registry.loadArtifact(resolved) == Data("v\(expected)".utf8))
    }

    @Test(arguments: [
        ("models:/fraud/9", RegistryError.Code.versionNotFound), ("models:/ghost/1", .modelNotFound),
        ("models:/fraud@canary", .aliasNotFound), ("models:/fraud/Production", .noVersionInStage),
        ("models:/fraud", .invalidURI), ("models:/fraud/Prod", .invalidURI), ("models:/@x", .invalidURI),
        ("models:/fraud/0", .invalidURI),
    ])
    func badReferencesSayWhy(_ uri: String, _ code: RegistryError.Code) throws {
        let f = try fixture()
        let error = #expect(throws: RegistryError.self) { try f.registry.resolve(uri) }
        #expect(error?.code == code)
    }
}

@Suite struct AliasAndStageTests {
    @Test func aliasPointsToOneVersionAndAVersionMayCarrySeveral() throws {
        let f = try RegistryFixture()
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

    @Test func aliasToMissingVersionIsRefused() throws {
        let f = try RegistryFixture()
        try f.register("m", "1")
        let error = #expect(throws: RegistryError.self) {
            try f.registry.setAlias("m", "production", version: 7, context: .command())
        }
        #expect(error?.code == .versionNotFound)
    }

    @Test(arguments: ["latest", "v3", "", "1abc", "a/b"])
    func reservedOrInvalidAliasesAreRefused(_ alias: String) throws {
        let f = try RegistryFixture()
        try f.register("m", "1")
        let error = #expect(throws: RegistryError.self) {
            try f.registry.setAlias("m", alias, version: 1, context: .command())
        }
        #expect(error?.field == "alias")
    }

    @Test func protectedAliasIsRefusedOutsideApply() throws {
        let f = try RegistryFixture()
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

    @Test func deletingAVersionAnAliasPointsToNamesTheAlias() throws {
        let f = try RegistryFixture()
        try f.register("m", "1")
        try f.registry.setAlias("m", "production", version: 1, context: .command())
        let error = #expect(throws: RegistryError.self) { try f.registry.deleteVersion("m", 1, context: .command()) }
        #expect(error?.code == .versionHasAliases)
        #expect(error?.description.contains("production") == true)
        try f.registry.deleteVersion("m", 1, removingAliases: true, context: .command())
        #expect(try f.registry.version("m", 1) == nil)
        #expect(try f.registry.requireModel("m").aliases.isEmpty)
    }

    @Test func stageTransitionWithArchiveExistingArchivesTheOthers() throws {
        let f = try RegistryFixture()
        for i in 1...4 { try f.register("m", "\(i)") }
        try f.registry.transitionStage("m", 1, to: .production, context: .command())
        try f.registry.transitionStage("m", 2, to: .production, context: .command())
        try f.registry.transitionStage("m", 3, to: .staging, context: .command())
        try f.registry.transitionStage("m", 4, to: .production, archiveExisting: true, context: .command())
        let stages = try f.registry.versions(of: "m").map(\.stage)
        #expect(stages == [.archived, .archived, .staging, .production])
        #expect(try f.registry.resolve("models:/m/Production").version == 4)
    }

    @Test func stageTransitionWithoutArchiveKeepsOthers() throws {
        let f = try RegistryFixture()
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
    @Test func everyChangeIsRecordedWithActorReasonAndPlan() throws {
        let f = try RegistryFixture()
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

    @Test func unchangedUpdatesAndRepeatedAliasSetsAreNotLogged() throws {
        let f = try RegistryFixture()
        try f.register("m", "1")
        try f.registry.setAlias("m", "a", version: 1, context: .command())
        let count = try f.registry.history(of: "m").count
        try f.registry.setAlias("m", "a", version: 1, context: .command())
        try f.registry.updateVersion("m", 1, description: "", context: .command())
        #expect(try f.registry.history(of: "m").count == count)
    }

    @Test func failedChangesLeaveNoTrace() throws {
        let f = try RegistryFixture()
        try f.register("m", "1")
        let count = try f.registry.history().count
        #expect(throws: RegistryError.self) { try f.registry.setAlias("m", "a", version: 5, context: .command()) }
        #expect(throws: RegistryError.self) { try f.registry.createModel("m", context: .command()) }
        #expect(try f.registry.history().count == count)
    }

    @Test func theAuditTableRefusesEditsAndDeletions() throws {
        let f = try RegistryFixture()
        try f.register("m", "1")
        let queue = try DatabaseQueue(path: f.registry.directory.appendingPathComponent("registry.sqlite").path)
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE audit SET actor = 'x'") } }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM audit") } }
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

    @Test func twoProcessesRegisteringAtOnceGetDistinctVersionNumbers() throws {
        let f = try RegistryFixture()
        try f.registry.createModel("shared", context: .command())
        let worker = try Self.workerURL()
        let perProcess = 40
        var processes: [(Process, Pipe)] = []
        for tag in ["a", "b"] {
            let p = Process()
            p.executableURL = worker
            p.arguments = [f.registry.directory.path, "shared", "\(perProcess)", tag]
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
        #expect(try f.registry.history(of: "shared").filter { $0.action == "version.create" }.count == 2 * perProcess)
        for v in versions { _ = try f.registry.loadArtifact(model: "shared", version: v.version) }
    }
}

@Suite struct CreationKeyTests {
    @Test func aKeyedRegistrationOrModelCreateIsDoneOnce() throws {
        let f = try RegistryFixture()
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
