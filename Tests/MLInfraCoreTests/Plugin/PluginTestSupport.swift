import Foundation
import MLInfraCore
import Testing

/// Finding the plugins the tests run, and temporary directories for them.
enum PluginTestSupport {
    /// The repository root, from this file's path (Tests/MLInfraCoreTests/Plugin/…).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var pythonProvider: String {
        repositoryRoot.appendingPathComponent("providers/examples/python-files/provider.py").path
    }

    /// `mlinfra-test-provider`, built beside the test bundle (`swift build` builds it with the tests);
    /// `MLINFRA_TEST_PROVIDER` overrides the place.
    static func testProvider() throws -> String {
        if let path = ProcessInfo.processInfo.environment["MLINFRA_TEST_PROVIDER"] { return path }
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL { directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()) }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        for directory in directories {
            let candidate = directory.appendingPathComponent("mlinfra-test-provider").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ProviderError(
            provider: "fake",
            message: "mlinfra-test-provider was not found beside the test bundle (looked in \(directories.map(\.path)))",
            detail: "Build it with `swift build --product mlinfra-test-provider`, or set MLINFRA_TEST_PROVIDER.")
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-plugin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func spec(
        name: String, command: String, environment: [String: String] = [:], workingDirectory: String? = nil,
        callTimeout: Duration = .seconds(30)
    ) throws -> PluginSpec {
        PluginSpec(
            name: name, command: command, environment: environment, workingDirectory: workingDirectory,
            sha256: try PluginSpec.sha256(ofFileAt: command), callTimeout: callTimeout, startTimeout: .seconds(30))
    }

    /// The fake provider served by `mlinfra-test-provider`, with extra environment (latency, faults).
    static func fakePlugin(environment: [String: String] = [:], callTimeout: Duration = .seconds(30)) throws -> PluginProvider {
        PluginProvider(spec: try spec(name: "fake", command: try testProvider(), environment: environment, callTimeout: callTimeout))
    }

    /// The Python `files` provider (a file per resource under its `root`).
    static func filesPlugin() throws -> PluginProvider {
        PluginProvider(spec: try spec(name: "files", command: pythonProvider))
    }

    /// Writes an executable script and returns its path.
    static func script(_ text: String, in directory: URL, named name: String = "plugin") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url.path
    }

    static let context = ApplyContext(actor: "test")

    /// Runs `body` and returns the ProviderError it throws; records an issue when it throws nothing else.
    static func providerError(_ body: () async throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) async -> ProviderError? {
        do {
            try await body()
            Issue.record("expected a ProviderError, got success", sourceLocation: sourceLocation)
        } catch let error as ProviderError {
            return error
        } catch {
            Issue.record("expected a ProviderError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }
}
