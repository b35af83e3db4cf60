import Foundation
import MLInfraHTTP
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The feature server's production listener: HTTP/1.1 on SwiftNIO, each request answered on the
/// event loop that read it (one loop per core).
///
/// A lookup is a few SQLite point reads on a pooled handle — microseconds — so hopping to another
/// thread would cost more than the work; here a request is parsed, looked up, encoded and written
/// without leaving its loop. Requests are read by NIO's HTTP decoder; the answer is written as one
/// buffer (status line, headers and body) and flushed when the read is done, so a pipelined batch
/// leaves in one write. Answers are in request order because each is written before the next
/// request is read, which is what NIO's pipelining handler would otherwise enforce. Routes and
/// answers are those of `FeatureServer.router()`: `POST /get-online-features`, `GET /health`,
/// JSON errors naming the field.
final class OnlineHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    let store: LocalFeatureStore
    let limit: Int
    let policy: ServerPolicy
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    /// A response was written and not yet flushed.
    private var pending = false
    /// The connection is closing (after a `Connection: close` answer or a malformed request).
    private var closing = false

    init(store: LocalFeatureStore, limit: Int, policy: ServerPolicy) {
        self.store = store
        self.limit = limit
        self.policy = policy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            tooLarge = false
            body = nil
            if h.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                var buffer = context.channel.allocator.buffer(capacity: 32)
                buffer.writeString(h.version.minor == 0 ? "HTTP/1.0 100 Continue\r\n\r\n" : "HTTP/1.1 100 Continue\r\n\r\n")
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        case .body(var chunk):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > limit {
                tooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, json) = answer(head)
            body = nil
            respond(context, head, status, json)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfPending(context)
        context.fireChannelReadComplete()
    }

    /// A malformed request: answer 400 (as NIO's protocol error handler would) and close.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        closing = true
        guard error is HTTPParserError else {
            context.close(promise: nil)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 96)
        buffer.writeString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func answer(_ head: HTTPRequestHead) -> (Int, [UInt8]) {
        let path = head.uri.firstIndex(of: "?").map { String(head.uri[..<$0]) } ?? head.uri
        if let refusal = FeatureServer.check(head, path: path, policy: policy) {
            return (refusal.status, Array(OnlineJSON.error(field: refusal.field, message: refusal.message).utf8))
        }
        switch (head.method, path) {
        case (.POST, "/get-online-features"):
            if tooLarge { return (413, Array(OnlineJSON.error(field: "body", message: "larger than \(limit) bytes").utf8)) }
            guard let body else { return OnlineJSON.handle(bytes: UnsafeRawBufferPointer(start: nil, count: 0), store: store) }
            return body.withUnsafeReadableBytes { OnlineJSON.handle(bytes: $0, store: store) }
        case (.GET, "/health"):
            return (200, Array(#"{"status":"ok"}"#.utf8))
        case (_, "/get-online-features"), (_, "/health"):
            return (405, Array(OnlineJSON.error(field: "method", message: "\(head.method.rawValue) is not allowed here").utf8))
        default:
            return (404, Array(OnlineJSON.error(field: "path", message: "no route \(path); use POST /get-online-features").utf8))
        }
    }

    /// Writes the whole answer as one buffer; flushed at the end of the read (or now, when closing).
    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: Int, _ json: [UInt8]) {
        let keepAlive = request.isKeepAlive
        var buffer = context.channel.allocator.buffer(capacity: json.count + 128)
        buffer.writeStaticString(request.version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        if status == 200 {
            buffer.writeStaticString("200 OK\r\n")
        } else {
            buffer.writeString("\(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)\r\n")
        }
        buffer.writeStaticString("Content-Type: application/json\r\nContent-Length: ")
        buffer.writeString(String(json.count))
        buffer.writeStaticString("\r\n")
        if !keepAlive {
            buffer.writeString("Connection: close\r\n")
        } else if request.version.minor == 0 {
            buffer.writeString("Connection: keep-alive\r\n")
        }
        buffer.writeString("\r\n")
        buffer.writeBytes(json)
        if keepAlive {
            context.write(wrapOutboundOut(buffer), promise: nil)
            pending = true
        } else {
            closing = true
            pending = false
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func flushIfPending(_ context: ChannelHandlerContext) {
        if pending {
            pending = false
            context.flush()
        }
    }
}

extension FeatureServer {
    /// Binds the NIO listener; the returned channel serves until closed.
    func bindListener(host: String, port: Int) async throws -> any Channel {
        let store = self.store
        let limit = maxBodyBytes
        var policy = self.policy
        policy.maxBodyBytes = limit
        OpenFileLimit.raise()
        let counter = ConnectionCounter()
        let tls = try policy.tls?.makeContext()
        let group: any EventLoopGroup = eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0)) } ?? MultiThreadedEventLoopGroup.singleton
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionGuard<HTTPServerRequestPart, ByteBuffer>(policy: policy, counter: counter))
                    try channel.pipeline.syncOperations.addHandler(OnlineHTTPHandler(store: store, limit: limit, policy: policy))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        // Keeps the WAL read slot the requests use held by the process, moved to the newest commit
        // every 20 ms (`OnlineReader.holdReadLock`).
        let reader = store.reader
        reader.holdReadLock()
        let refresh = channel.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { _ in
            reader.holdReadLock()
        }
        channel.closeFuture.whenComplete { _ in
            refresh.cancel()
            reader.releaseReadLock()
        }
        return channel
    }
}
