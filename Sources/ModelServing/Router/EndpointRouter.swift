import CaptureStorage
import Foundation
import Hummingbird
import Prometheus
import MLInfraHTTP
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The router on an endpoint's port: spreads requests over the replicas in a `RoutingTable`,
/// retries once on another replica when a connection fails before any response, counts
/// latency and errors per version, and hands a sampled share of exchanges to the capture writer.
/// Every prediction is answered with an `x-mlinfra-request-id` (the client's `x-request-id` when
/// it sent a usable one), which `POST /feedback` takes back with the true label.
public final class EndpointRouter: Sendable {
    public let endpoint: String
    public let table: RoutingTable
    public let metrics: RequestMetrics
    private let client: HTTPClientPool
    private let capture: CaptureWriter?
    private let capturePercent: Atomic<Int>  // hundredths of a percent
    private let sampleCounter = Atomic<Int>(0)
    private let retries = Atomic<Int>(0)
    private let logger: Logger
    /// The wall time captured rows and feedback are stamped with (`Date()`; a test's manual clock).
    private let now: @Sendable () -> Date
    /// Request ids are `<random prefix of this router>-<sequence number>`: unique without a lookup.
    private let requestPrefix = String(UInt64.random(in: 1 << 40 ..< 1 << 44), radix: 16)
    private let requestCounter = Atomic<Int>(0)

    public init(endpoint: String, table: RoutingTable, client: HTTPClientPool, capture: CaptureWriter?, capturePercent: Double, logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.endpoint = endpoint
        self.now = now
        self.table = table
        self.client = client
        self.capture = capture
        self.capturePercent = Atomic(Int((capturePercent * 100).rounded()))
        self.logger = logger
        metrics = RequestMetrics(prefix: "mlinfra_router", labels: [("endpoint", endpoint)])
    }

    public func setCapturePercent(_ percent: Double) {
        capturePercent.store(Int((percent * 100).rounded()), ordering: .relaxed)
    }

    /// Requests that were sent again to another replica after a connection failure.
    public var retried: Int { retries.load(ordering: .relaxed) }

    /// A reply as the router sends it.
    public struct Reply: Sendable {
        public var status: Int
        public var body: ByteBuffer
        public var version: String?
        public var requestID: String? = nil
        /// The replica's `Inference-Header-Content-Length`: the body is a JSON header and binary tensors.
        public var inferenceHeader: String? = nil
    }

    /// Sends one request to a replica (and to a second one if the first connection fails before any response).
    /// `inferenceHeader` is the client's `Inference-Header-Content-Length` (a body with binary tensors), passed on.
    /// `version` pins the request to that version's replicas (`/v2/models/{m}/versions/{v}/…`).
    public func forward(method: NIOHTTP1.HTTPMethod = .POST, path: String, body: ByteBuffer, kind: CaptureWriter.Exchange.Kind?,
                        requestID: String? = nil, inferenceHeader: String? = nil, version: String? = nil) async -> Reply {
        var reply = await send(method: method, path: path, body: body, kind: kind, requestID: requestID, inferenceHeader: inferenceHeader,
                               version: version)
        reply.requestID = requestID
        return reply
    }

    private func send(method: NIOHTTP1.HTTPMethod, path: String, body: ByteBuffer, kind: CaptureWriter.Exchange.Kind?, requestID: String?,
                      inferenceHeader: String?, version: String?) async -> Reply {
        let start = DispatchTime.now().uptimeNanoseconds
        metrics.enter()
        defer { metrics.leave() }
        guard var backend = table.acquire(version: version) else {
            metrics.observe(version: "none", seconds: 0, failed: true)
            if let version {
                return Reply(status: 404, body: ByteBuffer(string: RequestError(status: 404, field: "model_version",
                    message: "endpoint \(endpoint) has no ready replica of version \"\(version)\"; it serves \(table.weights.keys.sorted().joined(separator: ", "))").json),
                    version: nil)
            }
            return Reply(status: 503, body: ByteBuffer(string: RequestError(status: 503, field: "endpoint",
                message: "endpoint \(endpoint) has no ready replica; check `mlinfra endpoints status \(endpoint)`").json), version: nil)
        }
        var retried = false
        while true {
            let reply: HTTPReply
            do {
                reply = try await client.execute(
                    host: backend.host, port: backend.port, method: method, path: path, body: method == .POST ? body : nil,
                    contentType: inferenceHeader == nil ? "application/json" : "application/octet-stream",
                    headers: inferenceHeader.map { [(InferenceBinary.headerName, $0)] } ?? [])
            } catch {
                table.release(backend)
                if !retried, let e = error as? HTTPPoolError, e.isBeforeResponse {
                    table.setHealthy(backend.id, false)
                    if let other = table.acquire(excluding: backend.id, version: version) {
                        logger.warning("replica \(backend.host):\(backend.port) (\(backend.version)) failed before answering (\(e)); retrying on port \(other.port)")
                        retries.add(1, ordering: .relaxed)
                        backend = other
                        retried = true
                        continue
                    }
                }
                return finish(backend: backend, start: start, status: 502, failed: true,
                              body: ByteBuffer(string: RequestError(status: 502, field: "endpoint",
                                  message: "replica of \(backend.version) failed: \(error)").json))
            }
            table.release(backend)
            var result = finish(backend: backend, start: start, status: reply.status, failed: reply.status >= 500, body: reply.body)
            result.inferenceHeader = reply.headers.first(name: InferenceBinary.headerName)
            if reply.status == 200, let kind {
                maybeCapture(kind: kind, version: backend.version, request: body, response: reply.body, start: start, requestID: requestID,
                             headerLengths: (inferenceHeader.flatMap { Int($0) }, result.inferenceHeader.flatMap { Int($0) }))
            }
            return result
        }
    }

