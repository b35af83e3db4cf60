import Foundation
import Testing
@testable import MLInfraCore

/// A saved plan applies exactly what was reviewed: a fresh plan that differs in any value is refused.
@Suite struct SavedPlanTests {

    /// `plan` as `plan -out` saves it, sealed with `key`.
    static func saved(_ plan: Plan, key: StateKey) -> PlanFile {
        PlanFile(
            specPath: ".", baseLineage: plan.baseLineage, baseSerial: plan.baseSerial, inputHash: "hash", providerVersions: [:],
            options: PlanOptions(), variables: [:], instances: PlanFile.instances(of: plan, key: key), rendered: .null, created: Date())
    }

    @Test func savedPlanKeepsPlannedValuesWithUnknownsAndOnlyHMACsOfSecrets() async throws {
        let h = Harness()
        let plan = try await h.plan(oneThing)
        let key = StateKey(bytes: Array(repeating: 7, count: 32))
        let file = Self.saved(plan, key: key)
        let path = h.directory.appendingPathComponent("saved.plan").path
        try file.encoded().write(toFile: path, atomically: true, encoding: .utf8)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains("s3cr3t-value"))
        #expect(text.contains("\"$mlinfra_unknown\": true"))

        let read = try PlanFile.read(path: path)
        let a = try #require(read.instances["thing.a"])
        #expect(a.action == "create")
        #expect(a.sensitive == ["secret"])
        #expect(a.after?["label"] == "first")
        #expect(a.after?["url"] == .unknown)
        #expect(a.after?["secret"] == Secrets.redact(.string("s3cr3t-value"), key: key))
        #expect(read.differences(from: plan, key: key).isEmpty)
    }

    @Test func freshPlanWithTheSameActionsButAnotherValueIsRefused() async throws {
        let h = Harness()
        #expect(try await h.apply(oneThing).ok)
        let key = StateKey.ephemeral
        let reviewed = try await h.plan(relabelled)
        #expect(reviewed.change("thing.a")?.action == .update)
        let saved = Self.saved(reviewed, key: key)

        // Changed outside mlinfra: a computed attribute, so refresh records it without drift and the action stays an update.
        var object = try #require(h.provider.object("obj-1"))
        object["url"] = "mem://moved"
        h.provider.setObject("obj-1", object)
        let fresh = try await h.plan(relabelled)
        #expect(fresh.change("thing.a")?.action == .update)
        #expect(
            saved.differences(from: fresh, key: key) == [
                "`thing.a`: attribute `url` was \"mem://obj-1\" in the saved plan, but a fresh plan makes it \"mem://moved\""
            ])
    }

    @Test func anotherSecretInAFreshPlanIsRefusedWithoutShowingIt() async throws {
        let h = Harness()
        let key = StateKey.ephemeral
        let reviewed = try await h.plan(oneThing)
        let saved = Self.saved(reviewed, key: key)
        let fresh = try await h.plan(oneThing.replacingOccurrences(of: "s3cr3t-value", with: "other-secret"))
        let differences = saved.differences(from: fresh, key: key)
        #expect(differences == ["`thing.a`: attribute `secret` holds another secret than in the saved plan"])
    }

    @Test func freshPlanWithAnotherActionIsRefusedNamingBoth() async throws {
        let h = Harness()
        let key = StateKey.ephemeral
        let reviewed = try await h.plan(oneThing)
        let saved = Self.saved(reviewed, key: key)
        #expect(try await h.apply(oneThing).ok)
        let fresh = try await h.plan(oneThing)
        #expect(saved.differences(from: fresh, key: key) == ["`thing.a`: the saved plan would create it, a fresh plan would leave it unchanged"])
    }

    @Test func planFileOfAnOlderVersionIsRefusedWithPlanAgain() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.plan").path
        let old = """
            {"format": "mlinfra-plan", "version": 1, "plan_id": "x", "base": {"lineage": "l", "serial": 0}, "input_hash": "h",
             "options": {"mode": "normal"}, "actions": {"thing.a": "create"}, "plan": {}}
            """
        try old.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try PlanFile.read(path: path)
            Issue.record("an old plan file was read")
        } catch let error as PlanFileError {
            #expect(error.message.contains("\(path) is a version 1 plan file"), "\(error)")
            #expect(error.remedy.contains("Plan again"))
        }
    }
}
