import Foundation
import Synchronization

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

/// A command's exit status with its standard output and error kept apart.
public struct TestRun: Sendable {
    public var status: Int32
    public var out: String
    public var err: String

    public init(status: Int32, out: String, err: String) {
        self.status = status
        self.out = out
        self.err = err
    }
}

extension TestProcess {
    /// A process set up to run `executable` in `directory` with this process's environment,
    /// `NO_COLOR=1` and `environment` added, no input, and its output and error on their own pipes.
    public static func prepare(
        _ executable: String, _ arguments: [String], in directory: URL, environment: [String: String]
    ) -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = directory
        var merged = ProcessInfo.processInfo.environment
        merged["NO_COLOR"] = "1"
        merged.merge(environment) { $1 }
        p.environment = merged
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        return (p, out, err)
    }

    /// Waits for the end of a started `process`, whose output and error go to `out` and `err`, on a
    /// Dispatch thread, so waiting never blocks the test's task pool. Standard error is read on its
    /// own thread so neither pipe can fill up and stall the child.
    public static func finish(_ process: Process, out: Pipe, err: Pipe) async -> TestRun {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let errData = ReadData()
                let group = DispatchGroup()
                group.enter()
                DispatchQueue.global().async {
                    errData.set(err.fileHandleForReading.readDataToEndOfFile())
                    group.leave()
                }
                let o = out.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                process.waitUntilExit()
                continuation.resume(
                    returning: TestRun(
                        status: process.terminationStatus, out: String(decoding: o, as: UTF8.self),
                        err: String(decoding: errData.get(), as: UTF8.self)))
            }
        }
    }
}

/// Bytes handed from the thread that reads them to the one that waits.
private final class ReadData: Sendable {
    private let data = Mutex(Data())
    func set(_ d: Data) { data.withLock { $0 = d } }
    func get() -> Data { data.withLock { $0 } }
}
