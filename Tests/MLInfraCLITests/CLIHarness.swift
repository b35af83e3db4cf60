import Foundation
import MLInfraTesting

/// Runs the real `mlinfra-dev` binary (mlinfra with the test `disk` provider built in) in a temp directory.
final class CLIHarness: Sendable {
    let directory: URL
    /// The binary this harness runs: `mlinfra-dev` unless told otherwise (the shipped `mlinfra`).
    let binaryPath: String

    init(binary: String = CLIHarness.binary) throws {
        binaryPath = binary
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// The directory holding the built products (beside the test bundle).
    static var productsDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["MLINFRA_PRODUCTS_DIR"] { return URL(fileURLWithPath: override) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("mlinfra-dev").path) { return url }
        }
        return URL(fileURLWithPath: ".build/debug")
    }

    static var binary: String { productsDirectory.appendingPathComponent("mlinfra-dev").path }

    typealias Run = TestRun

    func write(_ name: String, _ text: String) throws {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func read(_ name: String) -> String? { try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) }

    /// The state key of the team-mode tests' runners.
    static let teamStateKey = "0123456789abcdef0123456789abcdef-team-test-key"

    func process(_ args: [String], env: [String: String] = [:]) -> (Process, Pipe, Pipe) {
        // Runs on a shared PostgreSQL backend share one state key, as CI runners get it from the CI's secrets.
        var added: [String: String] = [:]
        if env.keys.contains(where: { $0 == "MLINFRA_PG_URL" || $0 == "MLINFRA_VAR_pg_url" }) {
            added["MLINFRA_STATE_KEY"] = CLIHarness.teamStateKey
        }
        added.merge(env) { $1 }
        return TestProcess.prepare(binaryPath, args, in: directory, environment: added)
    }

    @discardableResult
    func run(_ args: String..., env: [String: String] = [:]) async throws -> Run {
        try await run(args, env: env)
    }

    /// Runs the command to its end on a Dispatch thread, so waiting never blocks the test's task pool.
    func run(_ args: [String], env: [String: String] = [:], input: String? = nil) async throws -> Run {
        let (p, out, err) = process(args, env: env)
        let stdin = Pipe()
        if input != nil { p.standardInput = stdin }
        try p.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        return await TestProcess.finish(p, out: out, err: err)
    }

    /// Runs blocking work on a Dispatch thread and waits for it without holding a pool thread.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }

    /// Objects the disk provider holds.
    func objects(_ dir: String = "objects") -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(dir).path)) ?? []
        return Set(names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) })
    }

    /// Addresses recorded in state.
    func stateAddresses() async throws -> Set<String> {
        let r = try await run("state", "list")
        return Set(r.out.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") })
    }
}

/// A spec of `count` disk items; `latency` slows each apply call.
func diskSpec(count: Int, latency: String = "0s", label: String = "one", chained: Bool = false) -> String {
    var text = "mlinfra: 1\nproject: e2e\nproviders:\n  disk: { dir: objects, latency: \(latency) }\nresources:\n"
    for i in 0..<count {
        let ref = chained && i > 0 ? ", ref: \"${item.i\(i - 1).url}\"" : ""
        text += "  item.i\(i): { size: \(i), label: \(label)\(ref) }\n"
    }
    return text + "outputs:\n  first: ${item.i0.url}\n"
}
