import DriftMonitor
import Foundation
import MLInfraCore
import Testing

@testable import MonitoringProvider

/// A spec directory with a reference and a drifted dataset, and a configured provider.
struct ProviderFixture {
    let root: URL
    let provider = MonitoringProvider()
    var dataDir: String { root.appendingPathComponent(".mlinfra").path }

    init() async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("monprov-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
        var ref = "amount,color\n", cur = "amount,color\n"
        for i in 0..<400 {
            ref += "\(Double(i % 40) / 10),\(["red", "blue"][i % 2])\n"
            cur += "\(Double(i % 40) / 10 + 1.5),\(["red", "blue"][i % 2])\n"
        }
        try ref.write(to: root.appendingPathComponent("data/reference.csv"), atomically: true, encoding: .utf8)
        try cur.write(to: root.appendingPathComponent("data/current.csv"), atomically: true, encoding: .utf8)
        let r = try await provider.configure(ConfigureRequest(config: ["data_dir": ".mlinfra"], workingDirectory: root.path))
        #expect(r.diagnostics.isEmpty)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    static let config: [String: Value] = [
        "dataset": "data/current.csv",
        "reference": "data/reference.csv",
        "schedule": "0 * * * *",
        "checks": [["feature": "amount", "method": "psi", "threshold": 0.2]],
        "alert": ["webhook": "http://127.0.0.1:9/hooks/drift", "token": "tok-123"],
    ]
}

@Suite struct MonitoringProviderTests {
    @Test func schemaDeclaresMonitorWithSensitiveToken() async throws {
        let schema = try await MonitoringProvider().schema()
        #expect(schema.name == "local" && schema.version == MLInfraVersion.current)
        let monitor = try #require(schema.resourceTypes["monitor"])
        #expect(monitor.attributes["reference"]?.required == true)
        #expect(monitor.attributes["name"]?.forceNew == true)
        #expect(monitor.attributes["checks"]?.forceNew == false && monitor.attributes["schedule"]?.forceNew == false)
        guard case .object(let alert) = monitor.attributes["alert"]?.type else { Issue.record("alert is not an object"); return }
        #expect(alert["token"]?.sensitive == true)
        #expect(monitor.attributes["last_verdict"]?.computed == true && monitor.attributes["last_run"]?.computed == true)
        #expect(monitor.attributes["endpoint"]?.referenceType == "endpoint")
    }

    @Test func validationNamesTheBadAttributes() async throws {
        let f = try await ProviderFixture()
        defer { f.remove() }
        var config = ProviderFixture.config
        config["endpoint"] = "fraud"
        config["schedule"] = "0 25 * * *"
        config["checks"] = [["feature": "amount", "method": "magic"], ["feature": "amount", "threshold": -1]]
        config["colour"] = "red"
        let r = try await f.provider.validate(ValidateRequest(type: "monitor", address: "monitor.m", config: config))
        let attributes = Set(r.diagnostics.compactMap(\.attribute))
        #expect(attributes.isSuperset(of: ["dataset", "schedule", "checks.0.method", "checks.1.threshold", "checks.1.feature", "colour"]))
        #expect(r.diagnostics.allSatisfy { !$0.diagnostic.description.contains("tok-123") })
        let missing = try await f.provider.validate(ValidateRequest(type: "monitor", address: "monitor.m", config: ["schedule": .unknown]))
        #expect(missing.diagnostics.contains { $0.attribute == "reference" })
        #expect(missing.diagnostics.contains { $0.attribute == nil && $0.diagnostic.summary.contains("endpoint or dataset") })
        let unknowns = try await f.provider.validate(ValidateRequest(type: "monitor", address: "monitor.m",
                                                                     config: ["endpoint": .unknown, "reference": "data/reference.csv"]))
        #expect(unknowns.diagnostics.isEmpty, "references not yet known are fine at validate time")
    }

    @Test func planGivesIdAndDefaultsAndNoticesAChangedReference() async throws {
        let f = try await ProviderFixture()
        defer { f.remove() }
        let plan = try await f.provider.plan(PlanRequest(type: "monitor", address: "monitor.fraud_drift", prior: nil, proposed: ProviderFixture.config))
        #expect(plan.diagnostics.isEmpty)
        #expect(plan.planned["id"] == "fraud_drift" && plan.planned["window"] == "1h" && plan.planned["drift_share"] == 0.5)
        let hash = try #require(plan.planned["reference_sha256"]?.stringValue)
        #expect(plan.planned["last_run"] == .null)

        let applied = try await f.provider.apply(ApplyRequest(type: "monitor", address: "monitor.fraud_drift", action: .create, prior: nil,
                                                              config: ProviderFixture.config, planned: plan.planned, context: ApplyContext(actor: "test")))
        #expect(applied.diagnostics.isEmpty)
        let created = try #require(applied.new)
        #expect(created.id == "fraud_drift" && created.attributes["reference_sha256"]?.stringValue == hash)

        // Same spec, same file: nothing changes.
        let again = try await f.provider.plan(PlanRequest(type: "monitor", address: "monitor.fraud_drift", prior: created, proposed: ProviderFixture.config))
        #expect(again.planned["reference_sha256"] == created.attributes["reference_sha256"])
        // The reference file changes: its hash changes, so the plan shows an update.
        try "amount,color\n1,red\n2,blue\n".write(to: f.root.appendingPathComponent("data/reference.csv"), atomically: true, encoding: .utf8)
        let changed = try await f.provider.plan(PlanRequest(type: "monitor", address: "monitor.fraud_drift", prior: created, proposed: ProviderFixture.config))
        #expect(changed.planned["reference_sha256"] != created.attributes["reference_sha256"])
        #expect(changed.requiresReplace.isEmpty)
        // A missing reference is an error on that attribute.
        var gone = ProviderFixture.config
        gone["reference"] = "data/nope.csv"
        let missing = try await f.provider.plan(PlanRequest(type: "monitor", address: "monitor.fraud_drift", prior: nil, proposed: gone))
        #expect(missing.diagnostics.contains { $0.attribute == "reference" })
    }

