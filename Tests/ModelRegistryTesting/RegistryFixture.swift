import Foundation
import ModelRegistry

/// A registry in a fresh temporary directory, removed when the fixture goes away (for the
/// registry's test suites).
public final class RegistryFixture {
    public let root: URL
    public let registry: ModelRegistry

    public init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("registry-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        registry = try ModelRegistry(directory: root.appendingPathComponent("registry"))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// Writes a small artifact file with the given text and returns its URL.
    public func artifact(_ text: String, name: String = UUID().uuidString + ".json") throws -> URL {
        let url = root.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    @discardableResult
    public func register(_ model: String, _ text: String, format: String = "linear-json", tags: [String: String] = [:]) throws
        -> ModelVersion
    {
        try registry.register(
            RegistrationRequest(model: model, artifact: try artifact(text), format: format, tags: tags),
            context: .command())
    }
}

/// A change as `mlinfra apply` makes it.
public let applyContext = ChangeContext(actor: "ci@builder", origin: .apply, planID: "plan-abc123", reason: "promote v2")
