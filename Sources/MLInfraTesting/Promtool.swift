import Foundation

/// Prometheus' own linter, `promtool check metrics`, run on an exposition a test scraped.
public enum Promtool {
    /// What `promtool check metrics` said of an exposition: its exit status and its output (parse
    /// errors and lint problems, one a line; empty when the text is clean).
    public struct Verdict: Sendable {
        public var status: Int32
        public var output: String
    }

    /// Feeds `exposition` to `promtool check metrics`. The binary is `MLINFRA_PROMTOOL`, else
    /// `promtool` on PATH; a missing one fails saying how to install it.
    public static func checkMetrics(_ exposition: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Verdict {
        let binary = try TestDaemon.findBinary("promtool", variable: "MLINFRA_PROMTOOL", install: "`apt-get install prometheus` (Debian/Ubuntu; `.ci/run` does)",
                                               environment: environment)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-metrics-\(UUID().uuidString).prom")
        try Data(exposition.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, said) = try TestProcess.run(binary, ["check", "metrics"], input: file)
        return Verdict(status: status, output: said)
    }
}
