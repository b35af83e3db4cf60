import CHiredis
import Foundation

/// A `redis://[:PASSWORD@]HOST[:PORT][/DB]` URL (or `redis://USER:PASSWORD@…` for an ACL user),
/// read once and never shown with its password.
///
/// `description` is the URL without the password; every error that names the server uses it.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String?
    var password: String?
    public var database: Int
    /// The URL as given (with its password), for the store's saved setting only.
    let text: String

    /// Reads `text`; a failure never quotes it, since it may hold a password.
    public init(parsing text: String) throws {
        let problem = { (what: String) in
            FeatureStoreError.badRequest(
                field: "online.url",
                message: "the Redis URL \(what) (the URL itself is not shown, as it may hold a password); "
                    + "give redis://[:PASSWORD@]HOST[:PORT][/DB], for example through a sensitive variable (`url: ${var.redis_url}`)")
        }
        guard let c = URLComponents(string: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw problem("cannot be read as a URL")
        }
        guard c.scheme == "redis" else { throw problem("does not start with redis:// (TLS, rediss://, is not supported)") }
        guard let host = c.host, !host.isEmpty else { throw problem("names no host") }
        guard c.queryItems?.isEmpty ?? true else { throw problem("has query parameters, which mlinfra does not read") }
        let path = String(c.path.drop(while: { $0 == "/" }))
        guard let database = path.isEmpty ? 0 : Int(path), database >= 0 else { throw problem("has a database that is not a number (/0, /1, …)") }
        self.host = host
        self.port = c.port ?? 6379
        self.username = c.user.flatMap { $0.isEmpty ? nil : $0 }
        self.password = c.password.flatMap { $0.isEmpty ? nil : $0 }
        self.database = database
        self.text = text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public var description: String {
        let user = username.map { "\($0)@" } ?? ""
        return "redis://\(user)\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// `text` with the password replaced by `(sensitive)`.
    func scrub(_ text: String) -> String {
        guard let password else { return text }
        return text.replacingOccurrences(of: password, with: "(sensitive)")
    }
}

/// One hiredis connection (blocking, used by one thread at a time: the pool hands it out).
///
/// All of hiredis's pointers stay in this file: commands go in as byte arguments, replies come
/// out as `RedisReply` values or, for bulk strings read in place, as buffers valid inside a call.
final class RedisConnection: @unchecked Sendable {
    // @unchecked Sendable: one caller at a time (the store's pool hands a connection out), and the
    // hiredis context never leaves this class.
    private let context: UnsafeMutablePointer<redisContext>
    let url: RedisURL

    init(_ url: RedisURL, timeoutSeconds: Int = 30) throws {
        self.url = url
        guard let context = redisConnectWithTimeout(url.host, Int32(url.port), timeval(tv_sec: 5, tv_usec: 0)) else {
            throw FeatureStoreError.storage(message: "cannot connect to Redis at \(url): out of memory")
        }
        guard context.pointee.err == 0 else {
            let message = Self.errorText(context)
            redisFree(context)
            throw FeatureStoreError.storage(message: "cannot connect to Redis at \(url): \(message); check that the server runs and the URL's host and port")
        }
        // From here on `deinit` frees the context, also when the init throws.
        self.context = context
        redisSetTimeout(context, timeval(tv_sec: timeoutSeconds, tv_usec: 0))
        if let password = url.password {
            let auth = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case .error(let e) = try command(auth) {
                throw FeatureStoreError.storage(message: "Redis at \(url) refused the password: \(url.scrub(e))")
            }
        }
        if url.database != 0, case .error(let e) = try command(["SELECT", String(url.database)]) {
            throw FeatureStoreError.storage(message: "Redis at \(url) has no database \(url.database): \(e)")
        }
    }

    deinit { redisFree(context) }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    /// The connection can no longer be used (I/O error or protocol error); the pool drops it.
    var broken: Bool { context.pointee.err != 0 }

    private func failure(_ doing: String) -> FeatureStoreError {
        .storage(message: "Redis at \(url): \(doing) failed: \(url.scrub(Self.errorText(context)))")
    }

    // MARK: commands

    /// Queues a command (not sent until a reply is read).
    func append(_ args: CommandArguments) throws {
        let rc = args.withArgv { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
        guard rc == REDIS_OK else { throw failure("queueing a command") }
    }

    func append(_ args: [String]) throws {
        var built = CommandArguments()
        for a in args { built.add(a) }
        try append(built)
    }

    /// Reads the next reply, letting `body` see it in place (its bytes are valid inside the call).
    func reply<T>(_ body: (UnsafeMutablePointer<redisReply>) throws -> T) throws -> T {
        var raw: UnsafeMutableRawPointer?
        // A reply read already (pipelined commands), else send what is queued and wait for one.
        guard redisGetReplyFromReader(context, &raw) == REDIS_OK else { throw failure("reading a reply") }
        if raw == nil {
            var done: Int32 = 0
            repeat {
                guard redisBufferWrite(context, &done) == REDIS_OK else { throw failure("sending a command") }
            } while done == 0
            watchForReply()
            guard redisGetReply(context, &raw) == REDIS_OK else { throw failure("reading a reply") }
        }
        guard let raw else { throw failure("reading a reply") }
        defer { freeReplyObject(raw) }
        return try body(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// How long a caller watches the socket for the reply before hiredis's blocking read sleeps:
    /// 100 µs, or `MLINFRA_REDIS_WATCH_US` (0 never watches: a host short of CPU may want that).
    static let watch: UInt64 = UInt64(max(0, ProcessInfo.processInfo.environment["MLINFRA_REDIS_WATCH_US"].flatMap { Int($0) } ?? 100)) * 1000

    /// Watches the socket for up to `watch` nanoseconds, returning as soon as a reply can be read.
    /// An answer on loopback takes tens of microseconds; a thread asleep in `read` on an idle
    /// virtual CPU takes as long again to be woken once it has come (see docs/benchmarks.md).
    private func watchForReply() {
        guard Self.watch > 0 else { return }
        var socket = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let start = DispatchTime.now().uptimeNanoseconds
        while poll(&socket, 1, 0) == 0, DispatchTime.now().uptimeNanoseconds &- start < Self.watch {}
    }

    /// Reads the next reply as a value.
    func reply() throws -> RedisReply { try reply { RedisReply($0) } }

    /// Sends one command and reads its reply.
    func command(_ args: [String]) throws -> RedisReply {
        try append(args)
        return try reply()
    }

    func command(_ args: CommandArguments) throws -> RedisReply {
        try append(args)
        return try reply()
    }
}

/// A reply, copied out of hiredis's reply object.
enum RedisReply: Equatable {
    case string([UInt8])
    case integer(Int64)
    case array([RedisReply])
    case null
    case status(String)
    case error(String)

    init(_ r: UnsafeMutablePointer<redisReply>) {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING: self = .string(Array(Self.bytes(r) ?? UnsafeRawBufferPointer(start: nil, count: 0)))
        case REDIS_REPLY_INTEGER: self = .integer(reply.integer)
        case REDIS_REPLY_ARRAY: self = .array((0..<reply.elements).map { RedisReply(reply.element[$0]!) })
        case REDIS_REPLY_STATUS: self = .status(Self.text(r))
        case REDIS_REPLY_ERROR: self = .error(Self.text(r))
        default: self = .null
        }
    }

    /// The bytes of a string reply in place; nil for a null or non-string reply.
    static func bytes(_ r: UnsafeMutablePointer<redisReply>) -> UnsafeRawBufferPointer? {
        guard r.pointee.type == REDIS_REPLY_STRING else { return nil }
        return UnsafeRawBufferPointer(start: r.pointee.str, count: r.pointee.len)
    }

    /// The elements of an array reply in place (empty for other replies).
    static func elements(_ r: UnsafeMutablePointer<redisReply>) -> [UnsafeMutablePointer<redisReply>] {
        guard r.pointee.type == REDIS_REPLY_ARRAY else { return [] }
        return (0..<r.pointee.elements).map { r.pointee.element[$0]! }
    }

    static func errorText(_ r: UnsafeMutablePointer<redisReply>) -> String? {
        r.pointee.type == REDIS_REPLY_ERROR ? text(r) : nil
    }

    private static func text(_ r: UnsafeMutablePointer<redisReply>) -> String {
        String(decoding: UnsafeRawBufferPointer(start: r.pointee.str, count: r.pointee.len), as: UTF8.self)
    }
}

/// A command's arguments in one byte buffer, so a batch of thousands of arguments is one allocation.
struct CommandArguments {
    var bytes: [UInt8] = []
    var ends: [Int] = []

    var count: Int { ends.count }

    mutating func add(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        ends.append(bytes.count)
    }

    mutating func add(_ raw: some Sequence<UInt8>) {
        bytes.append(contentsOf: raw)
        ends.append(bytes.count)
    }

    /// Starts an argument whose bytes the caller appends to `bytes`; `end()` closes it.
    mutating func end() { ends.append(bytes.count) }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    func withArgv<T>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> T) -> T {
        bytes.withUnsafeBufferPointer { buf in
            let base = UnsafeRawPointer(buf.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var argv = [UnsafePointer<CChar>?](repeating: nil, count: ends.count)
            var lengths = [Int](repeating: 0, count: ends.count)
            var start = 0
            for (i, end) in ends.enumerated() {
                argv[i] = (base + start).assumingMemoryBound(to: CChar.self)
                lengths[i] = end - start
                start = end
            }
            return argv.withUnsafeMutableBufferPointer { a in
                lengths.withUnsafeBufferPointer { l in body(Int32(ends.count), a.baseAddress!, l.baseAddress!) }
            }
        }
    }
}
