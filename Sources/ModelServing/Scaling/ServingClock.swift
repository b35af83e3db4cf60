import Foundation
import Synchronization

/// Time as the serving engine sees it, injected so tests move it by hand.
public protocol ServingClock: Sendable {
    /// Seconds since the Unix epoch.
    func now() -> Double
    /// Suspends for the given number of seconds of this clock's time.
    func sleep(seconds: Double) async throws
}

/// The wall clock.
public struct SystemServingClock: ServingClock {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
    public func sleep(seconds: Double) async throws {
        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
    }
}

/// A clock that only moves when `advance(by:)` is called; sleepers wake when their deadline passes.
public final class ManualServingClock: ServingClock {
    private struct State {
        var now: Double
        var sleepers: [(deadline: Double, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let state: Mutex<State>

    public init(now: Double = 1_700_000_000) { state = Mutex(State(now: now)) }

    public func now() -> Double { state.withLock { $0.now } }

    public func sleep(seconds: Double) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if seconds <= 0 { return true }
                s.sleepers.append((s.now + seconds, continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
        try Task.checkCancellation()
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by seconds: Double) {
        let due = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.now += seconds
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }.map(\.continuation)
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for continuation in due { continuation.resume() }
    }

    /// How many tasks are sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }
}
