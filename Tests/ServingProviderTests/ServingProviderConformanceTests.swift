import Foundation
import MLInfraCore
import MLInfraCoreTesting
import ModelRegistry
import Testing

@testable import ModelServing
@testable import ServingProvider

/// `ProviderConformance` against the serving provider: a real agent with one replica process,
/// serving a model from a real registry in a temporary directory; the agent is stopped at the end.
@Suite(.serialized, .enabled(if: TestBinary.path != nil, "needs an mlinfra (or serving-dev) executable with the agent and endpoints commands beside the tests"))
struct ServingProviderConformanceTests {
    @Test func endpointConforms() async throws {
        let dir = temporaryDirectory()
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        let context = ChangeContext(actor: "test", origin: .apply)
        let artifact = try EndToEndTests.writeLinear(dir, "v1.json", intercept: 0)
        _ = try registry.register(
            RegistrationRequest(model: "conformance", artifact: URL(fileURLWithPath: artifact), format: "linear-json"), context: context)
        _ = try registry.setAlias("conformance", "production", version: 1, context: context)
        let port = Value.int(freePort())
        let one: Value = ["min": 1, "max": 1]
        let fixture = ProviderConformance.Fixture(
            providerConfig: ["data_dir": .string(dir.path)], workingDirectory: dir.path, type: "endpoint", address: "endpoint.conformance",
            create: ["model": "conformance@production", "port": port, "replicas": one, "capture": ["sample_percent": .number(0)]],
            update: ["model": "conformance@production", "port": port, "replicas": one, "capture": ["sample_percent": .number(10)]],
            replace: ["model": "conformance@production", "port": port, "replicas": one, "capture": ["sample_percent": .number(0)], "name": "renamed"],
            invalid: ["model": "conformance@production", "port": port, "replicas": ["min": 3, "max": 2]],
            unknownAttribute: "model")
        let provider = ServingProvider(agentExecutable: TestBinary.path!, defaultReadyTimeout: 60)
        let report = await ProviderConformance(provider: provider, fixture: fixture).run()
        _ = try? AgentProcess(dataDirectory: dir).stop()
        #expect(AgentProcess(dataDirectory: dir).runningPID() == nil)
        #expect(report.passed, "\(report)")
        try? FileManager.default.removeItem(at: dir)
    }
}
