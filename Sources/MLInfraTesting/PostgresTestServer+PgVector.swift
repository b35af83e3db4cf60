import Foundation

/// Servers with the pgvector extension, for the vector store's tests.
///
/// Debian's PostgreSQL has no pgvector package here; the PyPI wheel `pgserver` ships PostgreSQL 16
/// with pgvector (`pgserver/pginstall/bin`, `lib/postgresql/vector.so`). The binaries come from,
/// in order: `MLINFRA_PGVECTOR_BIN`, the `pgserver` package of the python in
/// `MLINFRA_TEST_PYTHON` (CI sets it to its venv's python), the `pgserver` package of `python3`.
/// None found is a failure that says how to install it, never a skip.
extension PostgresTestServer {
    /// Starts a new server that can `CREATE EXTENSION vector`; the caller stops it.
    public static func startWithPgvector() async throws -> PostgresTestServer {
        try await start(binDirectory: try pgvectorBinaries())
    }

    private static let sharedPgvectorServer = SharedTestServer()

    /// The pgvector server this test process shares between suites, started on first use and stopped at exit.
    public static func sharedPgvector() async throws -> PostgresTestServer {
        try await sharedPgvectorServer.server { try await startWithPgvector() }
    }

    /// A bin directory of PostgreSQL binaries beside which pgvector's `vector.so` is installed.
    static func pgvectorBinaries(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var looked: [String] = []
        if let dir = environment["MLINFRA_PGVECTOR_BIN"], !dir.isEmpty {
            guard hasPgvector(dir) else { throw noPgvector("MLINFRA_PGVECTOR_BIN (\(dir)) holds no PostgreSQL binaries with pgvector's lib/postgresql/vector.so beside them") }
            return dir
        }
        for python in [environment["MLINFRA_TEST_PYTHON"], "python3"].compactMap({ $0 }).filter({ !$0.isEmpty }) {
            looked.append(python)
            guard let package = pgserverPackage(python) else { continue }
            let dir = package + "/pginstall/bin"
            if hasPgvector(dir) { return dir }
            looked[looked.count - 1] += " (pgserver at \(package), without pginstall/bin and vector.so)"
        }
        throw noPgvector("no pgserver package in " + looked.joined(separator: ", ") + ", and MLINFRA_PGVECTOR_BIN is unset")
    }

    private static func hasPgvector(_ bin: String) -> Bool {
        required.allSatisfy { FileManager.default.isExecutableFile(atPath: bin + "/" + $0) }
            && FileManager.default.fileExists(atPath: (bin as NSString).deletingLastPathComponent + "/lib/postgresql/vector.so")
    }

    /// Where `python`'s pgserver package is, or nil when it has none (or there is no such python).
    private static func pgserverPackage(_ python: String) -> String? {
        let program = python.contains("/") ? python : "/usr/bin/env"
        let arguments = (python.contains("/") ? [] : [python])
            + ["-c", "import os, pgserver; print('PGSERVER=' + os.path.dirname(pgserver.__file__))"]
        guard let result = try? run(program, arguments, as: nil), result.status == 0 else { return nil }
        // Python may warn on stderr (the two arrive together); the answer is the marked line.
        return result.output.split(separator: "\n").first { $0.hasPrefix("PGSERVER=") }.map { String($0.dropFirst("PGSERVER=".count)) }
    }

    private static func noPgvector(_ what: String) -> PostgresTestServerError {
        PostgresTestServerError(
            "a PostgreSQL server with pgvector is needed, but \(what)",
            remedy: "`pip install pgserver==0.1.4` (PostgreSQL 16 with pgvector) and set MLINFRA_TEST_PYTHON to that python, "
                + "or set MLINFRA_PGVECTOR_BIN to a PostgreSQL bin directory whose ../lib/postgresql holds vector.so; "
                + "the binaries must be readable and executable by the user `postgres` when the tests run as root")
    }
}