    private func finish(backend: RoutingTable.Backend, start: UInt64, status: Int, failed: Bool, body: ByteBuffer) -> Reply {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        metrics.observe(version: backend.version, seconds: seconds, failed: failed)
        return Reply(status: status, body: body, version: backend.version)
    }

    /// Samples evenly: request n (from 1) is captured when ⌈n·p⌉ moves past ⌈(n−1)·p⌉, so the
    /// first request is always captured (then 1 in 1/p): a newcomer who sends a few requests and
    /// runs a monitor sees rows.
    private func maybeCapture(kind: CaptureWriter.Exchange.Kind, version: String, request: ByteBuffer, response: ByteBuffer, start: UInt64,
                              requestID: String?, headerLengths: (request: Int?, response: Int?)) {
        guard let capture else { return }
        let p = capturePercent.load(ordering: .relaxed)
        guard p > 0 else { return }
        let n = sampleCounter.add(1, ordering: .relaxed).newValue
        guard (n * p + 9_999) / 10_000 != ((n - 1) * p + 9_999) / 10_000 else { return }
        guard let info = table.versionInfo(version) else { return }
        capture.submit(.init(endpoint: endpoint, version: version, time: now().timeIntervalSince1970, kind: kind,
                             request: Data(request.readableBytesView), response: Data(response.readableBytesView),
                             latencyMs: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6,
                             featureNames: info.featureNames, outputNames: info.outputNames, requestID: requestID,
                             requestHeaderLength: headerLengths.request, responseHeaderLength: headerLengths.response))
    }

