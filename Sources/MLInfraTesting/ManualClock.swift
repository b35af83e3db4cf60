import Foundation
import Synchronization

/// The tests' one clock: a standard `Clock` that moves only when a test moves it, with the wall
/// time that moves with it.
///
/// Code that waits or measures takes `any Clock<Duration>` (`ContinuousClock` in production);
/// code that records or schedules by the calendar also takes a `now` function for the wall time
/// (`Date.init` in production). A test hands over this clock and its `wallTime`, so both move
/// together when it calls `advance`. Sleepers wake when an advance reaches their deadline, and a
/// cancelled sleeper throws `CancellationError` at once.
public final class ManualClock: Clock, Sendable {
    public typealias Duration = Swift.Duration

    /// A point on this clock: the time advanced since it was made.
    public struct Instant: InstantProtocol {
        public var offset: Swift.Duration
        public init(offset: Swift.Duration) { self.offset = offset }
        public func advanced(by duration: Swift.Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Swift.Duration { other.offset - offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())
    /// The wall time at the clock's start.
    public let start: Date

    /// `start` is the wall time the clock begins at.
    public init(wall start: Date = Date(timeIntervalSince1970: 1_700_000_000)) { self.start = start }

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Swift.Duration { .zero }

    /// The wall time now: `start` plus every advance so far.
    public var date: Date { start.addingTimeInterval(Self.seconds(now.offset)) }

    /// The wall time now in seconds since 1970, as the serving autoscaler takes it.
    public var wallSeconds: Double { date.timeIntervalSince1970 }

    /// The wall time as code under test reads it (its `now` function).
    public var wallTime: @Sendable () -> Date { { self.date } }

    /// How many tasks are sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Instant, tolerance: Swift.Duration? = nil) async throws {
        let id = state.withLock { s in
            defer { s.nextID += 1 }
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Swift.Duration) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now = s.now.advanced(by: max(.zero, duration))
            let now = s.now
            let ready = s.sleepers.filter { $0.value.deadline <= now }
            for id in ready.keys { s.sleepers[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves time forward by seconds.
    public func advance(by seconds: Double) { advance(by: .seconds(seconds)) }

    /// Moves time forward until the wall time is `date` (never back).
    public func advance(to date: Date) { advance(by: max(0, date.timeIntervalSince(self.date))) }

    static func seconds(_ d: Swift.Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
