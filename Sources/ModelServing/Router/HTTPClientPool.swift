import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A reply read whole from a replica.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer
}

/// Why a request to a replica got no (complete) answer.
public enum HTTPPoolError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No connection could be made (refused, unreachable, connect timeout).
    case connectFailed(String)
    /// The connection closed before any byte of the response came.
    case closedBeforeResponse
    /// The connection closed in the middle of the response.
    case closedDuringResponse
    /// No complete response within the timeout.
    case timedOut(Double)

    /// True when the replica cannot have answered: the request may go to another replica.
    public var isBeforeResponse: Bool {
        switch self {
        case .connectFailed, .closedBeforeResponse: true
        case .closedDuringResponse, .timedOut: false
        }
    }

    public var description: String {
        switch self {
        case .connectFailed(let why): "cannot connect: \(why)"
        case .closedBeforeResponse: "connection closed before any response"
        case .closedDuringResponse: "connection closed during the response"
        case .timedOut(let s): "no response within \(s)s"
        }
    }
}

/// A small HTTP/1.1 client for loopback replicas: keep-alive connections pooled per
/// `host:port`, one request at a time per connection, whole bodies.
///
/// The router needs little of a general HTTP client (no TLS, redirects, proxies or HTTP/2),
/// but it needs to know whether a failed request got any response byte, to retry it safely
/// on another replica. A request that fails on a reused idle connection before any response
/// is sent once more on a fresh connection to the same replica: the replica may simply have
/// closed that idle connection.
public final class HTTPClientPool: Sendable {
    private let group: any EventLoopGroup
    private let idle = Mutex<[String: [any Channel]]>([:])
    private let maxIdlePerHost: Int
    private let connectTimeout: TimeAmount

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maxIdlePerHost: Int = 256,
                connectTimeout: TimeAmount = .seconds(2)) {
        self.group = group
        self.maxIdlePerHost = maxIdlePerHost
        self.connectTimeout = connectTimeout
    }

    /// Sends a request and reads the whole reply; `headers` are added to the request's own.
    public func execute(host: String = "127.0.0.1", port: Int, method: HTTPMethod = .POST, path: String,
                        body: ByteBuffer? = nil, contentType: String = "application/json", headers: [(String, String)] = [],
                        timeout: Double = 60) async throws -> HTTPReply {
        let key = "\(host):\(port)"
        if let channel = takeIdle(key) {
            do {
                return try await send(channel, key: key, host: host, method: method, path: path, body: body, contentType: contentType,
                                      headers: headers, timeout: timeout)
            } catch HTTPPoolError.closedBeforeResponse {
                // A stale keep-alive connection: try a fresh one below.
            }
        }
        let channel = try await connect(host: host, port: port)
        return try await send(channel, key: key, host: host, method: method, path: path, body: body, contentType: contentType,
                              headers: headers, timeout: timeout)
    }

    /// Closes every idle connection.
    public func closeIdle() {
        let all = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for c in all { c.close(promise: nil) }
    }

    private func takeIdle(_ key: String) -> (any Channel)? {
        idle.withLock { idle in
            while var list = idle[key], let channel = list.popLast() {
                idle[key] = list
                if channel.isActive { return channel }
            }
            return nil
        }
    }

    private func putIdle(_ key: String, _ channel: any Channel) {
        let kept = idle.withLock { idle -> Bool in
            guard (idle[key]?.count ?? 0) < maxIdlePerHost else { return false }
            idle[key, default: []].append(channel)
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    private func connect(host: String, port: Int) async throws -> any Channel {
        do {
            return try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw HTTPPoolError.connectFailed("\(host):\(port): \(error)")
        }
    }

    private func send(_ channel: any Channel, key: String, host: String, method: HTTPMethod, path: String, body: ByteBuffer?,
                      contentType: String, headers: [(String, String)], timeout: Double) async throws -> HTTPReply {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "host", value: host)
        head.headers.add(contentsOf: headers)
        if let body {
            head.headers.add(name: "content-type", value: contentType)
            head.headers.add(name: "content-length", value: String(body.readableBytes))
        }
        let promise = channel.eventLoop.makePromise(of: ExchangeHandler.Result.self)
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
            channel.pipeline.fireUserInboundEventTriggered(ExchangeHandler.TimedOut(seconds: timeout))
        }
        // A kept-alive connection can close between `takeIdle` and this write; the write then
        // fails (or reaches the handler after `channelInactive` was seen), and nothing else would
        // complete the exchange: fail it here, as the request was not delivered.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in promise.fail(HTTPPoolError.closedBeforeResponse) }
        channel.writeAndFlush(ExchangeHandler.Exchange(head: head, body: body, promise: promise), promise: written)
        let result: ExchangeHandler.Result
        do {
            result = try await promise.futureResult.get()
            deadline.cancel()
        } catch {
            deadline.cancel()
            channel.close(promise: nil)
            throw error
        }
        if result.keepAlive { putIdle(key, channel) } else { channel.close(promise: nil) }
        return HTTPReply(status: Int(result.head.status.code), headers: result.head.headers, body: result.body)
    }
}

/// Writes one request and collects its response; fails the exchange if the connection ends first.
final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    struct Exchange: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var promise: EventLoopPromise<Result>
    }

    struct Result: Sendable {
        var head: HTTPResponseHead
        var body: ByteBuffer
        var keepAlive: Bool
    }

    /// Sent down the pipeline when an exchange's deadline passes.
    struct TimedOut: Sendable {
        var seconds: Double
    }

    private var pending: EventLoopPromise<Result>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        pending = exchange.promise
        head = nil
        body = nil
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let b = exchange.body { context.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body(var b):
            if body == nil { body = b } else { body!.writeBuffer(&b) }
        case .end:
            guard let promise = pending, let h = head else { return }
            pending = nil
            promise.succeed(Result(head: h, body: body ?? ByteBuffer(), keepAlive: h.isKeepAlive))
            head = nil
            body = nil
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let timeout = event as? TimedOut {
            fail(.timedOut(timeout.seconds))
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(head == nil ? HTTPPoolError.closedBeforeResponse : HTTPPoolError.closedDuringResponse)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(head == nil ? HTTPPoolError.closedBeforeResponse : HTTPPoolError.closedDuringResponse)
        context.close(promise: nil)
    }

    private func fail(_ error: HTTPPoolError) {
        guard let promise = pending else { return }
        pending = nil
        promise.fail(error)
    }
}
