import DriftMonitor
import EnginePostgres
import Foundation
import MLInfraCore
import MLInfraTesting
import Testing

@testable import MonitoringProvider

/// `control: { postgres: … }`: the monitor goes to the control store's database, where the serving
/// hosts' agents read it; apply profiles the reference there, so no host needs the file.
@Suite struct SharedMonitorProviderTests {
    @Test func aMonitorInThePostgresControlStoreIsStoredThereProfiledAndDeleted() async throws {
        let f = try await ProviderFixture()
        defer { f.remove() }
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("monprov")
        let url = server.url(database: database)
        var config = ProviderFixture.config
        config["dataset"] = nil
        config["endpoint"] = "fraud"
        config["control"] = ["postgres": ["url": .string(url), "schema": "team_control"]]
        let address = "monitor.fraud_drift"

        let plan = try await f.provider.plan(PlanRequest(type: "monitor", address: address, prior: nil, proposed: config))
        #expect(plan.diagnostics.isEmpty)
        let created = try #require(try await f.provider.apply(ApplyRequest(
            type: "monitor", address: address, action: .create, prior: nil, config: config, planned: plan.planned,
            context: ApplyContext(actor: "test"))).new)

        // What an agent on another host reads: the definition with its token, and the profile.
        let store = try PostgresMonitorStore(url: try PostgresURL(parsing: url), schema: "team_control")
        let stored = try #require(try store.monitor("fraud_drift"))
        #expect(stored.source == .endpoint("fraud") && stored.alert?.token == "tok-123")
        #expect(try store.profileHash("fraud_drift") == created.attributes["reference_sha256"]?.stringValue)
        #expect(try store.loadProfile("fraud_drift")?.sorted["amount"]?.count == 400)
        #expect(!FileManager.default.fileExists(atPath: f.dataDir + "/monitoring/monitoring.sqlite"), "nothing is kept on the machine that applied")

        // `mlinfra monitors … --control URL` (or MLINFRA_CONTROL_URL) on an operator's machine reads the same store.
        let command = try MonitorOptions.parse(["--control-schema", "team_control"]).engine(environment: ["MLINFRA_CONTROL_URL": url])
        #expect(try command.store.monitors().map(\.name) == ["fraud_drift"])
        do {
            _ = try MonitorOptions.parse(["--control", "postgres://ml:s3cr3t-pw@[bad"]).engine(environment: [:])
            Issue.record("a malformed control URL was accepted")
        } catch {
            #expect("\(error)".contains("--control") && !"\(error)".contains("s3cr3t-pw"), "\(error)")
        }

        // Refresh reads the shared store: a run recorded by an agent shows.
        try store.recordRun(monitor: "fraud_drift", time: Date(timeIntervalSince1970: 1_790_000_000), trigger: .schedule,
                            slot: Date(timeIntervalSince1970: 1_790_000_000), report: nil, alert: "not needed", error: "no capture yet")
        let read = try #require(try await f.provider.read(ReadRequest(type: "monitor", address: address, id: "fraud_drift", prior: created)).current)
        #expect(read.attributes["last_verdict"] == "error")

        // The next command (a new process) refreshes from state, where the URL is sealed: it learns
        // the store from the spec's validate, as plan runs it first.
        var sealed = created
        sealed.attributes["control"] = ["postgres": ["url": "sealed:…", "schema": "team_control"]]
        let next = MonitoringProvider()
        _ = try await next.configure(ConfigureRequest(config: ["data_dir": ".mlinfra"], workingDirectory: f.root.path))
        _ = try await next.validate(ValidateRequest(type: "monitor", address: address, config: config))
        let refreshed = try await next.read(ReadRequest(type: "monitor", address: address, id: "fraud_drift", prior: sealed))
        #expect(refreshed.current?.attributes["last_verdict"] == "error", "refresh found the monitor in the control store")

        _ = try await next.apply(ApplyRequest(type: "monitor", address: address, action: .delete, prior: sealed, config: [:], planned: [:],
                                              context: ApplyContext(actor: "test")))
        #expect(try store.monitors().isEmpty)
    }

    @Test func theControlStoreTakesOnlyWhatTheServingHostsCanRead() async throws {
        let f = try await ProviderFixture()
        defer { f.remove() }
        let secret = "pa55-w0rd-never-shown"
        var config = ProviderFixture.config
        config["control"] = ["postgres": ["url": .string("postgres://mlinfra:\(secret)@127.0.0.1:1/db")]]
        config["performance"] = ["task": "classification", "max_drop": 0.05, "labels": "data/labels.csv"]
        let r = try await f.provider.validate(ValidateRequest(type: "monitor", address: "monitor.m", config: config))
        let attributes = Set(r.diagnostics.compactMap(\.attribute))
        #expect(attributes.isSuperset(of: ["dataset", "performance.labels"]))
        #expect(r.diagnostics.first { $0.attribute == "dataset" }?.diagnostic.summary.contains("capture") == true)

        var bad = ProviderFixture.config
        bad["control"] = ["postgres": ["url": .string("mysql://mlinfra:\(secret)@127.0.0.1/db")]]
        let refused = try await f.provider.validate(ValidateRequest(type: "monitor", address: "monitor.m", config: bad))
        #expect(refused.diagnostics.contains { $0.attribute == "control.postgres.url" })
        #expect(refused.diagnostics.allSatisfy { !$0.diagnostic.description.contains(secret) })
        let schema = try await MonitoringProvider().schema()
        guard case .object(let control) = schema.resourceTypes["monitor"]?.attributes["control"]?.type,
              case .object(let postgres) = control["postgres"]?.type else { Issue.record("control is not an object"); return }
        #expect(postgres["url"]?.sensitive == true)
        #expect(schema.resourceTypes["monitor"]?.attributes["control"]?.forceNew == true)
    }
}