    /// The client's `x-request-id` when it is 1–128 visible ASCII characters without `#`, else a new id.
    public func requestID(clientGiven: String?) -> String {
        if let given = clientGiven, (1...128).contains(given.utf8.count), given.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "#") }) {
            return given
        }
        return "\(requestPrefix)-\(requestCounter.add(1, ordering: .relaxed).newValue)"
    }

    /// Stores the labels of a `POST /feedback` body in the capture store, beside the predictions they label.
    public func feedback(_ body: ByteBuffer) -> (status: Int, body: String) {
        guard let capture else {
            return (409, RequestError(status: 409, field: "capture", message: "endpoint \(endpoint) captures no traffic, so labels have nothing to join; "
                + "set capture: { sample_percent: N }").json)
        }
        do {
            let labels = try Feedback.parse(Data(body.readableBytesView), endpoint: endpoint, received: now().timeIntervalSince1970)
            try capture.store.appendLabels(labels)
            return (200, #"{"accepted":\#(labels.count)}"#)
        } catch let error as RequestError {
            return (error.status, error.json)
        } catch {
            logger.error("feedback for \(endpoint) not stored: \(error)")
            return (503, RequestError(status: 503, field: "capture", message: "the labels could not be stored: \(error)").json)
        }
    }

    /// The router's HTTP server. `onListening` gets the bound port.
    public func application(
        host: String, port: Int, policy: ServerPolicy = ServerPolicy(server: "serving", maxBodyBytes: ReplicaServer.maxBody),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = policy.router(rules: ReplicaServer.rules)
        router.post("predict") { request, _ -> Response in
            let body = try await request.body.collect(upTo: ReplicaServer.maxBody)
            let id = self.requestID(clientGiven: request.headers[Self.clientRequestID])
            return Self.response(await self.forward(path: "/predict", body: body, kind: .predict, requestID: id))
        }
        router.post("feedback") { request, _ -> Response in
            let body = try await request.body.collect(upTo: ReplicaServer.maxBody)
            let (status, text) = self.feedback(body)
            return Self.json(status, text)
        }
        // The Open Inference Protocol's model routes, with or without `/versions/{v}`, go to a
        // replica, which answers for its model and version (errors `{"error": "message"}`).
        @Sendable func replicaPath(_ context: some RequestContext, _ tail: String) -> String {
            var path = "/v2/models/" + Self.pathEscape(context.parameters.get("name") ?? "")
            if let version = context.parameters.get("version") { path += "/versions/" + Self.pathEscape(version) }
            return path + tail
        }
        for prefix in ["v2/models/:name", "v2/models/:name/versions/:version"] {
            router.post("\(prefix)/infer") { request, context -> Response in
                let body = try await request.body.collect(upTo: ReplicaServer.maxBody)
                let id = self.requestID(clientGiven: request.headers[Self.clientRequestID])
                return Self.response(await self.forward(path: replicaPath(context, "/infer"), body: body, kind: .infer, requestID: id,
                                                        inferenceHeader: request.headers[ReplicaServer.inferenceHeader],
                                                        version: context.parameters.get("version")), oip: true)
            }
            for tail in ["", "/ready", "/config"] {
                router.get(RouterPath(prefix + tail)) { _, context -> Response in
                    Self.response(await self.forward(method: .GET, path: replicaPath(context, tail), body: ByteBuffer(), kind: nil,
                                                     version: context.parameters.get("version")), oip: true)
                }
            }
        }
        // Server metadata; `version` is the protocol's, as the replicas answer.
        router.get("v2") { _, _ in Self.json(200, #"{"name":"mlinfra-router","version":"2","extensions":[]}"#) }
        router.get("v2/health/live") { _, _ in Self.json(200, #"{"live":true}"#) }
        router.get("v2/health/ready") { _, _ in
            self.table.isServing ? Self.json(200, #"{"ready":true}"#) : Self.json(503, #"{"ready":false}"#)
        }
        return ReplicaServer.servingApplication(
            router: router, policy: policy, host: host, port: port, prometheus: { self.prometheus() }, logger: logger,
            onListening: onListening)
    }

    /// `/metrics`: requests, errors and latency per version, then what the routing table and the
    /// capture store hold at this scrape.
    public func prometheus() -> String {
        let endpoint = [("endpoint", endpoint)]
        let weights = table.weights
        var ready: [String: Int] = [:]
        for b in table.backends where b.healthy { ready[b.version, default: 0] += 1 }
        let dropped = capture?.dropped ?? 0
        let written = capture?.written(endpoint: self.endpoint) ?? 0
        return metrics.exposition { now in
            for (version, weight) in weights {
                now.makeGauge(descriptor: .init("mlinfra_router_traffic_weight", help: "Share of traffic per version."),
                              labels: endpoint + [("version", version)]).set(to: Double(weight))
            }
            for (version, count) in ready {
                now.makeGauge(descriptor: .init("mlinfra_router_ready_replicas", help: "Healthy replicas per version."),
                              labels: endpoint + [("version", version)]).set(to: Double(count))
            }
            for (name, help, value) in [
                ("retries_total", "Requests retried on another replica after a connection failure.", retried),
                ("capture_dropped_total", "Sampled exchanges dropped because the capture queue was full.", dropped),
                ("capture_written_total", "Captured rows in the capture store, which monitors read.", written),
            ] {
                now.makeCounter(descriptor: .init("mlinfra_router_" + name, help: help), labels: endpoint).increment(by: Int64(value))
            }
        }
    }

    /// The reply as sent to the client; `oip` turns the router's own errors into the protocol's `{"error": "message"}`.
    static func response(_ reply: Reply, oip: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: reply.inferenceHeader == nil ? "application/json" : "application/octet-stream"]
        if let v = reply.version, let name = HTTPFields.Element.Name("x-mlinfra-version") { headers[name] = v }
        if let id = reply.requestID, let name = HTTPFields.Element.Name("x-mlinfra-request-id") { headers[name] = id }
        if let length = reply.inferenceHeader { headers[ReplicaServer.inferenceHeader] = length }
        var body = reply.body
        if oip, reply.status >= 400 {
            body = ByteBuffer(string: ReplicaServer.oip(.init(status: reply.status, body: String(buffer: reply.body))).body)
        }
        return Response(status: HTTPResponse.Status(code: reply.status), headers: headers, body: .init(byteBuffer: body))
    }

    static let clientRequestID = HTTPFields.Element.Name("x-request-id")!

    static func json(_ status: Int, _ body: String) -> Response {
        Response(status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func pathEscape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
    }
}
