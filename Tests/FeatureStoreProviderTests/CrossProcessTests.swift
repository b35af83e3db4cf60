import FeatureStore
import Foundation
import Testing

/// A reader in this process (as the HTTP server would be) and `mlinfra features materialize`
/// in another: each commit is visible to the very next read.
@Suite struct CrossProcessTests {
    /// The built `mlinfra` (or `mlinfra-dev`) beside the test bundle.
    static func binary() throws -> String {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            for name in ["mlinfra", "mlinfra-dev"] where FileManager.default.isExecutableFile(atPath: url.appendingPathComponent(name).path) {
                return url.appendingPathComponent(name).path
            }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "mlinfra beside \(CommandLine.arguments[0])"])
    }

    /// Runs the CLI to its end (in `directory`, with `environment` added), waiting on a Dispatch
    /// thread rather than on the task pool.
    static func mlinfra(_ args: [String], in directory: String? = nil, environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = args
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        env["NO_COLOR"] = "1"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return await withCheckedContinuation { c in
            DispatchQueue.global().async {
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                c.resume(returning: (p.terminationStatus, String(decoding: data, as: UTF8.self)))
            }
        }
    }

    @Test func materializeInAnotherProcessIsSeenByTheNextRead() async throws {
        let ws = Workspace()
        let data = ws.path + "/state"
        let store = try LocalFeatureStore(directory: data + "/features/main")
        try store.apply(Entity(name: "customer", joinKeys: ["customer_id"]))
        try store.apply(
            FeatureView(
                name: "customer_stats", entities: ["customer"], source: .csv(ws.path + "/data/stats.csv"),
                features: [Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64)]))
        let refs = [FeatureReference(view: "customer_stats", feature: "total_spend")]
        func read() throws -> OnlineColumn {
            try store.onlineFeatures(features: refs, entities: EntityKeys("customer_id", [.int(1)])).column("total_spend")!
        }
        #expect(try read().statuses == [.notFound])

        let first = try await Self.mlinfra(["features", "materialize", "--data-dir", data, "2023-12-31", "2024-01-02"])
        #expect(first.status == 0, "\(first.output)")
        #expect(try read().values == [.double(5.5)])

        FileManager.default.createFile(
            atPath: ws.path + "/data/stats.csv",
            contents: Data("customer_id,event_timestamp,total_spend,txn_count\n1,2024-01-01T00:00:00Z,5.5,2\n1,2024-01-02T12:00:00Z,7.5,3\n".utf8))
        let second = try await Self.mlinfra(["features", "materialize-incremental", "--data-dir", data, "2024-01-03"])
        #expect(second.status == 0, "\(second.output)")
        let column = try read()
        #expect(column.values == [.double(7.5)])
        #expect(column.eventTimestamps == [Timestamp.parse("2024-01-02T12:00:00Z")!])
        // The HTTP handler reads through the same path.
        let (status, body) = OnlineJSON.handle(
            Data(#"{"features":["customer_stats:txn_count"],"entities":{"customer_id":[1]}}"#.utf8), store: store)
        #expect(status == 200)
        #expect(body.contains(#"{"values":[3],"statuses":["PRESENT"],"event_timestamps":["2024-01-02T12:00:00Z"]}"#))
    }

    @Test(.timeLimit(.minutes(1))) func featuresServeStopsCleanlyOnSIGTERM() async throws {
        let ws = Workspace()
        let data = ws.path + "/state"
        let store = try LocalFeatureStore(directory: data + "/features/main")
        try store.apply(Entity(name: "customer", joinKeys: ["customer_id"]))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.binary())
        let refused = try await Self.mlinfra(["features", "serve", "--data-dir", data, "--event-loops", "0"])
        #expect(refused.status != 0 && refused.output.contains("--event-loops must be at least 1"), "\(refused.output)")
        p.arguments = ["features", "serve", "--data-dir", data, "--port", "0", "--event-loops", "1"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Wait (off the task pool) for the "listening" line, then stop the server with SIGTERM.
        let line: String = await withCheckedContinuation { c in
            DispatchQueue.global().async {
                var text = ""
                while !text.contains("\n") {
                    let chunk = out.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                c.resume(returning: text)
            }
        }
        #expect(line.contains("listening on http://127.0.0.1:"), "\(line)")
        // libdispatch registers signal sources asynchronously: a signal in the first instants after
        // start can still find the plain SIG_IGN. Give it a moment, as a supervisor would.
        try await Task.sleep(for: .milliseconds(300))
        kill(p.processIdentifier, SIGTERM)
        let status: Int32? = await withCheckedContinuation { c in
            DispatchQueue.global().async {
                for _ in 0..<200 where p.isRunning { usleep(50_000) }
                guard !p.isRunning else {
                    kill(p.processIdentifier, SIGKILL)
                    c.resume(returning: nil)
                    return
                }
                c.resume(returning: p.terminationReason == .exit ? p.terminationStatus : -p.terminationStatus)
            }
        }
        #expect(status == 0, "still running 10 s after SIGTERM, or killed by it")
    }
}
