import Foundation

/// A command run to its end, for tests: its exit status and its standard output and error together.
public enum TestProcess {
    /// Runs `executable` with `arguments`; `input` is a file fed to its standard input.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: URL? = nil
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let input { process.standardInput = try FileHandle(forReadingFrom: input) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
