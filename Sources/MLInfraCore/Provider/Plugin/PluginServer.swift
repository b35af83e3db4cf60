import Foundation
import Logging

/// Serves a `Provider` over the plugin protocol on stdin/stdout (or any pair of file
/// handles): what `mlinfra provider serve NAME` runs, and what the test provider runs.
///
/// Requests are handled concurrently, each answered as soon as it is done, so a
/// slow `apply` does not hold up a `read`. Bad input gets a JSON-RPC error
/// answer and the server carries on. It stops after answering `shutdown`, or at
/// the end of its input, once the calls in flight have been answered or
/// `drainTimeout` has passed (the client is gone then, and a call that never ends
/// must not keep the process alive).
public struct PluginServer: Sendable {
    public let provider: any Provider
    public let name: String
    public let version: String
    public let drainTimeout: Duration
    private let input: FileHandle
    private let output: FileHandle
    private let logger: Logger

    public init(
        provider: any Provider,
        name: String,
        version: String,
        input: FileHandle = .standardInput,
        output: FileHandle = .standardOutput,
        drainTimeout: Duration = .seconds(30),
        logger: Logger? = nil
    ) {
        self.provider = provider
        self.name = name
        self.version = version
        self.drainTimeout = drainTimeout
        self.input = input
        self.output = output
        // stdout carries the protocol, so logs go to stderr.
        self.logger = logger ?? Logger(label: "mlinfra.plugin-server.\(name)", factory: { label in StreamLogHandler.standardError(label: label) })
    }

    /// Serves until `shutdown` or end of input. Failures are answered, not thrown; the
    /// signature throws so that a transport that can fail fits the same call.
    public func run() async throws {
        let writer = LineWriter(handle: output, label: "mlinfra.plugin-server.\(name).stdout")
        let (lines, sink) = AsyncStream.makeStream(of: Data.self)
        LineReader.start(
            fd: input.fileDescriptor, name: "mlinfra.plugin-server.\(name).stdin",
            onLine: { sink.yield($0) }, onEnd: { sink.finish() })
        let logger = logger
        let inFlight = InFlight()
        for await line in lines {
            await inFlight.begin()
            Task {
                let (answer, stop) = await self.respond(to: line)
                if let answer {
                    writer.send(answer) { error in
                        if let error { logger.error("cannot write an answer to stdout: \(error)") }
                    }
                }
                if stop { sink.finish() }
                await inFlight.end()
            }
        }
        if !(await inFlight.waitUntilIdle(upTo: drainTimeout)) {
            logger.warning("stopping with calls still running after \(drainTimeout); their answers are lost")
        }
        await writer.drain()
    }

    /// Counts the requests being handled, so the server can wait for them before it stops.
    private actor InFlight {
        private var count = 0
        private var waiters: [CheckedContinuation<Void, Never>] = []

        func begin() { count += 1 }

        func end() {
            count -= 1
            if count == 0 { release() }
        }

        /// True when every request finished within `limit`.
        func waitUntilIdle(upTo limit: Duration) async -> Bool {
            if count == 0 { return true }
            let timer = Task {
                try? await Task.sleep(for: limit)
                self.release()
            }
            await withCheckedContinuation { waiters.append($0) }
            timer.cancel()
            return count == 0
        }

        private func release() {
            let waiting = waiters
            waiters = []
            for waiter in waiting { waiter.resume() }
        }
    }

    /// The answer line to one request line (nil for a notification, which gets none).
    public func handle(line: Data) async -> Data? {
        await respond(to: line).answer
    }

