import Foundation
import Logging
import MLInfraCore
import ServiceLifecycle
import Testing

@testable import ModelServing
@testable import ServingProvider

@Suite struct ServingProviderTests {
    func provider(_ dir: URL) async throws -> ServingProvider {
        let p = ServingProvider(agentExecutable: "/nonexistent/mlinfra", defaultReadyTimeout: 1)
        _ = try await p.configure(ConfigureRequest(config: ["data_dir": .string(dir.path)], workingDirectory: "/"))
        return p
    }

    @Test func schemaDeclaresEndpoint() async throws {
        let schema = try await ServingProvider().schema()
        #expect(schema.name == "local")
        #expect(schema.version == MLInfraVersion.current)
        let endpoint = try #require(schema.resourceTypes["endpoint"])
        #expect(endpoint.attributes["model"]?.required == true)
        #expect(endpoint.attributes["port"]?.required == true)
        #expect(endpoint.attributes["ready_replicas"]?.computed == true)
    }

    @Test func validationNamesEveryBadAttribute() async throws {
        let p = try await provider(FileManager.default.temporaryDirectory)
        let response = try await p.validate(ValidateRequest(type: "endpoint", address: "endpoint.fraud", config: [
            "model": "fraud@production", "port": 8080,
            "replicas": ["min": 3, "max": 2],
            "autoscaling": ["metric": "memory", "scale_down_window": "soon"],
            "traffic": ["percent": 10],
            "capture": ["sample_percent": 200],
        ]))
        let attributes = Set(response.diagnostics.compactMap(\.attribute))
        #expect(attributes == ["replicas.max", "autoscaling.metric", "autoscaling.scale_down_window", "traffic.percent", "capture.sample_percent"])
        #expect(response.diagnostics.allSatisfy { $0.diagnostic.address == "endpoint.fraud" })
        let missing = try await p.validate(ValidateRequest(type: "endpoint", address: "endpoint.x", config: [:]))
        #expect(Set(missing.diagnostics.compactMap(\.attribute)) == ["model", "port"])
        let unknown = try await p.validate(ValidateRequest(type: "endpoint", address: "endpoint.x", config: ["model": .unknown, "port": 8080]))
        #expect(unknown.diagnostics.isEmpty)
    }

    @Test func planKnowsIdAndURL() async throws {
        let p = try await provider(FileManager.default.temporaryDirectory)
        let plan = try await p.plan(PlanRequest(type: "endpoint", address: "endpoint.fraud", prior: nil, proposed: ["model": .unknown, "port": 9000]))
        #expect(plan.planned["id"] == "fraud")
        #expect(plan.planned["url"] == "http://127.0.0.1:9000")
        #expect(plan.planned["served_version"] == .unknown)
    }

    @Test func readReportsGoneWhenNotApplied() async throws {
        let dir = temporaryDirectory()
        let p = try await provider(dir)
        let read = try await p.read(ReadRequest(type: "endpoint", address: "endpoint.fraud", id: "fraud", prior: ResourceObject(id: "fraud", attributes: [:])))
        #expect(read.current == nil)
        let imported = try await p.importResource(ImportRequest(type: "endpoint", address: "endpoint.fraud", id: "fraud"))
        #expect(imported.imported == nil)
        try? FileManager.default.removeItem(at: dir)
    }

    @Test func applyWithoutAnAgentBinaryFailsClearly() async throws {
        let dir = temporaryDirectory()
        let p = try await provider(dir)
        let error = await #expect(throws: AgentError.self) {
            _ = try await p.apply(ApplyRequest(type: "endpoint", address: "endpoint.fraud", action: .create, prior: nil,
                                               config: ["model": "fraud@production", "port": 9000], planned: [:],
                                               context: ApplyContext(actor: "test")))
        }
        #expect(error?.description.contains("/nonexistent/mlinfra") == true)
        // The desired config was written: an agent started later serves it.
        #expect(try SQLiteControlStore(directory: dir.appendingPathComponent("serving")).endpoint("fraud")?.config.port == 9000)
        try? FileManager.default.removeItem(at: dir)
    }

    @Test func controlStoreBumpsGenerationOnlyOnChange() throws {
        let dir = temporaryDirectory()
        let store = try SQLiteControlStore(directory: dir)
        let config = EndpointConfig(name: "e", model: "m/1", port: 9000)
        #expect(try store.putEndpoint(config) == 1)
        #expect(try store.putEndpoint(config) == 1)
        var changed = config
        changed.model = "m/2"
        #expect(try store.putEndpoint(changed) == 2)
        try store.record(ScalingDecision(endpoint: "e", time: 1, current: 1, desired: 2, metric: "rps", value: 3, target: 1, recommended: 2, reason: "scale up"))
        #expect(try store.decisions(endpoint: "e").first?.desired == 2)
        try store.removeEndpoint("e")
        #expect(try store.endpoints().isEmpty)
        try? FileManager.default.removeItem(at: dir)
    }
}

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-serving-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct EndpointStatusViewTests {
    @Test func humanViewShowsReplicasTrafficAndDecisions() {
        let config = EndpointConfig(name: "fraud", model: "fraud@production", replicas: .init(min: 2, max: 4),
                                    canary: .init(model: "fraud/4", percent: 10), port: 8080)
        let status = EndpointStatus(
            name: "fraud", url: config.url, generation: 1, ready: true, message: nil,
            versions: [
                .init(version: "fraud/3", role: "primary", percent: 90, desiredReplicas: 2, replicas: [
                    .init(pid: 101, port: 40001, state: .ready, restarts: 0), .init(pid: 102, port: 40002, state: .ready, restarts: 1),
                ]),
                .init(version: "fraud/4", role: "canary", percent: 10, desiredReplicas: 1, replicas: [.init(pid: 103, port: 40003, state: .ready, restarts: 0)]),
            ], updatedAt: Date().timeIntervalSince1970)
        let decision = ScalingDecision(endpoint: "fraud", time: 0, current: 2, desired: 3, metric: "concurrency", value: 11, target: 8,
                                       recommended: 3, reason: "scale up: ceil(2 × 11 / 8) = 3")
        let text = EndpointStatusView.render(config: config, generation: 1, status: status, decisions: [decision], json: false)
        #expect(text.contains("endpoint fraud  http://127.0.0.1:8080"))
        #expect(text.contains("version fraud/3 [primary] traffic 90.0%  replicas 2/2 ready"))
        #expect(text.contains("pid 102  port 40002  ready  restarts 1"))
        #expect(text.contains("2 → 3  scale up: ceil(2 × 11 / 8) = 3"))
        let json = EndpointStatusView.render(config: config, generation: 1, status: status, decisions: [], json: true)
        #expect(json.contains("\"servedVersion\"") == false)
        #expect(json.contains("\"fraud/4\""))
        let none = EndpointStatusView.render(config: config, generation: 1, status: nil, decisions: [], json: false)
        #expect(none.contains("is `mlinfra agent` running?"))
    }
}

