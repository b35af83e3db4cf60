import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The feature server's production listener: HTTP/1.1 on SwiftNIO, each request answered on the
/// event loop that read it (one loop per core).
///
/// A lookup is a few SQLite point reads on a pooled handle — microseconds — so hopping to another
/// thread would cost more than the work; here a request is parsed, looked up, encoded and written
/// without leaving its loop. Routes and answers are those of `FeatureServer.router()`:
/// `POST /get-online-features`, `GET /health`, JSON errors naming the field.
final class OnlineHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let store: LocalFeatureStore
    let limit: Int
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false

    init(store: LocalFeatureStore, limit: Int) {
        self.store = store
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            tooLarge = false
            body = nil
            if h.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .continue))), promise: nil)
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

    /// A malformed request (NIO's error handler has answered 400 already): drop the connection.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func answer(_ head: HTTPRequestHead) -> (Int, [UInt8]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
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

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: Int, _ json: [UInt8]) {
        let keepAlive = request.isKeepAlive
        var headers = HTTPHeaders()
        headers.reserveCapacity(4)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(json.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: json.count)
        buffer.writeBytes(json)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension FeatureServer {
    /// Binds the NIO listener; the returned channel serves until closed.
    func bindListener(host: String, port: Int) async throws -> any Channel {
        let store = self.store
        let limit = maxBodyBytes
        let group: any EventLoopGroup = eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0)) } ?? MultiThreadedEventLoopGroup.singleton
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OnlineHTTPHandler(store: store, limit: limit))
                }
            }
        return try await bootstrap.bind(host: host, port: port).get()
    }
}
