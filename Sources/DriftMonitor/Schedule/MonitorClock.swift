import Foundation

/// The time source of the scheduler, injected so tests move time by hand.
public protocol MonitorClock: Sendable {
    var now: Date { get }
    /// Returns at `deadline` (or at once when it has passed); throws when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// Wall-clock time.
public struct SystemMonitorClock: MonitorClock {
    public init() {}
    public var now: Date { Date() }
    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(nanoseconds: UInt64(seconds * 1e9)) }
        try Task.checkCancellation()
    }
}

/// A clock that moves only when `advance` is called; sleepers wake when their deadline is reached.
public final class ManualMonitorClock: MonitorClock, @unchecked Sendable {
    // All state is guarded by `lock`; continuations are resumed outside it.
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [UUID: (Date, CheckedContinuation<Void, any Error>)] = [:]

    public init(_ start: Date) { current = start }

    public var now: Date { lock.withLock { current } }

    /// How many tasks are sleeping on this clock.
    public var sleeperCount: Int { lock.withLock { sleepers.count } }

    public func advance(by seconds: TimeInterval) { advance(to: now.addingTimeInterval(seconds)) }

    public func advance(to date: Date) {
        let due: [CheckedContinuation<Void, any Error>] = lock.withLock {
            current = max(current, date)
            let ready = sleepers.filter { $0.value.0 <= current }
            for key in ready.keys { sleepers[key] = nil }
            return ready.values.map(\.1)
        }
        for c in due { c.resume() }
    }

    public func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = lock.withLock {
                    if deadline <= current || Task.isCancelled { return true }
                    sleepers[id] = (deadline, c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let c = lock.withLock { sleepers.removeValue(forKey: id)?.1 }
            c?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