@Suite struct AgentCommandTests {
    struct Marker: Service {
        func run() async throws {}
    }

    @Test func servicesPassedInRunBesideServing() throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let logger = Logger(label: "test")
        let before = try ServingAgentSetup.services(dataDirectory: dataDirectory, team: nil, logger: logger).count
        let services = try ServingAgentSetup.services(dataDirectory: dataDirectory, team: nil, beside: [{ _ in Marker() }], logger: logger)
        #expect(services.count == before + 1)
        #expect(services.last is Marker)
    }

    @Test func detachAndStopTogetherAreRefused() throws {
        #expect(throws: (any Error).self) { _ = try AgentOptions.parse(["--detach", "--stop"]) }
        let command = try AgentOptions.parse(["--data-dir", "/tmp/x"])
        #expect(command.location.dataDirOption == "/tmp/x")
    }

    /// A serving host captures into the control store's database unless told another; without a
    /// control store there is no shared capture store to name.
    @Test func aServingHostCapturesWhereTheOptionsSay() throws {
        let control = "postgres://ml:pw@db.internal:5432/ml"
        let byDefault = try #require(try AgentOptions.parse(["--control", control, "--host", "a"]).team(environment: [:]))
        #expect(byDefault.capture == byDefault.control)
        #expect(byDefault.captureSchema == "mlinfra_capture")
        let named = try #require(
            try AgentOptions.parse(["--control", control, "--host", "a", "--capture-schema", "traffic"])
                .team(environment: ["MLINFRA_CAPTURE_URL": "postgres://ml:pw@capture.internal:5432/traffic"]))
        #expect(named.capture.host == "capture.internal" && named.capture.database == "traffic")
        #expect(named.captureSchema == "traffic")
        #expect(throws: (any Error).self) { _ = try AgentOptions.parse(["--capture", control]).team(environment: [:]) }
        do {
            _ = try AgentOptions.parse(["--control", control, "--host", "a", "--capture", "postgres://ml:s3cr3t@[bad"]).team(environment: [:])
            Issue.record("a malformed capture URL was accepted")
        } catch {
            #expect("\(error)".contains("--capture") && !"\(error)".contains("s3cr3t"), "\(error)")
        }
    }
}

@Suite struct ServingPlanTests {
    /// The agent picks the replica count and resolves the alias when it applies a changed config,
    /// so a plan that knew them would be contradicted by the apply (an inconsistent result).
    @Test func changedEndpointPlansServedVersionAndReadyReplicasAsUnknown() async throws {
        let p = ServingProvider(agentExecutable: "/nonexistent/mlinfra", defaultReadyTimeout: 1)
        _ = try await p.configure(ConfigureRequest(config: ["data_dir": .string(NSTemporaryDirectory())], workingDirectory: "/"))
        let config: [String: Value] = ["model": "fraud@production", "port": 9000, "replicas": ["min": 1, "max": 1]]
        var attributes = config
        attributes.merge(["name": "fraud", "host": "127.0.0.1", "id": "fraud", "url": "http://127.0.0.1:9000", "served_version": "fraud/1", "ready_replicas": 1]) { a, _ in a }
        let prior = ResourceObject(id: "fraud", attributes: attributes)
        let same = try await p.plan(PlanRequest(type: "endpoint", address: "endpoint.fraud", prior: prior, proposed: config))
        #expect(same.planned["served_version"] == "fraud/1")
        #expect(same.planned["ready_replicas"] == 1)
        var more = config
        more["replicas"] = ["min": 2, "max": 2]
        let changed = try await p.plan(PlanRequest(type: "endpoint", address: "endpoint.fraud", prior: prior, proposed: more))
        #expect(changed.planned["served_version"] == .unknown)
        #expect(changed.planned["ready_replicas"] == .unknown)
    }
}
