import Foundation
import Testing

/// The engine commands through the real binary: a failure while running is `Error: …` and exit 1;
/// only a malformed command line gets the usage text and 64.
@Suite struct EngineCommandExitTests {
    @Test func engineCommandRuntimeErrorsExitOneWithAMessageAndNoUsageText() async throws {
        let h = try CLIHarness()
        let data = h.directory.appendingPathComponent("data").path
        for args in [
            ["endpoints", "status", "nope", "--data-dir", data],
            ["vectors", "query", "nope", "--vector", "[1, 0, 0]", "--data-dir", data],
            ["models", "list", "--spec", h.directory.appendingPathComponent("missing/spec.yaml").path],
        ] {
            let r = try await h.run(args)
            #expect(r.status == 1, "\(args): \(r.status) \(r.err)")
            #expect(r.err.hasPrefix("Error: "), "\(args): \(r.err)")
            #expect(!r.err.contains("USAGE"), "\(args): \(r.err)")
        }
    }

    @Test func aMalformedCommandLineStillExits64WithTheUsage() async throws {
        let h = try CLIHarness()
        let r = try await h.run("endpoints", "status")
        #expect(r.status == 64)
        #expect(r.err.contains("Usage") || r.err.contains("USAGE"), "\(r.err)")
    }
}
