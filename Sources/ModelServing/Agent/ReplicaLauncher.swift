import Foundation
import Synchronization

/// What a replica serves.
public struct ReplicaSpec: Sendable, Hashable {
    public var endpoint: String
    public var model: ResolvedModel
    public var host: String
    /// Where `entities` requests read features, if the endpoint names a feature view or service.
    public var features: FeatureBinding?
    public init(endpoint: String, model: ResolvedModel, host: String = "127.0.0.1", features: FeatureBinding? = nil) {
        self.endpoint = endpoint
        self.model = model
        self.host = host
        self.features = features
    }
}

/// A running replica worker.
public protocol ReplicaInstance: Sendable {
    var pid: Int32 { get }
    var port: Int { get }
    /// Asks it to finish its requests and stop (SIGTERM).
    func terminate()
    /// Stops it at once (SIGKILL).
    func kill()
    /// Waits until it has stopped; returns its exit status.
    func waitForExit() async -> Int32
}

/// Starts replica workers.
public protocol ReplicaLauncher: Sendable {
    /// Starts a replica and returns once it listens (its model loaded and checked).
    func launch(_ spec: ReplicaSpec) async throws -> any ReplicaInstance
}

/// A replica that failed to start, with the reason.
public struct ReplicaLaunchError: Error, Sendable, CustomStringConvertible {
    public var version: String
    public var message: String
    public var description: String { "replica of \(version) did not start: \(message)" }
}

/// Starts each replica as a process of an executable: `EXECUTABLE ARGS… --model-path … --port 0 …`,
/// which prints `{"listening": PORT}` on its standard output once it serves, or
/// `{"error": "…"}` when it cannot start (the message becomes the launch error).
/// The replica's standard error goes to ours (the agent's log).
public struct ProcessReplicaLauncher: ReplicaLauncher {
    public var executable: URL
    /// The arguments before the replica options, e.g. `["endpoints", "replica"]`.
    public var arguments: [String]
    public var startTimeout: Double

    public init(executable: URL, arguments: [String] = ["endpoints", "replica"], startTimeout: Double = 120) {
        self.executable = executable
        self.arguments = arguments
        self.startTimeout = startTimeout
    }

    /// The arguments a replica process gets for a spec (the `endpoints replica` command parses them).
    public static func replicaArguments(_ spec: ReplicaSpec, parent: Int32) -> [String] {
        var features: [String] = []
        if let f = spec.features { features = ["--features", f.description, "--features-dir", f.storeDirectory] }
        return [
            "--endpoint", spec.endpoint,
            "--model-name", spec.model.name,
            "--version", spec.model.version,
            "--format", spec.model.format.rawValue,
            "--model-path", spec.model.path,
            "--sha256", spec.model.sha256,
            "--host", spec.host,
            "--port", "0",
            "--parent-pid", String(parent),
        ] + features
    }

    public func launch(_ spec: ReplicaSpec) async throws -> any ReplicaInstance {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments + Self.replicaArguments(spec, parent: getpid())
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        let exit = ExitSignal()
        process.terminationHandler = { p in exit.finish(p.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw ReplicaLaunchError(version: spec.model.version, message: "cannot run \(executable.path): \(error)")
        }
        let pid = process.processIdentifier
        let handle = output.fileHandleForReading
        let started: StartLine? = await withTaskGroup(of: StartLine?.self) { group in
            group.addTask { await Self.readPort(handle) }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(startTimeout * 1e9))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard case .listening(let port) = started else {
            Foundation.kill(pid, SIGKILL)
            let status = await exit.wait()
            if case .error(let message) = started {
                throw ReplicaLaunchError(version: spec.model.version, message: message)
            }
            throw ReplicaLaunchError(version: spec.model.version,
                                     message: "the process exited (status \(status)) or did not listen within \(Int(startTimeout))s; see the agent log for its error")
        }
        // Keep draining its standard output so a chatty replica never blocks on a full pipe.
        DispatchQueue.global().async {
            while !handle.availableData.isEmpty {}
        }
        return ProcessReplica(pid: pid, port: port, exit: exit, process: ProcessBox(process))
    }

    /// What a replica prints once it has started, or failed to.
    enum StartLine: Sendable, Equatable {
        case listening(Int)
        case error(String)
    }

    /// Reads lines until `{"listening": PORT}` or `{"error": "…"}`; nil at end of file.
    static func readPort(_ handle: FileHandle) async -> StartLine? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var pending = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty {
                        continuation.resume(returning: nil)
                        return
                    }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = pending[pending.startIndex..<newline]
                        pending = Data(pending[(newline + 1)...])
                        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
                        if let port = (object["listening"] as? NSNumber)?.intValue {
                            continuation.resume(returning: .listening(port))
                            return
                        }
                        if let message = object["error"] as? String {
                            continuation.resume(returning: .error(message))
                            return
                        }
                    }
                }
            }
        }
    }
}

/// Holds a `Process` so it stays alive as long as the replica; only its pid is used after start.
final class ProcessBox: @unchecked Sendable {
    // Never touched after `run()`; kept only to own the object Foundation reaps the child with.
    let process: Process
    init(_ process: Process) { self.process = process }
}

final class ProcessReplica: ReplicaInstance {
    let pid: Int32
    let port: Int
    let exit: ExitSignal
    let box: ProcessBox

    init(pid: Int32, port: Int, exit: ExitSignal, process: ProcessBox) {
        self.pid = pid
        self.port = port
        self.exit = exit
        box = process
    }

    func terminate() { if !exit.finished { Foundation.kill(pid, SIGTERM) } }
    func kill() { if !exit.finished { Foundation.kill(pid, SIGKILL) } }
    func waitForExit() async -> Int32 { await exit.wait() }
}

/// A one-shot signal carrying an exit status, awaited by any number of tasks.
final class ExitSignal: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Mutex(State())

    var finished: Bool { state.withLock { $0.status != nil } }

    func finish(_ status: Int32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
            guard s.status == nil else { return [] }
            s.status = status
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: status) }
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let done = state.withLock { s -> Int32? in
                if let status = s.status { return status }
                s.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}