    private func respond(to line: Data) async -> (answer: Data?, stop: Bool) {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return (nil, false) }
        let message: Value
        do {
            message = try JSONLine.value(from: line)
        } catch {
            let reason = (error as? DecodingError).map(JSONLine.explain) ?? "\(error)"
            return (encode(JSONRPC.error(id: .null, code: JSONRPC.ErrorCode.parseError, message: "parse error: \(reason)")), false)
        }
        guard case .map(let fields) = message else {
            return (invalid(id: .null, "a request must be a JSON object, got \(message.kindName)"), false)
        }
        let id = fields["id"]
        let answerID: Value
        switch id {
        case nil, .null?, .string?, .int?: answerID = id ?? .null
        default: return (invalid(id: .null, "`id` must be a string, an integer or null"), false)
        }
        guard fields["jsonrpc"] == .string("2.0") else {
            return (invalid(id: answerID, "`jsonrpc` must be \"2.0\""), false)
        }
        guard let methodName = fields["method"]?.stringValue else {
            return (invalid(id: answerID, "`method` must be a string"), false)
        }
        let params = fields["params"] ?? .map([:])
        let isNotification = id == nil
        guard let method = JSONRPC.Method(rawValue: methodName) else {
            if isNotification { return (nil, false) }
            return (
                encode(
                    JSONRPC.error(
                        id: answerID, code: JSONRPC.ErrorCode.methodNotFound,
                        message: "method not found: \(methodName)",
                        data: .string("Methods: \(JSONRPC.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
                    )), false
            )
        }
        let answer: Value
        do {
            answer = JSONRPC.response(id: answerID, result: try await dispatch(method, params))
        } catch let error as WireError {
            answer = JSONRPC.error(id: answerID, code: JSONRPC.ErrorCode.invalidParams, message: "invalid params: \(error.message)")
        } catch let error as UnsupportedProtocol {
            answer = JSONRPC.error(id: answerID, code: JSONRPC.ErrorCode.unsupportedProtocol, message: error.description)
        } catch let error as ProviderError {
            answer = JSONRPC.error(
                id: answerID, code: JSONRPC.ErrorCode.providerError, message: error.message,
                data: error.detail.isEmpty ? nil : ["detail": .string(error.detail)])
        } catch {
            answer = JSONRPC.error(id: answerID, code: JSONRPC.ErrorCode.providerError, message: "\(error)")
        }
        return (isNotification ? nil : encode(answer), method == .shutdown)
    }

    private struct UnsupportedProtocol: Error, CustomStringConvertible {
        var asked: Int
        var description: String {
            "unsupported protocol version \(asked): this provider speaks plugin protocol version \(JSONRPC.protocolVersion)"
        }
    }

    private func dispatch(_ method: JSONRPC.Method, _ params: Value) async throws -> Value {
        switch method {
        case .initialize:
            let fields = try WireFields(params, path: "")
            let asked = try fields.int("protocol_version")
            guard asked == JSONRPC.protocolVersion else { throw UnsupportedProtocol(asked: asked) }
            return ["name": .string(name), "version": .string(version), "protocol_version": .int(JSONRPC.protocolVersion)]
        case .schema:
            return try await provider.schema().wire
        case .configure:
            return try await provider.configure(ConfigureRequest(wire: params)).wire
        case .validate:
            return try await provider.validate(ValidateRequest(wire: params)).wire
        case .plan:
            return try await provider.plan(PlanRequest(wire: params)).wire
        case .apply:
            return try await provider.apply(ApplyRequest(wire: params)).wire
        case .read:
            return try await provider.read(ReadRequest(wire: params)).wire
        case .importResource:
            return try await provider.importResource(ImportRequest(wire: params)).wire
        case .planDelete:
            return try await provider.planDelete(PlanDeleteRequest(wire: params)).wire
        case .shutdown:
            return .null
        }
    }

    private func invalid(id: Value, _ message: String) -> Data? {
        encode(JSONRPC.error(id: id, code: JSONRPC.ErrorCode.invalidRequest, message: "invalid request: \(message)"))
    }

    private func encode(_ message: Value) -> Data? {
        do {
            return try JSONLine.encode(message)
        } catch {
            logger.error("cannot encode an answer: \(error)")
            let fallback = JSONRPC.error(
                id: message["id"] ?? .null, code: JSONRPC.ErrorCode.internalError,
                message: "the provider's answer cannot be written as JSON (numbers must be finite)")
            return try? JSONLine.encode(fallback)
        }
    }
}
