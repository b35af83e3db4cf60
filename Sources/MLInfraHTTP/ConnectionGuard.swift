import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// Connections open at once on one server, shared by its connections' guards.
public final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    public init() {}
    public var current: Int { open.load(ordering: .relaxed) }
    func enter() -> Int { open.add(1, ordering: .relaxed).newValue }
    func leave() { open.subtract(1, ordering: .relaxed) }
}

/// What the guard needs to know of an inbound HTTP part.
public protocol GuardedRequestPart {
    var guardPhase: ConnectionGuardPhase { get }
}

/// What the guard needs to know of an outbound write: whether it ends a response.
public protocol GuardedResponsePart {
    var endsResponse: Bool { get }
}

public enum ConnectionGuardPhase: Sendable { case head, body, end }

extension HTTPRequestPart: GuardedRequestPart {
    public var guardPhase: ConnectionGuardPhase {
        switch self {
        case .head: .head
        case .body: .body
        case .end: .end
        }
    }
}

extension HTTPResponsePart: GuardedResponsePart {
    public var endsResponse: Bool {
        if case .end = self { return true }
        return false
    }
}

extension HTTPServerRequestPart: GuardedRequestPart {
    public var guardPhase: ConnectionGuardPhase {
        switch self {
        case .head: .head
        case .body: .body
        case .end: .end
        }
    }
}

/// A server that writes each answer as one buffer ends a response with every write.
extension ByteBuffer: GuardedResponsePart {
    public var endsResponse: Bool { true }
}

/// Closes connections that hold a server without using it, the way nginx's
/// `client_header_timeout`, `client_body_timeout` and `worker_connections` do:
///
/// - a whole request head must arrive within `headerTimeout` of the connection's start or of
///   the previous response's end (this also ends idle keep-alive connections, and a slowloris
///   that drips a header byte at a time cannot extend it);
/// - a body may pause at most `bodyTimeout` between two reads;
/// - past `maxConnections` open connections, a new one is closed as soon as it is accepted.
///
/// It sits after the HTTP decoder; a request being answered is never timed out.
public final class ConnectionGuard<Inbound: GuardedRequestPart, Outbound: GuardedResponsePart>: ChannelDuplexHandler,
    RemovableChannelHandler
{
    public typealias InboundIn = Inbound
    public typealias InboundOut = Inbound
    public typealias OutboundIn = Outbound
    public typealias OutboundOut = Outbound

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let maxConnections: Int
    private let counter: ConnectionCounter
    private var counted = false
    private var started = false
    private var readingBody = false
    private var inFlight = 0
    private var deadline: ConnectionDeadline?

    public init(policy: ServerPolicy, counter: ConnectionCounter) {
        self.headerTimeout = TimeAmount(policy.headerTimeout)
        self.bodyTimeout = TimeAmount(policy.bodyTimeout)
        self.maxConnections = policy.maxConnections
        self.counter = counter
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data).guardPhase {
        case .head:
            inFlight += 1
            readingBody = true
            arm(context, after: bodyTimeout)
        case .body:
            arm(context, after: bodyTimeout)
        case .end:
            readingBody = false
            cancelTimer()
        }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if unwrapOutboundIn(data).endsResponse {
            inFlight = max(0, inFlight - 1)
            if inFlight == 0, !readingBody { arm(context, after: headerTimeout) }
        }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        counted = true
        if counter.enter() > maxConnections {
            context.close(promise: nil)
            return
        }
        arm(context, after: headerTimeout)
    }

    private func stop() {
        deadline?.stop()
        if counted {
            counted = false
            counter.leave()
        }
    }

    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount) {
        if deadline == nil { deadline = ConnectionDeadline(channel: context.channel) }
        deadline?.arm(after: delay)
    }

    private func cancelTimer() {
        deadline?.cancel()
    }
}

/// When a connection is closed unless its deadline is moved or cancelled first; used on the
/// channel's event loop only.
///
/// Most requests move the deadline later, so the check already scheduled stays and, when it
/// runs, schedules itself again for the deadline then in force: one timer per timeout period
/// rather than two scheduled and two cancelled per request (docs/benchmarks.md).
final class ConnectionDeadline {
    private let channel: any Channel
    private var deadline: NIODeadline?
    /// The one scheduled check of `deadline`, and when it runs.
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?

    init(channel: any Channel) { self.channel = channel }

    func arm(after delay: TimeAmount) {
        let due = NIODeadline.now() + delay
        deadline = due
        if let timer, timer.at <= due { return }
        schedule(at: due)
    }

    /// No deadline until the next `arm`; the scheduled check, if any, finds none and stops.
    func cancel() { deadline = nil }

    func stop() {
        deadline = nil
        timer?.task.cancel()
        timer = nil
    }

    private func schedule(at due: NIODeadline) {
        timer?.task.cancel()
        let this = NIOLoopBound(self, eventLoop: channel.eventLoop)
        timer = (channel.eventLoop.scheduleTask(deadline: due) { this.value.check() }, due)
    }

    private func check() {
        timer = nil
        guard let deadline else { return }
        if deadline <= .now() {
            channel.close(promise: nil)
        } else {
            schedule(at: deadline)
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Lets a server keep as many connections open as its limit allows: the soft open-file limit is
/// raised to the hard one (often 1,024 against 1,048,576), as most servers do at start.
public enum OpenFileLimit {
    public static func raise() {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
    }

    #if os(Linux)
    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
    #endif
}
