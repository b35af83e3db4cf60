import Foundation

/// The Python that drives the peers' own client libraries (mlflow, feast, tritonclient) in
/// tests: `MLINFRA_TEST_PYTHON`, else the venv `.ci/run` makes, else `python3` — the first that
/// imports every module asked for. When none does, the test fails saying how to get one; it is
/// never skipped.
public enum PeerPython {
    public static let variable = "MLINFRA_TEST_PYTHON"
    public static let ciVenv = "/tmp/mlinfra-ci-venv/bin/python"

    public struct Missing: Error, CustomStringConvertible {
        public var modules: [String]
        public var description: String {
            "no Python with \(modules.joined(separator: ", ")) was found (tried \(variable), \(ciVenv) and python3): run .ci/run once "
                + "(it makes \(ciVenv) from .ci/requirements.txt), or `pip install -r .ci/requirements.txt` into a venv and set \(variable) to its python"
        }
    }

    /// The path of a Python that imports `modules`.
    public static func require(_ modules: [String]) throws -> String {
        var candidates: [String] = []
        if let set = ProcessInfo.processInfo.environment[variable], !set.isEmpty { candidates.append(set) }
        candidates += [ciVenv, "/usr/bin/python3", "/usr/local/bin/python3"]
        for python in candidates where FileManager.default.isExecutableFile(atPath: python) && imports(python, modules) {
            return python
        }
        throw Missing(modules: modules)
    }

    /// Runs `script` (written to a temporary file) with `arguments` and returns its standard output;
    /// a failing script throws with its standard error.
    public static func run(_ python: String, script: String, arguments: [String], environment: [String: String] = [:]) throws -> Data {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("oracle-\(UUID().uuidString).py")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [file.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // Standard error goes to a file, not a second pipe: a script that writes much of it
        // (a client library's warnings and logs) would otherwise block while its output is read.
        let errorFile = file.deletingPathExtension().appendingPathExtension("stderr")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else { throw ScriptFailed(stderr: "cannot create \(errorFile.path)") }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let errorHandle = try FileHandle(forWritingTo: errorFile)
        defer { try? errorHandle.close() }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = errorHandle
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ScriptFailed(stderr: String(decoding: (try? Data(contentsOf: errorFile)) ?? Data(), as: UTF8.self))
        }
        return data
    }

    public struct ScriptFailed: Error, CustomStringConvertible {
        public var stderr: String
        public var description: String { "the Python script failed:\n\(stderr)" }
    }

    private static func imports(_ python: String, _ modules: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", modules.map { "import \($0)" }.joined(separator: "; ")]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
}
