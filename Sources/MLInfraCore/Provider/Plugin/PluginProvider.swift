import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A provider that runs in another process and speaks the plugin protocol
/// (JSON-RPC 2.0 over stdin/stdout, one message per line; providers/README.md).
///
/// The plugin is started on the first call: its executable's sha256 is checked
/// against the spec before anything runs, then `initialize` checks the protocol
/// version. Calls are multiplexed by id over the one process, so they run
/// concurrently when the plugin answers concurrently.
///
/// Every call returns or throws a `ProviderError`; none hangs past its timeout,
/// whatever the plugin does (exits, crashes, prints garbage, answers an id it was
/// never sent, or stops answering). After such a failure the plugin is stopped
/// and later calls fail with the same explanation. Call `shutdown()` when done.
public actor PluginProvider: Provider {
    public nonisolated let spec: PluginSpec
    private let logger: Logger
    private let mlinfraVersion: String

    private enum Phase {
        case idle
        case starting(Task<Void, any Error>)
        case ready
        case failed(ProviderError)
        case shutDown
    }

    private struct PendingCall {
        var method: String
        var address: String?
        var continuation: CheckedContinuation<Value, any Error>
        var timeout: Task<Void, Never>
    }

    private var phase: Phase = .idle
    private var process: Process?
    private var writer: LineWriter?
    private var pipes: [Pipe] = []
    private let stderrTail = StderrTail()
    private var pending: [Int: PendingCall] = [:]
    private var nextID = 1
    /// Ids whose caller gave up (timeout, cancellation): a late answer is logged and dropped.
    private var abandoned: Set<Int> = []
    private var shuttingDown = false
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []
    private var exited = false

    /// What the plugin said about itself in `initialize`.
    public private(set) var pluginName: String?
    public private(set) var pluginVersion: String?

    public init(spec: PluginSpec, mlinfraVersion: String = MLInfraVersion.current, logger: Logger? = nil) {
        self.spec = spec
        self.mlinfraVersion = mlinfraVersion
        self.logger = logger ?? Logger(label: "mlinfra.plugin.\(spec.name)", factory: { label in StreamLogHandler.standardError(label: label) })
    }

    // MARK: Provider

    public func schema() async throws -> ProviderSchema {
        try await call(.schema, params: [:], address: nil)
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        try await call(.configure, params: request.wire, address: nil)
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        try await call(.validate, params: request.wire, address: request.address)
    }

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        try await call(.plan, params: request.wire, address: request.address)
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        try await call(.apply, params: request.wire, address: request.address)
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        try await call(.read, params: request.wire, address: request.address)
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        try await call(.importResource, params: request.wire, address: request.address)
    }

    /// A plugin written before `plan_delete` answers "method not found": it is taken to say
    /// that nothing holds the instance, which is what a provider without the call means.
    public func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse {
        try await call(.planDelete, params: request.wire, address: request.address)
    }

    /// Starts the plugin now (checking its hash and protocol version) rather than on the first call.
    public func start() async throws {
        try await ensureStarted()
    }

    /// Asks the plugin to stop (`shutdown`, then end of input), and ends it if it does not
    /// exit within `grace`. Later calls fail; calling it again does nothing.
    public func shutdown(grace: Duration = .seconds(5)) async {
        if shuttingDown { return }
        switch phase {
        case .shutDown:
            return
        case .starting(let task):
            _ = try? await task.value
        default:
            break
        }
        shuttingDown = true
        if case .ready = phase {
            _ = try? await send(method: JSONRPC.Method.shutdown.rawValue, params: [:], address: nil, timeout: grace)
        }
        phase = .shutDown
        writer?.close()
        writer = nil
        if process != nil {
            if !(await waitForExit(upTo: grace)) {
                process?.terminate()
                if !(await waitForExit(upTo: .seconds(2))), let pid = process?.processIdentifier {
                    kill(pid, SIGKILL)
                    _ = await waitForExit(upTo: .seconds(2))
                }
            }
        }
        failAll(ProviderError(provider: spec.name, message: "the plugin was shut down"))
    }

    // MARK: Calls

    private func call<Response: WireConvertible>(
        _ method: JSONRPC.Method, params: Value, address: String?
    ) async throws -> Response {
        try Task.checkCancellation()
        try await ensureStarted()
        let result = try await send(method: method.rawValue, params: params, address: address, timeout: spec.callTimeout)
        do {
            return try Response(wire: result)
        } catch {
            let failure = ProviderError(
                provider: spec.name,
                message: "plugin \(executableName) answered \(describe(method.rawValue, address)) with a malformed result: \(error.message)",
                detail: "The result must have the shape providers/README.md gives for `\(method.rawValue)`; this is a bug in the plugin.")
            throw failure
        }
    }

    private func ensureStarted() async throws {
        switch phase {
        case .ready:
            return
        case .failed(let error):
            throw error
        case .shutDown:
            throw ProviderError(provider: spec.name, message: "the plugin was already shut down")
        case .starting(let task):
            try await task.value
        case .idle:
            let task = Task { try await self.launchAndInitialize() }
            phase = .starting(task)
            try await task.value
        }
    }

    private func launchAndInitialize() async throws {
        do {
            try launch()
            let result = try await send(
                method: JSONRPC.Method.initialize.rawValue,
                params: ["protocol_version": .int(JSONRPC.protocolVersion), "mlinfra_version": .string(mlinfraVersion)],
                address: nil, timeout: spec.startTimeout)
            try checkHandshake(result)
            if case .starting = phase { phase = .ready }
        } catch let error as ProviderError {
            _ = fail(error)
            killPlugin()
            throw error
        } catch {
            let failure = ProviderError(provider: spec.name, message: "plugin \(executableName) could not be started", detail: "\(error)")
            _ = fail(failure)
            killPlugin()
            throw failure
        }
    }

    private func checkHandshake(_ result: Value) throws {
        guard case .map(let fields) = result, let name = fields["name"]?.stringValue,
            let version = fields["version"]?.stringValue, let protocolVersion = fields["protocol_version"]?.intValue
        else {
            throw ProviderError(
                provider: spec.name,
                message: "plugin \(executableName) answered `initialize` without name, version and protocol_version",
                detail: "It answered: \(JSONLine.excerpt((try? JSONLine.encode(result)) ?? Data()))")
        }
        guard protocolVersion == JSONRPC.protocolVersion else {
            throw ProviderError(
                provider: spec.name,
                message: "plugin \(name) \(version) speaks plugin protocol version \(protocolVersion), but this mlinfra speaks version \(JSONRPC.protocolVersion)",
                detail: protocolVersion > JSONRPC.protocolVersion
                    ? "Upgrade mlinfra, or use a release of the plugin for protocol version \(JSONRPC.protocolVersion)."
                    : "Upgrade the plugin to a release for protocol version \(JSONRPC.protocolVersion).")
        }
        pluginName = name
        pluginVersion = version
    }

    private var executableName: String {
        URL(fileURLWithPath: spec.command).lastPathComponent
    }

    private func describe(_ method: String, _ address: String?) -> String {
        address.map { "`\(method)` of \($0)" } ?? "`\(method)`"
    }

    /// Sends one request and waits for its answer, the plugin's end, or the timeout.
    private func send(method: String, params: Value, address: String?, timeout: Duration) async throws -> Value {
        guard let writer else {
            if case .failed(let error) = phase { throw error }
            throw ProviderError(provider: spec.name, message: "plugin \(executableName) is not running")
        }
        let id = nextID
        nextID += 1
        let line: Data
        do {
            line = try JSONLine.encode(JSONRPC.request(id: id, method: method, params: params))
        } catch {
            throw ProviderError(
                provider: spec.name, message: "cannot encode \(describe(method, address)) for the plugin",
                detail: "\(error) (numbers must be finite)")
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let timer = Task { [weak self] in
                    do { try await Task.sleep(for: timeout) } catch { return }
                    await self?.expire(id, after: timeout)
                }
                pending[id] = PendingCall(method: method, address: address, continuation: continuation, timeout: timer)
                writer.send(line) { [weak self] error in
                    guard let error else { return }
                    Task { await self?.writeFailed(id, error) }
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func finish(_ id: Int, with result: Result<Value, any Error>) {
        guard let call = pending.removeValue(forKey: id) else { return }
        call.timeout.cancel()
        call.continuation.resume(with: result)
    }

    private func expire(_ id: Int, after timeout: Duration) {
        guard let call = pending[id] else { return }
        abandoned.insert(id)
        finish(
            id,
            with: .failure(
                ProviderError(
                    provider: spec.name,
                    message: "plugin \(executableName) did not answer \(describe(call.method, call.address)) within \(timeout)",
                    detail: "The call was abandoned and its result, if it comes, is ignored. Raise providers.\(spec.name).timeout if the operation needs longer."
                        + stderrDetail(stderrTail.snapshot()))))
    }

    private func cancel(_ id: Int) {
        guard pending[id] != nil else { return }
        abandoned.insert(id)
        finish(id, with: .failure(CancellationError()))
    }

    /// A request could not be written: the plugin has most likely exited, and its exit,
    /// reported with status and stderr when its stdout ends, is the better explanation.
    /// The call fails with the write error only if that does not come soon.
    private func writeFailed(_ id: Int, _ error: any Error) {
        guard pending[id] != nil else { return }
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(2))
            await self?.failUnsent(id, error)
        }
    }

    private func failUnsent(_ id: Int, _ error: any Error) {
        guard let call = pending[id] else { return }
        finish(
            id,
            with: .failure(
                ProviderError(
                    provider: spec.name,
                    message: "cannot send \(describe(call.method, call.address)) to plugin \(executableName): \(error)",
                    detail: "The plugin closed its input." + stderrDetail(stderrTail.snapshot()))))
    }

    // MARK: The process

    private func launch() throws {
        let executable = try spec.verifiedExecutable()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = spec.arguments
        process.environment = ProcessInfo.processInfo.environment.merging(spec.environment) { _, new in new }
        if let directory = spec.workingDirectory {
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
        }
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        process.terminationHandler = { [weak self] _ in
            guard let self else { return }
            Task { await self.processTerminated() }
        }
        do {
            try process.run()
        } catch {
            throw ProviderError(provider: spec.name, message: "cannot start plugin \(executable)", detail: "\(error)")
        }
        self.process = process
        self.pipes = [input, output, errors]
        self.writer = LineWriter(handle: input.fileHandleForWriting, label: "mlinfra.plugin.\(spec.name).stdin")

        let name = spec.name
        let tail = stderrTail
        let logger = logger
        LineReader.start(
            fd: errors.fileHandleForReading.fileDescriptor, name: "mlinfra.plugin.\(name).stderr",
            onLine: { line in
                let text = String(decoding: line, as: UTF8.self)
                tail.append(text)
                logger.debug("\(text)", metadata: ["plugin": .string(name)])
            },
            onEnd: { tail.finish() })
        // One ordered stream of what the plugin writes, so an answer written just before
        // the plugin exits is delivered before its exit is reported.
        let (events, sink) = AsyncStream.makeStream(of: OutputEvent.self)
        LineReader.start(
            fd: output.fileHandleForReading.fileDescriptor, name: "mlinfra.plugin.\(name).stdout",
            onLine: { sink.yield(.line($0)) },
            onEnd: {
                PluginProvider.waitForTermination(of: process)
                tail.waitUntilFinished(timeout: 1)
                sink.yield(.ended)
                sink.finish()
            })
        Task {
            for await event in events {
                switch event {
                case .line(let line): self.received(line)
                case .ended: self.outputEnded()
                }
            }
        }
    }

    private enum OutputEvent: Sendable {
        case line(Data)
        case ended
    }

    /// Waits (on the reader's own thread) for the process to exit after it closed its stdout,
    /// killing it if it lingers, so the exit status is known.
    private nonisolated static func waitForTermination(of process: Process) {
        let deadline = ContinuousClock.now + .seconds(2)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private func waitForExit(upTo limit: Duration) async -> Bool {
        if exited { return true }
        let timer = Task { [weak self] in
            do { try await Task.sleep(for: limit) } catch { return }
            await self?.releaseExitWaiters()
        }
        await withCheckedContinuation { exitWaiters.append($0) }
        timer.cancel()
        return exited
    }

    private func releaseExitWaiters() {
        let waiters = exitWaiters
        exitWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    // MARK: What the plugin sends

    private func received(_ line: Data) {
        if case .failed = phase { return }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        switch JSONRPC.parseIncoming(line) {
        case .result(let id, let value):
            deliver(id, .success(value), line: line)
        case .error(let id, let code, let message, let data):
            guard let call = pending[id] else {
                deliver(id, .failure(CancellationError()), line: line)
                return
            }
            if code == JSONRPC.ErrorCode.methodNotFound && call.method == JSONRPC.Method.planDelete.rawValue {
                logger.debug("the plugin does not answer `plan_delete`: nothing holds what it deletes", metadata: ["plugin": .string(spec.name)])
                deliver(id, .success(.map([:])), line: line)
                return
            }
            var detail = data.map { data in data.stringValue ?? data["detail"]?.stringValue ?? data.rendered } ?? ""
            if code == JSONRPC.ErrorCode.methodNotFound {
                detail = "The plugin does not implement `\(call.method)`." + (detail.isEmpty ? "" : " \(detail)")
            }
            deliver(
                id,
                .failure(
                    ProviderError(
                        provider: spec.name,
                        message: "plugin \(executableName) failed \(describe(call.method, call.address)): \(message) (error \(code))",
                        detail: detail)),
                line: line)
        case .notification(let method, let params):
            if method == "log" {
                let message = params["message"]?.stringValue ?? params.rendered
                let level = params["level"]?.stringValue.flatMap(Logger.Level.init(rawValue:)) ?? .info
                logger.log(level: level, "\(message)", metadata: ["plugin": .string(spec.name)])
            } else {
                logger.debug("ignoring notification `\(method)` from the plugin", metadata: ["plugin": .string(spec.name)])
            }
        case .foreignID(let id):
            protocolFailure(
                "plugin \(executableName) answered a request id it was never sent (\(id.rendered))", line: line)
        case nil:
            protocolFailure("plugin \(executableName) wrote a line to stdout that is not JSON-RPC", line: line)
        }
    }

    private func deliver(_ id: Int, _ result: Result<Value, any Error>, line: Data) {
        if pending[id] != nil {
            finish(id, with: result)
        } else if abandoned.remove(id) != nil {
            logger.warning(
                "plugin \(executableName) answered request \(id) after it was abandoned; the answer is ignored",
                metadata: ["plugin": .string(spec.name)])
        } else if id >= nextID || id < 1 {
            protocolFailure("plugin \(executableName) answered a request id it was never sent (\(id))", line: line)
        } else {
            protocolFailure("plugin \(executableName) answered request \(id) twice", line: line)
        }
    }

    /// The plugin broke the protocol: fail every call, stop it, and refuse later calls.
    private func protocolFailure(_ message: String, line: Data) {
        let error = ProviderError(
            provider: spec.name, message: message,
            detail: "The line (first 200 characters): \(JSONLine.excerpt(line))\n"
                + "A plugin must write only JSON-RPC messages to stdout, one per line; logs go to stderr."
                + stderrDetail(stderrTail.snapshot()))
        _ = fail(error)
        killPlugin()
    }

    /// Ends a plugin that broke the protocol or failed to start: it gets no second chance.
    private func killPlugin() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
    }

    private func processTerminated() {
        exited = true
        releaseExitWaiters()
    }

    private func outputEnded() {
        exited = true
        releaseExitWaiters()
        if shuttingDown { return }
        let status = process?.terminationStatus ?? -1
        let reason = process?.terminationReason ?? .exit
        let how = reason == .uncaughtSignal ? "was killed by signal \(status)" : "exited with status \(status)"
        let lines = stderrTail.snapshot()
        for (id, call) in pending {
            finish(
                id,
                with: .failure(
                    ProviderError(
                        provider: spec.name,
                        message: "plugin \(executableName) \(how) during \(describe(call.method, call.address))",
                        detail: "The operation's outcome is unknown; the next plan refreshes it." + stderrDetail(lines))))
        }
        _ = fail(
            ProviderError(
                provider: spec.name, message: "plugin \(executableName) is not running: it \(how)",
                detail: stderrDetail(lines).trimmingCharacters(in: .newlines)))
        writer = nil
    }

    private func stderrDetail(_ lines: [String]) -> String {
        lines.isEmpty ? "" : "\nIts last stderr lines:\n" + lines.map { "  | \($0)" }.joined(separator: "\n")
    }

    /// Records the first failure (later calls get it) and fails every pending call with it.
    private func fail(_ error: ProviderError) -> ProviderError {
        let recorded: ProviderError
        if case .failed(let earlier) = phase {
            recorded = earlier
        } else {
            recorded = error
            if case .shutDown = phase {} else { phase = .failed(error) }
        }
        failAll(error)
        return recorded
    }

    private func failAll(_ error: ProviderError) {
        for id in Array(pending.keys) {
            finish(id, with: .failure(error))
        }
    }
}
