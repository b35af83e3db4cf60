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
