import Crypto
import Foundation

/// How to run an external provider: the spec's `providers: NAME: { command: …, sha256: … }`.
public struct PluginSpec: Sendable, Hashable {
    /// The provider's name in the spec (`acme`), used in every message.
    public var name: String
    /// The executable: a path (relative paths are relative to `workingDirectory`),
    /// or a bare name looked up in `PATH`. This file is the one whose sha256 is checked.
    public var command: String
    public var arguments: [String]
    /// Added to mlinfra's own environment for the plugin.
    public var environment: [String: String]
    /// The plugin's working directory, and the base of a relative `command`; nil for mlinfra's own.
    public var workingDirectory: String?
    /// The expected sha256 of the executable, in hex. nil refuses to run it (the error shows the actual hash).
    public var sha256: String?
    /// How long one call may take before it fails.
    public var callTimeout: Duration
    /// How long the plugin may take to start and answer `initialize`.
    public var startTimeout: Duration

    public init(
        name: String,
        command: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        sha256: String?,
        callTimeout: Duration = .seconds(600),
        startTimeout: Duration = .seconds(30)
    ) {
        self.name = name
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.sha256 = sha256
        self.callTimeout = callTimeout
        self.startTimeout = startTimeout
    }

    /// The keys of a `providers:` entry that describe the plugin itself; everything
    /// a provider is configured with goes under `config:`.
    public static let entryKeys: Set<String> = ["command", "args", "env", "sha256", "timeout", "config"]

    /// Reads a spec's `providers: NAME:` entry for an external plugin:
    /// `{ command: ./bin/acme, args: […], env: {…}, sha256: "…", timeout: 10m, config: {…} }`.
    /// Relative commands are relative to `specDirectory`, which is also the plugin's working directory.
    /// Returns the plugin spec and the provider config (`config:`, for `ConfigureRequest`).
    public static func parse(
        name: String, entry: [String: Value], specDirectory: String
    ) throws(ProviderError) -> (spec: PluginSpec, config: [String: Value]) {
        func fail(_ message: String, _ detail: String) -> ProviderError {
            ProviderError(provider: name, message: message, detail: detail)
        }
        if let unknown = entry.keys.sorted().first(where: { !entryKeys.contains($0) }) {
            throw fail(
                "unknown key `\(unknown)` in providers.\(name)",
                "An external provider entry takes \(entryKeys.sorted().joined(separator: ", ")); provider settings go under `config:`.")
        }
        guard let command = entry["command"]?.stringValue, !command.isEmpty else {
            throw fail("providers.\(name).command is missing", "Set it to the plugin executable, e.g. `command: ./bin/\(name)`.")
        }
        var arguments: [String] = []
        if let args = entry["args"], !args.isNull {
            let texts = args.listValue?.compactMap(\.interpolated)
            guard let texts, texts.count == args.listValue?.count else {
                throw fail("providers.\(name).args must be a list of strings", "Write e.g. `args: [\"--verbose\"]`.")
            }
            arguments = texts
        }
        var environment: [String: String] = [:]
        if let env = entry["env"], !env.isNull {
            guard let map = env.mapValue else {
                throw fail("providers.\(name).env must be a map of strings", "Write e.g. `env: { ACME_REGION: eu }`.")
            }
            for (key, value) in map {
                guard let text = value.interpolated else {
                    throw fail("providers.\(name).env.\(key) must be a string", "Environment values are strings, numbers or booleans.")
                }
                environment[key] = text
            }
        }
        let sha256 = entry["sha256"]?.stringValue
        var callTimeout = Duration.seconds(600)
        if let timeout = entry["timeout"], !timeout.isNull {
            guard let text = timeout.stringValue, let seconds = DurationText.seconds(text), seconds > 0 else {
                throw fail("providers.\(name).timeout must be a duration", "Write e.g. `timeout: 10m` or `timeout: 30s`.")
            }
            callTimeout = .milliseconds(Int64((seconds * 1000).rounded()))
        }
        var config: [String: Value] = [:]
        if let value = entry["config"], !value.isNull {
            guard let map = value.mapValue else {
                throw fail("providers.\(name).config must be a map", "Put the provider's settings under `config: { … }`.")
            }
            config = map
        }
        let spec = PluginSpec(
            name: name, command: command, arguments: arguments, environment: environment,
            workingDirectory: specDirectory, sha256: sha256, callTimeout: callTimeout)
        return (spec, config)
    }

    /// The executable's absolute path: `command` itself, relative to the working directory, or found in `PATH`.
    public func resolvedExecutable() throws(ProviderError) -> String {
        if command.contains("/") {
            if command.hasPrefix("/") { return command }
            let base = workingDirectory ?? FileManager.default.currentDirectoryPath
            return URL(fileURLWithPath: base).appendingPathComponent(command).standardizedFileURL.path
        }
        let path = (environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"]) ?? ""
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(command).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ProviderError(
            provider: name, message: "plugin command `\(command)` was not found in PATH",
            detail: "Give the executable's path in providers.\(name).command, e.g. `./bin/\(command)`.")
    }

    /// The sha256 of a file, in lowercase hex, read in chunks.
    public static func sha256(ofFileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Checks the executable against `sha256` and returns its path; refuses a missing
    /// file, a missing hash or a different one, saying how to update the spec.
    func verifiedExecutable() throws(ProviderError) -> String {
        let path = try resolvedExecutable()
        guard FileManager.default.isExecutableFile(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ProviderError(
                provider: name,
                message: exists ? "plugin \(path) is not executable" : "plugin \(path) does not exist",
                detail: exists ? "Make it executable (chmod +x) or check providers.\(name).command." : "Check providers.\(name).command in the spec.")
        }
        let actual: String
        do {
            actual = try PluginSpec.sha256(ofFileAt: path)
        } catch {
            throw ProviderError(provider: name, message: "cannot read plugin \(path) to check its sha256", detail: "\(error)")
        }
        guard let expected = sha256?.trimmingCharacters(in: .whitespaces).lowercased(), !expected.isEmpty else {
            throw ProviderError(
                provider: name, message: "providers.\(name).sha256 is missing, so plugin \(path) was not run",
                detail: "mlinfra runs only plugins whose hash the spec pins. If you trust this file, add `sha256: \"\(actual)\"` to providers.\(name).")
        }
        guard expected == actual else {
            throw ProviderError(
                provider: name, message: "plugin \(path) does not match its sha256, so it was not run",
                detail: """
                    expected sha256: \(expected)
                    actual sha256:   \(actual)
                    If the plugin was updated on purpose, set `sha256: "\(actual)"` in providers.\(name) of the spec; otherwise restore the file you trusted.
                    """)
        }
        return path
    }
}