    @Test func checksAndScheduleUpdateInPlaceAndRefreshShowsTheLastRun() async throws {
        let f = try await ProviderFixture()
        defer { f.remove() }
        let address = "monitor.fraud_drift"
        let created = try #require(try await f.provider.apply(ApplyRequest(
            type: "monitor", address: address, action: .create, prior: nil, config: ProviderFixture.config, planned: [:],
            context: ApplyContext(actor: "test"))).new)
        let engine = try DriftMonitorEngine(dataDirectory: f.dataDir)
        #expect(try engine.store.monitor("fraud_drift")?.checks == [DriftCheck(feature: "amount", method: .psi, threshold: 0.2)])
        #expect(try engine.store.monitor("fraud_drift")?.alert?.token == "tok-123")

        var updatedConfig = ProviderFixture.config
        updatedConfig["checks"] = [["feature": "amount", "method": "ks"], ["feature": "color"]]
        updatedConfig["schedule"] = "@daily"
        let updated = try #require(try await f.provider.apply(ApplyRequest(
            type: "monitor", address: address, action: .update, prior: created, config: updatedConfig, planned: [:],
            context: ApplyContext(actor: "test"))).new)
        #expect(updated.id == "fraud_drift")
        let stored = try #require(try engine.store.monitor("fraud_drift"))
        #expect(stored.schedule == "@daily" && stored.checks.map(\.feature) == ["amount", "color"] && stored.checks[0].method == .ks)

        // Refresh before and after a run.
        let before = try await f.provider.read(ReadRequest(type: "monitor", address: address, id: "fraud_drift", prior: updated))
        #expect(before.current?.attributes["last_run"] == .null)
        try await engine.run("fraud_drift", at: Date(timeIntervalSince1970: 1_790_000_000))
        let after = try #require(try await f.provider.read(ReadRequest(type: "monitor", address: address, id: "fraud_drift", prior: updated)).current)
        #expect(after.attributes["last_verdict"] == "drift")
        #expect(after.attributes["last_run"]?.stringValue == ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: 1_790_000_000)))
        #expect(after.attributes["last_drifted"]?.intValue == 1)

        // Import reads the same monitor back.
        let imported = try #require(try await f.provider.importResource(ImportRequest(type: "monitor", address: address, id: "fraud_drift")).imported)
        #expect(imported.attributes["schedule"] == "@daily" && imported.attributes["last_verdict"] == "drift")

        // Delete: gone on refresh.
        _ = try await f.provider.apply(ApplyRequest(type: "monitor", address: address, action: .delete, prior: updated, config: [:], planned: [:],
                                                    context: ApplyContext(actor: "test")))
        let deleted = try await f.provider.read(ReadRequest(type: "monitor", address: address, id: "fraud_drift", prior: updated))
        #expect(deleted.current == nil)
    }

    @Test func applyReportsEngineErrorsAsDiagnostics() async throws {
        let f = try await ProviderFixture()
        defer { f.remove() }
        var config = ProviderFixture.config
        config["checks"] = [["feature": "no_such_column"]]
        let r = try await f.provider.apply(ApplyRequest(type: "monitor", address: "monitor.m", action: .create, prior: nil, config: config,
                                                        planned: [:], context: ApplyContext(actor: "test")))
        #expect(r.new == nil)
        #expect(r.diagnostics.first?.summary.contains("no_such_column") == true)
        #expect(r.diagnostics.allSatisfy { !$0.description.contains("tok-123") })
    }

    @Test func runCommandNeedsNowAndViewsPrintEveryStatistic() async throws {
        #expect(throws: (any Error).self) { try MonitorsCommand.parseAsRoot(["run", "m"]) }
        let parsed = try MonitorsCommand.parseAsRoot(["run", "m", "--now", "--format", "json", "--data-dir", "/tmp/x"])
        #expect(parsed is MonitorsCommand.Run)

        let f = try await ProviderFixture()
        defer { f.remove() }
        _ = try await f.provider.apply(ApplyRequest(type: "monitor", address: "monitor.m", action: .create, prior: nil,
                                                    config: ProviderFixture.config, planned: [:], context: ApplyContext(actor: "test")))
        let engine = try DriftMonitorEngine(dataDirectory: f.dataDir)
        let run = try await engine.run("m")
        let text = MonitorViews.human(run)
        #expect(text.contains("amount") && text.contains("psi") && text.contains("0.2") && text.contains("drift if >="))
        #expect(!text.contains("tok-123"))
        let json = try MonitorViews.json(run)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let features = (object?["report"] as? [String: Any])?["features"] as? [[String: Any]]
        #expect(features?.first?["threshold"] as? Double == 0.2)
        #expect(!json.contains("tok-123"))
        #expect(MonitorViews.history("m", try engine.store.runs("m")).contains("drift"))
        let html = ReportRenderer.html(try #require(run.report))
        #expect(html.contains("<svg") && html.contains("amount") && !html.contains("<script") && !html.contains("tok-123"))
    }
}
